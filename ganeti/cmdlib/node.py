"""Logical units for cluster membership: node add, remove and modify, the candidate pool.

Joining: the new node runs a node daemon holding the cluster certificate (the operator
copies ``server.pem`` there, as Ganeti copies it over SSH; see docs/membership.md).
Until the node knows the master candidates, it accepts only the cluster certificate as
a client certificate, so the master first talks to it with that identity
(``bootstrap_rpc``), has it create its own client certificate, gives it the cluster's
secrets and ssconf, and only then adds it to the configuration.  From then on, config
and ssconf replication keep it up to date.
"""

from __future__ import annotations

import socket
import uuid as uuidlib
from typing import Any

from ganeti import constants, errors
from ganeti.cmdlib.base import Feedback, LogicalUnit, register
from ganeti.config.ssconf import ssconf_values
from ganeti.locking import ALL_SET, LEVEL_NODE
from ganeti.objects import ConfigData, Node
from ganeti.rpc.client import IRpcClient, RpcResult
from ganeti.rpc.encoding import compress

# Files every node gets when it joins (mode 0400).
JOIN_FILES = ("hmac_key", "cluster_domain_secret", "rapi_pem")


def eligible_for_candidate(node: Node) -> bool:
    return node.master_capable and not node.offline and not node.drained


def desired_candidates(cfg: ConfigData) -> int:
    eligible = sum(1 for n in cfg.nodes.values() if eligible_for_candidate(n))
    return min(cfg.cluster.candidate_pool_size, eligible)


def candidates_to_promote(cfg: ConfigData, exclude: set[str] | None = None) -> list[Node]:
    """Eligible non-candidates to promote until the pool has its desired size.

    Ganeti picks at random; we take names in order so that the outcome is predictable.
    """
    exclude = exclude or set()
    current = sum(1 for n in cfg.nodes.values() if n.master_candidate)
    missing = desired_candidates(cfg) - current
    if missing <= 0:
        return []
    pool = sorted(
        (
            n
            for n in cfg.nodes.values()
            if not n.master_candidate and eligible_for_candidate(n) and n.uuid not in exclude
        ),
        key=lambda n: n.name,
    )
    return pool[:missing]


async def node_digest(rpc: IRpcClient, name: str) -> str:
    result = await rpc.call_one(name, "node_crypto_tokens", [[["ssl", "get", None]]])
    tokens = result.raise_on_fail("cannot read the node's certificate digest")
    return str(tokens[0][1])


async def promote(lu: LogicalUnit, nodes: list[Node], feedback: Feedback) -> None:
    """Make ``nodes`` master candidates: record their certificate digests."""
    digests = {node.uuid: await node_digest(lu.ctx.rpc, node.name) for node in nodes}
    for node in nodes:
        new = lu.cfg.get_node(node.uuid).copy()
        new.master_candidate = True
        lu.cfg.update(new)
        feedback(f"Promoted {node.name} to master candidate")
    # Node updates bump the cluster's serial: take the cluster copy only now.
    cluster = lu.cfg.get_cluster().copy()
    cluster.candidate_certs.update(digests)
    lu.cfg.update(cluster)


def _check_result(result: RpcResult, what: str) -> Any:
    if not result.ok:
        raise errors.OpExecError(f"{what} on {result.node} failed: {result.fail_msg}")
    return result.payload


@register
class LUNodeAdd(LogicalUnit):
    OP_ID = "OP_NODE_ADD"
    REQ_BGL = True

    def expand_names(self) -> None:
        self.needed_locks[LEVEL_NODE] = ALL_SET

    def check_prereq(self) -> None:
        name = self.op.node_name
        self.existing: Node | None = None
        try:
            self.existing = self.cfg.lookup_node(name)
        except errors.OpPrereqError:
            self.existing = None
        if self.op.readd:
            if self.existing is None:
                raise errors.OpPrereqError(
                    f"node {name!r} is not in the cluster; add it without --readd",
                    errors.ECODE_NOENT,
                )
            if self.existing.uuid == self.cfg.get_cluster().master_node:
                raise errors.OpPrereqError("the master node cannot be re-added", errors.ECODE_STATE)
        elif self.existing is not None:
            raise errors.OpPrereqError(
                f"node {name!r} is already in the cluster (use --readd to re-add it)",
                errors.ECODE_EXISTS,
            )
        ip = self.op.primary_ip or (self.existing.primary_ip if self.existing else None)
        if ip is None:
            try:
                ip = socket.gethostbyname(name)
            except OSError:
                raise errors.OpPrereqError(
                    f"cannot resolve {name!r}; give its address with --primary-ip",
                    errors.ECODE_RESOLVER,
                ) from None
        self.primary_ip = ip
        for node in self.cfg.get_nodes():
            if node.primary_ip == ip and (self.existing is None or node.uuid != self.existing.uuid):
                raise errors.OpPrereqError(
                    f"IP {ip} is already used by node {node.name}", errors.ECODE_NOTUNIQUE
                )
        if self.op.group:
            self.group_uuid = self.cfg.lookup_group(self.op.group).uuid
        elif self.existing is not None:
            self.group_uuid = self.existing.group
        else:
            self.group_uuid = self.cfg.get_master_node().group
        if self.ctx.hooks.bootstrap_rpc is None:
            raise errors.OpPrereqError(
                "node add needs the master daemon's bootstrap RPC client", errors.ECODE_ENVIRON
            )

    async def _call(self, name: str, procedure: str, args: list[Any]) -> Any:
        """Call the joining node: as a candidate if it knows us, else as the cluster."""
        target = self.ctx.rpc.target_for(name, self.primary_ip)
        hooks = self.ctx.hooks
        result = await self.ctx.rpc.call_one(target, procedure, args)
        # A node that missed a certificate renewal knows our previous certificate; a
        # node that has not joined knows only the cluster certificate.
        for fallback in (hooks.previous_rpc, hooks.bootstrap_rpc):
            if result.ok or "HTTP 403" not in (result.fail_msg or ""):
                break
            if fallback is not None:
                result = await fallback.call_one(target, procedure, args)
        return _check_result(result, procedure)

    async def exec(self, feedback: Feedback) -> Any:
        name = self.op.node_name
        version = await self._call(name, "version", [])
        if version != constants.PROTOCOL_VERSION:
            raise errors.OpExecError(
                f"node {name} speaks protocol {version}, the master {constants.PROTOCOL_VERSION}"
            )
        node_uuid = self.existing.uuid if self.existing else str(uuidlib.uuid4())
        tokens = await self._call(
            name,
            "node_crypto_tokens",
            [[["ssl", "create", {"node_name": name, "node_uuid": node_uuid}]]],
        )
        digest = str(tokens[0][1])
        feedback(f"Node {name} created its client certificate")
        paths = self.ctx.paths
        for attr in JOIN_FILES:
            path = getattr(paths, attr)
            if not path.exists():
                continue
            await self._call(
                name,
                "upload_file",
                [
                    paths.virtual_path(path),
                    compress(path.read_bytes()),
                    0o400,
                    None,
                    None,
                    None,
                    None,
                ],
            )

        if self.existing is not None:
            node = self.existing.copy()
            node.offline = False
            node.drained = False
            node.primary_ip = self.primary_ip
            node.group = self.group_uuid
            if self.op.secondary_ip:
                node.secondary_ip = self.op.secondary_ip
        else:
            node = Node(
                uuid=node_uuid,
                name=name,
                primary_ip=self.primary_ip,
                secondary_ip=self.op.secondary_ip or self.primary_ip,
                group=self.group_uuid,
                master_candidate=False,
                master_capable=True if self.op.master_capable is None else self.op.master_capable,
                vm_capable=True if self.op.vm_capable is None else self.op.vm_capable,
                ndparams=dict(self.op.ndparams or {}),
            )
        if self.op.master_capable is not None:
            node.master_capable = self.op.master_capable
        if self.op.vm_capable is not None:
            node.vm_capable = self.op.vm_capable
        node.master_candidate = False
        if self.existing is not None:
            self.cfg.update(node)
        else:
            self.cfg.add_node(node)
        if any(p.uuid == node.uuid for p in candidates_to_promote(self.cfg.config)):
            current = self.cfg.get_node(node.uuid).copy()
            current.master_candidate = True
            self.cfg.update(current)
            cluster = self.cfg.get_cluster().copy()
            cluster.candidate_certs[node.uuid] = digest
            feedback(f"Node {name} is a master candidate")
        else:
            cluster = self.cfg.get_cluster().copy()
            cluster.candidate_certs.pop(node.uuid, None)
        self.cfg.update(cluster)
        # The new node learns who may call it before the master switches to its own
        # identity; replication after the commit sends the rest.
        await self._call(name, "write_ssconf_files", [ssconf_values(self.cfg.config)])
        await self.cfg.flush()
        feedback(f"Node {name} {'re-added' if self.existing else 'added'}")
        return None


@register
class LUNodeRemove(LogicalUnit):
    OP_ID = "OP_NODE_REMOVE"
    REQ_BGL = True

    def expand_names(self) -> None:
        name = self.op.node_name or self.op.node_uuid
        self.node = self.cfg.lookup_node(name)
        self.needed_locks[LEVEL_NODE] = ALL_SET

    def check_prereq(self) -> None:
        node = self.cfg.get_node(self.node.uuid)
        if node.uuid == self.cfg.get_cluster().master_node:
            raise errors.OpPrereqError(
                f"node {node.name} is the master node; fail the master over first",
                errors.ECODE_STATE,
            )
        primaries, secondaries = self.cfg.get_node_instances(node.uuid)
        if primaries or secondaries:
            names = ", ".join(sorted(i.name for i in [*primaries, *secondaries]))
            raise errors.OpPrereqError(
                f"instances still use node {node.name}: {names}", errors.ECODE_STATE
            )

    async def exec(self, feedback: Feedback) -> Any:
        node = self.cfg.get_node(self.node.uuid)
        was_candidate = node.master_candidate
        self.cfg.remove_node(node.uuid)
        cluster = self.cfg.get_cluster().copy()
        if cluster.candidate_certs.pop(node.uuid, None) is not None:
            self.cfg.update(cluster)
        if was_candidate:
            promoted = candidates_to_promote(self.cfg.config)
            if promoted:
                await promote(self, promoted, feedback)
        await self.cfg.flush()
        target = self.ctx.rpc.target_for(node.name, node.primary_ip)
        result = await self.ctx.rpc.call_one(target, "node_leave_cluster", [False])
        if not result.ok:
            feedback(f"Warning: node {node.name} did not leave cleanly: {result.fail_msg}")
        feedback(f"Node {node.name} removed")
        return None


@register
class LUNodeSetParams(LogicalUnit):
    OP_ID = "OP_NODE_SET_PARAMS"
    REQ_BGL = True

    def expand_names(self) -> None:
        self.node = self.cfg.lookup_node(self.op.node_name or self.op.node_uuid)
        self.needed_locks[LEVEL_NODE] = ALL_SET

    def check_prereq(self) -> None:
        op = self.op
        node = self.cfg.get_node(self.node.uuid)
        flags = {
            "offline": op.offline,
            "drained": op.drained,
            "master_candidate": op.master_candidate,
        }
        if sum(1 for v in flags.values() if v) > 1:
            raise errors.OpPrereqError(
                "at most one of offline, drained and master_candidate can be set",
                errors.ECODE_INVAL,
            )
        changes = {k: v for k, v in flags.items() if v is not None}
        for key in ("master_capable", "vm_capable", "powered", "secondary_ip"):
            if getattr(op, key) is not None:
                changes[key] = getattr(op, key)
        if op.ndparams:
            changes["ndparams"] = op.ndparams
        if not changes:
            raise errors.OpPrereqError("no changes given", errors.ECODE_INVAL)
        is_master = node.uuid == self.cfg.get_cluster().master_node
        demoting = (
            op.offline is True
            or op.drained is True
            or op.master_candidate is False
            or op.master_capable is False
        )
        if is_master and demoting:
            raise errors.OpPrereqError(
                "the master node cannot be offlined, drained or demoted; fail over first",
                errors.ECODE_STATE,
            )
        if op.master_candidate is True and not (
            node.master_capable if op.master_capable is None else op.master_capable
        ):
            raise errors.OpPrereqError(
                f"node {node.name} is not master capable", errors.ECODE_STATE
            )
        self.demote = demoting and node.master_candidate
        if self.demote and not op.auto_promote and not op.force:
            cfg = self.cfg.config
            after = sum(1 for n in cfg.nodes.values() if n.master_candidate) - 1
            eligible_left = sum(
                1 for n in cfg.nodes.values() if eligible_for_candidate(n) and n.uuid != node.uuid
            )
            if after < min(cfg.cluster.candidate_pool_size, eligible_left):
                raise errors.OpPrereqError(
                    f"demoting {node.name} would leave too few master candidates; use "
                    "--auto-promote or --force",
                    errors.ECODE_STATE,
                )
        if op.offline is False or op.drained is False:
            pass
        self.changes = changes

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        node = self.cfg.get_node(self.node.uuid).copy()
        result: list[list[Any]] = []
        for key in ("offline", "drained"):
            value = getattr(op, key)
            if value is not None and value != getattr(node, key):
                setattr(node, key, value)
                result.append([key, value])
        for key in ("master_capable", "vm_capable", "powered", "secondary_ip"):
            value = getattr(op, key)
            if value is not None and value != getattr(node, key):
                setattr(node, key, value)
                result.append([key, value])
        if op.ndparams:
            node.ndparams = {**node.ndparams, **op.ndparams}
            result.append(["ndparams", node.ndparams])
        demote = self.demote
        if demote and node.master_candidate:
            node.master_candidate = False
            result.append(["master_candidate", False])
        if op.offline is True or op.drained is True:
            # Offline/drained nodes are no candidates (at most one role flag is set).
            for other in ("offline", "drained"):
                if other != ("offline" if op.offline else "drained") and getattr(node, other):
                    setattr(node, other, False)
                    result.append([other, False])
        self.cfg.update(node)
        cluster = self.cfg.get_cluster().copy()
        if demote:
            cluster.candidate_certs.pop(node.uuid, None)
            self.cfg.update(cluster)
            if not node.offline:
                res = await self.ctx.rpc.call_one(node.name, "node_demote_from_mc", [])
                if not res.ok:
                    feedback(f"Warning: {node.name} could not drop its config copy: {res.fail_msg}")
            promoted = candidates_to_promote(self.cfg.config, exclude={node.uuid})
            if promoted and (op.auto_promote or op.force):
                await promote(self, promoted, feedback)
        if op.master_candidate is True and not self.cfg.get_node(node.uuid).master_candidate:
            await promote(self, [self.cfg.get_node(node.uuid)], feedback)
            result.append(["master_candidate", True])
        elif (op.offline is False or op.drained is False) and not node.master_candidate:
            promoted = candidates_to_promote(self.cfg.config)
            if any(p.uuid == node.uuid for p in promoted):
                await promote(self, [self.cfg.get_node(node.uuid)], feedback)
                result.append(["master_candidate", True])
        await self.cfg.flush()
        return result


async def upload_to(lu: LogicalUnit, nodes: list[str], path: Any, mode: int) -> list[str]:
    """Upload a local file to ``nodes``; returns the names that failed."""
    paths = lu.ctx.paths
    args = [paths.virtual_path(path), compress(path.read_bytes()), mode, None, None, None, None]
    results = await lu.ctx.rpc.call(nodes, "upload_file", args)
    return sorted(n for n, r in results.items() if not r.ok)


@register
class LUClusterRedistConf(LogicalUnit):
    """Push the cluster's files, config and ssconf to every node again."""

    OP_ID = "OP_CLUSTER_REDIST_CONF"
    REQ_BGL = False

    def expand_names(self) -> None:
        self.needed_locks[LEVEL_NODE] = ALL_SET
        self.share_locks[LEVEL_NODE] = True

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg.config
        master = cfg.cluster.master_node
        online = sorted(n.name for n in cfg.nodes.values() if not n.offline and n.uuid != master)
        candidates = sorted(
            n.name
            for n in cfg.nodes.values()
            if not n.offline and n.master_candidate and n.uuid != master
        )
        paths = self.ctx.paths
        failed: set[str] = set()
        for attr in (*JOIN_FILES, "rapi_users"):
            path = getattr(paths, attr)
            if path.exists() and online:
                failed.update(await upload_to(self, online, path, 0o400))
        if candidates:
            failed.update(await upload_to(self, candidates, paths.config_data, 0o640))
        all_online = sorted(n.name for n in cfg.nodes.values() if not n.offline)
        results = await self.ctx.rpc.call(all_online, "write_ssconf_files", [ssconf_values(cfg)])
        failed.update(n for n, r in results.items() if not r.ok)
        for name in sorted(failed):
            feedback(f"Warning: could not update {name}")
        return None


@register
class LUClusterRenewCrypto(LogicalUnit):
    """New client certificates for every reachable node, without losing contact.

    Nodes first accept both the old and the new certificate digests (ssconf pushed
    with the union), then the master switches to its new certificate, then the final
    list replaces the union.  Unreachable nodes keep their old certificate (a warning
    says so); re-adding them later gives them a new one.
    """

    OP_ID = "OP_CLUSTER_RENEW_CRYPTO"
    REQ_BGL = True

    def expand_names(self) -> None:
        self.needed_locks[LEVEL_NODE] = ALL_SET

    def check_prereq(self) -> None:
        if self.op.renew_ssh_keys:
            raise errors.OpPrereqError(
                "this cluster manages no SSH keys; nothing to renew", errors.ECODE_INVAL
            )

    async def exec(self, feedback: Feedback) -> Any:
        if not self.op.node_certificates:
            return None
        cfg = self.cfg.config
        rpc = self.ctx.rpc
        online = [n for n in cfg.nodes.values() if not n.offline]
        master_uuid = cfg.cluster.master_node
        new_digests: dict[str, str] = {}
        for node in sorted(online, key=lambda n: (n.uuid == master_uuid, n.name)):
            req = [["ssl", "create", {"node_name": node.name, "node_uuid": node.uuid}]]
            res = await rpc.call_one(node.name, "node_crypto_tokens", [req])
            if res.ok:
                new_digests[node.uuid] = str(res.payload[0][1])
                feedback(f"New client certificate for {node.name}")
            else:
                feedback(f"Warning: {node.name} keeps its old certificate: {res.fail_msg}")
        if master_uuid not in new_digests:
            raise errors.OpExecError("the master's own certificate could not be renewed")
        old = dict(cfg.cluster.candidate_certs)
        final: dict[str, str] = {
            uuid: new_digests.get(uuid) or digest
            for uuid, digest in old.items()
            if uuid in cfg.nodes
        }
        union = "".join(
            f"{uuid}={digest}\n"
            for uuid, digest in sorted({**{k + "-old": v for k, v in old.items()}, **final}.items())
        )
        values = dict(ssconf_values(cfg))
        values["master_candidates_certs"] = union
        names = sorted(n.name for n in online)
        results = await rpc.call(names, "write_ssconf_files", [values])
        for name, r in sorted(results.items()):
            if not r.ok:
                feedback(f"Warning: {name} did not get the transition list: {r.fail_msg}")
        if self.ctx.hooks.reload_client_certificate is not None:
            self.ctx.hooks.reload_client_certificate()
        cluster = self.cfg.get_cluster().copy()
        cluster.candidate_certs = final
        self.cfg.update(cluster)
        await self.cfg.flush()
        feedback(f"Renewed {len(new_digests)} of {len(online)} node certificates")
        return None
