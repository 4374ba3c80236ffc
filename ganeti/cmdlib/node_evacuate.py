"""Moving every instance off a node: node migrate, node evacuate, instance change-group.

These LUs move nothing themselves.  Like Ganeti, they plan and return a
:class:`~ganeti.cmdlib.base.ResultWithJobs`: the processor submits one job per instance
(``OP_INSTANCE_MIGRATE``, ``OP_INSTANCE_FAILOVER``, ``OP_INSTANCE_REPLACE_DISKS``) and
the opcode's result is ``{"jobs": [[true, id] | [false, message], ...]}``.  The jobs
then run (and lock) on their own; the CLI waits for them.

* ``OP_NODE_MIGRATE``: one ``OP_INSTANCE_MIGRATE`` per primary instance of the node,
  passing ``mode``/``live``, ``target_node``, ``iallocator``, ``allow_runtime_changes``
  and ``ignore_ipolicy`` through; each job chooses its own target (as in Ganeti).
* ``OP_NODE_EVACUATE``: the instances selected by ``mode`` (``primary-only``,
  ``secondary-only``, ``all``) are planned through the IAllocator ``node-evacuate``
  request (:func:`ganeti.masterd.iallocator.node_evacuate`: the built-in planner, or
  ``hail`` in process) on the live memory and disk figures of the group's nodes.  If any
  instance cannot move (``file``/``plain`` disks are node-local), the whole request is
  refused naming them and nothing is submitted.  With ``remote_node`` (secondaries
  only) every drbd instance gets a replace-disks to that node, without an allocator.
* ``OP_INSTANCE_CHANGE_GROUP``: the same planner's ``change-group`` request for one
  instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, LogicalUnit, ResultWithJobs, register
from ganeti.cmdlib.instance_common import bad
from ganeti.locking import ALL_SET, LEVEL_INSTANCE, LEVEL_NODE
from ganeti.masterd import iallocator
from ganeti.objects import Instance, Node, disk_template_of


def primary_instances(lu: LogicalUnit, node_uuid: str) -> list[Instance]:
    return sorted(
        (i for i in lu.cfg.get_instances() if i.primary_node == node_uuid), key=lambda i: i.name
    )


def secondary_instances(lu: LogicalUnit, node_uuid: str) -> list[Instance]:
    out = []
    for inst in lu.cfg.get_instances():
        if inst.primary_node == node_uuid:
            continue
        if any(node_uuid in d.nodes for d in lu.cfg.config.instance_disks(inst)):
            out.append(inst)
    return sorted(out, key=lambda i: i.name)


def evac_instance(lu: LogicalUnit, inst: Instance) -> iallocator.EvacInstance:
    """What the planner needs to know about one instance."""
    cfg = lu.cfg
    disks = cfg.config.instance_disks(inst)
    nodes = [inst.primary_node]
    for disk in disks:
        nodes.extend(n for n in disk.nodes if n not in nodes)
    filled = cfg.get_cluster().fill_instance_be(inst)
    return iallocator.EvacInstance(
        name=inst.name,
        template=disk_template_of(disks),
        nodes=tuple(cfg.get_node(n).name for n in nodes),
        memory=int(filled[C.BE_MAXMEM]),
        vcpus=int(filled[C.BE_VCPUS]),
        disks=tuple(d.size for d in disks),
        admin_up=inst.admin_state == C.ADMINST_UP,
        always_failover=bool(filled.get(C.BE_ALWAYS_FAILOVER)),
        spindle_use=int(filled[C.BE_SPINDLE_USE]),
        tags=tuple(inst.tags),
    )


async def node_candidates(
    lu: LogicalUnit, nodes: Sequence[Node], hypervisor: str, feedback: Feedback
) -> list[iallocator.NodeCandidate]:
    """Live memory/disk figures of ``nodes`` (one ``node_info`` fan-out)."""
    cfg = lu.cfg
    cluster = cfg.get_cluster()
    storage: list[Any] = []
    if cluster.volume_group_name:
        storage.append(["lvm-vg", cluster.volume_group_name, []])
    hv = [[hypervisor, cluster.hvparams.get(hypervisor, {})]]
    asked = [n for n in nodes if not n.offline and n.vm_capable]
    answers = await lu.ctx.rpc.call([n.name for n in asked], "node_info", [storage, hv])
    out = []
    for node in nodes:
        group = cfg.get_group(node.group)
        res = answers.get(node.name)
        usable = node in asked and not node.drained and res is not None and res.ok
        if node in asked and res is not None and not res.ok:
            feedback(f"WARNING: node {node.name} did not answer ({res.fail_msg}): not used")
        memory_free = memory_total = 0
        disk_free: int | None = None
        cpu_total = 1
        if usable and res is not None:
            _boot, units, hvs = res.payload
            info = dict(hvs[0]) if hvs else {}
            memory_free = int(info.get("memory_free") or 0)
            memory_total = int(info.get("memory_total") or 0)
            cpu_total = int(info.get("cpu_total") or 1)
            if storage and units:
                free = units[0].get("storage_free")
                disk_free = int(free) if isinstance(free, int | float) else None
        out.append(
            iallocator.NodeCandidate(
                name=node.name,
                group=group.name,
                alloc_policy=group.alloc_policy,
                memory_free=memory_free,
                memory_total=memory_total,
                disk_free=disk_free,
                cpu_total=cpu_total,
                usable=usable,
            )
        )
    return out


def allocator_name(lu: LogicalUnit) -> str:
    return lu.op.iallocator or lu.cfg.get_cluster().default_iallocator or iallocator.BUILTIN


def plan_jobs(
    lu: LogicalUnit, result: iallocator.EvacResult, what: str, feedback: Feedback
) -> list[list[dict[str, Any]]]:
    """The plan's jobs, or OpExecError naming every instance that cannot move."""
    if result.failed:
        reasons = ", ".join(f"{name} ({why})" for name, why in result.failed)
        feedback(f"WARNING: unable to {what} instances {reasons}")
        raise errors.OpExecError(f"Unable to {what} instances {reasons}")
    if result.moved:
        feedback(
            "Instances to be moved: "
            + ", ".join(f"{name} (to {', '.join(nodes)})" for name, _group, nodes in result.moved)
        )
    early = bool(getattr(lu.op, "early_release", False))
    jobs = []
    for ops in result.jobs:
        job = []
        for op in ops:
            data = dict(op)
            if data.get("OP_ID") == "OP_INSTANCE_REPLACE_DISKS":
                data["early_release"] = early
            job.append(data)
        jobs.append(job)
    return jobs


class _NodeLU(LogicalUnit):
    REQ_BGL = False

    def expand_node(self) -> Node:
        node: Node = self.cfg.lookup_node(self.op.node_uuid or self.op.node_name)
        self.node = node
        return node


@register
class LUNodeMigrate(_NodeLU):
    """One ``OP_INSTANCE_MIGRATE`` job per primary instance of the node."""

    OP_ID = "OP_NODE_MIGRATE"

    def expand_names(self) -> None:
        op = self.op
        node = self.expand_node()
        target = op.target_node_uuid or op.target_node
        self.target: Node | None = self.cfg.lookup_node(target) if target else None
        if self.target is not None:
            if op.iallocator:
                raise bad("give either a target node or an iallocator, not both")
            if self.target.uuid == node.uuid:
                raise bad(f"the target node {node.name} is the node being migrated")
        self.needed_locks[LEVEL_NODE] = [node.uuid]
        self.share_locks[LEVEL_NODE] = True

    def check_prereq(self) -> None:
        if self.op.live is not None and self.op.mode is not None:
            raise bad("give either 'live' or 'mode', not both")

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        insts = primary_instances(self, self.node.uuid)
        if not insts:
            feedback(f"No primary instances on node {self.node.name}")
            return ResultWithJobs([])
        jobs = []
        for inst in insts:
            mig: dict[str, Any] = {
                "OP_ID": "OP_INSTANCE_MIGRATE",
                "instance_name": inst.name,
                "allow_runtime_changes": op.allow_runtime_changes,
                "ignore_ipolicy": op.ignore_ipolicy,
            }
            for key in ("mode", "live"):
                if getattr(op, key, None) is not None:
                    mig[key] = getattr(op, key)
            # A DRBD instance can only go to its secondary: the allocator is not asked
            # for it (Ganeti passes it on and the instance's job fails).  An explicit
            # target is passed on, so a mismatch fails that job with the reason.
            internal = self.cfg.config.instance_disk_template(inst) in C.DTS_INT_MIRROR
            if op.iallocator and not internal:
                mig["iallocator"] = op.iallocator
            if self.target is not None:
                mig["target_node"] = self.target.name
            jobs.append([mig])
        feedback(
            f"Migrating {len(insts)} instance(s) off node {self.node.name}: "
            + ", ".join(i.name for i in insts)
        )
        return ResultWithJobs(jobs)


@register
class LUNodeEvacuate(_NodeLU):
    """Plan moving the node's instances away; one job per instance."""

    OP_ID = "OP_NODE_EVACUATE"

    def expand_names(self) -> None:
        op = self.op
        node = self.expand_node()
        remote = op.remote_node_uuid or op.remote_node
        self.remote: Node | None = self.cfg.lookup_node(remote) if remote else None
        if self.remote is not None:
            if op.iallocator:
                raise bad("give either a new secondary node or an iallocator, not both")
            if self.remote.uuid == node.uuid:
                raise bad("the evacuated node cannot be the new secondary node")
            if op.mode != C.NODE_EVAC_SEC:
                raise bad(
                    "without an iallocator only secondary instances can be evacuated "
                    "(use --secondary-only with a new secondary node)"
                )
        self.inst_uuids = [i.uuid for i in self.select()]
        self.needed_locks[LEVEL_INSTANCE] = list(self.inst_uuids)
        self.share_locks[LEVEL_INSTANCE] = True
        if self.remote is not None:
            self.needed_locks[LEVEL_NODE] = [node.uuid, self.remote.uuid]
        else:
            self.needed_locks[LEVEL_NODE] = ALL_SET  # the allocator may pick any node
        self.share_locks[LEVEL_NODE] = True

    def select(self) -> list[Instance]:
        mode = self.op.mode
        out: list[Instance] = []
        if mode in (C.NODE_EVAC_PRI, C.NODE_EVAC_ALL):
            out += primary_instances(self, self.node.uuid)
        if mode in (C.NODE_EVAC_SEC, C.NODE_EVAC_ALL):
            out += secondary_instances(self, self.node.uuid)
        return sorted(out, key=lambda i: i.name)

    def check_prereq(self) -> None:
        self.instances = self.select()
        if [i.uuid for i in self.instances] != self.inst_uuids:
            raise bad(
                f"the instances on node {self.node.name} changed while waiting for locks; retry",
                errors.ECODE_STATE,
            )
        if self.remote is not None:
            for inst in self.instances:
                template = disk_template_of(self.cfg.config.instance_disks(inst))
                if template != C.DT_DRBD8:
                    raise bad(f"instance {inst.name} has {template!r} disks, not drbd")

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        node = self.node
        if not self.instances:
            feedback(f"No instances to evacuate on node {node.name}")
            return ResultWithJobs([])
        if self.remote is not None:
            jobs = [
                [
                    {
                        "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
                        "instance_name": inst.name,
                        "mode": C.REPLACE_DISK_CHG,
                        "remote_node": self.remote.name,
                        "disks": [],
                        "early_release": bool(op.early_release),
                    }
                ]
                for inst in self.instances
            ]
            feedback(
                f"Replacing the secondary node of {len(jobs)} instance(s) by {self.remote.name}"
            )
            return ResultWithJobs(jobs)
        name = allocator_name(self)
        evac = [evac_instance(self, i) for i in self.cfg.get_instances()]
        groups = {node.group}
        for inst in self.instances:
            for disk in self.cfg.config.instance_disks(inst):
                groups.update(self.cfg.get_node(n).group for n in disk.nodes)
        nodes = [n for n in self.cfg.get_nodes() if n.group in groups]
        hv = self.instances[0].hypervisor
        candidates = await node_candidates(self, nodes, hv, feedback)
        request = iallocator.EvacRequest(
            instances=tuple(i.name for i in self.instances),
            evac_mode=op.mode,
            ignore_soft_errors=bool(op.ignore_soft_errors),
        )
        feedback(f"Planning the evacuation of node {node.name} ({op.mode}) via iallocator {name}")
        result = iallocator.node_evacuate(
            name,
            request,
            node.name,
            evac,
            candidates,
            self.cfg.get_cluster().cluster_ipolicy(),
            hv,
        )
        return ResultWithJobs(plan_jobs(self, result, "evacuate", feedback))


@register
class LUInstanceChangeGroup(LogicalUnit):
    """Move one instance to another node group (IAllocator ``change-group``)."""

    OP_ID = "OP_INSTANCE_CHANGE_GROUP"
    REQ_BGL = False

    def expand_names(self) -> None:
        inst = self.cfg.lookup_instance(self.op.instance_uuid or self.op.instance_name)
        self.instance_uuid = inst.uuid
        self.target_groups = [self.cfg.lookup_group(g) for g in self.op.target_groups or []]
        self.needed_locks[LEVEL_INSTANCE] = [inst.uuid]
        self.share_locks[LEVEL_INSTANCE] = True
        self.needed_locks[LEVEL_NODE] = ALL_SET
        self.share_locks[LEVEL_NODE] = True

    def check_prereq(self) -> None:
        inst = self.cfg.get_instance(self.instance_uuid)
        self.inst = inst
        current = {self.cfg.get_node(inst.primary_node).group}
        for disk in self.cfg.config.instance_disks(inst):
            current.update(self.cfg.get_node(n).group for n in disk.nodes)
        if self.target_groups:
            targets = [g for g in self.target_groups if g.uuid not in current]
            if not targets:
                names = ", ".join(g.name for g in self.target_groups)
                raise bad(
                    f"instance {inst.name} already uses group(s) {names}: "
                    "give another target group",
                    errors.ECODE_INVAL,
                )
        else:
            targets = [g for g in self.cfg.get_groups() if g.uuid not in current]
            if not targets:
                raise bad(
                    f"there is no node group other than the one of {inst.name}",
                    errors.ECODE_STATE,
                )
        self.targets = targets

    async def exec(self, feedback: Feedback) -> Any:
        inst = self.inst
        name = allocator_name(self)
        evac = [evac_instance(self, i) for i in self.cfg.get_instances()]
        candidates = await node_candidates(self, self.cfg.get_nodes(), inst.hypervisor, feedback)
        request = iallocator.EvacRequest(
            instances=(inst.name,),
            change_group=True,
            target_groups=tuple(g.name for g in self.targets),
        )
        feedback(
            f"Planning the move of {inst.name} to group(s) "
            f"{', '.join(g.name for g in self.targets)} via iallocator {name}"
        )
        result = iallocator.node_evacuate(
            name,
            request,
            None,
            evac,
            candidates,
            self.cfg.get_cluster().cluster_ipolicy(),
            inst.hypervisor,
        )
        return ResultWithJobs(plan_jobs(self, result, "change the group of", feedback))
