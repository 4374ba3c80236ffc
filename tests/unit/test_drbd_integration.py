"""DRBD instances from the logical units down to the command lines, without a kernel.

The master's LUs run on the real processor and config writer; their block device and DRBD
calls go, JSON-encoded and checked against the procedure table's argument counts, to the
real node-side handlers (``BlockdevBackend``) and the real DRBD/LVM drivers of one node
root per node.  Their commands reach a fake host per node that keeps LVs and DRBD
resources and answers ``lvs`` and ``drbdsetup status`` in the formats the drivers parse;
two hosts are "Connected" when both issued ``connect`` towards each other's names.  The
fake hosts accept only what the DRBD 9 tools accept in these scenarios (unknown
resource, existing LV, primary while the peer is primary without allow-two-primaries,
attach without meta data...).  What this cannot show: that the kernel behaves like the
fake host; resync is instantaneous after a few status calls."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs
from twisted.internet import defer

from ganeti import constants as C
from ganeti.noded.blockdev import BlockdevBackend
from ganeti.rpc import procedures
from ganeti.rpc.client import RpcResult, RpcTarget
from ganeti.rpc.server import _failure_reply, _to_deferred
from ganeti.storage import StorageRegistry
from ganeti.storage.command import CommandResult
from tests.unit.test_cmdlib_drbd_ops import DrbdCase, DrbdSim
from tests.unit.test_cmdlib_instance import FakeNode
from tests.unit.test_storage import node_root

SYNC_LOOKS = 2


def _ok(argv: Sequence[str], out: str = "") -> CommandResult:
    return CommandResult(tuple(argv), 0, out)


def _fail(argv: Sequence[str], msg: str, code: int = 10) -> CommandResult:
    return CommandResult(tuple(argv), code, "", msg + "\n")


@attrs.define
class Peer:
    node_id: int
    name: str
    connect: bool = False
    two_primaries: bool = False
    paths: int = 0


@attrs.define
class Resource:
    name: str
    node_id: int
    minor: int = -1
    role: str = "Secondary"
    disk: str = "Diskless"
    data: str = ""
    meta: str = ""
    peers: dict[int, Peer] = attrs.field(factory=dict)


class FakeHost:
    """LVM and DRBD 9 tools of one node, as far as the drivers use them."""

    def __init__(self, name: str, hosts: dict[str, FakeHost]) -> None:
        self.name = name
        self.hosts = hosts
        self.lvs: dict[str, int] = {}  # "vg/lv" -> MiB
        self.md: dict[str, str] = {}  # meta LV path -> disk state kept in the meta data
        self.res: dict[str, Resource] = {}
        self.calls: list[list[str]] = []
        self.sync_looks: dict[str, int] = {}

    def __call__(self, argv: Sequence[str]) -> defer.Deferred[CommandResult]:
        self.calls.append(list(argv))
        tool = argv[0]
        handler = getattr(self, "c_" + tool.replace("-", "_"), None)
        if handler is None:
            return defer.succeed(_fail(argv, f"{tool}: unknown command", 127))
        return defer.succeed(handler(list(argv)))

    # -- LVM --

    def c_lvs(self, argv: list[str]) -> CommandResult:
        key = argv[-1]
        if key not in self.lvs:
            return _fail(argv, f'Failed to find logical volume "{key}"', 5)
        return _ok(argv, f"  {key.split('/')[1]}|{self.lvs[key]}.00|-wi-a-----\n")

    def c_lvcreate(self, argv: list[str]) -> CommandResult:
        size = int(argv[argv.index("-L") + 1].rstrip("m"))
        key = f"{argv[-1]}/{argv[argv.index('-n') + 1]}"
        if key in self.lvs:
            return _fail(argv, f"Logical Volume {key} already exists", 5)
        self.lvs[key] = size
        return _ok(argv)

    def c_lvremove(self, argv: list[str]) -> CommandResult:
        key = argv[-1]
        if any(r.data == key or r.meta == key for r in self.res.values()):
            return _fail(argv, f"Logical volume {key} in use", 5)
        self.lvs.pop(key)
        return _ok(argv)

    def c_lvrename(self, argv: list[str]) -> CommandResult:
        vg, old, new = argv[-3:]
        if f"{vg}/{old}" not in self.lvs or f"{vg}/{new}" in self.lvs:
            return _fail(argv, f"cannot rename {old} to {new}", 5)
        self.lvs[f"{vg}/{new}"] = self.lvs.pop(f"{vg}/{old}")
        old_meta = f"/dev/{vg}/{old}"
        if old_meta in self.md:
            self.md[f"/dev/{vg}/{new}"] = self.md.pop(old_meta)
        return _ok(argv)

    def c_lvresize(self, argv: list[str]) -> CommandResult:
        key = argv[-1]
        if key not in self.lvs:
            return _fail(argv, "not found", 5)
        if "--test" not in argv:
            self.lvs[key] += int(argv[argv.index("-L") + 1].lstrip("+").rstrip("m"))
        return _ok(argv)

    def c_lvchange(self, argv: list[str]) -> CommandResult:
        return _ok(argv) if argv[-1] in self.lvs else _fail(argv, "not found", 5)

    # -- DRBD --

    def _lv_of(self, path: str) -> str:
        return path.removeprefix("/dev/")

    def c_drbdmeta(self, argv: list[str]) -> CommandResult:
        meta = argv[3]
        if self._lv_of(meta) not in self.lvs:
            return _fail(argv, f"{meta}: No such file or directory", 20)
        if argv[5] == "create-md":
            self.md[meta] = "Inconsistent"
        elif argv[5] == "apply-al" and meta not in self.md:
            return _fail(argv, "no valid meta data found", 255)
        return _ok(argv)

    def _res(self, argv: list[str], name: str) -> Resource | CommandResult:
        res = self.res.get(name)
        if res is None:
            return _fail(argv, f"{name}: No such resource")
        return res

    def _by_minor(self, argv: list[str], minor: str) -> Resource | CommandResult:
        for res in self.res.values():
            if res.minor == int(minor):
                return res
        return _fail(argv, f"minor {minor}: No such device", 11)

    def connected(self, res: Resource, peer: Peer) -> bool:
        other = self.hosts.get(peer.name)
        if other is None or not peer.connect:
            return False
        theirs = other.res.get(res.name)
        if theirs is None:
            return False
        back = theirs.peers.get(res.node_id)
        return back is not None and back.name == self.name and back.connect

    def c_drbdsetup(self, argv: list[str]) -> CommandResult:
        cmd = argv[1]
        if cmd == "new-resource":
            if argv[2] in self.res:
                return _fail(argv, "resource exists", 10)
            self.res[argv[2]] = Resource(argv[2], int(argv[3]))
            return _ok(argv)
        if cmd in ("attach", "detach", "resize", "check-resize"):
            found = self._by_minor(argv, argv[2])
        else:
            found = self._res(argv, argv[2])
        if isinstance(found, CommandResult):
            return found
        res = found
        handler = getattr(self, "d_" + cmd.replace("-", "_"))
        result: CommandResult = handler(argv, res)
        return result

    def d_status(self, argv: list[str], res: Resource) -> CommandResult:
        lines = [f"{res.name} node-id:{res.node_id} role:{res.role} suspended:no"]
        lines.append(f"  volume:0 minor:{res.minor} disk:{res.disk} quorum:yes")
        for peer in res.peers.values():
            other = self.hosts.get(peer.name)
            theirs = other.res.get(res.name) if other else None
            if self.connected(res, peer) and theirs is not None:
                repl = "Established"
                pair = {res.disk, theirs.disk}
                if pair == {"UpToDate", "Inconsistent"}:
                    looks = self.sync_looks.get(res.name, 0) + 1
                    self.sync_looks[res.name] = looks
                    if looks >= SYNC_LOOKS:
                        for r in (res, theirs):
                            r.disk = "UpToDate"
                        for host, r in ((self, res), (other, theirs)):
                            assert host is not None
                            host.md[r.meta] = "UpToDate"
                        self.sync_looks[res.name] = 0
                    else:
                        repl = "SyncSource" if res.disk == "UpToDate" else "SyncTarget"
                done = " done:50.00" if repl.startswith("Sync") else ""
                lines.append(
                    f"  {peer.name} node-id:{peer.node_id} connection:Connected "
                    f"role:{theirs.role} congested:no"
                )
                lines.append(
                    f"    volume:0 replication:{repl} peer-disk:{theirs.disk}{done} "
                    "resync-suspended:no"
                )
            else:
                state = "Connecting" if peer.connect else "StandAlone"
                lines.append(
                    f"  {peer.name} node-id:{peer.node_id} connection:{state} role:Unknown"
                )
        return _ok(argv, "\n".join(lines) + "\n")

    def d_new_minor(self, argv: list[str], res: Resource) -> CommandResult:
        res.minor = int(argv[3])
        return _ok(argv)

    def d_new_peer(self, argv: list[str], res: Resource) -> CommandResult:
        pid = int(argv[3])
        if pid in res.peers:
            return _fail(argv, "peer exists", 10)
        name = next(a.split("=", 1)[1] for a in argv if a.startswith("--_name="))
        res.peers[pid] = Peer(pid, name)
        return _ok(argv)

    def d_new_path(self, argv: list[str], res: Resource) -> CommandResult:
        res.peers[int(argv[3])].paths += 1
        return _ok(argv)

    def d_peer_device_options(self, argv: list[str], res: Resource) -> CommandResult:
        return _ok(argv) if int(argv[3]) in res.peers else _fail(argv, "no peer")

    def d_del_peer(self, argv: list[str], res: Resource) -> CommandResult:
        peer = res.peers.get(int(argv[3]))
        if peer is None or peer.connect:
            return _fail(argv, "peer unknown or still connected")
        del res.peers[int(argv[3])]
        return _ok(argv)

    def d_attach(self, argv: list[str], res: Resource) -> CommandResult:
        data, meta = argv[3], argv[4]
        if self._lv_of(data) not in self.lvs or meta not in self.md:
            return _fail(argv, "attach: Failure: (119) No valid meta-data signature found")
        if res.disk != "Diskless":
            return _fail(argv, "already attached")
        res.data, res.meta = self._lv_of(data), meta
        res.disk = self.md[meta]
        return _ok(argv)

    def d_detach(self, argv: list[str], res: Resource) -> CommandResult:
        res.disk, res.data, res.meta = "Diskless", "", ""
        return _ok(argv)

    def d_connect(self, argv: list[str], res: Resource) -> CommandResult:
        peer = res.peers[int(argv[3])]
        if peer.connect:
            return _fail(argv, "already connecting")
        peer.connect = True
        return _ok(argv)

    def d_disconnect(self, argv: list[str], res: Resource) -> CommandResult:
        res.peers[int(argv[3])].connect = False
        return _ok(argv)

    def d_net_options(self, argv: list[str], res: Resource) -> CommandResult:
        res.peers[int(argv[3])].two_primaries = "--allow-two-primaries=yes" in argv
        return _ok(argv)

    def d_primary(self, argv: list[str], res: Resource) -> CommandResult:
        if "--force" in argv:
            res.disk = "UpToDate"
            self.md[res.meta] = "UpToDate"
        elif res.disk != "UpToDate":
            return _fail(argv, "State change failed: (-2) Need access to UpToDate data", 11)
        for peer in res.peers.values():
            if not self.connected(res, peer):
                continue
            other = self.hosts[peer.name]
            theirs = other.res[res.name]
            allowed = peer.two_primaries and theirs.peers[res.node_id].two_primaries
            if theirs.role == "Primary" and not allowed:
                return _fail(argv, "State change failed: (-1) Multiple primaries not allowed", 11)
        res.role = "Primary"
        return _ok(argv)

    def d_secondary(self, argv: list[str], res: Resource) -> CommandResult:
        res.role = "Secondary"
        return _ok(argv)

    def d_down(self, argv: list[str], res: Resource) -> CommandResult:
        del self.res[res.name]
        return _ok(argv)

    def d_resize(self, argv: list[str], res: Resource) -> CommandResult:
        if not any(self.connected(res, p) for p in res.peers.values()):
            return _fail(argv, "resize needs a connected peer", 11)
        return _ok(argv)

    def d_check_resize(self, argv: list[str], res: Resource) -> CommandResult:
        return _ok(argv)


class WiredSim(DrbdSim):
    """Block device and DRBD procedures go to the real node handlers over fake hosts."""

    backends: dict[str, BlockdevBackend]
    hosts: dict[str, FakeHost]

    def wire(self, case: DrbdCase) -> None:
        self.hosts = {}
        self.backends = {}
        for name in ("node1.test", "node2.test", "node3.test"):
            host = FakeHost(name, self.hosts)
            self.hosts[name] = host
            paths = node_root(case)
            self.backends[name] = BlockdevBackend(paths, StorageRegistry(paths, host))

    def call_one(
        self, node: RpcTarget | str, procedure: str, args: Sequence[Any], timeout: Any = None
    ) -> defer.Deferred[RpcResult]:
        name = node if isinstance(node, str) else node.name
        handler = self.backends[name].handlers().get(procedure)
        if handler is None or procedure.startswith("file_storage"):
            return super().call_one(node, procedure, args, timeout)
        self.calls.append((name, procedure))
        self.args.append((name, procedure, list(args)))
        expected = procedures.PROCEDURES[procedure].args
        assert len(args) == len(expected), (procedure, args)
        wire_args = json.loads(json.dumps(list(args)))
        d: defer.Deferred[Any] = defer.maybeDeferred(handler, *wire_args)
        d.addCallback(_to_deferred)
        d.addCallbacks(lambda p: [True, p], lambda f: _failure_reply(procedure, f))
        return d.addCallback(
            lambda reply: (
                RpcResult(name, reply[1]) if reply[0] else RpcResult(name, fail_msg=reply[1])
            )
        )

    def p_instance_os_add(self, node: FakeNode, inst: Any, reinstall: bool, debug: int) -> None:
        host = self.hosts[node.name]
        for disk in inst["disks_info"]:
            res = host.res.get(f"ganeti-{disk['logical_id'][2]}")
            if res is None or res.role != "Primary":
                raise ValueError("disk not assembled as primary")


class WiredCase(DrbdCase):
    sim: WiredSim

    def setUp(self) -> None:
        super().setUp()
        sim = WiredSim(self.m.clock)
        sim.setup()
        sim.nodes = self.sim.nodes
        sim.shared = self.sim.shared
        sim.wire(self)
        self.sim = sim
        self.m.rpc = sim  # type: ignore[assignment]
        self.m.processor.rpc = sim

    def host(self, name: str) -> FakeHost:
        return self.sim.hosts[name]

    def resource(self, node: str, name: str = "web1") -> Resource | None:
        port = self.disks(name)[0].logical_id[2]
        return self.host(node).res.get(f"ganeti-{port}")

    def drbd_calls(self, node: str, *subcommands: str) -> list[list[str]]:
        return [
            c
            for c in self.host(node).calls
            if c[0] == "drbdsetup" and (not subcommands or c[1] in subcommands)
        ]


class WiredTests(WiredCase):
    def test_create_then_stop_start(self) -> None:
        self.make_drbd()
        r2, r3 = self.resource("node2.test"), self.resource("node3.test")
        assert r2 is not None and r3 is not None
        self.assertEqual(
            (r2.role, r2.disk, r3.role, r3.disk), ("Primary", "UpToDate", "Secondary", "UpToDate")
        )
        self.assertTrue(self.host("node2.test").connected(r2, r2.peers[1]))
        self.assertEqual(r3.peers[0].name, "node2.test")
        [disk] = self.disks()
        lvs = {f"xenvg/{c.logical_id[1]}" for c in disk.children}
        self.assertEqual(set(self.host("node3.test").lvs), lvs)
        self.assertIn(["drbdsetup", "primary", r2.name, "--force"], self.host("node2.test").calls)
        self.assertIn("- disks resyncing: 50.0% done", self.m.log)
        self.ok(self.op("OP_INSTANCE_SHUTDOWN"))
        self.assertEqual(self.host("node2.test").res, {})
        self.ok(self.op("OP_INSTANCE_STARTUP"))
        r2 = self.resource("node2.test")
        assert r2 is not None
        self.assertEqual(r2.role, "Primary")
        self.ok(self.op("OP_INSTANCE_REMOVE"))
        self.assertEqual((self.host("node2.test").lvs, self.host("node3.test").lvs), ({}, {}))

    def test_migrate_and_failover(self) -> None:
        self.make_drbd()
        self.ok(self.migrate())
        self.assertEqual(self.pnode(), "node3.test")
        r2, r3 = self.resource("node2.test"), self.resource("node3.test")
        assert r2 is not None and r3 is not None
        self.assertEqual((r2.role, r3.role), ("Secondary", "Primary"))
        self.assertFalse(r2.peers[1].two_primaries or r3.peers[0].two_primaries)
        options = [c[-1] for c in self.drbd_calls("node3.test", "net-options")]
        self.assertEqual(options, ["--allow-two-primaries=yes", "--allow-two-primaries=no"])
        self.ok(self.failover())
        self.assertEqual(self.pnode(), "node2.test")
        r2 = self.resource("node2.test")
        assert r2 is not None
        self.assertEqual((r2.role, r2.disk), ("Primary", "UpToDate"))

    def test_migration_abort(self) -> None:
        self.make_drbd()
        self.node3.fail["accept_instance"] = "no"
        self.bad(self.migrate())
        r2, r3 = self.resource("node2.test"), self.resource("node3.test")
        assert r2 is not None and r3 is not None
        self.assertEqual((r2.role, r3.role), ("Primary", "Secondary"))
        self.assertFalse(r3.peers[0].two_primaries)
        self.assertTrue(self.host("node3.test").connected(r3, r3.peers[0]))

    def test_grow(self) -> None:
        self.make_drbd()
        self.ok(self.op("OP_INSTANCE_GROW_DISK", disk=0, amount=256))
        data = f"xenvg/{self.disks()[0].children[0].logical_id[1]}"
        self.assertEqual(self.host("node2.test").lvs[data], 1280)
        self.assertEqual(self.host("node3.test").lvs[data], 1280)
        self.assertEqual(len(self.drbd_calls("node2.test", "resize")), 1)

    def test_replace_on_secondary(self) -> None:
        self.make_drbd()
        [disk] = self.disks()
        before = set(self.host("node3.test").lvs)
        self.host("node3.test").calls.clear()
        self.ok(self.op("OP_INSTANCE_REPLACE_DISKS", mode=C.REPLACE_DISK_SEC))
        host = self.host("node3.test")
        self.assertEqual(set(host.lvs), before)
        kinds = [c[0] if c[0] != "drbdsetup" else f"drbdsetup {c[1]}" for c in host.calls]
        kinds = [k for k in kinds if k not in ("lvs", "drbdsetup status")]
        self.assertEqual(
            kinds,
            [
                "lvcreate",
                "lvcreate",
                "drbdsetup detach",
                "lvrename",
                "lvrename",
                "lvrename",
                "lvrename",
                "drbdmeta",
                "drbdmeta",
                "drbdsetup attach",
                "lvremove",
                "lvremove",
            ],
        )
        r3 = self.resource("node3.test")
        assert r3 is not None
        self.assertEqual(
            (r3.disk, r3.meta), ("UpToDate", f"/dev/xenvg/{disk.children[1].logical_id[1]}")
        )

    def test_replace_on_primary_while_running(self) -> None:
        self.make_drbd()
        self.ok(self.op("OP_INSTANCE_REPLACE_DISKS", mode=C.REPLACE_DISK_PRI))
        r2 = self.resource("node2.test")
        assert r2 is not None
        self.assertEqual((r2.role, r2.disk), ("Primary", "UpToDate"))
        self.assertIn("web1", self.node2.running)

    def test_change_secondary(self) -> None:
        self.make_drbd()
        self.ok(
            self.op("OP_INSTANCE_REPLACE_DISKS", mode=C.REPLACE_DISK_CHG, remote_node="node1.test")
        )
        r1, r2 = self.resource("node1.test"), self.resource("node2.test")
        assert r1 is not None and r2 is not None
        self.assertEqual(r2.peers[1].name, "node1.test")
        self.assertTrue(self.host("node2.test").connected(r2, r2.peers[1]))
        self.assertEqual((r1.disk, r1.role), ("UpToDate", "Secondary"))
        self.assertEqual(self.host("node3.test").res, {})
        self.assertEqual(self.host("node3.test").lvs, {})
        self.assertEqual(len(self.drbd_calls("node2.test", "del-peer")), 1)
        # The new pair works: fail over to node1 and back.
        self.ok(self.failover())
        self.assertEqual(self.pnode(), "node1.test")
        self.ok(self.migrate())
        self.assertEqual(self.pnode(), "node2.test")

    def test_auto_repairs_detached_secondary(self) -> None:
        self.make_drbd()
        r3 = self.resource("node3.test")
        assert r3 is not None
        r3.disk, r3.data, r3.meta = "Diskless", "", ""  # the local disk failed
        self.ok(self.op("OP_INSTANCE_REPLACE_DISKS", mode=C.REPLACE_DISK_AUTO))
        r3 = self.resource("node3.test")
        assert r3 is not None
        self.assertEqual(r3.disk, "UpToDate")
        self.assertIn("Replacing disk/0 of web1 on node3.test", self.m.log)
