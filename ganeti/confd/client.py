"""confd client: ask several servers, keep the freshest answer.

A query goes to ``coverage`` of the peers (default: up to six, shuffled), normally the
master candidates listed in ssconf ``master_candidates_ips``.  The Deferred fires as soon
as the expected number of replies has arrived -- all of them below three peers, one fewer
below five, otherwise a majority -- with the reply of the highest serial number (data
written later wins).  Two replies with the same serial but different answers mark the
result *inconsistent*.  At the timeout the Deferred fires with what arrived (marked
incomplete), or fails with :class:`ConfdTimeout` if nothing did.  Cancelling the Deferred
forgets the query.

The reactor (``IReactorUDP`` + ``IReactorTime``) is injected; nothing here imports the
global one.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IListeningPort
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from ganeti import constants, errors
from ganeti.confd import protocol as proto
from ganeti.confd.protocol import Reply, ReplyStatus, Request, RequestType
from ganeti.config.ssconf import read_ssconf_lines
from ganeti.paths import Paths

log = Logger()

Peer = tuple[str, int]
MAX_COVERAGE = 6


class ConfdTimeout(errors.GanetiError):
    """No confd server answered in time."""


class ConfdQueryError(errors.GanetiError):
    """The freshest answer was an error reply."""


def expected_replies(contacted: int) -> int:
    """Replies that are "enough": all below 3 peers, one fewer below 5, else a majority."""
    if contacted < 3:
        return contacted
    if contacted < 5:
        return contacted - 1
    return contacted // 2 + 1


def peers_from_ssconf(paths: Paths, port: int = constants.DEFAULT_CONFD_PORT) -> list[Peer]:
    """The master candidates' primary IPs from ssconf, with ``port``."""
    try:
        ips = read_ssconf_lines(paths, "master_candidates_ips")
    except errors.GanetiError:
        ips = []
    return [(ip.strip(), port) for ip in ips if ip.strip()]


def read_hmac_key(paths: Paths) -> bytes:
    """The raw HMAC key (trailing newline included, as the servers use it)."""
    try:
        key = paths.hmac_key.read_bytes()
    except OSError as exc:
        raise errors.GanetiError(
            f"cannot read the HMAC key {paths.hmac_key}: {exc.strerror or exc}"
        ) from exc
    if not key:
        raise errors.GanetiError(f"the HMAC key {paths.hmac_key} is empty")
    return key


def _family(host: str) -> int:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        raise errors.GanetiError(f"confd peer {host!r} is not an IP address") from None


@attrs.frozen
class ConfdResult:
    """The outcome of one query: the chosen reply and every reply that arrived."""

    request: Request
    reply: Reply
    replies: dict[Peer, Reply]
    contacted: int
    expected: int
    inconsistent: bool
    complete: bool

    @property
    def ok(self) -> bool:
        return self.reply.status == ReplyStatus.OK

    @property
    def answer(self) -> Any:
        return self.reply.answer

    @property
    def serial(self) -> int:
        return self.reply.serial


def _rank(reply: Reply) -> tuple[int, bool]:
    return (reply.serial, reply.ok)


@attrs.define(eq=False)
class _Pending:
    request: Request
    deferred: Deferred[ConfdResult]
    contacted: int
    expected: int
    timer: IDelayedCall | None = None
    replies: dict[Peer, Reply] = attrs.field(factory=dict)
    best: Reply | None = None
    inconsistent: bool = False

    def add(self, peer: Peer, reply: Reply) -> None:
        if peer in self.replies:
            return
        self.replies[peer] = reply
        if self.best is None or _rank(reply) > _rank(self.best):
            self.best = reply
            self.inconsistent = False
        elif _rank(reply) == _rank(self.best) and reply.answer != self.best.answer:
            self.inconsistent = True

    def result(self, complete: bool) -> ConfdResult:
        assert self.best is not None
        return ConfdResult(
            request=self.request,
            reply=self.best,
            replies=dict(self.replies),
            contacted=self.contacted,
            expected=self.expected,
            inconsistent=self.inconsistent,
            complete=complete,
        )


class _ClientProtocol(DatagramProtocol):
    def __init__(self, receive: Callable[[bytes, Any], None]) -> None:
        self._receive = receive

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self._receive(datagram, addr)


class ConfdClient:
    """Queries confd servers over one UDP socket; see the module docstring."""

    def __init__(
        self,
        reactor: Any,
        key: bytes,
        peers: Sequence[Peer],
        *,
        timeout: float = proto.CLIENT_EXPIRE_TIMEOUT,
        coverage: int | None = None,
        rng: random.Random | None = None,
        make_salt: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if not peers:
            raise errors.GanetiError("no confd servers to ask (no master candidates known)")
        families = {_family(host) for host, _ in peers}
        if len(families) > 1:
            raise errors.GanetiError("confd peers must all be IPv4 or all be IPv6")
        self._ipv6 = families == {6}
        self._reactor = reactor
        self._key = key
        self._peers = [(h, int(p)) for h, p in peers]
        self._timeout = timeout
        if coverage is None:
            coverage = min(len(self._peers), MAX_COVERAGE)
        elif coverage < 0:
            coverage = len(self._peers)
        self._coverage = max(1, min(coverage, len(self._peers)))
        self._rng = rng or random.Random()
        self._make_salt = make_salt
        self._pending: dict[str, _Pending] = {}
        self._protocol = _ClientProtocol(self._received)
        self._port: IListeningPort | None = None
        self.dropped: dict[str, int] = {}

    # -- public API ------------------------------------------------------------------

    def query(self, rtype: RequestType | int, query: Any = None) -> Deferred[ConfdResult]:
        """Ask ``coverage`` peers; fires with a :class:`ConfdResult`."""
        request = Request(RequestType(rtype), self._make_salt(), query)
        self._ensure_listening()
        targets = list(self._peers)
        self._rng.shuffle(targets)
        targets = targets[: self._coverage]

        def cancel(_: Deferred[ConfdResult]) -> None:
            self._forget(request.rsalt)

        d: Deferred[ConfdResult] = Deferred(cancel)
        pending = _Pending(request, d, len(targets), expected_replies(len(targets)))
        self._pending[request.rsalt] = pending
        pending.timer = self._reactor.callLater(self._timeout, self._expire, request.rsalt)
        data = proto.encode_request(self._key, request, self._reactor.seconds())
        transport = self._protocol.transport
        assert transport is not None
        for peer in targets:
            try:
                transport.write(data, peer)
            except OSError as exc:
                log.warn("cannot send confd query to {peer}: {error}", peer=peer, error=exc)
        return d

    def close(self) -> None:
        """Cancel every pending query (their Deferreds fail with CancelledError) and
        release the socket."""
        for rsalt in list(self._pending):
            pending = self._pending[rsalt]
            pending.deferred.cancel()
        if self._port is not None:
            self._port.stopListening()
            self._port = None

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # -- internals -------------------------------------------------------------------

    def _ensure_listening(self) -> None:
        if self._port is None:
            self._port = self._reactor.listenUDP(
                0,
                self._protocol,
                interface="::" if self._ipv6 else "0.0.0.0",
                maxPacketSize=proto.MAX_UDP_DATA_SIZE,
            )

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def _forget(self, rsalt: str) -> _Pending | None:
        pending = self._pending.pop(rsalt, None)
        if pending is not None and pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        return pending

    def _received(self, data: bytes, addr: Any) -> None:
        try:
            reply, salt = proto.decode_reply(self._key, data)
        except proto.BadDatagram as exc:
            self._drop(exc.reason)
            return
        pending = self._pending.get(salt)
        if pending is None:
            self._drop(proto.DROP_SALT)
            return
        pending.add((str(addr[0]), int(addr[1])), reply)
        if len(pending.replies) >= pending.expected:
            self._forget(salt)
            pending.deferred.callback(pending.result(complete=True))

    def _expire(self, rsalt: str) -> None:
        pending = self._pending.pop(rsalt, None)
        if pending is None:
            return
        pending.timer = None
        if pending.best is not None:
            pending.deferred.callback(pending.result(complete=False))
        else:
            pending.deferred.errback(
                ConfdTimeout(
                    f"no confd server answered {pending.request.type.name} within "
                    f"{self._timeout:g} s (asked {pending.contacted})"
                )
            )
