"""Who is master?  Majority votes among the nodes, asked over ``master_node_name``.

A master daemon starts only if strictly more than half of the cluster's (online) nodes
name this node as master.  While the vote can still be won because nodes did not
answer, it is asked again a few times; a clear loss ends the start-up.  This is what
stops an old master that comes back after a failover from acting as master.
"""

from __future__ import annotations

from collections import Counter

import attrs
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ganeti import errors
from ganeti.rpc.client import IRpcClient

log = Logger()

VOTE_RETRIES = 6
VOTE_INTERVAL = 10.0


@attrs.frozen
class VoteResult:
    votes: dict[str, int]  # answer -> count
    missing: int  # nodes that did not answer
    electorate: int

    def for_(self, name: str) -> int:
        return self.votes.get(name, 0)

    def won(self, name: str) -> bool:
        return self.for_(name) * 2 > self.electorate

    def winnable(self, name: str) -> bool:
        return (self.for_(name) + self.missing) * 2 > self.electorate


async def gather_votes(rpc: IRpcClient, nodes: list[str]) -> VoteResult:
    results = await rpc.call(nodes, "master_node_name", [])
    votes: Counter[str] = Counter()
    missing = 0
    for res in results.values():
        if res.ok and isinstance(res.payload, str):
            votes[res.payload] += 1
        else:
            missing += 1
    return VoteResult(dict(votes), missing, len(nodes))


async def confirm_master(
    rpc: IRpcClient,
    clock: IReactorTime,
    me: str,
    nodes: list[str],
    *,
    retries: int = VOTE_RETRIES,
    interval: float = VOTE_INTERVAL,
) -> VoteResult:
    """Return the winning vote for ``me`` or raise NotMasterError."""
    for attempt in range(retries + 1):
        result = await gather_votes(rpc, nodes)
        if result.won(me):
            log.info(
                "master vote won: {count} of {total} nodes name {me}",
                count=result.for_(me),
                total=result.electorate,
                me=me,
            )
            return result
        if not result.winnable(me) or attempt == retries:
            break
        log.warn(
            "master vote not decided ({count} of {total} for {me}, {missing} without "
            "answer); asking again in {interval}s",
            count=result.for_(me),
            total=result.electorate,
            me=me,
            missing=result.missing,
            interval=interval,
        )
        await task.deferLater(clock, interval)
    others = ", ".join(f"{name}: {count}" for name, count in sorted(result.votes.items()))
    raise errors.NotMasterError(
        f"this node ({me}) did not get a majority of master votes "
        f"({result.for_(me)} of {result.electorate}; votes {others or 'none'}, "
        f"{result.missing} unanswered); use --no-voting --yes-do-it only if you are sure "
        "no other master is running"
    )
