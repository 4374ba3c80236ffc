"""confd wire format: signatures against independently computed vectors, envelopes,
clock skew and every kind of bad datagram."""

from __future__ import annotations

import hashlib
import hmac
import json

from twisted.trial.unittest import SynchronousTestCase

from ganeti.confd import protocol as proto

# A key as cluster init writes it: 40 hex characters and a newline, used verbatim.
KEY = b"a4a5f1b2c3d4e5f60718293a4b5c6d7e8f901234\n"
NOW = 1_700_000_000


def expected_hmac(key: bytes, salt: str, msg: str) -> str:
    """HMAC-SHA1 over salt + msg, computed here straight from the spec."""
    return hmac.new(key, (salt + msg).encode("utf-8"), hashlib.sha1).hexdigest()


def datagram(key: bytes, msg: str, salt: str, digest: str | None = None) -> bytes:
    """A datagram built by hand (json module), not by the code under test."""
    envelope = {"msg": msg, "salt": salt, "hmac": digest or expected_hmac(key, salt, msg)}
    return b"plj0" + json.dumps(envelope).encode()


def request_msg(rtype: object, query: object = None, rsalt: str = "r-1", protocol: int = 1) -> str:
    return json.dumps({"protocol": protocol, "type": rtype, "query": query, "rsalt": rsalt})


class ConstantsTests(SynchronousTestCase):
    def test_numeric_codes(self) -> None:
        self.assertEqual(
            [(t.name, int(t)) for t in proto.RequestType],
            [
                ("PING", 0),
                ("NODE_ROLE_BYNAME", 1),
                ("NODE_PIP_BY_INSTANCE_IP", 2),
                ("CLUSTER_MASTER", 3),
                ("NODE_PIP_LIST", 4),
                ("MC_PIP_LIST", 5),
                ("INSTANCES_IPS_LIST", 6),
                ("NODE_DRBD", 7),
                ("NODE_INSTANCES", 8),
                ("INSTANCE_DISKS", 9),
                ("CONFIG_QUERY", 10),
                ("DATA_COLLECTORS", 11),
            ],
        )
        self.assertEqual([int(s) for s in proto.ReplyStatus], [0, 1, 2])
        self.assertEqual(
            [(e.name, int(e)) for e in proto.ErrorCode],
            [("UNKNOWN_ENTRY", 0), ("INTERNAL", 1), ("ARGUMENT", 2)],
        )
        self.assertEqual(
            [(r.name, int(r)) for r in proto.NodeRole],
            [("MASTER", 0), ("CANDIDATE", 1), ("OFFLINE", 2), ("DRAINED", 3), ("REGULAR", 4)],
        )
        self.assertEqual(proto.MAX_CLOCK_SKEW, 300)
        self.assertEqual(proto.MAGIC, b"plj0")


class SigningTests(SynchronousTestCase):
    def test_known_vector(self) -> None:
        # Fixed vector: HMAC-SHA1 of "1700000000" + msg under KEY (newline included).
        msg = '{"protocol": 1, "type": 0, "query": null, "rsalt": "x"}'
        digest = expected_hmac(KEY, "1700000000", msg)
        self.assertEqual(len(digest), 40)
        self.assertEqual(digest, digest.lower())
        self.assertEqual(proto.sign(KEY, "1700000000", msg), digest)
        self.assertTrue(proto.verify(KEY, "1700000000", msg, digest))

    def test_literal_vector(self) -> None:
        # RFC 2202 test case 2 reshaped: key "Jefe", data split into salt + msg.
        self.assertEqual(
            proto.sign(b"Jefe", "what do ya want ", "for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        )

    def test_newline_of_the_key_matters(self) -> None:
        msg = "{}"
        self.assertNotEqual(proto.sign(KEY, "1", msg), expected_hmac(KEY.rstrip(b"\n"), "1", msg))

    def test_non_ascii_is_signed_as_utf8(self) -> None:
        msg = json.dumps({"q": "n\u00f6de"}, ensure_ascii=False)
        self.assertEqual(proto.sign(KEY, "5", msg), expected_hmac(KEY, "5", msg))

    def test_pack_produces_a_verifiable_envelope(self) -> None:
        data = proto.pack(KEY, '{"a": 1}', "salt-1")
        self.assertTrue(data.startswith(b"plj0"))
        envelope = json.loads(data[4:])
        self.assertEqual(envelope["msg"], '{"a": 1}')
        self.assertEqual(envelope["salt"], "salt-1")
        self.assertEqual(envelope["hmac"], expected_hmac(KEY, "salt-1", '{"a": 1}'))

    def test_pack_encoded_equals_pack(self) -> None:
        msg = '{"answer": "x\\"y", "n": 1}'
        self.assertEqual(
            json.loads(proto.pack_encoded(KEY, msg, json.dumps(msg).encode(), "s")[4:]),
            json.loads(proto.pack(KEY, msg, "s")[4:]),
        )


class RequestTests(SynchronousTestCase):
    def decode(self, data: bytes, now: float = NOW) -> proto.Request:
        return proto.decode_request(KEY, data, now)

    def assertDropped(self, data: bytes, reason: str, now: float = NOW) -> None:
        exc = self.assertRaises(proto.BadDatagram, self.decode, data, now)
        self.assertEqual(exc.reason, reason)

    def test_hand_built_request_is_accepted(self) -> None:
        data = datagram(KEY, request_msg(1, "node1", "rs"), str(NOW))
        req = self.decode(data)
        self.assertEqual(req, proto.Request(proto.RequestType.NODE_ROLE_BYNAME, "rs", "node1"))

    def test_missing_query_is_null(self) -> None:
        msg = json.dumps({"protocol": 1, "type": 0, "rsalt": "r"})
        self.assertIsNone(self.decode(datagram(KEY, msg, str(NOW))).query)

    def test_encoded_request_is_signed_with_time_salt(self) -> None:
        req = proto.Request(proto.RequestType.CLUSTER_MASTER, "abc", {"3": [0, 1]})
        data = proto.encode_request(KEY, req, NOW + 0.9)
        envelope = json.loads(data[4:])
        self.assertEqual(envelope["salt"], str(NOW))
        self.assertEqual(envelope["hmac"], expected_hmac(KEY, str(NOW), envelope["msg"]))
        self.assertEqual(
            json.loads(envelope["msg"]),
            {"protocol": 1, "type": 3, "query": {"3": [0, 1]}, "rsalt": "abc"},
        )
        self.assertEqual(self.decode(data), req)

    def test_clock_skew_window(self) -> None:
        msg = request_msg(0)
        for offset in (-300, -299, 0, 299, 300):
            self.decode(datagram(KEY, msg, str(NOW + offset)))
        self.assertDropped(datagram(KEY, msg, str(NOW - 301)), proto.DROP_SKEW)
        self.assertDropped(datagram(KEY, msg, str(NOW + 301)), proto.DROP_SKEW)
        self.assertDropped(datagram(KEY, msg, "yesterday"), proto.DROP_SKEW)
        self.assertDropped(datagram(KEY, msg, "nan"), proto.DROP_SKEW)

    def test_bad_magic(self) -> None:
        data = datagram(KEY, request_msg(0), str(NOW))
        self.assertDropped(b"plj1" + data[4:], proto.DROP_MAGIC)
        self.assertDropped(b"", proto.DROP_MAGIC)

    def test_bad_json(self) -> None:
        self.assertDropped(b"plj0{not json", proto.DROP_JSON)
        self.assertDropped(b"plj0\xff\xfe", proto.DROP_JSON)
        self.assertDropped(datagram(KEY, "{broken", str(NOW)), proto.DROP_JSON)

    def test_bad_envelope(self) -> None:
        self.assertDropped(b"plj0[1, 2]", proto.DROP_ENVELOPE)
        self.assertDropped(b'plj0{"msg": "{}", "salt": 5, "hmac": "00"}', proto.DROP_ENVELOPE)
        self.assertDropped(b'plj0{"msg": "{}"}', proto.DROP_ENVELOPE)

    def test_bad_hmac(self) -> None:
        msg = request_msg(0)
        self.assertDropped(datagram(KEY, msg, str(NOW), "0" * 40), proto.DROP_HMAC)
        self.assertDropped(datagram(b"other key\n", msg, str(NOW)), proto.DROP_HMAC)
        # The signature covers the salt: changing it breaks the signature.
        good = json.loads(datagram(KEY, msg, str(NOW))[4:])
        good["salt"] = str(NOW + 1)
        self.assertDropped(b"plj0" + json.dumps(good).encode(), proto.DROP_HMAC)

    def test_oversized(self) -> None:
        msg = request_msg(1, "n" * 5000)
        self.assertDropped(datagram(KEY, msg, str(NOW)), proto.DROP_SIZE)

    def test_unknown_type(self) -> None:
        for rtype in (12, -1, "0", 1.0, None, True):
            self.assertDropped(datagram(KEY, request_msg(rtype), str(NOW)), proto.DROP_TYPE)

    def test_protocol_version(self) -> None:
        self.assertDropped(datagram(KEY, request_msg(0, protocol=2), str(NOW)), proto.DROP_PROTOCOL)

    def test_inner_not_an_object_or_without_rsalt(self) -> None:
        self.assertDropped(datagram(KEY, "[1]", str(NOW)), proto.DROP_REQUEST)
        msg = json.dumps({"protocol": 1, "type": 0})
        self.assertDropped(datagram(KEY, msg, str(NOW)), proto.DROP_REQUEST)


class ReplyTests(SynchronousTestCase):
    def test_reply_round_trip_and_salt(self) -> None:
        reply = proto.Reply(proto.ReplyStatus.OK, ["192.0.2.1"], 17)
        data = proto.encode_reply(KEY, reply, "the-rsalt")
        envelope = json.loads(data[4:])
        self.assertEqual(envelope["salt"], "the-rsalt")
        self.assertEqual(envelope["hmac"], expected_hmac(KEY, "the-rsalt", envelope["msg"]))
        self.assertEqual(
            json.loads(envelope["msg"]),
            {"protocol": 1, "status": 0, "answer": ["192.0.2.1"], "serial": 17},
        )
        self.assertEqual(proto.decode_reply(KEY, data), (reply, "the-rsalt"))

    def test_hand_built_reply(self) -> None:
        msg = json.dumps({"protocol": 1, "status": 1, "answer": 0, "serial": 0})
        reply, salt = proto.decode_reply(KEY, datagram(KEY, msg, "s"))
        self.assertEqual((reply.status, reply.answer, salt), (proto.ReplyStatus.ERROR, 0, "s"))

    def test_bad_replies(self) -> None:
        bad_status = json.dumps({"protocol": 1, "status": "ok", "answer": 0, "serial": 0})
        for data, reason in (
            (datagram(KEY, bad_status, "s"), proto.DROP_REQUEST),
            (datagram(b"k", bad_status, "s"), proto.DROP_HMAC),
            (b"xxxx", proto.DROP_MAGIC),
            (b"plj0" + b" " * proto.MAX_UDP_DATA_SIZE, proto.DROP_SIZE),
        ):
            exc = self.assertRaises(proto.BadDatagram, proto.decode_reply, KEY, data)
            self.assertEqual(exc.reason, reason)
