"""libvirt domain XML from an :class:`InstanceSpec` (pure functions, no libvirt import).

One builder serves kvm, xen-pvm, xen-hvm and lxc; the differences are the domain type,
the ``<os>`` element, disk targets and which devices exist.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.hypervisor.interface import DiskRef, InstanceSpec, NicSpec
from ganeti.hypervisor.routed import tap_name

# Our mark on the domains we create: list/info ignore every other domain.
METADATA_NS = "urn:x-ganeti:instance"
METADATA_PREFIX = "ganeti"

_KVM_NIC_MODELS = {"paravirtual": "virtio"}
_KVM_DISK_BUS = {"paravirtual": ("virtio", "vd"), "ide": ("ide", "hd"), "scsi": ("scsi", "sd")}
_BOOT_DEVS = {"disk": "hd", "cdrom": "cdrom", "network": "network", "floppy": "fd"}
_HVM_BOOT_LETTERS = {"c": "hd", "d": "cdrom", "n": "network", "a": "fd"}


def domain_type(hypervisor: str, hvparams: Mapping[str, Any]) -> str:
    """``kvm`` or ``qemu`` (from ``kvm_flag``) for kvm, ``xen`` or ``lxc`` otherwise."""
    if hypervisor == C.HT_KVM:
        return "qemu" if hvparams.get("kvm_flag") == "disabled" else "kvm"
    if hypervisor in (C.HT_XEN_PVM, C.HT_XEN_HVM):
        return "xen"
    if hypervisor == C.HT_LXC:
        return "lxc"
    raise errors.HypervisorError(f"hypervisor {hypervisor!r} is not libvirt-based")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def _target_name(prefix: str, idx: int) -> str:
    letters = ""
    n = idx
    while True:
        letters = chr(ord("a") + n % 26) + letters
        n = n // 26 - 1
        if n < 0:
            return prefix + letters


def parse_vlan(vlan: str) -> tuple[list[int], bool, int | None]:
    """Ganeti's NIC vlan syntax: ``.N`` untagged/access, ``:A:B`` trunk, ``N`` access,
    ``.N:A:B`` native N plus trunk.  Returns (tags, trunk, native)."""
    if not vlan:
        return [], False, None
    if not re.fullmatch(r"(\.?\d+)?(:\d+)*", vlan):
        raise errors.HypervisorError(f"invalid vlan specification {vlan!r}")
    native: int | None = None
    head, *trunk = vlan.split(":")
    tags = [int(t) for t in trunk]
    if head:
        if head.startswith("."):
            native = int(head[1:])
        else:
            tags.insert(0, int(head))
    if native is not None:
        tags.insert(0, native)
    return tags, bool(trunk), native


def _os_element(
    dom: ET.Element, hypervisor: str, hv: Mapping[str, Any], spec: InstanceSpec, serial: bool
) -> None:
    os_el = _sub(dom, "os")
    if hypervisor == C.HT_LXC:
        _sub(os_el, "type", "exe")
        _sub(os_el, "init", str(hv.get("init_path", "/sbin/init")))
        return
    if hypervisor == C.HT_XEN_PVM:
        _sub(os_el, "type", "linux")
        if hv.get("use_bootloader"):
            return
    elif hypervisor == C.HT_XEN_HVM:
        _sub(os_el, "type", "hvm")
        _sub(os_el, "loader", str(hv.get("kernel_path", "")))
        for letter in str(hv.get("boot_order", "cd")):
            dev = _HVM_BOOT_LETTERS.get(letter)
            if dev:
                _sub(os_el, "boot", dev=dev)
        return
    else:
        _sub(os_el, "type", "hvm", arch="x86_64")
    kernel = str(hv.get("kernel_path", ""))
    if kernel:
        _sub(os_el, "kernel", kernel)
        if hv.get("initrd_path"):
            _sub(os_el, "initrd", str(hv["initrd_path"]))
        args = []
        if hv.get("root_path"):
            args.append(f"root={hv['root_path']}")
        if hv.get("kernel_args"):
            args.append(str(hv["kernel_args"]))
        if serial and hypervisor == C.HT_KVM:
            args.append(f"console=ttyS0,{hv.get('serial_speed', 38400)}")
        _sub(os_el, "cmdline", " ".join(args))
    elif hypervisor == C.HT_KVM:
        _sub(os_el, "boot", dev=_BOOT_DEVS.get(str(hv.get("boot_order", "disk")), "hd"))


def _disk(
    devices: ET.Element, hypervisor: str, hv: Mapping[str, Any], idx: int, d: DiskRef
) -> None:
    if hypervisor == C.HT_LXC:
        fs = _sub(devices, "filesystem", type="block" if d.kind == "block" else "file")
        fs.set("accessmode", "passthrough")
        if d.kind == "block":
            _sub(fs, "source", dev=d.path)
        else:
            _sub(fs, "driver", type="loop", format=d.format)
            _sub(fs, "source", file=d.path)
        _sub(fs, "target", dir="/" if idx == 0 else f"/mnt/disk{idx}")
        if d.mode == C.DISK_RDONLY:
            _sub(fs, "readonly")
        return
    el = _sub(devices, "disk", type="block" if d.kind == "block" else "file", device="disk")
    if hypervisor == C.HT_KVM:
        driver = {"name": "qemu", "type": d.format if d.kind == "file" else "raw"}
        cache = str(hv.get("disk_cache", "default"))
        if cache != "default":
            driver["cache"] = cache
        aio = str(hv.get("disk_aio", "threads"))
        if aio in ("native", "io_uring"):
            driver["io"] = aio
        _sub(el, "driver", **driver)
        bus, prefix = _KVM_DISK_BUS.get(str(hv.get("disk_type", "paravirtual")), ("virtio", "vd"))
    else:
        _sub(el, "driver", name="qemu" if d.format == "qcow2" else "file", type=d.format)
        if hypervisor == C.HT_XEN_HVM and hv.get("disk_type") == "ioemu":
            bus, prefix = "ide", "hd"
        else:
            bus, prefix = "xen", "xvd"
    if d.kind == "block":
        _sub(el, "source", dev=d.path)
    else:
        _sub(el, "source", file=d.path)
    _sub(el, "target", dev=_target_name(prefix, idx), bus=bus)
    if d.mode == C.DISK_RDONLY:
        _sub(el, "readonly")
    if d.uuid:
        _sub(el, "serial", d.uuid.replace("-", "")[:20])


def _interface(
    devices: ET.Element,
    hypervisor: str,
    hv: Mapping[str, Any],
    idx: int,
    nic: NicSpec,
    ifup_script: str | None,
    tap: str | None = None,
) -> None:
    if nic.mode == C.NIC_MODE_ROUTED:
        el = _sub(devices, "interface", type="ethernet")
        if tap:
            _sub(el, "target", dev=tap)
    elif nic.mode in (C.NIC_MODE_BRIDGED, C.NIC_MODE_OVS):
        el = _sub(devices, "interface", type="bridge")
        if not nic.link:
            raise errors.HypervisorError(f"nic/{idx}: mode {nic.mode} needs a link")
        _sub(el, "source", bridge=nic.link)
    else:
        raise errors.HypervisorError(f"nic/{idx}: unknown NIC mode {nic.mode!r}")
    _sub(el, "mac", address=nic.mac)
    if nic.mode == C.NIC_MODE_OVS:
        _sub(el, "virtualport", type="openvswitch")
    tags, trunk, native = parse_vlan(nic.vlan)
    if tags:
        if nic.mode != C.NIC_MODE_OVS:
            raise errors.HypervisorError(f"nic/{idx}: vlans need mode {C.NIC_MODE_OVS}")
        vlan = _sub(el, "vlan", **({"trunk": "yes"} if trunk else {}))
        for tag in tags:
            attrs = {"id": str(tag)}
            if native is not None and tag == native and trunk:
                attrs["nativeMode"] = "untagged"
            _sub(vlan, "tag", **attrs)
    if nic.mode == C.NIC_MODE_ROUTED:
        if ifup_script:
            _sub(el, "script", path=ifup_script)
    if hypervisor == C.HT_KVM:
        nic_type = str(hv.get("nic_type", "paravirtual"))
        _sub(el, "model", type=_KVM_NIC_MODELS.get(nic_type, nic_type))
    elif hypervisor == C.HT_XEN_HVM:
        nic_type = str(hv.get("nic_type", "rtl8139"))
        if nic_type != "paravirtual":
            _sub(el, "model", type=nic_type)


def _graphics(devices: ET.Element, hv: Mapping[str, Any], spec: InstanceSpec) -> None:
    port = str(spec.network_port) if spec.network_port else "-1"
    auto = "no" if spec.network_port else "yes"
    vnc = str(hv.get("vnc_bind_address", ""))
    if vnc:
        el = _sub(devices, "graphics", type="vnc", port=port, autoport=auto, listen=vnc)
        if hv.get("keymap"):
            el.set("keymap", str(hv["keymap"]))
        return
    spice = str(hv.get("spice_bind", ""))
    if spice:
        _sub(devices, "graphics", type="spice", port=port, autoport=auto, listen=spice)


def domain_xml(
    spec: InstanceSpec,
    console_log: str | None = None,
    ifup_script: str | Mapping[int, str] | None = None,
) -> str:
    """``ifup_script``: one script for every routed NIC, or one per NIC index."""
    return _domain_xml(spec, console_log, ifup_script)


def _domain_xml(
    spec: InstanceSpec,
    console_log: str | None,
    ifup_script: str | Mapping[int, str] | None,
) -> str:
    """The transient domain definition for ``spec`` (filled hvparams expected)."""
    hypervisor = spec.hypervisor
    hv = spec.hvparams
    dom = ET.Element("domain", type=domain_type(hypervisor, hv))
    _sub(dom, "name", spec.name)
    if spec.uuid:
        _sub(dom, "uuid", spec.uuid)
    meta = _sub(dom, "metadata")
    mark = ET.SubElement(meta, f"{{{METADATA_NS}}}instance")
    ET.SubElement(mark, f"{{{METADATA_NS}}}name").text = spec.name
    ET.SubElement(mark, f"{{{METADATA_NS}}}hypervisor").text = hypervisor
    _sub(dom, "memory", str(spec.memory), unit="MiB")
    _sub(dom, "currentMemory", str(spec.memory), unit="MiB")
    _sub(dom, "vcpu", str(spec.vcpus))
    serial = bool(hv.get("serial_console", True)) and hypervisor != C.HT_LXC
    _os_element(dom, hypervisor, hv, spec, serial)
    features = _sub(dom, "features")
    if hypervisor in (C.HT_KVM, C.HT_XEN_HVM) and hv.get("acpi", True):
        _sub(features, "acpi")
    if hypervisor == C.HT_XEN_HVM and hv.get("pae", True):
        _sub(features, "pae")
    if hypervisor in (C.HT_KVM, C.HT_XEN_HVM):
        _sub(dom, "clock", offset="localtime" if hv.get("use_localtime") else "utc")
    reboot = "destroy" if hv.get("reboot_behavior") == "exit" else "restart"
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", reboot)
    _sub(dom, "on_crash", "destroy")
    devices = _sub(dom, "devices")
    for idx, disk in enumerate(spec.disks):
        _disk(devices, hypervisor, hv, idx, disk)
    if hypervisor == C.HT_KVM and hv.get("cdrom_image_path"):
        cd = _sub(devices, "disk", type="file", device="cdrom")
        _sub(cd, "source", file=str(hv["cdrom_image_path"]))
        _sub(cd, "target", dev="hdc", bus="ide")
        _sub(cd, "readonly")
    for idx, nic in enumerate(spec.nics):
        script = ifup_script.get(idx) if isinstance(ifup_script, Mapping) else ifup_script
        tap = tap_name(spec.name, idx) if nic.mode == C.NIC_MODE_ROUTED else None
        _interface(devices, hypervisor, hv, idx, nic, script, tap)
    if serial and console_log:
        ser = _sub(devices, "serial", type="file")
        _sub(ser, "source", path=console_log)
        _sub(ser, "target", port="0")
    if hypervisor == C.HT_LXC:
        con = _sub(devices, "console", type="pty")
        _sub(con, "target", type="lxc", port="0")
    if hypervisor in (C.HT_KVM, C.HT_XEN_HVM):
        _graphics(devices, hv, spec)
    if hypervisor == C.HT_KVM:
        _sub(devices, "memballoon", model="virtio")
    ET.register_namespace(METADATA_PREFIX, METADATA_NS)
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")
