"""The transfer protocol (ganeti/noded/transfer.py) without a network: frames, the
receiver's checks, sender and receiver connected through iosim, file sinks and sources.
TLS itself is covered by tests/unit/test_transfer_tls.py and tests/cluster/test_transfer.py."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

from OpenSSL import crypto
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from ganeti import tls
from ganeti.noded import transfer as tr

CA = tls.create_cluster_certificate("cluster.test")
NODE2 = tls.create_node_certificate(CA, "node2.test", str(uuid.uuid4()))
NODE3 = tls.create_node_certificate(CA, "node3.test", str(uuid.uuid4()))


def sync_thread(f: Any, *args: Any) -> defer.Deferred[Any]:
    return defer.maybeDeferred(f, *args)


class FrameTests(SynchronousTestCase):
    def test_split_frames_across_feeds(self) -> None:
        stream = tr.frame(tr.FRAME_DATA, b"abc") + tr.zero_frame(7) + tr.end_frame(10, "x")
        dec = tr.FrameDecoder()
        got = []
        for i in range(len(stream)):
            got.extend(dec.feed(stream[i : i + 1]))
        self.assertEqual([k for k, _ in got], [b"D", b"Z", b"E"])
        self.assertEqual(got[0][1], b"abc")
        self.assertEqual(tr.parse_zero_count(got[1][1]), 7)
        self.assertEqual(tr.parse_end(got[2][1]), (10, "x"))
        self.assertEqual(dec.pending, 0)

    def test_bad_frames(self) -> None:
        with self.assertRaisesRegex(tr.TransferError, "unknown frame kind"):
            tr.FrameDecoder().feed(b"Q\x00\x00\x00\x00")
        with self.assertRaisesRegex(tr.TransferError, "exceeds"):
            tr.FrameDecoder().feed(b"D\xff\x00\x00\x00")
        with self.assertRaises(tr.TransferError):
            tr.parse_end(b"not json")
        with self.assertRaises(tr.TransferError):
            tr.parse_zero_count(b"12")
        with self.assertRaisesRegex(tr.TransferError, "unknown compression"):
            tr.check_compression("lzma")


class Pair:
    """A receiver and a sender connected in memory; ``pump`` moves the bytes."""

    def __init__(
        self,
        case: SynchronousTestCase,
        data: bytes,
        *,
        compress: str = "none",
        peer_node: str | None = "node2.test",
        client_cert: tls.KeyPair | None = NODE2,
        magic: str | None = None,
        expected_size: int | None = None,
        sink_capacity: int | None = None,
    ) -> None:
        base = Path(case.mktemp())
        base.mkdir()
        self.src_path = base / "src"
        self.src_path.write_bytes(data)
        self.dst_path = base / "dst"
        self.dst_path.write_bytes(b"old content that must go away")
        self.clock = Clock()
        self.closed = 0
        self.recv = tr.Transfer("import-x", "import", "disk0", "dst", 0.0, magic="m" * 32)
        self.recv.peer_node = peer_node
        self.recv.expected_size = expected_size
        sink = tr.FileSink(self.dst_path, sparse=True, capacity=sink_capacity)
        self.receiver = tr.Receiver(
            self.recv,
            sink,
            compress,
            self.clock,
            sync_thread,
            tls.cert_digest(CA.cert),
            self._close,
        )
        self.send = tr.Transfer("export-x", "export", "disk0", "src", 0.0)
        self.done: defer.Deferred[None] = defer.Deferred()
        self.source = tr.FileSource(self.src_path)
        self.sender = tr.SendProtocol(
            self.send,
            self.source,
            magic if magic is not None else "m" * 32,
            compress,
            self.clock,
            sync_thread,
            self.done,
        )
        self.server = tr.ReceiveProtocol(self.receiver)
        server_tpt = iosim.FakeTransport(self.server, isServer=True)
        if client_cert is not None:
            x509 = crypto.X509.from_cryptography(client_cert.cert)
            server_tpt.getPeerCertificate = lambda: x509  # type: ignore[attr-defined]
        client_tpt = iosim.FakeTransport(self.sender, isServer=False)
        self.pump = iosim.connect(self.server, server_tpt, self.sender, client_tpt, greet=False)

    def _close(self) -> None:
        self.closed += 1

    def run(self) -> None:
        for _ in range(10_000):
            if not self.pump.pump() and self.done.called:
                break
        self.pump.flush()


class ProtocolTests(SynchronousTestCase):
    def check_copy(self, data: bytes, **kwargs: Any) -> Pair:
        pair = Pair(self, data, **kwargs)
        pair.run()
        self.successResultOf(pair.done)
        self.assertEqual(pair.recv.exit_status, 0, pair.recv.error_message)
        self.assertEqual(pair.dst_path.read_bytes(), data)
        digest = hashlib.sha256(data).hexdigest()
        self.assertEqual(pair.recv.sha256, digest)
        self.assertEqual(pair.send.sha256, digest)
        self.assertEqual((pair.recv.size, pair.send.size), (len(data), len(data)))
        self.assertGreaterEqual(pair.closed, 1)  # the listener closes after the token
        self.assertEqual(pair.recv.magic, "")  # and the token cannot be used again
        return pair

    def test_copy_data_and_zero_runs(self) -> None:
        data = os.urandom(tr.CHUNK) + bytes(3 * tr.CHUNK) + b"tail" + os.urandom(100_000)
        pair = self.check_copy(data)
        # The zero megabytes crossed as zero frames, not as data.
        self.assertLess(pair.send.wire_bytes, len(data) - 3 * tr.CHUNK + 1000)

    def test_copy_compressed(self) -> None:
        data = b"ganeti " * 300_000
        pair = self.check_copy(data, compress="gzip-fast")
        self.assertLess(pair.send.wire_bytes, len(data) // 10)

    def test_empty_stream(self) -> None:
        self.check_copy(b"")

    def test_expected_size_enforced(self) -> None:
        self.check_copy(b"x" * 1000, expected_size=1000)
        pair = Pair(self, b"x" * 1000, expected_size=999)
        pair.run()
        self.assertIn("exceeds the expected size", str(self.failureResultOf(pair.done).value))
        self.assertEqual(pair.recv.exit_status, 1)
        pair = Pair(self, b"x" * 1000, expected_size=1001)
        pair.run()
        self.failureResultOf(pair.done)
        self.assertIn("expected 1001", pair.recv.error_message or "")

    def test_capacity_bounds_decompression(self) -> None:
        pair = Pair(self, bytes(5 * tr.CHUNK), compress="gzip", sink_capacity=tr.CHUNK)
        pair.run()
        self.failureResultOf(pair.done)
        self.assertIn("exceeds the expected size", pair.recv.error_message or "")

    def test_wrong_token_refused(self) -> None:
        pair = Pair(self, b"secret data", magic="n" * 32)
        pair.run()
        self.assertIn("wrong transfer token", str(self.failureResultOf(pair.done).value))
        self.assertIsNone(pair.recv.exit_status)  # still waiting for the right sender
        self.assertEqual(pair.receiver.bad_attempts, 1)
        self.assertEqual(pair.dst_path.read_bytes(), b"old content that must go away")

    def test_wrong_node_certificate_refused(self) -> None:
        pair = Pair(self, b"data", client_cert=NODE3)
        pair.run()
        self.assertIn("expected node 'node2.test'", str(self.failureResultOf(pair.done).value))

    def test_cluster_certificate_accepted_for_any_node(self) -> None:
        self.check_copy(b"data", client_cert=CA)

    def test_no_certificate_refused(self) -> None:
        pair = Pair(self, b"data", client_cert=None)
        pair.run()
        self.assertIn("no client certificate", str(self.failureResultOf(pair.done).value))

    def test_three_bad_attempts_fail_the_transfer(self) -> None:
        pair = Pair(self, b"data", magic="n" * 32)
        pair.run()
        self.assertIn("wrong transfer token", str(self.failureResultOf(pair.done).value))
        for _ in range(tr.MAX_BAD_ATTEMPTS - 1):
            again = tr.ReceiveProtocol(pair.receiver)
            tpt = iosim.FakeTransport(again, isServer=True)
            again.makeConnection(tpt)
            again.dataReceived(b'{"magic": "nope"}\n')
        self.assertEqual(pair.recv.exit_status, 1)
        self.assertIn("refused connections", pair.recv.error_message or "")

    def test_second_connection_after_use_refused(self) -> None:
        pair = self.check_copy(b"data")
        factory = tr.ReceiveFactory(pair.receiver)
        self.assertIsNone(factory.buildProtocol(None))
        late = tr.ReceiveProtocol(pair.receiver)
        tpt = iosim.FakeTransport(late, isServer=True)
        late.makeConnection(tpt)
        late.dataReceived(b'{"magic": "' + b"m" * 32 + b'", "version": 1}\n')
        self.assertIn(b"ERR this transfer is over", tpt.getOutBuffer())

    def test_sender_hangs_up_midway(self) -> None:
        pair = Pair(self, b"unused")
        header = b'{"magic": "' + b"m" * 32 + b'", "compress": "none", "version": 1}\n'
        pair.server.dataReceived(header + tr.frame(tr.FRAME_DATA, b"part of the data"))
        self.assertEqual(pair.recv.size, 16)
        pair.server.connectionLost()
        self.assertEqual(pair.recv.exit_status, 1)
        self.assertIn("hung up", pair.recv.error_message or "")

    def test_idle_timeout(self) -> None:
        pair = Pair(self, b"data")
        pair.pump.pump()
        pair.pump.pump()
        pair.clock.advance(tr.IDLE_TIMEOUT + 1)
        self.assertEqual(pair.recv.exit_status, 1)
        self.assertIn("no data for", pair.recv.error_message or "")

    def test_status_fields(self) -> None:
        pair = self.check_copy(b"x" * 2048, expected_size=2048)
        status = pair.recv.status(5.0)
        self.assertEqual(status["exit_status"], 0)
        self.assertEqual(status["progress_percent"], 100)
        self.assertEqual(status["size"], 2048)
        self.assertIsNone(status["error_message"])
        self.assertTrue(status["connected"])


class SinkTests(SynchronousTestCase):
    def test_sparse_file_sink_makes_holes(self) -> None:
        path = Path(self.mktemp())
        path.write_bytes(b"x" * 100)
        sink = tr.FileSink(path, sparse=True)
        sink.write(b"ab")
        sink.write_zeros(4 * tr.CHUNK)
        sink.write(b"cd")
        sink.sync(4 + 4 * tr.CHUNK)
        self.successResultOf(defer.ensureDeferred(sink.finish(4 + 4 * tr.CHUNK)))
        data = path.read_bytes()
        self.assertEqual(data, b"ab" + bytes(4 * tr.CHUNK) + b"cd")
        self.assertLess(os.stat(path).st_blocks * 512, 2 * tr.CHUNK)

    def test_created_sink_removed_on_abort(self) -> None:
        path = Path(self.mktemp())
        sink = tr.FileSink(path, sparse=True, create=True)
        sink.write(b"partial")
        sink.abort()
        self.assertFalse(path.exists())

    def test_block_style_sink_writes_zeros_and_keeps_size(self) -> None:
        path = Path(self.mktemp())
        path.write_bytes(b"y" * (2 * tr.CHUNK))
        sink = tr.FileSink(path, sparse=False)
        sink.write_zeros(tr.CHUNK)
        sink.sync(tr.CHUNK)
        self.successResultOf(defer.ensureDeferred(sink.finish(tr.CHUNK)))
        self.assertEqual(path.read_bytes(), bytes(tr.CHUNK) + b"y" * tr.CHUNK)
