"""The export manifest ``config.ini``: what ``gnt-backup export`` writes next to the disk
dumps and what an import reads back.

An INI file with the sections Ganeti uses: ``[export]`` (``version``, ``timestamp``,
``source`` node, ``os``, ``compression``), ``[instance]`` (``name``, ``maxmem``,
``minmem``, ``memory``, ``vcpus``, ``disk_template``, ``hypervisor``, ``tags``,
``nic_count`` and ``nic<N>_{mac,ip,network,name,mode,link,vlan}``, ``disk_count`` and
``disk<N>_{ivname,dump,size,name}``), then ``[hypervisor]``, ``[backend]`` and ``[os]``
with the instance's (filled) parameters.  Our additions, ignored by Ganeti:
``[export] dump_method`` (``script``: the dumps are OS export script output, ``raw``:
disk bytes) and ``disk<N>_sha256`` (checksum of each dump, checked on import).
"""

from __future__ import annotations

import configparser
import io
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ganeti import constants as C
from ganeti import errors

FILE_NAME = "config.ini"
SECT_EXPORT = "export"
SECT_INSTANCE = "instance"
SECT_HYPERVISOR = "hypervisor"
SECT_BACKEND = "backend"
SECT_OS = "os"
DUMP_SCRIPT = "script"
DUMP_RAW = "raw"
_NIC_KEYS = ("mac", "ip", "network", "name", "mode", "link", "vlan")


class ManifestError(errors.GanetiError):
    """An export manifest is missing, malformed or of an unknown version."""


@attrs.frozen
class ExportDisk:
    iv_name: str
    dump: str
    size: int  # MiB
    name: str | None = None
    sha256: str | None = None


@attrs.frozen
class ExportNic:
    mac: str
    ip: str | None = None
    network: str | None = None
    name: str | None = None
    mode: str | None = None
    link: str | None = None
    vlan: str | None = None

    def to_opcode(self) -> dict[str, Any]:
        """A NIC dict for OP_INSTANCE_CREATE (empty values left out)."""
        return {k: v for k, v in attrs.asdict(self).items() if v not in (None, "")}


@attrs.frozen
class ExportManifest:
    version: int
    timestamp: int
    source: str
    os: str
    compression: str
    dump_method: str
    name: str
    disk_template: str
    hypervisor: str
    tags: tuple[str, ...]
    disks: tuple[ExportDisk, ...]
    nics: tuple[ExportNic, ...]
    hvparams: Mapping[str, str]
    beparams: Mapping[str, str]
    osparams: Mapping[str, str]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def build(
    instance: Mapping[str, Any],
    disks: Sequence[ExportDisk],
    *,
    source: str,
    timestamp: int,
    compression: str = C.IEC_NONE,
    dump_method: str = DUMP_SCRIPT,
) -> str:
    """``config.ini`` text for an INST_DICT (filled parameters) and its exported disks."""
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
    cp[SECT_EXPORT] = {
        "version": str(C.EXPORT_VERSION),
        "timestamp": str(int(timestamp)),
        "source": source,
        "os": str(instance.get("os") or ""),
        "compression": compression,
        "dump_method": dump_method,
    }
    be = dict(instance.get("beparams") or {})
    sect: dict[str, str] = {
        "name": str(instance["name"]),
        "maxmem": _text(be.get(C.BE_MAXMEM)),
        "minmem": _text(be.get(C.BE_MINMEM)),
        "memory": _text(be.get(C.BE_MAXMEM)),
        "vcpus": _text(be.get(C.BE_VCPUS)),
        "disk_template": str(instance.get("disk_template") or ""),
        "hypervisor": str(instance.get("hypervisor") or ""),
        "tags": " ".join(sorted(instance.get("tags") or ())),
    }
    nics = list(instance.get("nics") or [])
    for idx, nic in enumerate(nics):
        params = dict(nic.get("nicparams") or {})
        sect[f"nic{idx}_mac"] = _text(nic.get("mac"))
        sect[f"nic{idx}_ip"] = _text(nic.get("ip"))
        sect[f"nic{idx}_network"] = _text(nic.get("network"))
        sect[f"nic{idx}_name"] = _text(nic.get("name"))
        for key in (C.NIC_MODE, C.NIC_LINK, C.NIC_VLAN):
            sect[f"nic{idx}_{key}"] = _text(params.get(key))
    sect["nic_count"] = str(len(nics))
    for idx, disk in enumerate(disks):
        sect[f"disk{idx}_ivname"] = disk.iv_name
        sect[f"disk{idx}_dump"] = disk.dump
        sect[f"disk{idx}_size"] = str(disk.size)
        sect[f"disk{idx}_name"] = _text(disk.name)
        if disk.sha256:
            sect[f"disk{idx}_sha256"] = disk.sha256
    sect["disk_count"] = str(len(disks))
    cp[SECT_INSTANCE] = sect
    for name, key in ((SECT_HYPERVISOR, "hvparams"), (SECT_BACKEND, "beparams")):
        cp[name] = {k: _text(v) for k, v in sorted((instance.get(key) or {}).items())}
    cp[SECT_OS] = {k: _text(v) for k, v in sorted((instance.get("osparams") or {}).items())}
    out = io.StringIO()
    cp.write(out)
    return out.getvalue()


def parse(text: str) -> ExportManifest:
    """Read ``config.ini`` text; ManifestError saying what is wrong."""
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        cp.read_string(text)
    except configparser.Error as exc:
        raise ManifestError(f"malformed export manifest: {exc}") from None
    for required in (SECT_EXPORT, SECT_INSTANCE):
        if not cp.has_section(required):
            raise ManifestError(f"export manifest has no [{required}] section")
    exp = cp[SECT_EXPORT]
    ins = cp[SECT_INSTANCE]
    try:
        version = int(exp.get("version", "-1"))
    except ValueError:
        version = -1
    if version != C.EXPORT_VERSION:
        raise ManifestError(
            f"export version {exp.get('version')!r} is not supported (expected {C.EXPORT_VERSION})"
        )

    def count(key: str) -> int:
        try:
            value = int(ins.get(key, "0"))
        except ValueError:
            raise ManifestError(f"[instance] {key} is not a number") from None
        if value < 0:
            raise ManifestError(f"[instance] {key} is negative")
        return value

    disks = []
    for idx in range(count("disk_count")):
        dump = ins.get(f"disk{idx}_dump")
        size = ins.get(f"disk{idx}_size")
        if not dump or not size or not size.isdigit():
            raise ManifestError(f"disk{idx}: missing dump file name or size")
        disks.append(
            ExportDisk(
                iv_name=ins.get(f"disk{idx}_ivname") or f"disk/{idx}",
                dump=dump,
                size=int(size),
                name=ins.get(f"disk{idx}_name") or None,
                sha256=exp.get(f"disk{idx}_sha256") or ins.get(f"disk{idx}_sha256") or None,
            )
        )
    nics = []
    for idx in range(count("nic_count")):
        values = {k: (ins.get(f"nic{idx}_{k}") or None) for k in _NIC_KEYS}
        if not values["mac"]:
            raise ManifestError(f"nic{idx}: missing MAC address")
        nics.append(ExportNic(**values))  # type: ignore[arg-type]

    def section(name: str) -> dict[str, str]:
        return dict(cp[name]) if cp.has_section(name) else {}

    try:
        timestamp = int(exp.get("timestamp", "0"))
    except ValueError:
        timestamp = 0
    return ExportManifest(
        version=version,
        timestamp=timestamp,
        source=exp.get("source", ""),
        os=exp.get("os", ""),
        compression=exp.get("compression", C.IEC_NONE) or C.IEC_NONE,
        dump_method=exp.get("dump_method", DUMP_SCRIPT) or DUMP_SCRIPT,
        name=ins.get("name", ""),
        disk_template=ins.get("disk_template", ""),
        hypervisor=ins.get("hypervisor", ""),
        tags=tuple((ins.get("tags") or "").split()),
        disks=tuple(disks),
        nics=tuple(nics),
        hvparams=section(SECT_HYPERVISOR),
        beparams=section(SECT_BACKEND),
        osparams=section(SECT_OS),
    )
