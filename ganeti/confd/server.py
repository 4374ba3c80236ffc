"""The confd responder: a UDP protocol over an index of the local ``config.data``.

Layers, from the socket inwards:

* :class:`ConfdProtocol` (Twisted ``DatagramProtocol``) hands each datagram to a
  responder and writes back what it returns; nothing it receives can stop it.
* :class:`Responder` checks the datagram (:mod:`ganeti.confd.protocol`), asks the index
  for the memoised reply message and signs it with the request's ``rsalt``.
* :class:`ReplicaWatcher` keeps the index and the HMAC key current: a timer ``stat``s
  both files and reloads one when its inode, size or times change.  A query never
  touches the file system.
* :class:`DropStats` counts dropped datagrams by reason and logs one summary line per
  interval, so a flood of garbage is visible without flooding the log.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from zope.interface import implementer

from ganeti import constants, errors
from ganeti.confd import protocol as proto
from ganeti.confd.interfaces import IConfdSource, IResponder
from ganeti.confd.querylib import INTERNAL_ERROR, ConfdIndex
from ganeti.paths import Paths

log = Logger()

DROP_INTERNAL = "internal-error"
NO_CONFIG_MSG = INTERNAL_ERROR.to_msg()
PING_NO_CONFIG_MSG = proto.Reply(proto.ReplyStatus.OK, constants.CONFIG_VERSION, 0).to_msg()

Signature = tuple[int, int, int, int]


def file_signature(path: Path) -> Signature | None:
    """What changes when a file is replaced or rewritten (None if it is missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@attrs.define
class DropStats:
    """Counters of answered and dropped datagrams, with a periodic log summary."""

    answered: int = 0
    dropped: Counter[str] = attrs.field(factory=Counter)
    _window: Counter[str] = attrs.field(factory=Counter)
    _last_peer: str = ""
    _last_detail: str = ""
    _failure_logged: bool = False

    def drop(self, reason: str, peer: Any = None, detail: str = "") -> None:
        self.dropped[reason] += 1
        self._window[reason] += 1
        self._last_peer = str(peer) if peer is not None else ""
        self._last_detail = detail[:120]

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def should_log_failure(self) -> bool:
        """True for the first unexpected exception of an interval."""
        if self._failure_logged:
            return False
        self._failure_logged = True
        return True

    def report(self, interval: float) -> None:
        """Log one line if anything was dropped since the last report, then reset."""
        self._failure_logged = False
        if not self._window:
            return
        window, self._window = self._window, Counter()
        log.warn(
            "confd dropped {count} datagram(s) in the last {interval:.0f} s ({reasons}); "
            "last from {peer}: {detail}",
            count=sum(window.values()),
            interval=interval,
            reasons=", ".join(f"{r}={n}" for r, n in sorted(window.items())),
            peer=self._last_peer,
            detail=self._last_detail,
            dropped=dict(window),
            answered_total=self.answered,
        )


@implementer(IConfdSource)
@attrs.define
class ReplicaWatcher:
    """Holds the HMAC key and the index of ``config.data``; :meth:`check` reloads what
    changed on disk.  A config that fails to load leaves the previous index in place."""

    paths: Paths
    key: bytes | None = None
    index: ConfdIndex | None = None
    _config_sig: Signature | None = None
    _key_sig: Signature | None = None
    reloads: int = 0

    def check(self) -> bool:
        """Stat both files and reload the changed ones; True if anything was reloaded."""
        changed = False
        key_sig = file_signature(self.paths.hmac_key)
        if key_sig != self._key_sig:
            self._key_sig = key_sig
            changed |= self._load_key()
        config_sig = file_signature(self.paths.config_data)
        if config_sig != self._config_sig:
            self._config_sig = config_sig
            changed |= self._load_config(config_sig is not None)
        return changed

    def _load_key(self) -> bool:
        try:
            key = self.paths.hmac_key.read_bytes()
        except OSError as exc:
            log.error(
                "cannot read HMAC key {path}: {error}",
                path=str(self.paths.hmac_key),
                error=str(exc),
            )
            return False
        if not key:
            log.error("HMAC key {path} is empty", path=str(self.paths.hmac_key))
            return False
        self.key = key
        log.info("loaded HMAC key {path}", path=str(self.paths.hmac_key))
        return True

    def _load_config(self, exists: bool) -> bool:
        path = self.paths.config_data
        if not exists:
            if self.index is not None:
                log.warn("{path} disappeared; answering from the last loaded copy", path=str(path))
            return False
        try:
            index = ConfdIndex.from_bytes(path.read_bytes(), str(path))
        except (OSError, errors.ConfigurationError) as exc:
            log.error(
                "cannot load {path}, keeping the previous copy: {error}",
                path=str(path),
                error=str(exc),
            )
            return False
        self.index = index
        self.reloads += 1
        log.info(
            "loaded {path}: serial {serial}, cluster serial {cluster_serial}, "
            "{nodes} nodes, {instances} instances",
            path=str(path),
            serial=index.config.serial_no,
            cluster_serial=index.cluster_serial,
            nodes=len(index.config.nodes),
            instances=len(index.config.instances),
        )
        return True


@implementer(IResponder)
@attrs.define
class Responder:
    source: IConfdSource
    clock: IReactorTime
    stats: DropStats = attrs.field(factory=DropStats)
    max_skew: float = proto.MAX_CLOCK_SKEW

    def handle(self, data: bytes, peer: Any = None) -> bytes | None:
        key: bytes | None = self.source.key
        if key is None:
            self.stats.drop(proto.DROP_HMAC, peer, "no HMAC key loaded")
            return None
        try:
            request = proto.decode_request(key, data, self.clock.seconds(), self.max_skew)
        except proto.BadDatagram as exc:
            self.stats.drop(exc.reason, peer, exc.detail)
            return None
        index: ConfdIndex | None = self.source.index
        if index is None:
            msg = PING_NO_CONFIG_MSG if request.type == proto.RequestType.PING else NO_CONFIG_MSG
            reply = proto.pack(key, msg, request.rsalt)
        else:
            msg, msg_json = index.encoded(request)
            reply = proto.pack_encoded(key, msg, msg_json, request.rsalt)
            if len(reply) > proto.MAX_UDP_DATA_SIZE:
                self.stats.drop("reply-too-large", peer, f"{len(reply)} bytes")
                reply = proto.pack(key, NO_CONFIG_MSG, request.rsalt)
        self.stats.answered += 1
        return reply


class ConfdProtocol(DatagramProtocol):
    """Answers each request datagram; drops (and counts) everything else."""

    def __init__(self, responder: IResponder, stats: DropStats) -> None:
        self.responder = responder
        self.stats = stats

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        stats = self.stats
        try:
            reply = self.responder.handle(datagram, addr)
            if reply is not None and self.transport is not None:
                self.transport.write(reply, addr)
        except Exception:
            stats.drop(DROP_INTERNAL, addr)
            if stats.should_log_failure():
                log.failure("confd failed to answer a datagram from {peer}", peer=str(addr))
