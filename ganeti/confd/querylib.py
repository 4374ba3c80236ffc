"""Answers to confd requests, from an index built once per loaded ``config.data``.

Pure code.  :class:`ConfdIndex` is built when the configuration is (re)loaded; every
request is then answered with a few dictionary lookups.  The encoded reply message is
memoised per request type and query, so repeated questions cost one dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Final

import attrs
import orjson

from ganeti import constants
from ganeti.confd.protocol import (
    ClusterMasterField,
    ErrorCode,
    NodeRole,
    QueryField,
    Reply,
    ReplyStatus,
    Request,
    RequestType,
)
from ganeti.config.store import parse_config
from ganeti.objects import ConfigData, Disk, Instance, Node

# How many distinct (type, query) replies are memoised before the memo starts over.
MEMO_LIMIT: Final = 4096

JsonDict = dict[str, Any]

# Data collectors mond knows, with their defaults (interval in microseconds); the
# cluster's ``data_collectors`` overrides them key by key.
DEFAULT_COLLECTOR_INTERVAL: Final = 5_000_000
DEFAULT_DATA_COLLECTORS: Final[dict[str, bool]] = {
    "cpu-avg-load": True,
    "diskstats": True,
    "drbd": True,
    "inst-status-xen": False,
    "lv": True,
    "xen-cpu-avg-load": True,
}


def filled_data_collectors(configured: dict[str, JsonDict]) -> dict[str, JsonDict]:
    out: dict[str, JsonDict] = {
        name: {"active": active, "interval": DEFAULT_COLLECTOR_INTERVAL}
        for name, active in DEFAULT_DATA_COLLECTORS.items()
    }
    for name, params in configured.items():
        out[name] = {**out.get(name, {}), **params}
    return out


def node_role(node: Node, master_uuid: str) -> NodeRole:
    """Role precedence: master > drained > offline > candidate > regular."""
    if node.uuid == master_uuid:
        return NodeRole.MASTER
    if node.drained:
        return NodeRole.DRAINED
    if node.offline:
        return NodeRole.OFFLINE
    if node.master_candidate:
        return NodeRole.CANDIDATE
    return NodeRole.REGULAR


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at JSON pointer ``pointer`` (RFC 6901); KeyError if there is none."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    value = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            value = value[token]
        elif isinstance(value, list):
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                raise KeyError(token)
            index = int(token)
            if index >= len(value):
                raise KeyError(token)
            value = value[index]
        else:
            raise KeyError(token)
    return value


def _error(answer: Any) -> Reply:
    return Reply(ReplyStatus.ERROR, answer, 0)


UNKNOWN_ENTRY: Final = _error(int(ErrorCode.UNKNOWN_ENTRY))
ARGUMENT_ERROR: Final = _error(int(ErrorCode.ARGUMENT))
INTERNAL_ERROR: Final = _error(int(ErrorCode.INTERNAL))


def _walk_disks(disk: Disk) -> list[Disk]:
    out = [disk]
    for child in disk.children:
        out.extend(_walk_disks(child))
    return out


@attrs.define(eq=False)
class ConfdIndex:
    """Everything confd answers, keyed for constant-time lookups."""

    config: ConfigData
    raw: JsonDict
    version: int
    cluster_serial: int
    master_name: str
    master_ip: str
    master_pip: str
    default_link: str
    roles: dict[str, NodeRole]
    nodes: dict[str, Node]  # by name and by UUID
    instances: dict[str, Instance]  # by name and by UUID
    pip_by_link_ip: dict[tuple[str, str], str]
    ips_by_link: dict[str, list[str]]
    node_pips: list[str]
    mc_pips: list[str]
    drbd: dict[str, list[list[Any]]]  # node UUID -> minors
    node_instances: dict[str, tuple[list[JsonDict], list[JsonDict]]]  # node UUID
    memo: dict[tuple[int, Any], tuple[str, bytes]] = attrs.field(factory=dict)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "config.data") -> ConfdIndex:
        """Parse and index ``config.data`` bytes (ConfigurationError if unreadable).

        Cross-object validation is skipped: the master validated the file before it
        wrote it, and a replica confd should answer from it even if it would not."""
        config = parse_config(data, source, verify=False)
        return cls.build(config, orjson.loads(data))

    @classmethod
    def build(cls, config: ConfigData, raw: JsonDict) -> ConfdIndex:
        cluster = config.cluster
        nodes: dict[str, Node] = {}
        roles: dict[str, NodeRole] = {}
        for node in config.nodes.values():
            nodes[node.uuid] = node
            nodes[node.name] = node
            roles[node.name] = node_role(node, cluster.master_node)
        master = config.nodes.get(cluster.master_node)
        # Node lists in descending UUID order, the order Ganeti's own confd answers in
        # (clients compare answers of equal serial, so mixed clusters must agree).
        ordered = sorted(config.nodes.values(), key=lambda n: n.uuid, reverse=True)
        raw_instances: JsonDict = raw.get("instances", {})
        instances: dict[str, Instance] = {}
        pip_by_link_ip: dict[tuple[str, str], str] = {}
        ips_by_link: dict[str, list[str]] = {}
        drbd: dict[str, list[list[Any]]] = {u: [] for u in config.nodes}
        node_instances: dict[str, tuple[list[JsonDict], list[JsonDict]]] = {
            u: ([], []) for u in config.nodes
        }

        def name_of(uuid: str) -> str:
            node = config.nodes.get(uuid)
            return node.name if node is not None else uuid

        for inst in sorted(config.instances.values(), key=lambda i: i.name):
            instances[inst.uuid] = inst
            instances[inst.name] = inst
            pnode = config.nodes.get(inst.primary_node)
            for nic in inst.nics:
                if not nic.ip:
                    continue
                link = str(config.filled_nicparams(inst, nic).get("link") or "")
                ips_by_link.setdefault(link, []).append(nic.ip)
                if pnode is not None:
                    pip_by_link_ip.setdefault((link, nic.ip), pnode.primary_ip)
            inst_dict = raw_instances.get(inst.uuid, {})
            all_nodes = config.instance_all_nodes(inst)
            if inst.primary_node in node_instances:
                node_instances[inst.primary_node][0].append(inst_dict)
            for sec in all_nodes[1:]:
                if sec in node_instances:
                    node_instances[sec][1].append(inst_dict)
            for idx, top in enumerate(config.instance_disks(inst)):
                for disk in _walk_disks(top):
                    lid = disk.logical_id
                    if disk.dev_type != constants.DT_DRBD8 or not lid or len(lid) < 5:
                        continue
                    pn, sn, _port, pminor, sminor = lid[:5]
                    for here, minor, peer in ((pn, pminor, sn), (sn, sminor, pn)):
                        role = "primary" if here == inst.primary_node else "secondary"
                        drbd.setdefault(here, []).append(
                            [name_of(here), minor, inst.name, f"disk/{idx}", role, name_of(peer)]
                        )
        for minors in drbd.values():
            minors.sort(key=lambda m: (m[1], m[2]))
        default_link = str(cluster.nicparams.get("default", {}).get("link") or "")
        return cls(
            config=config,
            raw=raw,
            version=config.version,
            cluster_serial=cluster.serial_no,
            master_name=master.name if master is not None else "",
            master_ip=cluster.master_ip,
            master_pip=master.primary_ip if master is not None else "",
            default_link=default_link,
            roles=roles,
            nodes=nodes,
            instances=instances,
            pip_by_link_ip=pip_by_link_ip,
            ips_by_link=ips_by_link,
            node_pips=[n.primary_ip for n in ordered],
            mc_pips=[
                n.primary_ip for n in ordered if n.master_candidate or n.uuid == cluster.master_node
            ],
            drbd=drbd,
            node_instances=node_instances,
        )

    # -- answering -------------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        return self._HANDLERS[request.type](self, request.query)

    def encoded(self, request: Request) -> tuple[str, bytes]:
        """The reply message for ``request`` and its JSON string literal, memoised."""
        query = request.query
        qkey: Any = (
            query
            if query is None or isinstance(query, str | int)
            else orjson.dumps(query, option=orjson.OPT_SORT_KEYS)
        )
        key = (int(request.type), qkey)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        msg = self.answer(request).to_msg()
        entry = (msg, orjson.dumps(msg))
        if len(self.memo) >= MEMO_LIMIT:
            self.memo.clear()
        self.memo[key] = entry
        return entry

    def _ok(self, answer: Any, serial: int | None = None) -> Reply:
        return Reply(ReplyStatus.OK, answer, self.cluster_serial if serial is None else serial)

    def _ping(self, query: Any) -> Reply:
        return Reply(ReplyStatus.OK, self.version, 0)

    def _node_role(self, query: Any) -> Reply:
        if not isinstance(query, str):
            return _error("node role query needs a node name")
        role = self.roles.get(query)
        if role is None:
            return _error(f"unknown node {query!r}")
        return self._ok(int(role))

    def _pip_by_ip(self, link: str, ip: Any) -> Reply:
        if not isinstance(ip, str):
            return ARGUMENT_ERROR
        pip = self.pip_by_link_ip.get((link, ip))
        if pip is None:
            return UNKNOWN_ENTRY
        return self._ok(pip)

    def _node_pip_by_instance_ip(self, query: Any) -> Reply:
        if not isinstance(query, dict):
            return ARGUMENT_ERROR
        link = query.get(QueryField.LINK)
        if link is None:
            link = self.default_link
        if not isinstance(link, str):
            return ARGUMENT_ERROR
        if QueryField.IP in query:
            return self._pip_by_ip(link, query[QueryField.IP])
        iplist = query.get(QueryField.IPLIST, [])
        if isinstance(iplist, list):
            triples = []
            for ip in iplist:
                r = self._pip_by_ip(link, ip)
                triples.append([int(r.status), r.answer, r.serial])
            return self._ok(triples)
        return ARGUMENT_ERROR

    def _cluster_master(self, query: Any) -> Reply:
        if query is None:
            return self._ok(self.master_name)
        if not isinstance(query, dict) or not isinstance(query.get(QueryField.FIELDS), list):
            return ARGUMENT_ERROR
        values = {
            ClusterMasterField.NAME: self.master_name,
            ClusterMasterField.IP: self.master_ip,
            ClusterMasterField.MNODE_PIP: self.master_pip,
        }
        out = []
        for field in query[QueryField.FIELDS]:
            if type(field) is not int or field not in values:
                return ARGUMENT_ERROR
            out.append(values[ClusterMasterField(field)])
        return self._ok(out)

    def _node_pip_list(self, query: Any) -> Reply:
        return self._ok(self.node_pips)

    def _mc_pip_list(self, query: Any) -> Reply:
        return self._ok(self.mc_pips)

    def _instances_ips_list(self, query: Any) -> Reply:
        link = self.default_link if query is None else query
        if not isinstance(link, str):
            return _error("instance IP list query needs a link name or nothing")
        return self._ok(self.ips_by_link.get(link, []))

    def _node(self, query: Any) -> Node | Reply:
        if not isinstance(query, str):
            return _error("query needs a node name or UUID")
        node = self.nodes.get(query)
        if node is None:
            return _error(f"unknown node {query!r}")
        return node

    def _node_drbd(self, query: Any) -> Reply:
        node = self._node(query)
        if isinstance(node, Reply):
            return node
        return self._ok(self.drbd.get(node.uuid, []), node.serial_no)

    def _node_instances(self, query: Any) -> Reply:
        node = self._node(query)
        if isinstance(node, Reply):
            return node
        primary, secondary = self.node_instances.get(node.uuid, ([], []))
        return self._ok([primary, secondary], node.serial_no)

    def _instance_disks(self, query: Any) -> Reply:
        if not isinstance(query, str):
            return _error("instance disks query needs an instance name or UUID")
        inst = self.instances.get(query)
        if inst is None:
            return _error(f"unknown instance {query!r}")
        disks = self.raw.get("disks", {})
        return self._ok([disks[u] for u in inst.disks if u in disks], inst.serial_no)

    def _config_query(self, query: Any) -> Reply:
        if not isinstance(query, str):
            return ARGUMENT_ERROR
        try:
            return self._ok(resolve_pointer(self.raw, query))
        except KeyError:
            return ARGUMENT_ERROR

    def _data_collectors(self, query: Any) -> Reply:
        return self._ok(filled_data_collectors(self.config.cluster.data_collectors))

    _HANDLERS: ClassVar[dict[RequestType, Callable[[ConfdIndex, Any], Reply]]] = {
        RequestType.PING: _ping,
        RequestType.NODE_ROLE_BYNAME: _node_role,
        RequestType.NODE_PIP_BY_INSTANCE_IP: _node_pip_by_instance_ip,
        RequestType.CLUSTER_MASTER: _cluster_master,
        RequestType.NODE_PIP_LIST: _node_pip_list,
        RequestType.MC_PIP_LIST: _mc_pip_list,
        RequestType.INSTANCES_IPS_LIST: _instances_ips_list,
        RequestType.NODE_DRBD: _node_drbd,
        RequestType.NODE_INSTANCES: _node_instances,
        RequestType.INSTANCE_DISKS: _instance_disks,
        RequestType.CONFIG_QUERY: _config_query,
        RequestType.DATA_COLLECTORS: _data_collectors,
    }
