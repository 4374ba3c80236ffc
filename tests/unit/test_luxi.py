"""LUXI framing, request/reply encoding and the server protocol."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.luxi import protocol as proto
from ganeti.luxi.server import LuxiServerFactory


class FramerTests(SynchronousTestCase):
    def test_split_and_merged_reads(self) -> None:
        f = proto.Framer()
        self.assertEqual(f.feed(b'{"a":'), [])
        self.assertEqual(f.feed(b"1}\x03{"), [b'{"a":1}'])
        self.assertEqual(f.feed(b'"b":2}\x03{}\x03'), [b'{"b":2}', b"{}"])
        self.assertEqual(f.pending, 0)

    @given(
        st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\x03", b"")), max_size=8),
        st.integers(min_value=1, max_value=7),
    )
    def test_any_chunking(self, messages: list[bytes], chunk: int) -> None:
        stream = b"".join(m + proto.ETX for m in messages)
        f = proto.Framer()
        out = []
        for i in range(0, len(stream), chunk):
            out.extend(f.feed(stream[i : i + chunk]))
        self.assertEqual(out, messages)

    def test_oversized(self) -> None:
        f = proto.Framer(max_size=10)
        self.assertEqual(f.feed(b"0123456789"), [])
        self.assertRaises(proto.FramingError, f.feed, b"x")
        # Complete messages before the limit are still delivered.
        f = proto.Framer(max_size=10)
        self.assertEqual(f.feed(b"abc\x03"), [b"abc"])


class EncodingTests(SynchronousTestCase):
    def test_request_roundtrip(self) -> None:
        raw = proto.encode_request("SubmitJob", [[{"OP_ID": "OP_TEST_DELAY"}]])
        self.assertTrue(raw.endswith(proto.ETX))
        req = proto.parse_request(raw[:-1])
        self.assertEqual(req.method, "SubmitJob")
        self.assertEqual(req.args, [[{"OP_ID": "OP_TEST_DELAY"}]])

    def test_bad_requests(self) -> None:
        for raw in (
            b"garbage",
            b"[1,2]",
            b'{"args": []}',
            b'{"method": "X", "args": 3}',
            b'{"method": "X", "version": 1}',
            b"\xff\xfe",
        ):
            self.assertRaises(errors.LuxiError, proto.parse_request, raw)

    def test_error_roundtrip(self) -> None:
        exc = errors.OpPrereqError("Node 'x' not known", errors.ECODE_NOENT)
        encoded = proto.encode_exception(exc)
        self.assertEqual(encoded, ["OpPrereqError", ["Node 'x' not known", "unknown_entity"]])
        raw = proto.encode_reply(False, encoded)[:-1]
        err = self.assertRaises(errors.OpPrereqError, proto.parse_reply, raw)
        self.assertEqual(err.ecode, "unknown_entity")
        self.assertEqual(str(err), "Node 'x' not known")
        raw = proto.encode_reply(False, ["JobQueueDrainError", ["Queue drained"]])[:-1]
        self.assertRaises(errors.JobQueueDrainError, proto.parse_reply, raw)
        raw = proto.encode_reply(False, ["SomethingElse", ["boom"]])[:-1]
        self.assertIn("boom", str(self.assertRaises(errors.GanetiError, proto.parse_reply, raw)))


class ServerProtocolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.waiting: defer.Deferred[str] = defer.Deferred()
        self.cancelled = False

        def on_cancel(d: defer.Deferred[str]) -> None:
            self.cancelled = True

        self.waiting = defer.Deferred(on_cancel)
        handlers = {
            "Echo": lambda x: x,
            "Fail": self._fail,
            "Crash": lambda: 1 / 0,
            "Wait": lambda: self.waiting,
            "Coro": self._coro,
        }
        self.proto = LuxiServerFactory(handlers).buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    @staticmethod
    def _fail() -> None:
        raise errors.OpPrereqError("nope", errors.ECODE_STATE)

    @staticmethod
    async def _coro(x: int) -> int:
        return x + 1

    def replies(self) -> list[dict]:
        data = self.transport.value()
        self.transport.clear()
        return [json.loads(m) for m in data.split(proto.ETX) if m]

    def send(self, method: str, *args) -> None:
        self.proto.dataReceived(proto.encode_request(method, list(args)))

    def test_calls(self) -> None:
        self.send("Echo", {"a": [1]})
        self.send("Coro", 41)
        self.send("Fail")
        [r1, r2, r3] = self.replies()
        self.assertEqual(r1["result"], {"a": [1]})
        self.assertTrue(r1["success"])
        self.assertEqual(r2["result"], 42)
        self.assertEqual(
            r3,
            {
                "success": False,
                "result": ["OpPrereqError", ["nope", "wrong_state"]],
                "version": proto.LUXI_VERSION,
            },
        )

    def test_unknown_method_wrong_arity_and_crash_keep_serving(self) -> None:
        self.send("Nope")
        self.send("Echo")
        self.send("Crash")
        self.send("Echo", 1)
        replies = self.replies()
        self.assertEqual([r["success"] for r in replies], [False, False, False, True])
        self.assertIn("unknown LUXI method", replies[0]["result"][1][0])
        self.assertIn("Echo takes 1 arguments", replies[1]["result"][1][0])
        self.assertIn("ZeroDivisionError", replies[2]["result"][1][0])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_garbage_gets_error_reply(self) -> None:
        self.proto.dataReceived(b"this is not json\x03")
        [reply] = self.replies()
        self.assertFalse(reply["success"])
        self.assertEqual(reply["result"][0], "LuxiError")
        self.assertFalse(self.transport.disconnecting)

    def test_in_order_one_at_a_time(self) -> None:
        self.send("Wait")
        self.send("Echo", 2)
        self.assertEqual(self.replies(), [])
        self.waiting.callback("done")
        self.assertEqual([r["result"] for r in self.replies()], ["done", 2])

    def test_oversized_disconnects(self) -> None:
        self.proto._framer = proto.Framer(max_size=100)
        self.proto.dataReceived(b"x" * 200)
        [reply] = self.replies()
        self.assertFalse(reply["success"])
        self.assertTrue(self.transport.disconnecting)

    def test_connection_lost_cancels_call(self) -> None:
        self.send("Wait")
        self.proto.connectionLost()
        self.assertTrue(self.cancelled)
