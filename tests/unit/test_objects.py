"""Config objects: JSON round trips, inheritance chains, derived data and validation."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants
from ganeti.objects import (
    NIC,
    Cluster,
    ConfigData,
    Disk,
    Instance,
    IPolicy,
    Network,
    Node,
    NodeGroup,
    fill_dict,
    fill_ipolicy,
)
from tests.unit.test_config_helpers import U, sample_config, sample_dict


def _canon(data: object) -> str:
    return json.dumps(data, sort_keys=True)


class RoundTripTests(SynchronousTestCase):
    def test_sample_round_trip(self) -> None:
        """The fixture reads and writes back to the identical JSON document."""
        raw = sample_dict()
        self.assertEqual(_canon(ConfigData.from_dict(raw).to_dict()), _canon(raw))

    def test_top_level_keys(self) -> None:
        keys = set(sample_config().to_dict())
        self.assertEqual(
            keys,
            {
                "version",
                "serial_no",
                "ctime",
                "mtime",
                "cluster",
                "nodes",
                "nodegroups",
                "instances",
                "disks",
                "networks",
                "filters",
            },
        )

    def test_each_object_round_trips(self) -> None:
        cfg = sample_config()
        objs = [
            cfg.cluster,
            *cfg.nodes.values(),
            *cfg.nodegroups.values(),
            *cfg.instances.values(),
            *cfg.disks.values(),
            *cfg.networks.values(),
        ]
        for obj in objs:
            again = type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))
            self.assertEqual(_canon(again.to_dict()), _canon(obj.to_dict()))

    def test_unknown_keys_preserved(self) -> None:
        raw = sample_dict()
        raw["nodes"][U(101)]["future_flag"] = [1, 2]
        raw["surprise"] = {"x": 1}
        cfg = ConfigData.from_dict(raw)
        self.assertEqual(cfg.cluster.extra, {"some_future_key": {"kept": True}})
        out = cfg.to_dict()
        self.assertEqual(out["nodes"][U(101)]["future_flag"], [1, 2])
        self.assertEqual(out["surprise"], {"x": 1})

    def test_derived_keys_dropped(self) -> None:
        """A stored disk_template (pre-2.14 files) is ignored: it is derived from disks."""
        raw = sample_dict()
        raw["instances"][U(401)]["disk_template"] = "plain"
        raw["nodegroups"][U(10)]["members"] = [U(101)]
        cfg = ConfigData.from_dict(raw)
        inst = cfg.instances[U(401)]
        self.assertEqual(inst.extra, {})
        self.assertNotIn("disk_template", inst.to_dict())
        self.assertEqual(cfg.instance_disk_template(inst), constants.DT_DRBD8)
        self.assertNotIn("members", cfg.nodegroups[U(10)].to_dict())

    def test_tags_are_sets_written_sorted(self) -> None:
        node = Node.from_dict({"uuid": "u", "name": "n", "tags": ["b", "a", "b"]})
        self.assertEqual(node.tags, {"a", "b"})
        self.assertEqual(node.to_dict()["tags"], ["a", "b"])

    def test_none_and_empty_omitted(self) -> None:
        nic = NIC(uuid="u", mac="aa:00:00:00:00:01")
        self.assertEqual(nic.to_dict(), {"uuid": "u", "mac": "aa:00:00:00:00:01"})
        # The cluster is written in full, empty containers included.
        self.assertIn("reserved_lvs", Cluster().to_dict())

    def test_nested_children(self) -> None:
        cfg = sample_config()
        disk = cfg.disks[U(301)]
        self.assertEqual(len(disk.children), 2)
        self.assertIsInstance(disk.children[0], Disk)
        child = disk.to_dict()["children"][0]
        self.assertNotIn("serial_no", child)
        self.assertEqual(child["logical_id"][1], f"{U(301)}.disk0_data")

    def test_copy_is_independent(self) -> None:
        inst = sample_config().instances[U(401)]
        other = inst.copy()
        other.nics[0].nicparams["link"] = "br9"
        other.tags.add("new")
        self.assertEqual(inst.nics[0].nicparams["link"], "br0")
        self.assertNotIn("new", inst.tags)

    def test_legacy_memory_beparam(self) -> None:
        be = Cluster().fill_be({"memory": 512})
        self.assertEqual((be["minmem"], be["maxmem"]), (512, 512))
        self.assertNotIn("memory", be)


class InheritanceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cfg = sample_config()
        self.cluster = self.cfg.cluster

    def test_fill_dict(self) -> None:
        base = {"a": 1, "b": {"c": 2}}
        out = fill_dict(base, {"a": 3}, skip_keys=["b"])
        self.assertEqual(out, {"a": 3})
        self.assertEqual(base, {"a": 1, "b": {"c": 2}})

    def test_hvparams_chain(self) -> None:
        """Built-in -> cluster -> os_hvp[os] -> instance; globals stay cluster-wide."""
        inst = self.cfg.instances[U(401)]
        filled = self.cluster.fill_instance_hv(inst)
        self.assertEqual(filled["kernel_args"], "ro quiet")  # instance wins
        self.assertEqual(filled["root_path"], "/dev/vda1")  # built-in default
        inst2 = self.cfg.instances[U(402)]  # os "debootstrap": os_hvp applies
        self.assertEqual(self.cluster.fill_instance_hv(inst2)["kernel_args"], "ro console=ttyS0")
        override = self.cluster.fill_hv("kvm", "", {"migration_port": 1, "acpi": False})
        self.assertEqual(override["migration_port"], 8102)
        self.assertFalse(override["acpi"])

    def test_beparams_chain(self) -> None:
        self.cluster.beparams["default"]["vcpus"] = 4
        filled = self.cluster.fill_instance_be(self.cfg.instances[U(402)])
        self.assertEqual(filled["vcpus"], 4)
        self.assertEqual(filled["maxmem"], 128)
        self.assertEqual(self.cluster.fill_instance_be(self.cfg.instances[U(401)])["vcpus"], 2)

    def test_osparams_chain(self) -> None:
        self.cluster.osparams["debootstrap+default"] = {"arch": "arm64"}
        filled = self.cluster.fill_os("debootstrap+default", {"dhcp": "no"})
        self.assertEqual(filled, {"dhcp": "no", "arch": "arm64"})
        self.assertEqual(self.cluster.fill_os("debootstrap"), {"dhcp": "yes"})

    def test_nicparams_chain(self) -> None:
        """Cluster default -> group's network connection -> NIC."""
        inst = self.cfg.instances[U(401)]
        plain, public = inst.nics
        self.assertEqual(self.cfg.filled_nicparams(inst, plain)["link"], "br0")
        self.assertEqual(self.cfg.filled_nicparams(inst, plain)["mode"], "bridged")
        # node1 is in the default group, which is not connected to "public".
        self.assertEqual(self.cfg.filled_nicparams(inst, public)["link"], constants.DEFAULT_BRIDGE)
        inst.primary_node = U(103)  # rack2 connects "public" with link br100
        self.assertEqual(self.cfg.filled_nicparams(inst, public)["link"], "br100")

    def test_ndparams_chain(self) -> None:
        n1, n3 = self.cfg.nodes[U(101)], self.cfg.nodes[U(103)]
        self.assertEqual(self.cfg.filled_ndparams(n1)["ssh_port"], 22)
        self.assertEqual(self.cfg.filled_ndparams(n3)["ssh_port"], 2222)  # group
        self.assertEqual(self.cfg.filled_ndparams(n3)["spindle_count"], 4)  # node
        self.assertEqual(self.cfg.filled_ndparams(n1)["ovs_name"], "switch1")

    def test_diskparams_chain(self) -> None:
        group = self.cfg.nodegroups[U(11)]
        self.cluster.diskparams["drbd"]["resync-rate"] = 1000
        group.diskparams = {"drbd": {"c-min-rate": 1}}
        filled = self.cluster.fill_disk_params("drbd", group, {"protocol": "A"})
        self.assertEqual(
            (filled["resync-rate"], filled["c-min-rate"], filled["protocol"]), (1000, 1, "A")
        )
        self.assertEqual(Cluster().fill_disk_params("rbd")["pool"], "rbd")

    def test_ipolicy_chain(self) -> None:
        """std merges key-wise, minmax is replaced whole, other keys fall back."""
        group = self.cfg.nodegroups[U(11)]
        policy = self.cluster.fill_ipolicy(group)
        self.assertEqual(policy.std["memory-size"], 512)
        self.assertEqual(policy.std["cpu-count"], 1)
        self.assertEqual(policy.vcpu_ratio, 4.0)
        minmax = [
            {
                "min": dict.fromkeys(constants.ISPECS_PARAMETERS, 1),
                "max": dict.fromkeys(constants.ISPECS_PARAMETERS, 2),
            }
        ]
        merged = fill_ipolicy(self.cluster.cluster_ipolicy(), {"minmax": minmax})
        self.assertEqual(merged["minmax"], minmax)

    def test_ipolicy_problems(self) -> None:
        good = IPolicy.from_dict(constants.IPOLICY_DEFAULTS)
        self.assertEqual(good.problems(), [])
        bad = IPolicy.from_dict(constants.IPOLICY_DEFAULTS)
        bad.minmax[0]["min"]["cpu-count"] = 16
        self.assertTrue(any("cpu-count" in p for p in bad.problems()))
        bad2 = IPolicy.from_dict(constants.IPOLICY_DEFAULTS)
        bad2.std["memory-size"] = 10**9
        self.assertIn("std is not within any min/max pair", bad2.problems())

    def test_ipolicy_spec_violations(self) -> None:
        policy = IPolicy.from_dict(constants.IPOLICY_DEFAULTS)
        self.assertEqual(policy.spec_violations({"memory-size": 1024}), [])
        self.assertEqual(len(policy.spec_violations({"memory-size": 64, "cpu-count": 99})), 2)


class DerivedTests(SynchronousTestCase):
    def test_disk_template_and_nodes(self) -> None:
        cfg = sample_config()
        web, db, test = (cfg.instances[U(n)] for n in (401, 402, 403))
        self.assertEqual(cfg.instance_disk_template(web), "drbd")
        self.assertEqual(cfg.instance_secondary_nodes(web), [U(102)])
        self.assertEqual(cfg.instance_all_nodes(web), [U(101), U(102)])
        self.assertEqual(cfg.instance_disk_template(db), "plain")
        self.assertEqual(cfg.instance_secondary_nodes(db), [])
        self.assertEqual(cfg.instance_disk_template(test), "diskless")

    def test_node_role(self) -> None:
        cfg = sample_config()
        roles = [cfg.nodes[U(n)].role for n in (102, 103, 110)]
        self.assertEqual(roles, ["C", "O", "D"])


class VerifyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cfg = sample_config()

    def assertProblem(self, fragment: str, *names: str) -> None:
        problems = self.cfg.verify()
        matching = [p for p in problems if fragment in p]
        self.assertTrue(matching, f"no problem mentioning {fragment!r} in {problems}")
        for name in names:
            self.assertTrue(any(name in p for p in matching), f"{name!r} not named: {matching}")

    def test_sample_is_valid(self) -> None:
        self.assertEqual(self.cfg.verify(), [])

    def test_node_unknown_group(self) -> None:
        self.cfg.nodes[U(102)].group = "nope"
        self.assertProblem("node group 'nope' does not exist", "node2.example.com")

    def test_instance_unknown_primary(self) -> None:
        self.cfg.instances[U(402)].primary_node = "gone"
        self.assertProblem("primary node 'gone' does not exist", "db1.example.com")

    def test_instance_missing_disk(self) -> None:
        del self.cfg.disks[U(302)]
        self.assertProblem(f"disk {U(302)} does not exist", "db1.example.com")

    def test_disk_shared_by_two_instances(self) -> None:
        self.cfg.instances[U(403)].disks = [U(302)]
        self.cfg.instances[U(403)].primary_node = U(102)
        self.assertProblem("also used by instance", "test1.example.com")

    def test_master_missing(self) -> None:
        self.cfg.cluster.master_node = "ghost"
        self.assertProblem("master node 'ghost' does not exist")

    def test_master_not_capable(self) -> None:
        master = self.cfg.nodes[U(101)]
        master.master_capable = False
        master.master_candidate = False
        self.assertProblem("is not master_capable", "node1.example.com")

    def test_role_flags(self) -> None:
        self.cfg.nodes[U(102)].offline = True
        self.assertProblem("more than one of master_candidate/drained/offline", "node2")

    def test_duplicate_names(self) -> None:
        self.cfg.instances[U(403)].name = "db1.example.com"
        self.assertProblem("instance name 'db1.example.com' used by both")
        self.cfg.nodes[U(103)].name = "node2.example.com"
        self.assertProblem("node name 'node2.example.com' used by both")

    def test_duplicate_uuid_across_sections(self) -> None:
        net = self.cfg.networks.pop(U(201))
        self.cfg.networks[U(401)] = net
        net.uuid = U(401)
        self.assertProblem(f"UUID {U(401)} used by both")

    def test_key_differs_from_uuid(self) -> None:
        self.cfg.nodes[U(102)].uuid = "other"
        self.assertProblem("differs from the object's uuid")

    def test_mac_format_and_uniqueness(self) -> None:
        self.cfg.instances[U(402)].nics[0].mac = "AA:00:00:00:00"
        self.assertProblem("invalid MAC", "db1.example.com")
        self.cfg.instances[U(402)].nics[0].mac = "aa:00:00:12:34:56"
        self.assertProblem("MAC aa:00:00:12:34:56", "db1.example.com")

    def test_ip_validation(self) -> None:
        self.cfg.nodes[U(102)].primary_ip = "192.0.2.300"
        self.assertProblem("invalid primary_ip", "node2")
        self.cfg.instances[U(402)].nics[0].ip = "not-an-ip"
        self.assertProblem("invalid IP", "db1")
        self.cfg.cluster.master_ip = "2001:db8::1"
        self.assertProblem("invalid master_ip")

    def test_duplicate_primary_ip(self) -> None:
        self.cfg.nodes[U(103)].primary_ip = "192.0.2.2"
        self.assertProblem("primary_ip 192.0.2.2 also used", "node3")

    def test_enums(self) -> None:
        self.cfg.instances[U(402)].admin_state = "sleeping"
        self.cfg.nodegroups[U(11)].alloc_policy = "sometimes"
        self.cfg.disks[U(302)].mode = "rx"
        self.cfg.instances[U(403)].hypervisor = "xen-pvm"
        self.assertProblem("invalid admin_state 'sleeping'")
        self.assertProblem("invalid alloc_policy 'sometimes'", "rack2")
        self.assertProblem("invalid mode 'rx'")
        self.assertProblem("hypervisor 'xen-pvm' is not enabled", "test1")

    def test_ipolicy_insane(self) -> None:
        self.cfg.nodegroups[U(11)].ipolicy = {"std": {"memory-size": 10**7}}
        self.assertProblem("std is not within any min/max pair", "rack2")
        self.cfg.cluster.ipolicy["vcpu-ratio"] = -1
        self.assertProblem("vcpu-ratio")

    def test_network_checks(self) -> None:
        net = self.cfg.networks[U(201)]
        net.gateway = "10.0.0.1"
        net.reservations = "01"
        self.assertProblem("is not inside", "public")
        self.assertProblem("reservations must be 16 characters")
        self.cfg.instances[U(402)].nics[0].network = "nonet"
        self.assertProblem("unknown network nonet", "db1")

    def test_drbd_checks(self) -> None:
        disk = self.cfg.disks[U(301)]
        disk.logical_id[2] = 80
        self.assertProblem("DRBD port 80 outside the allowed range")
        disk.children.pop()
        self.assertProblem("needs two children")

    def test_globals_in_instance_hvparams(self) -> None:
        self.cfg.instances[U(401)].hvparams["migration_port"] = 1
        self.assertProblem("can only be set cluster-wide", "web1")

    def test_group_and_network_objects(self) -> None:
        self.assertEqual(NodeGroup(name="g").ipolicy, {})
        self.assertEqual(Network(name="n", network="10.0.0.0/30").problems(), [])
        self.assertEqual(Instance().disks, [])
