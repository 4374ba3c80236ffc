"""``gnt-confd``: ask the confd servers a question from the command line.

    gnt-confd query ping
    gnt-confd query node-role-byname node1.example.com
    gnt-confd query node-pip-by-instance-ip 198.51.100.7 [--link br0]
    gnt-confd query cluster-master --fields name,ip,mnode-pip
    gnt-confd query config-query /cluster/cluster_name
    gnt-confd --server 127.0.1.1:1814 --server 127.0.1.2:1814 query mc-pip-list

Servers default to the master candidates in ssconf (``master_candidates_ips``) below
``$GANETI_ROOT``; the HMAC key is that root's ``hmac.key`` unless ``--hmac-key`` says
otherwise.  Exit status: 0 answer printed, 1 error answer / no answer in time / bad
setup, 2 usage.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
from pathlib import Path
from typing import Any

from ganeti import constants, errors
from ganeti.confd import protocol as proto
from ganeti.confd.client import (
    ConfdClient,
    ConfdResult,
    peers_from_ssconf,
    read_hmac_key,
)
from ganeti.paths import Paths, default_root

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

_FIELD_NAMES = {
    "name": proto.ClusterMasterField.NAME,
    "ip": proto.ClusterMasterField.IP,
    "mnode-pip": proto.ClusterMasterField.MNODE_PIP,
}


class UsageError(errors.GanetiError):
    pass


def parse_server(text: str, default_port: int) -> tuple[str, int]:
    """``HOST[:PORT]``, ``[V6ADDR]:PORT`` or a bare IPv6 address → ``(ip, port)``."""
    host, port = text, default_port
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise UsageError(f"--server {text!r}: missing ']'")
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"--server {text!r}: expected [ADDRESS]:PORT")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text, text)
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise UsageError(f"--server {text!r}: cannot resolve {host!r}: {exc}") from None
    return str(infos[0][4][0]), port


def _port(text: str, whole: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise UsageError(f"--server {whole!r}: port {text!r} is not a number") from None
    if not 0 < port < 65536:
        raise UsageError(f"--server {whole!r}: port out of range")
    return port


def parse_type(text: str) -> proto.RequestType:
    key = text.lower().replace("_", "-")
    if key in proto.TYPE_NAMES:
        return proto.TYPE_NAMES[key]
    if key.isdigit() and int(key) in {int(t) for t in proto.RequestType}:
        return proto.RequestType(int(key))
    raise UsageError(f"unknown query type {text!r}; known: {', '.join(sorted(proto.TYPE_NAMES))}")


def build_query(
    rtype: proto.RequestType, arg: str | None, link: str | None, fields: str | None
) -> Any:
    """The ``query`` member for ``rtype`` from the command-line argument and options."""
    if arg is not None and arg[:1] in ("{", "["):
        try:
            return json.loads(arg)
        except ValueError as exc:
            raise UsageError(f"argument is not valid JSON: {exc}") from None
    if rtype == proto.RequestType.NODE_PIP_BY_INSTANCE_IP:
        if not arg:
            raise UsageError("node-pip-by-instance-ip needs an IP (or IP,IP,...)")
        query: dict[str, Any] = {}
        if "," in arg:
            query[proto.QueryField.IPLIST] = [ip for ip in arg.split(",") if ip]
        else:
            query[proto.QueryField.IP] = arg
        if link is not None:
            query[proto.QueryField.LINK] = link
        return query
    if rtype == proto.RequestType.INSTANCES_IPS_LIST:
        return link if link is not None else arg
    if rtype == proto.RequestType.CLUSTER_MASTER and fields:
        wanted = []
        for name in fields.split(","):
            name = name.strip().lower()
            if name in _FIELD_NAMES:
                wanted.append(int(_FIELD_NAMES[name]))
            elif name.isdigit():
                wanted.append(int(name))
            else:
                raise UsageError(f"unknown cluster-master field {name!r}")
        return {proto.QueryField.FIELDS: wanted}
    needs_arg = {
        proto.RequestType.NODE_ROLE_BYNAME,
        proto.RequestType.NODE_DRBD,
        proto.RequestType.NODE_INSTANCES,
        proto.RequestType.INSTANCE_DISKS,
        proto.RequestType.CONFIG_QUERY,
    }
    if rtype in needs_arg and arg is None:
        raise UsageError(f"{rtype.name.lower().replace('_', '-')} needs an argument")
    return arg


def format_answer(result: ConfdResult) -> str:
    answer = result.answer
    if result.request.type == proto.RequestType.NODE_ROLE_BYNAME and result.ok:
        return proto.NodeRole(answer).name.lower()
    if isinstance(answer, str):
        return answer
    return json.dumps(answer, indent=1, sort_keys=True)


def describe_error(result: ConfdResult) -> str:
    answer = result.answer
    if isinstance(answer, int) and answer in {int(c) for c in proto.ErrorCode}:
        return {
            proto.ErrorCode.UNKNOWN_ENTRY: "unknown entry",
            proto.ErrorCode.INTERNAL: "internal error on the server",
            proto.ErrorCode.ARGUMENT: "bad argument",
        }[proto.ErrorCode(answer)]
    if result.reply.status == proto.ReplyStatus.NOTIMPLEMENTED:
        return "not implemented by the server"
    return str(answer)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-confd", description="Query the confd servers.")
    p.add_argument("--root", default=None, help="node root (default: $GANETI_ROOT or /)")
    p.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="confd server to ask (repeatable; default: master candidates from ssconf)",
    )
    p.add_argument("--port", type=int, default=constants.DEFAULT_CONFD_PORT, help="confd port")
    p.add_argument("--hmac-key", default=None, help="HMAC key file (default: <root>'s)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for answers")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("query", help="send one query")
    q.add_argument("type", help=f"query type: {', '.join(proto.TYPE_NAMES)} or its number")
    q.add_argument("arg", nargs="?", default=None, help="argument (name, IP, JSON ...)")
    q.add_argument("--link", default=None, help="NIC link for IP queries")
    q.add_argument("--fields", default=None, help="cluster-master fields: name,ip,mnode-pip")
    return p


def run(args: argparse.Namespace, reactor: Any, out: Any, err: Any) -> Any:
    """Start the query; returns a Deferred firing with the exit code."""
    paths = Paths(args.root or default_root())
    rtype = parse_type(args.type)
    query = build_query(rtype, args.arg, args.link, args.fields)
    if args.server:
        peers = [parse_server(s, args.port) for s in args.server]
    else:
        peers = peers_from_ssconf(paths, args.port)
        if not peers:
            raise errors.GanetiError(
                f"no master candidates in {paths.ssconf('master_candidates_ips')}; "
                "use --server HOST:PORT"
            )
    key = Path(args.hmac_key).read_bytes() if args.hmac_key else read_hmac_key(paths)
    client = ConfdClient(reactor, key, peers, timeout=args.timeout, coverage=-1)
    d = client.query(rtype, query)

    def done(result: ConfdResult) -> int:
        client.close()
        if args.json:
            out.write(
                json.dumps(
                    {
                        "status": int(result.reply.status),
                        "answer": result.answer,
                        "serial": result.serial,
                        "replies": len(result.replies),
                        "contacted": result.contacted,
                        "complete": result.complete,
                        "inconsistent": result.inconsistent,
                    },
                    sort_keys=True,
                )
                + "\n"
            )
        elif result.ok:
            out.write(format_answer(result) + "\n")
        if not result.complete:
            err.write(
                f"warning: only {len(result.replies)} of {result.expected} expected "
                f"replies arrived within {args.timeout:g} s\n"
            )
        if result.inconsistent:
            err.write("warning: servers with the same serial gave different answers\n")
        if not result.ok:
            err.write(f"gnt-confd: {rtype.name}: {describe_error(result)}\n")
            return EXIT_FAILURE
        return EXIT_OK

    def failed(failure: Any) -> int:
        client.close()
        err.write(f"gnt-confd: {failure.getErrorMessage()}\n")
        return EXIT_FAILURE

    return d.addCallbacks(done, failed)


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from twisted.internet import reactor

    codes: list[int] = []

    def start() -> None:
        try:
            d = run(args, reactor, sys.stdout, sys.stderr)
        except UsageError as exc:
            sys.stderr.write(f"gnt-confd: {exc}\n")
            codes.append(EXIT_USAGE)
            reactor.stop()
            return
        except Exception as exc:  # setup errors end the command, not the reactor
            sys.stderr.write(f"gnt-confd: {exc}\n")
            codes.append(EXIT_FAILURE)
            reactor.stop()
            return
        d.addCallback(codes.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    sys.exit(codes[0] if codes else EXIT_FAILURE)


if __name__ == "__main__":
    main()
