"""Master failover: run on a master candidate to make it the master.

Steps (``gnt-cluster master-failover``; not a job, since the master may be gone):

1. This node must be a master candidate (ssconf) and not the master already.
2. Unless ``no_voting``: the nodes vote; the majority of answers must name the master
   this node's ssconf names, otherwise this node's view of the cluster is wrong.
3. Beyond Ganeti (its issue #1242): the configuration serial of every reachable
   candidate is compared with ours; if anyone has a newer configuration, ours is stale
   and we refuse unless ``force``.
4. The old master is asked to stop its master daemon (a warning if unreachable).
5. Our configuration names us master; it is written locally and replicated (config to
   the candidates, ssconf to all nodes).
6. Our node daemon starts the master daemon here, which must then win its own vote.

A master that was down during the failover refuses to act as master when it returns:
its start-up vote is lost (the other nodes name the new master) and replication soon
overwrites its stale configuration.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ganeti import errors
from ganeti.bootstrap import node_name_file
from ganeti.config.ssconf import read_ssconf_lines, read_ssconf_value
from ganeti.config.store import ConfigStore
from ganeti.config.writer import ConfigWriter
from ganeti.masterd.replication import ConfigReplicator
from ganeti.paths import Paths
from ganeti.rpc.client import IRpcClient, RpcTarget, StaticResolver

log = Logger()


@attrs.frozen
class FailoverOptions:
    no_voting: bool = False
    force: bool = False
    port: int = 1811


def ssconf_targets(paths: Paths, port: int) -> dict[str, RpcTarget]:
    offline = set(read_ssconf_lines(paths, "offline_nodes"))
    out = {}
    for line in read_ssconf_lines(paths, "node_primary_ips"):
        name, _, ip = line.partition(" ")
        if name and ip:
            out[name] = RpcTarget(name, ip.strip(), port, offline=name in offline)
    return out


async def master_failover(
    paths: Paths,
    rpc: IRpcClient,
    clock: IReactorTime,
    opts: FailoverOptions,
    say: Any = print,
) -> str:
    """Make this node the master; returns the old master's name."""
    me = node_name_file(paths).read_text().strip()
    old_master = read_ssconf_value(paths, "master_node")
    candidates = read_ssconf_lines(paths, "master_candidates")
    if me == old_master:
        raise errors.OpPrereqError(f"this node ({me}) is already the master", errors.ECODE_STATE)
    if me not in candidates:
        raise errors.OpPrereqError(
            f"this node ({me}) is not a master candidate; only candidates can become master",
            errors.ECODE_STATE,
        )
    targets = ssconf_targets(paths, opts.port)
    online = [t for t in targets.values() if not t.offline]

    if not opts.no_voting:
        results = await rpc.call(online, "master_node_name", [])
        votes: Counter[str] = Counter(
            r.payload for r in results.values() if r.ok and isinstance(r.payload, str)
        )
        answered = sum(votes.values())
        if answered * 2 <= len(online):
            raise errors.OpPrereqError(
                f"only {answered} of {len(online)} nodes answered; a majority must be "
                "reachable (use --no-voting if you are sure the old master is gone)",
                errors.ECODE_ENVIRON,
            )
        top, count = votes.most_common(1)[0]
        if top != old_master:
            raise errors.OpPrereqError(
                f"the nodes name {top} as master ({count} votes) but this node thinks it is "
                f"{old_master}: this node's configuration is out of date",
                errors.ECODE_STATE,
            )

    store = ConfigStore(paths.config_data)
    writer = ConfigWriter.load(store, clock)
    mine = writer.serial_no
    others = [targets[c] for c in candidates if c != me and c in targets]
    serials = await rpc.call(others, "node_config_serial", [])
    newer = {
        name: r.payload
        for name, r in serials.items()
        if r.ok and isinstance(r.payload, int) and r.payload > mine
    }
    if newer:
        detail = ", ".join(f"{n}: {s}" for n, s in sorted(newer.items()))
        if not opts.force:
            raise errors.OpPrereqError(
                f"this node's configuration (serial {mine}) is older than on {detail}; "
                "wait for replication or fail over to that node (--force overrides)",
                errors.ECODE_STATE,
            )
        say(f"Warning: taking over with a stale configuration (serial {mine}; {detail})")

    if old_master in targets:
        res = await rpc.call_one(targets[old_master], "node_stop_master", [])
        if not res.ok:
            say(f"Warning: could not stop the master daemon on {old_master}: {res.fail_msg}")

    node = writer.lookup_node(me)
    writer.set_master_node(node.uuid)
    serial = await writer.flush()
    say(f"Configuration now names {me} as master (serial {serial})")

    replicator = ConfigReplicator(writer=writer, rpc=rpc, paths=paths, clock=clock)
    await replicator.replicate(serial, [paths.config_data.read_bytes()])
    missed = [n for n in others if replicator.config_serials.get(n.name, -1) < serial]
    if missed:
        say(
            "Warning: not replicated to "
            + ", ".join(t.name for t in missed)
            + "; the new master retries until they have it"
        )

    own = targets[me]
    res = await rpc.call_one(own, "node_start_master_daemons", [opts.no_voting])
    if not res.ok:
        raise errors.OpExecError(f"could not start the master daemon here: {res.fail_msg}")
    return old_master


def make_rpc(paths: Paths, reactor: Any, port: int) -> IRpcClient:
    from ganeti import tls
    from ganeti.rpc.client import RpcClient, make_http_client

    ca = tls.KeyPair.load(paths.server_pem)
    client = tls.KeyPair.load(paths.client_pem)
    http = make_http_client(reactor, tls.client_context_factory(client, ca.cert), persistent=False)
    return RpcClient(reactor, http, StaticResolver(ssconf_targets(paths, port)))
