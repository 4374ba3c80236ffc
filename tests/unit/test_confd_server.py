"""confd answers on the sample config, the responder's handling of bad input, the
datagram protocol, replica reloads and the service tree."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from twisted.application.service import IServiceMaker
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ganeti.confd import protocol as proto
from ganeti.confd import tap
from ganeti.confd.interfaces import IConfdSource, IResponder
from ganeti.confd.querylib import ConfdIndex, resolve_pointer
from ganeti.confd.server import ConfdProtocol, DropStats, ReplicaWatcher, Responder
from ganeti.paths import Paths
from tests.unit.test_confd_client import FakeUDPReactor
from tests.unit.test_confd_protocol import datagram, expected_hmac, request_msg

SAMPLE = Path(__file__).parent / "fixtures" / "config_sample.json"
KEY = b"0123456789abcdef0123456789abcdef01234567\n"
NOW = 1_700_000_000

N1, N2, N3, N10 = (f"00000000-0000-4000-8000-000000000{n}" for n in ("101", "102", "103", "110"))
WEB1, DB1, TEST1 = (f"00000000-0000-4000-8000-000000000{n}" for n in ("401", "402", "403"))


def sample_index() -> ConfdIndex:
    return ConfdIndex.from_bytes(SAMPLE.read_bytes(), str(SAMPLE))


def raw_sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text())
    return data


class AnswerTests(SynchronousTestCase):
    """Every request type against the sample config (cluster serial 17)."""

    def setUp(self) -> None:
        self.index = sample_index()
        self.raw = raw_sample()

    def ask(self, rtype: proto.RequestType, query: Any = None) -> proto.Reply:
        # Through the memoised path, as the server answers, and decoded back.
        msg, msg_json = self.index.encoded(proto.Request(rtype, "r", query))
        self.assertEqual(json.loads(msg_json), msg)
        inner = json.loads(msg)
        self.assertEqual(inner["protocol"], 1)
        return proto.Reply(proto.ReplyStatus(inner["status"]), inner["answer"], inner["serial"])

    def assertOk(self, reply: proto.Reply, answer: Any, serial: int = 17) -> None:
        self.assertEqual((reply.status, reply.answer, reply.serial), (0, answer, serial))

    def assertErrorString(self, reply: proto.Reply) -> None:
        self.assertEqual((reply.status, reply.serial), (1, 0))
        self.assertIsInstance(reply.answer, str)

    def test_ping(self) -> None:
        self.assertOk(self.ask(proto.RequestType.PING), 3010000, 0)

    def test_node_role_by_name(self) -> None:
        expected = {
            "node1.example.com": 0,  # master (also a candidate)
            "node2.example.com": 1,  # candidate
            "node3.example.com": 2,  # offline
            "node10.example.com": 3,  # drained
        }
        for name, role in expected.items():
            self.assertOk(self.ask(proto.RequestType.NODE_ROLE_BYNAME, name), role)
        self.assertErrorString(self.ask(proto.RequestType.NODE_ROLE_BYNAME, "nope"))
        self.assertErrorString(self.ask(proto.RequestType.NODE_ROLE_BYNAME, {"1": "x"}))

    def test_role_precedence_and_regular(self) -> None:
        raw = raw_sample()
        raw["nodes"][N2].update(master_candidate=False)
        raw["nodes"][N3].update(offline=False)
        raw["cluster"]["candidate_certs"] = {N1: "a" * 40}
        index = ConfdIndex.from_bytes(json.dumps(raw).encode())
        reply = index.answer(
            proto.Request(proto.RequestType.NODE_ROLE_BYNAME, "r", "node2.example.com")
        )
        self.assertEqual(reply.answer, proto.NodeRole.REGULAR)
        reply = index.answer(
            proto.Request(proto.RequestType.NODE_ROLE_BYNAME, "r", "node3.example.com")
        )
        self.assertEqual(reply.answer, proto.NodeRole.REGULAR)

    def test_node_pip_by_instance_ip(self) -> None:
        rtype = proto.RequestType.NODE_PIP_BY_INSTANCE_IP
        # web1's NIC 203.0.113.5 on the default link; web1 runs on node1 (192.0.2.1).
        self.assertOk(self.ask(rtype, {"1": "203.0.113.5"}), "192.0.2.1")
        self.assertOk(self.ask(rtype, {"0": "xen-br0", "1": "203.0.113.5"}), "192.0.2.1")
        unknown = self.ask(rtype, {"1": "198.51.100.1"})
        self.assertEqual((unknown.status, unknown.answer), (1, 0))
        self.assertEqual(self.ask(rtype, {"0": "other", "1": "203.0.113.5"}).answer, 0)
        self.assertOk(
            self.ask(rtype, {"2": ["203.0.113.5", "198.51.100.1"]}),
            [[0, "192.0.2.1", 17], [1, 0, 0]],
        )
        # Neither an IP nor a list: an empty list, as Ganeti answers.
        self.assertOk(self.ask(rtype, {"0": "xen-br0"}), [])
        for bad in ("203.0.113.5", {"1": 5}, {"2": "x"}, None):
            self.assertEqual(self.ask(rtype, bad).answer, proto.ErrorCode.ARGUMENT)

    def test_cluster_master(self) -> None:
        rtype = proto.RequestType.CLUSTER_MASTER
        self.assertOk(self.ask(rtype), "node1.example.com")
        self.assertOk(
            self.ask(rtype, {"3": [0, 1, 2]}), ["node1.example.com", "192.0.2.254", "192.0.2.1"]
        )
        self.assertOk(self.ask(rtype, {"3": [2]}), ["192.0.2.1"])
        for bad in ("node1", {"3": [7]}, {"3": "0"}, {}):
            reply = self.ask(rtype, bad)
            self.assertEqual((reply.status, reply.answer), (1, proto.ErrorCode.ARGUMENT))

    def test_ip_lists(self) -> None:
        self.assertOk(
            self.ask(proto.RequestType.NODE_PIP_LIST),
            ["192.0.2.10", "192.0.2.3", "192.0.2.2", "192.0.2.1"],  # by UUID, descending
        )
        self.assertOk(self.ask(proto.RequestType.MC_PIP_LIST), ["192.0.2.2", "192.0.2.1"])

    def test_instances_ips_list(self) -> None:
        rtype = proto.RequestType.INSTANCES_IPS_LIST
        self.assertOk(self.ask(rtype), ["203.0.113.5"])
        self.assertOk(self.ask(rtype, "xen-br0"), ["203.0.113.5"])
        self.assertOk(self.ask(rtype, "br0"), [])
        self.assertErrorString(self.ask(rtype, ["br0"]))

    def test_node_drbd(self) -> None:
        rtype = proto.RequestType.NODE_DRBD
        node2 = self.raw["nodes"][N2]
        self.assertOk(
            self.ask(rtype, "node2.example.com"),
            [
                [
                    "node2.example.com",
                    0,
                    "web1.example.com",
                    "disk/0",
                    "secondary",
                    "node1.example.com",
                ]
            ],
            node2["serial_no"],
        )
        self.assertOk(
            self.ask(rtype, N1),
            [
                [
                    "node1.example.com",
                    0,
                    "web1.example.com",
                    "disk/0",
                    "primary",
                    "node2.example.com",
                ]
            ],
            self.raw["nodes"][N1]["serial_no"],
        )
        self.assertOk(self.ask(rtype, "node3.example.com"), [], 1)
        self.assertErrorString(self.ask(rtype, "ghost"))

    def test_node_instances(self) -> None:
        rtype = proto.RequestType.NODE_INSTANCES
        insts = self.raw["instances"]
        reply = self.ask(rtype, "node2.example.com")
        self.assertEqual(reply.status, 0)
        primary, secondary = reply.answer
        self.assertEqual(
            sorted(i["name"] for i in primary), ["db1.example.com", "test1.example.com"]
        )
        self.assertEqual(secondary, [insts[WEB1]])
        self.assertIn(insts[DB1], primary)
        self.assertOk(self.ask(rtype, N3), [[], []], 1)
        self.assertErrorString(self.ask(rtype, None))

    def test_instance_disks(self) -> None:
        rtype = proto.RequestType.INSTANCE_DISKS
        disks = self.raw["disks"]
        expected = [disks[u] for u in self.raw["instances"][DB1]["disks"]]
        self.assertOk(self.ask(rtype, "db1.example.com"), expected, 1)
        self.assertOk(self.ask(rtype, DB1), expected, 1)
        web1 = self.raw["instances"][WEB1]
        self.assertOk(self.ask(rtype, WEB1), [disks[web1["disks"][0]]], web1["serial_no"])
        self.assertOk(self.ask(rtype, "test1.example.com"), [], 1)
        self.assertErrorString(self.ask(rtype, "ghost"))

    def test_config_query(self) -> None:
        rtype = proto.RequestType.CONFIG_QUERY
        self.assertOk(self.ask(rtype, "/cluster/cluster_name"), "cluster.example.com")
        self.assertOk(self.ask(rtype, f"/nodes/{N2}/primary_ip"), "192.0.2.2")
        self.assertOk(self.ask(rtype, "/cluster/enabled_hypervisors/1"), "fake")
        for bad in ("/cluster/nope", "cluster", "/cluster/enabled_hypervisors/9", 5):
            reply = self.ask(rtype, bad)
            self.assertEqual((reply.status, reply.answer), (1, proto.ErrorCode.ARGUMENT))

    def test_json_pointer_escapes(self) -> None:
        doc = {"a/b": {"m~n": [1, 2]}, "": 3}
        self.assertEqual(resolve_pointer(doc, "/a~1b/m~0n/1"), 2)
        self.assertEqual(resolve_pointer(doc, "/"), 3)
        self.assertIs(resolve_pointer(doc, ""), doc)
        self.assertRaises(KeyError, resolve_pointer, doc, "/a~1b/m~0n/01")

    def test_data_collectors(self) -> None:
        defaults = {
            "cpu-avg-load": {"active": True, "interval": 5000000},
            "diskstats": {"active": True, "interval": 5000000},
            "drbd": {"active": True, "interval": 5000000},
            "inst-status-xen": {"active": False, "interval": 5000000},
            "lv": {"active": True, "interval": 5000000},
            "xen-cpu-avg-load": {"active": True, "interval": 5000000},
        }
        self.assertOk(self.ask(proto.RequestType.DATA_COLLECTORS), defaults)
        raw = raw_sample()
        raw["cluster"]["data_collectors"] = {"lv": {"active": False}, "new": {"active": True}}
        index = ConfdIndex.from_bytes(json.dumps(raw).encode())
        reply = index.answer(proto.Request(proto.RequestType.DATA_COLLECTORS, "r"))
        self.assertEqual(reply.answer["lv"], {"active": False, "interval": 5000000})
        self.assertEqual(reply.answer["new"], {"active": True})
        self.assertEqual(len(reply.answer), 7)

    def test_replica_with_dangling_reference_is_still_served(self) -> None:
        raw = raw_sample()
        raw["networks"] = {}  # a group still names the network
        index = ConfdIndex.from_bytes(json.dumps(raw).encode())
        self.assertEqual(index.cluster_serial, 17)

    def test_memo_is_bounded_and_keyed_by_query(self) -> None:
        from ganeti.confd import querylib

        self.patch(querylib, "MEMO_LIMIT", 3)
        for i in range(10):
            self.index.encoded(proto.Request(proto.RequestType.NODE_ROLE_BYNAME, "r", f"n{i}"))
            self.assertLessEqual(len(self.index.memo), 3)
        a = self.index.encoded(proto.Request(proto.RequestType.CLUSTER_MASTER, "r", {"3": [0]}))
        b = self.index.encoded(proto.Request(proto.RequestType.CLUSTER_MASTER, "r", {"3": [1]}))
        self.assertNotEqual(a, b)


@implementer(IConfdSource)
class StaticSource:
    def __init__(self, key: bytes | None, index: ConfdIndex | None) -> None:
        self.key = key
        self.index = index


class ResponderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.responder = Responder(StaticSource(KEY, sample_index()), self.clock)

    def request(self, rtype: int, query: Any = None, salt: str | None = None) -> bytes:
        return datagram(KEY, request_msg(rtype, query, "my-rsalt"), salt or str(NOW))

    def test_interfaces(self) -> None:
        verifyObject(IResponder, self.responder)
        verifyObject(IConfdSource, ReplicaWatcher(Paths(self.mktemp())))

    def test_reply_is_signed_with_rsalt(self) -> None:
        data = self.responder.handle(self.request(1, "node2.example.com"))
        assert data is not None
        envelope = json.loads(data[4:])
        self.assertEqual(envelope["salt"], "my-rsalt")
        self.assertEqual(envelope["hmac"], expected_hmac(KEY, "my-rsalt", envelope["msg"]))
        self.assertEqual(
            json.loads(envelope["msg"]), {"protocol": 1, "status": 0, "answer": 1, "serial": 17}
        )
        self.assertEqual(self.responder.stats.answered, 1)

    def test_every_bad_input_is_dropped_and_counted(self) -> None:
        good = self.request(0)
        cases = {
            proto.DROP_MAGIC: b"JSON" + good[4:],
            proto.DROP_JSON: b"plj0{",
            proto.DROP_HMAC: datagram(b"wrong\n", request_msg(0), str(NOW)),
            proto.DROP_TYPE: self.request(99),
            proto.DROP_SIZE: good + b" " * 5000,
            proto.DROP_PROTOCOL: datagram(KEY, request_msg(0, protocol=0), str(NOW)),
        }
        for reason, data in cases.items():
            self.assertIsNone(self.responder.handle(data, ("192.0.2.9", 4000)))
            self.assertEqual(self.responder.stats.dropped[reason], 1, reason)
        stale = self.request(0, salt=str(NOW - 301))
        future = self.request(0, salt=str(NOW + 301))
        self.assertIsNone(self.responder.handle(stale))
        self.assertIsNone(self.responder.handle(future))
        self.assertEqual(self.responder.stats.dropped[proto.DROP_SKEW], 2)
        self.assertEqual(self.responder.stats.answered, 0)
        # The responder still answers afterwards.
        self.assertIsNotNone(self.responder.handle(good))

    def test_skew_follows_the_injected_clock(self) -> None:
        data = self.request(0)
        self.clock.advance(300)
        self.assertIsNotNone(self.responder.handle(data))
        self.clock.advance(1)
        self.assertIsNone(self.responder.handle(data))

    def test_without_config_only_ping_succeeds(self) -> None:
        responder = Responder(StaticSource(KEY, None), self.clock)
        ping = responder.handle(self.request(0))
        role = responder.handle(self.request(1, "node1.example.com"))
        assert ping is not None and role is not None
        self.assertEqual(json.loads(json.loads(ping[4:])["msg"])["status"], 0)
        self.assertEqual(
            json.loads(json.loads(role[4:])["msg"]),
            {"protocol": 1, "status": 1, "answer": 1, "serial": 0},
        )

    def test_without_key_everything_is_dropped(self) -> None:
        responder = Responder(StaticSource(None, sample_index()), self.clock)
        self.assertIsNone(responder.handle(self.request(0)))
        self.assertEqual(responder.stats.total_dropped, 1)

    def test_too_large_reply_becomes_internal_error(self) -> None:
        raw = raw_sample()
        raw["cluster"]["tags"] = [f"tag-{i:06d}" for i in range(8000)]
        responder = Responder(
            StaticSource(KEY, ConfdIndex.from_bytes(json.dumps(raw).encode())), self.clock
        )
        data = responder.handle(self.request(10, "/cluster/tags"))
        assert data is not None
        self.assertLess(len(data), proto.MAX_UDP_DATA_SIZE)
        self.assertEqual(json.loads(json.loads(data[4:])["msg"])["answer"], 1)
        self.assertEqual(responder.stats.dropped["reply-too-large"], 1)


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[tuple[bytes, Any]] = []

    def write(self, data: bytes, addr: Any) -> None:
        self.written.append((data, addr))


class ProtocolTests(SynchronousTestCase):
    def setUp(self) -> None:
        clock = Clock()
        clock.advance(NOW)
        self.responder = Responder(StaticSource(KEY, sample_index()), clock)
        self.protocol = ConfdProtocol(self.responder, self.responder.stats)
        self.transport = FakeTransport()
        self.protocol.transport = self.transport  # type: ignore[assignment]

    def test_answers_to_the_sender(self) -> None:
        data = datagram(KEY, request_msg(3, None, "x"), str(NOW))
        self.protocol.datagramReceived(data, ("::1", 5555, 0, 0))
        [(reply, addr)] = self.transport.written
        self.assertEqual(addr, ("::1", 5555, 0, 0))
        self.assertEqual(proto.decode_reply(KEY, reply)[0].answer, "node1.example.com")

    def test_garbage_sends_nothing(self) -> None:
        for data in (b"", b"\x00" * 10, b"plj0", b"plj0null", b"plj0" + b"{" * 3000):
            self.protocol.datagramReceived(data, ("127.0.0.1", 1))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.responder.stats.total_dropped, 5)

    def test_unexpected_exception_is_contained_and_logged_once(self) -> None:
        @implementer(IResponder)
        class Exploding:
            def handle(self, data: bytes, peer: Any = None) -> bytes:
                raise RuntimeError("boom")

        self.protocol.responder = Exploding()
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        for _ in range(5):
            self.protocol.datagramReceived(b"x", ("127.0.0.1", 1))
        self.assertEqual(self.responder.stats.dropped["internal-error"], 5)
        failures = [e for e in observer if "log_failure" in e]
        self.assertEqual(len(failures), 1)
        self.flushLoggedErrors(RuntimeError)


class DropStatsTests(SynchronousTestCase):
    def test_one_summary_per_interval(self) -> None:
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        stats = DropStats()
        stats.report(60)
        self.assertEqual(len(observer), 0)
        for _ in range(1000):
            stats.drop(proto.DROP_HMAC, ("192.0.2.5", 9))
        stats.drop(proto.DROP_MAGIC, ("192.0.2.6", 9), "b'GET '")
        stats.report(60)
        [event] = list(observer)
        self.assertEqual(event["count"], 1001)
        self.assertEqual(event["dropped"], {"bad-hmac": 1000, "bad-magic": 1})
        self.assertIn("192.0.2.6", event["peer"])
        stats.report(60)
        self.assertEqual(len(observer), 1)
        self.assertEqual(stats.total_dropped, 1001)


class WatcherTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths = Paths(self.mktemp())
        self.paths.data_dir.mkdir(parents=True)
        self.paths.hmac_key.write_bytes(KEY)
        shutil.copy(SAMPLE, self.paths.config_data)
        self.watcher = ReplicaWatcher(self.paths)

    def rewrite(self, mutate: Any) -> None:
        raw = raw_sample()
        mutate(raw)
        tmp = self.paths.config_data.with_suffix(".tmp")
        tmp.write_text(json.dumps(raw))
        os.replace(tmp, self.paths.config_data)

    def test_loads_then_reloads_only_on_change(self) -> None:
        self.assertTrue(self.watcher.check())
        self.assertEqual(self.watcher.key, KEY)
        assert self.watcher.index is not None
        self.assertEqual(self.watcher.index.cluster_serial, 17)
        first = self.watcher.index
        self.assertFalse(self.watcher.check())
        self.assertIs(self.watcher.index, first)

        def bump(raw: dict[str, Any]) -> None:
            raw["cluster"]["serial_no"] = 18

        self.rewrite(bump)
        self.assertTrue(self.watcher.check())
        self.assertEqual(self.watcher.index.cluster_serial, 18)
        self.assertEqual(self.watcher.reloads, 2)

    def test_corrupt_or_missing_file_keeps_previous_copy(self) -> None:
        self.watcher.check()
        index = self.watcher.index
        self.paths.config_data.write_text('{"version": 30')
        self.assertFalse(self.watcher.check())
        self.assertIs(self.watcher.index, index)
        self.paths.config_data.unlink()
        self.assertFalse(self.watcher.check())
        self.assertIs(self.watcher.index, index)
        self.flushLoggedErrors()

    def test_key_change_is_picked_up(self) -> None:
        self.watcher.check()
        self.paths.hmac_key.write_bytes(b"f" * 40 + b"\n")
        self.watcher.check()
        self.assertEqual(self.watcher.key, b"f" * 40 + b"\n")


class TapTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = self.mktemp()
        self.paths = Paths(self.root)
        self.paths.data_dir.mkdir(parents=True)
        self.paths.hmac_key.write_bytes(KEY)
        shutil.copy(SAMPLE, self.paths.config_data)

    def options(self, *argv: str) -> tap.Options:
        opts = tap.Options()
        opts.parseOptions(["--root", self.root, *argv])
        return opts

    def test_plugin_is_discoverable(self) -> None:
        names = {p.tapname for p in getPlugins(IServiceMaker)}
        self.assertIn("ganeti-confd", names)

    def test_listen_parsing(self) -> None:
        self.assertEqual(tap.parse_listen("udp:1814"), (1814, ""))
        self.assertEqual(tap.parse_listen("udp:1814:interface=\\:\\:"), (1814, "::"))
        self.assertEqual(tap.parse_listen("udp:99:interface=::1"), (99, "::1"))
        self.assertEqual(tap.parse_listen("udp:5:interface=127.0.1.1"), (5, "127.0.1.1"))
        for bad in ("tcp:1814", "udp:x", "udp:70000", "udp:1:iface=a"):
            self.assertRaises(usage.UsageError, tap.parse_listen, bad)
        self.assertEqual(self.options()["listen"], [(1814, "::")])
        opts = self.options("--listen", "udp:1:interface=127.0.1.1", "-l", "udp:2")
        self.assertEqual(opts["listen"], [(1, "127.0.1.1"), (2, "")])
        self.assertRaises(usage.UsageError, self.options, "--check-interval", "0")

    def test_service_answers_and_reloads_on_a_timer(self) -> None:
        reactor = FakeUDPReactor()
        reactor.advance(NOW)
        svc = tap.build_service(
            self.options("--listen", "udp:1814:interface=127.0.1.1", "--check-interval", "1"),
            reactor,
        )
        svc.privilegedStartService()
        svc.startService()
        self.addCleanup(svc.stopService)
        [port] = reactor.udp_ports
        self.assertEqual((port.port, port.interface), (1814, "127.0.1.1"))
        self.assertGreater(port.max_packet_size, proto.MAX_REQUEST_SIZE)

        def ask() -> proto.Reply:
            msg = request_msg(1, "node2.example.com", "s")
            port.protocol.datagramReceived(
                datagram(KEY, msg, str(int(reactor.seconds()))), ("127.0.0.1", 7)
            )
            data, _ = port.transport.written.pop()
            return proto.decode_reply(KEY, data)[0]

        self.assertEqual((ask().answer, ask().serial), (1, 17))
        raw = raw_sample()
        raw["cluster"]["serial_no"] = 20
        raw["nodes"][N2]["master_candidate"] = False
        raw["cluster"]["candidate_certs"] = {N1: "a" * 40}
        self.paths.config_data.write_text(json.dumps(raw))
        self.assertEqual(ask().serial, 17)  # not before the next check
        reactor.advance(1)
        self.assertEqual((ask().answer, ask().serial), (proto.NodeRole.REGULAR, 20))

    def test_missing_key_is_a_clear_error(self) -> None:
        self.paths.hmac_key.unlink()
        exc = self.assertRaises(SystemExit, tap.build_service, self.options(), FakeUDPReactor())
        self.assertIn("hmac.key", str(exc))
        self.flushLoggedErrors()

    def test_missing_config_still_starts(self) -> None:
        self.paths.config_data.unlink()
        svc = tap.build_service(self.options(), FakeUDPReactor())
        self.assertEqual(svc.name, "ganeti-confd")
