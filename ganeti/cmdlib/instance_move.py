"""``OP_INSTANCE_MOVE`` (``gnt-instance move -n NODE INSTANCE``): move a non-redundant
instance to another node by copying its disks.

Templates: ``file`` and ``plain`` disks are copied byte for byte over the node-to-node
TLS transfer (:mod:`ganeti.cmdlib.impexp`); ``sharedfile`` and ``diskless`` instances
only change node (the target already sees the shared files).  ``drbd`` instances have a
mirror to fail over to and are refused, as are templates this cluster cannot create.

Steps: the instance is shut down on the source (a failure stops the move unless
``ignore_consistency``: the operator says the node is dead), its disks deactivated there;
new disks with the same logical ids are created on the target (the storage is
node-local, so the names do not clash) and filled from the source; the configuration is
switched (primary node and each disk's node); the source's disks are removed; the
instance is started on the target if its admin state is up.  Until the configuration is
switched, any failure removes the target's new disks, restarts the instance on the source
if it was running there, and fails the job: the instance stays on the source, intact.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib import impexp
from ganeti.cmdlib.base import Feedback, register
from ganeti.cmdlib.instance import create_disks, ipolicy_violations, new_instance_spec
from ganeti.cmdlib.instance_common import (
    FILE_TEMPLATES,
    InstanceLU,
    assemble_disks,
    bad,
    check_node_usable,
    disk_dict,
    inst_dict,
    instance_running,
    node_free,
    remove_disks,
    require_memory,
    rpc_payload,
)
from ganeti.objects import Disk, Node, disk_template_of

COPY_TEMPLATES = (C.DT_FILE, C.DT_PLAIN)
SWITCH_TEMPLATES = (C.DT_SHARED_FILE, C.DT_DISKLESS)
MIB = 1024 * 1024


def expected_bytes(disk: Disk) -> int | None:
    """The byte count a raw copy of ``disk`` has (None for image formats like qcow2)."""
    if disk.dev_type in FILE_TEMPLATES and (disk.params or {}).get("format") not in (
        None,
        "raw",
    ):
        return None
    return disk.size * MIB


@register
class LUInstanceMove(InstanceLU):
    OP_ID = "OP_INSTANCE_MOVE"

    def expand_names(self) -> None:
        super().expand_names()
        self.target_uuid = self.cfg.lookup_node(
            self.op.target_node_uuid or self.op.target_node
        ).uuid

    def extra_nodes(self) -> list[str]:
        return [self.target_uuid]

    def check_prereq(self) -> None:
        inst = self.inst
        target = self.cfg.get_node(self.target_uuid)
        self.template = disk_template_of(self.disks)
        if self.template not in COPY_TEMPLATES + SWITCH_TEMPLATES:
            hint = " (fail it over to its secondary instead)" if self.template == C.DT_DRBD8 else ""
            raise bad(
                f"instance {inst.name} has {self.template} disks, which cannot be moved{hint}",
                errors.ECODE_STATE,
            )
        if target.uuid == inst.primary_node:
            raise bad(f"instance {inst.name} is already on node {target.name}", errors.ECODE_INVAL)
        check_node_usable(target)
        if self.pnode.offline and self.template in COPY_TEMPLATES:
            raise bad(
                f"the instance's node {self.pnode.name} is offline: its {self.template} disks "
                "cannot be copied from there",
                errors.ECODE_STATE,
            )
        if target.drained:
            raise bad(f"node {target.name} is drained: no instances move there", errors.ECODE_STATE)
        self.compress = impexp.check_compression(self.op.compress)
        if not self.op.ignore_ipolicy:
            filled = self.cfg.get_cluster().fill_instance_be(inst)
            spec = new_instance_spec(
                filled, [d.size for d in self.disks], len(inst.nics), self.template
            )
            found = ipolicy_violations(self, target, spec, self.template)
            if found:
                raise bad(
                    f"moving instance {inst.name} to node {target.name} violates the "
                    f"instance policy: {', '.join(found)}",
                    errors.ECODE_INVAL,
                )

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        inst = self.inst
        source = self.pnode
        target = cfg.get_node(self.target_uuid)
        admin_up = inst.admin_state == C.ADMINST_UP
        if admin_up:
            maxmem = int(cfg.get_cluster().fill_instance_be(inst)[C.BE_MAXMEM])
            info = await node_free(self, target, inst.hypervisor)
            require_memory(info, maxmem, target.name, f"start instance {inst.name}")

        was_running = await self._stop_on_source(source, feedback)
        copies: list[Disk] = []
        if self.template in COPY_TEMPLATES:
            try:
                copies = await self._copy_disks(source, target, feedback)
            except errors.GanetiError:
                if was_running:
                    await self._restart_on_source(source, feedback)
                raise
        old_disks = [d.copy() for d in self.disks]
        feedback(f"* switching instance {inst.name} to node {target.name} in the configuration")
        # The configuration insists that node-local disks live on the primary: take the
        # disks out, switch the primary, put them back on the target.  No await in
        # between, so no commit can see a half-switched instance.
        disks = self.disks
        for disk in disks:
            cfg.remove_instance_disk(inst.uuid, disk.uuid)
        new = self.inst.copy()
        new.primary_node = target.uuid
        new.disks_active = False
        cfg.update(new)
        for disk in disks:
            moved = disk.copy()
            moved.nodes = [target.uuid]
            cfg.add_instance_disk(inst.uuid, moved)
        await cfg.flush()
        if copies:
            feedback(f"* removing the old disks on {source.name}")
            if not await remove_disks(self, self.inst.copy(), old_disks, feedback):
                feedback(f"WARNING: some disks of {inst.name} remain on {source.name}")
        if admin_up:
            await self._start_on_target(target, feedback)

    async def _stop_on_source(self, source: Node, feedback: Feedback) -> bool:
        """Shut the instance down on the source; whether it was running there."""
        cfg = self.cfg
        inst = self.inst
        op = self.op
        if source.offline:
            if not op.ignore_consistency:
                raise bad(
                    f"source node {source.name} is offline; use --ignore-consistency if the "
                    "instance is known to be down (its disks cannot be copied from there)",
                    errors.ECODE_STATE,
                )
            return False
        try:
            running = await instance_running(self, inst)
        except errors.OpExecError:
            if not op.ignore_consistency:
                raise
            running = False
        feedback(f"* shutting down instance {inst.name} on source node {source.name}")
        res = await self.ctx.rpc.call_one(
            source.name,
            "instance_shutdown",
            [inst_dict(cfg, inst), op.shutdown_timeout, op.reason],
        )
        if not res.ok:
            msg = f"could not shut down instance {inst.name} on {source.name}: {res.fail_msg}"
            if not op.ignore_consistency:
                raise errors.OpExecError(msg)
            feedback(f"WARNING: {msg}; proceeding anyway (--ignore-consistency)")
        for disk in self.disks:
            res = await self.ctx.rpc.call_one(
                source.name, "blockdev_shutdown", [disk_dict(cfg, disk, source.uuid)]
            )
            if not res.ok:
                feedback(f"WARNING: cannot deactivate {disk.iv_name} on {source.name}")
        return running

    async def _copy_disks(self, source: Node, target: Node, feedback: Feedback) -> list[Disk]:
        cfg = self.cfg
        inst = self.inst
        copies = []
        for disk in self.disks:
            copy = disk.copy()
            copy.nodes = [target.uuid]
            copies.append(copy)
        feedback(f"* creating {len(copies)} disk(s) on target node {target.name}")
        await create_disks(self, inst.name, copies, feedback)
        try:
            for idx, (disk, copy) in enumerate(zip(self.disks, copies, strict=True)):
                feedback(
                    f"* copying disk/{idx} ({disk.size} MiB) from {source.name} to {target.name}"
                )
                done = await impexp.transfer(
                    self,
                    src=source,
                    dst=target,
                    source=["raw", disk_dict(cfg, disk, source.uuid)],
                    dest=["raw", disk_dict(cfg, copy, target.uuid)],
                    component=f"disk{idx}",
                    feedback=feedback,
                    compress=self.compress,
                    expected_size=expected_bytes(disk),
                )
                feedback(
                    f"  - disk/{idx}: {done.size} bytes in {done.seconds:.1f}s, "
                    f"sha256 {done.sha256[:16]}... verified"
                )
        except errors.GanetiError as exc:
            feedback(f"* copy failed ({exc}); removing the new disks on {target.name}")
            await remove_disks(self, inst.copy(), copies, feedback)
            raise errors.OpExecError(
                f"moving {inst.name} to {target.name} failed: {exc}; the instance stays on "
                f"{source.name}"
            ) from None
        return copies

    async def _restart_on_source(self, source: Node, feedback: Feedback) -> None:
        inst = self.inst
        feedback(f"* starting instance {inst.name} again on {source.name}")
        try:
            await assemble_disks(self, inst, feedback)
            res = await self.ctx.rpc.call_one(
                source.name, "instance_start", [inst_dict(self.cfg, inst), False, self.op.reason]
            )
            rpc_payload(res, "restarting the instance on its source node")
        except errors.GanetiError as exc:
            feedback(f"WARNING: could not restart {inst.name} on {source.name}: {exc}")

    async def _start_on_target(self, target: Node, feedback: Feedback) -> None:
        cfg = self.cfg
        inst = self.inst
        feedback(f"* starting instance {inst.name} on node {target.name}")
        try:
            await assemble_disks(self, inst, feedback)
            res = await self.ctx.rpc.call_one(
                target.name, "instance_start", [inst_dict(cfg, inst), False, self.op.reason]
            )
            rpc_payload(res, "starting the instance")
        except errors.GanetiError as exc:
            raise errors.OpExecError(
                f"instance {inst.name} was moved to {target.name} but could not be started "
                f"there: {exc}"
            ) from None
        started = self.inst.copy()
        started.disks_active = True
        cfg.update(started)
        await cfg.flush()
