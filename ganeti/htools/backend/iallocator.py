"""IAllocator request parsing (hail's input), into the common cluster records.

Only the request *parsing* lives here: `parse_request` returns the cluster
(`ClusterData`) and the request (`Request`); deciding placements is hail's
job.  Nodes that are offline, drained or not vm_capable count as offline,
and every instance is auto-balanced, like in Ganeti.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ganeti.htools.backend.text import ClusterData
from ganeti.htools.model import Group, InstanceSpec, NodeSpec
from ganeti.htools.types import (
    DEFAULT_MAX_SPEC,
    DEFAULT_MIN_SPEC,
    DISK_TEMPLATES,
    AllocPolicy,
    HToolsError,
    IPolicy,
    ISpec,
    MinMax,
)

REQUEST_TYPES = (
    "allocate",
    "relocate",
    "node-evacuate",
    "change-group",
    "multi-allocate",
    "allocate-secondary",
)
_ADMIN_STATE = {"up": "running", "down": "ADMIN_down", "offline": "ADMIN_offline"}


@attrs.define
class Request:
    """The ``request`` object, keeping the raw dict for type-specific fields."""

    type: str
    name: str | None
    raw: dict[str, Any]


@attrs.define
class IAllocInput:
    data: ClusterData
    request: Request


def _get(d: dict[str, Any], key: str, what: str) -> Any:
    if key not in d:
        raise HToolsError(f"Invalid data: missing '{key}' in {what}")
    return d[key]


def _ispec(d: dict[str, Any]) -> ISpec:
    return ISpec(
        int(d.get("memory-size", 0)),
        int(d.get("cpu-count", 0)),
        int(d.get("disk-size", 0)),
        int(d.get("disk-count", 0)),
        int(d.get("nic-count", 0)),
        int(d.get("spindle-use", 0)),
    )


def parse_ipolicy(d: dict[str, Any] | None) -> IPolicy | None:
    if not d:
        return None
    minmax = tuple(MinMax(_ispec(mm["min"]), _ispec(mm["max"])) for mm in d.get("minmax", []))
    if not minmax:
        minmax = (MinMax(DEFAULT_MIN_SPEC, DEFAULT_MAX_SPEC),)
    std = _ispec(d["std"]) if "std" in d else DEFAULT_MIN_SPEC
    dts = tuple(t for t in d.get("disk-templates", DISK_TEMPLATES) if t in DISK_TEMPLATES)
    return IPolicy(
        minmax, std, dts, float(d.get("vcpu-ratio", 4.0)), float(d.get("spindle-ratio", 32.0))
    )


def parse_request(text: str, strict: bool = True) -> IAllocInput:
    try:
        doc = json.loads(text)
    except ValueError:
        raise HToolsError(
            "Parsing input IAllocator message: Invalid JSON: a JSON text a serialized "
            "object or array at the top level."
        ) from None
    if not isinstance(doc, dict):
        raise HToolsError("Parsing input IAllocator message: Unable to read JSObject")
    return parse_document(doc, strict)


def _check_request(doc: dict[str, Any]) -> dict[str, Any]:
    if "request" not in doc:
        keys = ",".join(json.dumps(k) for k in doc)
        raise HToolsError(
            f"invalid iallocator message: key 'request' not found, object contains only [{keys}]"
        )
    req = doc["request"]
    if not isinstance(req, dict):
        raise HToolsError("invalid iallocator message: key 'request': Unable to read JSObject")
    rtype = req.get("type")
    if rtype in ("allocate", "relocate", "allocate-secondary") and not isinstance(
        req.get("name"), str
    ):
        raise HToolsError("invalid request dict: key 'name': Unable to read String")
    return req


def parse_document(doc: dict[str, Any], strict: bool = True) -> IAllocInput:
    """Parse an already decoded IAllocator input document."""
    if not isinstance(doc, dict):
        raise HToolsError("Parsing input IAllocator message: Unable to read JSObject")
    if strict:
        _check_request(doc)
    groups: list[Group] = []
    uuid_idx: dict[str, int] = {}
    for uuid, g in _get(doc, "nodegroups", "request").items():
        uuid_idx[uuid] = len(groups)
        groups.append(
            Group(
                name=_get(g, "name", f"group {uuid}"),
                uuid=uuid,
                alloc_policy=AllocPolicy.parse(g.get("alloc_policy", "preferred")),
                tags=list(g.get("tags", [])),
                networks=list(g.get("networks", [])),
                ipolicy=parse_ipolicy(g.get("ipolicy")),
            )
        )
    nodes: list[NodeSpec] = []
    node_idx: dict[str, int] = {}
    hyper = (doc.get("enabled_hypervisors") or [None])[0]
    for name, n in _get(doc, "nodes", "request").items():
        gid = _get(n, "group", f"node {name}")
        if gid not in uuid_idx:
            raise HToolsError(f"Unknown group '{gid}' for node {name}")
        offline = bool(n.get("offline")) or bool(n.get("drained")) or not n.get("vm_capable", True)
        ndp = n.get("ndparams", {})
        excl = bool(ndp.get("exclusive_storage", False))
        if offline:
            spec = NodeSpec(name, 0.0, 0, 0, 0.0, 0, 0.0, True, uuid_idx[gid])
        else:
            spec = NodeSpec(
                name=name,
                t_mem=float(_get(n, "total_memory", name)),
                n_mem=int(_get(n, "reserved_memory", name)),
                f_mem=int(_get(n, "free_memory", name)),
                t_dsk=float(_get(n, "total_disk", name)),
                f_dsk=int(_get(n, "free_disk", name)),
                t_cpu=float(_get(n, "total_cpus", name)),
                offline=False,
                group=uuid_idx[gid],
                t_spindles=int(n.get("total_spindles", ndp.get("spindle_count", 1)))
                if excl
                else int(ndp.get("spindle_count", 1)),
                excl_storage=excl,
                f_spindles=int(n.get("free_spindles", 0)),
                n_cpu=int(n.get("reserved_cpus", 1)),
            )
        spec.tags = list(n.get("tags", []))
        spec.drained = bool(n.get("drained"))
        spec.master_capable = bool(n.get("master_capable", True))
        spec.vm_capable = bool(n.get("vm_capable", True))
        spec.hypervisor = hyper
        node_idx[name] = len(nodes)
        nodes.append(spec)
    instances: list[InstanceSpec] = []
    for name, i in _get(doc, "instances", "request").items():
        inodes = _get(i, "nodes", f"instance {name}")
        if not inodes or inodes[0] not in node_idx:
            raise HToolsError(f"Unknown node '{inodes[0] if inodes else ''}' for instance {name}")
        snode = -1
        if len(inodes) > 1:
            if inodes[1] not in node_idx:
                raise HToolsError(f"Unknown node '{inodes[1]}' for instance {name}")
            snode = node_idx[inodes[1]]
        disks = [int(d.get("size", 0)) for d in i.get("disks", [])]
        dsp = [d.get("spindles") for d in i.get("disks", [])]
        instances.append(
            InstanceSpec(
                name=name,
                mem=int(_get(i, "memory", name)),
                dsk=int(i.get("disk_space_total", sum(disks))),
                vcpus=int(_get(i, "vcpus", name)),
                status=_ADMIN_STATE.get(i.get("admin_state", "up"), "running"),
                auto_balance=True,
                pnode=node_idx[inodes[0]],
                snode=snode,
                template=_get(i, "disk_template", name),
                tags=list(i.get("tags", [])),
                spindle_use=int(i.get("spindle_use", 1)),
                disk_spindles=sum(int(x) for x in dsp) if dsp and None not in dsp else None,
                forthcoming=bool(i.get("forthcoming", False)),
                disks=disks,
                nic_networks=[
                    nic.get("network") for nic in i.get("nics", []) if nic.get("network")
                ],
            )
        )
    req = _get(doc, "request", "request")
    rtype = _get(req, "type", "request")
    if rtype not in REQUEST_TYPES:
        raise HToolsError(f"Invalid request type '{rtype}'")
    data = ClusterData(
        groups,
        nodes,
        instances,
        list(doc.get("cluster_tags", [])),
        parse_ipolicy(doc.get("ipolicy")) or IPolicy(),
    )
    return IAllocInput(data, Request(rtype, req.get("name"), req))


def load_request_file(path: str) -> IAllocInput:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise HToolsError(f"failed to load data, aborting: {err}") from None
    return parse_request(text, strict=False)
