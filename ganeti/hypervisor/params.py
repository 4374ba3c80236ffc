"""Hypervisor parameter checks: known keys, value types and enumerations.

A full hvparams dict (built-in defaults filled in by the master) is checked against the
built-in defaults of its hypervisor: every key must be known and have the type of its
default; some keys take a value from a fixed set.  ``libvirt_uri`` is accepted for the
libvirt-based hypervisors on top of Ganeti's keys.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from ganeti import constants as C
from ganeti import errors

LIBVIRT_URI = "libvirt_uri"

DEFAULT_URIS: Mapping[str, str] = {
    C.HT_KVM: "qemu:///system",
    C.HT_XEN_PVM: "xen:///system",
    C.HT_XEN_HVM: "xen:///system",
    C.HT_LXC: "lxc:///",
}

KVM_FLAG_VALUES = frozenset({"", "enabled", "disabled"})
BOOT_ORDERS = frozenset({"disk", "cdrom", "network", "floppy"})
KVM_NIC_TYPES = frozenset({"paravirtual", "e1000", "rtl8139", "ne2k_pci", "i82551", "pcnet"})
KVM_DISK_TYPES = frozenset({"paravirtual", "ide", "scsi", "sd", "mtd", "pflash"})
XEN_NIC_TYPES = frozenset({"paravirtual", "rtl8139", "e1000", "ne2k_pci", "ne2k_isa", "i82551"})
XEN_DISK_TYPES = frozenset({"paravirtual", "ioemu"})
DISK_CACHE = frozenset({"default", "none", "writethrough", "writeback"})
DISK_AIO = frozenset({"threads", "native", "io_uring"})
REBOOT_BEHAVIORS = frozenset({"reboot", "exit"})
SECURITY_MODELS = frozenset({"none", "user", "pool"})
MIGRATION_MODES = frozenset(C.HT_MIGRATION_MODES)

_CHOICES: Mapping[str, Mapping[str, frozenset[str]]] = {
    C.HT_KVM: {
        "kvm_flag": KVM_FLAG_VALUES,
        "boot_order": BOOT_ORDERS,
        "nic_type": KVM_NIC_TYPES,
        "disk_type": KVM_DISK_TYPES,
        "disk_cache": DISK_CACHE,
        "disk_aio": DISK_AIO,
        "reboot_behavior": REBOOT_BEHAVIORS,
        "security_model": SECURITY_MODELS,
        C.HV_MIGRATION_MODE: MIGRATION_MODES,
    },
    C.HT_XEN_PVM: {"reboot_behavior": REBOOT_BEHAVIORS, C.HV_MIGRATION_MODE: MIGRATION_MODES},
    C.HT_XEN_HVM: {
        "nic_type": XEN_NIC_TYPES,
        "disk_type": XEN_DISK_TYPES,
        "reboot_behavior": REBOOT_BEHAVIORS,
        C.HV_MIGRATION_MODE: MIGRATION_MODES,
    },
    C.HT_LXC: {"reboot_behavior": REBOOT_BEHAVIORS},
    C.HT_FAKE: {C.HV_MIGRATION_MODE: MIGRATION_MODES},
}

# Keys holding an absolute file path when set.
_PATH_KEYS = frozenset(
    {
        "kernel_path",
        "initrd_path",
        "cdrom_image_path",
        "vnc_password_file",
        "bootloader_path",
        "device_model",
        "mem_path",
    }
)
_ADDRESS_KEYS = frozenset({"vnc_bind_address", "spice_bind"})
_NON_NEGATIVE = frozenset(
    {
        "serial_speed",
        "cpu_cores",
        "cpu_threads",
        "cpu_sockets",
        "cpu_cap",
        "cpu_weight",
        "migration_downtime",
        C.HV_MIGRATION_PORT,
        C.HV_MIGRATION_BANDWIDTH,
        "lxc_num_ttys",
        "lxc_startup_timeout",
    }
)


def known_keys(hypervisor: str) -> frozenset[str]:
    keys = set(C.HVC_DEFAULTS.get(hypervisor, {}))
    if hypervisor in DEFAULT_URIS:
        keys.add(LIBVIRT_URI)
    return frozenset(keys)


def _type_ok(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


def problems(hypervisor: str, hvparams: Mapping[str, Any]) -> list[str]:
    """Everything wrong with ``hvparams`` for ``hypervisor`` (empty when valid)."""
    if hypervisor not in C.HVC_DEFAULTS:
        return [f"unknown hypervisor {hypervisor!r}"]
    if not isinstance(hvparams, Mapping):
        return ["hvparams must be a dict"]
    defaults = C.HVC_DEFAULTS[hypervisor]
    allowed = known_keys(hypervisor)
    choices = _CHOICES.get(hypervisor, {})
    out: list[str] = []
    for key in sorted(hvparams):
        value = hvparams[key]
        if key not in allowed:
            out.append(f"unknown {hypervisor} parameter {key!r}")
            continue
        if key == LIBVIRT_URI:
            if not isinstance(value, str):
                out.append(f"{key} must be a string")
            continue
        default = defaults[key]
        if not _type_ok(value, default):
            out.append(
                f"{hypervisor} parameter {key!r} must be of type {type(default).__name__}, "
                f"got {value!r}"
            )
            continue
        if key in choices and value not in choices[key]:
            allowed_values = ", ".join(repr(v) for v in sorted(choices[key]))
            out.append(f"{hypervisor} parameter {key!r}: {value!r} is not one of {allowed_values}")
        if key in _PATH_KEYS and value and not value.startswith("/"):
            out.append(f"{hypervisor} parameter {key!r} must be an absolute path, got {value!r}")
        if key in _ADDRESS_KEYS and value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                out.append(f"{hypervisor} parameter {key!r}: {value!r} is not an IP address")
        if key in _NON_NEGATIVE and isinstance(value, int | float) and value < 0:
            out.append(f"{hypervisor} parameter {key!r} must not be negative")
    if hvparams.get("initrd_path") and not hvparams.get("kernel_path"):
        out.append(f"{hypervisor}: initrd_path needs kernel_path")
    return out


def validate(hypervisor: str, hvparams: Mapping[str, Any]) -> None:
    found = problems(hypervisor, hvparams)
    if found:
        raise errors.HypervisorError("; ".join(found))


def fill_defaults(hypervisor: str, hvparams: Mapping[str, Any]) -> dict[str, Any]:
    """Built-in defaults overlaid with ``hvparams`` (a node-side safety net)."""
    out = dict(C.HVC_DEFAULTS.get(hypervisor, {}))
    out.update(hvparams)
    return out
