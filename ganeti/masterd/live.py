"""Live node data for queries: one ``node_info`` fan-out to the online nodes."""

from __future__ import annotations

from typing import Any

from ganeti import constants
from ganeti.config.writer import ConfigWriter
from ganeti.query.nodes import LIVE_FIELDS
from ganeti.rpc.client import IRpcClient

LIVE_NODE_FIELDS = frozenset(name for name, *_ in LIVE_FIELDS)


def node_info_args(config: ConfigWriter) -> list[Any]:
    cluster = config.get_cluster()
    storage = []
    if cluster.file_storage_dir:
        storage.append([constants.DT_FILE, cluster.file_storage_dir, []])
    hv = cluster.enabled_hypervisors[0] if cluster.enabled_hypervisors else constants.HT_FAKE
    return [storage, [[hv, cluster.hvparams.get(hv, {})]]]


async def gather_node_live(config: ConfigWriter, rpc: IRpcClient) -> dict[str, dict[str, Any]]:
    """Live values keyed by node name; nodes that failed are left out (status 'no data')."""
    nodes = [n.name for n in config.get_nodes() if not n.offline]
    if not nodes:
        return {}
    results = await rpc.call(nodes, "node_info", node_info_args(config))
    live: dict[str, dict[str, Any]] = {}
    for name, res in results.items():
        if not res.ok:
            continue
        boot_id, storage, hvs = res.payload
        entry: dict[str, Any] = {"bootid": boot_id}
        if storage:
            entry["dtotal"] = storage[0].get("storage_size")
            entry["dfree"] = storage[0].get("storage_free")
        if hvs:
            hv = hvs[0]
            entry.update(
                mtotal=hv.get("memory_total"),
                mnode=hv.get("memory_dom0"),
                mfree=hv.get("memory_free"),
                ctotal=hv.get("cpu_total"),
                cnos=hv.get("cpu_dom0"),
                cnodes=hv.get("cpu_nodes"),
                csockets=hv.get("cpu_sockets"),
            )
        live[name] = entry
    return live


# Instance fields that need the hypervisors' view (``all_instances_info``).
LIVE_INSTANCE_FIELDS = frozenset({"oper_state", "oper_ram", "oper_vcpus", "status"})


async def gather_instance_live(
    config: ConfigWriter, rpc: IRpcClient
) -> tuple[dict[str, dict[str, Any]], frozenset[str]]:
    """Running instances by name (with the node they run on) and the nodes that failed.

    One ``all_instances_info`` fan-out to the online vm_capable nodes."""
    cluster = config.get_cluster()
    nodes = [n.name for n in config.get_nodes() if not n.offline and n.vm_capable]
    if not nodes:
        return {}, frozenset()
    hvs = list(cluster.enabled_hypervisors) or [constants.HT_FAKE]
    all_hvparams = {hv: cluster.hvparams.get(hv, {}) for hv in hvs}
    results = await rpc.call(nodes, "all_instances_info", [hvs, all_hvparams])
    live: dict[str, dict[str, Any]] = {}
    failed: set[str] = set()
    for name, res in results.items():
        if not res.ok or not isinstance(res.payload, dict):
            failed.add(name)
            continue
        for inst_name, data in res.payload.items():
            entry = dict(data) if isinstance(data, dict) else {}
            entry["node"] = name
            live[inst_name] = entry
    return live, frozenset(failed)
