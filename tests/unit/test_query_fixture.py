"""A small sample cluster for the query engine tests (and a check that it is valid).

Three nodes in two groups (node10 offline), three instances (DRBD, plain, diskless)
with NICs, one network connected to one group, tags on every kind of object.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti.objects import NIC, Cluster, ConfigData, Disk, Instance, Network, Node, NodeGroup
from ganeti.query import QueryContext

G1, G2 = "g-0001", "g-0002"
N1, N2, N10 = "n-0001", "n-0002", "n-0010"
NET1 = "net-0001"
WEB1, DB1, WEB10 = "i-0001", "i-0002", "i-0010"


def _drbd(uuid: str, idx: int, size: int, port: int) -> Disk:
    def lv(suffix: str, lv_size: int) -> Disk:
        return Disk(
            uuid=f"{uuid}-{suffix}",
            dev_type=C.DT_PLAIN,
            logical_id=["xenvg", f"{uuid}.disk{idx}_{suffix}"],
            nodes=[N1, N2],
            size=lv_size,
        )

    return Disk(
        uuid=uuid,
        name=f"web1-disk{idx}",
        dev_type=C.DT_DRBD8,
        logical_id=[N1, N2, port, idx, idx, "secret"],
        children=[lv("data", size), lv("meta", C.DRBD_META_SIZE)],
        nodes=[N1, N2],
        iv_name=f"disk/{idx}",
        size=size,
        spindles=1,
    )


def build_config() -> ConfigData:
    cluster = Cluster(
        cluster_name="cluster.example.com",
        uuid="c-0001",
        master_node=N1,
        master_ip="192.0.2.1",
        enabled_hypervisors=[C.HT_KVM, C.HT_FAKE],
        enabled_disk_templates=[C.DT_DRBD8, C.DT_PLAIN, C.DT_DISKLESS],
        nicparams={C.PP_DEFAULT: {C.NIC_MODE: C.NIC_MODE_BRIDGED, C.NIC_LINK: "br0"}},
        beparams={C.PP_DEFAULT: {C.BE_VCPUS: 2}},
        volume_group_name="xenvg",
        tags={"prod", "eu"},
        ctime=1000.0,
        mtime=2000.0,
        serial_no=7,
    )
    groups = {
        G1: NodeGroup(uuid=G1, name="default", tags={"main"}, ctime=1.0, mtime=2.0),
        G2: NodeGroup(
            uuid=G2,
            name="rack2",
            alloc_policy=C.ALLOC_POLICY_LAST_RESORT,
            ndparams={C.ND_SPINDLE_COUNT: 2},
            ipolicy={C.IPOLICY_VCPU_RATIO: 2.0},
            networks={NET1: {C.NIC_MODE: C.NIC_MODE_ROUTED, C.NIC_LINK: "rt1"}},
        ),
    }
    nodes = {
        N1: Node(
            uuid=N1,
            name="node1.example.com",
            primary_ip="192.0.2.11",
            secondary_ip="198.51.100.11",
            group=G1,
            master_candidate=True,
            tags={"rack:a"},
            serial_no=3,
            ctime=10.0,
            mtime=11.0,
        ),
        N2: Node(
            uuid=N2,
            name="node2.example.com",
            primary_ip="192.0.2.12",
            group=G1,
            drained=True,
            ndparams={C.ND_SSH_PORT: 2222},
        ),
        N10: Node(
            uuid=N10,
            name="node10.example.com",
            primary_ip="192.0.2.20",
            group=G2,
            offline=True,
        ),
    }
    networks = {
        NET1: Network(
            uuid=NET1,
            name="lan1",
            network="10.1.0.0/29",
            gateway="10.1.0.1",
            mac_prefix="aa:11:22",
            reservations="00100000",
            ext_reservations="11000001",
            tags={"lab"},
        )
    }
    disks = {
        "d-web1-0": _drbd("d-web1-0", 0, 1024, 11000),
        "d-web1-1": _drbd("d-web1-1", 1, 2048, 11001),
        "d-db1-0": Disk(
            uuid="d-db1-0",
            name="db1-data",
            dev_type=C.DT_PLAIN,
            logical_id=["xenvg", "d-db1-0.disk0"],
            nodes=[N2],
            iv_name="disk/0",
            size=4096,
        ),
    }
    instances = {
        WEB1: Instance(
            uuid=WEB1,
            name="web1.example.com",
            primary_node=N1,
            os="debootstrap+default",
            hypervisor=C.HT_KVM,
            beparams={C.BE_MAXMEM: 512, C.BE_MINMEM: 256},
            hvparams={"kernel_args": "console=ttyS0"},
            osparams={"mirror": "http://deb"},
            admin_state=C.ADMINST_UP,
            nics=[
                NIC(
                    uuid="nic-w1-0",
                    name="eth0",
                    mac="aa:11:22:00:00:01",
                    ip="10.1.0.2",
                    network=NET1,
                ),
                NIC(uuid="nic-w1-1", mac="aa:00:00:00:00:02", nicparams={C.NIC_VLAN: "100"}),
            ],
            disks=["d-web1-0", "d-web1-1"],
            disks_active=True,
            network_port=5901,
            tags={"web", "prod"},
        ),
        DB1: Instance(
            uuid=DB1,
            name="db1.example.com",
            primary_node=N2,
            os="debootstrap",
            hypervisor=C.HT_FAKE,
            admin_state=C.ADMINST_DOWN,
            admin_state_source=C.USER_SOURCE,
            nics=[NIC(uuid="nic-d1-0", mac="aa:00:00:00:00:03")],
            disks=["d-db1-0"],
        ),
        WEB10: Instance(
            uuid=WEB10,
            name="web10.example.com",
            primary_node=N10,
            os="debootstrap",
            hypervisor=C.HT_FAKE,
            admin_state=C.ADMINST_UP,
            nics=[NIC(uuid="nic-w10-0", mac="aa:11:22:00:00:04", network=NET1)],
        ),
    }
    return ConfigData(
        cluster=cluster,
        nodes=nodes,
        nodegroups=groups,
        instances=instances,
        disks=disks,
        networks=networks,
    )


NODE_LIVE: dict[str, dict[str, Any]] = {
    "node1.example.com": {
        "mtotal": 16384,
        "mnode": 1024,
        "mfree": 8192,
        "dtotal": 102400,
        "dfree": 51200,
        "sptotal": 4,
        "spfree": 2,
        "ctotal": 8,
        "cnos": 1,
        "cnodes": 1,
        "csockets": 2,
        "bootid": "boot-1",
    }
}
INSTANCE_LIVE: dict[str, dict[str, Any]] = {
    "web1.example.com": {
        "node": "node1.example.com",
        "state": "running",
        "memory": 512,
        "vcpus": 2,
    },
}


def make_ctx(*, live: bool = False, **kwargs: Any) -> QueryContext:
    if live:
        kwargs.setdefault("node_live", NODE_LIVE)
        kwargs.setdefault("instance_live", INSTANCE_LIVE)
    return QueryContext(config=build_config(), **kwargs)


class FixtureTests(SynchronousTestCase):
    def test_sample_config_is_valid(self) -> None:
        self.assertEqual(build_config().verify(), [])
