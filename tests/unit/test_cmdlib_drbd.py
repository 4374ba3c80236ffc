"""Master side of drbd disks: per-node annotation of the disk dicts sent to noded."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ganeti.cmdlib.instance_common import disk_dict
from ganeti.storage import drbd
from ganeti.storage.interface import BlockDevice
from tests.unit.cmdlib_harness import Master


class DiskDictTests(SynchronousTestCase):
    def test_each_node_gets_its_side(self) -> None:
        m = Master(self)
        n1 = m.config.lookup_node("node1.test")
        n2 = m.add_node("node2.test", "192.0.2.12")
        inst = m.add_drbd_instance("web.test", n1, n2)
        [disk] = m.config.get_instance_disks(inst.uuid)
        for node, peer, node_id in ((n1, n2, 0), (n2, n1, 1)):
            data = disk_dict(m.config, disk, node.uuid)
            self.assertEqual(data["params"][drbd.P_LOCAL_NODE], node.uuid)
            self.assertEqual(data["params"][drbd.P_REMOTE_NAME], peer.name)
            self.assertEqual(data["params"]["resync-rate"], 61440)  # filled disk params
            side = drbd.side_of(BlockDevice.from_dict(data))
            self.assertEqual((side.node_id, side.local_ip), (node_id, node.secondary_ip))
            self.assertEqual(side.remote_ip, peer.secondary_ip)
        # Without a node (config-only uses) nothing is annotated.
        self.assertNotIn(drbd.P_LOCAL_NODE, disk_dict(m.config, disk)["params"])
        self.assertEqual(m.config.drbd_minors()[n1.uuid], {0: disk.uuid})
