"""OP_OS_DIAGNOSE: the OS definitions found on the nodes, merged cluster-wide.

An OS is *valid* when every answering vm_capable node has a valid definition of it.
Variants, parameters and API versions are those common to all nodes.  Fields follow
Ganeti: ``name, valid, variants, parameters, api_versions, node_status, hidden,
blacklisted, trusted, os_hvp, osparams``.
"""

from __future__ import annotations

from typing import Any

from ganeti import errors
from ganeti.cmdlib.base import Feedback, LogicalUnit, register

FIELDS = (
    "name",
    "valid",
    "variants",
    "parameters",
    "api_versions",
    "node_status",
    "hidden",
    "blacklisted",
    "trusted",
    "os_hvp",
    "osparams",
)


def merge_diagnoses(
    replies: dict[str, list[list[Any]] | None],
) -> dict[str, dict[str, Any]]:
    """Per OS name: validity, common variants/parameters/API versions, per-node status.

    ``replies`` maps node name -> os_diagnose rows, or None for a node that failed.
    """
    answered = sorted(n for n, rows in replies.items() if rows is not None)
    merged: dict[str, dict[str, Any]] = {}
    for node in answered:
        for row in replies[node] or []:
            name, path, valid, diagnose, variants, params, api_versions, trusted = row
            entry = merged.setdefault(
                name,
                {
                    "valid": True,
                    "variants": None,
                    "parameters": None,
                    "api_versions": None,
                    "trusted": True,
                    "node_status": {},
                },
            )
            status = entry["node_status"].setdefault(node, [])
            status.append([path, bool(valid), diagnose, variants, params, api_versions])
            if len(status) > 1:
                continue  # a later entry in the search path is shadowed
            entry["valid"] = entry["valid"] and bool(valid)
            entry["trusted"] = entry["trusted"] and bool(trusted)
            for key, value in (
                ("variants", variants or []),
                ("parameters", [tuple(p) for p in params or []]),
                ("api_versions", api_versions or []),
            ):
                prev = entry[key]
                entry[key] = list(value) if prev is None else [v for v in prev if v in value]
    for entry in merged.values():
        if set(entry["node_status"]) != set(answered):
            entry["valid"] = False
        entry["parameters"] = [list(p) for p in entry["parameters"] or []]
        entry["variants"] = sorted(entry["variants"] or [])
        entry["api_versions"] = sorted(entry["api_versions"] or [])
    return merged


@register
class LUOsDiagnose(LogicalUnit):
    OP_ID = "OP_OS_DIAGNOSE"
    REQ_BGL = False

    def check_prereq(self) -> None:
        unknown = [f for f in self.op.output_fields if f not in FIELDS]
        if unknown:
            raise errors.OpPrereqError(
                f"unknown output field(s): {', '.join(unknown)}; valid: {', '.join(FIELDS)}",
                errors.ECODE_INVAL,
            )

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        cluster = cfg.get_cluster()
        nodes = [n.name for n in cfg.get_nodes() if not n.offline and n.vm_capable]
        results = await self.ctx.rpc.call(nodes, "os_diagnose", []) if nodes else {}
        replies: dict[str, list[list[Any]] | None] = {}
        for name in nodes:
            res = results.get(name)
            if res is None or not res.ok:
                feedback(f"WARNING: node {name} did not answer: {res.fail_msg if res else ''}")
                replies[name] = None
            else:
                replies[name] = res.payload or []
        merged = merge_diagnoses(replies)
        names = sorted(merged)
        if self.op.names:
            missing = [n for n in self.op.names if n not in merged]
            names = [n for n in self.op.names if n in merged]
            for name in missing:
                feedback(f"WARNING: OS {name} was not found on any node")
        rows = []
        for name in names:
            entry = merged[name]
            values = {
                "name": name,
                "valid": entry["valid"],
                "variants": entry["variants"],
                "parameters": entry["parameters"],
                "api_versions": entry["api_versions"],
                "node_status": entry["node_status"],
                "hidden": name in cluster.hidden_os,
                "blacklisted": name in cluster.blacklisted_os,
                "trusted": entry["trusted"],
                "os_hvp": cluster.os_hvp.get(name, {}),
                "osparams": cluster.osparams.get(name, {}),
            }
            rows.append([values[f] for f in self.op.output_fields])
        return rows
