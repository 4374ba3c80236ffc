"""The export manifest (config.ini): writing, reading back, refusing bad ones."""

from __future__ import annotations

import configparser

from twisted.trial.unittest import SynchronousTestCase

from ganeti import exportmanifest as em

INST = {
    "name": "web1",
    "os": "image+default",
    "hypervisor": "fake",
    "disk_template": "file",
    "tags": ["b", "a"],
    "beparams": {"maxmem": 256, "minmem": 128, "vcpus": 2, "auto_balance": True},
    "hvparams": {"migration_mode": "live"},
    "osparams": {"image_path": "/srv/img.raw"},
    "nics": [
        {
            "mac": "aa:00:00:11:22:33",
            "ip": None,
            "name": "eth0",
            "network": None,
            "nicparams": {"mode": "bridged", "link": "br0", "vlan": ""},
        }
    ],
}
DISKS = [em.ExportDisk("disk/0", "disk0.img", 1024, "root", "ab" * 32)]


class ManifestTests(SynchronousTestCase):
    def test_sections_and_keys_as_ganeti_writes_them(self) -> None:
        text = em.build(INST, DISKS, source="node1.test", timestamp=1700000000)
        cp = configparser.ConfigParser(interpolation=None)
        cp.read_string(text)
        self.assertEqual(cp.sections(), ["export", "instance", "hypervisor", "backend", "os"])
        self.assertEqual(cp["export"]["version"], "0")
        self.assertEqual(cp["export"]["source"], "node1.test")
        self.assertEqual(cp["export"]["os"], "image+default")
        self.assertEqual(cp["export"]["timestamp"], "1700000000")
        ins = cp["instance"]
        self.assertEqual(
            (ins["name"], ins["maxmem"], ins["minmem"], ins["memory"], ins["vcpus"]),
            ("web1", "256", "128", "256", "2"),
        )
        self.assertEqual(ins["tags"], "a b")
        self.assertEqual(ins["nic_count"], "1")
        self.assertEqual(ins["nic0_mac"], "aa:00:00:11:22:33")
        self.assertEqual(ins["nic0_link"], "br0")
        self.assertEqual(ins["disk_count"], "1")
        self.assertEqual(ins["disk0_dump"], "disk0.img")
        self.assertEqual(ins["disk0_size"], "1024")
        self.assertEqual(ins["disk0_ivname"], "disk/0")
        self.assertEqual(cp["backend"]["auto_balance"], "True")
        self.assertEqual(cp["os"]["image_path"], "/srv/img.raw")

    def test_round_trip(self) -> None:
        text = em.build(
            INST, DISKS, source="node1.test", timestamp=5, compression="gzip", dump_method="raw"
        )
        m = em.parse(text)
        self.assertEqual(
            (m.name, m.os, m.source, m.timestamp), ("web1", "image+default", "node1.test", 5)
        )
        self.assertEqual((m.compression, m.dump_method), ("gzip", "raw"))
        self.assertEqual(m.disks, tuple(DISKS))
        self.assertEqual(
            m.nics[0].to_opcode(),
            {"mac": "aa:00:00:11:22:33", "name": "eth0", "mode": "bridged", "link": "br0"},
        )
        self.assertEqual(m.tags, ("a", "b"))
        self.assertEqual(m.beparams["maxmem"], "256")
        self.assertEqual(m.hvparams, {"migration_mode": "live"})
        self.assertEqual((m.disk_template, m.hypervisor), ("file", "fake"))

    def test_refusals(self) -> None:
        with self.assertRaisesRegex(em.ManifestError, "malformed"):
            em.parse("no section header")
        with self.assertRaisesRegex(em.ManifestError, r"no \[instance\]"):
            em.parse("[export]\nversion = 0\n")
        with self.assertRaisesRegex(em.ManifestError, "version '7'"):
            em.parse("[export]\nversion = 7\n[instance]\n")
        with self.assertRaisesRegex(em.ManifestError, "disk0: missing"):
            em.parse("[export]\nversion = 0\n[instance]\ndisk_count = 1\n")
        with self.assertRaisesRegex(em.ManifestError, "nic0: missing MAC"):
            em.parse("[export]\nversion = 0\n[instance]\nnic_count = 1\n")
        with self.assertRaisesRegex(em.ManifestError, "not a number"):
            em.parse("[export]\nversion = 0\n[instance]\ndisk_count = x\n")
