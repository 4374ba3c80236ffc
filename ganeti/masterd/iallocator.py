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
