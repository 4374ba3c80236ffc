"""Cluster LUs: verify (config, reachability, versions, certificates, N+1), set params,
rename, destroy."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants, errors
from ganeti.objects import NIC, Disk, Instance
from tests.unit.cmdlib_harness import Master


def verify(m: Master, **kw: Any) -> Any:
    """OP_CLUSTER_VERIFY, then the jobs it submitted, in order (as the queue would run
    them: each group job depends on the config job); ``ok`` when every job said True."""
    submitted: list[list[dict[str, Any]]] = []

    def submit(jobs: list[list[dict[str, Any]]]) -> Any:
        submitted.extend(jobs)
        return succeed([[True, 1000 + i] for i in range(len(jobs))])

    m.hooks.submit_jobs = submit
    result = m.run({"OP_ID": "OP_CLUSTER_VERIFY", **kw})
    ok = True
    log = list(m.callbacks.log)
    for job in submitted:
        for op in job:
            op.pop("depends", None)
            op.pop("priority", None)
            op.pop("reason", None)
            ok = bool(m.run(op)) and ok
            log.extend(m.callbacks.log)
    m.callbacks.log[:] = log  # m.log: every job's lines, as the CLI prints them
    return {**result, "ok": ok, "submitted": submitted}


class VerifyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self, real_now=True)
        self.m.write_certs()
        self.n2 = self.m.add_node("node2.test", "192.0.2.12", master_candidate=True)
        cluster = self.m.config.get_cluster().copy()
        for node in self.m.config.get_nodes():
            cluster.candidate_certs[node.uuid] = "AB:CD"
        self.m.config.update(cluster)
        self.m.settle()

    def errors_in_log(self) -> list[str]:
        return [line for line in self.m.log if line.startswith("  - ERROR")]

    def test_healthy(self) -> None:
        result = verify(self.m)
        self.assertTrue(result["ok"])
        self.assertEqual(result["jobs"], [[True, 1000], [True, 1001]])
        config_job, group_job = result["submitted"]
        self.assertEqual(config_job[0]["OP_ID"], "OP_CLUSTER_VERIFY_CONFIG")
        self.assertEqual(group_job[0]["OP_ID"], "OP_CLUSTER_VERIFY_GROUP")
        self.assertEqual(group_job[0]["group_name"], "default")
        self.assertEqual(self.errors_in_log(), [])
        version_calls = [c for c in self.m.rpc.calls if c[1] == "version"]
        self.assertEqual(sorted(version_calls[0][0]), ["node1.test", "node2.test"])

    def test_unreachable_node(self) -> None:
        self.m.rpc.fail["node2.test"] = "Connection refused"
        self.assertEqual(verify(self.m)["ok"], False)
        self.assertIn(
            "  - ERROR: node node2.test: while contacting node: Connection refused",
            self.m.log,
        )

    def test_offline_node_not_contacted(self) -> None:
        node = self.m.config.lookup_node("node2.test").copy()
        node.offline = True
        node.master_candidate = False
        self.m.config.update(node)
        self.assertTrue(verify(self.m)["ok"])
        self.assertNotIn("node2.test", self.m.rpc.calls[-1][0])
        self.assertTrue(any("1 offline node(s)" in line for line in self.m.log))

    def test_version_skew_and_error_codes(self) -> None:
        self.m.rpc.version["node2.test"] = 1
        self.assertFalse(verify(self.m, error_codes=True)["ok"])
        self.assertTrue(
            any(line.startswith("  - ERROR:ENODEVERSION:node:node2.test:") for line in self.m.log),
            self.m.log,
        )

    def test_ignore_errors_makes_warning(self) -> None:
        self.m.rpc.version["node2.test"] = 1
        self.assertTrue(verify(self.m, ignore_errors=["ENODEVERSION"])["ok"])
        self.assertTrue(any(line.startswith("  - WARNING: node node2.test") for line in self.m.log))

    def test_expiring_certificates(self) -> None:
        self.m.write_certs(days=20, rapi_days=3)
        result = self.m.run({"OP_ID": "OP_CLUSTER_VERIFY_CONFIG"})
        self.assertFalse(result)  # rapi.pem: 3 days is an error
        warnings = [line for line in self.m.log if "WARNING" in line and "expires" in line]
        errs = [line for line in self.m.log if "ERROR" in line and "rapi.pem" in line]
        self.assertEqual(len(warnings), 2, self.m.log)  # server.pem and client.pem
        self.assertEqual(len(errs), 1)

    def test_missing_certificate(self) -> None:
        self.m.paths.client_pem.unlink()
        self.assertFalse(self.m.run({"OP_ID": "OP_CLUSTER_VERIFY_CONFIG"}))
        self.assertTrue(any("client.pem does not exist" in line for line in self.m.log))

    def test_bad_config(self) -> None:
        # Break the live config behind the writer's back (as a buggy LU would).
        self.m.config.config.nodes[self.n2.uuid].group = "no-such-group"
        self.assertFalse(self.m.run({"OP_ID": "OP_CLUSTER_VERIFY_CONFIG"}))
        self.assertTrue(
            any("ECLUSTERCFG" in line or "does not exist" in line for line in self.errors_in_log())
        )

    def test_candidate_pool_findings(self) -> None:
        self.m.add_node("node3.test", "192.0.2.13")
        node = self.m.config.lookup_node("node2.test").copy()
        node.master_candidate = False
        self.m.config.update(node)
        self.assertFalse(self.m.run({"OP_ID": "OP_CLUSTER_VERIFY_CONFIG"}))
        self.assertIn("  - ERROR: cluster: not enough master candidates: 1, target 3", self.m.log)

    def test_simulated_errors(self) -> None:
        self.assertFalse(verify(self.m, debug_simulate_errors=True)["ok"])
        self.assertGreater(len(self.errors_in_log()), 3)

    def test_group_verify(self) -> None:
        self.m.add_group("empty")
        self.assertTrue(self.m.run({"OP_ID": "OP_CLUSTER_VERIFY_GROUP", "group_name": "default"}))
        self.assertTrue(self.m.run({"OP_ID": "OP_CLUSTER_VERIFY_GROUP", "group_name": "empty"}))
        self.m.fail(
            {"OP_ID": "OP_CLUSTER_VERIFY_GROUP", "group_name": "nosuch"}, errors.ECODE_NOENT
        )

    def test_n_plus_one(self) -> None:
        n1 = self.m.config.get_master_node()
        self.m.add_drbd_instance(
            "big",
            n1,
            self.n2,
            admin_state=constants.ADMINST_UP,
            beparams={"minmem": 2048, "maxmem": 2048},
        )
        self.m.rpc.memory_free = {"node1.test": 8192, "node2.test": 1024}
        self.assertFalse(verify(self.m)["ok"])
        n1_lines = [line for line in self.m.log if "ERROR: node node2.test: not enough" in line]
        self.assertEqual(len(n1_lines), 1, self.m.log)
        self.assertIn("node1.test", n1_lines[0])
        self.assertTrue(verify(self.m, skip_checks=["nplusone_mem"])["ok"])
        self.m.rpc.memory_free = {"node2.test": 4096}
        self.assertTrue(verify(self.m)["ok"])

    def add_shared(self, name: str, pnode: Any, mem: int) -> None:
        disk = Disk(
            dev_type=constants.DT_SHARED_FILE,
            logical_id=["loop", f"/srv/ganeti/shared-file-storage/{name}/disk0"],
            size=1024,
            iv_name="disk/0",
            nodes=[pnode.uuid],
        )
        inst = Instance(
            name=name,
            primary_node=pnode.uuid,
            os="debootstrap",
            hypervisor=constants.HT_KVM,
            admin_state=constants.ADMINST_UP,
            beparams={"minmem": mem, "maxmem": mem},
            nics=[NIC(mac=f"aa:00:00:00:01:{len(self.m.config.get_instances()):02x}")],
        )
        self.m.config.add_instance(inst, [disk])

    def test_shared_storage_n_plus_one(self) -> None:
        n1 = self.m.config.get_master_node()
        self.m.add_node("node3.test", "192.0.2.13", master_candidate=True)
        # node1 runs 3 x 1 GiB; node2 and node3 have 1.5 GiB free each: two fit, one not.
        for i in range(3):
            self.add_shared(f"s{i}", n1, 1024)
        self.m.rpc.memory_free = {"node1.test": 8192, "node2.test": 1536, "node3.test": 1536}
        self.assertFalse(verify(self.m)["ok"])
        lines = [line for line in self.m.log if "ERROR: node node1.test: not enough" in line]
        self.assertEqual(len(lines), 1, self.m.log)
        self.assertIn(
            "3 shared-storage instance(s) should it fail (1 instance(s), 1024 MiB", lines[0]
        )
        # Room for all three once node3 has 2 GiB free (1 + 2 spread over the two).
        self.m.rpc.memory_free = {"node1.test": 8192, "node2.test": 1536, "node3.test": 2048}
        self.assertTrue(verify(self.m)["ok"], self.m.log)
        # A drained node does not count as room.
        node = self.m.config.lookup_node("node3.test").copy()
        node.drained = True
        node.master_candidate = False
        self.m.config.update(node)
        del self.m.log[:]
        self.assertFalse(verify(self.m)["ok"])
        self.assertEqual(
            len([line for line in self.m.log if "ERROR: node node1.test: not enough" in line]), 1
        )
        del self.m.log[:]
        verify(self.m, skip_checks=["nplusone_mem"])
        self.assertFalse([line for line in self.m.log if "shared-storage" in line])


class SetParamsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self)
        self.applied: list[int] = []
        self.m.hooks.set_max_running_jobs = self.applied.append

    def set(self, **kw: Any) -> Any:
        return self.m.run({"OP_ID": "OP_CLUSTER_SET_PARAMS", **kw})

    def test_simple_values(self) -> None:
        self.set(
            candidate_pool_size=3,
            max_running_jobs=5,
            mac_prefix="AA:BB:CC",
            maintain_node_health=True,
            prealloc_wipe_disks=True,
            default_iallocator="hail",
            reserved_lvs=["xenvg/root"],
            file_storage_dir="/srv/files/",
        )
        cl = self.m.config.get_cluster()
        self.assertEqual(
            (cl.candidate_pool_size, cl.max_running_jobs, cl.mac_prefix),
            (3, 5, "aa:bb:cc"),
        )
        self.assertTrue(cl.maintain_node_health and cl.prealloc_wipe_disks)
        self.assertEqual(cl.default_iallocator, "hail")
        self.assertEqual(cl.reserved_lvs, ["xenvg/root"])
        self.assertEqual(cl.file_storage_dir, "/srv/files")
        self.assertEqual(self.applied, [5])
        self.assertEqual(self.m.on_disk()["cluster"]["max_running_jobs"], 5)

    def test_max_running_jobs_unchanged_no_hook(self) -> None:
        self.set(candidate_pool_size=4)
        self.assertEqual(self.applied, [])

    def test_params(self) -> None:
        self.set(
            enabled_hypervisors=["kvm", "fake"],
            hvparams={"kvm": {"acpi": "no"}},
            beparams={"memory": 512, "vcpus": "2"},
            nicparams={"link": "br1"},
            ndparams={"ssh_port": 2222},
            diskparams={"drbd": {"resync-rate": 100}},
            ipolicy={"vcpu-ratio": 8, "disk-templates": ["plain", "drbd"]},
        )
        cl = self.m.config.get_cluster()
        self.assertEqual(cl.enabled_hypervisors, ["kvm", "fake"])
        self.assertIn("fake", cl.hvparams)
        self.assertIs(cl.hvparams["kvm"]["acpi"], False)
        self.assertEqual(cl.beparams["default"]["maxmem"], 512)
        self.assertEqual(cl.beparams["default"]["vcpus"], 2)
        self.assertEqual(cl.nicparams["default"]["link"], "br1")
        self.assertEqual(cl.ndparams["ssh_port"], 2222)
        self.assertEqual(cl.diskparams["drbd"]["resync-rate"], 100)
        self.assertEqual(cl.ipolicy["vcpu-ratio"], 8.0)

    def test_libvirt_uri_is_a_cluster_hvparam(self) -> None:
        uri = "qemu+unix:///system?socket=/run/test/libvirt-sock"
        self.set(enabled_hypervisors=["fake", "kvm"], hvparams={"kvm": {"libvirt_uri": uri}})
        self.assertEqual(self.m.config.get_cluster().hvparams["kvm"]["libvirt_uri"], uri)

    def test_os_lists(self) -> None:
        self.set(hidden_os=[["add", "lenny"], ["add", "etch"]], blacklisted_os=[["add", "x"]])
        self.set(hidden_os=[["remove", "lenny"], ["remove", "nosuch"]])
        cl = self.m.config.get_cluster()
        self.assertEqual(cl.hidden_os, ["etch"])
        self.assertEqual(cl.blacklisted_os, ["x"])
        self.assertTrue(any("nosuch" in line for line in self.m.log))

    def test_refusals(self) -> None:
        serial = self.m.config.get_cluster().serial_no
        for bad in (
            {"mac_prefix": "zz:00:00"},
            {"hvparams": {"kvm": {"nosuch": 1}}},
            {"beparams": {"minmem": 4096, "maxmem": 128}},
            {"nicparams": {"mode": "weird"}},
            {"ndparams": {"spindle_count": "many"}},
            {"diskparams": {"drbd": {"bogus": 1}}},
            {"ipolicy": {"std": {"memory-size": 1}}},
            {"file_storage_dir": "relative/path"},
            {"file_storage_dir": ""},
            {"vg_name": ""},
            {"reserved_lvs": ["(unclosed"]},
            {"compression_tools": ["lzop"]},
            {"os_hvp": {"debian": {"kvm": {"migration_port": 1}}}},
        ):
            self.m.fail({"OP_ID": "OP_CLUSTER_SET_PARAMS", **bad}, errors.ECODE_INVAL)
        self.assertEqual(self.m.config.get_cluster().serial_no, serial)

    def test_cannot_disable_used_hypervisor_or_template(self) -> None:
        n1 = self.m.config.get_master_node()
        n2 = self.m.add_node("node2.test", "192.0.2.12")
        self.m.add_drbd_instance("i1", n1, n2)
        self.m.fail(
            {"OP_ID": "OP_CLUSTER_SET_PARAMS", "enabled_hypervisors": ["fake"]},
            errors.ECODE_STATE,
        )
        self.m.fail(
            {"OP_ID": "OP_CLUSTER_SET_PARAMS", "enabled_disk_templates": ["plain"]},
            errors.ECODE_STATE,
        )


class RenameDestroyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self)

    def test_rename(self) -> None:
        self.assertEqual(
            self.m.run({"OP_ID": "OP_CLUSTER_RENAME", "name": "new.example.com"}),
            "new.example.com",
        )
        self.assertEqual(self.m.on_disk()["cluster"]["cluster_name"], "new.example.com")
        self.m.fail({"OP_ID": "OP_CLUSTER_RENAME", "name": "new.example.com"}, "wrong_input")
        self.m.fail({"OP_ID": "OP_CLUSTER_RENAME", "name": "bad name!"}, "wrong_input")

    def test_destroy_refused_with_other_nodes(self) -> None:
        self.m.add_node("node2.test", "192.0.2.12")
        exc = self.m.fail({"OP_ID": "OP_CLUSTER_DESTROY"}, "wrong_input")
        self.assertIn("node2.test", str(exc))

    def test_destroy(self) -> None:
        destroyed: list[str] = []
        self.m.hooks.cluster_destroyed = destroyed.append
        self.assertEqual(self.m.run({"OP_ID": "OP_CLUSTER_DESTROY"}), "node1.test")
        self.assertEqual(destroyed, ["node1.test"])

    def test_query_still_works(self) -> None:
        info = self.m.run({"OP_ID": "OP_CLUSTER_QUERY"})
        self.assertEqual(info["name"], "cluster.test")
