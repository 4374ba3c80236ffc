"""An asynchronous LUXI client for the RAPI daemon.

LUXI answers requests on one connection strictly in order, one at a time, so the client
keeps a small pool of connections to the master's socket: a call takes an idle
connection (or opens one, up to a limit, or waits for one), sends its request, and puts
the connection back once the reply is in.  Cancelling a call (the HTTP client went
away) closes its connection, which makes the master cancel its side too, e.g. a
``WaitForJobChange``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectError, ConnectionDone
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from ganeti import errors
from ganeti.luxi import protocol as proto

log = Logger()

DEFAULT_TIMEOUT = 180.0
DEFAULT_MAX_CONNECTIONS = 16


class MasterUnreachable(errors.LuxiError):
    """The master daemon's LUXI socket does not accept connections."""


class LuxiTimeout(errors.LuxiError):
    """The master did not answer within the client's timeout."""


class ILuxiClient(Interface):
    """What the RAPI resources need from the master: one LUXI call at a time."""

    def call(method: str, args: list[Any]) -> Deferred[Any]:
        """Send ``method(*args)``; fire with the result or fail with the decoded error.

        The Deferred is cancellable; cancelling abandons the call.
        """


class _LuxiProtocol(Protocol):
    def __init__(self, pool: LuxiPool) -> None:
        self._pool = pool
        self._framer = proto.Framer()
        self._pending: Deferred[Any] | None = None
        self.alive = False

    def connectionMade(self) -> None:
        self.alive = True

    def request(self, method: str, args: list[Any]) -> Deferred[Any]:
        if self._pending is not None:
            raise errors.ProgrammerError("LUXI connection already has a request in flight")

        def cancel(_: Deferred[Any]) -> None:
            # The reply can no longer be matched to a caller: drop the connection.
            self._pending = None
            self.abort()

        d: Deferred[Any] = Deferred(cancel)
        self._pending = d
        assert self.transport is not None
        self.transport.write(proto.encode_request(method, args))
        return d

    def abort(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except proto.FramingError as exc:
            self._fail(errors.LuxiError(f"bad reply from the master: {exc}"))
            self.abort()
            return
        if messages:
            # Decoding the reply and the caller's synchronous continuation (formatting
            # and encoding the HTTP answer) run without GC passes (see gc_paused).
            with proto.gc_paused():
                self._deliver(messages)

    def _deliver(self, messages: list[bytes]) -> None:
        for raw in messages:
            d, self._pending = self._pending, None
            if d is None:
                log.warn("unexpected LUXI reply from the master; closing the connection")
                self.abort()
                return
            try:
                result = proto.parse_reply(raw)
            except errors.GanetiError as exc:
                d.errback(Failure(exc))
            else:
                d.callback(result)

    def _fail(self, exc: Exception) -> None:
        d, self._pending = self._pending, None
        if d is not None:
            d.errback(Failure(exc))

    def connectionLost(self, reason: Failure = ConnectionDone) -> None:  # type: ignore[assignment]
        self.alive = False
        self._fail(errors.LuxiError("the master daemon closed the connection"))
        self._pool._lost(self)


@implementer(ILuxiClient)
class LuxiPool:
    """LUXI over a stream endpoint (the master's UNIX socket), with connection reuse."""

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        clock: IReactorTime,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._endpoint = endpoint
        self._clock = clock
        self._max = max_connections
        self._timeout = timeout
        self._idle: list[_LuxiProtocol] = []
        self._open = 0
        self._waiters: deque[Deferred[_LuxiProtocol | None]] = deque()

    @property
    def open_connections(self) -> int:
        return self._open

    def call(self, method: str, args: list[Any]) -> Deferred[Any]:
        return Deferred.fromCoroutine(self._call(method, args))

    async def _call(self, method: str, args: list[Any]) -> Any:
        conn = await self._acquire()
        d = conn.request(method, args)
        timed_out = False

        def on_timeout() -> None:
            nonlocal timed_out
            timed_out = True
            d.cancel()

        timer = self._clock.callLater(self._timeout, on_timeout)
        try:
            result = await d
        except CancelledError:
            if timed_out:
                raise LuxiTimeout(
                    f"no answer from the master to {method} within {self._timeout:g}s"
                ) from None
            raise
        except BaseException:
            # A LUXI-level error reply leaves the connection usable; a lost one is gone.
            self._release(conn)
            raise
        finally:
            if timer.active():
                timer.cancel()
        self._release(conn)
        return result

    async def _acquire(self) -> _LuxiProtocol:
        while self._idle:
            conn = self._idle.pop()
            if conn.alive:
                return conn
        if self._open < self._max:
            self._open += 1
            try:
                conn = await self._connect()
            except BaseException:
                self._open -= 1
                self._wake()
                raise
            return conn
        waiter: Deferred[_LuxiProtocol | None] = Deferred(self._waiters.remove)
        self._waiters.append(waiter)
        got = await waiter
        if got is not None:
            return got
        return await self._acquire()

    async def _connect(self) -> _LuxiProtocol:
        factory = Factory.forProtocol(lambda: _LuxiProtocol(self))
        try:
            conn = await self._endpoint.connect(factory)
        except ConnectError as exc:
            raise MasterUnreachable(
                f"cannot connect to the master daemon: {exc.osError or exc}"
            ) from None
        assert isinstance(conn, _LuxiProtocol)
        return conn

    def _release(self, conn: _LuxiProtocol) -> None:
        if not conn.alive:
            return
        if self._waiters:
            self._waiters.popleft().callback(conn)
        else:
            self._idle.append(conn)

    def _wake(self) -> None:
        # A slot became free: let one waiter open a connection itself.
        if self._waiters:
            self._waiters.popleft().callback(None)

    def _lost(self, conn: _LuxiProtocol) -> None:
        if conn in self._idle:
            self._idle.remove(conn)
        self._open -= 1
        self._wake()

    def close(self) -> None:
        """Close every idle connection (calls in flight finish or fail on their own)."""
        for conn in list(self._idle):
            conn.abort()
        self._idle.clear()
