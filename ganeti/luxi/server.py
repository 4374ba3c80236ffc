"""The LUXI server protocol: framing in, handler call, reply out.  No decisions here.

Requests on one connection are answered in order, one at a time (clients send one and
wait).  A closed connection cancels the call in progress, e.g. a WaitForJobChange.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ganeti import errors
from ganeti.luxi import protocol as proto

log = Logger()

Handler = Callable[..., Any]


_SIGNATURES: dict[Handler, inspect.Signature] = {}


def _signature(handler: Handler) -> inspect.Signature:
    # inspect.signature costs tens of microseconds; a server has a fixed handler table.
    sig = _SIGNATURES.get(handler)
    if sig is None:
        if len(_SIGNATURES) > 1024:
            _SIGNATURES.clear()
        sig = _SIGNATURES[handler] = inspect.signature(handler)
    return sig


def _check_arity(name: str, handler: Handler, args: list[Any]) -> None:
    try:
        _signature(handler).bind(*args)
    except TypeError:
        params = [p for p in _signature(handler).parameters]
        raise errors.LuxiError(
            f"{name} takes {len(params)} arguments ({', '.join(params)}), got {len(args)}"
        ) from None


async def dispatch(handlers: Mapping[str, Handler], raw: bytes) -> bytes:
    """Handle one request message and return the encoded reply (never raises)."""
    try:
        request = proto.parse_request(raw)
        handler = handlers.get(request.method)
        if handler is None:
            raise errors.LuxiError(f"unknown LUXI method {request.method!r}")
        _check_arity(request.method, handler, request.args)
        result = handler(*request.args)
        if inspect.isawaitable(result):
            result = await result
        return proto.encode_reply(True, result)
    except defer.CancelledError:
        raise
    except errors.GanetiError as exc:
        return proto.encode_reply(False, proto.encode_exception(exc))
    except Exception as exc:
        log.failure("LUXI handler failed", Failure())
        return proto.encode_reply(False, proto.encode_exception(exc))


class LuxiServerProtocol(Protocol):
    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = handlers
        self._framer = proto.Framer()
        self._pending: deque[bytes] = deque()
        self._current: defer.Deferred[bytes] | None = None
        self._closed = False

    def dataReceived(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except proto.FramingError as exc:
            log.warn("refusing LUXI client: {error}", error=str(exc))
            assert self.transport is not None
            self.transport.write(proto.encode_reply(False, proto.encode_exception(exc)))
            self.transport.loseConnection()
            self._closed = True
            return
        self._pending.extend(messages)
        self._next()

    def _next(self) -> None:
        if self._current is not None or not self._pending or self._closed:
            return
        raw = self._pending.popleft()
        # A query runs synchronously up to its reply: without GC passes (see gc_paused).
        with proto.gc_paused():
            self._start(raw)

    def _start(self, raw: bytes) -> None:
        d = defer.Deferred.fromCoroutine(dispatch(self._handlers, raw))
        self._current = d

        def reply(data: bytes) -> None:
            self._current = None
            if not self._closed and self.transport is not None:
                self.transport.write(data)
                self._next()

        def gone(failure: Failure) -> None:
            self._current = None
            failure.trap(defer.CancelledError)

        d.addCallbacks(reply, gone)

    def connectionLost(self, reason: Failure = Failure(Exception("lost"))) -> None:  # noqa: B008
        self._closed = True
        self._pending.clear()
        if self._current is not None:
            self._current.cancel()


class LuxiServerFactory(Factory):
    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = handlers

    def buildProtocol(self, addr: Any) -> LuxiServerProtocol:
        return LuxiServerProtocol(self.handlers)
