"""Helpers shared by the instance logical units: node argument shapes, disk assembly,
parameter checks and the per-instance lock declarations.

Argument shapes follow docs/node-procedures.md: an INST_DICT carries *filled*
parameters and ``disks_info`` (the disk dicts themselves).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, LogicalUnit
from ganeti.cmdlib.group import VALUE_DEFAULT, coerce_value
from ganeti.config.interfaces import IConfigWriter
from ganeti.locking import LEVEL_INSTANCE, LEVEL_NODE
from ganeti.objects import NIC, Disk, Instance, Node, valid_mac
from ganeti.rpc.client import RpcResult
from ganeti.storage import drbd

# Templates this master creates.
SUPPORTED_TEMPLATES = (C.DT_DISKLESS, C.DT_FILE, C.DT_SHARED_FILE, C.DT_PLAIN, C.DT_DRBD8)
LVM_TEMPLATES = (C.DT_PLAIN, C.DT_DRBD8)
FILE_TEMPLATES = (C.DT_FILE, C.DT_SHARED_FILE)
# Extra hypervisor parameter accepted by the libvirt drivers (docs/hypervisors.md).
_LIBVIRT_EXTRA = ("libvirt_uri",)
VALUE_AUTO = "auto"
VALUE_GENERATE = "generate"


def bad(message: str, ecode: str = errors.ECODE_INVAL) -> errors.OpPrereqError:
    return errors.OpPrereqError(message, ecode)


def node_name(cfg: IConfigWriter, uuid: str) -> str:
    try:
        return cfg.get_node(uuid).name
    except errors.OpPrereqError:
        return uuid


def check_node_usable(node: Node, *, for_new: bool = False) -> None:
    """Refuse offline nodes (and, for new instances, drained or non-vm_capable ones)."""
    if node.offline:
        raise bad(f"node {node.name} is offline", errors.ECODE_STATE)
    if not node.vm_capable:
        raise bad(f"node {node.name} is not vm_capable", errors.ECODE_STATE)
    if for_new and node.drained:
        raise bad(f"node {node.name} is drained: no new instances", errors.ECODE_STATE)


def rpc_payload(result: RpcResult, what: str) -> Any:
    """The payload, or OpExecError naming the node and what failed."""
    if not result.ok:
        raise errors.OpExecError(f"{what} failed on node {result.node}: {result.fail_msg}")
    return result.payload


# -- parameters --------------------------------------------------------------------------


def hv_param_defaults(hypervisor: str) -> dict[str, Any]:
    """Defaults of every hvparam a hypervisor accepts, our libvirt extras included."""
    defaults = dict(C.HVC_DEFAULTS.get(hypervisor, {}))
    if hypervisor != C.HT_FAKE:
        for key in _LIBVIRT_EXTRA:
            defaults.setdefault(key, "")
    return defaults


def hv_param_keys(hypervisor: str) -> set[str]:
    keys = set(C.HVC_DEFAULTS.get(hypervisor, {}))
    if hypervisor != C.HT_FAKE:
        keys.update(_LIBVIRT_EXTRA)
    return keys


def apply_param_updates(
    old: Mapping[str, Any],
    updates: Mapping[str, Any] | None,
    defaults: Mapping[str, Any],
    what: str,
    *,
    coerce: bool = True,
    allowed: Iterable[str] | None = None,
) -> dict[str, Any]:
    """``old`` with ``updates`` applied (``"default"`` or null removes an override)."""
    result = dict(old)
    if not updates:
        return result
    if not isinstance(updates, Mapping):
        raise bad(f"{what} must be a dictionary")
    valid = set(allowed) if allowed is not None else set(defaults)
    unknown = sorted(k for k in updates if k not in valid)
    if unknown:
        raise bad(
            f"{what}: unknown parameter(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(valid)) or '(none)'}"
        )
    for key, value in updates.items():
        if value is None or value == VALUE_DEFAULT:
            result.pop(key, None)
        elif coerce and key in defaults and defaults[key] is not None:
            result[key] = coerce_value(key, value, defaults[key], what)
        else:
            result[key] = value
    return result


def update_beparams(old: Mapping[str, Any], updates: Mapping[str, Any] | None) -> dict[str, Any]:
    upd = dict(updates or {})
    if C.BE_MEMORY in upd:  # legacy name: sets both bounds
        mem = upd.pop(C.BE_MEMORY)
        upd.setdefault(C.BE_MAXMEM, mem)
        upd.setdefault(C.BE_MINMEM, mem)
    result = apply_param_updates(old, upd, C.BEC_DEFAULTS, "backend parameters")
    for key in (C.BE_MAXMEM, C.BE_MINMEM, C.BE_VCPUS, C.BE_SPINDLE_USE):
        value = result.get(key)
        if value is not None and value < (0 if key == C.BE_SPINDLE_USE else 1):
            raise bad(f"backend parameters: {key} must be positive, not {value}")
    return result


def check_be_consistent(filled: Mapping[str, Any]) -> None:
    if filled[C.BE_MINMEM] > filled[C.BE_MAXMEM]:
        raise bad(
            f"minmem ({filled[C.BE_MINMEM]}) must not be larger than maxmem ({filled[C.BE_MAXMEM]})"
        )


def update_hvparams(
    hypervisor: str, old: Mapping[str, Any], updates: Mapping[str, Any] | None
) -> dict[str, Any]:
    if updates:
        globals_ = sorted(k for k in updates if k in C.HVC_GLOBALS)
        if globals_:
            raise bad(f"hypervisor parameter(s) {', '.join(globals_)} can only be set cluster-wide")
    return apply_param_updates(
        old,
        updates,
        C.HVC_DEFAULTS.get(hypervisor, {}),
        f"hypervisor parameters ({hypervisor})",
        allowed=hv_param_keys(hypervisor),
    )


def parse_size(value: Any, what: str) -> int:
    """A size in MiB: int, or a string with an optional unit (``512``, ``1G``, ``2T``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise bad(f"{what} must be at least 1 MiB, not {value}")
        return value
    if isinstance(value, str) and value:
        text = value.strip().upper().removesuffix("B").removesuffix("I")
        mult = {"M": 1, "G": 1024, "T": 1024 * 1024}
        factor = 1
        if text and text[-1] in mult:
            factor = mult[text[-1]]
            text = text[:-1]
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            size = int(number * factor)
            if size >= 1:
                return size
    raise bad(f"{what}: invalid size {value!r} (use MiB or a unit, e.g. 1G)")


# -- MAC addresses ---------------------------------------------------------------------------


def used_macs(cfg: IConfigWriter) -> set[str]:
    return {nic.mac for inst in cfg.get_instances() for nic in inst.nics}


def generate_mac(cfg: IConfigWriter, taken: set[str], rng: random.Random | None = None) -> str:
    """A MAC with the cluster prefix, unique in the cluster and not in ``taken``."""
    prefix = cfg.get_cluster().mac_prefix
    rnd = rng or random.SystemRandom()
    in_use = used_macs(cfg) | taken
    for _ in range(1000):
        mac = f"{prefix}:{rnd.randrange(256):02x}:{rnd.randrange(256):02x}:{rnd.randrange(256):02x}"
        if mac not in in_use:
            taken.add(mac)
            return mac
    raise bad("cannot generate a unique MAC address", errors.ECODE_NORES)


def build_nic(cfg: IConfigWriter, spec: Mapping[str, Any], taken: set[str], idx: int) -> NIC:
    """A NIC from a user dict (``mac`` auto/generate or given, ``ip``, ``mode``, ``link``...)."""
    if not isinstance(spec, Mapping):
        raise bad(f"nic/{idx}: must be a dictionary")
    known = {"mac", "ip", "mode", "link", "vlan", "name", "network"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise bad(f"nic/{idx}: unknown parameter(s) {', '.join(unknown)}")
    mac = spec.get("mac") or VALUE_AUTO
    if mac in (VALUE_AUTO, VALUE_GENERATE):
        mac = generate_mac(cfg, taken)
    else:
        mac = str(mac).lower()
        if not valid_mac(mac):
            raise bad(f"nic/{idx}: invalid MAC address {mac!r}")
        if mac in taken or mac in used_macs(cfg):
            raise bad(f"MAC address {mac} is already in use", errors.ECODE_NOTUNIQUE)
        taken.add(mac)
    nicparams: dict[str, Any] = {}
    mode = spec.get("mode")
    if mode is not None:
        if mode not in C.NIC_VALID_MODES:
            raise bad(f"nic/{idx}: invalid mode {mode!r}")
        nicparams[C.NIC_MODE] = mode
    for key in (C.NIC_LINK, C.NIC_VLAN):
        if spec.get(key) is not None:
            nicparams[key] = str(spec[key])
    network = None
    if spec.get("network"):
        network = cfg.lookup_network(str(spec["network"])).uuid
    ip = spec.get("ip")
    if ip in ("", "none", None):
        ip = None
    return NIC(mac=mac, ip=ip, name=spec.get("name"), network=network, nicparams=nicparams)


# -- node argument shapes ---------------------------------------------------------------------


def disk_dict(cfg: IConfigWriter, disk: Disk, node_uuid: str | None = None) -> dict[str, Any]:
    """A disk dict with filled parameters, as the node procedures take it."""
    data = disk.to_dict()
    group = None
    if node_uuid is not None:
        try:
            group = cfg.config.node_group(cfg.get_node(node_uuid))
        except errors.OpPrereqError:
            group = None
    data["params"] = cfg.get_cluster().fill_disk_params(disk.dev_type, group, disk.params)
    if disk.dev_type == C.DT_DRBD8 and node_uuid is not None and disk.logical_id:
        # The node needs its side of the mirror: own and peer secondary IPs, peer name.
        peers = {}
        for uuid in disk.logical_id[:2]:
            node = cfg.get_node(uuid)
            peers[uuid] = drbd.NodeAddr(node.name, node.secondary_ip or node.primary_ip)
        data = drbd.annotate(data, node_uuid, peers)
    return data


def inst_dict(
    cfg: IConfigWriter,
    inst: Instance,
    *,
    hvparams: Mapping[str, Any] | None = None,
    beparams: Mapping[str, Any] | None = None,
    osparams: Mapping[str, Any] | None = None,
    disks: Sequence[Disk] | None = None,
) -> dict[str, Any]:
    """INST_DICT: the instance with filled hv/be/os/nic parameters and ``disks_info``."""
    cluster = cfg.get_cluster()
    data = inst.to_dict()
    hvp = cluster.fill_instance_hv(inst)
    if hvparams:
        hvp.update(hvparams)
    bep = cluster.fill_instance_be(inst)
    if beparams:
        bep.update(update_beparams({}, beparams))
    osp = cluster.fill_os(inst.os, inst.osparams)
    if osparams:
        osp.update(osparams)
    data["hvparams"] = hvp
    data["beparams"] = bep
    data["osparams"] = osp
    data["osparams_private"] = cluster.fill_os_private(inst.os, inst.osparams_private)
    nics = []
    for nic in inst.nics:
        nd = nic.to_dict()
        nd["nicparams"] = cfg.config.filled_nicparams(inst, nic)
        if nic.network:
            try:
                nd["netinfo"] = cfg.get_network(nic.network).to_dict()
            except errors.OpPrereqError:
                pass
        nics.append(nd)
    data["nics"] = nics
    disk_objs = list(disks) if disks is not None else cfg.config.instance_disks(inst)
    data["disks_info"] = [disk_dict(cfg, d, inst.primary_node) for d in disk_objs]
    snodes: list[str] = []
    for d in disk_objs:
        for n in d.nodes:
            if n != inst.primary_node and n not in snodes:
                snodes.append(n)
    data["secondary_nodes"] = [node_name(cfg, n) for n in snodes]
    data["primary_node_name"] = node_name(cfg, inst.primary_node)
    return data


def all_nodes(inst: Instance, disks: Sequence[Disk]) -> list[str]:
    result = [inst.primary_node]
    for d in disks:
        for n in d.nodes:
            if n not in result:
                result.append(n)
    return result


# -- locks -------------------------------------------------------------------------------------


class InstanceLU(LogicalUnit):
    """An LU acting on one existing instance: locks it and its nodes."""

    REQ_BGL = False
    SHARED_NODES = False

    def expand_names(self) -> None:
        name = self.op.instance_uuid or self.op.instance_name
        self.instance_uuid = self.cfg.lookup_instance(name).uuid
        self.needed_locks[LEVEL_INSTANCE] = [self.instance_uuid]
        self.needed_locks[LEVEL_NODE] = []
        self.share_locks[LEVEL_NODE] = self.SHARED_NODES

    def declare_locks(self, level: int) -> None:
        if level == LEVEL_NODE:
            inst = self.cfg.get_instance(self.instance_uuid)
            disks = self.cfg.config.instance_disks(inst)
            self.needed_locks[LEVEL_NODE] = all_nodes(inst, disks) + self.extra_nodes()

    def extra_nodes(self) -> list[str]:
        return []

    @property
    def inst(self) -> Instance:
        return self.cfg.get_instance(self.instance_uuid)

    @property
    def disks(self) -> list[Disk]:
        return self.cfg.config.instance_disks(self.inst)

    @property
    def pnode(self) -> Node:
        return self.cfg.get_node(self.inst.primary_node)

    def save(self, inst: Instance) -> None:
        self.cfg.update(inst)

    def set_state(self, **changes: Any) -> None:
        """Change attributes of the instance in the config (serial-checked copy)."""
        new = self.inst.copy()
        changed = False
        for key, value in changes.items():
            if getattr(new, key) != value:
                setattr(new, key, value)
                changed = True
        if changed:
            self.cfg.update(new)


# -- runtime state and disks ---------------------------------------------------------------------


async def instance_running(lu: LogicalUnit, inst: Instance) -> bool:
    """Whether the hypervisor on the primary runs the instance (a guest-stopped one is not)."""
    node = lu.cfg.get_node(inst.primary_node)
    if node.offline:
        return False
    res = await lu.ctx.rpc.call_one(
        node.name,
        "instance_info",
        [inst.name, inst.hypervisor, lu.cfg.get_cluster().fill_instance_hv(inst)],
    )
    info = rpc_payload(res, f"checking whether {inst.name} runs")
    return bool(info) and info.get("state") != "shutdown"


async def assemble_disks(
    lu: LogicalUnit, inst: Instance, feedback: Feedback, *, ignore_secondaries: bool = False
) -> list[list[Any]]:
    """Assemble every disk: secondaries first, then the primary.  ``[node, iv_name, path]``."""
    cfg = lu.cfg
    disks = cfg.config.instance_disks(inst)
    idict = inst_dict(cfg, inst, disks=disks)
    result: list[list[Any]] = []
    for on_primary in (False, True):
        for idx, disk in enumerate(disks):
            for node_uuid in disk.nodes:
                if (node_uuid == inst.primary_node) != on_primary:
                    continue
                name = node_name(cfg, node_uuid)
                res = await lu.ctx.rpc.call_one(
                    name,
                    "blockdev_assemble",
                    [disk_dict(cfg, disk, node_uuid), idict, on_primary, idx],
                )
                if not res.ok:
                    msg = f"cannot assemble disk/{idx} on node {name}: {res.fail_msg}"
                    if not on_primary and ignore_secondaries:
                        feedback(f"WARNING: {msg}")
                        continue
                    raise errors.OpExecError(msg)
                if on_primary:
                    path = res.payload[0] if isinstance(res.payload, list) else res.payload
                    result.append([name, disk.iv_name or f"disk/{idx}", path])
    return result


async def shutdown_disks(
    lu: LogicalUnit, inst: Instance, feedback: Feedback, *, ignore_failures: bool = True
) -> bool:
    """``blockdev_shutdown`` of every disk on every node; False if one failed."""
    cfg = lu.cfg
    ok = True
    for disk in cfg.config.instance_disks(inst):
        for node_uuid in disk.nodes:
            node = cfg.get_node(node_uuid)
            if node.offline:
                continue
            res = await lu.ctx.rpc.call_one(
                node.name, "blockdev_shutdown", [disk_dict(cfg, disk, node_uuid)]
            )
            if not res.ok:
                ok = False
                msg = f"cannot shut down disk {disk.iv_name} on {node.name}: {res.fail_msg}"
                if not ignore_failures:
                    raise errors.OpExecError(msg)
                feedback(f"WARNING: {msg}")
    return ok


async def remove_disks(
    lu: LogicalUnit, inst: Instance, disks: Sequence[Disk], feedback: Feedback
) -> bool:
    """``blockdev_remove`` on every node of each disk, then the file storage directories."""
    cfg = lu.cfg
    ok = True
    dirs: dict[str, set[str]] = {}
    for disk in disks:
        for node_uuid in disk.nodes:
            node = cfg.get_node(node_uuid)
            if node.offline:
                continue
            res = await lu.ctx.rpc.call_one(
                node.name, "blockdev_remove", [disk_dict(cfg, disk, node_uuid)]
            )
            if not res.ok:
                ok = False
                feedback(
                    f"WARNING: could not remove disk {disk.iv_name} on {node.name}: {res.fail_msg}"
                )
            if disk.dev_type in FILE_TEMPLATES and disk.logical_id:
                dirs.setdefault(node.name, set()).add(str(disk.logical_id[1]).rsplit("/", 1)[0])
    for name, paths in dirs.items():
        for path in sorted(paths):
            # Only removes empty directories; other disks of the instance may still be there.
            await lu.ctx.rpc.call_one(name, "file_storage_dir_remove", [path])
    return ok


async def node_free(lu: LogicalUnit, node: Node, inst_hv: str) -> dict[str, Any]:
    """Live memory and storage figures of one node (``node_info``)."""
    cluster = lu.cfg.get_cluster()
    storage: list[Any] = []
    if cluster.file_storage_dir:
        storage.append([C.DT_FILE, cluster.file_storage_dir, []])
    if cluster.volume_group_name:
        storage.append(["lvm-vg", cluster.volume_group_name, []])
    res = await lu.ctx.rpc.call_one(
        node.name, "node_info", [storage, [[inst_hv, cluster.hvparams.get(inst_hv, {})]]]
    )
    payload = rpc_payload(res, "node_info")
    _boot, units, hvs = payload
    out: dict[str, Any] = {"storage": {}}
    for spec, unit in zip(storage, units, strict=False):
        out["storage"][spec[0]] = unit
    if hvs:
        out.update(hvs[0])
    return out


def storage_free(info: Mapping[str, Any], template: str) -> int | None:
    key = "lvm-vg" if template in LVM_TEMPLATES else C.DT_FILE
    unit = info.get("storage", {}).get(key)
    if template not in (C.DT_FILE, *LVM_TEMPLATES) or not unit:
        return None
    value = unit.get("storage_free")
    return int(value) if isinstance(value, int | float) else None


def require_memory(info: Mapping[str, Any], needed: int, node: str, what: str) -> None:
    free = info.get("memory_free")
    if isinstance(free, int) and free < needed:
        raise bad(
            f"not enough memory on node {node} to {what}: needed {needed} MiB, "
            f"available {free} MiB",
            errors.ECODE_NORES,
        )
