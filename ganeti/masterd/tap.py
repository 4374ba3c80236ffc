"""``ganeti-masterd``: options and service tree of the master daemon.

One process, one reactor: the config writer, the lock manager, the job queue with its
scheduler, the RPC client to the nodes and the LUXI server on ``master.sock``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python import usage

from ganeti import constants, errors, locking, tls
from ganeti.bootstrap import node_name_file
from ganeti.cmdlib.base import MasterHooks
from ganeti.config.interfaces import Commit
from ganeti.config.store import ConfigStore
from ganeti.config.writer import ConfigWriter
from ganeti.fileutils import write_file_atomic
from ganeti.jobs.queue import JobQueue
from ganeti.luxi.server import LuxiServerFactory
from ganeti.masterd.handlers import MasterHandlers
from ganeti.masterd.replication import ConfigReplicator, QueueReplicator
from ganeti.masterd.resolver import ConfigResolver
from ganeti.masterd.voting import VOTE_RETRIES, confirm_master
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
        ["vote-retries", None, str(VOTE_RETRIES), "How often to ask again for an undecided vote."],
        [
            "replication-retry",
            None,
            "30",
            "Seconds between attempts to bring lagging nodes up to date.",
        ],
    ]
    optFlags = [
        ["no-voting", None, "Start without asking the other nodes who the master is."],
        ["yes-do-it", None, "Confirm --no-voting (risk of two masters)."],
    ]

    def postOptions(self) -> None:
        self["root"] = self["root"] or str(default_root())
        try:
            self["noded-port"] = int(self["noded-port"])
            self["vote-retries"] = int(self["vote-retries"])
            self["replication-retry"] = float(self["replication-retry"])
        except ValueError:
            raise usage.UsageError("--noded-port and --vote-retries must be numbers") from None
        if self["no-voting"] and not self["yes-do-it"]:
            raise usage.UsageError("--no-voting needs --yes-do-it: two masters would corrupt data")


def own_node_name(paths: Paths, given: str | None) -> str:
    if given:
        return given
    try:
        return node_name_file(paths).read_text().strip()
    except FileNotFoundError:
        import socket

        return socket.getfqdn()


class MasterService(service.MultiService):
    """Wins the master vote, then starts the queue, replication and LUXI; stops in reverse.

    A lost vote stops the process with exit code 11 ("not master"), as Ganeti's daemons do.
    """

    def __init__(
        self,
        *,
        reactor: Any,
        queue: JobQueue,
        writer: ConfigWriter,
        replicator: ConfigReplicator,
        rpc: RpcClient,
        paths: Paths,
        me: str,
        voting: bool,
        vote_retries: int = VOTE_RETRIES,
    ) -> None:
        super().__init__()
        self.reactor = reactor
        self.queue = queue
        self.writer = writer
        self.replicator = replicator
        self.rpc = rpc
        self.paths = paths
        self.me = me
        self.voting = voting
        self.vote_retries = vote_retries
        self.ready: defer.Deferred[None] = defer.Deferred()

    def privilegedStartService(self) -> None:
        # Children (the LUXI listener) must not listen before the vote is won and the
        # queue runs; twistd calls this before startService, so hold them back here.
        service.Service.privilegedStartService(self)

    def startService(self) -> None:
        service.Service.startService(self)
        defer.Deferred.fromCoroutine(self._start()).addErrback(self._failed)

    async def _start(self) -> None:
        if self.voting:
            nodes = [n.name for n in self.writer.get_nodes() if not n.offline]
            await confirm_master(self.rpc, self.reactor, self.me, nodes, retries=self.vote_retries)
        else:
            log.warn("started with --no-voting: not checking who else may be master")
        write_file_atomic(self.paths.masterd_pid, f"{os.getpid()}\n".encode(), mode=0o644)
        self.queue.start()
        self.replicator.start()
        for svc in self:
            svc.privilegedStartService()
            svc.startService()
        # Nodes that missed updates while no master ran catch up now.
        self.replicator.on_commit(
            Commit(self.writer.durable_serial_no, [self.paths.config_data.read_bytes()])
        )
        self.ready.callback(None)

    def _failed(self, failure: Any) -> None:
        if failure.check(errors.NotMasterError):
            log.error("{msg}", msg=str(failure.value))
        else:
            log.failure("master daemon start-up failed", failure)
        self.reactor.addSystemEventTrigger("after", "shutdown", os._exit, EXIT_NOTMASTER)
        self.reactor.stop()

    def stopService(self) -> Any:
        if not self.ready.called:
            return service.Service.stopService(self)
        d = super().stopService()

        def after(_: object) -> Any:
            self.replicator.stop()
            self.queue.stop()
            self.paths.masterd_pid.unlink(missing_ok=True)
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
    resolver = ConfigResolver(writer, options["noded-port"])
    rpc = RpcClient(reactor, http, resolver)
    # Nodes that have not joined yet accept only the cluster certificate (node add).
    bootstrap_http = make_http_client(
        reactor, tls.client_context_factory(ca, ca.cert), persistent=False
    )
    bootstrap_rpc = RpcClient(reactor, bootstrap_http, resolver)

    previous_rpc = RpcClient(reactor, bootstrap_http, resolver)

    def load_previous() -> None:
        if paths.client_previous_pem.exists():
            old = tls.KeyPair.load(paths.client_previous_pem)
            previous_rpc.set_http(
                make_http_client(
                    reactor, tls.client_context_factory(old, ca.cert), persistent=False
                )
            )

    load_previous()

    def reload_client_certificate() -> None:
        renewed = tls.KeyPair.load(paths.client_pem)
        rpc.set_http(make_http_client(reactor, tls.client_context_factory(renewed, ca.cert)))
        load_previous()
        hooks.previous_rpc = previous_rpc

    locks = locking.LockManager(reactor)
    queue_holder: list[JobQueue] = []

    def set_max_running_jobs(value: int) -> None:
        queue_holder[0].max_running_jobs = value

    def cluster_destroyed(master_name: str) -> None:
        # After the job's result is on disk: forget the cluster here and stop.
        def leave() -> None:
            d = rpc.call_one(master_name, "node_leave_cluster", [False])
            d.addBoth(lambda _: reactor.stop())

        reactor.callLater(1.0, leave)

    def submit_jobs(jobs: list[list[dict[str, Any]]]) -> defer.Deferred[list[list[Any]]]:
        # Jobs a job fans out into (node evacuate/migrate...): SubmitManyJobs semantics.
        return queue_holder[0].submit_many_jobs(jobs)

    hooks = MasterHooks(
        bootstrap_rpc=bootstrap_rpc,
        previous_rpc=previous_rpc if paths.client_previous_pem.exists() else None,
        set_max_running_jobs=set_max_running_jobs,
        reload_client_certificate=reload_client_certificate,
        cluster_destroyed=cluster_destroyed,
        submit_jobs=submit_jobs,
    )
    processor = OpcodeProcessor(
        config=writer, locks=locks, rpc=rpc, clock=reactor, paths=paths, hooks=hooks
    )
    queue = JobQueue(
        paths=paths,
        clock=reactor,
        processor=processor,
        locks=locks,
        replicator=QueueReplicator(writer, rpc, paths),
        max_running_jobs=writer.get_cluster().max_running_jobs,
    )
    queue_holder.append(queue)
    replicator = ConfigReplicator(
        writer=writer,
        rpc=rpc,
        paths=paths,
        clock=reactor,
        run_blocking=run_blocking,
        retry_interval=options["replication-retry"],
    )
    handlers = MasterHandlers(paths=paths, config=writer, queue=queue, locks=locks, rpc=rpc)
    top = MasterService(
        reactor=reactor,
        queue=queue,
        writer=writer,
        replicator=replicator,
        rpc=rpc,
        paths=paths,
        me=me,
        voting=not options["no-voting"],
        vote_retries=options["vote-retries"],
    )
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
