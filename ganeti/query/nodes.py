"""Fields of the ``node`` resource."""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti.objects import Node
from ganeti.query.base import (
    NODATA,
    OFFLINE,
    UNAVAIL,
    FieldDef,
    FieldTable,
    QueryData,
    names_of,
    timestamp_fields,
)

# Live fields: (name, title, kind, doc); values come from ``QueryContext.node_live``.
LIVE_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("bootid", "BootID", C.QFT_TEXT, "Random UUID renewed on each node reboot"),
    ("cnodes", "CNodes", C.QFT_NUMBER, "Number of NUMA domains (from hypervisor)"),
    ("cnos", "CNOs", C.QFT_NUMBER, "Number of logical processors used by the node OS"),
    ("csockets", "CSockets", C.QFT_NUMBER, "Number of physical CPU sockets"),
    ("ctotal", "CTotal", C.QFT_NUMBER, "Number of logical processors"),
    ("dfree", "DFree", C.QFT_UNIT, "Available storage space in the default storage unit"),
    ("dtotal", "DTotal", C.QFT_UNIT, "Total storage space in the default storage unit"),
    ("spfree", "SpFree", C.QFT_NUMBER, "Available spindles (exclusive storage only)"),
    ("sptotal", "SpTotal", C.QFT_NUMBER, "Total spindles (exclusive storage only)"),
    ("mfree", "MFree", C.QFT_UNIT, "Memory available for instance allocations"),
    ("mnode", "MNode", C.QFT_UNIT, "Memory used by the node itself"),
    ("mtotal", "MTotal", C.QFT_UNIT, "Total amount of memory of the physical machine"),
)

DEFAULT_LIST_FIELDS = (
    "name",
    "dtotal",
    "dfree",
    "mtotal",
    "mnode",
    "mfree",
    "pinst_cnt",
    "sinst_cnt",
)


def _live(key: str) -> Any:
    def get(qd: QueryData, node: Node) -> Any:
        # Offline nodes are never contacted; non-VM nodes run no hypervisor to ask.
        if node.offline:
            return OFFLINE
        if not node.vm_capable:
            return UNAVAIL
        live = qd.ctx.node_live
        if live is None:
            return NODATA
        data = live.get(node.name)
        if data is None or key not in data:
            return NODATA
        return data[key]

    return get


def _role(qd: QueryData, node: Node) -> str:
    return "M" if node.uuid == qd.cluster.master_node else node.role


def _group_name(qd: QueryData, node: Node) -> Any:
    group = qd.config.nodegroups.get(node.group)
    return group.name if group is not None else UNAVAIL


def _ndparam(key: str) -> Any:
    return lambda qd, node: qd.config.filled_ndparams(node).get(key, UNAVAIL)


def _fields() -> list[FieldDef]:
    t, b, n, o = C.QFT_TEXT, C.QFT_BOOL, C.QFT_NUMBER, C.QFT_OTHER
    # fmt: off
    out = [
        FieldDef("name", "Node", t, "Node name", lambda _qd, nd: nd.name, hostname=True),
        FieldDef("primary_ip", "PrimaryIP", t, "Primary IP address",
                 lambda _qd, nd: nd.primary_ip),
        FieldDef("secondary_ip", "SecondaryIP", t,
                 "Secondary IP address (the primary one on single-homed nodes)",
                 lambda _qd, nd: nd.secondary_ip or nd.primary_ip),
        FieldDef("master_candidate", "MasterC", b, "Whether the node is a master candidate",
                 lambda _qd, nd: nd.master_candidate),
        FieldDef("offline", "Offline", b, "Whether the node is marked offline",
                 lambda _qd, nd: nd.offline),
        FieldDef("drained", "Drained", b, "Whether the node is drained",
                 lambda _qd, nd: nd.drained),
        FieldDef("master_capable", "MasterCapable", b,
                 "Whether the node can become a master candidate",
                 lambda _qd, nd: nd.master_capable),
        FieldDef("vm_capable", "VMCapable", b, "Whether the node can host instances",
                 lambda _qd, nd: nd.vm_capable),
        FieldDef("powered", "Powered", b, "Whether the node is powered (out-of-band)",
                 lambda _qd, nd: nd.powered),
        FieldDef("master", "IsMaster", b, "Whether the node is the master node",
                 lambda qd, nd: nd.uuid == qd.cluster.master_node),
        FieldDef("role", "Role", t,
                 "Node role: M(aster), C(andidate), R(egular), D(rained), O(ffline)", _role),
        FieldDef("group", "Group", t, "Node group name", _group_name),
        FieldDef("group.uuid", "GroupUUID", t, "UUID of the node group",
                 lambda _qd, nd: nd.group),
        FieldDef("ndparams", "NodeParameters", o, "Node parameters (filled)",
                 lambda qd, nd: qd.config.filled_ndparams(nd)),
        FieldDef("custom_ndparams", "CustomNodeParameters", o,
                 "Node parameters set on the node itself", lambda _qd, nd: dict(nd.ndparams)),
        FieldDef("pinst_cnt", "Pinst", n, "Number of instances with this node as primary",
                 lambda qd, nd: len(qd.primary_instances.get(nd.uuid, ()))),
        FieldDef("sinst_cnt", "Sinst", n, "Number of instances with this node as secondary",
                 lambda qd, nd: len(qd.secondary_instances.get(nd.uuid, ()))),
        FieldDef("pinst_list", "PriInstances", o,
                 "Instances with this node as primary (sorted)",
                 lambda qd, nd: names_of(qd.primary_instances.get(nd.uuid, ()))),
        FieldDef("sinst_list", "SecInstances", o,
                 "Instances with this node as secondary (sorted)",
                 lambda qd, nd: names_of(qd.secondary_instances.get(nd.uuid, ()))),
        FieldDef("hv_state", "HypervisorState", o, "Static hypervisor state",
                 lambda _qd, nd: dict(nd.hv_state_static)),
        FieldDef("disk_state", "DiskState", o, "Static disk state",
                 lambda _qd, nd: dict(nd.disk_state_static)),
    ]
    # fmt: on
    out.extend(timestamp_fields())
    out.extend(
        FieldDef(name, title, kind, doc, _live(name)) for name, title, kind, doc in LIVE_FIELDS
    )
    for key, default in C.NDC_DEFAULTS.items():
        kind = (
            C.QFT_BOOL
            if isinstance(default, bool)
            else C.QFT_NUMBER
            if isinstance(default, int)
            else C.QFT_FLOAT
            if isinstance(default, float)
            else C.QFT_TEXT
        )
        out.append(
            FieldDef(f"ndp/{key}", f"ndp/{key}", kind, f"Node parameter {key!r}", _ndparam(key))
        )
    return out


FIELDS = FieldTable(_fields(), aliases={"pip": "primary_ip", "sip": "secondary_ip"})
