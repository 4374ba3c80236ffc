"""``ganeti-rpc``: call a node RPC procedure from a master candidate, for diagnosis.

Uses this node's client certificate (``client.pem``) and the cluster certificate, and
finds nodes in ssconf (``node_primary_ips``, ``offline_nodes``).  Read-only procedures
are the point (``version``, ``node_info``, ``master_node_name``); it refuses the ones
that change a node unless ``--allow-writes`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ganeti import constants, errors, serializer, tls
from ganeti.paths import Paths, default_root
from ganeti.rpc import procedures
from ganeti.rpc.client import RpcResult, RpcTarget

READ_ONLY = frozenset({"version", "node_info", "master_node_name", "test_delay"})


def _ssconf_lines(paths: Paths, key: str) -> list[str]:
    try:
        return paths.ssconf(key).read_text().splitlines()
    except FileNotFoundError:
        return []


def resolve_targets(
    paths: Paths, names: list[str], port: int, extra: list[str] | None = None
) -> list[RpcTarget]:
    addresses: dict[str, str] = {}
    for line in _ssconf_lines(paths, "node_primary_ips"):
        name, _, ip = line.partition(" ")
        if name and ip:
            addresses[name] = ip.strip()
    explicit = []
    for item in extra or []:
        name, sep, ip = item.partition("=")
        if not sep or not name or not ip:
            raise errors.GanetiError(f"--address wants NAME=IP, got {item!r}")
        addresses[name] = ip
        explicit.append(name)
    if not addresses:
        raise errors.GanetiError(
            f"no nodes known: {paths.ssconf('node_primary_ips')} is missing or empty"
        )
    offline = set(_ssconf_lines(paths, "offline_nodes"))
    wanted = names or list(dict.fromkeys([*addresses, *explicit]))
    unknown = [n for n in wanted if n not in addresses]
    if unknown:
        raise errors.GanetiError(f"unknown node(s): {', '.join(unknown)}")
    return [RpcTarget(n, addresses[n], port, offline=n in offline) for n in wanted]


def default_args(procedure: str, paths: Paths) -> list[Any] | None:
    if procedure == "node_info":
        storage = paths.virtual_path(paths.default_file_storage_dir)
        return [[["file", storage, []]], [["fake", {}]]]
    return None


def format_result(procedure: str, res: RpcResult) -> str:
    if not res.ok:
        return f"{res.node}: FAILED: {res.fail_msg}"
    payload = res.payload
    if procedure == "node_info" and isinstance(payload, list) and len(payload) == 3:
        boot_id, storage, hvs = payload
        parts = [f"boot_id={boot_id[:8]}"]
        for s in storage:
            parts.append(f"{s['type']}:{s['name']} free={s['storage_free']}/{s['storage_size']}MiB")
        for hv in hvs:
            parts.append(
                f"memory free={hv['memory_free']}/{hv['memory_total']}MiB cpus={hv['cpu_total']}"
            )
        return f"{res.node}: " + "  ".join(parts)
    return f"{res.node}: {serializer.dump_json(payload)}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ganeti-rpc",
        description="Call a node RPC procedure on cluster nodes (diagnostic tool).",
    )
    p.add_argument("procedure", help="procedure name, e.g. version, node_info")
    p.add_argument("args", nargs="*", help="arguments, each as JSON (defaults for node_info)")
    p.add_argument("-n", "--node", action="append", default=[], help="node name (repeatable)")
    p.add_argument("--root", default=None, help="root of this node's files ($GANETI_ROOT or /)")
    p.add_argument(
        "-a",
        "--address",
        action="append",
        default=[],
        metavar="NAME=IP",
        help="also call a node that is not (yet) in ssconf (repeatable)",
    )
    p.add_argument("--port", type=int, default=constants.DEFAULT_NODED_PORT)
    p.add_argument("--timeout", type=float, default=None, help="seconds (default: per procedure)")
    p.add_argument("--json", action="store_true", help="print results as one JSON object")
    p.add_argument(
        "--allow-writes", action="store_true", help="permit procedures that change nodes"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        code = run(opts)
    except (errors.GanetiError, KeyError) as exc:
        print(f"ganeti-rpc: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)


def run(opts: argparse.Namespace) -> int:
    paths = Paths(opts.root) if opts.root else Paths(default_root())
    proc = procedures.get(opts.procedure)
    if proc.name not in READ_ONLY and not opts.allow_writes:
        raise errors.GanetiError(f"{proc.name} changes nodes; pass --allow-writes to call it")
    if opts.args:
        try:
            args = [json.loads(a) for a in opts.args]
        except ValueError as exc:
            raise errors.GanetiError(f"arguments must be JSON values: {exc}") from None
    else:
        args = default_args(proc.name, paths) or []
    if len(args) != len(proc.args):
        raise errors.GanetiError(
            f"{proc.name} takes {len(proc.args)} arguments ({', '.join(proc.args)})"
        )
    targets = resolve_targets(paths, opts.node, opts.port, opts.address)
    ca = tls.KeyPair.load(paths.server_pem)
    client = tls.KeyPair.load(paths.client_pem)

    from ganeti.daemon import run_with_reactor
    from ganeti.rpc.client import RpcClient, make_http_client

    results: dict[str, RpcResult] = {}

    async def go(reactor: Any) -> None:
        http = make_http_client(reactor, tls.client_context_factory(client, ca.cert))
        try:
            rpc = RpcClient(reactor, http)
            results.update(await rpc.call(targets, proc.name, args, timeout=opts.timeout))
        finally:
            await http.close()

    run_with_reactor(go)
    if opts.json:
        print(
            serializer.dump_json(
                {
                    name: {"ok": r.ok, "payload": r.payload, "fail_msg": r.fail_msg}
                    for name, r in results.items()
                }
            )
        )
    else:
        for target in targets:
            print(format_result(proc.name, results[target.name]))
    return 0 if all(r.ok for r in results.values()) else 1


if __name__ == "__main__":
    main()
