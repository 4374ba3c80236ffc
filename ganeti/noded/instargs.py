"""Decoding the instance and disk arguments of node RPC calls (``INST_DICT``).

An ``INST_DICT`` is ``Instance.to_dict()`` with ``hvparams``, ``beparams`` and ``osparams``
filled with cluster defaults, plus ``disks_info`` (the instance's disk dicts in order),
``secondary_nodes`` and NICs whose ``nicparams`` are filled.  docs/node-procedures.md
lists the exact keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ganeti import constants as C
from ganeti import objects
from ganeti.hypervisor.interface import DISK_LOCAL, DISK_SHARED, DiskRef, InstanceSpec, NicSpec
from ganeti.rpc.server import HandlerError
from ganeti.storage.interface import Assembled, BlockDevice


@attrs.frozen
class InstanceArgs:
    instance: objects.Instance
    disks: tuple[BlockDevice, ...]
    raw: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.instance.name

    def nics(self) -> tuple[NicSpec, ...]:
        out = []
        for nic in self.instance.nics:
            p = nic.nicparams
            out.append(
                NicSpec(
                    mac=nic.mac,
                    mode=str(p.get(C.NIC_MODE, C.NIC_MODE_BRIDGED)),
                    link=str(p.get(C.NIC_LINK, "") or ""),
                    vlan=str(p.get(C.NIC_VLAN, "") or ""),
                    ip=nic.ip,
                    uuid=nic.uuid,
                    name=nic.name,
                )
            )
        return tuple(out)

    def netinfo(self) -> tuple[Mapping[str, Any] | None, ...]:
        out: list[Mapping[str, Any] | None] = []
        for nic in self.instance.nics:
            net = nic.extra.get("netinfo")
            out.append(net if isinstance(net, Mapping) else None)
        return tuple(out)

    def spec(self, assembled: Sequence[Assembled] = ()) -> InstanceSpec:
        inst = self.instance
        refs = []
        for dev, where in zip(self.disks, assembled):
            refs.append(
                DiskRef(
                    path=where.dev_path,
                    kind=where.kind,
                    format=where.format,
                    mode=dev.mode,
                    uri=where.uri,
                    uuid=dev.uuid,
                    name=dev.name,
                    size=dev.size,
                    storage=disk_storage(dev.dev_type),
                )
            )
        return InstanceSpec(
            name=inst.name,
            uuid=inst.uuid,
            hypervisor=inst.hypervisor,
            hvparams=dict(inst.hvparams),
            beparams=dict(inst.beparams),
            disks=tuple(refs),
            nics=self.nics(),
            network_port=inst.network_port,
        )


def disk_storage(dev_type: str) -> str:
    """DiskRef.storage of a disk template: shared (externally mirrored, or DRBD with
    both nodes primary during a migration), local (file, plain) or unknown."""
    if dev_type in C.DTS_EXT_MIRROR or dev_type in C.DTS_INT_MIRROR:
        return DISK_SHARED
    if dev_type in (C.DT_FILE, C.DT_PLAIN):
        return DISK_LOCAL
    return ""


def _check_dict(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise HandlerError(f"{what} must be a dict")
    return value


def parse_instance(data: Any) -> InstanceArgs:
    """Decode an ``INST_DICT``; raises HandlerError on malformed input."""
    raw = _check_dict(data, "instance")
    name = raw.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise HandlerError(f"instance name {name!r} is invalid")
    for key in ("hvparams", "beparams", "osparams", "osparams_private"):
        if key in raw and raw[key] is not None:
            _check_dict(raw[key], f"instance {key}")
    nics = raw.get("nics") or []
    if not isinstance(nics, list) or not all(isinstance(n, Mapping) for n in nics):
        raise HandlerError("instance nics must be a list of dicts")
    try:
        inst = objects.Instance.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise HandlerError(f"malformed instance: {exc}") from None
    if inst.hypervisor not in C.HYPER_TYPES:
        raise HandlerError(f"unknown hypervisor {inst.hypervisor!r}")
    for idx, nic in enumerate(inst.nics):
        if not objects.valid_mac(nic.mac):
            raise HandlerError(f"nic/{idx}: invalid MAC {nic.mac!r}")
        mode = nic.nicparams.get(C.NIC_MODE, C.NIC_MODE_BRIDGED)
        if mode not in C.NIC_VALID_MODES:
            raise HandlerError(f"nic/{idx}: invalid mode {mode!r}")
    disks_info = raw.get("disks_info") or []
    if not isinstance(disks_info, list):
        raise HandlerError("disks_info must be a list of disk dicts")
    return InstanceArgs(inst, tuple(parse_disk(d) for d in disks_info), raw)


def parse_disk(data: Any) -> BlockDevice:
    try:
        return BlockDevice.from_dict(data)
    except Exception as exc:
        raise HandlerError(f"malformed disk: {exc}") from None


def instance_name(value: Any) -> str:
    """An instance given by name or as an ``INST_DICT``."""
    if isinstance(value, Mapping):
        value = value.get("name")
    if not isinstance(value, str) or not value or "/" in value:
        raise HandlerError(f"invalid instance name {value!r}")
    return value
