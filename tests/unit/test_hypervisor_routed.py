"""Routed NICs: tap names, domain XML, and the ifup script run for real in a netns."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ganeti import errors
from ganeti.hypervisor import domxml
from ganeti.hypervisor.interface import InstanceSpec, NicSpec
from ganeti.hypervisor.routed import ifup_script_text, tap_name, write_ifup_scripts


def spec(*nics: NicSpec) -> InstanceSpec:
    return InstanceSpec(
        name="web1.example.com",
        uuid="",
        hypervisor="kvm",
        hvparams={"kvm_flag": "disabled"},
        beparams={"maxmem": 128, "vcpus": 1},
        disks=(),
        nics=tuple(nics),
    )


class RoutedTests(SynchronousTestCase):
    def test_tap_names_are_short_and_stable(self) -> None:
        name = tap_name("web1.example.com", 3)
        self.assertLessEqual(len(name), 15)
        self.assertEqual(name, tap_name("web1.example.com", 3))
        self.assertNotEqual(name, tap_name("web2.example.com", 3))

    def test_script_content(self) -> None:
        text = ifup_script_text(
            NicSpec(mac="aa:00:00:00:00:01", mode="routed", ip="192.0.2.5", link="100")
        )
        self.assertIn('ip -4 route replace 192.0.2.5/32 dev "$dev" table 100', text)
        self.assertIn("proxy_arp", text)
        self.assertRaises(
            errors.HypervisorError,
            ifup_script_text,
            NicSpec(mac="aa:00:00:00:00:01", mode="routed"),
        )

    def test_domain_xml_names_tap_and_script(self) -> None:
        nic = NicSpec(mac="aa:00:00:00:00:01", mode="routed", ip="192.0.2.5")
        s = spec(NicSpec(mac="aa:00:00:00:00:02", mode="bridged", link="br0"), nic)
        scripts = write_ifup_scripts(Path(self.mktemp()), s)
        self.assertEqual(list(scripts), [1])
        self.assertTrue(os.access(scripts[1], os.X_OK))
        root = ET.fromstring(domxml.domain_xml(s, None, scripts))
        iface = root.find("devices/interface[@type='ethernet']")
        assert iface is not None
        self.assertEqual(iface.find("target").get("dev"), tap_name(s.name, 1))
        self.assertEqual(iface.find("script").get("path"), scripts[1])
        self.assertEqual(root.get("type"), "qemu")

    def test_script_really_routes(self) -> None:
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
            raise SkipTest("needs root, unshare and ip to run the script in a private netns")
        s = spec(NicSpec(mac="aa:00:00:00:00:01", mode="routed", ip="192.0.2.77"))
        [path] = write_ifup_scripts(Path(self.mktemp()), s).values()
        tap = tap_name(s.name, 0)
        # A tap device as libvirt would create it, in a network namespace of our own.
        out = subprocess.run(
            [
                "unshare",
                "-n",
                "sh",
                "-c",
                f"ip tuntap add dev {tap} mode tap && sh {path} {tap} && ip route show && "
                f"cat /proc/sys/net/ipv4/conf/{tap}/proxy_arp",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(f"192.0.2.77 dev {tap}", out.stdout)
        self.assertTrue(out.stdout.strip().endswith("1"))
