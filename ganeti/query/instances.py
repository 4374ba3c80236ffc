"""Fields of the ``instance`` resource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ganeti import constants as C
from ganeti.objects import NIC, Disk, Instance
from ganeti.query.base import (
    NODATA,
    OFFLINE,
    UNAVAIL,
    FieldDef,
    FieldTable,
    QueryContext,
    QueryData,
    Status,
    timestamp_fields,
)

DEFAULT_LIST_FIELDS = ("name", "hypervisor", "os", "pnode", "status", "oper_ram")

# Hypervisor-reported state of a guest that shut itself down.
LIVE_STATE_SHUTDOWN = "shutdown"


# -- live data ---------------------------------------------------------------------------


_NOT_RUNNING: Final = Status(-1)  # memo marker for "no live record"


def _live_entry(qd: QueryData, inst: Instance) -> Status | Mapping[str, Any] | None:
    """The instance's live record (read-only), None if not running, or the status."""
    ctx = qd.ctx  # always read: this value depends on the request (see QueryData)
    key = ("live", inst.uuid)
    found = qd.memo.get(key)
    if found is None:
        found = _find_live(qd, ctx, inst)
        qd.memo[key] = _NOT_RUNNING if found is None else found
    return None if found is _NOT_RUNNING else found


def _find_live(
    qd: QueryData, ctx: QueryContext, inst: Instance
) -> Status | Mapping[str, Any] | None:
    pnode = qd.config.nodes.get(inst.primary_node)
    if pnode is not None and pnode.offline:
        return OFFLINE
    live = ctx.instance_live
    if live is None or pnode is None or pnode.name in ctx.failed_nodes:
        return NODATA
    return live.get(inst.name)


def _running(data: Mapping[str, Any] | None) -> bool:
    return data is not None and data.get("state") != LIVE_STATE_SHUTDOWN


def _oper_state(qd: QueryData, inst: Instance) -> Any:
    data = _live_entry(qd, inst)
    return data if isinstance(data, Status) else _running(data)


def _oper_value(key: str) -> Callable[[QueryData, Instance], Any]:
    def get(qd: QueryData, inst: Instance) -> Any:
        data = _live_entry(qd, inst)
        if isinstance(data, Status):
            return data
        if not _running(data) or data is None or key not in data:
            return UNAVAIL
        return data[key]

    return get


def _status(qd: QueryData, inst: Instance) -> Any:
    data = _live_entry(qd, inst)
    if data is OFFLINE:
        return C.INSTST_NODEOFFLINE
    if data is NODATA:
        # No live data at all is "unknown", a failed primary node is an error state.
        return C.INSTST_NODEDOWN if qd.ctx.instance_live is not None else NODATA
    assert not isinstance(data, Status)
    admin = inst.admin_state
    if _running(data):
        assert data is not None
        if data.get("node", qd.node_name(inst.primary_node)) != qd.node_name(inst.primary_node):
            return C.INSTST_WRONGNODE
        return C.INSTST_RUNNING if admin == C.ADMINST_UP else C.INSTST_ERRORUP
    if data is not None and admin == C.ADMINST_UP:
        return C.INSTST_USERDOWN  # the guest shut itself down
    if admin == C.ADMINST_UP:
        return C.INSTST_ERRORDOWN
    if admin == C.ADMINST_DOWN:
        return C.INSTST_USERDOWN if inst.admin_state_source == C.USER_SOURCE else C.INSTST_ADMINDOWN
    return C.INSTST_ADMINOFFLINE


# -- config-derived values ------------------------------------------------------------------


def _disk_usage(qd: QueryData, inst: Instance) -> int:
    """Space the disks take on the nodes' storage."""
    disks = qd.disks(inst)
    total = 0
    for disk in disks:
        if disk.dev_type == C.DT_BLOCK:
            continue  # an existing device: nothing allocated by us
        total += disk.size
        if disk.dev_type == C.DT_DRBD8:
            total += C.DRBD_META_SIZE
    return total


def _snodes(qd: QueryData, inst: Instance) -> list[str]:
    return [qd.node_name(u) for u in qd.secondary_nodes(inst)]


def _group_attr(node_uuid: str, qd: QueryData, attr: str) -> Any:
    group = qd.group_of_node(node_uuid)
    return getattr(group, attr) if group is not None else None


def _nicparams(qd: QueryData, inst: Instance, nic: NIC) -> dict[str, Any]:
    return qd.filled_nic(inst, nic)


def _nic_value(qd: QueryData, inst: Instance, nic: NIC, what: str) -> Any:
    if what == "mac":
        return nic.mac
    if what == "ip":
        return nic.ip
    if what == "uuid":
        return nic.uuid
    if what == "name":
        return nic.name
    if what == "network":
        return nic.network
    if what == "network.name":
        net = qd.network(nic.network)
        return net.name if net is not None else None
    params = _nicparams(qd, inst, nic)
    if what == "bridge":
        return params.get(C.NIC_LINK) if params.get(C.NIC_MODE) == C.NIC_MODE_BRIDGED else None
    return params.get(what)  # mode, link, vlan


def _disk_value(disk: Disk, what: str) -> Any:
    return getattr(disk, what)


def _nic_list(what: str) -> Callable[[QueryData, Instance], list[Any]]:
    return lambda qd, inst: [_nic_value(qd, inst, nic, what) for nic in inst.nics]


def _nic_index(what: str, idx: int) -> Callable[[QueryData, Instance], Any]:
    def get(qd: QueryData, inst: Instance) -> Any:
        if idx >= len(inst.nics):
            return UNAVAIL
        value = _nic_value(qd, inst, inst.nics[idx], what)
        # A NIC without the property (no IP, not bridged) has nothing to show.
        return UNAVAIL if value is None and what in ("bridge",) else value

    return get


def _disk_list(what: str) -> Callable[[QueryData, Instance], list[Any]]:
    return lambda qd, inst: [_disk_value(d, what) for d in qd.disks(inst)]


def _disk_index(what: str, idx: int) -> Callable[[QueryData, Instance], Any]:
    def get(qd: QueryData, inst: Instance) -> Any:
        disks = qd.disks(inst)
        return _disk_value(disks[idx], what) if idx < len(disks) else UNAVAIL

    return get


def _kind_of(values: list[object]) -> str:
    kinds = set()
    for value in values:
        if isinstance(value, bool):
            kinds.add(C.QFT_BOOL)
        elif isinstance(value, int):
            kinds.add(C.QFT_NUMBER)
        elif isinstance(value, float):
            kinds.add(C.QFT_FLOAT)
        elif isinstance(value, str):
            kinds.add(C.QFT_TEXT)
        else:
            kinds.add(C.QFT_OTHER)
    return kinds.pop() if len(kinds) == 1 else C.QFT_OTHER


def _hv_param(key: str) -> Callable[[QueryData, Instance], Any]:
    def get(qd: QueryData, inst: Instance) -> Any:
        if key not in C.HVC_DEFAULTS.get(inst.hypervisor, {}):
            return UNAVAIL  # not a parameter of this instance's hypervisor
        return qd.filled_hv(inst).get(key, UNAVAIL)

    return get


def _be_param(key: str) -> Callable[[QueryData, Instance], Any]:
    return lambda qd, inst: qd.filled_be(inst).get(key, UNAVAIL)


# -- the table ------------------------------------------------------------------------------

_NIC_PROPS: tuple[tuple[str, str, str], ...] = (
    # (property, plural field, description)
    ("mac", "nic.macs", "MAC address"),
    ("ip", "nic.ips", "IP address"),
    ("mode", "nic.modes", "mode"),
    ("link", "nic.links", "link"),
    ("vlan", "nic.vlans", "VLAN"),
    ("bridge", "nic.bridges", "bridge (bridged mode only)"),
    ("network", "nic.networks", "network UUID"),
    ("network.name", "nic.networks.names", "network name"),
    ("uuid", "nic.uuids", "UUID"),
    ("name", "nic.names", "name"),
)
_DISK_PROPS: tuple[tuple[str, str, str, str], ...] = (
    # (attribute, singular prefix, plural field, per-index kind)
    ("size", "disk.size", "disk.sizes", C.QFT_UNIT),
    ("spindles", "disk.spindles", "disk.spindles", C.QFT_NUMBER),
    ("name", "disk.name", "disk.names", C.QFT_TEXT),
    ("uuid", "disk.uuid", "disk.uuids", C.QFT_TEXT),
)


def _fields() -> list[FieldDef]:
    t, b, n, o, u = C.QFT_TEXT, C.QFT_BOOL, C.QFT_NUMBER, C.QFT_OTHER, C.QFT_UNIT
    # fmt: off
    out = [
        FieldDef("name", "Instance", t, "Instance name", lambda _qd, i: i.name, hostname=True),
        FieldDef("os", "OS", t, "Operating system (with variant)", lambda _qd, i: i.os),
        FieldDef("hypervisor", "Hypervisor", t, "Hypervisor name",
                 lambda _qd, i: i.hypervisor),
        FieldDef("pnode", "Primary_node", t, "Primary node",
                 lambda qd, i: qd.node_name(i.primary_node), hostname=True),
        FieldDef("pnode.group", "PrimaryNodeGroup", t, "Primary node's group",
                 lambda qd, i: _group_attr(i.primary_node, qd, "name")),
        FieldDef("pnode.group.uuid", "PrimaryNodeGroupUUID", t,
                 "Primary node's group UUID",
                 lambda qd, i: _group_attr(i.primary_node, qd, "uuid")),
        FieldDef("snodes", "Secondary_Nodes", o, "Secondary nodes", _snodes),
        FieldDef("snodes.group", "SecondaryNodesGroups", o, "Secondary nodes' groups",
                 lambda qd, i: [_group_attr(s, qd, "name") for s in qd.secondary_nodes(i)]),
        FieldDef("snodes.group.uuid", "SecondaryNodesGroupsUUID", o,
                 "Secondary nodes' group UUIDs",
                 lambda qd, i: [_group_attr(s, qd, "uuid") for s in qd.secondary_nodes(i)]),
        FieldDef("admin_state", "InstanceState", t, "Desired state: up, down or offline",
                 lambda _qd, i: i.admin_state),
        FieldDef("admin_state_source", "InstanceStateSource", t,
                 "Who set the desired state: admin or user",
                 lambda _qd, i: i.admin_state_source),
        FieldDef("admin_up", "Autostart", b, "Whether the instance should run",
                 lambda _qd, i: i.admin_state == C.ADMINST_UP),
        FieldDef("disks_active", "DisksActive", b, "Whether the disks should be assembled",
                 lambda _qd, i: i.disks_active),
        FieldDef("forthcoming", "Forthcoming", b, "Whether the instance is only reserved",
                 lambda _qd, i: i.forthcoming),
        FieldDef("disk_template", "Disk_template", t, "Disk template (from the disks)",
                 lambda qd, i: qd.disks(i)[0].dev_type if qd.disks(i) else C.DT_DISKLESS),
        FieldDef("network_port", "Network_port", n, "Console port (VNC, SPICE)",
                 lambda _qd, i: UNAVAIL if i.network_port is None else i.network_port),
        FieldDef("beparams", "BackendParameters", o, "Backend parameters (filled)",
                 lambda qd, i: qd.filled_be(i)),
        FieldDef("hvparams", "HypervisorParameters", o, "Hypervisor parameters (filled)",
                 lambda qd, i: qd.filled_hv(i)),
        FieldDef("osparams", "OpSysParameters", o, "OS parameters (filled, public only)",
                 lambda qd, i: qd.cluster.fill_os(i.os, i.osparams)),
        FieldDef("custom_beparams", "CustomBackendParameters", o,
                 "Backend parameters set on the instance", lambda _qd, i: dict(i.beparams)),
        FieldDef("custom_hvparams", "CustomHypervisorParameters", o,
                 "Hypervisor parameters set on the instance",
                 lambda _qd, i: dict(i.hvparams)),
        FieldDef("custom_osparams", "CustomOpSysParameters", o,
                 "OS parameters set on the instance", lambda _qd, i: dict(i.osparams)),
        FieldDef("custom_nicparams", "CustomNicParameters", o,
                 "NIC parameters set on each NIC",
                 lambda _qd, i: [dict(nic.nicparams) for nic in i.nics]),
        FieldDef("oper_state", "Running", b, "Whether the instance runs (live data)",
                 _oper_state),
        FieldDef("oper_ram", "Memory", u, "Memory in use (live data)", _oper_value("memory")),
        FieldDef("oper_vcpus", "VCPUs", n, "Virtual CPUs in use (live data)",
                 _oper_value("vcpus")),
        FieldDef("status", "Status", t,
                 "Run state combining desired and live state: " + ", ".join(
                     sorted(C.INSTST_ALL)), _status),
        FieldDef("disk_usage", "DiskUsage", u, "Storage space used by the disks",
                 _disk_usage),
        FieldDef("disk.count", "Disks", n, "Number of disks",
                 lambda qd, i: len(qd.disks(i))),
        FieldDef("nic.count", "NICs", n, "Number of NICs", lambda _qd, i: len(i.nics)),
    ]
    # fmt: on
    out.extend(timestamp_fields())
    for attr, single, plural, kind in _DISK_PROPS:
        out.append(FieldDef(plural, plural, o, f"List of disk {attr}s", _disk_list(attr)))
        out.extend(
            FieldDef(
                f"{single}/{i}",
                f"Disk/{i}.{attr}",
                kind,
                f"{attr} of disk {i}",
                _disk_index(attr, i),
            )
            for i in range(C.MAX_DISKS)
        )
    for prop, plural, desc in _NIC_PROPS:
        out.append(FieldDef(plural, plural, o, f"List of NIC {desc}s", _nic_list(prop)))
        out.extend(
            FieldDef(
                f"nic.{prop}/{i}", f"NIC/{i}.{prop}", t, f"NIC {i} {desc}", _nic_index(prop, i)
            )
            for i in range(C.MAX_NICS)
        )
    hv_defaults: dict[str, list[object]] = {}
    for params in C.HVC_DEFAULTS.values():
        for key, value in params.items():
            hv_defaults.setdefault(key, []).append(value)
    for key in sorted(hv_defaults):
        out.append(
            FieldDef(
                f"hv/{key}",
                f"hv/{key}",
                _kind_of(hv_defaults[key]),
                f"Hypervisor parameter {key!r}",
                _hv_param(key),
            )
        )
    for key, value in C.BEC_DEFAULTS.items():
        out.append(
            FieldDef(
                f"be/{key}",
                f"be/{key}",
                _kind_of([value]),
                f"Backend parameter {key!r}",
                _be_param(key),
            )
        )
    return out


FIELDS = FieldTable(
    _fields(),
    aliases={
        "vcpus": "be/vcpus",
        "be/memory": "be/maxmem",
        "sda_size": "disk.size/0",
        "sdb_size": "disk.size/1",
        "ip": "nic.ip/0",
        "mac": "nic.mac/0",
        "bridge": "nic.bridge/0",
        "nic_mode": "nic.mode/0",
        "nic_link": "nic.link/0",
        "nic_network": "nic.network/0",
    },
)

# -- row cache ------------------------------------------------------------------------------

# Fields whose values derive from the configuration alone: the instance, its disks, and
# cluster-wide objects (cluster, nodes, groups, networks) whose changes bump the cluster
# serial.  The row cache (ganeti.query.rowcache) reuses their values; every other field,
# e.g. one added later and not listed here, is computed on every query.
_CONFIG_ONLY = frozenset(
    {
        "name", "os", "hypervisor", "pnode", "pnode.group", "pnode.group.uuid", "snodes",
        "snodes.group", "snodes.group.uuid", "admin_state", "admin_state_source", "admin_up",
        "disks_active", "forthcoming", "disk_template", "network_port", "beparams",
        "hvparams", "osparams", "custom_beparams", "custom_hvparams", "custom_osparams",
        "custom_nicparams", "disk_usage", "disk.count", "nic.count", "ctime", "mtime", "uuid",
        "serial_no", "tags", "vcpus", "be/memory", "sda_size", "sdb_size", "ip", "mac",
        "bridge", "nic_mode", "nic_link", "nic_network",
    }
)  # fmt: skip
_GENERATED = tuple(p for _a, _s, p, _k in _DISK_PROPS) + tuple(
    f"{s}/" for _a, s, _p, _k in _DISK_PROPS
)
CONFIG_FIELDS: frozenset[str] = frozenset(
    name
    for name in FIELDS
    if name in _CONFIG_ONLY
    or name.startswith(_GENERATED)
    or name.startswith(("nic.", "hv/", "be/"))
)


def row_deps(qd: QueryData, inst: Instance) -> tuple[Any, ...]:
    """Besides the instance and the cluster, its values derive from its disks."""
    if not inst.disks:
        return ()
    out: list[Any] = []
    get = qd.config.disks.get
    for uuid in inst.disks:
        disk = get(uuid)
        out.append(disk)
        out.append(None if disk is None else disk.serial_no)
    return tuple(out)
