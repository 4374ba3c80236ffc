"""Watcher decisions: pure functions over snapshots of instances and nodes plus the
persistent state (restart counters, node boot ids).  No I/O; time comes as ``now``.

Rules (spec section 9):

* ``ERROR_down`` (admin up, not running): start it, at most ``MAXTRIES`` times; after
  that give up (logged once) until ``RETRY_EXPIRATION`` passed since the last attempt.
  Counters are forgotten as soon as the instance is seen healthy.
* ``USER_down`` while admin state is still up (the guest powered itself off): record it
  with a shutdown whose ``admin_state_source`` is ``user`` instead of restarting it
  against the owner's will (also at most ``MAXTRIES`` attempts).
* A node whose boot id changed: re-activate the disks of its instances that have
  ``disks_active`` (unless the instance is being restarted by this run anyway).
* Instances that a running job holds (or waits for) are never touched.
* Disk verification (step 7, per node group): unless disabled or every instance of the
  group is ``ext`` (or it has none), and no ``OP_GROUP_VERIFY_DISKS`` job for the group is
  still pending, verify the group's disks (low priority); then one job activating the
  disks of the instances it reported, except those with an offline primary or secondary
  node.  ``is_strict`` alternates as Ganeti's cron does: strict when the last strict
  check is at least ``STRICT_VERIFY_INTERVAL`` old, otherwise non-strict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ganeti import constants as C

MAXTRIES = 5
RETRY_EXPIRATION = 8 * 3600
JOB_ARCHIVE_AGE = 6 * 3600
STRICT_VERIFY_INTERVAL = 30 * 60
VERIFY_DISKS_OP = "OP_GROUP_VERIFY_DISKS"
PENDING_JOB_STATUSES = frozenset({"queued", "waiting", "running", "canceling"})


@attrs.frozen
class InstanceView:
    name: str
    status: str
    admin_state: str
    disks_active: bool = False
    pnode: str = ""
    snodes: tuple[str, ...] = ()
    group: str = ""  # uuid of the primary node's group
    disk_template: str = ""


@attrs.frozen
class NodeView:
    name: str
    bootid: str | None
    offline: bool = False


@attrs.frozen
class Action:
    kind: str  # "start", "record-user-down", "activate-disks"
    instance: str

    def opcode(self) -> dict[str, Any]:
        if self.kind == "start":
            return {"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": self.instance}
        if self.kind == "record-user-down":
            return {
                "OP_ID": "OP_INSTANCE_SHUTDOWN",
                "instance_name": self.instance,
                "admin_state_source": C.USER_SOURCE,
            }
        return {"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": self.instance}


@attrs.define
class Plan:
    actions: list[Action] = attrs.Factory(list)
    messages: list[str] = attrs.Factory(list)


def _counter(
    state: dict[str, Any], name: str, count_key: str, when_key: str, now: float
) -> tuple[dict[str, Any], int]:
    entry = state.setdefault("instance", {}).setdefault(name, {})
    when = entry.get(when_key)
    if when is not None and now - float(when) > RETRY_EXPIRATION:
        entry.pop(count_key, None)
        entry.pop(when_key, None)
    return entry, int(entry.get(count_key, 0))


def _try(
    plan: Plan,
    state: dict[str, Any],
    inst: InstanceView,
    kind: str,
    count_key: str,
    when_key: str,
    now: float,
) -> bool:
    entry, count = _counter(state, inst.name, count_key, when_key, now)
    if count >= MAXTRIES:
        if count == MAXTRIES:
            plan.messages.append(
                f"Could not {'restart' if kind == 'start' else 'clean up'} instance "
                f"{inst.name} after {MAXTRIES} attempts, giving up"
            )
            entry[count_key] = count + 1
        return False
    entry[count_key] = count + 1
    entry[when_key] = now
    plan.actions.append(Action(kind, inst.name))
    plan.messages.append(
        f"{'Restarting' if kind == 'start' else 'Recording user shutdown of'} "
        f"{inst.name} (attempt #{count + 1})"
    )
    return True


def decide(
    instances: Iterable[InstanceView],
    nodes: Iterable[NodeView],
    locked: Iterable[str],
    state: dict[str, Any],
    now: float,
) -> Plan:
    """What to do this run; ``state`` is updated in place (save it afterwards)."""
    plan = Plan()
    busy = set(locked)
    started: set[str] = set()
    inst_state = state.setdefault("instance", {})
    for inst in sorted(instances, key=lambda i: i.name):
        if inst.name in busy:
            plan.messages.append(f"Instance {inst.name} is held by a job, skipping")
            continue
        if inst.status == C.INSTST_ERRORDOWN:
            if _try(plan, state, inst, "start", "restart_count", "restart_when", now):
                started.add(inst.name)
        elif inst.status == C.INSTST_USERDOWN and inst.admin_state == C.ADMINST_UP:
            _try(plan, state, inst, "record-user-down", "cleanup_count", "cleanup_when", now)
        elif inst.status in (C.INSTST_RUNNING, C.INSTST_ADMINDOWN, C.INSTST_USERDOWN):
            inst_state.pop(inst.name, None)  # healthy: forget the counters
    # Rebooted nodes.
    known: Mapping[str, Any] = state.setdefault("node", {})
    rebooted: set[str] = set()
    for node in nodes:
        if node.offline or node.bootid is None:
            continue
        old = known.get(node.name, {}).get("bootid")
        if old != node.bootid:
            if old is not None:
                plan.messages.append(f"Node {node.name} was rebooted")
            rebooted.add(node.name)
            state["node"][node.name] = {"bootid": node.bootid}
    if rebooted:
        for inst in sorted(instances, key=lambda i: i.name):
            if inst.name in busy or inst.name in started or not inst.disks_active:
                continue
            if inst.pnode in rebooted or rebooted.intersection(inst.snodes):
                plan.actions.append(Action("activate-disks", inst.name))
                plan.messages.append(f"Re-activating the disks of {inst.name}")
    return plan


def paused(pause_file_text: str | None, now: float) -> bool:
    """The pause file holds an end time; paused while it lies in the future."""
    if not pause_file_text:
        return False
    try:
        return float(pause_file_text.strip()) > now
    except ValueError:
        return False


# --- disk verification (step 7) ----------------------------------------------------------


@attrs.frozen
class GroupView:
    name: str
    uuid: str


@attrs.frozen
class JobView:
    id: int
    status: str
    ops: tuple[Mapping[str, Any], ...] = ()


def pending_verify_groups(jobs: Iterable[JobView]) -> set[str]:
    """Group names/uuids with an unfinished ``OP_GROUP_VERIFY_DISKS`` job."""
    out: set[str] = set()
    for job in jobs:
        if job.status not in PENDING_JOB_STATUSES:
            continue
        for op in job.ops:
            if isinstance(op, Mapping) and op.get("OP_ID") == VERIFY_DISKS_OP:
                out.add(str(op.get("group_name")))
    return out


def groups_to_verify(
    groups: Iterable[GroupView],
    instances: Iterable[InstanceView],
    pending: set[str],
    *,
    enabled: bool = True,
) -> tuple[list[GroupView], list[str]]:
    """The groups whose disks to verify this run, and what to log about the others."""
    if not enabled:
        return [], []
    insts = list(instances)
    chosen: list[GroupView] = []
    messages: list[str] = []
    for group in sorted(groups, key=lambda g: g.name):
        members = [i for i in insts if i.group == group.uuid]
        if not members:
            continue
        if all(i.disk_template == C.DT_EXT for i in members):
            messages.append(f"Group {group.name}: only ext instances, not verifying disks")
            continue
        if group.name in pending or group.uuid in pending:
            messages.append(
                f"Group {group.name}: a disk verification job is still pending, "
                "not submitting another"
            )
            continue
        chosen.append(group)
    return chosen, messages


def strict_verify(state: dict[str, Any], now: float, forced: bool | None) -> bool:
    """Whether this run's disk verification is strict; remembers strict runs in
    ``state`` (``forced``: the command line's --strict/--no-strict, else automatic)."""
    if forced is None:
        last = state.get("last_strict_verify")
        strict = not isinstance(last, int | float) or now - float(last) >= STRICT_VERIFY_INTERVAL
    else:
        strict = forced
    if strict:
        state["last_strict_verify"] = now
    return strict


def verify_disks_opcode(group: GroupView, strict: bool) -> dict[str, Any]:
    return {
        "OP_ID": VERIFY_DISKS_OP,
        "group_name": group.name,
        "is_strict": strict,
        "priority": C.OP_PRIO_LOW,
    }


def activation_plan(
    result: Any,
    instances: Iterable[InstanceView],
    nodes: Iterable[NodeView],
) -> tuple[list[dict[str, Any]], list[str]]:
    """From an ``OP_GROUP_VERIFY_DISKS`` result ``[node errors, instances, missing]``:
    the ``OP_INSTANCE_ACTIVATE_DISKS`` opcodes of one job, and the lines to log."""
    if not (isinstance(result, list | tuple) and len(result) == 3):
        return [], [f"Unexpected disk verification result {result!r}"]
    node_errors, names, missing = result
    messages = [
        f"Could not verify the disks on node {node}: {msg}"
        for node, msg in sorted(dict(node_errors or {}).items())
    ]
    for inst_name, vols in sorted(dict(missing or {}).items()):
        where = ", ".join(f"{vol} on {node}" for node, vol in vols)
        messages.append(f"Instance {inst_name} has missing logical volumes: {where}")
    by_name = {i.name: i for i in instances}
    offline = {n.name for n in nodes if n.offline}
    ops: list[dict[str, Any]] = []
    for name in sorted(names or []):
        inst = by_name.get(name)
        if inst is None:
            messages.append(f"Instance {name} needs its disks activated but is unknown")
            continue
        down = sorted(n for n in (inst.pnode, *inst.snodes) if n in offline)
        if down:
            messages.append(
                f"Not activating the disks of {name}: node(s) {', '.join(down)} offline"
            )
            continue
        messages.append(f"Activating the disks of {name}")
        ops.append({"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": name})
    return ops, messages
