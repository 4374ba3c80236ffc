"""Keeping the other nodes up to date: config.data, ssconf and the job queue.

After every durable config commit, ``config.data`` goes to every online master
candidate (``upload_file``) and, if the ssconf values changed, ssconf goes to every
online node (``write_ssconf_files``).  Replication never delays a commit: it runs after
the commit is durable, one round at a time; commits made meanwhile are coalesced into
the next round (the newest file carries all changes).  A node that missed a round is
retried by a timer until it has the current serial, so a candidate that was down is
brought up to date when it returns.

Job files and their renames go to the master candidates as the queue writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from ganeti.config.interfaces import Commit
from ganeti.config.ssconf import ssconf_values
from ganeti.config.writer import ConfigWriter
from ganeti.jobs.storage import IQueueReplicator
from ganeti.paths import Paths
from ganeti.rpc.client import IRpcClient
from ganeti.rpc.encoding import compress

log = Logger()

RETRY_INTERVAL = 30.0
CONFIG_MODE = 0o640

RunBlocking = Callable[[Callable[[], Any]], defer.Deferred[Any]]


def _inline(fn: Callable[[], Any]) -> defer.Deferred[Any]:
    return defer.maybeDeferred(fn)


class ConfigReplicator:
    """Pushes config.data to candidates and ssconf to all nodes after commits."""

    def __init__(
        self,
        *,
        writer: ConfigWriter,
        rpc: IRpcClient,
        paths: Paths,
        clock: IReactorTime,
        run_blocking: RunBlocking = _inline,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self._writer = writer
        self._rpc = rpc
        self._paths = paths
        self._clock = clock
        self._run_blocking = run_blocking
        self._latest: Commit | None = None
        self._busy = False
        self._idle_waiters: list[defer.Deferred[None]] = []
        # What each node has: config serial (candidates) and ssconf values (all).
        self.config_serials: dict[str, int] = {}
        self.ssconf_pushed: dict[str, dict[str, str]] = {}
        self._retry = task.LoopingCall(self._retry_lagging)
        self._retry.clock = clock
        self._retry_interval = retry_interval

    def start(self) -> None:
        self._writer.add_commit_listener(self.on_commit)
        self._retry.start(self._retry_interval, now=False)

    def stop(self) -> None:
        if self._retry.running:
            self._retry.stop()

    # -- commits ---------------------------------------------------------------------

    def on_commit(self, commit: Commit) -> None:
        self._latest = commit
        if not self._busy:
            defer.Deferred.fromCoroutine(self._run()).addErrback(
                lambda f: log.failure("config replication failed", f)
            )

    def wait_idle(self) -> defer.Deferred[None]:
        """Fires when no replication round is running (tests, failover, shutdown)."""
        if not self._busy and self._latest is None:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._idle_waiters.append(d)
        return d

    async def _run(self) -> None:
        self._busy = True
        try:
            while self._latest is not None:
                commit, self._latest = self._latest, None
                await self.replicate(commit.serial_no, commit.chunks)
        finally:
            self._busy = False
            waiters, self._idle_waiters = self._idle_waiters, []
            for d in waiters:
                d.callback(None)

    def _targets(self) -> tuple[list[str], list[str]]:
        """(candidates to get config.data, online nodes to get ssconf); master excluded
        from the first (it wrote the file itself)."""
        cfg = self._writer.config
        master = cfg.cluster.master_node
        candidates = [
            n.name
            for n in cfg.nodes.values()
            if n.master_candidate and not n.offline and n.uuid != master
        ]
        online = [n.name for n in cfg.nodes.values() if not n.offline]
        return sorted(candidates), sorted(online)

    async def replicate(
        self, serial: int, chunks: Sequence[bytes], only: Iterable[str] | None = None
    ) -> None:
        candidates, online = self._targets()
        if only is not None:
            wanted = set(only)
            candidates = [n for n in candidates if n in wanted]
            online = [n for n in online if n in wanted]
        candidates = [n for n in candidates if self.config_serials.get(n, -1) < serial]
        if candidates:
            # Joining and compressing 30 MB is CPU work: off the reactor thread.
            encoded = await self._run_blocking(lambda: compress(b"".join(chunks)))
            vpath = self._paths.virtual_path(self._paths.config_data)
            results = await self._rpc.call(
                candidates, "upload_file", [vpath, encoded, CONFIG_MODE, None, None, None, None]
            )
            for name, res in results.items():
                if res.ok:
                    self.config_serials[name] = max(serial, self.config_serials.get(name, -1))
                else:
                    log.warn(
                        "config.data (serial {serial}) not replicated to {node}: {msg}",
                        serial=serial,
                        node=name,
                        msg=res.fail_msg,
                    )
        await self.push_ssconf(online)

    async def push_ssconf(self, nodes: list[str]) -> None:
        values = ssconf_values(self._writer.config)
        stale = [n for n in nodes if self.ssconf_pushed.get(n) != values]
        if not stale:
            return
        results = await self._rpc.call(stale, "write_ssconf_files", [values])
        for name, res in results.items():
            if res.ok:
                self.ssconf_pushed[name] = values
            else:
                log.warn("ssconf not written on {node}: {msg}", node=name, msg=res.fail_msg)

    def forget(self, node_name: str) -> None:
        """A node left or was re-added: treat it as knowing nothing."""
        self.config_serials.pop(node_name, None)
        self.ssconf_pushed.pop(node_name, None)

    async def _retry_lagging_async(self) -> None:
        if self._busy:
            return
        serial = self._writer.durable_serial_no
        candidates, online = self._targets()
        lagging = [n for n in candidates if self.config_serials.get(n, -1) < serial]
        values = ssconf_values(self._writer.config)
        ssconf_lagging = [n for n in online if self.ssconf_pushed.get(n) != values]
        if not lagging and not ssconf_lagging:
            return
        self._busy = True
        try:
            data = await self._run_blocking(lambda: self._paths.config_data.read_bytes())
            await self.replicate(serial, [data], only=set(lagging) | set(ssconf_lagging))
        finally:
            self._busy = False
        if self._latest is not None:
            await self._run()

    def _retry_lagging(self) -> defer.Deferred[None]:
        d = defer.Deferred.fromCoroutine(self._retry_lagging_async())
        # A failing round must not stop the timer.
        return d.addErrback(lambda f: log.failure("replication retry failed", f))


@implementer(IQueueReplicator)
class QueueReplicator:
    """Job files and renames to the master candidates (not the master itself)."""

    def __init__(self, writer: ConfigWriter, rpc: IRpcClient, paths: Paths) -> None:
        self._writer = writer
        self._rpc = rpc
        self._paths = paths

    def _candidates(self) -> list[str]:
        cfg = self._writer.config
        master = cfg.cluster.master_node
        return [
            n.name
            for n in cfg.nodes.values()
            if n.master_candidate and not n.offline and n.uuid != master
        ]

    def update(self, path: Any, content: bytes) -> defer.Deferred[None]:
        nodes = self._candidates()
        if not nodes:
            return defer.succeed(None)
        args = [self._paths.virtual_path(path), compress(content)]
        return self._rpc.call(nodes, "jobqueue_update", args).addCallback(
            _warn_failures, "jobqueue_update"
        )

    def rename(self, pairs: Any) -> defer.Deferred[None]:
        nodes = self._candidates()
        if not nodes:
            return defer.succeed(None)
        wire = [[self._paths.virtual_path(a), self._paths.virtual_path(b)] for a, b in pairs]
        return self._rpc.call(nodes, "jobqueue_rename", [wire]).addCallback(
            _warn_failures, "jobqueue_rename"
        )


def _warn_failures(results: dict[str, Any], what: str) -> None:
    for name, res in results.items():
        if not res.ok and not res.offline:
            log.warn("{what} on {node} failed: {msg}", what=what, node=name, msg=res.fail_msg)
