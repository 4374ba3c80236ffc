"""Instance disk operations: activate, deactivate, grow and recreate disks."""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, register
from ganeti.cmdlib.instance_common import (
    FILE_TEMPLATES,
    InstanceLU,
    all_nodes,
    assemble_disks,
    bad,
    check_node_usable,
    disk_dict,
    instance_running,
    node_free,
    node_name,
    rpc_payload,
    shutdown_disks,
    storage_free,
)
from ganeti.cmdlib.instance_drbd import is_drbd, wait_for_sync
from ganeti.objects import Disk


@register
class LUInstanceActivateDisks(InstanceLU):
    OP_ID = "OP_INSTANCE_ACTIVATE_DISKS"

    def check_prereq(self) -> None:
        check_node_usable(self.pnode)

    async def exec(self, feedback: Feedback) -> Any:
        result = await assemble_disks(self, self.inst, feedback)
        self.set_state(disks_active=True)
        await self.cfg.flush()
        if self.op.wait_for_sync and is_drbd(self.disks):
            nodes = [self.cfg.get_node(n) for n in all_nodes(self.inst, self.disks)]
            if not await wait_for_sync(self, nodes, self.disks, feedback):
                raise errors.OpExecError("some disks of the instance are degraded")
        return result


@register
class LUInstanceDeactivateDisks(InstanceLU):
    OP_ID = "OP_INSTANCE_DEACTIVATE_DISKS"

    async def exec(self, feedback: Feedback) -> Any:
        inst = self.inst
        if not self.op.force and await instance_running(self, inst):
            raise bad(
                f"instance {inst.name} is running; cannot deactivate its disks", errors.ECODE_STATE
            )
        await shutdown_disks(self, inst, feedback, ignore_failures=self.op.force)
        self.set_state(disks_active=False)
        await self.cfg.flush()
        return None


@register
class LUInstanceGrowDisk(InstanceLU):
    OP_ID = "OP_INSTANCE_GROW_DISK"

    def check_prereq(self) -> None:
        op = self.op
        disks = self.disks
        if op.disk >= len(disks):
            raise bad(f"instance {self.inst.name} has no disk/{op.disk}", errors.ECODE_NOENT)
        disk = disks[op.disk]
        if disk.dev_type not in (C.DT_FILE, C.DT_SHARED_FILE, C.DT_PLAIN, C.DT_DRBD8):
            raise bad(f"disks of type {disk.dev_type} cannot be grown here")
        if op.absolute:
            self.amount = op.amount - disk.size
            if self.amount < 0:
                raise bad(
                    f"the new size {op.amount} MiB is smaller than the current {disk.size} MiB"
                )
        else:
            self.amount = op.amount
        self.new_size = disk.size + self.amount
        if not op.ignore_ipolicy:
            group = self.cfg.config.node_group(self.pnode)
            policy = self.cfg.get_cluster().fill_ipolicy(group)
            found = policy.spec_violations({C.ISPEC_DISK_SIZE: self.new_size})
            if found:
                raise bad(f"growing disk/{op.disk} violates the policy: {', '.join(found)}")
        for uuid in disk.nodes:
            check_node_usable(self.cfg.get_node(uuid))

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        op = self.op
        disk = self.disks[op.disk]
        if self.amount == 0:
            feedback(f"disk/{op.disk} already has {disk.size} MiB")
            return None
        for uuid in disk.nodes:
            node = cfg.get_node(uuid)
            free = storage_free(await node_free(self, node, self.inst.hypervisor), disk.dev_type)
            if free is not None and free < self.amount:
                raise bad(
                    f"not enough disk space on node {node.name}: needed {self.amount} MiB, "
                    f"available {free} MiB",
                    errors.ECODE_NORES,
                )
        drbd = disk.dev_type == C.DT_DRBD8
        activated = False
        if drbd and not self.inst.disks_active:
            # DRBD takes a new size only while it runs, connected.
            feedback("* activating the disks of the stopped instance to grow them")
            await assemble_disks(self, self.inst, feedback)
            activated = True
        try:
            for dryrun in (True, False):
                for uuid in disk.nodes:
                    name = node_name(cfg, uuid)
                    res = await self.ctx.rpc.call_one(
                        name,
                        "blockdev_grow",
                        [disk_dict(cfg, disk, uuid), self.amount, dryrun, True, False],
                    )
                    what = f"growing disk/{op.disk} on {name}"
                    rpc_payload(res, what + (" (dry run)" if dryrun else ""))
            if drbd:
                # Both backing LVs are larger: DRBD resizes from the primary (both sides).
                pnode = self.pnode
                res = await self.ctx.rpc.call_one(
                    pnode.name,
                    "blockdev_grow",
                    [disk_dict(cfg, disk, pnode.uuid), self.amount, False, False, False],
                )
                rpc_payload(res, f"resizing the drbd device of disk/{op.disk}")
            new = disk.copy()
            new.size = self.new_size
            for child in new.children[:1]:  # the data LV; the meta LV keeps its size
                child.size = self.new_size
            cfg.update(new)
            await cfg.flush()
            feedback(f"Grew disk/{op.disk} of {self.inst.name} to {self.new_size} MiB")
            if drbd and op.wait_for_sync:
                nodes = [cfg.get_node(n) for n in disk.nodes]
                if not await wait_for_sync(self, nodes, [cfg.get_disk(disk.uuid)], feedback):
                    feedback(f"WARNING: disk/{op.disk} is degraded after growing; check the mirror")
            elif drbd and activated:
                feedback("WARNING: not waiting for the resync: the disks stay active")
                activated = False
        finally:
            if activated:
                await shutdown_disks(self, self.inst, feedback)
        return None


@register
class LUInstanceRecreateDisks(InstanceLU):
    """Make the block devices of a stopped instance anew (data is not restored)."""

    OP_ID = "OP_INSTANCE_RECREATE_DISKS"

    def expand_names(self) -> None:
        super().expand_names()
        names = list(self.op.node_uuids or self.op.nodes or [])
        self.new_nodes = [self.cfg.lookup_node(n).uuid for n in names]

    def extra_nodes(self) -> list[str]:
        return list(self.new_nodes)

    def check_prereq(self) -> None:
        inst = self.inst
        if inst.admin_state == C.ADMINST_UP:
            raise bad(
                f"instance {inst.name} is marked to be up; shut it down first", errors.ECODE_STATE
            )
        disks = self.disks
        self.changes: dict[int, dict[str, Any]] = {}
        for item in self.op.disks or []:
            if isinstance(item, list | tuple):
                idx, changes = item
            else:
                idx, changes = item, {}
            if idx >= len(disks):
                raise bad(f"instance {inst.name} has no disk/{idx}", errors.ECODE_NOENT)
            unknown = sorted(set(changes) - {"size", "spindles"})
            if unknown:
                raise bad(f"disk/{idx}: cannot change {', '.join(unknown)} when recreating")
            self.changes[idx] = dict(changes)
        if not self.changes:
            self.changes = {i: {} for i in range(len(disks))}
        if self.new_nodes:
            if len(self.new_nodes) != 1:
                raise bad("instances with these disk templates need exactly one node")
            if any(d.dev_type not in (C.DT_FILE, C.DT_PLAIN, C.DT_SHARED_FILE) for d in disks):
                raise bad("only file, sharedfile and plain disks can move to another node")
            if len(self.changes) != len(disks):
                raise bad("changing nodes needs all disks to be recreated")
            check_node_usable(self.cfg.get_node(self.new_nodes[0]), for_new=True)
        else:
            check_node_usable(self.pnode)

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        inst = self.inst
        if not self.new_nodes and await instance_running(self, inst):
            raise bad(f"instance {inst.name} is running", errors.ECODE_STATE)
        disks = self.disks
        if self.new_nodes:
            # The config checks that disks live on the primary node: take the disks out,
            # move the instance, put them back on the new node.
            target = self.new_nodes[0]
            for disk in disks:
                cfg.remove_instance_disk(inst.uuid, disk.uuid)
            new_inst = self.inst.copy()
            new_inst.primary_node = target
            cfg.update(new_inst)
            for disk in disks:
                moved = disk.copy()
                moved.nodes = [target]
                cfg.add_instance_disk(inst.uuid, moved)
            disks = self.disks
        for idx in sorted(self.changes):
            disk = disks[idx]
            changes = self.changes[idx]
            if changes:
                changed = disk.copy()
                if "size" in changes:
                    from ganeti.cmdlib.instance_common import parse_size

                    changed.size = parse_size(changes["size"], f"disk/{idx} size")
                if "spindles" in changes:
                    changed.spindles = int(changes["spindles"])
                cfg.update(changed)
                disk = cfg.get_disk(disk.uuid)
            await _recreate(self, inst.name, disk, feedback)
        await cfg.flush()
        return None


async def _recreate(lu: InstanceLU, inst_name: str, disk: Disk, feedback: Feedback) -> None:
    cfg = lu.cfg
    for uuid in disk.nodes:
        name = node_name(cfg, uuid)
        dd = disk_dict(cfg, disk, uuid)
        found = await lu.ctx.rpc.call_one(name, "blockdev_find", [dd])
        if found.ok and found.payload:
            await lu.ctx.rpc.call_one(name, "blockdev_remove", [dd])
        if disk.dev_type in FILE_TEMPLATES and disk.logical_id:
            directory = str(disk.logical_id[1]).rsplit("/", 1)[0]
            res = await lu.ctx.rpc.call_one(name, "file_storage_dir_create", [directory])
            rpc_payload(res, f"creating directory {directory}")
        feedback(f"Creating {disk.iv_name} ({disk.size} MiB) on {name}")
        on_primary = uuid == lu.inst.primary_node
        res = await lu.ctx.rpc.call_one(
            name,
            "blockdev_create",
            [dd, disk.size, inst_name, on_primary, f"originstname+{inst_name}", False],
        )
        rpc_payload(res, f"creating disk {disk.iv_name}")
