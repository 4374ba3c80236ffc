"""Every field of every resource over the sample cluster, and values that matter."""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti.query import RAPI_FIELDS, RESOURCES, query, query_old_style
from ganeti.query.cluster import INFO_KEYS
from ganeti.query.nodes import LIVE_FIELDS
from tests.unit.test_query_fixture import make_ctx

_NUMERIC = (int, float)


def _kind_ok(kind: str, value: Any) -> bool:
    if value is None:
        return kind in (C.QFT_TEXT, C.QFT_OTHER, C.QFT_TIMESTAMP, C.QFT_NUMBER)
    if kind == C.QFT_TEXT:
        return isinstance(value, str)
    if kind == C.QFT_BOOL:
        return isinstance(value, bool)
    if kind in (C.QFT_NUMBER, C.QFT_UNIT):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in (C.QFT_FLOAT, C.QFT_TIMESTAMP):
        return isinstance(value, _NUMERIC) and not isinstance(value, bool)
    return kind == C.QFT_OTHER


def _row(what: str, name: str, fields: list[str], *, live: bool = True) -> dict[str, Any]:
    rows = query_old_style(what, [name], fields, make_ctx(live=live))
    return dict(zip(fields, rows[0]))


class EveryFieldTests(SynchronousTestCase):
    """Each field evaluates on each item, with a status and a value matching its kind."""

    def _check_all(self, live: bool) -> int:
        checked = 0
        for what, res in RESOURCES.items():
            fields = list(res.fields)
            result = query(what, fields, None, make_ctx(live=live, locks=_NoLocks()))
            json.dumps(result)  # the wire format is JSON
            self.assertEqual([f["name"] for f in result["fields"]], fields)
            for fdef in result["fields"]:
                self.assertIn(fdef["kind"], C.QFT_ALL - {C.QFT_UNKNOWN})
                self.assertTrue(fdef["title"] and fdef["doc"], fdef)
            for row in result["data"]:
                for fdef, (status, value) in zip(result["fields"], row):
                    self.assertIn(status, C.RS_ALL - {C.RS_UNKNOWN})
                    if status == C.RS_NORMAL:
                        self.assertTrue(_kind_ok(fdef["kind"], value), (what, fdef["name"], value))
                    else:
                        self.assertIsNone(value)
                    checked += 1
        return checked

    def test_all_fields_without_live_data(self) -> None:
        self.assertGreater(self._check_all(False), 1000)

    def test_all_fields_with_live_data(self) -> None:
        self.assertGreater(self._check_all(True), 1000)

    def test_rapi_default_lists_are_known(self) -> None:
        for key, fields in RAPI_FIELDS.items():
            res = RESOURCES["job" if key.startswith("job") else key]
            for name in fields:
                self.assertIn(name, res.fields, f"{key}: {name}")

    def test_cli_default_lists_are_known(self) -> None:
        expect = {
            "node": ["name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt",
                     "sinst_cnt"],
            "instance": ["name", "os", "pnode", "status", "oper_ram"],
            "job": ["id", "status", "summary"],
            "lock": ["name", "mode", "owner", "pending"],
            "group": ["name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"],
        }  # fmt: skip
        for what, fields in expect.items():
            res = RESOURCES[what]
            for name in fields:
                self.assertIn(name, res.default_fields + tuple(res.fields))
            self.assertTrue(set(fields) <= set(res.fields))

    def test_cluster_info_keys_are_fields(self) -> None:
        for key in INFO_KEYS:
            self.assertIn(key, RESOURCES["cluster"].fields)


class _NoLocks:
    def list_locks(self) -> list[Any]:
        return []


class NodeFieldTests(SynchronousTestCase):
    def test_config_fields_of_master(self) -> None:
        fields = [
            "name", "uuid", "primary_ip", "pip", "secondary_ip", "sip", "master_candidate",
            "offline", "drained", "master_capable", "vm_capable", "powered", "master",
            "role", "group", "group.uuid", "pinst_cnt", "sinst_cnt", "pinst_list",
            "sinst_list", "tags", "serial_no", "ctime", "mtime", "custom_ndparams",
            "ndp/ssh_port", "hv_state", "disk_state",
        ]  # fmt: skip
        row = _row("node", "node1.example.com", fields)
        self.assertEqual(
            row,
            {
                "name": "node1.example.com", "uuid": "n-0001", "primary_ip": "192.0.2.11",
                "pip": "192.0.2.11", "secondary_ip": "198.51.100.11",
                "sip": "198.51.100.11", "master_candidate": True, "offline": False,
                "drained": False, "master_capable": True, "vm_capable": True,
                "powered": True, "master": True, "role": "M", "group": "default",
                "group.uuid": "g-0001", "pinst_cnt": 1, "sinst_cnt": 0,
                "pinst_list": ["web1.example.com"], "sinst_list": [],
                "tags": ["rack:a"], "serial_no": 3, "ctime": 10.0, "mtime": 11.0,
                "custom_ndparams": {}, "ndp/ssh_port": 22, "hv_state": {},
                "disk_state": {},
            },
        )  # fmt: skip

    def test_roles_and_secondaries(self) -> None:
        ctx = make_ctx()
        rows = query_old_style(
            "node", [], ["name", "role", "sinst_list", "secondary_ip", "ndparams"], ctx
        )
        self.assertEqual([r[1] for r in rows], ["M", "D", "O"])
        self.assertEqual(rows[1][2], ["web1.example.com"])
        self.assertEqual(rows[1][3], "192.0.2.12")  # single-homed: the primary IP
        self.assertEqual(rows[1][4]["ssh_port"], 2222)
        self.assertEqual(rows[2][4]["spindle_count"], 2)  # from its group

    def test_live_fields(self) -> None:
        live = [name for name, *_ in LIVE_FIELDS]
        result = query("node", live, None, make_ctx(live=True))
        node1, node2, node10 = result["data"]
        self.assertEqual([s for s, _ in node1], [C.RS_NORMAL] * len(live))
        self.assertEqual(dict(zip(live, [v for _, v in node1]))["mfree"], 8192)
        self.assertEqual({s for s, _ in node2}, {C.RS_NODATA})  # did not answer
        self.assertEqual({s for s, _ in node10}, {C.RS_OFFLINE})

    def test_live_fields_without_live_data(self) -> None:
        result = query("node", ["mtotal", "dfree"], None, make_ctx())
        self.assertEqual(
            [[s for s, _ in row] for row in result["data"]],
            [[C.RS_NODATA] * 2, [C.RS_NODATA] * 2, [C.RS_OFFLINE] * 2],
        )

    def test_non_vm_capable_node_has_no_live_data(self) -> None:
        ctx = make_ctx(live=True)
        ctx.config.nodes["n-0001"].vm_capable = False
        result = query("node", ["mtotal"], ["==", "name", "node1.example.com"], ctx)
        self.assertEqual(result["data"], [[[C.RS_UNAVAIL, None]]])


class InstanceFieldTests(SynchronousTestCase):
    def test_web1(self) -> None:
        fields = [
            "name", "os", "hypervisor", "pnode", "pnode.group", "pnode.group.uuid",
            "snodes", "snodes.group", "snodes.group.uuid", "admin_state",
            "admin_state_source", "admin_up", "disks_active", "disk_template",
            "network_port", "disk.count", "disk.sizes", "disk.spindles", "disk.names",
            "disk.uuids", "disk_usage", "disk.size/0", "disk.size/1", "sda_size",
            "sdb_size", "nic.count", "nic.macs", "nic.ips", "nic.modes", "nic.links",
            "nic.vlans", "nic.bridges", "nic.networks", "nic.networks.names", "nic.uuids",
            "nic.names", "nic.ip/0", "ip", "mac", "nic.network.name/0", "nic.vlan/1",
            "bridge", "nic_mode", "custom_beparams", "custom_hvparams", "custom_osparams",
            "custom_nicparams", "be/maxmem", "be/memory", "be/vcpus", "vcpus",
            "hv/kernel_args", "tags", "oper_state", "oper_ram", "oper_vcpus", "status",
        ]  # fmt: skip
        row = _row("instance", "web1", fields)
        self.assertEqual(
            row,
            {
                "name": "web1.example.com", "os": "debootstrap+default", "hypervisor": "kvm",
                "pnode": "node1.example.com", "pnode.group": "default",
                "pnode.group.uuid": "g-0001", "snodes": ["node2.example.com"],
                "snodes.group": ["default"], "snodes.group.uuid": ["g-0001"],
                "admin_state": "up", "admin_state_source": "admin", "admin_up": True,
                "disks_active": True, "disk_template": "drbd", "network_port": 5901,
                "disk.count": 2, "disk.sizes": [1024, 2048], "disk.spindles": [1, 1],
                "disk.names": ["web1-disk0", "web1-disk1"],
                "disk.uuids": ["d-web1-0", "d-web1-1"],
                "disk_usage": 1024 + 2048 + 2 * C.DRBD_META_SIZE,
                "disk.size/0": 1024, "disk.size/1": 2048, "sda_size": 1024,
                "sdb_size": 2048, "nic.count": 2,
                "nic.macs": ["aa:11:22:00:00:01", "aa:00:00:00:00:02"],
                "nic.ips": ["10.1.0.2", None], "nic.modes": ["bridged", "bridged"],
                "nic.links": ["br0", "br0"], "nic.vlans": ["", "100"],
                "nic.bridges": ["br0", "br0"], "nic.networks": ["net-0001", None],
                "nic.networks.names": ["lan1", None],
                "nic.uuids": ["nic-w1-0", "nic-w1-1"], "nic.names": ["eth0", None],
                "nic.ip/0": "10.1.0.2", "ip": "10.1.0.2", "mac": "aa:11:22:00:00:01",
                "nic.network.name/0": "lan1", "nic.vlan/1": "100", "bridge": "br0",
                "nic_mode": "bridged", "custom_beparams": {"maxmem": 512, "minmem": 256},
                "custom_hvparams": {"kernel_args": "console=ttyS0"},
                "custom_osparams": {"mirror": "http://deb"},
                "custom_nicparams": [{}, {"vlan": "100"}], "be/maxmem": 512,
                "be/memory": 512, "be/vcpus": 2, "vcpus": 2,
                "hv/kernel_args": "console=ttyS0", "tags": ["prod", "web"],
                "oper_state": True, "oper_ram": 512, "oper_vcpus": 2, "status": "running",
            },
        )  # fmt: skip

    def test_filled_params(self) -> None:
        row = _row("instance", "web1.example.com", ["beparams", "hvparams", "osparams"])
        self.assertEqual(row["beparams"]["maxmem"], 512)
        self.assertEqual(row["beparams"]["vcpus"], 2)  # cluster default
        self.assertEqual(row["hvparams"]["kernel_args"], "console=ttyS0")
        self.assertEqual(row["hvparams"]["root_path"], "/dev/vda1")  # built-in default
        self.assertEqual(row["osparams"], {"mirror": "http://deb"})

    def test_nic_on_network_of_group(self) -> None:
        # web10 lives in rack2, which connects lan1 in routed mode.
        row = _row("instance", "web10", ["nic.modes", "nic.links", "nic.bridges", "bridge"])
        self.assertEqual(
            row,
            {"nic.modes": ["routed"], "nic.links": ["rt1"], "nic.bridges": [None],
             "bridge": None},
        )  # fmt: skip

    def test_missing_indexes_are_unavailable(self) -> None:
        result = query(
            "instance",
            ["disk.size/0", "nic.mac/1", "network_port", "hv/kernel_args", "snodes"],
            ["==", "name", "db1.example.com"],
            make_ctx(),
        )
        self.assertEqual(
            result["data"],
            [[[0, 4096], [C.RS_UNAVAIL, None], [C.RS_UNAVAIL, None], [C.RS_UNAVAIL, None],
              [0, []]]],
        )  # fmt: skip

    def test_diskless(self) -> None:
        row = _row("instance", "web10", ["disk_template", "disk_usage", "disk.sizes"])
        self.assertEqual(row, {"disk_template": "diskless", "disk_usage": 0, "disk.sizes": []})


class GroupNetworkClusterFieldTests(SynchronousTestCase):
    def test_groups(self) -> None:
        fields = [
            "name", "uuid", "alloc_policy", "node_cnt", "node_list", "pinst_cnt",
            "pinst_list", "custom_ipolicy", "custom_ndparams", "custom_diskparams",
            "networks", "tags", "ctime", "mtime", "serial_no",
        ]  # fmt: skip
        rows = query_old_style("group", [], fields, make_ctx())
        self.assertEqual(
            rows,
            [
                ["default", "g-0001", "preferred", 2,
                 ["node1.example.com", "node2.example.com"], 2,
                 ["db1.example.com", "web1.example.com"], {}, {}, {}, [], ["main"], 1.0, 2.0,
                 1],
                ["rack2", "g-0002", "last_resort", 1, ["node10.example.com"], 1,
                 ["web10.example.com"], {"vcpu-ratio": 2.0}, {"spindle_count": 2}, {},
                 ["lan1"], [], 0.0, 0.0, 1],
            ],
        )  # fmt: skip

    def test_group_filled_params(self) -> None:
        row = _row("group", "rack2", ["ipolicy", "ndparams", "diskparams"])
        self.assertEqual(row["ipolicy"]["vcpu-ratio"], 2.0)
        self.assertIn("minmax", row["ipolicy"])
        self.assertEqual(row["ndparams"]["spindle_count"], 2)
        self.assertEqual(set(row["diskparams"]), set(C.DISK_TEMPLATES))

    def test_network(self) -> None:
        fields = [
            "name", "network", "gateway", "network6", "gateway6", "mac_prefix",
            "free_count", "reserved_count", "map", "external_reservations", "group_list",
            "group_cnt", "inst_list", "inst_cnt", "tags",
        ]  # fmt: skip
        row = _row("network", "lan1", fields)
        self.assertEqual(
            row,
            {
                "name": "lan1", "network": "10.1.0.0/29", "gateway": "10.1.0.1",
                "network6": None, "gateway6": None, "mac_prefix": "aa:11:22",
                "free_count": 4, "reserved_count": 4, "map": "XXX....X",
                "external_reservations": "10.1.0.0, 10.1.0.1, 10.1.0.7",
                "group_list": [["rack2", "routed", "rt1", ""]], "group_cnt": 1,
                "inst_list": ["web1.example.com", "web10.example.com"], "inst_cnt": 2,
                "tags": ["lab"],
            },
        )  # fmt: skip

    def test_cluster(self) -> None:
        fields = ["name", "cluster_name", "master", "master_node", "tags", "drain_flag",
                  "watcher_pause", "primary_ip_version", "default_hypervisor"]  # fmt: skip
        result = query("cluster", fields, None, make_ctx(drain_flag=True))
        self.assertEqual(
            [v for _, v in result["data"][0]],
            ["cluster.example.com", "cluster.example.com", "node1.example.com",
             "node1.example.com", ["eu", "prod"], True, None, 4, "kvm"],
        )  # fmt: skip
        nodata = query("cluster", ["drain_flag"], None, make_ctx())
        self.assertEqual(nodata["data"], [[[C.RS_NODATA, None]]])
