"""The confd client's reply selection, timeouts and cancellation over a fake UDP
reactor, and the gnt-confd command line."""

from __future__ import annotations

import io
import json
import random
from typing import Any

from twisted.internet.defer import CancelledError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.confd import cli
from ganeti.confd import protocol as proto
from ganeti.confd.client import (
    ConfdClient,
    ConfdTimeout,
    expected_replies,
    peers_from_ssconf,
)
from ganeti.paths import Paths

KEY = b"00112233445566778899aabbccddeeff00112233\n"


class FakeDatagramTransport:
    def __init__(self) -> None:
        self.written: list[tuple[bytes, Any]] = []
        self.stopped = False

    def write(self, data: bytes, addr: Any = None) -> None:
        self.written.append((data, addr))


class FakeUDPPort:
    def __init__(self, port: int, protocol: Any, interface: str, max_packet_size: int) -> None:
        self.port = port
        self.protocol = protocol
        self.interface = interface
        self.max_packet_size = max_packet_size
        self.transport = FakeDatagramTransport()
        self.listening = True
        protocol.makeConnection(self.transport)

    def stopListening(self) -> None:
        self.listening = False
        self.protocol.doStop()

    def getHost(self) -> Any:
        return None


class FakeUDPReactor(Clock):
    """A Clock that also provides listenUDP with in-memory ports."""

    def __init__(self) -> None:
        super().__init__()
        self.udp_ports: list[FakeUDPPort] = []

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> FakeUDPPort:
        p = FakeUDPPort(port, protocol, interface, maxPacketSize)
        self.udp_ports.append(p)
        return p


PEERS = [("192.0.2.1", 1814), ("192.0.2.2", 1814), ("192.0.2.3", 1814)]


class ClientTestBase(SynchronousTestCase):
    def make(self, peers: list[tuple[str, int]] = PEERS, **kw: Any) -> ConfdClient:
        self.reactor = FakeUDPReactor()
        self.reactor.advance(1_700_000_000)
        return ConfdClient(self.reactor, KEY, peers, rng=random.Random(1), **kw)

    @property
    def port(self) -> FakeUDPPort:
        return self.reactor.udp_ports[-1]

    def sent(self) -> list[tuple[proto.Request, Any]]:
        out = []
        for data, addr in self.port.transport.written:
            req = proto.decode_request(KEY, data, self.reactor.seconds())
            out.append((req, addr))
        return out

    def answer(
        self, peer: Any, rsalt: str, answer: Any, serial: int, status: int = 0, key: bytes = KEY
    ) -> None:
        reply = proto.Reply(proto.ReplyStatus(status), answer, serial)
        self.port.protocol.datagramReceived(proto.encode_reply(key, reply, rsalt), peer)


class ExpectedRepliesTests(SynchronousTestCase):
    def test_table(self) -> None:
        self.assertEqual([expected_replies(n) for n in range(1, 10)], [1, 2, 2, 3, 3, 4, 4, 5, 5])


class ClientTests(ClientTestBase):
    def test_sends_one_signed_request_to_every_peer(self) -> None:
        client = self.make()
        d = client.query(proto.RequestType.NODE_ROLE_BYNAME, "node1")
        sent = self.sent()
        self.assertEqual(sorted(addr for _, addr in sent), PEERS)
        self.assertEqual({req.rsalt for req, _ in sent}.__len__(), 1)
        req = sent[0][0]
        self.assertEqual((req.type, req.query), (proto.RequestType.NODE_ROLE_BYNAME, "node1"))
        self.assertEqual(self.port.interface, "0.0.0.0")
        self.assertNoResult(d)

    def test_picks_highest_serial_once_enough_replies_arrived(self) -> None:
        client = self.make()
        d = client.query(proto.RequestType.CLUSTER_MASTER)
        rsalt = self.sent()[0][0].rsalt
        self.answer(PEERS[0], rsalt, "old-master", 5)
        self.assertNoResult(d)  # 3 peers: 2 replies needed
        self.answer(PEERS[1], rsalt, "new-master", 7)
        result = self.successResultOf(d)
        self.assertEqual((result.answer, result.serial), ("new-master", 7))
        self.assertTrue(result.complete)
        self.assertFalse(result.inconsistent)
        self.assertEqual((result.contacted, result.expected, len(result.replies)), (3, 2, 2))
        self.assertEqual(client.pending_count, 0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_newer_first_is_kept(self) -> None:
        client = self.make()
        d = client.query(proto.RequestType.CLUSTER_MASTER)
        rsalt = self.sent()[0][0].rsalt
        self.answer(PEERS[2], rsalt, "new", 9)
        self.answer(PEERS[0], rsalt, "old", 3)
        self.assertEqual(self.successResultOf(d).answer, "new")

    def test_same_serial_different_answer_is_inconsistent(self) -> None:
        client = self.make()
        d = client.query(proto.RequestType.CLUSTER_MASTER)
        rsalt = self.sent()[0][0].rsalt
        self.answer(PEERS[0], rsalt, "a", 4)
        self.answer(PEERS[1], rsalt, "b", 4)
        self.assertTrue(self.successResultOf(d).inconsistent)

    def test_ok_wins_over_error_at_equal_serial(self) -> None:
        client = self.make(PEERS[:2])
        d = client.query(proto.RequestType.PING)
        rsalt = self.sent()[0][0].rsalt
        self.answer(PEERS[0], rsalt, 1, 0, status=1)
        self.answer(PEERS[1], rsalt, 3010000, 0)
        result = self.successResultOf(d)
        self.assertTrue(result.ok)
        self.assertEqual(result.answer, 3010000)

    def test_duplicate_replies_from_one_peer_count_once(self) -> None:
        client = self.make()
        d = client.query(proto.RequestType.PING)
        rsalt = self.sent()[0][0].rsalt
        self.answer(PEERS[0], rsalt, 1, 0)
        self.answer(PEERS[0], rsalt, 1, 0)
        self.assertNoResult(d)

    def test_bad_replies_are_ignored(self) -> None:
        client = self.make([PEERS[0]])
        d = client.query(proto.RequestType.PING)
        rsalt = self.sent()[0][0].rsalt
        self.answer(PEERS[0], "other-salt", 1, 0)
        self.answer(PEERS[0], rsalt, 1, 0, key=b"bad key\n")
        self.port.protocol.datagramReceived(b"plj0{", PEERS[0])
        self.assertNoResult(d)
        self.assertEqual(
            client.dropped, {proto.DROP_SALT: 1, proto.DROP_HMAC: 1, proto.DROP_JSON: 1}
        )
        self.answer(PEERS[0], rsalt, 3010000, 0)
        self.assertEqual(self.successResultOf(d).answer, 3010000)

    def test_timeout_with_partial_replies(self) -> None:
        client = self.make(timeout=2.0)
        d = client.query(proto.RequestType.PING)
        rsalt = self.sent()[0][0].rsalt
        self.answer(PEERS[1], rsalt, 3010000, 0)
        self.reactor.advance(1.9)
        self.assertNoResult(d)
        self.reactor.advance(0.1)
        result = self.successResultOf(d)
        self.assertFalse(result.complete)
        self.assertEqual(len(result.replies), 1)
        # A late reply for the expired query is dropped.
        self.answer(PEERS[2], rsalt, 3010000, 0)
        self.assertEqual(client.dropped[proto.DROP_SALT], 1)

    def test_timeout_without_replies_fails(self) -> None:
        client = self.make(timeout=3.0)
        d = client.query(proto.RequestType.PING)
        self.reactor.advance(3.0)
        failure = self.failureResultOf(d, ConfdTimeout)
        self.assertIn("PING", str(failure.value))
        self.assertEqual(client.pending_count, 0)

    def test_cancel_forgets_the_query(self) -> None:
        client = self.make()
        d = client.query(proto.RequestType.PING)
        rsalt = self.sent()[0][0].rsalt
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(client.pending_count, 0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.answer(PEERS[0], rsalt, 1, 0)
        self.assertEqual(client.dropped[proto.DROP_SALT], 1)

    def test_close_cancels_and_releases_the_socket(self) -> None:
        client = self.make()
        d = client.query(proto.RequestType.PING)
        client.close()
        self.failureResultOf(d, CancelledError)
        self.assertFalse(self.port.listening)

    def test_coverage(self) -> None:
        peers = [(f"192.0.2.{i}", 1814) for i in range(1, 11)]
        client = self.make(peers)
        client.query(proto.RequestType.PING)
        self.assertEqual(len(self.sent()), 6)
        client = self.make(peers, coverage=-1)
        client.query(proto.RequestType.PING)
        self.assertEqual(len(self.sent()), 10)
        client = self.make(peers, coverage=2)
        client.query(proto.RequestType.PING)
        self.assertEqual(len(self.sent()), 2)

    def test_majority_of_six(self) -> None:
        peers = [(f"192.0.2.{i}", 1814) for i in range(1, 7)]
        client = self.make(peers)
        d = client.query(proto.RequestType.PING)
        rsalt = self.sent()[0][0].rsalt
        for i in range(3):
            self.answer(peers[i], rsalt, 1, i)
        self.assertNoResult(d)
        self.answer(peers[3], rsalt, 1, 0)
        self.assertEqual(self.successResultOf(d).serial, 2)

    def test_ipv6_peers_use_an_ipv6_socket(self) -> None:
        self.make([("::1", 1814)]).query(proto.RequestType.PING)
        self.assertEqual(self.port.interface, "::")

    def test_peer_validation(self) -> None:
        self.assertRaises(errors.GanetiError, self.make, [])
        self.assertRaises(errors.GanetiError, self.make, [("::1", 1), ("127.0.0.1", 1)])
        self.assertRaises(errors.GanetiError, self.make, [("node1.example.com", 1)])

    def test_peers_from_ssconf(self) -> None:
        paths = Paths(self.mktemp())
        self.assertEqual(peers_from_ssconf(paths), [])
        paths.data_dir.mkdir(parents=True)
        paths.ssconf("master_candidates_ips").write_text("192.0.2.1\n192.0.2.2\n")
        self.assertEqual(peers_from_ssconf(paths, 99), [("192.0.2.1", 99), ("192.0.2.2", 99)])


class CliTests(ClientTestBase):
    def run_cli(self, *argv: str) -> tuple[Any, io.StringIO, io.StringIO]:
        self.reactor = FakeUDPReactor()
        self.reactor.advance(1_700_000_000)
        root = self.mktemp()
        paths = Paths(root)
        paths.data_dir.mkdir(parents=True)
        paths.hmac_key.write_bytes(KEY)
        paths.ssconf("master_candidates_ips").write_text("192.0.2.1\n")
        args = cli.make_parser().parse_args(["--root", root, *argv])
        out, err = io.StringIO(), io.StringIO()
        return cli.run(args, self.reactor, out, err), out, err

    def test_query_prints_answer(self) -> None:
        d, out, _err = self.run_cli("query", "node-role-byname", "node1")
        [(req, peer)] = self.sent()
        self.assertEqual((req.query, peer), ("node1", ("192.0.2.1", 1814)))
        self.answer(peer, req.rsalt, 1, 3)
        self.assertEqual(self.successResultOf(d), 0)
        self.assertEqual(out.getvalue(), "candidate\n")

    def test_error_answer_exits_non_zero(self) -> None:
        d, _out, err = self.run_cli("query", "node-pip-by-instance-ip", "198.51.100.1")
        [(req, peer)] = self.sent()
        self.assertEqual(req.query, {"1": "198.51.100.1"})
        self.answer(peer, req.rsalt, 0, 0, status=1)
        self.assertEqual(self.successResultOf(d), 1)
        self.assertIn("unknown entry", err.getvalue())

    def test_timeout_exits_non_zero(self) -> None:
        d, _out, err = self.run_cli("--timeout", "1", "query", "ping")
        self.reactor.advance(1)
        self.assertEqual(self.successResultOf(d), 1)
        self.assertIn("no confd server answered", err.getvalue())

    def test_servers_override_ssconf_and_json_output(self) -> None:
        d, out, _err = self.run_cli(
            "--server",
            "[::1]:1900",
            "--server",
            "::2",
            "--json",
            "query",
            "cluster-master",
            "--fields",
            "name,mnode-pip",
        )
        sent = self.sent()
        self.assertEqual(sorted(p for _, p in sent), [("::1", 1900), ("::2", 1814)])
        req = sent[0][0]
        self.assertEqual(req.query, {"3": [0, 2]})
        for _, peer in sent:
            self.answer(peer, req.rsalt, ["n1", "192.0.2.1"], 4)
        self.assertEqual(self.successResultOf(d), 0)
        self.assertEqual(json.loads(out.getvalue())["answer"], ["n1", "192.0.2.1"])

    def test_query_building(self) -> None:
        t = proto.RequestType
        self.assertEqual(
            cli.build_query(t.NODE_PIP_BY_INSTANCE_IP, "1.1.1.1,2.2.2.2", "br0", None),
            {"2": ["1.1.1.1", "2.2.2.2"], "0": "br0"},
        )
        self.assertEqual(cli.build_query(t.INSTANCES_IPS_LIST, None, None, None), None)
        self.assertEqual(cli.build_query(t.CONFIG_QUERY, '{"a": 1}', None, None), {"a": 1})
        self.assertRaises(cli.UsageError, cli.build_query, t.NODE_DRBD, None, None, None)
        self.assertRaises(cli.UsageError, cli.parse_type, "bogus")
        self.assertEqual(cli.parse_type("7"), t.NODE_DRBD)
        self.assertEqual(cli.parse_type("NODE_ROLE_BYNAME"), t.NODE_ROLE_BYNAME)
        self.assertEqual(cli.parse_server("127.0.1.1:99", 1814), ("127.0.1.1", 99))
        self.assertEqual(cli.parse_server("fe80::1", 1814), ("fe80::1", 1814))
        self.assertRaises(cli.UsageError, cli.parse_server, "127.0.0.1:x", 1)
