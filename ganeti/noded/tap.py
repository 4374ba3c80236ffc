"""``ganeti-noded``: the node daemon's options and service tree.

Run it as the twistd plugin (``twistd --nodaemon --pidfile= ganeti-noded ...``) or with
the ``ganeti-noded`` console script, which does the same without plugin discovery.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.application import service, strports  # noqa: F401 - strports keeps plugins importable
from twisted.application.internet import StreamServerEndpointService
from twisted.logger import Logger
from twisted.python import usage
from twisted.web import server

from ganeti import constants, errors, tls
from ganeti.endpoints import tls_server_endpoint
from ganeti.masterd.failover import make_rpc
from ganeti.noded.auth import CandidateCertCheck
from ganeti.noded.autofailover import AutoFailoverService
from ganeti.noded.backend import NodeBackend
from ganeti.paths import Paths, default_root
from ganeti.rpc.server import NodeRpcResource

log = Logger()

TAPNAME = "ganeti-noded"


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "The Ganeti node daemon: answers RPC calls from the master and master candidates "
        "over HTTPS with mutual TLS. The listen endpoint is always wrapped in TLS with the "
        "cluster certificate (server.pem under the root); 'ssl:' is a synonym of 'tcp:'."
    )
    optParameters = [
        ["root", "r", None, "Root directory of this node's files (default: $GANETI_ROOT or /)."],
        [
            "listen",
            "l",
            f"ssl:{constants.DEFAULT_NODED_PORT}",
            "Endpoint to listen on, e.g. ssl:1811:interface=192.0.2.10 or "
            "systemd:domain=INET:index=0.",
        ],
        [
            "failover-check-interval",
            None,
            "5",
            "Seconds between checks of the master (automatic failover, if enabled).",
        ],
    ]

    def postOptions(self) -> None:
        self["root"] = self["root"] or str(default_root())
        try:
            self["failover-check-interval"] = float(self["failover-check-interval"])
        except ValueError:
            raise usage.UsageError("--failover-check-interval must be a number") from None


def build_service(options: Options, reactor: Any) -> service.MultiService:
    """The node daemon's service tree; ``reactor`` is injected for tests."""
    paths = Paths(options["root"])
    try:
        server_pair = tls.KeyPair.load(paths.server_pem)
    except errors.CertificateError as exc:
        raise SystemExit(f"ganeti-noded: {exc} (is this node part of a cluster?)") from None
    paths.ensure_dirs()
    backend = NodeBackend(
        paths, reactor, shutdown=reactor.stop, noded_port=port_of(options["listen"])
    )
    authorize = CandidateCertCheck(paths, tls.cert_digest(server_pair.cert))
    from ganeti.noded.instances import build_handlers

    handlers = build_handlers(paths, reactor, backend.handlers())
    site = server.Site(NodeRpcResource(handlers, authorize))
    site.displayTracebacks = False
    context = tls.server_context_factory(server_pair, server_pair.cert)
    endpoint = tls_server_endpoint(reactor, options["listen"], context)
    top = service.MultiService()
    top.setName(TAPNAME)
    port = port_of(options["listen"]) or constants.DEFAULT_NODED_PORT
    AutoFailoverService(
        paths,
        reactor,
        lambda: make_rpc(paths, reactor, port),
        port,
        interval=options["failover-check-interval"],
    ).setServiceParent(top)
    listener = StreamServerEndpointService(endpoint, site)
    # Failing to listen (port in use) must stop the daemon, not leave it idle.
    listener._raiseSynchronously = True
    listener.setServiceParent(top)
    log.info(
        "node daemon for root {root} listening on {listen}",
        root=str(paths.root),
        listen=options["listen"],
    )
    return top


def port_of(description: str) -> int | None:
    """The TCP port of an ``ssl:``/``tcp:`` endpoint string, if it names one."""
    kind, _, rest = description.partition(":")
    if kind not in ("ssl", "tcp"):
        return None
    first = rest.split(":", 1)[0]
    if first.startswith("port="):
        first = first[5:]
    return int(first) if first.isdigit() else None


def makeService(options: Options) -> service.MultiService:
    from twisted.internet import reactor

    return build_service(options, reactor)


def main(argv: list[str] | None = None) -> None:
    """Console script: run in the foreground, logging to stdout (for systemd)."""
    from ganeti.daemon import run_foreground

    run_foreground(TAPNAME, "Ganeti node daemon", Options, makeService, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
