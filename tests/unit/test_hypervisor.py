"""Hypervisors: parameter checks, the fake hypervisor, domain XML, and the libvirt
driver against libvirt's test driver (never a real QEMU)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import attrs
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from ganeti import constants as C
from ganeti import errors
from ganeti.hypervisor import (
    DiskRef,
    FakeHypervisor,
    HypervisorRegistry,
    IHypervisor,
    InstanceSpec,
    LibvirtHypervisor,
    NicSpec,
    domxml,
    libvirt_available,
    params,
    run_inline,
)

NS = {"g": domxml.METADATA_NS}
UUID = "5f0c6a52-3f5e-4a43-9a9e-0f2b2b9d6c11"


def run(d: Any) -> Any:
    return defer.Deferred.fromCoroutine(d) if not isinstance(d, defer.Deferred) else d


def spec(hv: str = C.HT_KVM, name: str = "web1", **hvp: Any) -> InstanceSpec:
    hvparams = dict(C.HVC_DEFAULTS[hv])
    hvparams.update(hvp)
    return InstanceSpec(
        name=name,
        uuid=UUID,
        hypervisor=hv,
        hvparams=hvparams,
        beparams={"maxmem": 256, "minmem": 128, "vcpus": 2},
        disks=(
            DiskRef("/srv/ganeti/file-storage/web1/d0", "file", "qcow2", uuid="d0"),
            DiskRef("/dev/xenvg/d1", "block", mode="ro", uuid="d1"),
        ),
        nics=(NicSpec("aa:00:00:00:00:01", C.NIC_MODE_BRIDGED, "br0"),),
    )


class ParamsTests(SynchronousTestCase):
    def test_defaults_are_valid_for_every_hypervisor(self) -> None:
        for hv in C.HVC_DEFAULTS:
            self.assertEqual(params.problems(hv, C.HVC_DEFAULTS[hv]), [], hv)

    def test_problems(self) -> None:
        bad = dict(C.HVC_DEFAULTS[C.HT_KVM])
        bad.update(kvm_flag="maybe", acpi="yes", kernel_path="vmlinuz", bogus=1)
        bad["vnc_bind_address"] = "not-an-ip"
        found = "\n".join(params.problems(C.HT_KVM, bad))
        for text in ("kvm_flag", "'acpi' must be of type bool", "absolute", "bogus", "not an IP"):
            self.assertIn(text, found)
        self.assertEqual(params.problems("nope", {}), ["unknown hypervisor 'nope'"])
        self.assertEqual(params.problems(C.HT_KVM, {"libvirt_uri": "test:///default"}), [])
        self.assertIn("unknown fake parameter", params.problems(C.HT_FAKE, {"libvirt_uri": "x"})[0])
        with self.assertRaises(errors.HypervisorError):
            params.validate(C.HT_FAKE, {"kernel_path": "/x"})


class FakeHypervisorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.dir = Path(self.mktemp())
        host = {"memory_total": 4096, "memory_free": 3000, "cpu_total": 2}
        self.hv = FakeHypervisor(self.dir, self.clock, host_info=lambda: dict(host))

    def test_interface(self) -> None:
        verifyObject(IHypervisor, self.hv)

    def test_lifecycle_survives_a_new_object(self) -> None:
        s = spec(C.HT_FAKE)
        self.successResultOf(run(self.hv.start(s, False)))
        self.failureResultOf(run(self.hv.start(s, False)), errors.HypervisorError)
        self.clock.advance(5)
        # A restarted node daemon sees the same state.
        again = FakeHypervisor(self.dir, self.clock)
        info = self.successResultOf(run(again.instance_info("web1", {})))
        self.assertEqual((info.state, info.memory, info.vcpus, info.time), ("running", 256, 2, 5.0))
        self.assertEqual(self.successResultOf(run(again.list_instances({}))), ["web1"])
        self.successResultOf(run(again.balloon_memory(s, 200)))
        node = self.successResultOf(run(self.hv.node_info({})))
        self.assertEqual((node["memory_free"], node["memory_hv"]), (2800, 200))
        self.successResultOf(run(again.reboot(s, "soft", 10)))
        self.successResultOf(run(again.stop(s, 10, False)))
        self.assertIsNone(self.successResultOf(run(self.hv.instance_info("web1", {}))))
        self.assertEqual(self.successResultOf(run(self.hv.all_instances_info({}))), [])
        # Stopping a stopped instance is fine; rebooting it is not.
        self.successResultOf(run(self.hv.stop(s, 10, True)))
        self.failureResultOf(run(self.hv.reboot(s, "hard", 1)), errors.HypervisorError)

    def test_paused_and_bad_names(self) -> None:
        self.successResultOf(run(self.hv.start(spec(C.HT_FAKE), True)))
        info = self.successResultOf(run(self.hv.instance_info("web1", {})))
        self.assertEqual(info.state, "paused")
        self.failureResultOf(run(self.hv.start(spec(C.HT_FAKE, name="../x"), False)))

    def test_migration_moves_the_state_file(self) -> None:
        target = FakeHypervisor(Path(self.mktemp()), self.clock)
        s = spec(C.HT_FAKE)
        self.successResultOf(run(self.hv.start(s, False)))
        info = self.successResultOf(run(self.hv.migration_info(s)))
        self.successResultOf(run(target.accept_instance(s, info, "node2")))
        self.assertEqual(
            self.successResultOf(run(target.instance_info("web1", {}))).state, "migrating"
        )
        self.successResultOf(run(self.hv.migrate("c", s, "node2", True)))
        status = self.successResultOf(run(self.hv.migration_status(s)))
        self.assertEqual(status["status"], "completed")
        self.successResultOf(run(target.finalize_migration_dst(s, info, True)))
        self.successResultOf(run(self.hv.finalize_migration_src(s, True, True)))
        self.assertEqual(self.successResultOf(run(self.hv.list_instances({}))), [])
        self.assertEqual(
            self.successResultOf(run(target.instance_info("web1", {}))).state, "running"
        )

    def test_console(self) -> None:
        self.assertEqual(self.hv.console_info(spec(C.HT_FAKE), "n1")["kind"], "message")


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


class DomainXmlTests(SynchronousTestCase):
    def test_kvm_flag(self) -> None:
        self.assertEqual(parse(domxml.domain_xml(spec(kvm_flag="enabled"))).get("type"), "kvm")
        self.assertEqual(parse(domxml.domain_xml(spec(kvm_flag="disabled"))).get("type"), "qemu")

    def test_kvm_kernel_boot_disks_serial_vnc(self) -> None:
        s = spec(
            kvm_flag="disabled",
            kernel_path="/boot/vmlinuz",
            initrd_path="/boot/initrd",
            vnc_bind_address="127.0.0.1",
        )
        s = attrs.evolve(s, network_port=5901)
        dom = parse(domxml.domain_xml(s, console_log="/run/web1.console"))
        self.assertEqual(dom.findtext("name"), "web1")
        self.assertEqual(dom.findtext("uuid"), UUID)
        self.assertEqual(
            dom.find("metadata/g:instance", NS).findtext("g:name", namespaces=NS), "web1"
        )
        self.assertEqual(dom.findtext("memory"), "256")
        self.assertEqual(dom.findtext("vcpu"), "2")
        self.assertEqual(dom.findtext("os/kernel"), "/boot/vmlinuz")
        self.assertEqual(dom.findtext("os/initrd"), "/boot/initrd")
        self.assertEqual(dom.findtext("os/cmdline"), "root=/dev/vda1 ro console=ttyS0,38400")
        self.assertIsNotNone(dom.find("features/acpi"))
        disks = dom.findall("devices/disk")
        self.assertEqual(disks[0].get("type"), "file")
        self.assertEqual(disks[0].find("driver").get("type"), "qcow2")
        self.assertEqual(disks[0].find("source").get("file"), "/srv/ganeti/file-storage/web1/d0")
        self.assertEqual(disks[0].find("target").attrib, {"dev": "vda", "bus": "virtio"})
        self.assertEqual(disks[1].get("type"), "block")
        self.assertEqual(disks[1].find("source").get("dev"), "/dev/xenvg/d1")
        self.assertEqual(disks[1].find("target").get("dev"), "vdb")
        self.assertIsNotNone(disks[1].find("readonly"))
        serial = dom.find("devices/serial")
        self.assertEqual(serial.get("type"), "file")
        self.assertEqual(serial.find("source").get("path"), "/run/web1.console")
        g = dom.find("devices/graphics")
        self.assertEqual(
            (g.get("type"), g.get("listen"), g.get("port")), ("vnc", "127.0.0.1", "5901")
        )

    def test_kvm_disk_boot_and_spice(self) -> None:
        dom = parse(domxml.domain_xml(spec(boot_order="cdrom", spice_bind="0.0.0.0")))
        self.assertIsNone(dom.find("os/kernel"))
        self.assertEqual(dom.find("os/boot").get("dev"), "cdrom")
        g = dom.find("devices/graphics")
        self.assertEqual((g.get("type"), g.get("autoport")), ("spice", "yes"))

    def test_nic_modes(self) -> None:
        nics = (
            NicSpec("aa:00:00:00:00:01", C.NIC_MODE_BRIDGED, "br0"),
            NicSpec("aa:00:00:00:00:02", C.NIC_MODE_ROUTED, "100", ip="192.0.2.5"),
            NicSpec("aa:00:00:00:00:03", C.NIC_MODE_OVS, "switch1", vlan=".10:20:30"),
        )
        s = InstanceSpec(
            name="n", hypervisor=C.HT_KVM, hvparams=C.HVC_DEFAULTS[C.HT_KVM], nics=nics
        )
        dom = parse(domxml.domain_xml(s, ifup_script="/etc/ganeti/kvm-ifup-routed"))
        br, routed, ovs = dom.findall("devices/interface")
        self.assertEqual(br.get("type"), "bridge")
        self.assertEqual(br.find("source").get("bridge"), "br0")
        self.assertEqual(br.find("mac").get("address"), "aa:00:00:00:00:01")
        self.assertEqual(br.find("model").get("type"), "virtio")
        self.assertIsNone(br.find("virtualport"))
        self.assertEqual(routed.get("type"), "ethernet")
        self.assertEqual(routed.find("script").get("path"), "/etc/ganeti/kvm-ifup-routed")
        self.assertEqual(ovs.get("type"), "bridge")
        self.assertEqual(ovs.find("virtualport").get("type"), "openvswitch")
        self.assertEqual(ovs.find("vlan").get("trunk"), "yes")
        self.assertEqual([t.get("id") for t in ovs.findall("vlan/tag")], ["10", "20", "30"])
        self.assertEqual(ovs.find("vlan/tag").get("nativeMode"), "untagged")

    def test_bad_nics(self) -> None:
        for nic in (
            NicSpec("aa:00:00:00:00:01", "weird", "br0"),
            NicSpec("aa:00:00:00:00:01", C.NIC_MODE_BRIDGED, ""),
            NicSpec("aa:00:00:00:00:01", C.NIC_MODE_BRIDGED, "br0", vlan="10"),
            NicSpec("aa:00:00:00:00:01", C.NIC_MODE_OVS, "s", vlan="x"),
        ):
            s = InstanceSpec(name="n", hypervisor=C.HT_KVM, hvparams={}, nics=(nic,))
            self.assertRaises(errors.HypervisorError, domxml.domain_xml, s)

    def test_xen_pvm(self) -> None:
        dom = parse(domxml.domain_xml(spec(C.HT_XEN_PVM, root_path="/dev/xvda1")))
        self.assertEqual(dom.get("type"), "xen")
        self.assertEqual(dom.findtext("os/type"), "linux")
        self.assertEqual(dom.findtext("os/kernel"), "/boot/vmlinuz-xenU")
        self.assertEqual(dom.findtext("os/cmdline"), "root=/dev/xvda1 ro")
        self.assertEqual(dom.find("devices/disk/target").attrib, {"dev": "xvda", "bus": "xen"})
        self.assertIsNone(dom.find("devices/graphics"))

    def test_xen_hvm(self) -> None:
        dom = parse(domxml.domain_xml(spec(C.HT_XEN_HVM)))
        self.assertEqual(dom.get("type"), "xen")
        self.assertEqual(dom.findtext("os/type"), "hvm")
        self.assertEqual(dom.findtext("os/loader"), "/usr/lib/xen/boot/hvmloader")
        self.assertEqual([b.get("dev") for b in dom.findall("os/boot")], ["hd", "cdrom"])
        self.assertIsNotNone(dom.find("features/pae"))
        self.assertEqual(dom.find("devices/interface/model").get("type"), "rtl8139")
        self.assertEqual(dom.find("devices/graphics").get("listen"), "0.0.0.0")

    def test_lxc(self) -> None:
        dom = parse(domxml.domain_xml(spec(C.HT_LXC)))
        self.assertEqual(dom.get("type"), "lxc")
        self.assertEqual(dom.findtext("os/type"), "exe")
        self.assertEqual(dom.findtext("os/init"), "/sbin/init")
        root, second = dom.findall("devices/filesystem")
        self.assertEqual(root.find("target").get("dir"), "/")
        self.assertEqual(root.find("source").get("file"), "/srv/ganeti/file-storage/web1/d0")
        self.assertEqual(second.find("source").get("dev"), "/dev/xenvg/d1")
        self.assertIsNone(dom.find("devices/disk"))
        self.assertEqual(dom.find("devices/console/target").get("type"), "lxc")

    def test_reboot_behavior_and_fake_refused(self) -> None:
        dom = parse(domxml.domain_xml(spec(reboot_behavior="exit")))
        self.assertEqual(dom.findtext("on_reboot"), "destroy")
        self.assertRaises(errors.HypervisorError, domxml.domain_xml, spec(C.HT_FAKE))

    def test_vlan_parsing(self) -> None:
        self.assertEqual(domxml.parse_vlan(""), ([], False, None))
        self.assertEqual(domxml.parse_vlan(".5"), ([5], False, 5))
        self.assertEqual(domxml.parse_vlan("7"), ([7], False, None))
        self.assertEqual(domxml.parse_vlan(":1:2"), ([1, 2], True, None))


class _Dom:
    """A domain that ignores guest shutdown requests (for the soft -> hard path)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.active = True

    def metadata(self, *args: Any) -> str:
        return "<instance/>"

    def isActive(self) -> bool:
        return self.active

    def shutdown(self) -> None:
        self.log.append("shutdown")

    def destroy(self) -> None:
        self.log.append("destroy")
        self.active = False


class _Conn:
    def __init__(self, dom: _Dom) -> None:
        self.dom = dom

    def isAlive(self) -> bool:
        return True

    def lookupByName(self, name: str) -> _Dom:
        return self.dom


class LibvirtStopTests(SynchronousTestCase):
    def test_soft_then_hard_after_timeout(self) -> None:
        log: list[str] = []
        dom = _Dom(log)
        clock = Clock()
        hv = LibvirtHypervisor(
            C.HT_KVM, Path(self.mktemp()), clock, run_inline, opener=lambda uri: _Conn(dom)
        )
        d = run(hv.stop(spec(), 3, False))
        self.assertNoResult(d)
        self.assertEqual(log, ["shutdown"])
        clock.advance(1)
        clock.advance(1)
        self.assertEqual(log, ["shutdown"])
        clock.advance(1)
        self.successResultOf(d)
        self.assertEqual(log, ["shutdown", "destroy"])

    def test_force_destroys_at_once(self) -> None:
        log: list[str] = []
        hv = LibvirtHypervisor(
            C.HT_KVM, Path(self.mktemp()), Clock(), run_inline, opener=lambda uri: _Conn(_Dom(log))
        )
        self.successResultOf(run(hv.stop(spec(), 60, True)))
        self.assertEqual(log, ["destroy"])

    def test_unreachable_libvirt(self) -> None:
        def refuse(uri: str) -> Any:
            raise RuntimeError("no socket")

        hv = LibvirtHypervisor(C.HT_KVM, Path(self.mktemp()), Clock(), run_inline, opener=refuse)
        f = self.failureResultOf(run(hv.list_instances({})), errors.HypervisorError)
        self.assertIn("cannot connect to libvirt at qemu:///system", str(f.value))

    def test_migration_uri(self) -> None:
        hv = LibvirtHypervisor(C.HT_KVM, Path(self.mktemp()), Clock(), run_inline)
        self.assertEqual(hv.migration_uri(spec(), "192.0.2.2"), "qemu+tcp://192.0.2.2/system")
        self.assertEqual(
            hv.migration_uri(spec(libvirt_migration_uri="qemu+ssh://{target}/system"), "n2"),
            "qemu+ssh://n2/system",
        )


def _no_domain() -> Exception:
    import libvirt

    exc = libvirt.libvirtError("Domain not found: no domain with matching uuid")
    exc.err = (libvirt.VIR_ERR_NO_DOMAIN, 0, str(exc), 0, None, None, None, 0, 0)
    return exc


class _VanishingDom(_Dom):
    """A transient domain that powers off after the shutdown request: libvirt then raises
    VIR_ERR_NO_DOMAIN on a handle looked up just before (seen with a real QEMU guest)."""

    def __init__(self, log: list[str], vanish_on: str) -> None:
        super().__init__(log)
        self.vanish_on = vanish_on

    def isActive(self) -> bool:
        if self.vanish_on == "isActive" and self.log:
            raise _no_domain()
        return True

    def shutdown(self) -> None:
        self.log.append("shutdown")
        if self.vanish_on == "shutdown":
            raise _no_domain()

    def info(self) -> list[int]:
        raise _no_domain()


class LibvirtVanishingDomainTests(SynchronousTestCase):
    """A domain disappearing between lookup and use means "not running", not an error."""

    def setUp(self) -> None:
        if not libvirt_available():
            raise self.skipTest("libvirt-python is not installed")

    def hv(self, dom: _Dom) -> LibvirtHypervisor:
        return LibvirtHypervisor(
            C.HT_KVM, Path(self.mktemp()), Clock(), run_inline, opener=lambda uri: _Conn(dom)
        )

    def test_guest_powers_off_while_polled(self) -> None:
        log: list[str] = []
        self.successResultOf(run(self.hv(_VanishingDom(log, "isActive")).stop(spec(), 60, False)))
        self.assertEqual(log, ["shutdown"])  # no destroy, no error

    def test_guest_gone_when_asked_to_shut_down(self) -> None:
        log: list[str] = []
        self.successResultOf(run(self.hv(_VanishingDom(log, "shutdown")).stop(spec(), 60, False)))
        self.assertEqual(log, ["shutdown"])

    def test_instance_info_of_a_vanishing_domain(self) -> None:
        hv = self.hv(_VanishingDom([], "info"))
        self.assertIsNone(self.successResultOf(run(hv.instance_info("web1", {}))))
        hv = self.hv(_VanishingDom(["x"], "isActive"))
        self.assertIsNone(self.successResultOf(run(hv.instance_info("web1", {}))))


class LibvirtTestDriverTests(SynchronousTestCase):
    """Lifecycle through libvirt's test driver (``test:///default``): no daemon, no VM."""

    def setUp(self) -> None:
        if not libvirt_available():
            raise self.skipTest("libvirt-python is not installed")
        self.clock = Clock()
        self.hv = LibvirtHypervisor(
            C.HT_KVM,
            Path(self.mktemp()),
            self.clock,
            run_inline,
            default_uri="test:///default",
        )

    def test_interface(self) -> None:
        verifyObject(IHypervisor, self.hv)

    def test_lifecycle(self) -> None:
        hv = self.hv
        s = spec(kvm_flag="disabled", name="gnt-ut-web1")
        self.successResultOf(run(hv.start(s, False)))
        f = self.failureResultOf(run(hv.start(s, False)), errors.HypervisorError)
        self.assertIn("already running", str(f.value))
        # The test driver's own built-in domain "test" is not ours and not listed.
        self.assertEqual(self.successResultOf(run(hv.list_instances({}))), ["gnt-ut-web1"])
        info = self.successResultOf(run(hv.instance_info("gnt-ut-web1", {})))
        self.assertEqual((info.state, info.memory, info.vcpus), ("running", 256, 2))
        self.assertIsNone(self.successResultOf(run(hv.instance_info("test", {}))))
        self.successResultOf(run(hv.balloon_memory(s, 200)))
        info = self.successResultOf(run(hv.instance_info("gnt-ut-web1", {})))
        self.assertEqual(info.memory, 200)
        self.successResultOf(run(hv.reboot(s, "soft", 10)))
        self.successResultOf(run(hv.reboot(s, "hard", 10)))
        self.assertEqual(self.successResultOf(run(hv.list_instances({}))), ["gnt-ut-web1"])
        node = self.successResultOf(run(hv.node_info({})))
        self.assertEqual(node["cpu_total"], 16)
        self.assertGreaterEqual(node["memory_hv"], 200)
        console = hv.console_info(s, "node1")
        self.assertEqual(console["kind"], "ssh")
        self.assertIn(str(hv.console_log("gnt-ut-web1")), console["command"])
        self.successResultOf(run(hv.stop(s, 30, False)))
        self.assertEqual(self.successResultOf(run(hv.list_instances({}))), [])
        self.successResultOf(run(hv.stop(s, 30, False)))
        f = self.failureResultOf(run(hv.reboot(s, "soft", 1)), errors.HypervisorError)
        self.assertIn("not running", str(f.value))

    def test_start_paused_and_each_kind(self) -> None:
        for kind in (C.HT_XEN_PVM, C.HT_XEN_HVM, C.HT_LXC):
            hv = LibvirtHypervisor(
                kind, Path(self.mktemp()), self.clock, run_inline, "test:///default"
            )
            s = spec(kind, name=f"gnt-ut-{kind}")
            self.successResultOf(run(hv.start(s, True)))
            info = self.successResultOf(run(hv.instance_info(s.name, {})))
            self.assertEqual(info.state, "paused")
            self.successResultOf(run(hv.stop(s, 0, True)))
            self.assertIsNone(self.successResultOf(run(hv.instance_info(s.name, {}))))

    def test_migration_unsupported_by_test_driver_is_clean(self) -> None:
        s = spec(kvm_flag="disabled", name="gnt-ut-mig")
        self.successResultOf(run(self.hv.start(s, False)))
        self.addCleanup(lambda: self.successResultOf(run(self.hv.stop(s, 0, True))))
        f = self.failureResultOf(run(self.hv.migrate("c", s, "127.0.0.2", True)))
        self.assertIsInstance(f.value, errors.HypervisorError)


class RegistryTests(SynchronousTestCase):
    def test_get(self) -> None:
        reg = HypervisorRegistry(
            Path(self.mktemp()), Clock(), run_inline, uris={"kvm": "test:///default"}
        )
        self.assertIs(reg.get("fake"), reg.get("fake"))
        kvm = reg.get("kvm")
        assert isinstance(kvm, LibvirtHypervisor)
        self.assertEqual(kvm.default_uri, "test:///default")
        self.assertEqual(reg.get("lxc").name, "lxc")
        self.assertRaises(errors.HypervisorError, reg.get, "chroot")
        self.assertRaises(errors.HypervisorError, reg.get, "vmware")
