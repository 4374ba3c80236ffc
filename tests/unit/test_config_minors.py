"""Per-node DRBD minor allocation and DRBD port release in the config writer."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants, errors
from ganeti.objects import Disk, Instance
from tests.unit.cmdlib_harness import Master


class MinorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self)
        self.n2 = self.m.add_node("node2.test", "192.0.2.12")
        self.n3 = self.m.add_node("node3.test", "192.0.2.13")
        self.n1 = self.m.config.lookup_node("node1.test")
        self.w = self.m.config

    def add(self, name: str, p: str, s: str, p_minor: int, s_minor: int) -> Instance:
        port = self.w.allocate_drbd_port()
        data = Disk(dev_type=constants.DT_PLAIN, logical_id=["xenvg", f"{name}.d"], size=64)
        meta = Disk(dev_type=constants.DT_PLAIN, logical_id=["xenvg", f"{name}.m"], size=128)
        disk = Disk(
            dev_type=constants.DT_DRBD8,
            logical_id=[p, s, port, p_minor, s_minor, "secret"],
            children=[data, meta],
            nodes=[p, s],
            iv_name="disk/0",
            size=64,
        )
        inst = Instance(name=name, primary_node=p, os="debootstrap", hypervisor=constants.HT_KVM)
        self.w.add_instance(inst, [disk])
        return inst

    def test_lowest_free_per_node(self) -> None:
        n1, n2, n3 = self.n1.uuid, self.n2.uuid, self.n3.uuid
        self.assertEqual(self.w.allocate_drbd_minors([n1, n2], "job-1"), [0, 0])
        # Reserved minors are not handed out again, even to another owner.
        self.assertEqual(self.w.allocate_drbd_minors([n1, n3], "job-2"), [1, 0])
        # The same node twice (two disks in one request) gets two minors.
        self.assertEqual(self.w.allocate_drbd_minors([n2, n2], "job-2"), [1, 2])
        self.w.release_drbd_minors("job-1")
        self.assertEqual(self.w.allocate_drbd_minors([n1, n2], "job-3"), [0, 0])
        self.assertEqual(self.w.drbd_minors()[n2], {0: "job-3", 1: "job-2", 2: "job-2"})

    def test_config_disks_hold_minors_until_removed(self) -> None:
        n1, n2 = self.n1.uuid, self.n2.uuid
        self.assertEqual(self.w.allocate_drbd_minors([n1, n2], "job"), [0, 0])
        a = self.add("a.test", n1, n2, 0, 0)
        self.w.release_drbd_minors("job")
        b = self.add("b.test", n2, n1, 2, 1)  # gaps are fine; minor 1 on n2 is free
        self.assertEqual(self.w.allocate_drbd_minors([n1, n2, n2], "x"), [2, 1, 3])
        self.w.release_drbd_minors("x")
        used = self.w.drbd_minors()
        self.assertEqual(sorted(used[n1]), [0, 1])
        self.assertEqual(sorted(used[n2]), [0, 2])
        port_a = self.w.get_instance_disks(a.uuid)[0].logical_id
        assert port_a is not None
        self.w.remove_instance(a.uuid)
        self.assertEqual(self.w.allocate_drbd_minors([n1, n2], "y"), [0, 0])
        # Its port went back to the pool and is handed out next.
        self.assertEqual(self.w.get_cluster().tcpudp_port_pool, [port_a[2]])
        self.assertEqual(self.w.allocate_drbd_port(), port_a[2])
        disk_b = self.w.get_instance_disks(b.uuid)[0]
        self.w.remove_instance_disk(b.uuid, disk_b.uuid)
        assert disk_b.logical_id is not None
        self.assertEqual(self.w.get_cluster().tcpudp_port_pool, [disk_b.logical_id[2]])
        self.assertNotIn(2, self.w.drbd_minors().get(n2, {}))

    def test_unknown_node(self) -> None:
        self.assertRaises(errors.OpPrereqError, self.w.allocate_drbd_minors, ["nope"], "j")
        self.assertEqual(self.w.drbd_minors(), {})
