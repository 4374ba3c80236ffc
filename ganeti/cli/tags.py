"""Tag subcommands shared by gnt-cluster, gnt-node and gnt-group (and later others).

``add_tag_commands(sub, kind)`` registers::

    add-tags [--from FILE] [NAME] TAG...     OP_TAGS_SET
    remove-tags [--from FILE] [NAME] TAG...  OP_TAGS_DEL
    list-tags [NAME]                         LUXI QueryTags, one tag per line, sorted
    search-tags PATTERN                      OP_TAGS_SEARCH (with ``search=True``)

``NAME`` is absent for the cluster kind.  ``--from FILE`` reads further tags, one per
line (``-`` is standard input); blank lines are ignored.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ganeti.cli import base

KIND_CLUSTER = "cluster"


def _read_tag_file(path: str | None) -> list[str]:
    if not path:
        return []
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise base.UsageError(f"cannot read tags from {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _split_name(kind: str, opts: argparse.Namespace) -> tuple[str | None, list[str]]:
    args = list(opts.args)
    if kind == KIND_CLUSTER:
        return None, args
    if not args:
        raise base.UsageError(f"missing the {kind} name")
    return args[0], args[1:]


def _tag_op(op_id: str, kind: str, opts: argparse.Namespace, verb: str) -> dict[str, Any]:
    name, tags = _split_name(kind, opts)
    tags += _read_tag_file(opts.tags_file)
    if not tags:
        raise base.UsageError(f"No tags to be {verb}")
    op: dict[str, Any] = {"OP_ID": op_id, "kind": kind, "tags": tags}
    if name is not None:
        op["name"] = name
    return base.apply_common_op_opts(op, opts)


def cmd_add_tags(kind: str, opts: argparse.Namespace) -> int:
    return base.submit_or_wait([_tag_op("OP_TAGS_SET", kind, opts, "added")], opts)


def cmd_remove_tags(kind: str, opts: argparse.Namespace) -> int:
    return base.submit_or_wait([_tag_op("OP_TAGS_DEL", kind, opts, "removed")], opts)


def cmd_list_tags(kind: str, opts: argparse.Namespace) -> int:
    name: str | None = None
    if kind != KIND_CLUSTER:
        if not opts.name:
            raise base.UsageError(f"missing the {kind} name")
        name = opts.name
    with base.get_client() as client:
        tags = client.call("QueryTags", kind, name)
    for tag in sorted(tags):
        print(tag)
    return base.EXIT_SUCCESS


def run_op(op: dict[str, Any], opts: argparse.Namespace) -> Any:
    """Submit one opcode in one job, follow it, return its result."""
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        [result] = base.wait_job(client, job_id)
    return result


def cmd_search_tags(opts: argparse.Namespace) -> int:
    result = run_op({"OP_ID": "OP_TAGS_SEARCH", "pattern": opts.pattern}, opts)
    if not result:
        return base.EXIT_FAILURE
    for path, tag in result:
        print(f"{path} {tag}")
    return base.EXIT_SUCCESS


def add_tag_commands(sub: Any, kind: str, *, search: bool = False) -> None:
    """Register the tag subcommands for objects of ``kind`` on a subparsers object."""
    what = "the cluster" if kind == KIND_CLUSTER else f"a {kind}"
    name_help = "" if kind == KIND_CLUSTER else f"{kind.upper()} "
    for command, func, verb in (
        ("add-tags", cmd_add_tags, "add tags to"),
        ("remove-tags", cmd_remove_tags, "remove tags from"),
    ):
        p = sub.add_parser(command, help=f"{verb} {what}")
        p.add_argument(
            "args",
            nargs="*",
            metavar=f"{name_help}TAG",
            help="the object's name, then tags" if kind != KIND_CLUSTER else "tags",
        )
        p.add_argument(
            "--from", dest="tags_file", default=None, help="read tags from FILE (- for stdin)"
        )
        base.add_submit_opts(p)
        p.set_defaults(func=lambda o, f=func: f(kind, o))
    lst = sub.add_parser("list-tags", help=f"list the tags of {what}")
    if kind != KIND_CLUSTER:
        lst.add_argument("name", nargs="?", default=None, metavar=kind.upper())
    lst.set_defaults(func=lambda o: cmd_list_tags(kind, o))
    if search:
        srch = sub.add_parser("search-tags", help="search tags on every object by regexp")
        srch.add_argument("pattern", metavar="PATTERN")
        srch.set_defaults(func=cmd_search_tags)
