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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ganeti import constants as C

MAXTRIES = 5
RETRY_EXPIRATION = 8 * 3600
JOB_ARCHIVE_AGE = 6 * 3600


@attrs.frozen
class InstanceView:
    name: str
    status: str
    admin_state: str
    disks_active: bool = False
    pnode: str = ""
    snodes: tuple[str, ...] = ()


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
