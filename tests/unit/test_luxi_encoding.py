"""LUXI encoding details: orjson with a json fallback, and the framer's scanning."""

from __future__ import annotations

import json
import math

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.luxi import protocol as proto


class EncodingTests(SynchronousTestCase):
    def test_same_json_as_the_standard_encoder(self) -> None:
        msg = {"a": [1, 2.5, None, True, "x\u00e9\u2603", {"k": [[1, "v"]]}], 3: "int key"}
        data = proto.frame(msg)
        self.assertTrue(data.endswith(proto.ETX))
        self.assertEqual(json.loads(data[:-1]), json.loads(json.dumps(msg)))

    def test_fallback_for_what_orjson_refuses(self) -> None:
        big = 2**70
        raw = proto.frame({"n": big})[:-1]
        self.assertEqual(proto.loads(raw, "x"), {"n": big})
        self.assertTrue(math.isnan(proto.loads(b'{"v": NaN}', "x")["v"]))

    def test_control_characters_escaped(self) -> None:
        data = proto.frame(["a\x03b"])
        self.assertEqual(data.count(proto.ETX), 1)
        self.assertEqual(proto.loads(data[:-1], "x"), ["a\x03b"])

    def test_malformed_is_a_luxi_error(self) -> None:
        self.assertRaises(errors.LuxiError, proto.parse_reply, b"{nope")
        self.assertRaises(errors.LuxiError, proto.parse_request, b"\xff\xfe")


class FramerTests(SynchronousTestCase):
    def test_any_split_gives_the_same_messages(self) -> None:
        msgs = [proto.encode_reply(True, list(range(i * 50))) for i in range(5)]
        stream = b"".join(msgs)
        expected = [m[:-1] for m in msgs]
        for size in (1, 2, 7, 64, 1000, len(stream)):
            framer = proto.Framer()
            got: list[bytes] = []
            for i in range(0, len(stream), size):
                got.extend(framer.feed(stream[i : i + size]))
            self.assertEqual(got, expected, size)
            self.assertEqual(framer.pending, 0)

    def test_size_limit(self) -> None:
        framer = proto.Framer(max_size=10)
        self.assertEqual(framer.feed(b"12345"), [])
        self.assertRaises(proto.FramingError, framer.feed, b"678901")
        self.assertEqual(framer.pending, 0)
        self.assertEqual(framer.feed(b"ok\x03"), [b"ok"])
