"""OP_GROUP_VERIFY_DISKS from the LU down to the command lines: ``lv_list`` and
``drbd_needs_activation`` are handled by the real noded block device handlers and the real
LVM/DRBD drivers of one node root per node, whose commands reach the fake hosts of
test_drbd_integration (which now also answer the ``lvs`` listing).  The fake host is
ours: this shows the pieces fit our model of ``lvs`` and ``drbdsetup status``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet import defer

from ganeti.rpc.client import RpcResult, RpcTarget
from ganeti.storage import StorageRegistry
from ganeti.storage.command import CommandResult
from tests.unit.test_cmdlib_drbd_ops import DrbdCase
from tests.unit.test_drbd_integration import FakeHost, WiredCase, WiredSim, _ok
from tests.unit.test_storage import node_root

LIST_FIELDS = "vg_name,lv_name,lv_size,lv_attr"


class ListingHost(FakeHost):
    def c_lvs(self, argv: list[str]) -> CommandResult:
        if LIST_FIELDS not in argv:
            return super().c_lvs(argv)
        vgs = argv[argv.index(LIST_FIELDS) + 1 :]
        lines = []
        for key, size in sorted(self.lvs.items()):
            vg, lv = key.split("/", 1)
            if not vgs or vg in vgs:
                lines.append(f"  {vg}|{lv}|{size}.00|-wi-a-----")
        return _ok(argv, "\n".join(lines) + "\n")


class ListingSim(WiredSim):
    def wire(self, case: DrbdCase) -> None:
        super().wire(case)
        for name in list(self.hosts):
            host = ListingHost(name, self.hosts)
            self.hosts[name] = host
            paths = node_root(case)
            self.backends[name] = self.backends[name].__class__(paths, StorageRegistry(paths, host))

    def call(
        self,
        nodes: Sequence[RpcTarget | str],
        procedure: str,
        args: Sequence[Any],
        timeout: float | None = None,
    ) -> defer.Deferred[dict[str, RpcResult]]:
        if procedure != "lv_list":
            return super().call(nodes, procedure, args, timeout)
        names = [n if isinstance(n, str) else n.name for n in nodes]
        ds = [self.call_one(n, procedure, args, timeout) for n in names]
        d = defer.gatherResults(ds)
        return d.addCallback(lambda results: dict(zip(names, results, strict=True)))


class WiredVerifyDisksTests(WiredCase):
    sim: ListingSim

    def setUp(self) -> None:
        super().setUp()
        sim = ListingSim(self.m.clock)
        sim.setup()
        sim.nodes = self.sim.nodes
        sim.shared = self.sim.shared
        sim.wire(self)
        self.sim = sim
        self.m.rpc = sim  # type: ignore[assignment]
        self.m.processor.rpc = sim
        self.make_drbd()

    def verify(self) -> Any:
        return self.ok({"OP_ID": "OP_GROUP_VERIFY_DISKS", "group_name": "default"})

    def test_drbd_states_through_the_node_handlers(self) -> None:
        self.assertEqual(self.verify(), [{}, [], {}])
        lvs = [c for c in self.host("node3.test").calls if c[0] == "lvs" and LIST_FIELDS in c]
        self.assertEqual(lvs[-1][-1], "xenvg")
        # The secondary's device went down (node reboot): needs activation.
        port = self.disks()[0].logical_id[2]
        del self.host("node3.test").res[f"ganeti-{port}"]
        self.assertEqual(self.verify(), [{}, ["web1"], {}])
        self.ok(self.op("OP_INSTANCE_ACTIVATE_DISKS"))
        self.assertEqual(self.verify(), [{}, [], {}])
        # The primary's local disk failed (detached, Diskless): needs activation too.
        r2 = self.resource("node2.test")
        assert r2 is not None
        r2.disk, r2.data, r2.meta = "Diskless", "", ""
        self.assertEqual(self.verify(), [{}, ["web1"], {}])

    def test_missing_meta_volume(self) -> None:
        meta = self.disks()[0].children[1].logical_id[1]
        self.ok(self.op("OP_INSTANCE_SHUTDOWN"))
        del self.host("node3.test").lvs[f"xenvg/{meta}"]
        self.assertEqual(self.verify(), [{}, [], {"web1": [["node3.test", f"xenvg/{meta}"]]}])
