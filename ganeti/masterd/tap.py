"""``ganeti-masterd``: options and service tree of the master daemon.

One process, one reactor: the config writer, the lock manager, the job queue with its
scheduler, the RPC client to the nodes and the LUXI server on ``master.sock``.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.endpoints import serverFromString
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python import usage

from ganeti import constants, errors, locking, tls
from ganeti.bootstrap import node_name_file
from ganeti.config.store import ConfigStore
from ganeti.config.writer import ConfigWriter
from ganeti.jobs.queue import JobQueue
from ganeti.luxi.server import LuxiServerFactory
from ganeti.masterd.handlers import MasterHandlers
from ganeti.masterd.resolver import ConfigResolver
from ganeti.mcpu import OpcodeProcessor
from ganeti.paths import Paths, default_root
from ganeti.rpc.client import RpcClient, make_http_client

log = Logger()

TAPNAME = "ganeti-masterd"
EXIT_NOTMASTER = 11


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "The Ganeti master daemon: configuration, locks, job queue and the LUXI socket "
        "(master.sock in the run directory). It runs only on the node the configuration "
        "names as master."
    )
    optParameters = [
        ["root", "r", None, "Root directory of this node's files (default: $GANETI_ROOT or /)."],
        ["node-name", None, None, "This node's name (default: recorded at init, else FQDN)."],
        ["noded-port", None, str(constants.DEFAULT_NODED_PORT), "Port of the node daemons."],
        ["luxi", None, None, "LUXI endpoint (default: unix:<run dir>/master.sock:mode=660)."],
    ]

    def postOptions(self) -> None:
        self["root"] = self["root"] or str(default_root())
        try:
            self["noded-port"] = int(self["noded-port"])
        except ValueError:
            raise usage.UsageError("--noded-port must be a number") from None


def own_node_name(paths: Paths, given: str | None) -> str:
    if given:
        return given
    try:
        return node_name_file(paths).read_text().strip()
    except FileNotFoundError:
        import socket

        return socket.getfqdn()


class MasterService(service.MultiService):
    """Starts the queue before LUXI accepts connections, stops it after."""

    def __init__(self, queue: JobQueue, writer: ConfigWriter) -> None:
        super().__init__()
        self.queue = queue
        self.writer = writer

    def startService(self) -> None:
        self.queue.start()
        super().startService()

    def stopService(self) -> Any:
        d = super().stopService()

        def after(_: object) -> Any:
            self.queue.stop()
            return self.writer.flush()

        return d.addCallback(after)


def build_service(options: Options, reactor: Any) -> MasterService:
    paths = Paths(options["root"])

    def run_blocking(fn: Any) -> Any:
        # Config writes (30 MB for a large cluster) and fsyncs leave the reactor thread.
        return deferToThreadPool(reactor, reactor.getThreadPool(), fn)

    try:
        writer = ConfigWriter.load(ConfigStore(paths.config_data), reactor, run_blocking)
    except errors.ConfigurationError as exc:
        raise SystemExit(f"{TAPNAME}: {exc}") from None
    me = own_node_name(paths, options["node-name"])
    master = writer.get_master_node()
    if master.name != me:
        print(
            f"{TAPNAME}: this node ({me}) is not the master; the configuration names {master.name}",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_NOTMASTER)
    try:
        ca = tls.KeyPair.load(paths.server_pem)
        client = tls.KeyPair.load(paths.client_pem)
    except errors.CertificateError as exc:
        raise SystemExit(f"{TAPNAME}: {exc}") from None

    paths.ensure_dirs()
    http = make_http_client(reactor, tls.client_context_factory(client, ca.cert))
    rpc = RpcClient(reactor, http, ConfigResolver(writer, options["noded-port"]))
    locks = locking.LockManager(reactor)
    processor = OpcodeProcessor(config=writer, locks=locks, rpc=rpc, clock=reactor, paths=paths)
    queue = JobQueue(
        paths=paths,
        clock=reactor,
        processor=processor,
        locks=locks,
        max_running_jobs=writer.get_cluster().max_running_jobs,
    )
    handlers = MasterHandlers(paths=paths, config=writer, queue=queue, locks=locks, rpc=rpc)
    top = MasterService(queue, writer)
    top.setName(TAPNAME)
    endpoint_desc = options["luxi"] or luxi_endpoint(paths)
    paths.luxi_socket.parent.mkdir(parents=True, exist_ok=True)
    luxi = StreamServerEndpointService(
        serverFromString(reactor, endpoint_desc), LuxiServerFactory(handlers.table())
    )
    # A master that cannot listen must not keep running silently: fail the start-up.
    luxi._raiseSynchronously = True
    luxi.setServiceParent(top)
    log.info(
        "master daemon for {cluster} on {node}, LUXI at {luxi}",
        cluster=writer.get_cluster().cluster_name,
        node=me,
        luxi=endpoint_desc,
    )
    return top


def luxi_endpoint(paths: Paths) -> str:
    path = str(paths.luxi_socket).replace(":", r"\:")
    return f"unix:{path}:mode=660:lockfile=1"


def makeService(options: Options) -> MasterService:
    from twisted.internet import reactor

    return build_service(options, reactor)


def main(argv: list[str] | None = None) -> None:
    from ganeti.daemon import run_foreground

    run_foreground(TAPNAME, "Ganeti master daemon", Options, makeService, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
