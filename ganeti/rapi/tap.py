"""``ganeti-rapi``: options and service tree of the remote API daemon.

The daemon listens on an endpoint string (default ``ssl:5080`` with the cluster's
``rapi.pem``; ``tcp:`` for plain HTTP in tests), answers RAPI version 2 and talks to the
master daemon over LUXI only.  It runs on the master node only.
"""

from __future__ import annotations

import signal
import socket
import sys
from typing import Any

from OpenSSL import crypto
from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import ssl
from twisted.internet.endpoints import UNIXClientEndpoint, serverFromString
from twisted.logger import Logger
from twisted.python import usage
from twisted.web.server import Site

from ganeti import errors, tls
from ganeti.bootstrap import node_name_file
from ganeti.config.ssconf import read_ssconf_value
from ganeti.endpoints import TLSServerEndpoint
from ganeti.paths import Paths, default_root
from ganeti.rapi.app import RapiApp
from ganeti.rapi.auth import Authenticator, WatchedFile, parse_tokens, parse_users, tokens_path
from ganeti.rapi.luxi import LuxiPool

log = Logger()

TAPNAME = "ganeti-rapi"
DEFAULT_PORT = 5080
EXIT_NOTMASTER = 11
# Idle keep-alive connections are closed after this many seconds.
HTTP_TIMEOUT = 30


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "The Ganeti remote API daemon (RAPI version 2 over HTTPS). It runs on the master "
        "node and talks to the master daemon over LUXI."
    )
    optFlags = [
        ["require-authentication", None, "Require credentials for every request."],
    ]
    optParameters = [
        ["root", "r", None, "Root directory of this node's files (default: $GANETI_ROOT or /)."],
        ["listen", "l", f"ssl:{DEFAULT_PORT}", "Endpoint: ssl:PORT[:interface=ADDR] or tcp:..."],
        ["node-name", None, None, "This node's name (default: recorded at init, else FQDN)."],
        ["luxi", None, None, "Path of the master's LUXI socket (default: from the root)."],
        ["max-luxi-connections", None, "16", "Connections kept to the master daemon."],
        [
            "access-log",
            None,
            None,
            "HTTP access log file (default: rapi-access.log in the log directory; '-' sends "
            "requests to the daemon log, 'none' disables it).",
        ],
    ]

    def postOptions(self) -> None:
        self["root"] = self["root"] or str(default_root())
        try:
            self["max-luxi-connections"] = int(self["max-luxi-connections"])
        except ValueError:
            raise usage.UsageError("--max-luxi-connections must be a number") from None
        if self["max-luxi-connections"] < 1:
            raise usage.UsageError("--max-luxi-connections must be positive")


def own_node_name(paths: Paths, given: str | None) -> str:
    if given:
        return given
    try:
        return node_name_file(paths).read_text().strip()
    except FileNotFoundError:
        return socket.getfqdn()


def check_master(paths: Paths, me: str) -> str | None:
    """None if this node is the master (per ssconf), else the reason it is not."""
    try:
        master = read_ssconf_value(paths, "master_node")
    except errors.GanetiError as exc:
        return f"cannot tell the master node ({exc}); is this node part of a cluster?"
    if master != me:
        return f"this node ({me}) is not the master node ({master}); not starting"
    return None


def tls_context(paths: Paths) -> ssl.CertificateOptions:
    pair = tls.KeyPair.load(paths.rapi_pem)
    return ssl.CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(pair.key),
        certificate=crypto.X509.from_cryptography(pair.cert),
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
    )


class RapiService(service.MultiService):
    """Installs the SIGHUP handler (users and tokens reload) while running."""

    def __init__(self, auth: Authenticator, pool: LuxiPool, reactor: Any) -> None:
        super().__init__()
        self.auth = auth
        self.pool = pool
        self.reactor = reactor
        self._old_handler: Any = None

    def startService(self) -> None:
        def on_hup(signum: int, frame: Any) -> None:
            self.reactor.callFromThread(self._reload)

        try:
            self._old_handler = signal.signal(signal.SIGHUP, on_hup)
        except ValueError:  # not the main thread (tests)
            self._old_handler = None
        super().startService()

    def _reload(self) -> None:
        log.info("SIGHUP: reloading the RAPI users and tokens files")
        self.auth.reload()

    def stopService(self) -> Any:
        if self._old_handler is not None:
            signal.signal(signal.SIGHUP, self._old_handler)
        self.pool.close()
        return super().stopService()


def build_service(options: Options, reactor: Any) -> RapiService:
    paths = Paths(options["root"])
    me = own_node_name(paths, options["node-name"])
    refusal = check_master(paths, me)
    if refusal is not None:
        log.error("{tap}: {why}", tap=TAPNAME, why=refusal)
        print(f"{TAPNAME}: {refusal}", file=sys.stderr)
        raise SystemExit(EXIT_NOTMASTER)
    luxi_path = options["luxi"] or str(paths.luxi_socket)
    pool = LuxiPool(
        UNIXClientEndpoint(reactor, luxi_path, timeout=30),
        reactor,
        max_connections=options["max-luxi-connections"],
    )
    auth = Authenticator(
        WatchedFile(paths.rapi_users, parse_users, reactor),
        WatchedFile(tokens_path(paths), parse_tokens, reactor),
        require_authentication=bool(options["require-authentication"]),
    )
    rapi = RapiApp(pool, auth, reactor)
    # A plain access-log file costs a buffered write per request; the daemon log (the
    # twisted.logger pipeline) costs several times more at thousands of requests/s.
    access = options["access-log"]
    if access is None:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        access = str(paths.daemon_log("rapi-access"))
    log_path = None if access in ("-", "none") else access
    site = Site(rapi.resource(), logPath=log_path, timeout=HTTP_TIMEOUT)
    if access == "none":
        site.log = lambda request: None  # type: ignore[method-assign]
    site.displayTracebacks = False
    site.noisy = False
    listen = options["listen"]
    if listen.startswith("ssl:"):
        try:
            context = tls_context(paths)
        except errors.CertificateError as exc:
            raise SystemExit(f"{TAPNAME}: {exc}") from None
        endpoint: Any = TLSServerEndpoint(serverFromString(reactor, "tcp:" + listen[4:]), context)
    else:
        endpoint = serverFromString(reactor, listen)
    top = RapiService(auth, pool, reactor)
    top.setName(TAPNAME)
    http = StreamServerEndpointService(endpoint, site)
    http._raiseSynchronously = True
    http.setServiceParent(top)
    log.info(
        "remote API on {listen} for node {node}, master daemon at {luxi}",
        listen=listen,
        node=me,
        luxi=luxi_path,
    )
    return top


def makeService(options: Options) -> RapiService:
    from twisted.internet import reactor

    return build_service(options, reactor)


def main(argv: list[str] | None = None) -> None:
    from ganeti.daemon import run_foreground

    run_foreground(TAPNAME, "Ganeti remote API daemon", Options, makeService, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
