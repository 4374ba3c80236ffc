"""gnt-os: the OS definitions installed on the nodes (list, info, diagnose)."""

from __future__ import annotations

import argparse
from typing import Any

from ganeti.cli import base

_FIELDS = [
    "name",
    "valid",
    "variants",
    "parameters",
    "api_versions",
    "node_status",
    "hidden",
    "blacklisted",
    "trusted",
]


def _diagnose(opts: argparse.Namespace, names: list[str] | None = None) -> list[dict[str, Any]]:
    op = {"OP_ID": "OP_OS_DIAGNOSE", "output_fields": _FIELDS, "names": names or []}
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        [rows] = base.wait_job(client, job_id, feedback=lambda _line: None)
    return [dict(zip(_FIELDS, row, strict=True)) for row in rows]


def cmd_list(opts: argparse.Namespace) -> int:
    names: list[str] = []
    for os_ in _diagnose(opts):
        if not os_["valid"] or (os_["hidden"] and not opts.show_hidden) or os_["blacklisted"]:
            continue
        if os_["variants"]:
            names.extend(f"{os_['name']}+{v}" for v in os_["variants"])
        else:
            names.append(os_["name"])
    if not opts.no_headers:
        print("Name")
    for name in names:
        print(name)
    return base.EXIT_SUCCESS


def cmd_info(opts: argparse.Namespace) -> int:
    for os_ in _diagnose(opts, opts.names):
        print(f"OS: {os_['name']}")
        print(f"  valid: {os_['valid']}")
        print(f"  hidden: {os_['hidden']}")
        print(f"  blacklisted: {os_['blacklisted']}")
        print(f"  trusted: {os_['trusted']}")
        if os_["valid"]:
            print(f"  API versions: {', '.join(str(v) for v in os_['api_versions'])}")
            print(f"  variants: {', '.join(os_['variants']) or '-'}")
            print("  parameters:")
            for name, doc in os_["parameters"]:
                print(f"    - {name}: {doc}")
        print()
    return base.EXIT_SUCCESS


def cmd_diagnose(opts: argparse.Namespace) -> int:
    bad = False
    for os_ in _diagnose(opts):
        status = "valid" if os_["valid"] else "invalid"
        bad = bad or not os_["valid"]
        print(f"OS: {os_['name']} [global status: {status}]")
        for node in sorted(os_["node_status"]):
            entries = os_["node_status"][node]
            path, valid, diagnose = entries[0][:3]
            state = "valid" if valid else f"invalid - {diagnose}"
            print(f"  Node: {node}, status: {state} (path: {path})")
            for extra in entries[1:]:
                print(f"    [hidden by the first] path: {extra[0]}")
        print()
    return base.EXIT_FAILURE if bad else base.EXIT_SUCCESS


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-os", description="Show OS definitions.")
    sub = p.add_subparsers(metavar="COMMAND")
    ls = sub.add_parser("list", help="list the valid OS definitions (with variants)")
    ls.add_argument("--no-headers", action="store_true")
    ls.add_argument("--show-hidden", action="store_true")
    ls.set_defaults(func=cmd_list)
    info = sub.add_parser("info", help="details of OS definitions")
    info.add_argument("names", nargs="*", metavar="OS")
    info.set_defaults(func=cmd_info)
    diag = sub.add_parser("diagnose", help="the OS definitions found on each node")
    diag.set_defaults(func=cmd_diagnose)
    return p


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-os", build, argv)
