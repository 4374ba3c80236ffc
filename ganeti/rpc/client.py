"""The node RPC client: one call fans out to many nodes concurrently.

``RpcClient.call(nodes, procedure, args)`` returns a Deferred that fires with a dict
``{node name: RpcResult}``.  It never fails because one node failed: a refused
connection, a TLS error, a timeout, an HTTP error or a ``[false, msg]`` reply each become
that node's failed result.  Cancelling the returned Deferred cancels every outstanding
request (and the Deferred fails with CancelledError).  Nodes marked offline are not
contacted unless the procedure says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import treq
from OpenSSL import SSL
from treq.client import HTTPClient
from twisted.internet import defer, error
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web._newclient import _WrapperException
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IPolicyForHTTPS, IResponse
from zope.interface import Attribute, Interface, implementer

from ganeti import constants, errors, serializer
from ganeti.rpc import procedures

log = Logger()

OFFLINE_MSG = "Node is marked offline"


@attrs.frozen
class RpcTarget:
    """Where to reach one node."""

    name: str
    address: str
    port: int = constants.DEFAULT_NODED_PORT
    offline: bool = False

    def url(self, procedure: str) -> bytes:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"https://{host}:{self.port}/{procedure}".encode("ascii")


@attrs.frozen
class RpcResult:
    """One node's answer: ``payload`` when ``fail_msg`` is None."""

    node: str
    payload: Any = None
    fail_msg: str | None = None
    offline: bool = False

    @property
    def ok(self) -> bool:
        return self.fail_msg is None

    def raise_on_fail(self, prefix: str = "") -> Any:
        """Return the payload or raise RpcError naming the node."""
        if self.fail_msg is not None:
            msg = f"{prefix}: " if prefix else ""
            raise errors.RpcError(f"{msg}node {self.node}: {self.fail_msg}")
        return self.payload


class IHTTPPoster(Interface):
    """The part of treq's HTTPClient (and of treq.testing.StubTreq) the client uses."""

    def post(url: bytes, data: bytes, headers: Mapping[bytes, Sequence[bytes]]) -> Any:
        """Issue a POST; return a Deferred firing with an IResponse."""


class INodeResolver(Interface):
    """Maps node names to addresses (from the config, ssconf or a static table)."""

    def resolve(names: Sequence[str]) -> list[RpcTarget]:
        """Targets for ``names``, in order; unknown names raise RpcError."""


class IRpcClient(Interface):
    clock = Attribute("IReactorTime used for timeouts")

    def call(
        nodes: Sequence[RpcTarget | str],
        procedure: str,
        args: Sequence[Any],
        timeout: float | None = None,
    ) -> defer.Deferred[dict[str, RpcResult]]:
        """Call ``procedure`` on every node; one result per node name."""

    def call_one(
        node: RpcTarget | str,
        procedure: str,
        args: Sequence[Any],
        timeout: float | None = None,
    ) -> defer.Deferred[RpcResult]:
        """Call one node; its RpcResult."""

    def target_for(name: str, address: str) -> RpcTarget:
        """A target for a node not (yet) in the configuration, on the usual port."""


@implementer(INodeResolver)
@attrs.define
class StaticResolver:
    """A resolver over a fixed table, for tools and tests."""

    targets: dict[str, RpcTarget] = attrs.Factory(dict)

    def resolve(self, names: Sequence[str]) -> list[RpcTarget]:
        out = []
        for name in names:
            try:
                out.append(self.targets[name])
            except KeyError:
                raise errors.RpcError(f"unknown node {name!r}") from None
        return out


class _Poster(Protocol):
    def post(self, url: bytes, data: bytes, headers: Mapping[bytes, Sequence[bytes]]) -> Any: ...


def _describe(failure: Failure) -> str:
    exc = failure.value
    if isinstance(exc, defer.TimeoutError | defer.CancelledError):
        return "timed out" if isinstance(exc, defer.TimeoutError) else "cancelled"
    if isinstance(exc, error.ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, error.ConnectingCancelledError | error.TimeoutError):
        return "connection timed out"
    if isinstance(exc, _WrapperException):
        # ResponseFailed, RequestTransmissionFailed, ...: the reasons say what happened.
        reasons = "; ".join(_describe(r) for r in exc.reasons)
        return f"connection failed: {reasons}"
    if isinstance(exc, SSL.Error):
        details = ", ".join(str(e[-1]) for e in exc.args[0] if e) if exc.args else ""
        return f"TLS error: {details or exc}"
    if isinstance(exc, errors.RpcError):
        return str(exc)
    name = type(exc).__name__
    text = str(exc) or repr(exc)
    return f"{name}: {text}"


_HEADERS: Mapping[bytes, Sequence[bytes]] = {b"Content-Type": [b"application/json"]}


@implementer(IRpcClient)
class RpcClient:
    """Fan-out client; ``http`` is a treq HTTPClient (or StubTreq in tests)."""

    def __init__(
        self,
        clock: IReactorTime,
        http: _Poster,
        resolver: INodeResolver | None = None,
    ) -> None:
        self.clock = clock
        self._http = http
        self._resolver = resolver or StaticResolver()

    def target_for(self, name: str, address: str) -> RpcTarget:
        port = getattr(self._resolver, "port", constants.DEFAULT_NODED_PORT)
        return RpcTarget(name, address, int(port))

    def set_http(self, http: _Poster) -> None:
        """Use another HTTP client from now on (e.g. after the client cert was renewed)."""
        self._http = http

    def _targets(self, nodes: Iterable[RpcTarget | str]) -> list[RpcTarget]:
        given = list(nodes)
        names = [n for n in given if isinstance(n, str)]
        resolved = iter(self._resolver.resolve(names)) if names else iter(())
        return [n if isinstance(n, RpcTarget) else next(resolved) for n in given]

    def call(
        self,
        nodes: Sequence[RpcTarget | str],
        procedure: str,
        args: Sequence[Any],
        timeout: float | None = None,
    ) -> defer.Deferred[dict[str, RpcResult]]:
        proc = procedures.get(procedure)
        if len(args) != len(proc.args):
            raise errors.ProgrammerError(
                f"RPC {procedure} takes {len(proc.args)} arguments "
                f"({', '.join(proc.args)}), got {len(args)}"
            )
        targets = self._targets(nodes)
        tmo = timeout if timeout is not None else proc.timeout_for(list(args))
        body = serializer.dump_json(list(args)).encode("utf-8")
        pending: list[defer.Deferred[RpcResult]] = []
        for target in targets:
            if target.offline and not proc.offline_ok:
                pending.append(
                    defer.succeed(RpcResult(target.name, fail_msg=OFFLINE_MSG, offline=True))
                )
                continue
            pending.append(self._call_one(target, procedure, body, tmo))

        cancelled = False

        def cancel(_: defer.Deferred[dict[str, RpcResult]]) -> None:
            nonlocal cancelled
            cancelled = True
            for d in pending:
                d.cancel()

        result: defer.Deferred[dict[str, RpcResult]] = defer.Deferred(cancel)

        def done(results: list[RpcResult]) -> None:
            if not cancelled:
                result.callback({r.node: r for r in results})

        defer.gatherResults(pending).addCallback(done)
        return result

    def call_one(
        self,
        node: RpcTarget | str,
        procedure: str,
        args: Sequence[Any],
        timeout: float | None = None,
    ) -> defer.Deferred[RpcResult]:
        """Single-node convenience: the node's RpcResult."""
        target = self._targets([node])[0]
        return self.call([target], procedure, args, timeout).addCallback(
            lambda results: results[target.name]
        )

    def _call_one(
        self, target: RpcTarget, procedure: str, body: bytes, timeout: float
    ) -> defer.Deferred[RpcResult]:
        d = defer.Deferred.fromCoroutine(self._request(target, procedure, body))
        # Our own timer rather than addTimeout: cancelling an HTTP request surfaces as a
        # wrapped ResponseFailed, and we want to report "timed out" for it.
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            timed_out = True
            d.cancel()

        timer = self.clock.callLater(timeout, expire)

        def stop_timer(value: object) -> object:
            if timer.active():
                timer.cancel()
            return value

        d.addBoth(stop_timer)

        def failed(failure: Failure) -> RpcResult:
            msg = f"timed out after {timeout:g}s" if timed_out else _describe(failure)
            log.debug(
                "RPC {procedure} to {node} failed: {msg}",
                procedure=procedure,
                node=target.name,
                msg=msg,
            )
            return RpcResult(target.name, fail_msg=f"Error while calling {procedure}: {msg}")

        return d.addErrback(failed)

    async def _request(self, target: RpcTarget, procedure: str, body: bytes) -> RpcResult:
        response: IResponse = await self._http.post(
            target.url(procedure), data=body, headers=_HEADERS
        )
        raw: bytes = await treq.content(response)
        if response.code != 200:
            text = raw.decode("utf-8", "replace").strip()
            try:
                decoded = serializer.load_json(raw)
                if isinstance(decoded, dict) and "message" in decoded:
                    text = str(decoded["message"])
            except errors.GanetiError:
                pass
            raise errors.RpcError(f"HTTP {response.code}: {text[:300]}")
        reply = serializer.load_json(raw, what=f"reply of {target.name}")
        if not (isinstance(reply, list) and len(reply) == 2 and isinstance(reply[0], bool)):
            raise errors.RpcError("malformed reply (expected [bool, payload])")
        if reply[0]:
            return RpcResult(target.name, payload=reply[1])
        return RpcResult(target.name, fail_msg=str(reply[1]))


@implementer(IPolicyForHTTPS)
@attrs.frozen
class _FixedTLSPolicy:
    """Every node presents the cluster certificate, so one context serves all hosts."""

    options: Any

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return self.options


class PooledHTTPClient:
    """treq over an Agent with the node certificate and kept-alive connections.

    Keeping connections alive spares a TLS handshake per call, which dominates the cost
    of a fan-out to many nodes.
    """

    def __init__(
        self,
        reactor: Any,
        tls_options: Any,
        *,
        persistent: bool = True,
        max_per_host: int = 2,
        connect_timeout: float = constants.RPC_CONNECT_TIMEOUT,
    ) -> None:
        self.pool = HTTPConnectionPool(reactor, persistent=persistent)
        self.pool.maxPersistentPerHost = max_per_host
        self.pool.cachedConnectionTimeout = 120
        agent = Agent(
            reactor,
            contextFactory=_FixedTLSPolicy(tls_options),
            connectTimeout=connect_timeout,
            pool=self.pool,
        )
        self._client = HTTPClient(agent)

    def post(self, url: bytes, data: bytes, headers: Mapping[bytes, Sequence[bytes]]) -> Any:
        return self._client.post(url, data=data, headers=Headers(dict(headers)))

    def close(self) -> defer.Deferred[None]:
        """Close kept-alive connections (daemon shutdown, end of a test)."""
        return self.pool.closeCachedConnections()


def make_http_client(reactor: Any, tls_options: Any, **kwargs: Any) -> PooledHTTPClient:
    return PooledHTTPClient(reactor, tls_options, **kwargs)
