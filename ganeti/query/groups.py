"""Fields of the ``group`` (node group) resource."""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti.objects import Instance, NodeGroup
from ganeti.query.base import FieldDef, FieldTable, QueryData, names_of, timestamp_fields

DEFAULT_LIST_FIELDS = ("name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams")


def _primary_instances(qd: QueryData, group: NodeGroup) -> list[Instance]:
    out: list[Instance] = []
    for node in qd.group_nodes.get(group.uuid, ()):
        out.extend(qd.primary_instances.get(node.uuid, ()))
    return out


def _filled_ndparams(qd: QueryData, group: NodeGroup) -> dict[str, Any]:
    params = dict(C.NDC_DEFAULTS)
    params.update(qd.cluster.ndparams)
    params.update(group.ndparams)
    return params


def _filled_diskparams(qd: QueryData, group: NodeGroup) -> dict[str, Any]:
    return {dt: qd.cluster.fill_disk_params(dt, group) for dt in C.DISK_TEMPLATES}


def _fields() -> list[FieldDef]:
    t, n, o = C.QFT_TEXT, C.QFT_NUMBER, C.QFT_OTHER
    # fmt: off
    out = [
        FieldDef("name", "Group", t, "Group name", lambda _qd, g: g.name),
        FieldDef("alloc_policy", "AllocPolicy", t,
                 "Allocation policy: " + ", ".join(C.VALID_ALLOC_POLICIES),
                 lambda _qd, g: g.alloc_policy),
        FieldDef("node_cnt", "Nodes", n, "Number of nodes",
                 lambda qd, g: len(qd.group_nodes.get(g.uuid, ()))),
        FieldDef("node_list", "NodeList", o, "Nodes of the group (sorted)",
                 lambda qd, g: names_of(qd.group_nodes.get(g.uuid, ()))),
        FieldDef("pinst_cnt", "Instances", n, "Instances with their primary node here",
                 lambda qd, g: len(_primary_instances(qd, g))),
        FieldDef("pinst_list", "InstanceList", o,
                 "Instances with their primary node here (sorted)",
                 lambda qd, g: names_of(_primary_instances(qd, g))),
        FieldDef("ipolicy", "InstancePolicy", o, "Instance policy (filled)",
                 lambda qd, g: qd.cluster.fill_ipolicy(g).to_dict()),
        FieldDef("custom_ipolicy", "CustomInstancePolicy", o,
                 "Instance policy set on the group", lambda _qd, g: dict(g.ipolicy)),
        FieldDef("ndparams", "NDParams", o, "Node parameters (filled)", _filled_ndparams),
        FieldDef("custom_ndparams", "CustomNDParams", o, "Node parameters set on the group",
                 lambda _qd, g: dict(g.ndparams)),
        FieldDef("diskparams", "DiskParameters", o, "Disk parameters per template (filled)",
                 _filled_diskparams),
        FieldDef("custom_diskparams", "CustomDiskParameters", o,
                 "Disk parameters set on the group", lambda _qd, g: dict(g.diskparams)),
        FieldDef("networks", "Networks", o, "Connected networks (sorted names)",
                 lambda qd, g: names_of(n for u in g.networks
                                        if (n := qd.network(u)) is not None)),
        FieldDef("hv_state", "HypervisorState", o, "Static hypervisor state",
                 lambda _qd, g: dict(g.hv_state_static)),
        FieldDef("disk_state", "DiskState", o, "Static disk state",
                 lambda _qd, g: dict(g.disk_state_static)),
    ]
    # fmt: on
    out.extend(timestamp_fields())
    return out


FIELDS = FieldTable(_fields())
