"""gnt-node: add, remove, list and modify cluster nodes; move their instances away."""

from __future__ import annotations

import argparse
from typing import Any

from ganeti.cli import base
from ganeti.cli.node_moves import add_move_commands
from ganeti.cli.tags import add_tag_commands

DEFAULT_FIELDS = ["name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt"]
INFO_FIELDS = [
    "name",
    "uuid",
    "pip",
    "sip",
    "master",
    "master_candidate",
    "drained",
    "offline",
    "master_capable",
    "vm_capable",
    "group",
    "pinst_list",
    "sinst_list",
    "ndparams",
    "tags",
]


def yes_no(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("yes", "true", "1"):
        return True
    if lowered in ("no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {value!r}")


def key_values(text: str) -> dict[str, Any]:
    """``a=1,b=x`` into a dict; numbers and yes/no become ints and bools."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
        parsed: Any = value
        if value.isdigit():
            parsed = int(value)
        elif value.lower() in ("true", "yes"):
            parsed = True
        elif value.lower() in ("false", "no"):
            parsed = False
        out[key] = parsed
    return out


def cmd_add(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_NODE_ADD",
        "node_name": opts.node,
        "readd": opts.readd,
    }
    for key in ("primary_ip", "secondary_ip", "group", "master_capable", "vm_capable"):
        value = getattr(opts, key)
        if value is not None:
            op[key] = value
    if opts.node_parameters:
        op["ndparams"] = opts.node_parameters
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_readd(opts: argparse.Namespace) -> int:
    opts.readd = True
    for key in ("secondary_ip", "group", "master_capable", "vm_capable", "node_parameters"):
        setattr(opts, key, getattr(opts, key, None))
    return cmd_add(opts)


def cmd_remove(opts: argparse.Namespace) -> int:
    op = {"OP_ID": "OP_NODE_REMOVE", "node_name": opts.node}
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_modify(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {"OP_ID": "OP_NODE_SET_PARAMS", "node_name": opts.node}
    for key in (
        "offline",
        "drained",
        "master_candidate",
        "master_capable",
        "vm_capable",
        "secondary_ip",
    ):
        value = getattr(opts, key)
        if value is not None:
            op[key] = value
    if opts.node_parameters:
        op["ndparams"] = opts.node_parameters
    if len(op) == 2:
        raise base.UsageError("nothing to change; see gnt-node modify --help")
    op["auto_promote"] = opts.auto_promote
    op["force"] = opts.force
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        if opts.submit:
            print(f"JobID: {job_id}")
            return base.EXIT_SUCCESS
        [changes] = base.wait_job(client, job_id)
    if changes:
        print(f"Modified node {opts.node}")
        for key, value in changes:
            print(f" - {key} -> {value}")
    return base.EXIT_SUCCESS


def cmd_list(opts: argparse.Namespace) -> int:
    fields = base.select_fields(opts.output, DEFAULT_FIELDS)
    qfilter = base.parse_qfilter(opts.qfilter)
    if opts.nodes:
        names = ["|", *(["=", "name", n] for n in opts.nodes)]
        qfilter = ["&", qfilter, names] if qfilter else names
    with base.get_client() as client:
        result = client.query("node", fields, qfilter)
    return base.print_query_table(result, opts)


def cmd_info(opts: argparse.Namespace) -> int:
    with base.get_client() as client:
        rows = client.call("QueryNodes", opts.nodes, INFO_FIELDS)
    for row in rows:
        info = dict(zip(INFO_FIELDS, row, strict=True))
        print(f"Node name: {info['name']}")
        print(f"  primary ip: {info['pip']}")
        print(f"  secondary ip: {info['sip']}")
        print(f"  UUID: {info['uuid']}")
        print(f"  master: {'yes' if info['master'] else 'no'}")
        print(f"  master candidate: {'yes' if info['master_candidate'] else 'no'}")
        print(f"  drained: {'yes' if info['drained'] else 'no'}")
        print(f"  offline: {'yes' if info['offline'] else 'no'}")
        print(f"  master_capable: {'yes' if info['master_capable'] else 'no'}")
        print(f"  vm_capable: {'yes' if info['vm_capable'] else 'no'}")
        print(f"  node group: {info['group']}")
        print(f"  primary for instances: {', '.join(info['pinst_list']) or '-'}")
        print(f"  secondary for instances: {', '.join(info['sinst_list']) or '-'}")
        print("  node parameters:")
        for key, value in sorted((info["ndparams"] or {}).items()):
            print(f"    - {key}: {value}")
        if info["tags"]:
            print(f"  tags: {', '.join(info['tags'])}")
    return base.EXIT_SUCCESS


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-node", description="Manage cluster nodes.")
    sub = p.add_subparsers(metavar="COMMAND")

    add = sub.add_parser("add", help="add a node to the cluster")
    add.add_argument("node", metavar="NODE")
    add.add_argument("--readd", action="store_true", help="re-add a node that was removed")
    add.add_argument("--primary-ip", default=None, help="the node's address (default: DNS)")
    add.add_argument("-s", "--secondary-ip", default=None, help="replication address")
    add.add_argument("-g", "--node-group", dest="group", default=None, help="node group")
    add.add_argument("--master-capable", type=yes_no, default=None, metavar="yes|no")
    add.add_argument("--vm-capable", type=yes_no, default=None, metavar="yes|no")
    add.add_argument("--node-parameters", type=key_values, default=None, metavar="K=V,...")
    base.add_submit_opts(add)
    add.set_defaults(func=cmd_add)

    readd = sub.add_parser("readd", help="re-add a node (same as add --readd)")
    readd.add_argument("node", metavar="NODE")
    readd.add_argument("--primary-ip", default=None)
    base.add_submit_opts(readd)
    readd.set_defaults(func=cmd_readd)

    remove = sub.add_parser("remove", help="remove a node from the cluster")
    remove.add_argument("node", metavar="NODE")
    base.add_submit_opts(remove)
    remove.set_defaults(func=cmd_remove)

    ls = sub.add_parser("list", help="list nodes")
    base.add_list_opts(ls, DEFAULT_FIELDS)
    ls.add_argument("nodes", nargs="*", metavar="NODE")
    ls.set_defaults(func=cmd_list)

    info = sub.add_parser("info", help="show node details")
    info.add_argument("nodes", nargs="*", metavar="NODE")
    info.set_defaults(func=cmd_info)

    mod = sub.add_parser("modify", help="change a node's role or parameters")
    mod.add_argument("node", metavar="NODE")
    mod.add_argument("-O", "--offline", type=yes_no, default=None, metavar="yes|no")
    mod.add_argument("-D", "--drained", type=yes_no, default=None, metavar="yes|no")
    mod.add_argument("-C", "--master-candidate", type=yes_no, default=None, metavar="yes|no")
    mod.add_argument("--master-capable", type=yes_no, default=None, metavar="yes|no")
    mod.add_argument("--vm-capable", type=yes_no, default=None, metavar="yes|no")
    mod.add_argument("-s", "--secondary-ip", default=None)
    mod.add_argument("--node-parameters", type=key_values, default=None, metavar="K=V,...")
    mod.add_argument("--auto-promote", action="store_true", help="promote another candidate")
    mod.add_argument("--force", action="store_true", help="allow too few master candidates")
    base.add_submit_opts(mod)
    mod.set_defaults(func=cmd_modify)

    add_move_commands(sub)  # migrate, evacuate, failover
    add_tag_commands(sub, "node")
    return p


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-node", build, argv)
