"""The IAllocator boundary: choose nodes for a new instance.

An allocation request names what is needed (memory, vCPUs, disks, template, how many
nodes) and the candidate nodes with their live figures.  :func:`allocate` answers with
node names in order (primary first) or raises ``OpPrereqError``.

Two allocators exist behind the same call:

* ``""`` / ``"builtin"``: the default: the node with the most free memory among the
  nodes of the most preferred group that can take the instance (``alloc_policy``
  ``preferred`` before ``last_resort``; ``unallocable`` groups never), respecting the
  group's instance policy and free disk space.
* ``"hail"``: the htools allocator, fed an IAllocator request document built from the
  same data (:func:`hail_request`).

Node evacuation and group changes (:func:`node_evacuate`) answer with the IAllocator
``node-evacuate``/``change-group`` triple: instances moved (with their new nodes),
instances that cannot move (with the reason) and the jobs (lists of opcode dicts) that
move the others.  The built-in planner (:func:`builtin_node_evacuate`) places one
instance after the other on the updated figures:

* externally mirrored or shared storage (``sharedfile``, ``rbd``, ...) and ``diskless``:
  the usable node of the target group(s) with the most free memory that holds the
  instance's memory (admin-up instances only; a stopped one needs none); one job
  ``OP_INSTANCE_MIGRATE target_node=... allow_failover=true`` (falls back to failover
  if the instance does not run), or ``OP_INSTANCE_FAILOVER`` for stopped instances and
  ``always_failover`` ones.  Only the free memory is checked: an evacuation may use
  memory an N+1 plan would keep in reserve.
* ``drbd`` primary: migrate to the secondary (which must hold the memory); in mode
  ``all`` followed by a replace-disks to a new secondary.  ``drbd`` secondary:
  ``OP_INSTANCE_REPLACE_DISKS mode=replace_new_secondary`` to the usable node (not the
  primary) with the most free disk space, then memory.
* ``file`` and ``plain`` (node-local storage) cannot move: reported as failed.

This module is pure: no reactor, no RPC; the caller gathers the live data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ganeti import constants as C
from ganeti import errors

BUILTIN = "builtin"
HAIL = "hail"

_POLICY_ORDER = {C.ALLOC_POLICY_PREFERRED: 0, C.ALLOC_POLICY_LAST_RESORT: 1}


@attrs.frozen
class NodeCandidate:
    """One node the instance could go to, with its live figures (MiB)."""

    name: str
    group: str
    alloc_policy: str
    memory_free: int
    memory_total: int = 0
    disk_free: int | None = None  # None: unknown / not relevant (diskless)
    disk_total: int = 0
    cpu_total: int = 1
    usable: bool = True  # online, vm_capable, not drained
    policy_violations: tuple[str, ...] = ()  # the group's ipolicy against the request


@attrs.frozen
class AllocRequest:
    name: str
    memory: int
    vcpus: int
    disk_template: str
    disks: tuple[int, ...]  # sizes in MiB
    nics: int = 1
    required_nodes: int = 1
    spindle_use: int = 1
    os: str = ""
    tags: tuple[str, ...] = ()
    hypervisor: str = C.HT_FAKE

    @property
    def disk_space(self) -> int:
        if self.disk_template in (C.DT_DISKLESS, C.DT_SHARED_FILE):
            return 0
        return sum(self.disks)


def builtin_allocate(request: AllocRequest, nodes: Sequence[NodeCandidate]) -> list[str]:
    """Most free memory first, within the most preferred group that has room."""
    reasons: list[str] = []
    fitting: list[NodeCandidate] = []
    for node in nodes:
        why = _unfit(request, node)
        if why:
            reasons.append(f"{node.name}: {why}")
        else:
            fitting.append(node)
    if len(fitting) < request.required_nodes:
        detail = "; ".join(reasons) if reasons else "no candidate nodes"
        raise errors.OpPrereqError(
            f"cannot allocate instance {request.name!r} "
            f"({request.memory} MiB, {request.disk_space} MiB disk): {detail}",
            errors.ECODE_NORES,
        )
    best_policy = min(_POLICY_ORDER[n.alloc_policy] for n in fitting)
    # Within that policy class, keep to one group: the one whose best node is best.
    fitting = [n for n in fitting if _POLICY_ORDER[n.alloc_policy] == best_policy]
    fitting.sort(key=lambda n: (-n.memory_free, -(n.disk_free or 0), n.name))
    group = fitting[0].group
    chosen = [n for n in fitting if n.group == group][: request.required_nodes]
    if len(chosen) < request.required_nodes:
        raise errors.OpPrereqError(
            f"cannot allocate instance {request.name!r}: group {group} has fewer than "
            f"{request.required_nodes} suitable nodes",
            errors.ECODE_NORES,
        )
    return [n.name for n in chosen]


def _unfit(request: AllocRequest, node: NodeCandidate) -> str:
    if not node.usable:
        return "offline, drained or not vm_capable"
    if node.alloc_policy not in _POLICY_ORDER:
        return "its group is unallocable"
    if node.policy_violations:
        return "instance policy: " + ", ".join(node.policy_violations)
    if node.memory_free < request.memory:
        return f"{node.memory_free} MiB memory free, {request.memory} MiB needed"
    need = request.disk_space
    if need and node.disk_free is not None and node.disk_free < need:
        return f"{node.disk_free} MiB disk free, {need} MiB needed"
    return ""


def hail_request(
    request: AllocRequest, nodes: Sequence[NodeCandidate], ipolicy: Mapping[str, Any]
) -> dict[str, Any]:
    """An IAllocator (version 2) ``allocate`` request document for hail."""
    groups: dict[str, dict[str, Any]] = {}
    node_docs: dict[str, dict[str, Any]] = {}
    for node in nodes:
        groups.setdefault(
            node.group,
            {
                "name": node.group,
                "alloc_policy": node.alloc_policy,
                "ipolicy": dict(ipolicy),
                "networks": [],
                "tags": [],
            },
        )
        node_docs[node.name] = {
            "group": node.group,
            "offline": not node.usable,
            "drained": False,
            "master_candidate": False,
            "vm_capable": node.usable,
            "total_memory": node.memory_total,
            "reserved_memory": max(0, node.memory_total - node.memory_free),
            "free_memory": node.memory_free,
            "total_disk": node.disk_total,
            "free_disk": node.disk_free or 0,
            "total_cpus": node.cpu_total,
            "reserved_cpus": 0,
            "free_spindles": 0,
            "total_spindles": 0,
            "primary_ip": "127.0.0.1",
            "secondary_ip": "127.0.0.1",
            "tags": [],
            "ndparams": {"spindle_count": 1, "exclusive_storage": False},
        }
    return {
        "cluster_name": "cluster",
        "cluster_tags": [],
        "enabled_hypervisors": [request.hypervisor],
        "ipolicy": dict(ipolicy),
        "nodegroups": groups,
        "nodes": node_docs,
        "instances": {},
        "version": 2,
        "request": {
            "type": "allocate",
            "name": request.name,
            "disk_template": request.disk_template,
            "tags": list(request.tags),
            "os": request.os,
            "vcpus": request.vcpus,
            "memory": request.memory,
            "spindle_use": request.spindle_use,
            "disks": [{"size": s, "mode": C.DISK_RDWR} for s in request.disks],
            "disk_space_total": request.disk_space,
            "nics": [{"mac": "auto", "ip": None, "network": None}] * request.nics,
            "required_nodes": request.required_nodes,
            "hypervisor": request.hypervisor,
        },
    }


def allocate(
    name: str,
    request: AllocRequest,
    nodes: Sequence[NodeCandidate],
    ipolicy: Mapping[str, Any] | None = None,
) -> list[str]:
    """Node names for ``request`` chosen by the allocator called ``name``."""
    if name in ("", BUILTIN):
        return builtin_allocate(request, nodes)
    if name == HAIL:
        from ganeti.htools.hail import HailOptions, run_request

        answer = run_request(hail_request(request, nodes, ipolicy or {}), HailOptions())
        if not answer.get("success"):
            raise errors.OpPrereqError(
                f"hail could not allocate {request.name!r}: {answer.get('info')}",
                errors.ECODE_NORES,
            )
        result = answer.get("result") or []
        return [str(n) for n in result]
    raise errors.OpPrereqError(f"unknown iallocator {name!r}", errors.ECODE_INVAL)


# -- node evacuation / change group ---------------------------------------------------


@attrs.frozen
class EvacInstance:
    """An instance of the cluster as the evacuation planner sees it."""

    name: str
    template: str
    nodes: tuple[str, ...]  # primary first, then the secondary (drbd)
    memory: int  # maxmem (MiB)
    vcpus: int = 1
    disks: tuple[int, ...] = ()
    admin_up: bool = True
    always_failover: bool = False
    spindle_use: int = 1
    tags: tuple[str, ...] = ()

    @property
    def primary(self) -> str:
        return self.nodes[0]

    @property
    def secondary(self) -> str | None:
        return self.nodes[1] if len(self.nodes) > 1 else None

    @property
    def disk_space(self) -> int:
        if self.template in (C.DT_DISKLESS, C.DT_SHARED_FILE) or self.template in (
            C.DTS_EXT_MIRROR
        ):
            return 0
        return sum(self.disks)


@attrs.frozen
class EvacRequest:
    """``node-evacuate`` (``evac_mode`` set) or ``change-group`` (``target_groups``)."""

    instances: tuple[str, ...]  # names, in the order they are placed
    evac_mode: str = C.NODE_EVAC_ALL
    change_group: bool = False
    target_groups: tuple[str, ...] = ()  # group names; empty: every other group
    ignore_soft_errors: bool = False


@attrs.frozen
class EvacResult:
    moved: list[list[Any]]  # [instance, group, [nodes]]
    failed: list[list[str]]  # [instance, reason]
    jobs: list[list[dict[str, Any]]]


MOVABLE_SHARED = frozenset(C.DTS_EXT_MIRROR | {C.DT_DISKLESS})


def _op_migrate(inst: EvacInstance, target: str | None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "OP_ID": "OP_INSTANCE_MIGRATE",
        "instance_name": inst.name,
        "allow_failover": True,
    }
    if target is not None:
        op["target_node"] = target
    return op


def _op_failover(inst: EvacInstance, target: str | None) -> dict[str, Any]:
    op: dict[str, Any] = {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": inst.name}
    if target is not None:
        op["target_node"] = target
    return op


def _op_move_primary(inst: EvacInstance, target: str | None) -> dict[str, Any]:
    if inst.admin_up and not inst.always_failover:
        return _op_migrate(inst, target)
    return _op_failover(inst, target)


def _op_replace(inst: EvacInstance, node: str) -> dict[str, Any]:
    return {
        "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
        "instance_name": inst.name,
        "mode": C.REPLACE_DISK_CHG,
        "remote_node": node,
        "disks": [],
    }


class _Planner:
    """The built-in planner's state: free memory and disk per node, updated per move."""

    def __init__(self, nodes: Sequence[NodeCandidate]) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.mem = {n.name: n.memory_free for n in nodes}
        self.disk = {n.name: n.disk_free for n in nodes}

    def usable(self, name: str) -> bool:
        node = self.nodes.get(name)
        return node is not None and node.usable

    def group_of(self, name: str) -> str | None:
        node = self.nodes.get(name)
        return node.group if node is not None else None

    def pick(
        self, groups: set[str], avoid: set[str], memory: int, disk: int, by_disk: bool = False
    ) -> tuple[str | None, str]:
        """The best usable node of ``groups`` not in ``avoid`` (or None and why not)."""
        fitting: list[str] = []
        why: list[str] = []
        for name, node in sorted(self.nodes.items()):
            if node.group not in groups or name in avoid:
                continue
            if not node.usable:
                continue
            if node.alloc_policy not in _POLICY_ORDER:
                continue
            if self.mem[name] < memory:
                why.append(f"{name}: {self.mem[name]} MiB memory free, {memory} MiB needed")
                continue
            free_disk = self.disk[name]
            if disk and free_disk is not None and free_disk < disk:
                why.append(f"{name}: {free_disk} MiB disk free, {disk} MiB needed")
                continue
            fitting.append(name)
        if not fitting:
            return None, "; ".join(why) or "no other usable node"

        def key(name: str) -> tuple[int, int, int, str]:
            node = self.nodes[name]
            mem, dsk = self.mem[name], self.disk[name] or 0
            first, second = (dsk, mem) if by_disk else (mem, dsk)
            return (_POLICY_ORDER[node.alloc_policy], -first, -second, name)

        return min(fitting, key=key), ""

    def take(self, name: str, memory: int, disk: int) -> None:
        self.mem[name] -= memory
        if disk and self.disk[name] is not None:
            self.disk[name] = int(self.disk[name] or 0) - disk

    def give(self, name: str, memory: int, disk: int) -> None:
        if name in self.mem:
            self.mem[name] += memory
            if disk and self.disk[name] is not None:
                self.disk[name] = int(self.disk[name] or 0) + disk


def _plan_one(
    plan: _Planner,
    inst: EvacInstance,
    evacuated: str | None,
    mode: str,
    groups: set[str],
) -> tuple[list[dict[str, Any]], list[str]] | str:
    """Jobs' opcodes and new nodes for one instance, or the reason it cannot move."""
    need = inst.memory if inst.admin_up else 0
    if inst.template in MOVABLE_SHARED:
        target, why = plan.pick(groups, {inst.primary}, need, 0)
        if target is None:
            return f"no node can take it: {why}"
        plan.take(target, need, 0)
        plan.give(inst.primary, need, 0)
        return [_op_move_primary(inst, target)], [target]
    if inst.template != C.DT_DRBD8:
        return (
            f"it has {inst.template!r} disks, which are local to node {inst.primary}: "
            "non-mirrored instances cannot be evacuated (move or remove them first)"
        )
    secondary = inst.secondary
    if secondary is None:
        return "its drbd disks have no secondary node"
    disk = inst.disk_space
    ops: list[dict[str, Any]] = []
    primary = inst.primary
    if evacuated is None:
        # Change group: a new secondary in the group, fail over to it, another secondary.
        first, why = plan.pick(groups, {primary, secondary}, need, disk)
        if first is None:
            return f"no new primary node in the target group(s): {why}"
        plan.take(first, need, disk)
        plan.give(primary, need, 0)
        second, why = plan.pick(groups, {first, primary, secondary}, 0, disk, by_disk=True)
        if second is None:
            return f"no new secondary node in the target group(s): {why}"
        plan.take(second, 0, disk)
        plan.give(primary, 0, disk)
        plan.give(secondary, 0, disk)
        ops = [_op_replace(inst, first), _op_move_primary(inst, None), _op_replace(inst, second)]
        return ops, [first, second]
    if primary == evacuated:
        # A drbd primary: migrate (or fail over) to the secondary.
        if not plan.usable(secondary):
            return f"its secondary node {secondary} is offline, drained or not vm_capable"
        if plan.mem.get(secondary, 0) < need:
            return (
                f"its secondary node {secondary} has {plan.mem.get(secondary, 0)} MiB memory "
                f"free, {need} MiB needed"
            )
        plan.take(secondary, need, 0)
        plan.give(primary, need, 0)
        ops.append(_op_move_primary(inst, None))
        if mode != C.NODE_EVAC_ALL:
            return ops, [secondary, primary]
        # The evacuated node is now the secondary: replace it.
        primary, secondary = secondary, primary
    # Replace the secondary (the evacuated node).
    target, why = plan.pick(groups, {primary, secondary}, 0, disk, by_disk=True)
    if target is None:
        return f"no node can become its new secondary: {why}"
    plan.take(target, 0, disk)
    plan.give(secondary, 0, disk)
    ops.append(_op_replace(inst, target))
    return ops, [primary, target]


def builtin_node_evacuate(
    request: EvacRequest,
    evacuated: str | None,
    instances: Sequence[EvacInstance],
    nodes: Sequence[NodeCandidate],
) -> EvacResult:
    """Plan a node evacuation (``evacuated`` = node name) or a group change (None)."""
    plan = _Planner(nodes)
    by_name = {i.name: i for i in instances}
    all_groups = {n.group for n in nodes}
    moved: list[list[Any]] = []
    failed: list[list[str]] = []
    jobs: list[list[dict[str, Any]]] = []
    for name in request.instances:
        inst = by_name.get(name)
        if inst is None:
            failed.append([name, "unknown instance"])
            continue
        home = plan.group_of(inst.primary)
        mode = request.evac_mode
        if request.change_group:
            current = {plan.group_of(n) for n in inst.nodes}
            wanted = set(request.target_groups) or all_groups
            groups = {g for g in wanted if g not in current}
            if not groups:
                failed.append([name, "no target group other than its current one"])
                continue
            res = _plan_one(plan, inst, None, C.NODE_EVAC_ALL, groups)
        else:
            groups = {home} if home is not None else set()
            if inst.template != C.DT_DRBD8 and inst.primary != evacuated:
                failed.append([name, f"its primary node is not {evacuated}"])
                continue
            res = _plan_one(plan, inst, evacuated, mode, groups)
        if isinstance(res, str):
            failed.append([name, res])
            continue
        ops, new_nodes = res
        moved.append([name, plan.group_of(new_nodes[0]) or "", new_nodes])
        jobs.append(ops)
    return EvacResult(moved, failed, jobs)


def hail_evac_request(
    request: EvacRequest,
    instances: Sequence[EvacInstance],
    nodes: Sequence[NodeCandidate],
    ipolicy: Mapping[str, Any],
    hypervisor: str = C.HT_FAKE,
) -> dict[str, Any]:
    """An IAllocator ``node-evacuate`` / ``change-group`` document for hail."""
    base = AllocRequest(
        name="",
        memory=0,
        vcpus=1,
        disk_template=C.DT_DISKLESS,
        disks=(),
        hypervisor=hypervisor,
    )
    doc = hail_request(base, nodes, ipolicy)
    known = set(doc["nodes"])
    # Instances living (partly) on nodes outside the request do not take part.
    doc["instances"] = {
        i.name: {
            "nodes": list(i.nodes),
            "memory": i.memory,
            "vcpus": i.vcpus,
            "disk_template": i.template,
            "disks": [{"size": s, "mode": C.DISK_RDWR} for s in i.disks],
            "disk_space_total": i.disk_space,
            "spindle_use": i.spindle_use,
            "tags": list(i.tags),
            "nics": [],
            "admin_state": "up" if i.admin_up else "down",
        }
        for i in instances
        if known.issuperset(i.nodes)
    }
    if request.change_group:
        doc["request"] = {
            "type": "change-group",
            "instances": list(request.instances),
            "target_groups": list(request.target_groups),
        }
    else:
        doc["request"] = {
            "type": "node-evacuate",
            "instances": list(request.instances),
            "evac_mode": request.evac_mode,
        }
    return doc


def node_evacuate(
    name: str,
    request: EvacRequest,
    evacuated: str | None,
    instances: Sequence[EvacInstance],
    nodes: Sequence[NodeCandidate],
    ipolicy: Mapping[str, Any] | None = None,
    hypervisor: str = C.HT_FAKE,
) -> EvacResult:
    """The evacuation plan of the allocator called ``name`` (see the module docstring)."""
    if name in ("", BUILTIN):
        return builtin_node_evacuate(request, evacuated, instances, nodes)
    if name == HAIL:
        from ganeti.htools.hail import HailOptions, run_request

        doc = hail_evac_request(request, instances, nodes, ipolicy or {}, hypervisor)
        answer = run_request(doc, HailOptions(ignore_soft_errors=request.ignore_soft_errors))
        if not answer.get("success"):
            raise errors.OpPrereqError(
                f"hail could not plan the evacuation: {answer.get('info')}", errors.ECODE_NORES
            )
        moved, failed, jobs = answer.get("result") or [[], [], []]
        return EvacResult([list(m) for m in moved], [[str(a), str(b)] for a, b in failed], jobs)
    raise errors.OpPrereqError(f"unknown iallocator {name!r}", errors.ECODE_INVAL)
