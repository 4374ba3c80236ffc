"""OP_INSTANCE_SET_PARAMS: backend/hypervisor/OS parameters, NICs, disks, memory.

Most changes take effect at the next start.  ``runtime_mem`` balloons a running
instance now.  Result: ``[[parameter, new value], ...]`` as Ganeti prints it.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, register
from ganeti.cmdlib.instance import create_disks, make_disk, new_instance_spec, parse_disk_spec
from ganeti.cmdlib.instance_common import (
    InstanceLU,
    bad,
    build_nic,
    check_be_consistent,
    check_node_usable,
    disk_dict,
    inst_dict,
    instance_running,
    node_free,
    node_name,
    rpc_payload,
    storage_free,
    update_beparams,
    update_hvparams,
)
from ganeti.objects import Disk


def normalize_mods(mods: list[Any], what: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """``[action, index_or_name, params]``; the legacy ``[index|add|remove, params]`` too."""
    out: list[tuple[str, Any, dict[str, Any]]] = []
    for item in mods:
        if len(item) == 3:
            action, ident, params = item
        else:
            key, params = item
            if key in (C.DDM_ADD, C.DDM_REMOVE):
                action, ident = key, -1
            else:
                action, ident = C.DDM_MODIFY, key
        if action in (C.DDM_ATTACH, C.DDM_DETACH):
            raise bad(f"{what}: {action} is not supported")
        out.append((action, ident, dict(params or {})))
    return out


def _find(items: list[Any], ident: Any, what: str, name_of: Any) -> int:
    if isinstance(ident, int):
        idx = len(items) - 1 if ident == -1 else ident
        if not 0 <= idx < len(items):
            raise bad(f"{what}: no item with index {ident}", errors.ECODE_NOENT)
        return idx
    for idx, item in enumerate(items):
        if name_of(item) == ident or getattr(item, "uuid", None) == ident:
            return idx
    raise bad(f"{what}: no item named {ident!r}", errors.ECODE_NOENT)


@register
class LUInstanceSetParams(InstanceLU):
    OP_ID = "OP_INSTANCE_SET_PARAMS"

    def check_prereq(self) -> None:
        op = self.op
        cfg = self.cfg
        inst = self.inst
        cluster = cfg.get_cluster()
        unsupported = [
            name
            for name in ("disk_template", "pnode", "pnode_uuid", "remote_node", "iallocator")
            if getattr(op, name)
        ]
        if unsupported:
            raise bad(f"changing {', '.join(unsupported)} is not supported here")
        self.result: list[list[Any]] = []
        self.new = inst.copy()
        new = self.new
        if op.beparams:
            new.beparams = update_beparams(inst.beparams, op.beparams)
            check_be_consistent(cluster.fill_be(new.beparams))
            for key, value in sorted(op.beparams.items()):
                self.result.append([f"be/{key}", value])
        if op.hvparams:
            new.hvparams = update_hvparams(inst.hypervisor, inst.hvparams, op.hvparams)
            for key, value in sorted(op.hvparams.items()):
                self.result.append([f"hv/{key}", value])
        if op.os_name and op.os_name != inst.os:
            new.os = op.os_name
            self.result.append(["os", op.os_name])
        if op.osparams:
            merged = dict(inst.osparams)
            for key, value in op.osparams.items():
                if value is None or value == "default":
                    merged.pop(key, None)
                else:
                    merged[key] = value
                self.result.append([f"os/{key}", value])
            new.osparams = merged
        if op.osparams_private:
            new.osparams_private = {**inst.osparams_private, **op.osparams_private}
        # NICs.
        taken: set[str] = set()
        nics = list(new.nics)
        for action, ident, params in normalize_mods(op.nics, "nics"):
            if action == C.DDM_ADD:
                nic = build_nic(cfg, params, taken, len(nics))
                pos = len(nics) if ident == -1 else int(ident)
                if not 0 <= pos <= len(nics):
                    raise bad(f"nics: cannot add at index {ident}")
                nics.insert(pos, nic)
                self.result.append([f"nic.{pos}", f"add:mac={nic.mac},ip={nic.ip}"])
            elif action == C.DDM_REMOVE:
                pos = _find(nics, ident, "nics", lambda n: n.name)
                nics.pop(pos)
                self.result.append([f"nic.{pos}", "remove"])
            else:
                pos = _find(nics, ident, "nics", lambda n: n.name)
                old_nic = nics[pos]
                spec = {k: v for k, v in params.items() if k != "mac"}
                if params.get("mac") and params["mac"] != old_nic.mac:
                    spec["mac"] = params["mac"]
                changed = build_nic(cfg, spec, taken, pos)
                if "mac" not in spec:
                    changed.mac = old_nic.mac
                changed.uuid = old_nic.uuid
                if "ip" not in params:
                    changed.ip = old_nic.ip
                if "name" not in params:
                    changed.name = old_nic.name
                merged = dict(old_nic.nicparams)
                merged.update(changed.nicparams)
                changed.nicparams = merged
                nics[pos] = changed
                for key, value in sorted(params.items()):
                    self.result.append([f"nic.{key}/{pos}", value])
        if len(nics) > C.MAX_NICS:
            raise bad(f"at most {C.MAX_NICS} NICs")
        new.nics = nics
        # Disks.
        self.disk_mods = normalize_mods(op.disks, "disks")
        template = cfg.config.instance_disk_template(inst)
        disks = list(self.disks)
        self.removed: list[Disk] = []
        self.added: list[dict[str, Any]] = []
        for action, ident, params in self.disk_mods:
            if action == C.DDM_ADD:
                if template == C.DT_DISKLESS:
                    raise bad("cannot add disks to a diskless instance (template change)")
                self.added.append(parse_disk_spec(params, len(disks) + len(self.added)))
            elif action == C.DDM_REMOVE:
                pos = _find(disks, ident, "disks", lambda d: d.name)
                if len(disks) - len(self.removed) <= 1:
                    raise bad("cannot remove the last disk of an instance")
                self.removed.append(disks[pos])
            else:
                pos = _find(disks, ident, "disks", lambda d: d.name)
                unknown = sorted(set(params) - {"name", "mode"})
                if unknown:
                    raise bad(f"disks: cannot modify {', '.join(unknown)} (use grow-disk)")
        if (self.removed or self.added) and inst.admin_state == C.ADMINST_UP:
            raise bad(
                f"instance {inst.name} must be stopped to add or remove disks (no hotplug)",
                errors.ECODE_STATE,
            )
        if op.offline is not None:
            if op.offline:
                if inst.admin_state == C.ADMINST_UP:
                    raise bad(f"instance {inst.name} is up; shut it down first", errors.ECODE_STATE)
                new.admin_state = C.ADMINST_OFFLINE
            elif inst.admin_state == C.ADMINST_OFFLINE:
                new.admin_state = C.ADMINST_DOWN
            self.result.append(["admin_state", new.admin_state])
        if op.runtime_mem is not None:
            self.result.append(["runtime_memory", op.runtime_mem])
        if not self.result and not self.disk_mods:
            raise bad("no changes requested")
        # Policy on the resulting instance.
        if not op.ignore_ipolicy:
            filled = cluster.fill_be(new.beparams)
            sizes = [d.size for d in disks if d not in self.removed]
            sizes += [d["size"] for d in self.added]
            spec = new_instance_spec(filled, sizes or [0], len(new.nics), template)
            group = cfg.config.node_group(self.pnode)
            found = cluster.fill_ipolicy(group).spec_violations(spec)
            if found:
                raise bad(f"the change violates the instance policy: {', '.join(found)}")
        check_node_usable(self.pnode)

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        op = self.op
        inst = self.inst
        pnode = self.pnode
        rpc = self.ctx.rpc
        new = self.new
        cluster = cfg.get_cluster()
        if op.hvparams:
            filled = cluster.fill_hv(new.hypervisor, new.os, new.hvparams)
            res = await rpc.call_one(
                pnode.name, "hypervisor_validate_params", [new.hypervisor, filled]
            )
            if not res.ok:
                raise bad(f"invalid hypervisor parameters: {res.fail_msg}")
        if op.os_name or op.osparams:
            filled_os = cluster.fill_os(new.os, new.osparams)
            res = await rpc.call_one(
                pnode.name,
                "os_validate",
                [True, new.os, ["parameters"], filled_os, op.force_variant],
            )
            if not res.ok:
                raise bad(f"OS {new.os!r} rejects the change on {pnode.name}: {res.fail_msg}")
        if op.runtime_mem is not None:
            if not await instance_running(self, inst):
                raise bad(
                    f"instance {inst.name} is not running: cannot change its memory now",
                    errors.ECODE_STATE,
                )
            res = await rpc.call_one(
                pnode.name, "instance_balloon_memory", [inst_dict(cfg, inst), op.runtime_mem]
            )
            rpc_payload(res, "changing the runtime memory")
        if self.added:
            need = sum(d["size"] for d in self.added)
            template = cfg.config.instance_disk_template(inst)
            free = storage_free(await node_free(self, pnode, inst.hypervisor), template)
            if free is not None and free < need:
                raise bad(
                    f"not enough disk space on node {pnode.name}: needed {need} MiB, "
                    f"available {free} MiB",
                    errors.ECODE_NORES,
                )
        # Parameters and NICs first (checked for conflicts by the config writer).
        cfg.update(new)
        # Disk modifications.
        for action, ident, params in self.disk_mods:
            if action == C.DDM_MODIFY:
                disks = self.disks
                pos = _find(disks, ident, "disks", lambda d: d.name)
                changed = disks[pos].copy()
                for key in ("name", "mode"):
                    if key in params:
                        setattr(changed, key, params[key])
                        self.result.append([f"disk.{key}/{pos}", params[key]])
                cfg.update(changed)
        for disk in self.removed:
            pos = self.inst.disks.index(disk.uuid)
            for uuid in disk.nodes:
                name = node_name(cfg, uuid)
                dd = disk_dict(cfg, disk, uuid)
                await rpc.call_one(name, "blockdev_shutdown", [dd])
                res = await rpc.call_one(name, "blockdev_remove", [dd])
                if not res.ok:
                    feedback(f"WARNING: could not remove {disk.iv_name} on {name}: {res.fail_msg}")
            cfg.remove_instance_disk(inst.uuid, disk.uuid)
            self.result.append([f"disk/{pos}", "remove"])
        if self.removed:
            self._renumber()
        template = cfg.config.instance_disk_template(self.inst)
        for spec in self.added:
            idx = len(self.inst.disks)
            disk = make_disk(
                self, template, spec, idx, pnode.uuid, self.inst.name, self._file_driver()
            )
            await create_disks(self, self.inst.name, [disk], feedback)
            try:
                cfg.add_instance_disk(inst.uuid, disk)
            except errors.GanetiError:
                await rpc.call_one(pnode.name, "blockdev_remove", [disk_dict(cfg, disk)])
                raise
            self.result.append([f"disk/{idx}", f"add:size={disk.size},mode={disk.mode}"])
        await cfg.flush()
        return self.result

    def _file_driver(self) -> str | None:
        for disk in self.disks:
            if disk.logical_id and disk.dev_type in (C.DT_FILE, C.DT_SHARED_FILE):
                return str(disk.logical_id[0])
        return None

    def _renumber(self) -> None:
        for idx, disk in enumerate(self.disks):
            want = f"disk/{idx}"
            if disk.iv_name != want:
                changed = disk.copy()
                changed.iv_name = want
                self.cfg.update(changed)
