"""Automatic master failover (beyond Ganeti; opt-in, its issue #384).

Every master candidate's node daemon watches the master node.  When the cluster
parameter ``auto_failover_timeout`` is set and the master's node daemon has not
answered for that many seconds, the candidate asks every node whether *it* can reach
the master.  Only if a strict majority of all nodes (the master counted) cannot, one
candidate takes over: among the candidates that answer, the one with the newest
configuration (highest serial), ties broken by name.  Every candidate computes the same
choice, so exactly one of them acts; the takeover itself is the ordinary master
failover, with its vote and stale-configuration checks.

A master that is merely slow, or cut off from this candidate alone, is left alone: the
majority must agree that it is gone.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson
from twisted.application import service
from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ganeti import errors
from ganeti.bootstrap import node_name_file
from ganeti.config.ssconf import read_ssconf_lines, read_ssconf_value
from ganeti.masterd.failover import FailoverOptions, master_failover, ssconf_targets
from ganeti.paths import Paths
from ganeti.rpc.client import IRpcClient

log = Logger()

CHECK_INTERVAL = 5.0
PING_TIMEOUT = 5.0


@attrs.frozen
class Decision:
    take_over: bool
    reason: str


def choose_successor(serials: dict[str, int | None]) -> str | None:
    """The candidate that takes over: newest config, then smallest name."""
    known = [(s, n) for n, s in serials.items() if s is not None]
    if not known:
        return None
    best = max(s for s, _ in known)
    return min(n for s, n in known if s == best)


def decide(
    me: str,
    nodes: int,
    unreachable_votes: int,
    serials: dict[str, int | None],
) -> Decision:
    """Pure decision from what the nodes said (``serials`` includes ours)."""
    if unreachable_votes * 2 <= nodes:
        return Decision(False, f"only {unreachable_votes} of {nodes} nodes cannot reach the master")
    successor = choose_successor(serials)
    if successor != me:
        return Decision(False, f"{successor} takes over, not this node")
    return Decision(True, f"{unreachable_votes} of {nodes} nodes cannot reach the master")


def read_timeout(paths: Paths) -> float:
    """``auto_failover_timeout`` from this node's config replica (0 when unset)."""
    try:
        data = orjson.loads(paths.config_data.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return 0.0
    value = data.get("cluster", {}).get("auto_failover_timeout") or 0
    return float(value) if isinstance(value, int | float) else 0.0


async def master_reachable(paths: Paths, rpc: IRpcClient, port: int) -> bool:
    master = read_ssconf_value(paths, "master_node")
    target = ssconf_targets(paths, port).get(master)
    if target is None:
        return False
    result = await rpc.call_one(target, "version", [], timeout=PING_TIMEOUT)
    return result.ok


class AutoFailoverService(service.Service):
    def __init__(
        self,
        paths: Paths,
        clock: IReactorTime,
        rpc_factory: Any,
        port: int,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        self.paths = paths
        self.clock = clock
        self.rpc_factory = rpc_factory
        self.port = port
        self.unreachable_since: float | None = None
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = clock
        self._interval = interval
        self._busy = False

    def startService(self) -> None:
        super().startService()
        self._loop.start(self._interval, now=False)

    def stopService(self) -> Any:
        if self._loop.running:
            self._loop.stop()
        return super().stopService()

    def _tick(self) -> defer.Deferred[None]:
        if self._busy:
            return defer.succeed(None)
        self._busy = True
        d = defer.Deferred.fromCoroutine(self.check())

        def done(result: object) -> None:
            self._busy = False

        d.addErrback(lambda f: log.failure("automatic failover check failed", f))
        return d.addBoth(done)

    async def check(self) -> None:
        timeout = read_timeout(self.paths)
        try:
            me = node_name_file(self.paths).read_text().strip()
            master = read_ssconf_value(self.paths, "master_node")
            candidates = read_ssconf_lines(self.paths, "master_candidates")
        except (OSError, errors.GanetiError):
            return
        if timeout <= 0 or me == master or me not in candidates:
            self.unreachable_since = None
            return
        rpc = self.rpc_factory()
        if await master_reachable(self.paths, rpc, self.port):
            self.unreachable_since = None
            return
        now = self.clock.seconds()
        if self.unreachable_since is None:
            self.unreachable_since = now
            log.warn("master {master} does not answer", master=master)
        if now - self.unreachable_since < timeout:
            return
        targets = ssconf_targets(self.paths, self.port)
        others = [t for name, t in targets.items() if name not in (me, master) and not t.offline]
        votes = await rpc.call(others, "node_master_reachable", [])
        unreachable = 1 + sum(1 for r in votes.values() if r.ok and r.payload is False)
        # The master itself cannot vote, but it counts in the electorate.
        electorate = len([t for t in targets.values() if not t.offline])
        peers = [targets[c] for c in candidates if c in targets and c not in (me, master)]
        serial_results = await rpc.call(peers, "node_config_serial", [])
        serials: dict[str, int | None] = {
            name: r.payload if r.ok and isinstance(r.payload, int) else None
            for name, r in serial_results.items()
        }
        serials[me] = _own_serial(self.paths)
        decision = decide(me, electorate, unreachable, serials)
        log.info("automatic failover: {reason}", reason=decision.reason)
        if not decision.take_over:
            return
        log.warn(
            "taking over as master: {master} unreachable for {secs:.0f}s",
            master=master,
            secs=now - self.unreachable_since,
        )
        await master_failover(
            self.paths, rpc, self.clock, FailoverOptions(port=self.port), say=_log_say
        )
        self.unreachable_since = None


def _log_say(message: str) -> None:
    log.info("failover: {message}", message=message)


def _own_serial(paths: Paths) -> int | None:
    try:
        value = orjson.loads(paths.config_data.read_bytes()).get("serial_no")
    except (OSError, orjson.JSONDecodeError):
        return None
    return int(value) if isinstance(value, int) else None
