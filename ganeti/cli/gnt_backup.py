"""gnt-backup: instance exports (export, import, list, remove).

An export is ``/srv/ganeti/export/<instance>/`` on a node: ``config.ini`` and one dump
per disk.  ``import`` creates a new instance from one (OP_INSTANCE_CREATE mode import);
values not given on the command line come from the export.
"""

from __future__ import annotations

import argparse
from typing import Any

from ganeti.cli import base
from ganeti.cli.gnt_instance import (
    _ordered,
    _param_opts,
    _size_value,
    indexed,
    key_values,
)

LIST_FIELDS = ["node", "export"]
COMPRESSIONS = ["none", "gzip", "gzip-fast", "gzip-slow"]


def cmd_export(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_BACKUP_EXPORT",
        "instance_name": opts.instance,
        "target_node": opts.node,
        "mode": "local",
        "shutdown": not opts.noshutdown,
        "remove_instance": opts.remove_instance,
        "ignore_remove_failures": opts.ignore_remove_failures,
        "shutdown_timeout": opts.shutdown_timeout,
        "compress": opts.compress,
    }
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_import(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_INSTANCE_CREATE",
        "mode": "import",
        "instance_name": opts.instance,
        "src_path": opts.src_dir,
        "start": not opts.no_start,
        "name_check": opts.name_check,
        "ip_check": opts.ip_check,
        "ignore_ipolicy": opts.ignore_ipolicy,
        "identify_defaults": opts.identify_defaults,
        "compress": opts.compress,
        "disks": [_size_value(d) for d in _ordered(opts.disk, "disk")],
        "nics": _ordered(opts.net, "net"),
    }
    for key, value in (
        ("src_node", opts.src_node),
        ("disk_template", opts.disk_template),
        ("os_type", opts.os),
        ("iallocator", opts.iallocator),
        ("hypervisor", opts.hypervisor),
        ("osparams", opts.osparams),
        ("beparams", opts.beparams),
        ("file_storage_dir", opts.file_storage_dir),
    ):
        if value:
            op[key] = value
    if opts.node:
        op["pnode"] = opts.node
    if opts.hvparams:
        hv, params = opts.hvparams
        if hv:
            op["hypervisor"] = hv
        op["hvparams"] = params
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_list(opts: argparse.Namespace) -> int:
    qfilter: Any = None
    if opts.nodes:
        qfilter = ["|", *(["=", "node", n] for n in opts.nodes)]
    with base.get_client() as client:
        result = client.query("export", LIST_FIELDS, qfilter)
    if any(status != 0 for row in result["data"] for status, _ in row):
        print("WARNING: some nodes did not answer (shown with '?')")
    return base.print_query_table(result, opts)


def cmd_remove(opts: argparse.Namespace) -> int:
    op = {"OP_ID": "OP_BACKUP_REMOVE", "instance_name": opts.instance}
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-backup", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ex = sub.add_parser("export", help="export an instance to a node's export directory")
    ex.add_argument("instance", metavar="INSTANCE")
    ex.add_argument("-n", "--node", required=True, metavar="NODE", help="where to store it")
    ex.add_argument(
        "--noshutdown",
        action="store_true",
        help="don't shut the instance down (refused if it runs)",
    )
    ex.add_argument("--remove-instance", action="store_true", help="remove it after the export")
    ex.add_argument("--ignore-remove-failures", action="store_true")
    ex.add_argument("--shutdown-timeout", type=int, default=120)
    ex.add_argument("--compress", default="none", choices=COMPRESSIONS, help="on the wire")
    base.add_submit_opts(ex)
    ex.set_defaults(func=cmd_export)

    im = sub.add_parser("import", help="create an instance from an export")
    im.add_argument("instance", metavar="INSTANCE")
    im.add_argument("--src-dir", required=True, metavar="EXPORT", help="export name or path")
    im.add_argument("--src-node", default=None, metavar="NODE", help="node holding the export")
    im.add_argument("-n", "--node", default=None, metavar="NODE", help="the new primary node")
    im.add_argument("-I", "--iallocator", default=None)
    im.add_argument("-t", "--disk-template", default=None)
    im.add_argument("-o", "--os-type", dest="os", default=None, metavar="OS[+VARIANT]")
    im.add_argument(
        "--disk", action="append", type=indexed, default=[], metavar="N:size=SIZE[,...]"
    )
    im.add_argument("--net", action="append", type=indexed, default=[], metavar="N:[mac=...]")
    _param_opts(im)
    im.add_argument("--hypervisor", default=None)
    im.add_argument("-O", "--os-parameters", dest="osparams", type=key_values, default=None)
    im.add_argument("--no-start", action="store_true", help="don't start the instance")
    im.add_argument("--no-name-check", dest="name_check", action="store_false")
    im.add_argument("--no-ip-check", dest="ip_check", action="store_false")
    im.add_argument("--ignore-ipolicy", action="store_true")
    im.add_argument("--identify-defaults", action="store_true")
    im.add_argument("--file-storage-dir", default=None)
    im.add_argument("--compress", default="none", choices=COMPRESSIONS, help="on the wire")
    base.add_submit_opts(im)
    im.set_defaults(func=cmd_import)

    ls = sub.add_parser("list", help="list the exports on the nodes")
    ls.add_argument("--node", dest="nodes", action="append", default=[], metavar="NODE")
    ls.add_argument("--no-headers", action="store_true")
    ls.add_argument("--separator", default=None)
    ls.add_argument("--units", default=None)
    ls.set_defaults(func=cmd_list)

    rm = sub.add_parser("remove", help="remove an instance's export(s)")
    rm.add_argument("instance", metavar="INSTANCE")
    base.add_submit_opts(rm)
    rm.set_defaults(func=cmd_remove)
    return p


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-backup", build, argv)
