"""Disk verification: ``OP_CLUSTER_VERIFY_DISKS`` and ``OP_GROUP_VERIFY_DISKS``.

``OP_CLUSTER_VERIFY_DISKS`` (``gnt-cluster verify-disks``) only submits one
``OP_GROUP_VERIFY_DISKS`` job per node group (or for the named group) and returns their
ids (``JobIdListOnly``), as Ganeti does.

``OP_GROUP_VERIFY_DISKS`` looks at the disks of the group's instances on their nodes and
returns Ganeti's triple ``[node errors, instances to activate, missing volumes]``:

* ``{node name: message}``: nodes that could not be asked (unreachable, ``lvs`` failed,
  the DRBD status could not be read);
* ``[instance name, ...]``: instances with active disks (``disks_active``) one of whose
  logical volumes exists but is not activated, or one of whose DRBD devices needs
  activation on one of its nodes (down, or without its local disk; the node's
  ``drbd_needs_activation``) -- ``gnt-instance activate-disks`` repairs these;
* ``{instance name: [[node name, "vg/lv"], ...]}``: logical volumes (plain disks, DRBD
  data and meta volumes) that do not exist on a node that should hold them.  These need
  ``replace-disks``/``recreate-disks``; such an instance is not in the activation list
  (activating it would fail).

Only templates with node-local block devices are checked: ``plain`` and ``drbd``; other
templates (``file``, ``sharedfile``, ``diskless``, ``ext``, ...) contribute nothing.
Offline and non-vm_capable nodes are skipped.  Unlike Ganeti, missing volumes are
reported for every instance of the group, not only for those with active disks.

Locks (all shared): the group, the instances with a node in the group, and their nodes.
``is_strict`` (default, as in Ganeti) waits for all of them; with ``is_strict=false`` (the
watcher's frequent runs) instance and node locks are taken opportunistically: whatever is
free right now, and the instances and nodes other jobs hold are skipped (logged), so a
long replace-disks does not hold up the check.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet.defer import gatherResults

from ganeti import constants as C
from ganeti.cmdlib.base import Feedback, LogicalUnit, ResultWithJobs, register
from ganeti.cmdlib.instance_common import disk_dict
from ganeti.locking import LEVEL_INSTANCE, LEVEL_NODE, LEVEL_NODEGROUP
from ganeti.objects import Disk, Instance, Node


def lvm_volumes(disk: Disk) -> list[str]:
    """``vg/lv`` names of the logical volumes a disk consists of (plain: itself, drbd:
    its data and meta children); none for other templates."""
    lid = disk.logical_id or []
    if disk.dev_type == C.DT_PLAIN and len(lid) == 2:
        return [f"{lid[0]}/{lid[1]}"]
    if disk.dev_type == C.DT_DRBD8:
        return [v for child in disk.children for v in lvm_volumes(child)]
    return []


def _group_instances(lu: LogicalUnit, group_uuid: str) -> list[Instance]:
    """Instances with at least one node in the group."""
    config = lu.cfg.config
    members = {n.uuid for n in lu.cfg.get_nodes() if n.group == group_uuid}
    return [i for i in lu.cfg.get_instances() if members.intersection(config.instance_all_nodes(i))]


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))


@register
class LUGroupVerifyDisks(LogicalUnit):
    """See the module docstring."""

    OP_ID = "OP_GROUP_VERIFY_DISKS"
    REQ_BGL = False

    def expand_names(self) -> None:
        self.group_uuid = self.cfg.lookup_group(self.op.group_name).uuid
        self.wanted_instances = [i.uuid for i in _group_instances(self, self.group_uuid)]
        self.needed_locks[LEVEL_INSTANCE] = list(self.wanted_instances)
        self.needed_locks[LEVEL_NODEGROUP] = [self.group_uuid]
        self.needed_locks[LEVEL_NODE] = []
        for level in (LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE):
            self.share_locks[level] = True
        if not self.op.is_strict:
            self.opportunistic_locks[LEVEL_INSTANCE] = True
            self.opportunistic_locks[LEVEL_NODE] = True

    def declare_locks(self, level: int) -> None:
        if level != LEVEL_NODE:
            return
        config = self.cfg.config
        wanted = [n.uuid for n in self.cfg.get_nodes() if n.group == self.group_uuid]
        for uuid in sorted(self.owned_locks(LEVEL_INSTANCE)):
            inst = config.instances.get(uuid)
            if inst is None:
                continue
            for node in config.instance_all_nodes(inst):
                if node not in wanted and node in config.nodes:
                    wanted.append(node)
        self.wanted_nodes = list(wanted)
        self.needed_locks[LEVEL_NODE] = wanted

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        config = cfg.config
        group = cfg.get_group(self.group_uuid)
        owned_instances = self.owned_locks(LEVEL_INSTANCE)
        owned_nodes = self.owned_locks(LEVEL_NODE)
        instances = sorted(
            (config.instances[u] for u in owned_instances if u in config.instances),
            key=lambda i: i.name,
        )
        skipped_instances = [
            config.instances[u].name
            for u in self.wanted_instances
            if u not in owned_instances and u in config.instances
        ]
        skipped_nodes = [
            config.nodes[u].name
            for u in self.wanted_nodes
            if u not in owned_nodes and u in config.nodes
        ]
        feedback(f"* Verifying the disks of group {group.name!r}: {len(instances)} instance(s)")
        if skipped_instances:
            feedback(f"  - skipping instance(s) held by other jobs: {_names(skipped_instances)}")
        if skipped_nodes:
            feedback(f"  - skipping node(s) held by other jobs: {_names(skipped_nodes)}")

        def usable(uuid: str) -> Node | None:
            node = config.nodes.get(uuid)
            if node is None or uuid not in owned_nodes or node.offline or not node.vm_capable:
                return None
            return node

        # What each usable node should hold.
        # volumes[node][vg/lv] = instance name; active: (node, vg/lv) of instances whose
        # disks are active; drbd[node] = DRBD disk dicts annotated for that node.
        volumes: dict[str, dict[str, str]] = {}
        active: set[tuple[str, str]] = set()
        drbd: dict[str, list[dict[str, Any]]] = {}
        drbd_owner: dict[str, str] = {}
        for inst in instances:
            for disk in config.instance_disks(inst):
                for node_uuid in disk.nodes:
                    if usable(node_uuid) is None:
                        continue
                    for vol in lvm_volumes(disk):
                        volumes.setdefault(node_uuid, {})[vol] = inst.name
                        if inst.disks_active:
                            active.add((node_uuid, vol))
                    if disk.dev_type == C.DT_DRBD8 and inst.disks_active:
                        drbd.setdefault(node_uuid, []).append(disk_dict(cfg, disk, node_uuid))
                        drbd_owner[disk.uuid] = inst.name
        cluster = cfg.get_cluster()
        lvm_enabled = bool(set(cluster.enabled_disk_templates) & {C.DT_PLAIN, C.DT_DRBD8}) and bool(
            cluster.volume_group_name
        )
        # With LVM enabled every usable node of the group is asked (a node that cannot
        # list its volumes is reported even when it holds none of ours yet).
        lv_nodes = set(volumes)
        if lvm_enabled:
            lv_nodes.update(
                n.uuid for n in cfg.get_nodes() if n.group == self.group_uuid and usable(n.uuid)
            )

        node_errors: dict[str, str] = {}
        to_activate: set[str] = set()
        missing: dict[str, list[list[str]]] = {}
        by_vgs: dict[tuple[str, ...], list[str]] = {}
        for node_uuid in sorted(lv_nodes, key=lambda u: config.nodes[u].name):
            vgs = {v.split("/", 1)[0] for v in volumes.get(node_uuid, {})}
            if lvm_enabled and cluster.volume_group_name:
                vgs.add(cluster.volume_group_name)
            by_vgs.setdefault(tuple(sorted(vgs)), []).append(node_uuid)
        if by_vgs:
            feedback(f"* Listing logical volumes on {len(lv_nodes)} node(s)")
        for vg_names, node_uuids in sorted(by_vgs.items()):
            results = await self.ctx.rpc.call(
                [config.nodes[u].name for u in node_uuids], "lv_list", [list(vg_names)]
            )
            for node_uuid in node_uuids:
                name = config.nodes[node_uuid].name
                res = results.get(name)
                if res is None or not res.ok or not isinstance(res.payload, dict):
                    why = "no answer" if res is None else (res.fail_msg or "bad answer")
                    node_errors[name] = f"cannot list logical volumes: {why}"
                    continue
                present: dict[str, Any] = res.payload
                for vol, inst_name in sorted(volumes.get(node_uuid, {}).items()):
                    info = present.get(vol)
                    if info is None:
                        missing.setdefault(inst_name, []).append([name, vol])
                        continue
                    if not (isinstance(info, list | tuple) and len(info) >= 2):
                        node_errors[name] = f"malformed lv_list entry for {vol}: {info!r}"
                        continue
                    if (node_uuid, vol) in active and info[1]:
                        to_activate.add(inst_name)
        if drbd:
            feedback(f"* Checking DRBD devices on {len(drbd)} node(s)")
        # Each node gets its own disk dicts: one call per node, all at once.
        drbd_nodes = sorted(drbd, key=lambda u: config.nodes[u].name)
        answers = await gatherResults(
            [
                self.ctx.rpc.call_one(config.nodes[u].name, "drbd_needs_activation", [drbd[u]])
                for u in drbd_nodes
            ],
            consumeErrors=True,
        )
        for node_uuid, res in zip(drbd_nodes, answers, strict=True):
            name = config.nodes[node_uuid].name
            if not res.ok or not isinstance(res.payload, list):
                node_errors.setdefault(
                    name, f"cannot get the DRBD status: {res.fail_msg or 'bad answer'}"
                )
                continue
            for disk_uuid in res.payload:
                owner = drbd_owner.get(str(disk_uuid))
                if owner is not None:
                    to_activate.add(owner)
        # Activation cannot bring back a volume that is gone.
        to_activate.difference_update(missing)
        for name, msg in sorted(node_errors.items()):
            feedback(f"  - ERROR: node {name}: {msg}")
        for inst_name in sorted(to_activate):
            feedback(f"  - instance {inst_name} needs its disks activated")
        for inst_name, vols in sorted(missing.items()):
            where = ", ".join(f"{vol} on {node}" for node, vol in vols)
            feedback(f"  - ERROR: instance {inst_name}: missing volumes: {where}")
        return [node_errors, sorted(to_activate), missing]


@register
class LUClusterVerifyDisks(LogicalUnit):
    """One ``OP_GROUP_VERIFY_DISKS`` job per node group (or for the named one)."""

    OP_ID = "OP_CLUSTER_VERIFY_DISKS"
    REQ_BGL = False

    def expand_names(self) -> None:
        # Only names are read; the group jobs take their own locks.
        if self.op.group_name:
            self.group_names = [self.cfg.lookup_group(self.op.group_name).name]
        else:
            self.group_names = sorted(g.name for g in self.cfg.get_groups())

    async def exec(self, feedback: Feedback) -> Any:
        strict = bool(self.op.is_strict)
        return ResultWithJobs(
            [
                [{"OP_ID": "OP_GROUP_VERIFY_DISKS", "group_name": name, "is_strict": strict}]
                for name in self.group_names
            ]
        )
