"""``gnt-rapi-token``: manage the RAPI bearer tokens (an extension to Ganeti).

    gnt-rapi-token add NAME --role read|operator|admin   # prints the token, once
    gnt-rapi-token list
    gnt-rapi-token remove NAME

Only a SHA-256 digest of each token is stored (``<data dir>/rapi/tokens``).  The running
daemon notices the change within a second (or at once on SIGHUP).
"""

from __future__ import annotations

import argparse
import sys

from ganeti.paths import Paths, default_root
from ganeti.rapi.auth import ROLE_RIGHTS, add_token, parse_tokens, remove_token, tokens_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gnt-rapi-token", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="node root (default: $GANETI_ROOT or /)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create a token and print it (only once)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=sorted(ROLE_RIGHTS))
    sub.add_parser("list", help="list token names and roles")
    rm = sub.add_parser("remove", help="revoke a token")
    rm.add_argument("name")
    args = parser.parse_args(argv)
    paths = Paths(args.root or default_root())
    path = tokens_path(paths)
    if args.command == "add":
        try:
            token = add_token(path, args.name, args.role)
        except ValueError as exc:
            print(f"gnt-rapi-token: {exc}", file=sys.stderr)
            return 1
        print(token)
        return 0
    if args.command == "list":
        tokens = parse_tokens(path.read_text()) if path.exists() else {}
        for t in sorted(tokens.values(), key=lambda t: t.name):
            print(f"{t.name}\t{t.role}")
        return 0
    if not remove_token(path, args.name):
        print(f"gnt-rapi-token: no token named {args.name!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
