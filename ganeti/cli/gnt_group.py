"""gnt-group: node group administration.

Also holds the parsers for Ganeti-style parameter options used by gnt-cluster too:
``key=value,no_flag,-reset`` lists, ``target:key=value`` per-template/hypervisor lists
and the ``--ipolicy-*`` options.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ganeti import constants
from ganeti.cli import base
from ganeti.cli.tags import add_tag_commands

DEFAULT_FIELDS = ["name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"]
INFO_FIELDS = [
    "name",
    "uuid",
    "serial_no",
    "ctime",
    "mtime",
    "alloc_policy",
    "node_list",
    "pinst_list",
    "tags",
    "custom_ndparams",
    "ndparams",
    "custom_diskparams",
    "diskparams",
    "custom_ipolicy",
    "ipolicy",
]

# --- parameter parsing ------------------------------------------------------------------


def parse_keyval(text: str, what: str = "parameter") -> dict[str, Any]:
    """``a=1,b=x,no_c,-d,e`` -> ``{"a": "1", "b": "x", "c": False, "d": "default", "e": True}``.

    Values stay strings; the master converts them to the parameter's type.
    """
    out: dict[str, Any] = {}
    if not text:
        return out
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            key, value = item.split("=", 1)
            if not key:
                raise base.UsageError(f"invalid {what} {item!r}: empty key")
            out[key] = value
        elif item.startswith("no_"):
            out[item[3:]] = False
        elif item.startswith("-"):
            out[item[1:]] = "default"
        else:
            out[item] = True
    return out


def parse_targeted(values: Sequence[str], what: str) -> dict[str, dict[str, Any]]:
    """``["drbd:resync-rate=1000,metavg=vg", "plain:stripes=2"]`` -> dict of dicts.

    ``-target`` alone resets everything of that target.
    """
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        if value.startswith("-") and ":" not in value:
            out[value[1:]] = "default"  # type: ignore[assignment]
            continue
        target, sep, rest = value.partition(":")
        if not sep or not target:
            raise base.UsageError(f"invalid {what} {value!r}; expected TARGET:key=value,...")
        out.setdefault(target, {}).update(parse_keyval(rest, what))
    return out


def add_ipolicy_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ipolicy-std-specs",
        default=None,
        metavar="SPECS",
        help="standard instance spec, e.g. memory-size=128,cpu-count=1",
    )
    p.add_argument(
        "--ipolicy-bounds-specs",
        default=None,
        metavar="BOUNDS",
        help="min:SPECS/max:SPECS pairs separated by //",
    )
    p.add_argument(
        "--ipolicy-disk-templates", default=None, help="comma-separated allowed disk templates"
    )
    p.add_argument("--ipolicy-vcpu-ratio", default=None, help="max vCPUs per physical CPU")
    p.add_argument("--ipolicy-spindle-ratio", default=None, help="max instances per spindle")


def _int_specs(text: str, what: str) -> dict[str, Any]:
    specs = parse_keyval(text, what)
    out: dict[str, Any] = {}
    for key, value in specs.items():
        if value == "default":
            out[key] = value
            continue
        try:
            out[key] = int(value)
        except (TypeError, ValueError):
            raise base.UsageError(f"{what}: {key} needs an integer, not {value!r}") from None
    return out


def ipolicy_from_opts(opts: argparse.Namespace) -> dict[str, Any] | None:
    policy: dict[str, Any] = {}
    if opts.ipolicy_std_specs is not None:
        policy[constants.ISPECS_STD] = _int_specs(opts.ipolicy_std_specs, "std specs")
    if opts.ipolicy_bounds_specs is not None:
        pairs = []
        for chunk in opts.ipolicy_bounds_specs.split("//"):
            pair: dict[str, Any] = {}
            for side in chunk.split("/"):
                name, sep, specs = side.partition(":")
                if not sep or name not in (constants.ISPECS_MIN, constants.ISPECS_MAX):
                    raise base.UsageError(f"invalid bounds specs {chunk!r}; use min:...,/max:...")
                pair[name] = _int_specs(specs, f"{name} specs")
            pairs.append(pair)
        policy[constants.ISPECS_MINMAX] = pairs
    if opts.ipolicy_disk_templates is not None:
        policy[constants.IPOLICY_DTS] = [
            t for t in opts.ipolicy_disk_templates.split(",") if t.strip()
        ]
    for attr, key in (
        ("ipolicy_vcpu_ratio", constants.IPOLICY_VCPU_RATIO),
        ("ipolicy_spindle_ratio", constants.IPOLICY_SPINDLE_RATIO),
    ):
        value = getattr(opts, attr)
        if value is None:
            continue
        if value == "default":
            policy[key] = value
            continue
        try:
            policy[key] = float(value)
        except ValueError:
            raise base.UsageError(f"--{attr.replace('_', '-')} needs a number") from None
    return policy or None


def name_filter(names: Sequence[str]) -> list[Any] | None:
    if not names:
        return None
    return ["|", *(["=", "name", n] for n in names)]


def and_filters(*parts: Any) -> Any:
    given = [p for p in parts if p]
    if not given:
        return None
    return given[0] if len(given) == 1 else ["&", *given]


# --- commands ----------------------------------------------------------------------------


def _group_params(opts: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if opts.alloc_policy is not None:
        params["alloc_policy"] = opts.alloc_policy
    if opts.node_parameters is not None:
        params["ndparams"] = parse_keyval(opts.node_parameters, "node parameter")
    if opts.disk_parameters:
        params["diskparams"] = parse_targeted(opts.disk_parameters, "disk parameter")
    ipolicy = ipolicy_from_opts(opts)
    if ipolicy is not None:
        params["ipolicy"] = ipolicy
    return params


def cmd_add(opts: argparse.Namespace) -> int:
    op = {"OP_ID": "OP_GROUP_ADD", "group_name": opts.group, **_group_params(opts)}
    ops = [base.apply_common_op_opts(op, opts)]
    tags = [t for t in (opts.tags or "").split(",") if t]
    if tags:
        tag_op = {"OP_ID": "OP_TAGS_SET", "kind": "nodegroup", "name": opts.group, "tags": tags}
        ops.append(base.apply_common_op_opts(tag_op, opts))
    return base.submit_or_wait(ops, opts)


def cmd_modify(opts: argparse.Namespace) -> int:
    params = _group_params(opts)
    if not params:
        raise base.UsageError("Please give at least one of the parameters.")
    op = {"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": opts.group, **params}
    return _submit_and_show_changes([base.apply_common_op_opts(op, opts)], opts)


def _submit_and_show_changes(ops: list[dict[str, Any]], opts: argparse.Namespace) -> int:
    if opts.submit:
        return base.submit_or_wait(ops, opts)
    with base.get_client() as client:
        job_id = client.submit_job(ops)
        results = base.wait_job(client, job_id)
    changes = results[0] or []
    if changes:
        print(f"Modified node group {opts.group}")
        for param, value in changes:
            print(f" - {param} -> {value}")
    return base.EXIT_SUCCESS


def cmd_remove(opts: argparse.Namespace) -> int:
    op = {"OP_ID": "OP_GROUP_REMOVE", "group_name": opts.group}
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_rename(opts: argparse.Namespace) -> int:
    op = {"OP_ID": "OP_GROUP_RENAME", "group_name": opts.group, "new_name": opts.new_name}
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_assign_nodes(opts: argparse.Namespace) -> int:
    if not opts.nodes:
        raise base.UsageError("give at least one node to assign")
    op = {
        "OP_ID": "OP_GROUP_ASSIGN_NODES",
        "group_name": opts.group,
        "nodes": opts.nodes,
        "force": opts.force,
    }
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_list(opts: argparse.Namespace) -> int:
    fields = base.select_fields(opts.output, DEFAULT_FIELDS)
    qfilter = and_filters(base.parse_qfilter(opts.qfilter), name_filter(opts.groups))
    with base.get_client() as client:
        result = client.query("group", fields, qfilter)
    return base.print_query_table(result, opts)


def cmd_list_fields(opts: argparse.Namespace) -> int:
    with base.get_client() as client:
        result = client.call("QueryFields", "group", opts.fields or None)
    rows = [[f["name"], f["title"], f.get("doc", "")] for f in result["fields"]]
    for line in base.format_table(
        ["Name", "Title", "Description"], rows, separator=opts.separator, no_headers=False
    ):
        print(line)
    return base.EXIT_SUCCESS


def format_nested(value: Any, indent: int) -> list[str]:
    """Dicts and lists as indented ``key: value`` lines, keys sorted."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return []
        lines: list[str] = []
        for key in sorted(value):
            item = value[key]
            if isinstance(item, dict):
                lines.append(f"{pad}{key}:")
                lines.extend(format_nested(item, indent + 1))
            elif isinstance(item, list) and item and isinstance(item[0], dict):
                lines.append(f"{pad}{key}:")
                for idx, sub in enumerate(item):
                    lines.append(f"{pad}  - {idx}:")
                    lines.extend(format_nested(sub, indent + 2))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return lines
    return [f"{pad}{_scalar(value)}"]


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if value is None or value == "":
        return "(none)" if value is None else ""
    return str(value)


def _info_lines(row: list[Any]) -> list[str]:
    values = dict(zip(INFO_FIELDS, (v for _status, v in row), strict=True))
    lines = [
        f"Node group: {values['name']}",
        f"  UUID: {values['uuid']}",
        f"  Serial number: {values['serial_no']}",
        f"  Creation time: {base.format_value(values['ctime'], 'timestamp', None)}",
        f"  Modification time: {base.format_value(values['mtime'], 'timestamp', None)}",
        f"  Allocation policy: {values['alloc_policy']}",
        f"  Nodes: {_scalar(values['node_list'] or [])}",
        f"  Primary instances: {_scalar(values['pinst_list'] or [])}",
        f"  Tags: {_scalar(sorted(values['tags'] or []))}",
        "  Node parameters:",
    ]
    custom_nd = values["custom_ndparams"] or {}
    for key in sorted(values["ndparams"] or {}):
        mark = "" if key in custom_nd else " (default)"
        lines.append(f"    {key}: {_scalar(values['ndparams'][key])}{mark}")
    lines.append("  Disk parameters:")
    lines.extend(format_nested(values["diskparams"] or {}, 2))
    lines.append("  Instance policy:")
    lines.extend(format_nested(values["ipolicy"] or {}, 2))
    return lines


def cmd_info(opts: argparse.Namespace) -> int:
    with base.get_client() as client:
        result = client.query("group", INFO_FIELDS, name_filter(opts.groups))
    rows = sorted(result["data"], key=lambda r: str(r[0][1]))
    if opts.groups:
        found = {r[0][1] for r in rows}
        missing = [g for g in opts.groups if g not in found]
        if missing:
            raise base.UsageError(f"unknown node group(s): {', '.join(missing)}")
    for row in rows:
        for line in _info_lines(row):
            print(line)
    return base.EXIT_SUCCESS


def _add_param_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--alloc-policy",
        choices=sorted(constants.VALID_ALLOC_POLICIES),
        default=None,
        help="allocation policy of the group",
    )
    p.add_argument(
        "-N",
        "--node-parameters",
        default=None,
        metavar="PARAMS",
        help="node parameters, e.g. spindle_count=2,ssh_port=22 (-key resets)",
    )
    p.add_argument(
        "-D",
        "--disk-parameters",
        action="append",
        default=[],
        metavar="TEMPLATE:PARAMS",
        help="disk parameters of a template, e.g. drbd:resync-rate=1000 (repeatable)",
    )
    add_ipolicy_opts(p)


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-group", description="Node group administration.")
    sub = p.add_subparsers(metavar="COMMAND")

    add = sub.add_parser("add", help="create a node group")
    add.add_argument("group", metavar="GROUP")
    _add_param_opts(add)
    add.add_argument("--tags", default=None, help="comma-separated tags for the new group")
    base.add_submit_opts(add)
    add.set_defaults(func=cmd_add)

    assign = sub.add_parser("assign-nodes", help="move nodes into a group")
    assign.add_argument("group", metavar="GROUP")
    assign.add_argument("nodes", nargs="*", metavar="NODE")
    assign.add_argument(
        "--force", action="store_true", help="move even if DRBD instances get split"
    )
    base.add_submit_opts(assign)
    assign.set_defaults(func=cmd_assign_nodes)

    modify = sub.add_parser("modify", help="change a group's parameters")
    modify.add_argument("group", metavar="GROUP")
    _add_param_opts(modify)
    base.add_submit_opts(modify)
    modify.set_defaults(func=cmd_modify)

    remove = sub.add_parser("remove", help="remove an empty group")
    remove.add_argument("group", metavar="GROUP")
    base.add_submit_opts(remove)
    remove.set_defaults(func=cmd_remove)

    rename = sub.add_parser("rename", help="rename a group")
    rename.add_argument("group", metavar="GROUP")
    rename.add_argument("new_name", metavar="NEW_NAME")
    base.add_submit_opts(rename)
    rename.set_defaults(func=cmd_rename)

    lst = sub.add_parser("list", help="list node groups")
    lst.add_argument("groups", nargs="*", metavar="GROUP")
    base.add_list_opts(lst, DEFAULT_FIELDS)
    lst.set_defaults(func=cmd_list)

    fields = sub.add_parser("list-fields", help="list the fields 'list -o' accepts")
    fields.add_argument("fields", nargs="*", metavar="FIELD")
    fields.add_argument("--separator", default=None)
    fields.set_defaults(func=cmd_list_fields)

    info = sub.add_parser("info", help="show the details of node groups")
    info.add_argument("groups", nargs="*", metavar="GROUP")
    info.set_defaults(func=cmd_info)

    add_tag_commands(sub, "nodegroup")
    return p


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-group", build, argv)
