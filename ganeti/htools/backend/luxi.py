"""The LUXI backend (``-L [SOCKET]``): load a cluster from the master daemon.

Uses the new-style ``Query`` call for nodes, instances and groups with the
field lists Ganeti's htools use (unavailable values, e.g. live data of an
offline node, come back with a non-normal status and are treated as absent)
and ``QueryClusterInfo`` for the cluster tags, ipolicy and master (cluster
tags via ``QueryTags`` if the info has none).  The rows are mapped onto the
RAPI-style records of :mod:`ganeti.htools.backend.rapi`, so both backends
build the model with the same code.

The socket: the ``-L`` argument, else ``$GANETI_LUXI_SOCKET``, else the
master socket below ``$GANETI_ROOT`` (``Paths().luxi_socket``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

from ganeti.htools.backend.rapi import build_data
from ganeti.htools.backend.text import ClusterData
from ganeti.htools.types import HToolsError

RS_NORMAL = 0

NODE_FIELDS = [
    "name",
    "mtotal",
    "mnode",
    "mfree",
    "dtotal",
    "dfree",
    "ctotal",
    "cnos",
    "offline",
    "drained",
    "vm_capable",
    "ndp/spindle_count",
    "group.uuid",
    "tags",
    "ndp/exclusive_storage",
    "sptotal",
    "spfree",
    "ndp/cpu_speed",
    "master_capable",
]

INSTANCE_FIELDS = [
    "name",
    "disk_usage",
    "be/maxmem",
    "be/vcpus",
    "status",
    "pnode",
    "snodes",
    "tags",
    "oper_ram",
    "be/auto_balance",
    "disk_template",
    "be/spindle_use",
    "disk.sizes",
    "disk.spindles",
    "forthcoming",
    "nic.networks",
]

GROUP_FIELDS = ["uuid", "name", "alloc_policy", "ipolicy", "networks", "tags"]


class LuxiCaller(Protocol):
    """What the loader needs from a LUXI client (``LuxiClient`` or a fake)."""

    def call(self, method: str, *args: Any) -> Any: ...


def default_socket() -> str:
    env = os.environ.get("GANETI_LUXI_SOCKET")
    if env:
        return env
    from ganeti.paths import Paths

    return str(Paths().luxi_socket)


def _rows(client: LuxiCaller, what: str, fields: Sequence[str]) -> list[dict[str, Any]]:
    """``Query`` result rows as ``{field: value}``; non-normal values are left out."""
    res = client.call("Query", what, list(fields), None)
    if not isinstance(res, dict) or "data" not in res:
        raise HToolsError(f"invalid answer to Query {what}")
    out: list[dict[str, Any]] = []
    for row in res["data"]:
        rec: dict[str, Any] = {}
        for name, cell in zip(fields, row, strict=True):
            status, value = cell
            if status == RS_NORMAL:
                rec[name] = value
        out.append(rec)
    return out


def _node_record(row: dict[str, Any]) -> dict[str, Any]:
    rec = {k: v for k, v in row.items() if not k.startswith("ndp/")}
    rec["ndparams"] = {k[4:]: v for k, v in row.items() if k.startswith("ndp/")}
    # Live values an offline node does not report are simply absent; the RAPI
    # parser only reads them for live nodes.
    rec.setdefault("offline", False)
    rec.setdefault("drained", False)
    return rec


def _instance_record(row: dict[str, Any]) -> dict[str, Any]:
    rec = {k: v for k, v in row.items() if not k.startswith("be/")}
    rec["beparams"] = {k[3:]: v for k, v in row.items() if k.startswith("be/")}
    return rec


def load_from(client: LuxiCaller) -> ClusterData:
    groups = _rows(client, "group", GROUP_FIELDS)
    nodes = [_node_record(r) for r in _rows(client, "node", NODE_FIELDS)]
    instances = [_instance_record(r) for r in _rows(client, "instance", INSTANCE_FIELDS)]
    info = client.call("QueryClusterInfo")
    if not isinstance(info, dict):
        raise HToolsError("invalid answer to QueryClusterInfo")
    tags = None
    if "tags" not in info:
        tags = [str(t) for t in client.call("QueryTags", "cluster", "")]
    return build_data(groups, nodes, instances, info, tags)


def load_luxi(socket_path: str | None = None, client: LuxiCaller | None = None) -> ClusterData:
    """Load the cluster from the master over LUXI."""
    from ganeti import errors

    try:
        if client is not None:
            return load_from(client)
        from ganeti.luxi.client import LuxiClient

        with LuxiClient(socket_path or default_socket()) as real:
            return load_from(real)
    except HToolsError as err:
        raise HToolsError(f"failed to load data, aborting: {err}") from None
    except errors.GanetiError as err:
        raise HToolsError(f"failed to load data, aborting: {err}") from None
