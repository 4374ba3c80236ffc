"""Disk data between node daemons over the cluster's mutual TLS.

One transfer moves one byte stream (a disk, an OS export script's output, a file in the
export directory) from a *sending* node daemon to a *receiving* one.  The master drives
it with node RPCs named as in Ganeti:

1. ``import_start(opts, instance, component, dest)`` on the receiver: opens a one-time
   TLS listener on an ephemeral port (bound to ``opts["listen_address"]``), bounded in
   time (``connect_timeout``), and answers ``{"name", "port", "magic"}``; ``magic`` is a
   fresh random token only the master learns.
2. ``export_start(opts, host, port, instance, component, source)`` on the sender, with
   that ``magic`` in ``opts``: connects with the node's client certificate and streams.
3. ``impexp_status(names)`` on either side, polled by the master until ``exit_status``
   is set; ``impexp_abort(name)`` stops one; ``impexp_cleanup(name)`` forgets it.

Trust: the listener presents the cluster certificate and requires a client certificate
signed by it (anything else fails the handshake); the client certificate's CN must be the
node the master named as the sender (``opts["peer_node"]``) or the cluster certificate
itself; the first line must carry the token.  A token is accepted once: the listener
closes as soon as a sender presented it.

Stream (all after the TLS handshake):

* sender → receiver: a header line ``{"magic": ..., "compress": ..., "version": 1}\\n``;
* receiver → sender: ``OK\\n`` or ``ERR <message>\\n`` (then it hangs up);
* sender → receiver: frames ``kind (1 byte) | length (4 bytes, big endian) | payload``:
  ``D`` data (compressed stream pieces if compression is on), ``Z`` a run of zero bytes
  (payload: 8-byte count; only without compression, keeps sparse disks cheap), ``E`` end
  (payload: JSON ``{"size": raw bytes, "sha256": hex}``);
* receiver → sender: ``DONE {"size", "sha256"}\\n`` once the sink has the data and the
  size and checksum match, else ``ERR <message>\\n``.

Blocking work (reading and writing disks and pipes, compressing, hashing) runs through an
injected ``run_in_thread``; everything else is on the reactor.  Where the bytes come from
and go to is the :class:`ITransferSource` / :class:`ITransferSink` seam.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import struct
import zlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface, implementer

from ganeti import tls

log = Logger()

PROTOCOL_VERSION = 1
CHUNK = 1024 * 1024
MAX_FRAME = 4 * 1024 * 1024
MAX_HEADER = 4096
DEFAULT_CONNECT_TIMEOUT = 60.0
# A transfer that moves no data for this long is aborted.
IDLE_TIMEOUT = 120.0
# The receiver stops reading from the network while this much data waits for the sink.
RECEIVE_BUFFER = 8 * 1024 * 1024
# Connections that fail the token check before the listener gives up.
MAX_BAD_ATTEMPTS = 3
MIN_MAGIC_LENGTH = 16

COMPRESSION_LEVELS: Mapping[str, int | None] = {
    "none": None,
    "gzip": 6,
    "gzip-fast": 1,
    "gzip-slow": 9,
}

FRAME_DATA = b"D"
FRAME_ZERO = b"Z"
FRAME_END = b"E"
_HEAD = struct.Struct(">cI")
_COUNT = struct.Struct(">Q")
_ZEROS = bytes(CHUNK)

RunInThread = Callable[..., "defer.Deferred[Any]"]


class TransferError(Exception):
    """A transfer failed; the message says why."""


def check_compression(name: Any) -> str:
    if not isinstance(name, str) or name not in COMPRESSION_LEVELS:
        raise TransferError(
            f"unknown compression {name!r} (known: {', '.join(sorted(COMPRESSION_LEVELS))})"
        )
    return name


# --- frames --------------------------------------------------------------------------


def frame(kind: bytes, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def zero_frame(count: int) -> bytes:
    return frame(FRAME_ZERO, _COUNT.pack(count))


def end_frame(size: int, sha256: str) -> bytes:
    return frame(FRAME_END, json.dumps({"size": size, "sha256": sha256}).encode())


class FrameDecoder:
    """Splits a byte stream into ``(kind, payload)`` frames; rejects malformed ones."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= _HEAD.size:
            kind, length = _HEAD.unpack_from(self._buf)
            if kind not in (FRAME_DATA, FRAME_ZERO, FRAME_END):
                raise TransferError(f"unknown frame kind {kind!r}")
            if length > MAX_FRAME:
                raise TransferError(f"frame of {length} bytes exceeds {MAX_FRAME}")
            if len(self._buf) < _HEAD.size + length:
                break
            payload = bytes(self._buf[_HEAD.size : _HEAD.size + length])
            del self._buf[: _HEAD.size + length]
            out.append((kind, payload))
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


def parse_zero_count(payload: bytes) -> int:
    if len(payload) != _COUNT.size:
        raise TransferError("malformed zero frame")
    (count,) = _COUNT.unpack(payload)
    return int(count)


def parse_end(payload: bytes) -> tuple[int, str]:
    try:
        data = json.loads(payload)
        return int(data["size"]), str(data["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TransferError(f"malformed end frame: {exc}") from None


# --- sources and sinks (the seam) ----------------------------------------------------------


class ITransferSource(Interface):
    """Where a sender's bytes come from.  ``read`` blocks and runs in a thread."""

    description = Attribute("What is sent, for logs and messages.")
    expected_size = Attribute("Bytes expected in total, or None when unknown.")

    def read(size: int) -> bytes:
        """Up to ``size`` bytes; b"" at the end."""

    def finish() -> Awaitable[None]:
        """After the last read: wait for the producer (script) to end; raise on failure."""

    def abort() -> None:
        """Stop early: close descriptors, kill a producer process."""


class ITransferSink(Interface):
    """Where a receiver's bytes go.  ``write``/``write_zeros`` block (thread)."""

    description = Attribute("Where the data goes, for logs and messages.")
    capacity = Attribute("At most this many bytes fit, or None when unbounded.")

    def write(data: bytes) -> None:
        """Append ``data``."""

    def write_zeros(count: int) -> None:
        """Append ``count`` zero bytes (a sparse file may just skip them)."""

    def sync(size: int) -> None:
        """All ``size`` bytes were written: make them durable (blocks; thread)."""

    def finish(size: int) -> Awaitable[None]:
        """After ``sync``: close, wait for a consumer process; raise on failure."""

    def abort() -> None:
        """Stop early: close descriptors, kill a consumer process, drop partial output."""


@implementer(ITransferSource)
class FileSource:
    """A regular file or a block device, read from offset 0 to its end."""

    def __init__(self, path: Path | str, description: str = "") -> None:
        self.path = str(path)
        self.description = description or self.path
        self._fd = os.open(self.path, os.O_RDONLY)
        size = os.lseek(self._fd, 0, os.SEEK_END)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self.expected_size: int | None = size

    def read(self, size: int) -> bytes:
        return os.read(self._fd, size)

    async def finish(self) -> None:
        self._close()

    def abort(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@implementer(ITransferSink)
class FileSink:
    """Writes into a file or block device from offset 0.

    ``sparse`` (regular files only): the file is emptied first, zero runs become holes
    and the file ends at exactly the received size.  Block devices get real zeros and
    keep their size; ``capacity`` bounds what is accepted.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        sparse: bool,
        capacity: int | None = None,
        create: bool = False,
        description: str = "",
    ) -> None:
        self.path = str(path)
        self.description = description or self.path
        self.sparse = sparse
        self.capacity = capacity
        flags = os.O_WRONLY | (os.O_CREAT | os.O_EXCL if create else 0)
        self._fd = os.open(self.path, flags, 0o600)
        self._created = create
        self._started = False
        self._pos = 0

    def _begin(self) -> None:
        # Emptied only once data arrives from an accepted sender, not when opened.
        if not self._started:
            self._started = True
            if self.sparse:
                os.ftruncate(self._fd, 0)

    def write(self, data: bytes) -> None:
        self._begin()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._pos += len(data)

    def write_zeros(self, count: int) -> None:
        self._begin()
        if self.sparse:
            os.lseek(self._fd, count, os.SEEK_CUR)
            self._pos += count
            return
        while count > 0:
            n = min(count, CHUNK)
            self.write(_ZEROS[:n])
            count -= n

    def sync(self, size: int) -> None:
        if self._fd < 0:
            raise TransferError(f"{self.description} is closed")
        self._begin()
        if self.sparse:
            os.ftruncate(self._fd, size)
        os.fsync(self._fd)

    async def finish(self, size: int) -> None:
        if self._fd < 0:
            raise TransferError(f"{self.description} is closed")
        os.close(self._fd)
        self._fd = -1

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._created:
            try:
                os.unlink(self.path)
            except OSError:
                pass


# A script runner: (pipe fd for the child) -> Deferred firing with (ok, message).
ScriptStarter = Callable[[int], "defer.Deferred[tuple[bool, str]]"]


@implementer(ITransferSource)
class ScriptSource:
    """The standard output of a process (an OS ``export`` script), through a pipe."""

    def __init__(self, start: ScriptStarter, description: str) -> None:
        self.description = description
        self.expected_size: int | None = None
        rfd, wfd = os.pipe()
        try:
            self._ended = start(wfd)
        finally:
            os.close(wfd)
        self._fd = rfd

    def read(self, size: int) -> bytes:
        try:
            return os.read(self._fd, size)
        except OSError as exc:
            if exc.errno == errno.EBADF:
                raise TransferError("aborted") from None
            raise

    async def finish(self) -> None:
        ok, message = await self._ended
        self._close()
        if not ok:
            raise TransferError(message)

    def abort(self) -> None:
        self._ended.cancel()
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@implementer(ITransferSink)
class ScriptSink:
    """The standard input of a process (an OS ``import`` script), through a pipe."""

    def __init__(self, start: ScriptStarter, description: str) -> None:
        self.description = description
        self.capacity: int | None = None
        rfd, wfd = os.pipe()
        try:
            self._ended = start(rfd)
        finally:
            os.close(rfd)
        self._fd = wfd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except BrokenPipeError:
                raise TransferError(f"{self.description} stopped reading its input") from None
            view = view[n:]

    def write_zeros(self, count: int) -> None:
        while count > 0:
            n = min(count, CHUNK)
            self.write(_ZEROS[:n])
            count -= n

    def sync(self, size: int) -> None:
        pass  # the script decides how it stores the data

    async def finish(self, size: int) -> None:
        self._close()
        ok, message = await self._ended
        if not ok:
            raise TransferError(message)

    def abort(self) -> None:
        self._close()
        self._ended.cancel()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# --- state ---------------------------------------------------------------------------------


@attrs.define
class Transfer:
    """One side of one transfer, as ``impexp_status`` reports it."""

    name: str
    kind: str  # "import" (receiving) or "export" (sending)
    component: str
    description: str
    started: float
    expected_size: int | None = None
    listen_port: int | None = None
    connected: bool = False
    size: int = 0  # raw bytes so far
    wire_bytes: int = 0
    sha256: str | None = None
    exit_status: int | None = None
    error_message: str | None = None
    finished: float | None = None
    # Internals.
    magic: str = attrs.field(default="", repr=False)
    peer_node: str | None = None
    stop: Callable[[str], None] | None = attrs.field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.exit_status is not None

    def status(self, now: float) -> dict[str, Any]:
        end = self.finished if self.finished is not None else now
        elapsed = max(end - self.started, 1e-6)
        mbytes = self.size / (1024 * 1024)
        throughput = mbytes / elapsed
        percent = None
        eta = None
        if self.expected_size:
            percent = min(100, int(100 * self.size / self.expected_size))
            if throughput > 0 and not self.done:
                eta = int((self.expected_size - self.size) / (1024 * 1024) / throughput)
        return {
            "name": self.name,
            "kind": self.kind,
            "component": self.component,
            "listen_port": self.listen_port,
            "connected": self.connected,
            "progress_mbytes": round(mbytes, 3),
            "progress_throughput": round(throughput, 3),
            "progress_eta": eta,
            "progress_percent": percent,
            "exit_status": self.exit_status,
            "error_message": self.error_message,
            "recent_output": [],
            "done": self.done,
            "size": self.size,
            "wire_bytes": self.wire_bytes,
            "sha256": self.sha256,
            "expected_size": self.expected_size,
            "elapsed": round(elapsed, 3),
        }

    def succeed(self, now: float) -> None:
        if self.exit_status is None:
            self.exit_status = 0
            self.finished = now

    def fail(self, message: str, now: float) -> None:
        if self.exit_status is None:
            self.exit_status = 1
            self.error_message = message
            self.finished = now


class _Pauser:
    """A streaming IPushProducer for a coroutine that writes to a transport."""

    def __init__(self) -> None:
        self._waiting: defer.Deferred[None] | None = None
        self.paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(None)

    def stopProducing(self) -> None:
        self.resumeProducing()

    async def wait(self) -> None:
        if self.paused:
            self._waiting = defer.Deferred()
            await self._waiting


def _describe_failure(failure: Failure | BaseException) -> str:
    exc = failure.value if isinstance(failure, Failure) else failure
    if isinstance(exc, TransferError):
        return str(exc)
    if isinstance(exc, defer.CancelledError):
        return "aborted"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({getattr(exc, 'filename', None) or ''})".strip()
    return f"{type(exc).__name__}: {exc}"


def peer_common_name(transport: Any) -> str | None:
    cert = tls.peer_certificate(transport)
    if cert is None:
        return None
    from cryptography.x509.oid import NameOID

    attrs_ = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs_[0].value) if attrs_ else ""


# --- receiving side -------------------------------------------------------------------------


class Receiver:
    """The receiving side of one transfer: checks the sender, feeds the sink."""

    def __init__(
        self,
        transfer: Transfer,
        sink: ITransferSink,
        compress: str,
        clock: IReactorTime,
        run_in_thread: RunInThread,
        cluster_cert_digest: str,
        close_listener: Callable[[], None],
    ) -> None:
        self.transfer = transfer
        self.sink = sink
        self.compress = compress
        self.clock = clock
        self.run = run_in_thread
        self.cluster_digest = cluster_cert_digest
        self.close_listener = close_listener
        self.active: ReceiveProtocol | None = None
        self.bad_attempts = 0
        self.hasher = hashlib.sha256()
        self.decompressor = (
            zlib.decompressobj() if COMPRESSION_LEVELS[compress] is not None else None
        )

    def authorize(self, proto: ReceiveProtocol, header: Mapping[str, Any]) -> str | None:
        """Why this connection may not deliver the data, or None."""
        t = self.transfer
        if t.done:
            return "this transfer is over"
        if self.active is not None:
            return "this transfer is already connected"
        cert = tls.peer_certificate(proto.transport)
        if cert is None:
            return "no client certificate"
        cn = peer_common_name(proto.transport)
        if (
            t.peer_node is not None
            and cn != t.peer_node
            and tls.cert_digest(cert) != self.cluster_digest
        ):
            return f"client certificate is for {cn!r}, expected node {t.peer_node!r}"
        magic = header.get("magic")
        if not isinstance(magic, str) or not secrets.compare_digest(magic, t.magic):
            return "wrong transfer token"
        if header.get("version") != PROTOCOL_VERSION:
            return f"unsupported protocol version {header.get('version')!r}"
        if header.get("compress") != self.compress:
            return f"compression {header.get('compress')!r} differs from {self.compress!r}"
        return None

    def refused(self, reason: str) -> None:
        self.bad_attempts += 1
        log.warn(
            "transfer {name}: refused a connection: {reason}",
            name=self.transfer.name,
            reason=reason,
        )
        if self.bad_attempts >= MAX_BAD_ATTEMPTS and self.active is None:
            self.fail(f"{self.bad_attempts} refused connections, last: {reason}")

    def accepted(self, proto: ReceiveProtocol) -> None:
        self.active = proto
        self.transfer.connected = True
        # One-time: nobody else may connect with this token.
        self.transfer.magic = ""
        self.close_listener()

    def fail(self, message: str) -> None:
        t = self.transfer
        if t.done:
            return
        t.fail(message, self.clock.seconds())
        self.close_listener()
        try:
            self.sink.abort()
        except Exception as exc:
            log.warn("aborting {d}: {e}", d=self.sink.description, e=str(exc))
        if self.active is not None:
            self.active.send_error(message)

    def consume_blocking(self, kind: bytes, payload: bytes) -> int:
        """In a thread: decode one frame into the sink; raw bytes added."""
        if kind == FRAME_ZERO:
            if self.decompressor is not None:
                raise TransferError("zero frames are not allowed with compression")
            count = parse_zero_count(payload)
            self._check_room(count)
            self.sink.write_zeros(count)
            remaining = count
            while remaining:
                n = min(remaining, CHUNK)
                self.hasher.update(_ZEROS[:n])
                remaining -= n
            return count
        data = payload
        if self.decompressor is not None:
            data = self._inflate(payload)
        self._check_room(len(data))
        if data:
            self.hasher.update(data)
            self.sink.write(data)
        return len(data)

    def _inflate(self, payload: bytes) -> bytes:
        assert self.decompressor is not None
        limit = self._room()
        out = self.decompressor.decompress(payload, limit + 1 if limit is not None else 0)
        if self.decompressor.unconsumed_tail:
            raise TransferError("the data exceeds the expected size")
        return out

    def flush_blocking(self) -> int:
        if self.decompressor is None:
            return 0
        data = self.decompressor.flush()
        self._check_room(len(data))
        if data:
            self.hasher.update(data)
            self.sink.write(data)
        return len(data)

    def _room(self) -> int | None:
        bounds = [b for b in (self.transfer.expected_size, self.sink.capacity) if b is not None]
        return None if not bounds else min(bounds) - self.transfer.size

    def _check_room(self, n: int) -> None:
        room = self._room()
        if room is not None and n > room:
            raise TransferError(
                f"the data exceeds the expected size ({self.transfer.size + n} bytes > "
                f"{self.transfer.size + room})"
            )


class ReceiveProtocol(protocol.Protocol):
    """One incoming connection to a transfer listener."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.header_buf = b""
        self.state = "header"
        self.decoder = FrameDecoder()
        self.queue: list[tuple[bytes, bytes]] = []
        self.queued_bytes = 0
        self.paused = False
        self.worker: defer.Deferred[None] | None = None
        self.idle: Any = None

    # -- network side --

    def dataReceived(self, data: bytes) -> None:
        if self.state == "header":
            self.header_buf += data
            line, sep, rest = self.header_buf.partition(b"\n")
            if not sep:
                if len(self.header_buf) > MAX_HEADER:
                    self._refuse("header too long")
                return
            try:
                header = json.loads(line)
                if not isinstance(header, dict):
                    raise ValueError("not an object")
            except ValueError:
                self._refuse("malformed header")
                return
            reason = self.receiver.authorize(self, header)
            if reason is not None:
                self._refuse(reason)
                return
            self.receiver.accepted(self)
            self.state = "frames"
            assert self.transport is not None
            self.transport.write(b"OK\n")
            self._touch()
            data = rest
        if self.state != "frames":
            return
        self.receiver.transfer.wire_bytes += len(data)
        self._touch()
        try:
            frames = self.decoder.feed(data)
        except TransferError as exc:
            self.receiver.fail(str(exc))
            return
        for kind, payload in frames:
            self.queue.append((kind, payload))
            self.queued_bytes += len(payload)
            if kind == FRAME_END:
                self.state = "ending"
                break
        if self.queued_bytes > RECEIVE_BUFFER and not self.paused:
            assert self.transport is not None
            self.paused = True
            self.transport.pauseProducing()  # type: ignore[attr-defined]
        if self.worker is None and self.queue:
            self.worker = defer.Deferred.fromCoroutine(self._drain())

    def _refuse(self, reason: str) -> None:
        self.state = "refused"
        self.receiver.refused(reason)
        assert self.transport is not None
        self.transport.write(f"ERR {reason}\n".encode())
        self.transport.loseConnection()

    def send_error(self, message: str) -> None:
        if self.transport is not None and self.state != "closed":
            self.state = "closed"
            self.transport.write(f"ERR {message}\n".encode())
            self.transport.loseConnection()
        self._stop_idle()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        previous = self.state
        self.state = "closed"
        self._stop_idle()
        if self.receiver.active is self and previous in ("frames", "ending"):
            if not self.receiver.transfer.done and previous == "frames":
                self.receiver.fail("the sender hung up before the end of the data")

    # -- idle timer --

    def _touch(self) -> None:
        clock = self.receiver.clock
        if self.idle is not None and self.idle.active():
            self.idle.reset(IDLE_TIMEOUT)
        else:
            self.idle = clock.callLater(IDLE_TIMEOUT, self._idle_expired)

    def _stop_idle(self) -> None:
        if self.idle is not None and self.idle.active():
            self.idle.cancel()

    def _idle_expired(self) -> None:
        self.receiver.fail(f"no data for {IDLE_TIMEOUT:g}s")

    # -- sink side --

    async def _drain(self) -> None:
        r = self.receiver
        t = r.transfer
        try:
            while self.queue and not t.done:
                kind, payload = self.queue.pop(0)
                self.queued_bytes -= len(payload)
                if self.paused and self.queued_bytes < RECEIVE_BUFFER // 2:
                    self.paused = False
                    assert self.transport is not None
                    self.transport.resumeProducing()  # type: ignore[attr-defined]
                if kind == FRAME_END:
                    await self._end(payload)
                    return
                t.size += await r.run(r.consume_blocking, kind, payload)
                self._touch()
        except Exception as exc:
            r.fail(_describe_failure(exc))
        finally:
            self.worker = None
        if self.queue and not t.done:
            self.worker = defer.Deferred.fromCoroutine(self._drain())

    async def _end(self, payload: bytes) -> None:
        r = self.receiver
        t = r.transfer
        size, digest = parse_end(payload)
        t.size += await r.run(r.flush_blocking)
        t.sha256 = r.hasher.hexdigest()
        if size != t.size:
            raise TransferError(f"size mismatch: sender sent {size} bytes, received {t.size}")
        if digest != t.sha256:
            raise TransferError(f"checksum mismatch: sender {digest}, received {t.sha256}")
        if t.expected_size is not None and t.size != t.expected_size:
            raise TransferError(f"received {t.size} bytes, expected {t.expected_size}")
        await r.run(r.sink.sync, t.size)
        await r.sink.finish(t.size)
        t.succeed(r.clock.seconds())
        self._stop_idle()
        if self.transport is not None:
            reply = json.dumps({"size": t.size, "sha256": t.sha256})
            self.transport.write(f"DONE {reply}\n".encode())
            self.transport.loseConnection()
        log.info(
            "transfer {name}: received {size} bytes into {sink}",
            name=t.name,
            size=t.size,
            sink=r.sink.description,
        )


class ReceiveFactory(protocol.Factory):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def buildProtocol(self, addr: Any) -> ReceiveProtocol:
        if self.receiver.transfer.done or self.receiver.active is not None:
            return None  # type: ignore[return-value]  # refuses the connection
        return ReceiveProtocol(self.receiver)


# --- sending side ----------------------------------------------------------------------------


class SendProtocol(protocol.Protocol):
    """The sender's connection: header, wait for OK, frames, wait for DONE."""

    def __init__(
        self,
        transfer: Transfer,
        source: ITransferSource,
        magic: str,
        compress: str,
        clock: IReactorTime,
        run_in_thread: RunInThread,
        done: defer.Deferred[None],
    ) -> None:
        self.transfer = transfer
        self.source = source
        self.magic = magic
        self.compress = compress
        self.clock = clock
        self.run = run_in_thread
        self.done = done
        self.buf = b""
        self.state = "header"
        self.pauser = _Pauser()
        level = COMPRESSION_LEVELS[compress]
        self.compressor = zlib.compressobj(level) if level is not None else None
        self.hasher = hashlib.sha256()
        self.pump: defer.Deferred[None] | None = None

    def connectionMade(self) -> None:
        assert self.transport is not None
        header = {"magic": self.magic, "compress": self.compress, "version": PROTOCOL_VERSION}
        self.transport.write(json.dumps(header).encode() + b"\n")

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            self._line(line.decode("utf-8", "replace"))

    def _line(self, line: str) -> None:
        if line.startswith("ERR "):
            self._finish(TransferError(f"the receiver refused: {line[4:]}"))
            return
        if self.state == "header" and line == "OK":
            self.state = "sending"
            self.transfer.connected = True
            assert self.transport is not None
            self.transport.registerProducer(self.pauser, True)  # type: ignore[attr-defined]
            self.pump = defer.Deferred.fromCoroutine(self._send())
            return
        if self.state == "waiting" and line.startswith("DONE "):
            try:
                reply = json.loads(line[5:])
                size, digest = int(reply["size"]), str(reply["sha256"])
            except (ValueError, KeyError, TypeError):
                self._finish(TransferError(f"malformed reply {line!r}"))
                return
            if size != self.transfer.size or digest != self.transfer.sha256:
                self._finish(
                    TransferError(
                        f"the receiver got {size} bytes ({digest}), sent "
                        f"{self.transfer.size} ({self.transfer.sha256})"
                    )
                )
                return
            self._finish(None)
            return
        self._finish(TransferError(f"unexpected reply {line!r}"))

    def read_blocking(self) -> tuple[bytes, int]:
        """In a thread: the next frame(s) to send and the raw bytes they carry."""
        data = self.source.read(CHUNK)
        if not data:
            tail = self.compressor.flush() if self.compressor is not None else b""
            return (frame(FRAME_DATA, tail) if tail else b""), -1
        self.hasher.update(data)
        if self.compressor is not None:
            packed = self.compressor.compress(data)
            return (frame(FRAME_DATA, packed) if packed else b""), len(data)
        if data == _ZEROS[: len(data)]:
            return zero_frame(len(data)), len(data)
        return frame(FRAME_DATA, data), len(data)

    async def _send(self) -> None:
        t = self.transfer
        try:
            while self.state == "sending":
                await self.pauser.wait()
                if self.state != "sending":
                    return
                out, n = await self.run(self.read_blocking)
                if out:
                    assert self.transport is not None
                    self.transport.write(out)
                    t.wire_bytes += len(out)
                if n < 0:
                    break
                t.size += n
            if self.state != "sending":
                return
            await self.source.finish()
            t.sha256 = self.hasher.hexdigest()
            assert self.transport is not None
            self.transport.write(end_frame(t.size, t.sha256))
            self.state = "waiting"
        except Exception as exc:
            self._finish(exc)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.state in ("header", "sending", "waiting"):
            self._finish(TransferError(f"connection lost: {reason.getErrorMessage()}"))

    def abort(self, message: str) -> None:
        self._finish(TransferError(message))

    def _finish(self, error: BaseException | None) -> None:
        if self.state == "closed":
            return
        self.state = "closed"
        self.pauser.resumeProducing()
        if self.transport is not None:
            self.transport.loseConnection()
        if error is not None:
            self.source.abort()
            if not self.done.called:
                self.done.errback(Failure(error))
        elif not self.done.called:
            self.done.callback(None)


class SendFactory(protocol.ClientFactory):
    def __init__(self, make: Callable[[], SendProtocol], done: defer.Deferred[None]) -> None:
        self.make = make
        self.done = done
        self.protocol_instance: SendProtocol | None = None

    def buildProtocol(self, addr: Any) -> SendProtocol:
        self.protocol_instance = self.make()
        return self.protocol_instance

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.done.called:
            self.done.errback(Failure(TransferError(f"cannot connect: {reason.getErrorMessage()}")))


def new_magic() -> str:
    return secrets.token_hex(24)
