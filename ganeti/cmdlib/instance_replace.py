"""``OP_INSTANCE_REPLACE_DISKS``: rebuild one side of an instance's DRBD mirrors.

Modes (``gnt-instance replace-disks``):

* ``replace_on_primary`` (``-p``) / ``replace_on_secondary`` (``-s``): new data and meta LVs
  on that node, swapped in under the running DRBD device, which then resyncs everything
  from the other side.  Six steps, as in Ganeti: check that the devices exist on both
  nodes; check that the *other* side is consistent; create the new LVs (fresh names);
  for each disk detach the old LVs (``blockdev_removechildren``), rename them to
  ``<name>_replaced-<time>``, rename the new LVs to the old names and attach them
  (``blockdev_addchildren``); wait for the resync; remove the old LVs.
* ``replace_new_secondary`` (``-n NODE`` / ``-I ALLOCATOR``): the mirror moves its second
  half to another node.  New minors there (the port stays); the DRBD device is created on
  the new node without connecting; the old secondary's device is shut down; the primary
  disconnects; the disks' ``logical_id`` gets the new node (the primary keeps its slot,
  so its DRBD node-id does not change); primary and new node connect
  (``drbd_attach_net``, which re-points the primary at its new peer); wait for the
  resync; the old secondary's volumes are removed.  Our node driver creates a DRBD
  device together with its LVs, so step 3 (new storage) makes the LVs *and* the
  unconnected device in one ``blockdev_create`` per disk.
* ``replace_auto`` (``-a``): asks both nodes which disks have a faulty local disk and
  replaces those on that node; refuses when both nodes have faulty disks.

``early_release`` removes the old storage before waiting for the resync and releases the
node locks at that point.  Disks of a stopped instance are activated for the operation
and shut down again afterwards.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, register
from ganeti.cmdlib.instance import ipolicy_violations, new_instance_spec, node_group_name
from ganeti.cmdlib.instance_common import (
    InstanceLU,
    assemble_disks,
    bad,
    check_node_usable,
    disk_dict,
    node_free,
    rpc_payload,
    shutdown_disks,
    storage_free,
)
from ganeti.cmdlib.instance_drbd import (
    disk_consistency,
    lv_child,
    mirror_status,
    secondary_of,
    wait_for_sync,
)
from ganeti.locking import ALL_SET, LEVEL_NODE
from ganeti.masterd import iallocator
from ganeti.objects import Disk, Node, disk_template_of, new_uuid
from ganeti.storage import drbd as drbd_mod

STEPS = 6


def _step(feedback: Feedback, n: int, text: str) -> None:
    feedback(f"STEP {n}/{STEPS} {text}")


def _lv(disk: Disk) -> tuple[str, str]:
    lid = disk.logical_id or []
    return str(lid[0]), str(lid[1])


@register
class LUInstanceReplaceDisks(InstanceLU):
    OP_ID = "OP_INSTANCE_REPLACE_DISKS"

    def expand_names(self) -> None:
        super().expand_names()
        op = self.op
        remote = op.remote_node_uuid or op.remote_node
        if op.mode == C.REPLACE_DISK_CHG:
            if not remote and not op.iallocator:
                raise bad(
                    "changing the secondary needs the new node (-n NODE) or an allocator (-I NAME)"
                )
            if remote and op.iallocator:
                raise bad("give either the new secondary node or an allocator, not both")
            if op.disks:
                raise bad("changing the secondary moves all disks: do not select disks")
        elif remote or op.iallocator:
            raise bad(
                "a new node or an allocator goes only with changing the secondary "
                "(-n/-I, mode replace_new_secondary)"
            )
        if op.mode == C.REPLACE_DISK_AUTO and op.disks:
            raise bad("automatic repair chooses the disks itself: do not select disks")
        self.remote_uuid: str | None = self.cfg.lookup_node(remote).uuid if remote else None

    def declare_locks(self, level: int) -> None:
        if level == LEVEL_NODE and self.op.iallocator:
            self.needed_locks[LEVEL_NODE] = ALL_SET
            return
        super().declare_locks(level)

    def extra_nodes(self) -> list[str]:
        return [self.remote_uuid] if self.remote_uuid else []

    def check_prereq(self) -> None:
        op = self.op
        inst = self.inst
        disks = self.disks
        template = disk_template_of(disks)
        if template != C.DT_DRBD8:
            raise bad(
                f"instance {inst.name} has {template} disks: only drbd disks can be replaced",
                errors.ECODE_INVAL,
            )
        for idx in op.disks or []:
            if idx >= len(disks):
                raise bad(f"instance {inst.name} has no disk/{idx}", errors.ECODE_NOENT)
        self.secondary = secondary_of(self, inst, disks)
        check_node_usable(self.pnode)
        if op.mode in (C.REPLACE_DISK_PRI, C.REPLACE_DISK_SEC, C.REPLACE_DISK_AUTO):
            check_node_usable(self.secondary)
        if self.remote_uuid is not None:
            self.check_new_secondary(self.cfg.get_node(self.remote_uuid))

    def check_new_secondary(self, node: Node) -> None:
        inst = self.inst
        if node.uuid == inst.primary_node:
            raise bad(f"the new secondary {node.name} is the instance's primary node")
        if node.uuid == self.secondary.uuid:
            raise bad(f"node {node.name} already is the secondary node of {inst.name}")
        check_node_usable(node, for_new=True)
        if not self.op.ignore_ipolicy:
            filled = self.cfg.get_cluster().fill_instance_be(inst)
            spec = new_instance_spec(
                filled, [d.size for d in self.disks], len(inst.nics), C.DT_DRBD8
            )
            found = ipolicy_violations(self, node, spec, C.DT_DRBD8)
            if found:
                raise bad(
                    f"instance {inst.name} with a secondary in group "
                    f"{node_group_name(self, node)} violates policy: {', '.join(found)}"
                )

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        inst = self.inst
        pnode = self.pnode
        snode = self.secondary
        activated = False
        if op.mode == C.REPLACE_DISK_AUTO and not inst.disks_active:
            raise bad(
                f"automatic repair needs the disks of {inst.name} active: run "
                f"'gnt-instance activate-disks {inst.name}' first",
                errors.ECODE_STATE,
            )
        if op.mode == C.REPLACE_DISK_CHG:
            new = await self._new_secondary(feedback)
            feedback(f"Replacing the secondary {snode.name} of {inst.name} by {new.name}")
        try:
            if not inst.disks_active:
                feedback(f"* activating the disks of {inst.name} for the replacement")
                await assemble_disks(
                    self, inst, feedback, ignore_secondaries=op.mode == C.REPLACE_DISK_CHG
                )
                activated = True
            if op.mode == C.REPLACE_DISK_CHG:
                await self._change_secondary(new, feedback)
            else:
                if op.mode == C.REPLACE_DISK_AUTO:
                    picked = await self._faulty(pnode, snode)
                    if picked is None:
                        feedback(f"No disks of {inst.name} need replacement")
                        return None
                    target, idxs = picked
                else:
                    target = pnode if op.mode == C.REPLACE_DISK_PRI else snode
                    idxs = list(op.disks or range(len(self.disks)))
                other = snode if target.uuid == pnode.uuid else pnode
                names = ", ".join(f"disk/{i}" for i in idxs)
                feedback(f"Replacing {names} of {inst.name} on {target.name}")
                await self._replace_on(target, other, idxs, feedback)
        finally:
            if activated:
                await shutdown_disks(self, self.inst, feedback)
        return None

    # -- auto ------------------------------------------------------------------------------

    async def _faulty(self, pnode: Node, snode: Node) -> tuple[Node, list[int]] | None:
        found = {}
        for node in (pnode, snode):
            status = await mirror_status(self, node, self.disks)
            found[node.uuid] = [
                i for i, st in enumerate(status) if st and st.get("ldisk_status") == "faulty"
            ]
        if found[pnode.uuid] and found[snode.uuid]:
            raise bad(
                f"instance {self.inst.name} has faulty disks on both nodes "
                f"({pnode.name}, {snode.name}): automatic repair is not possible",
                errors.ECODE_STATE,
            )
        for node in (pnode, snode):
            if found[node.uuid]:
                return node, found[node.uuid]
        return None

    # -- steps shared by the modes ---------------------------------------------------------------

    async def _check_exist(self, nodes: list[Node], disks: list[tuple[int, Disk]]) -> None:
        for node in nodes:
            for idx, disk in disks:
                res = await self.ctx.rpc.call_one(
                    node.name, "blockdev_find", [disk_dict(self.cfg, disk, node.uuid)]
                )
                if not res.ok or not res.payload:
                    why = res.fail_msg if not res.ok else "not active"
                    raise errors.OpExecError(f"cannot find disk/{idx} on node {node.name}: {why}")

    async def _check_peer(
        self, node: Node, disks: list[tuple[int, Disk]], ldisk: bool, feedback: Feedback
    ) -> None:
        feedback(f"- checking the consistency of the disks on {node.name}")
        faulty = await disk_consistency(
            self, node, [d for _i, d in disks], ldisk=ldisk, feedback=feedback
        )
        if faulty:
            names = ", ".join(f"disk/{disks[i][0]}" for i in faulty)
            raise errors.OpExecError(
                f"node {node.name} has degraded storage ({names}): unsafe to replace the "
                f"disks of {self.inst.name}"
            )

    async def _sync_and_cleanup(
        self,
        nodes: list[Node],
        disks: list[Disk],
        remove_old: Any,
        feedback: Feedback,
    ) -> None:
        """Steps 5 and 6 (in the other order with early_release)."""
        if self.op.early_release:
            _step(feedback, 5, "Removing old storage (early release)")
            await remove_old()
            # Other jobs may use the nodes while the mirror resyncs.
            self.ctx.locks.release(self.ctx.job_id, LEVEL_NODE)
            _step(feedback, 6, "Sync devices")
        else:
            _step(feedback, 5, "Sync devices")
        if not await wait_for_sync(self, nodes, disks, feedback):
            raise errors.OpExecError(
                f"the disks of {self.inst.name} are degraded after the replacement"
            )
        if not self.op.early_release:
            _step(feedback, 6, "Removing old storage")
            await remove_old()

    # -- replace on one node ---------------------------------------------------------------

    async def _replace_on(
        self, target: Node, other: Node, idxs: list[int], feedback: Feedback
    ) -> None:
        cfg = self.cfg
        rpc = self.ctx.rpc
        inst = self.inst
        chosen = [(i, self.disks[i]) for i in idxs]
        _step(feedback, 1, "Check device existence")
        await self._check_exist([other, target], chosen)
        _step(feedback, 2, "Check peer consistency")
        await self._check_peer(other, chosen, False, feedback)

        _step(feedback, 3, "Allocate new storage")
        new_children: dict[int, list[Disk]] = {}
        made: list[Disk] = []
        try:
            for idx, disk in chosen:
                prefix = new_uuid()
                kids = []
                for child, suffix in zip(disk.children, ("data", "meta"), strict=True):
                    vg, _lv_name = _lv(child)
                    kids.append(lv_child(vg, f"{prefix}.disk{idx}_{suffix}", child.size))
                for kid in kids:
                    feedback(f"- creating {'/'.join(_lv(kid))} on {target.name}")
                    res = await rpc.call_one(
                        target.name,
                        "blockdev_create",
                        [
                            disk_dict(cfg, kid, target.uuid),
                            kid.size,
                            inst.name,
                            True,
                            f"originstname+{inst.name}",
                            False,
                        ],
                    )
                    rpc_payload(res, f"creating a new volume for disk/{idx} on {target.name}")
                    made.append(kid)
                new_children[idx] = kids
        except errors.OpExecError:
            await self._remove_lvs(target, made, feedback)
            raise

        _step(feedback, 4, "Changing drbd configuration")
        stamp = int(self.ctx.clock.seconds())
        old_lvs: list[Disk] = []
        for idx, disk in chosen:
            dd = disk_dict(cfg, disk, target.uuid)
            olds = list(disk.children)
            kids = new_children[idx]
            feedback(f"- detaching the old volumes of disk/{idx} on {target.name}")
            res = await rpc.call_one(
                target.name,
                "blockdev_removechildren",
                [dd, [disk_dict(cfg, c, target.uuid) for c in olds]],
            )
            rpc_payload(res, f"detaching the local storage of disk/{idx} on {target.name}")
            renamed_old = []
            pairs = []
            for child in olds:
                vg, name = _lv(child)
                moved = lv_child(vg, f"{name}_replaced-{stamp}", child.size)
                renamed_old.append(moved)
                pairs.append([disk_dict(cfg, child, target.uuid), [vg, moved.logical_id[1]]])  # type: ignore[index]
            feedback(f"- renaming the old volumes of disk/{idx} to *_replaced-{stamp}")
            res = await rpc.call_one(target.name, "blockdev_rename", [pairs])
            rpc_payload(res, f"renaming the old volumes of disk/{idx} on {target.name}")
            old_lvs.extend(renamed_old)
            pairs = []
            for kid, child in zip(kids, olds, strict=True):
                pairs.append([disk_dict(cfg, kid, target.uuid), list(child.logical_id or [])])
            feedback(f"- renaming the new volumes of disk/{idx} to the old names")
            res = await rpc.call_one(target.name, "blockdev_rename", [pairs])
            rpc_payload(res, f"renaming the new volumes of disk/{idx} on {target.name}")
            feedback(f"- attaching the new volumes to disk/{idx} on {target.name}")
            res = await rpc.call_one(
                target.name,
                "blockdev_addchildren",
                [dd, [disk_dict(cfg, c, target.uuid) for c in olds]],
            )
            if not res.ok:
                # The new volumes now carry the old names: drop them; the old data stays
                # in the *_replaced volumes.
                await self._remove_lvs(target, olds, feedback)
                raise errors.OpExecError(
                    f"cannot attach the new storage to disk/{idx} on {target.name}: "
                    f"{res.fail_msg}; the old volumes are kept as "
                    f"{', '.join('/'.join(_lv(d)) for d in renamed_old)}"
                )

        async def remove_old() -> None:
            await self._remove_lvs(target, old_lvs, feedback)

        await self._sync_and_cleanup(
            [self.pnode, self.secondary], [d for _i, d in chosen], remove_old, feedback
        )

    async def _remove_lvs(self, node: Node, lvs: list[Disk], feedback: Feedback) -> None:
        for lv in lvs:
            res = await self.ctx.rpc.call_one(
                node.name, "blockdev_remove", [disk_dict(self.cfg, lv, node.uuid)]
            )
            if not res.ok:
                feedback(
                    f"WARNING: cannot remove {'/'.join(_lv(lv))} on {node.name}: "
                    f"{res.fail_msg}; remove it by hand"
                )

    # -- change secondary ------------------------------------------------------------------

    async def _new_secondary(self, feedback: Feedback) -> Node:
        cfg = self.cfg
        if self.remote_uuid is not None:
            return cfg.get_node(self.remote_uuid)
        inst = self.inst
        pnode = self.pnode
        name = self.op.iallocator or cfg.get_cluster().default_iallocator or iallocator.BUILTIN
        usable = [
            n
            for n in cfg.get_nodes()
            if n.uuid not in (pnode.uuid, self.secondary.uuid)
            and not n.offline
            and not n.drained
            and n.vm_capable
            and n.group == pnode.group
        ]
        if not usable:
            raise bad(
                f"no other online, undrained, vm_capable node in the group of {pnode.name} "
                f"for the secondary of {inst.name}",
                errors.ECODE_NORES,
            )
        filled = cfg.get_cluster().fill_instance_be(inst)
        request = iallocator.AllocRequest(
            name=inst.name,
            memory=0,  # a secondary runs nothing
            vcpus=int(filled[C.BE_VCPUS]),
            disk_template=C.DT_DRBD8,
            disks=tuple(d.size + C.DRBD_META_SIZE for d in self.disks),
            nics=len(inst.nics),
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
            candidates.append(
                iallocator.NodeCandidate(
                    name=node.name,
                    group=node.group,
                    alloc_policy=C.ALLOC_POLICY_PREFERRED,
                    memory_free=int(info.get("memory_free") or 0),
                    memory_total=int(info.get("memory_total") or 0),
                    disk_free=storage_free(info, C.DT_DRBD8),
                    cpu_total=int(info.get("cpu_total") or 1),
                )
            )
        chosen = iallocator.allocate(name, request, candidates, cfg.get_cluster().cluster_ipolicy())
        node = cfg.lookup_node(chosen[0])
        feedback(f"Selected new secondary node {node.name} for {inst.name} via iallocator {name}")
        self.check_new_secondary(node)
        return node

    async def _change_secondary(self, new: Node, feedback: Feedback) -> None:
        cfg = self.cfg
        rpc = self.ctx.rpc
        inst = self.inst
        pnode = self.pnode
        old = self.secondary
        disks = self.disks
        chosen = list(enumerate(disks))
        _step(feedback, 1, "Check device existence")
        await self._check_exist([pnode], chosen)
        _step(feedback, 2, "Check peer consistency")
        await self._check_peer(pnode, chosen, True, feedback)

        _step(feedback, 3, "Allocate new storage")
        owner = f"replace-{inst.uuid}"
        minors = cfg.allocate_drbd_minors([new.uuid] * len(disks), owner)
        try:
            new_disks: list[Disk] = []
            for (_idx, disk), minor in zip(chosen, minors, strict=True):
                lid = list(disk.logical_id or [])
                if lid[0] == pnode.uuid:
                    new_lid = [pnode.uuid, new.uuid, lid[2], lid[3], minor, lid[5]]
                else:  # the primary keeps its slot (its DRBD node-id) after a failover
                    new_lid = [new.uuid, pnode.uuid, lid[2], minor, lid[4], lid[5]]
                moved = disk.copy()
                moved.logical_id = new_lid
                moved.nodes = new_lid[:2]
                new_disks.append(moved)
            made: list[Disk] = []
            try:
                for idx, moved in enumerate(new_disks):
                    dd = disk_dict(cfg, moved, new.uuid)
                    dd["params"][drbd_mod.P_STANDALONE] = True
                    feedback(f"- creating disk/{idx} on {new.name} (not connected yet)")
                    res = await rpc.call_one(
                        new.name,
                        "blockdev_create",
                        [dd, moved.size, inst.name, False, f"originstname+{inst.name}", False],
                    )
                    rpc_payload(res, f"creating disk/{idx} on {new.name}")
                    made.append(moved)
            except errors.OpExecError:
                for moved in made:
                    await rpc.call_one(
                        new.name, "blockdev_remove", [disk_dict(cfg, moved, new.uuid)]
                    )
                raise

            _step(feedback, 4, "Changing drbd configuration")
            if old.offline:
                feedback(f"WARNING: old secondary {old.name} is offline: not shutting it down")
            else:
                for idx, disk in chosen:
                    res = await rpc.call_one(
                        old.name, "blockdev_shutdown", [disk_dict(cfg, disk, old.uuid)]
                    )
                    if not res.ok:
                        feedback(
                            f"WARNING: cannot shut down disk/{idx} on the old secondary "
                            f"{old.name}: {res.fail_msg}; clean it up by hand soon"
                        )
            feedback(f"- disconnecting the disks of {pnode.name} from the network")
            res = await rpc.call_one(
                pnode.name,
                "drbd_disconnect_net",
                [[disk_dict(cfg, d, pnode.uuid) for d in disks]],
            )
            rpc_payload(res, f"disconnecting the disks on {pnode.name}")
            feedback("- updating the instance configuration")
            for moved in new_disks:
                current = cfg.get_disk(moved.uuid).copy()
                current.logical_id = moved.logical_id
                current.nodes = list(moved.nodes)
                cfg.update(current)
            await cfg.flush()
        finally:
            cfg.release_drbd_minors(owner)
        new_disks = self.disks
        feedback(f"- connecting {pnode.name} to the new secondary {new.name}")
        for node in (pnode, new):
            res = await rpc.call_one(
                node.name,
                "drbd_attach_net",
                [[disk_dict(cfg, d, node.uuid) for d in new_disks], False],
            )
            if not res.ok:
                feedback(
                    f"WARNING: cannot connect the disks on {node.name}: {res.fail_msg}; "
                    f"run 'gnt-instance activate-disks {inst.name}' to retry"
                )

        async def remove_old() -> None:
            if old.offline:
                feedback(f"WARNING: old secondary {old.name} is offline: remove its volumes later")
                return
            for idx, disk in chosen:
                res = await rpc.call_one(
                    old.name, "blockdev_remove", [disk_dict(cfg, disk, old.uuid)]
                )
                if not res.ok:
                    feedback(
                        f"WARNING: cannot remove disk/{idx} on the old secondary {old.name}: "
                        f"{res.fail_msg}; remove its volumes by hand"
                    )

        await self._sync_and_cleanup([pnode, new], new_disks, remove_old, feedback)
