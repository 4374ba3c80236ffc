"""Moving a running instance to another node: live migration and failover.

This first slice handles templates whose disks the target node can already reach:
``diskless`` (nothing to move) and ``sharedfile`` (one directory every node sees).
``file`` would need a storage copy (libvirt's non-shared-disk migration) and ``drbd`` the
dual-primary dance; both are refused with a message saying so, as is ``plain`` (local
volumes: the instance would have to be *moved*, which copies its disks).

Migrate (spec §8.3): ``migration_info`` on the source, disks assembled on the target,
``accept_instance`` on the target, ``instance_migrate`` on the source, poll
``instance_get_migration_status``, ``instance_finalize_migration_src`` (success),
``primary_node`` = target in the configuration, ``instance_finalize_migration_dst``, disks
shut down on the source.  Any failure before the configuration changes aborts: both sides
are finalized with ``success=false`` and the instance keeps running on the source.

Failover: shut the instance down on the source (a dead or offline source is tolerated
with ``ignore_consistency``), deactivate its disks there, switch the configuration, and
start it on the target if its admin state is up.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import deferLater

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib import instance_storage_copy as storage_copy
from ganeti.cmdlib.base import Feedback, register
from ganeti.cmdlib.instance import ipolicy_violations, new_instance_spec, node_group_name
from ganeti.cmdlib.instance_common import (
    InstanceLU,
    assemble_disks,
    bad,
    check_node_usable,
    disk_dict,
    inst_dict,
    node_free,
    rpc_payload,
)
from ganeti.cmdlib.instance_drbd import (
    disk_consistency,
    enter_dual_primary,
    restore_single_primary,
    secondary_of,
)
from ganeti.locking import ALL_SET, LEVEL_NODE
from ganeti.masterd import iallocator
from ganeti.objects import Node, disk_template_of

# Templates whose disks every candidate target can open without copying anything.
MOVABLE_TEMPLATES = (C.DT_DISKLESS, C.DT_SHARED_FILE)
# Seconds between two ``instance_get_migration_status`` polls.
POLL_INTERVAL = 1.0
# Give up on a migration that reports "active" for longer than this.
MIGRATION_TIMEOUT = 3600.0

_STATE_MIGRATING = "migrating"


def template_refusal(template: str, what: str) -> str | None:
    """Why ``what`` (migrate/failover) cannot handle ``template`` here, or None."""
    if template in MOVABLE_TEMPLATES or template == C.DT_DRBD8:
        return None
    if template == C.DT_FILE:
        return (
            f"cannot {what} an instance with 'file' disks: they are local to the node; "
            "'gnt-instance migrate --storage-copy' copies them during a live migration, or "
            "use 'sharedfile' for instances that must move"
        )
    if template == C.DT_PLAIN:
        return (
            f"cannot {what} an instance with 'plain' disks: logical volumes are local to "
            "the node (the instance would have to be moved with a disk copy)"
        )
    return f"cannot {what} an instance with {template!r} disks: not supported here"


def drbd_instance(lu: InstanceLU) -> bool:
    return disk_template_of(lu.disks) == C.DT_DRBD8


def running_copy(info: dict[str, Any]) -> bool:
    """An ``instance_info`` answer that describes a running (not half-accepted) guest."""
    return bool(info) and info.get("state") not in ("shutdown", _STATE_MIGRATING)


class _MoveLU(InstanceLU):
    """What migrate and failover share: the target node and the checks on it."""

    ACTION = ""
    storage_copy = False  # set by check_template (see instance_storage_copy)

    def expand_names(self) -> None:
        super().expand_names()
        op = self.op
        target = op.target_node_uuid or op.target_node
        self.target_uuid: str | None = self.cfg.lookup_node(target).uuid if target else None
        if self.target_uuid is not None and op.iallocator:
            raise bad("give either a target node or an iallocator, not both")

    def declare_locks(self, level: int) -> None:
        if level != LEVEL_NODE:
            return
        if self.target_uuid is None and not drbd_instance(self):
            # The allocator (or the cleanup search) may pick any node.
            self.needed_locks[LEVEL_NODE] = ALL_SET
        else:
            super().declare_locks(level)

    def extra_nodes(self) -> list[str]:
        return [self.target_uuid] if self.target_uuid else []

    # -- checks --

    def check_template(self) -> None:
        self.template = disk_template_of(self.disks)
        self.storage_copy = storage_copy.check(self, self.template)
        why = template_refusal(self.template, self.ACTION)
        if why and not self.storage_copy:
            raise bad(why, errors.ECODE_STATE)
        if self.template == C.DT_DRBD8:
            # The mirror's other half is the only place the instance can go.
            inst = self.inst
            snode = secondary_of(self, inst, self.disks)
            if self.op.iallocator:
                raise bad(
                    f"instance {inst.name} has drbd disks: it can only {self.ACTION} to its "
                    f"secondary node {snode.name}, an allocator cannot choose the target",
                    errors.ECODE_INVAL,
                )
            if self.target_uuid is not None and self.target_uuid != snode.uuid:
                target = self.cfg.get_node(self.target_uuid)
                raise bad(
                    f"instance {inst.name} has drbd disks: it can only {self.ACTION} to its "
                    f"secondary node {snode.name}, not to {target.name} (move the secondary "
                    f"there first: gnt-instance replace-disks -n {target.name} {inst.name})",
                    errors.ECODE_INVAL,
                )

    def check_target(self, target: Node) -> None:
        """A node the instance may go to (state and instance policy)."""
        inst = self.inst
        if target.uuid == inst.primary_node:
            raise bad(
                f"instance {inst.name} already has node {target.name} as its primary",
                errors.ECODE_INVAL,
            )
        check_node_usable(target)
        if target.drained:
            raise bad(f"node {target.name} is drained: no instances move there", errors.ECODE_STATE)
        if not self.op.ignore_ipolicy:
            found = ipolicy_violations(self, target, self.instance_spec(), self.template)
            if found:
                raise bad(
                    f"moving instance {inst.name} to group {node_group_name(self, target)} "
                    f"violates policy: {', '.join(found)}",
                    errors.ECODE_INVAL,
                )

    def instance_spec(self) -> dict[str, int]:
        filled = self.cfg.get_cluster().fill_instance_be(self.inst)
        sizes = [d.size for d in self.disks]
        return new_instance_spec(filled, sizes, len(self.inst.nics), self.template)

    def maxmem(self) -> int:
        return int(self.cfg.get_cluster().fill_instance_be(self.inst)[C.BE_MAXMEM])

    # -- the target --

    async def choose_target(self, feedback: Feedback, memory: int) -> Node:
        """The explicit target, or the allocator's choice among the primary's group."""
        cfg = self.cfg
        if self.target_uuid is not None:
            return cfg.get_node(self.target_uuid)
        if self.template == C.DT_DRBD8:
            target = secondary_of(self, self.inst, self.disks)
            self.check_target(target)
            return target
        inst = self.inst
        pnode = self.pnode
        group = cfg.config.node_group(pnode)
        name = self.op.iallocator or cfg.get_cluster().default_iallocator or iallocator.BUILTIN
        usable = [
            n
            for n in cfg.get_nodes()
            if n.uuid != inst.primary_node
            and not n.offline
            and not n.drained
            and n.vm_capable
            and n.group == pnode.group
        ]
        if not usable:
            raise bad(
                f"no other online, undrained, vm_capable node in group "
                f"{group.name if group else pnode.group} to move {inst.name} to",
                errors.ECODE_NORES,
            )
        filled = cfg.get_cluster().fill_instance_be(inst)
        request = iallocator.AllocRequest(
            name=inst.name,
            memory=memory,
            vcpus=int(filled[C.BE_VCPUS]),
            disk_template=self.template,
            disks=tuple(d.size for d in self.disks),
            nics=len(inst.nics),
            spindle_use=int(filled[C.BE_SPINDLE_USE]),
            os=inst.os,
            hypervisor=inst.hypervisor,
        )
        candidates = []
        for node in usable:
            try:
                info = await node_free(self, node, inst.hypervisor)
            except errors.OpExecError as exc:
                feedback(f"WARNING: node {node.name} did not answer: skipped ({exc})")
                continue
            violations: tuple[str, ...] = ()
            if not self.op.ignore_ipolicy:
                violations = tuple(
                    ipolicy_violations(self, node, self.instance_spec(), self.template)
                )
            candidates.append(
                iallocator.NodeCandidate(
                    name=node.name,
                    group=group.name if group is not None else node.group,
                    alloc_policy=C.ALLOC_POLICY_PREFERRED,
                    memory_free=int(info.get("memory_free") or 0),
                    memory_total=int(info.get("memory_total") or 0),
                    cpu_total=int(info.get("cpu_total") or 1),
                    policy_violations=violations,
                )
            )
        chosen = iallocator.allocate(name, request, candidates, cfg.get_cluster().cluster_ipolicy())
        target = cfg.lookup_node(chosen[0])
        feedback(f"Selected node {target.name} for instance {inst.name} via iallocator {name}")
        self.check_target(target)
        return target

    def target_address(self, node: Node) -> str:
        return node.secondary_ip or node.primary_ip

    # -- disks on one node --

    async def assemble_on(self, node: Node, feedback: Feedback) -> None:
        cfg = self.cfg
        inst = self.inst
        idict = inst_dict(cfg, inst)
        for idx, disk in enumerate(self.disks):
            res = await self.ctx.rpc.call_one(
                node.name,
                "blockdev_assemble",
                [disk_dict(cfg, disk, node.uuid), idict, True, idx],
            )
            rpc_payload(res, f"assembling disk/{idx} of {inst.name}")

    async def shutdown_on(self, node: Node, feedback: Feedback) -> bool:
        """``blockdev_shutdown`` of every disk on ``node`` (warnings only)."""
        ok = True
        if node.offline:
            return ok
        for idx, disk in enumerate(self.disks):
            res = await self.ctx.rpc.call_one(
                node.name, "blockdev_shutdown", [disk_dict(self.cfg, disk, node.uuid)]
            )
            if not res.ok:
                ok = False
                feedback(f"WARNING: cannot shut down disk/{idx} on {node.name}: {res.fail_msg}")
        return ok

    # -- configuration --

    async def switch_primary(self, target: Node) -> None:
        """The instance (and its shared disks) now belong to ``target``."""
        cfg = self.cfg
        for disk in self.disks:
            if disk.dev_type == C.DT_DRBD8:
                continue  # both nodes keep their side; only the primary role moves
            if disk.nodes and disk.nodes != [target.uuid]:
                moved = disk.copy()
                moved.nodes = [target.uuid]
                cfg.update(moved)
        new = self.inst.copy()
        new.primary_node = target.uuid
        cfg.update(new)
        await cfg.flush()

    async def instance_info_on(self, node: Node) -> dict[str, Any] | None:
        """What ``node``'s hypervisor reports about the instance (``{}``: not there)."""
        inst = self.inst
        res = await self.ctx.rpc.call_one(
            node.name,
            "instance_info",
            [inst.name, inst.hypervisor, self.cfg.get_cluster().fill_instance_hv(inst)],
        )
        if not res.ok:
            return None
        return dict(res.payload or {})


@register
class LUInstanceFailover(_MoveLU):
    """Stop the instance on its primary and start it on the target (downtime)."""

    OP_ID = "OP_INSTANCE_FAILOVER"
    ACTION = "fail over"

    def check_prereq(self) -> None:
        self.check_template()
        if self.target_uuid is not None:
            self.check_target(self.cfg.get_node(self.target_uuid))

    async def exec(self, feedback: Feedback) -> Any:
        await failover(self, feedback)
        return None


async def failover(lu: _MoveLU, feedback: Feedback) -> None:
    """The failover steps, shared with ``migrate --allow-failover``."""
    cfg = lu.cfg
    op = lu.op
    inst = lu.inst
    source = lu.pnode
    starting = inst.admin_state == C.ADMINST_UP
    target = await lu.choose_target(feedback, lu.maxmem() if starting else 0)
    ignore = bool(getattr(op, "ignore_consistency", False))
    timeout = getattr(op, "shutdown_timeout", C.DEFAULT_SHUTDOWN_TIMEOUT)
    if starting:
        info = await node_free(lu, target, inst.hypervisor)
        free = info.get("memory_free")
        if isinstance(free, int) and free < lu.maxmem():
            raise bad(
                f"not enough memory on node {target.name} to start {inst.name}: needed "
                f"{lu.maxmem()} MiB, available {free} MiB",
                errors.ECODE_NORES,
            )
    drbd = lu.template == C.DT_DRBD8
    if drbd and inst.disks_active:
        feedback(f"* checking the consistency of the disks on {target.name}")
        faulty = await disk_consistency(lu, target, lu.disks, ldisk=False, feedback=feedback)
        if faulty:
            names = ", ".join(f"disk/{i}" for i in faulty)
            if source.offline or ignore:
                feedback(f"WARNING: {names} degraded on {target.name}; failing over anyway")
            else:
                raise errors.OpExecError(
                    f"{names} of {inst.name} degraded on the target node {target.name}, "
                    "aborting failover (--ignore-consistency to force it)"
                )
    elif drbd:
        feedback("* not checking disk consistency: the disks are not active")
    feedback(f"* shutting down instance {inst.name} on source node {source.name}")
    if source.offline:
        feedback(f"WARNING: source node {source.name} is offline: not shutting down there")
    else:
        res = await lu.ctx.rpc.call_one(
            source.name, "instance_shutdown", [inst_dict(cfg, inst), timeout, op.reason]
        )
        if not res.ok:
            if not ignore:
                raise errors.OpExecError(
                    f"could not shut down instance {inst.name} on node {source.name}: "
                    f"{res.fail_msg} (if the node is dead, use --ignore-consistency)"
                )
            feedback(
                f"WARNING: could not shut down {inst.name} on {source.name} ({res.fail_msg}); "
                f"proceeding anyway: make sure node {source.name} is really down"
            )
    feedback(f"* deactivating the disks of {inst.name} on {source.name}")
    if not await lu.shutdown_on(source, feedback) and not (ignore or source.offline):
        raise errors.OpExecError(
            f"could not deactivate the disks of {inst.name} on {source.name}; "
            "use --ignore-consistency to proceed anyway"
        )
    if drbd:
        # The whole mirror goes down; it comes up again with the roles swapped.
        await lu.shutdown_on(target, feedback)
    feedback(f"* switching the primary node of {inst.name} to {target.name}")
    await lu.switch_primary(target)
    if not starting:
        feedback(f"Instance {inst.name} is not marked up: not starting it on {target.name}")
        return
    inst = lu.inst
    feedback(f"* activating the disks of {inst.name} on {target.name}")
    try:
        if drbd:
            # Secondary side (the old primary, if it answers) first, then Primary here.
            await assemble_disks(lu, inst, feedback, ignore_secondaries=True)
        else:
            await lu.assemble_on(target, feedback)
        feedback(f"* starting instance {inst.name} on {target.name}")
        res = await lu.ctx.rpc.call_one(
            target.name, "instance_start", [inst_dict(cfg, inst), False, op.reason]
        )
        rpc_payload(res, f"starting instance {inst.name}")
    except errors.OpExecError as exc:
        await lu.shutdown_on(target, feedback)
        raise errors.OpExecError(
            f"instance {inst.name} now belongs to {target.name} but could not be started "
            f"there: {exc}"
        ) from None
    if not inst.disks_active:
        lu.set_state(disks_active=True)
        await cfg.flush()


@register
class LUInstanceMigrate(_MoveLU):
    """Live (or non-live) migration of a running instance to another node."""

    OP_ID = "OP_INSTANCE_MIGRATE"
    ACTION = "migrate"

    def check_prereq(self) -> None:
        op = self.op
        self.check_template()
        if op.live is not None and op.mode is not None:
            raise bad("give either 'live' or 'mode', not both")
        if op.live is not None:
            self.live = bool(op.live)
        elif op.mode is not None:
            self.live = op.mode == C.HT_MIGRATION_LIVE
        else:
            hv = self.cfg.get_cluster().fill_instance_hv(self.inst)
            self.live = hv.get(C.HV_MIGRATION_MODE, C.HT_MIGRATION_LIVE) == C.HT_MIGRATION_LIVE
        if op.cleanup:
            if op.allow_failover:
                raise bad("--cleanup and --allow-failover don't go together")
            return
        self.source_usable = not self.pnode.offline
        if self.source_usable:
            check_node_usable(self.pnode)
        elif not op.allow_failover:
            raise bad(
                f"the primary node {self.pnode.name} is offline: use failover",
                errors.ECODE_STATE,
            )
        if self.target_uuid is not None:
            self.check_target(self.cfg.get_node(self.target_uuid))

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        inst = self.inst
        if op.cleanup:
            await self._cleanup(feedback)
            return None
        always = bool(self.cfg.get_cluster().fill_instance_be(inst)[C.BE_ALWAYS_FAILOVER])
        running = False
        if self.source_usable:
            info = await self.instance_info_on(self.pnode)
            if info is None:
                raise errors.OpExecError(
                    f"cannot ask node {self.pnode.name} whether {inst.name} runs"
                )
            running = running_copy(info)
        if not running or always:
            if not (op.allow_failover or always):
                raise bad(
                    f"instance {inst.name} is not running, cannot migrate it; use failover "
                    "(or --allow-failover)",
                    errors.ECODE_STATE,
                )
            why = "is not running" if not running else "has always_failover set"
            feedback(f"Instance {inst.name} {why}: failing over instead")
            await failover(self, feedback)
            return None
        await self._migrate(feedback)
        return None

    async def _memory_check(self, target: Node, feedback: Feedback) -> None:
        inst = self.inst
        info = await node_free(self, target, inst.hypervisor)
        free = info.get("memory_free")
        current = await self.instance_info_on(self.pnode) or {}
        need = int(current.get("memory") or self.maxmem())
        if not isinstance(free, int) or free >= need:
            return
        minmem = int(self.cfg.get_cluster().fill_instance_be(inst)[C.BE_MINMEM])
        if not self.op.allow_runtime_changes or free < minmem:
            raise bad(
                f"not enough memory on node {target.name} to migrate {inst.name}: needed "
                f"{need} MiB, available {free} MiB",
                errors.ECODE_NORES,
            )
        feedback(f"* ballooning {inst.name} down to {free} MiB to fit on {target.name}")
        res = await self.ctx.rpc.call_one(
            self.pnode.name, "instance_balloon_memory", [inst_dict(self.cfg, inst), free]
        )
        rpc_payload(res, f"ballooning {inst.name}")

    async def _hv_versions(self, target: Node) -> None:
        if self.op.ignore_hvversions:
            return
        inst = self.inst
        src = (await node_free(self, self.pnode, inst.hypervisor)).get("hv_version")
        dst = (await node_free(self, target, inst.hypervisor)).get("hv_version")
        if src is not None and dst is not None and list(src) != list(dst):
            raise bad(
                f"hypervisor versions differ: {self.pnode.name} has {src}, {target.name} has "
                f"{dst} (use ignore_hvversions to migrate anyway)",
                errors.ECODE_STATE,
            )

    async def _migrate(self, feedback: Feedback) -> None:
        cfg = self.cfg
        rpc = self.ctx.rpc
        inst = self.inst
        source = self.pnode
        target = await self.choose_target(feedback, self.maxmem())
        await self._memory_check(target, feedback)
        await self._hv_versions(target)
        mode = "live" if self.live else "non-live"
        drbd = self.template == C.DT_DRBD8
        if drbd:
            feedback(f"* checking the consistency of the disks on {target.name}")
            faulty = await disk_consistency(
                self, target, self.disks, ldisk=False, feedback=feedback
            )
            if faulty:
                raise errors.OpExecError(
                    f"{', '.join(f'disk/{i}' for i in faulty)} of {inst.name} degraded or not "
                    f"fully synchronised on the target node {target.name}, aborting migration"
                )
        feedback(f"Migrating instance {inst.name} ({mode}) from {source.name} to {target.name}")
        idict = inst_dict(cfg, inst)
        res = await rpc.call_one(source.name, "migration_info", [idict])
        migration_info = rpc_payload(res, "gathering migration information")
        accepted = False
        created = False  # disk files made on the target for a storage copy
        try:
            if drbd:
                await enter_dual_primary(self, inst, source, target, self.disks, feedback)
            elif self.disks:
                if self.storage_copy:
                    await storage_copy.create_on(self, target, feedback)
                    created = True
                feedback(f"* opening the disks of {inst.name} on {target.name}")
                await self.assemble_on(target, feedback)
            feedback(f"* preparing {target.name} to accept the instance")
            res = await rpc.call_one(
                target.name,
                "accept_instance",
                [idict, migration_info, self.target_address(target)],
            )
            rpc_payload(res, "preparing the target for the migration")
            accepted = True
            feedback(f"* migrating instance to {target.name}")
            res = await rpc.call_one(
                source.name,
                "instance_migrate",
                [cfg.get_cluster().cluster_name, idict, self.target_address(target), self.live],
            )
            rpc_payload(res, "migration")
            await self._wait_migration(source, idict, feedback, target)
        except errors.OpExecError as exc:
            feedback(f"Migration failed, aborting: {exc}")
            await self._abort(source, target, idict, migration_info, accepted, feedback)
            if created:
                await storage_copy.remove_on(self, target, feedback, "the migration failed")
            raise errors.OpExecError(
                f"could not migrate instance {inst.name} to {target.name}: {exc}; it is "
                f"still running on {source.name}"
            ) from None
        res = await rpc.call_one(
            source.name, "instance_finalize_migration_src", [idict, True, self.live]
        )
        if not res.ok:
            raise errors.OpExecError(
                f"could not finalize the migration on the source {source.name}: "
                f"{res.fail_msg}; run 'gnt-instance migrate --cleanup {inst.name}'"
            )
        feedback(f"* the instance now runs on {target.name}: updating the configuration")
        if self.storage_copy:
            await storage_copy.switch_primary(self, target)
        else:
            await self.switch_primary(target)
        res = await rpc.call_one(
            target.name,
            "instance_finalize_migration_dst",
            [inst_dict(cfg, self.inst), migration_info, True],
        )
        if not res.ok:
            raise errors.OpExecError(
                f"could not finalize the migration on the target {target.name}: "
                f"{res.fail_msg}; run 'gnt-instance migrate --cleanup {inst.name}'"
            )
        if drbd:
            # The old primary stays the mirror's secondary, in single-primary mode again.
            await restore_single_primary(
                self, self.inst, source, [source, target], self.disks, feedback, strict=True
            )
        elif self.disks:
            feedback(f"* closing the disks of {inst.name} on {source.name}")
            await self.shutdown_on(source, feedback)
            if self.storage_copy:
                await storage_copy.remove_on(self, source, feedback, "copied to the target")
        feedback("* done")

    async def _wait_migration(
        self,
        source: Node,
        idict: dict[str, Any],
        feedback: Feedback,
        target: Node | None = None,
    ) -> None:
        clock = self.ctx.clock
        start = clock.seconds()
        last_report = start
        while True:
            res = await self.ctx.rpc.call_one(source.name, "instance_get_migration_status", [idict])
            status = rpc_payload(res, "checking the migration status") or {}
            state = status.get("status") if isinstance(status, dict) else None
            if state == "failed":
                detail = status.get("info") or status.get("message") or "the hypervisor said so"
                raise errors.OpExecError(f"migration failed: {detail}")
            if state != "active":
                return
            if target is not None:
                # A target whose node daemon died mid-way cannot be finalized: abort
                # while the source still runs the instance.
                alive = await self.ctx.rpc.call_one(target.name, "version", [])
                if not alive.ok:
                    raise errors.OpExecError(
                        f"the target node {target.name} stopped answering during the "
                        f"migration: {alive.fail_msg}"
                    )
            now = clock.seconds()
            if now - start > MIGRATION_TIMEOUT:
                raise errors.OpExecError(f"migration still active after {MIGRATION_TIMEOUT} s")
            if now - last_report >= 10:
                done, total = status.get("transferred_ram"), status.get("total_ram")
                if done is not None and total:
                    feedback(f"* memory transfer progress: {100.0 * done / total:.1f}%")
                last_report = now
            await deferLater(clock, POLL_INTERVAL, lambda: None)

    async def _abort(
        self,
        source: Node,
        target: Node,
        idict: dict[str, Any],
        migration_info: Any,
        accepted: bool,
        feedback: Feedback,
    ) -> None:
        """Undo a failed migration: the instance stays (or keeps running) on the source."""
        rpc = self.ctx.rpc
        if accepted:
            res = await rpc.call_one(
                target.name, "instance_finalize_migration_dst", [idict, migration_info, False]
            )
            if not res.ok:
                feedback(f"WARNING: aborting on the target {target.name} failed: {res.fail_msg}")
        res = await rpc.call_one(
            source.name, "instance_finalize_migration_src", [idict, False, self.live]
        )
        if not res.ok:
            feedback(f"WARNING: aborting on the source {source.name} failed: {res.fail_msg}")
        if self.template == C.DT_DRBD8:
            await restore_single_primary(
                self, self.inst, target, [source, target], self.disks, feedback, strict=False
            )
        elif self.disks:
            await self.shutdown_on(target, feedback)

    async def _cleanup(self, feedback: Feedback) -> None:
        """After a crashed migration: find where the instance runs and make the config agree."""
        cfg = self.cfg
        inst = self.inst
        source = self.pnode
        drbd = self.template == C.DT_DRBD8
        if self.target_uuid is not None:
            others = [cfg.get_node(self.target_uuid)]
        elif drbd:
            others = [secondary_of(self, inst, self.disks)]
        else:
            others = [
                n
                for n in cfg.get_nodes()
                if n.uuid != inst.primary_node and n.vm_capable and not n.offline
            ]
        if source.offline:
            raise bad(
                f"the primary node {source.name} is offline: cannot clean up, use failover",
                errors.ECODE_STATE,
            )
        src_info = await self.instance_info_on(source)
        if src_info is None:
            raise errors.OpExecError(f"cannot ask {source.name} about instance {inst.name}")
        found: dict[str, tuple[Node, dict[str, Any]]] = {}
        for node in others:
            info = await self.instance_info_on(node)
            if info is None:
                feedback(f"WARNING: node {node.name} did not answer; not considered")
            elif info:
                found[node.name] = (node, info)
        idict = inst_dict(cfg, inst)
        on_source = bool(src_info) and src_info.get("state") != _STATE_MIGRATING
        settled = {n: v for n, v in found.items() if v[1].get("state") != _STATE_MIGRATING}
        pending = {n: v for n, v in found.items() if v[1].get("state") == _STATE_MIGRATING}
        if on_source and settled:
            raise errors.OpExecError(
                f"instance {inst.name} seems to run on {source.name} and on "
                f"{', '.join(sorted(settled))}: stop the wrong copy by hand first"
            )
        if len(settled) > 1:
            raise errors.OpExecError(
                f"instance {inst.name} seems to run on several nodes: {', '.join(sorted(settled))}"
            )
        if on_source:
            feedback(f"Instance {inst.name} runs on its primary {source.name}: reverting")
            for node, _info in pending.values():
                feedback(f"* dropping the half-accepted copy on {node.name}")
                res = await self.ctx.rpc.call_one(
                    node.name, "instance_finalize_migration_dst", [idict, "", False]
                )
                if not res.ok:
                    feedback(f"WARNING: {node.name}: {res.fail_msg}")
                if not drbd:
                    await self.shutdown_on(node, feedback)
            res = await self.ctx.rpc.call_one(
                source.name, "instance_finalize_migration_src", [idict, False, self.live]
            )
            if not res.ok:
                feedback(f"WARNING: {source.name}: {res.fail_msg}")
            if drbd:
                [peer] = others
                await restore_single_primary(
                    self, inst, peer, [source, peer], self.disks, feedback, strict=False
                )
            return
        candidates = settled or pending
        if not candidates:
            raise errors.OpExecError(
                f"instance {inst.name} does not run on {source.name} nor on any other node "
                "checked: nothing to clean up (start it, or use failover)"
            )
        if len(candidates) > 1:
            raise errors.OpExecError(
                f"instance {inst.name} was half-accepted on several nodes: "
                f"{', '.join(sorted(candidates))}; clean up by hand"
            )
        [(node, info)] = candidates.values()
        feedback(f"Instance {inst.name} runs on {node.name}: making it the primary node")
        if info.get("state") == _STATE_MIGRATING:
            # The source finished (its copy is gone); the target was never told.
            await self.switch_primary(node)
            res = await self.ctx.rpc.call_one(
                node.name,
                "instance_finalize_migration_dst",
                [inst_dict(cfg, self.inst), "", True],
            )
            rpc_payload(res, "finalizing the migration on the target")
        else:
            await self.switch_primary(node)
        if drbd:
            await restore_single_primary(
                self, self.inst, source, [source, node], self.disks, feedback, strict=False
            )
        elif self.disks:
            await self.shutdown_on(source, feedback)
