"""ssconf: values computed from a config, and the node-side files."""

from __future__ import annotations

import stat
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants, errors
from ganeti.config import read_ssconf, ssconf_values, write_ssconf_files
from ganeti.config.ssconf import nice_sort, read_ssconf_lines, read_ssconf_value
from ganeti.paths import SSCONF_KEYS, Paths
from tests.unit.test_config_helpers import U, sample_config


class ValuesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.values = ssconf_values(sample_config())

    def test_every_key_newline_terminated(self) -> None:
        self.assertEqual(set(self.values), set(SSCONF_KEYS))
        for key, value in self.values.items():
            self.assertTrue(value == "" or value.endswith("\n"), key)

    def test_sample_values(self) -> None:
        v = self.values
        self.assertEqual(v["cluster_name"], "cluster.example.com\n")
        self.assertEqual(v["cluster_tags"], "production\nsite:ams\n")
        self.assertEqual(v["master_node"], "node1.example.com\n")
        self.assertEqual(v["master_ip"], "192.0.2.254\n")
        self.assertEqual(v["master_netmask"], "32\n")
        self.assertEqual(v["master_candidates"], "node1.example.com\nnode2.example.com\n")
        self.assertEqual(v["master_candidates_ips"], "192.0.2.1\n192.0.2.2\n")
        self.assertEqual(v["master_candidates_certs"], f"{U(101)}={'a' * 40}\n")
        # nice sort: node10 after node3
        self.assertEqual(
            v["node_list"],
            "node1.example.com\nnode2.example.com\nnode3.example.com\nnode10.example.com\n",
        )
        self.assertIn("node3.example.com 192.0.2.3\n", v["node_primary_ips"])
        self.assertIn("node2.example.com 198.51.100.2\n", v["node_secondary_ips"])
        self.assertIn("node10.example.com=False\n", v["node_vm_capable"])
        self.assertEqual(v["offline_nodes"], "node3.example.com\n")
        self.assertNotIn("node3", v["online_nodes"])
        self.assertEqual(v["primary_ip_family"], "2\n")
        self.assertEqual(
            v["instance_list"], "db1.example.com\ntest1.example.com\nweb1.example.com\n"
        )
        self.assertEqual(v["hypervisor_list"], "kvm\nfake\n")
        self.assertIn("kernel_args=ro\n", v["hvparams_kvm"])
        self.assertEqual(v["hvparams_fake"], "migration_mode=live\n")
        self.assertIn("xen_cmd=xl\n", v["hvparams_xen-pvm"])
        self.assertEqual(v["uid_pool"], "1000-1009\n2000\n")
        self.assertEqual(v["nodegroups"], f"{U(10)} default\n{U(11)} rack2\n")
        self.assertEqual(v["networks"], f"{U(201)} public\n")
        self.assertIn("node3.example.com=2222\n", v["ssh_ports"])
        self.assertIn("node1.example.com=22\n", v["ssh_ports"])
        self.assertEqual(v["maintain_node_health"], "False\n")
        self.assertEqual(v["release_version"], constants.RELEASE_VERSION + "\n")
        self.assertEqual(v["file_storage_dir"], "/srv/ganeti/file-storage\n")

    def test_nice_sort(self) -> None:
        self.assertEqual(nice_sort(["a10", "a9", "b1", "a10b"]), ["a9", "a10", "a10b", "b1"])


class FilesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths = Paths(self.mktemp())
        self.values = ssconf_values(sample_config())

    def test_write_and_read(self) -> None:
        write_ssconf_files(self.paths, self.values)
        for key, value in self.values.items():
            self.assertEqual(read_ssconf(self.paths, key), value)
            mode = stat.S_IMODE(self.paths.ssconf(key).stat().st_mode)
            self.assertEqual(mode, 0o444)
        self.assertEqual(read_ssconf_value(self.paths, "master_node"), "node1.example.com")
        self.assertEqual(len(read_ssconf_lines(self.paths, "node_list")), 4)
        leftovers = [p.name for p in self.paths.data_dir.iterdir() if p.name.startswith(".")]
        self.assertEqual(leftovers, [])

    def test_rewrite_replaces_read_only_file(self) -> None:
        write_ssconf_files(self.paths, {"master_node": "a\n"})
        write_ssconf_files(self.paths, {"master_node": "b\n"})
        self.assertEqual(read_ssconf(self.paths, "master_node"), "b\n")

    def test_unknown_key_refused_and_nothing_written(self) -> None:
        err = self.assertRaises(
            errors.SsconfError,
            write_ssconf_files,
            self.paths,
            {"cluster_name": "x\n", "evil_key": "y\n"},
        )
        self.assertIn("evil_key", str(err))
        self.assertFalse(self.paths.ssconf("cluster_name").exists())
        self.assertFalse(self.paths.ssconf("evil_key").exists())

    def test_size_limit(self) -> None:
        big = "x" * (constants.SSCONF_MAX_SIZE + 1)
        self.assertRaises(errors.SsconfError, write_ssconf_files, self.paths, {"node_list": big})
        ok = "x" * constants.SSCONF_MAX_SIZE
        write_ssconf_files(self.paths, {"node_list": ok})
        self.assertEqual(read_ssconf(self.paths, "node_list"), ok)

    def test_path_traversal_key_refused(self) -> None:
        self.assertRaises(
            errors.SsconfError, write_ssconf_files, self.paths, {"../../etc/passwd": "x"}
        )

    def test_read_errors(self) -> None:
        self.assertRaises(errors.SsconfError, read_ssconf, self.paths, "nope")
        err = self.assertRaises(errors.SsconfError, read_ssconf, self.paths, "master_node")
        self.assertIn(str(self.paths.ssconf("master_node")), str(err))

    def test_read_oversized_file(self) -> None:
        path = self.paths.ssconf("node_list")
        Path(path).parent.mkdir(parents=True)
        path.write_text("x" * (constants.SSCONF_MAX_SIZE + 5))
        self.assertRaises(errors.SsconfError, read_ssconf, self.paths, "node_list")
