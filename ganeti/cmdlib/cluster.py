"""Cluster-wide logical units: query, verify, set parameters, rename, destroy.

``OP_CLUSTER_QUERY``
    the ``gnt-cluster info`` / RAPI ``/2/info`` dict.
``OP_CLUSTER_VERIFY_CONFIG``, ``OP_CLUSTER_VERIFY_GROUP``, ``OP_CLUSTER_VERIFY``
    consistency checks, reported as job log lines in Ganeti's format
    (``  - ERROR: node node2: ...``, or ``  - ERROR:ENODERPC:node:node2:...`` with
    ``error_codes``).  The two specific LUs return True when no (non-ignored) error was
    found.  ``OP_CLUSTER_VERIFY`` submits those as jobs, as Ganeti does (the config
    check, then one job per group depending on it) and returns their ids.
``OP_CLUSTER_SET_PARAMS``, ``OP_CLUSTER_RENAME``, ``OP_CLUSTER_DESTROY``
    changes of the cluster object.

The running master learns about some changes through :class:`MasterHooks`
(``max_running_jobs``, the end of the cluster), set on the LU context.
"""

from __future__ import annotations

import datetime
import platform
import re
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography import x509

from ganeti import constants, errors, tls
from ganeti.cmdlib import group as group_lu  # noqa: F401  (registers the group LUs)
from ganeti.cmdlib import tags as tags_lu  # noqa: F401  (registers the tag LUs)
from ganeti.cmdlib.base import Feedback, LogicalUnit, MasterHooks, ResultWithJobs, register
from ganeti.cmdlib.group import (
    VALUE_DEFAULT,
    check_ipolicy,
    coerce_value,
    policy_violations,
    update_diskparams,
    update_ipolicy,
    update_params,
)
from ganeti.cmdlib.instance_common import hv_param_defaults
from ganeti.locking import ALL_SET, LEVEL_INSTANCE, LEVEL_NODE, LEVEL_NODEGROUP
from ganeti.objects import (
    Cluster,
    Node,
    fill_dict,
    fill_ipolicy,
    upgrade_beparams,
    valid_mac_prefix,
)


def _architecture() -> list[str]:
    return [platform.architecture()[0], platform.machine()]


@register
class LUClusterQuery(LogicalUnit):
    """Cluster information in the key set of RAPI ``/2/info`` (``gnt-cluster info``)."""

    OP_ID = "OP_CLUSTER_QUERY"
    REQ_BGL = False

    async def exec(self, feedback: Feedback) -> Any:
        cluster = self.cfg.get_cluster()
        master = self.cfg.get_master_node()
        return {
            "software_version": constants.RELEASE_VERSION,
            "protocol_version": constants.PROTOCOL_VERSION,
            "config_version": constants.CONFIG_VERSION,
            "os_api_version": max(constants.OS_API_VERSIONS),
            "export_version": constants.EXPORT_VERSION,
            "vcs_version": constants.RELEASE_VERSION,
            "architecture": _architecture(),
            "name": cluster.cluster_name,
            "master": master.name,
            "default_hypervisor": cluster.default_hypervisor,
            "enabled_hypervisors": list(cluster.enabled_hypervisors),
            "hvparams": {hv: cluster.fill_hv(hv) for hv in cluster.enabled_hypervisors},
            "os_hvp": cluster.os_hvp,
            "beparams": cluster.beparams,
            "osparams": cluster.osparams,
            "ipolicy": cluster.ipolicy,
            "nicparams": cluster.nicparams,
            "ndparams": cluster.ndparams,
            "diskparams": cluster.diskparams,
            "candidate_pool_size": cluster.candidate_pool_size,
            "max_running_jobs": cluster.max_running_jobs,
            "max_tracked_jobs": cluster.max_tracked_jobs,
            "mac_prefix": cluster.mac_prefix,
            "master_netdev": cluster.master_netdev,
            "master_netmask": cluster.master_netmask,
            "use_external_mip_script": cluster.use_external_mip_script,
            "volume_group_name": cluster.volume_group_name,
            "drbd_usermode_helper": cluster.drbd_usermode_helper,
            "file_storage_dir": cluster.file_storage_dir,
            "shared_file_storage_dir": cluster.shared_file_storage_dir,
            "gluster_storage_dir": cluster.gluster_storage_dir,
            "maintain_node_health": cluster.maintain_node_health,
            "ctime": cluster.ctime,
            "mtime": cluster.mtime,
            "uuid": cluster.uuid,
            "tags": sorted(cluster.tags),
            "uid_pool": cluster.uid_pool,
            "default_iallocator": cluster.default_iallocator,
            "default_iallocator_params": cluster.default_iallocator_params,
            "reserved_lvs": cluster.reserved_lvs,
            "primary_ip_version": 6 if cluster.primary_ip_family == constants.IP6_FAMILY else 4,
            "prealloc_wipe_disks": cluster.prealloc_wipe_disks,
            "hidden_os": cluster.hidden_os,
            "blacklisted_os": cluster.blacklisted_os,
            "enabled_disk_templates": list(cluster.enabled_disk_templates),
            "install_image": cluster.install_image,
            "instance_communication_network": cluster.instance_communication_network,
            "zeroing_image": cluster.zeroing_image,
            "compression_tools": cluster.compression_tools,
            "enabled_user_shutdown": cluster.enabled_user_shutdown,
            "enabled_data_collectors": {
                name: bool(params.get("active", True))
                for name, params in cluster.data_collectors.items()
            },
            "data_collector_interval": {
                name: params.get("interval")
                for name, params in cluster.data_collectors.items()
                if "interval" in params
            },
            "modify_ssh_setup": cluster.modify_ssh_setup,
            "ssh_key_type": cluster.ssh_key_type,
            "ssh_key_bits": cluster.ssh_key_bits,
        }


# --- hooks into the running master ---------------------------------------------------


def _hooks(lu: LogicalUnit) -> MasterHooks:
    """The running master's hooks (unset ones are skipped)."""
    return lu.ctx.hooks


# --- verification ----------------------------------------------------------------------

ETYPE_ERROR = "ERROR"
ETYPE_WARNING = "WARNING"

CERT_WARN_DAYS = 30
CERT_ERROR_DAYS = 7

# Error codes (Ganeti's CV_E* names).
ECLUSTERCFG = "ECLUSTERCFG"
ECLUSTERCERT = "ECLUSTERCERT"
ECLUSTERCLIENTCERT = "ECLUSTERCLIENTCERT"
ENODERPC = "ENODERPC"
ENODEVERSION = "ENODEVERSION"
ENODEN1 = "ENODEN1"
ENODEHV = "ENODEHV"
EINSTANCEBADNODE = "EINSTANCEBADNODE"
EINSTANCESPLITGROUPS = "EINSTANCESPLITGROUPS"


class Verifier:
    """Collects findings and writes them to the job log in Ganeti's format."""

    def __init__(
        self,
        feedback: Feedback,
        *,
        error_codes: bool = False,
        ignore_errors: Iterable[str] = (),
        simulate: bool = False,
    ) -> None:
        self.feedback = feedback
        self.error_codes = error_codes
        self.ignore = frozenset(ignore_errors)
        self.simulate = simulate
        self.bad = False
        self.findings: list[tuple[str, str, str, str, str]] = []

    def report(
        self,
        code: str,
        item_type: str,
        item: str | None,
        message: str,
        *,
        cond: bool = True,
        warning: bool = False,
    ) -> None:
        if not (cond or self.simulate):
            return
        etype = ETYPE_WARNING if warning or code in self.ignore else ETYPE_ERROR
        if etype == ETYPE_ERROR:
            self.bad = True
        name = item or ""
        self.findings.append((etype, code, item_type, name, message))
        if self.error_codes:
            line = f"{etype}:{code}:{item_type}:{name}:{message}"
        else:
            line = f"{etype}: {item_type}{' ' + name if name else ''}: {message}"
        self.feedback(f"  - {line}")

    def error(self, code: str, item_type: str, item: str | None, message: str) -> None:
        self.report(code, item_type, item, message)

    def warn(self, code: str, item_type: str, item: str | None, message: str) -> None:
        self.report(code, item_type, item, message, warning=True)


def _now(lu: LogicalUnit) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(lu.ctx.clock.seconds(), datetime.UTC)


def verify_certificates(lu: LogicalUnit, v: Verifier) -> None:
    """Expiry of the master's server.pem, client.pem and (if present) rapi.pem."""
    paths = lu.ctx.paths
    now = _now(lu)
    for path, required in (
        (paths.server_pem, True),
        (paths.client_pem, True),
        (paths.rapi_pem, False),
    ):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if required:
                v.error(ECLUSTERCERT, "cluster", None, f"certificate {path} does not exist")
            continue
        except OSError as exc:
            v.error(ECLUSTERCERT, "cluster", None, f"cannot read {path}: {exc.strerror}")
            continue
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            v.error(ECLUSTERCERT, "cluster", None, f"cannot load certificate {path}: {exc}")
            continue
        days = tls.days_until_expiry(cert, now)
        if days < 0:
            v.error(
                ECLUSTERCERT, "cluster", None, f"certificate {path} expired {-days:.0f} days ago"
            )
        elif days < CERT_ERROR_DAYS:
            v.error(ECLUSTERCERT, "cluster", None, f"certificate {path} expires in {days:.0f} days")
        elif days < CERT_WARN_DAYS:
            v.warn(ECLUSTERCERT, "cluster", None, f"certificate {path} expires in {days:.0f} days")
        elif v.simulate:
            v.error(ECLUSTERCERT, "cluster", None, f"certificate {path} (simulated error)")


def verify_config(lu: LogicalUnit, v: Verifier) -> None:
    """Config consistency, master candidate pool, candidate certificates, certificates."""
    cfg = lu.cfg
    config = cfg.config
    lu.ctx.feedback("* Verifying cluster config")
    for problem in config.verify():
        v.error(ECLUSTERCFG, "cluster", None, problem)
    lu.ctx.feedback("* Verifying cluster certificate files")
    verify_certificates(lu, v)
    cluster = cfg.get_cluster()
    nodes = cfg.get_nodes()
    eligible = [n for n in nodes if n.master_capable and not n.offline and not n.drained]
    candidates = [n for n in nodes if n.master_candidate or n.uuid == cluster.master_node]
    wanted = min(cluster.candidate_pool_size, len(eligible))
    v.report(
        ECLUSTERCFG,
        "cluster",
        None,
        f"not enough master candidates: {len(candidates)}, target {wanted}",
        cond=len(candidates) < wanted,
    )
    for node in sorted(candidates, key=lambda n: n.name):
        v.report(
            ECLUSTERCLIENTCERT,
            "node",
            node.name,
            "master candidate has no client certificate digest in the configuration",
            cond=node.uuid not in cluster.candidate_certs,
            warning=True,
        )
    offline = [n.name for n in nodes if n.offline]
    if offline:
        lu.ctx.feedback(f"  - NOTICE: {len(offline)} offline node(s) found.")


async def verify_group(
    lu: LogicalUnit, v: Verifier, group_uuid: str, skip_checks: Sequence[str]
) -> None:
    """Reachability and version of the group's nodes, instance placement, N+1 memory."""
    cfg = lu.cfg
    config = cfg.config
    group = cfg.get_group(group_uuid)
    members = sorted((n for n in cfg.get_nodes() if n.group == group_uuid), key=lambda n: n.name)
    online = [n for n in members if not n.offline]
    lu.ctx.feedback(f"* Verifying group {group.name!r} ({len(members)} node(s))")
    if not members:
        return
    reachable: set[str] = set()
    if online:
        lu.ctx.feedback(f"* Gathering data ({len(online)} node(s))")
        results = await lu.ctx.rpc.call([n.name for n in online], "version", [])
        for node in online:
            res = results.get(node.name)
            if res is None or not res.ok:
                why = "no answer" if res is None else res.fail_msg
                v.error(ENODERPC, "node", node.name, f"while contacting node: {why}")
                continue
            reachable.add(node.uuid)
            v.report(
                ENODEVERSION,
                "node",
                node.name,
                f"incompatible protocol versions: master {constants.PROTOCOL_VERSION}, "
                f"node {res.payload}",
                cond=res.payload != constants.PROTOCOL_VERSION,
            )
    member_uuids = {n.uuid for n in members}
    instances = [
        i for i in cfg.get_instances() if member_uuids.intersection(config.instance_all_nodes(i))
    ]
    lu.ctx.feedback(f"* Verifying {len(instances)} instance(s)")
    for inst in sorted(instances, key=lambda i: i.name):
        nodes = [config.nodes.get(u) for u in config.instance_all_nodes(inst)]
        known = [n for n in nodes if n is not None]
        primary = config.nodes.get(inst.primary_node)
        v.report(
            EINSTANCEBADNODE,
            "instance",
            inst.name,
            "instance is marked up but its primary node is offline",
            cond=primary is not None
            and primary.offline
            and inst.admin_state == constants.ADMINST_UP,
        )
        groups = {n.group for n in known}
        v.report(
            EINSTANCESPLITGROUPS,
            "instance",
            inst.name,
            "instance has nodes in several node groups: "
            + ", ".join(sorted(n.name for n in known)),
            cond=len(groups) > 1,
            warning=True,
        )
    if constants.VERIFY_NPLUSONE_MEM in skip_checks or not instances:
        return
    await _verify_n_plus_one(lu, v, [n for n in online if n.uuid in reachable])


async def _verify_n_plus_one(lu: LogicalUnit, v: Verifier, nodes: list[Node]) -> None:
    """Each node must have the memory to take over the instances whose secondary it is
    when any one of their primary nodes fails."""
    cfg = lu.cfg
    config = cfg.config
    cluster = cfg.get_cluster()
    lu.ctx.feedback("* Verifying N+1 Memory redundancy")
    if not nodes:
        return
    hv_specs = [[cluster.default_hypervisor, cluster.fill_hv(cluster.default_hypervisor)]]
    results = await lu.ctx.rpc.call([n.name for n in nodes], "node_info", [[], hv_specs])
    free: dict[str, int] = {}
    for node in nodes:
        res = results.get(node.name)
        try:
            if res is None or not res.ok:
                raise ValueError(res.fail_msg if res is not None else "no answer")
            free[node.uuid] = int(res.payload[2][0]["memory_free"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            v.warn(
                ENODEHV,
                "node",
                node.name,
                f"cannot get live memory data ({exc}); N+1 check skipped for this node",
            )
    # needed[secondary][primary] = memory of the instances that would move.
    needed: dict[str, dict[str, int]] = {}
    for inst in cfg.get_instances():
        if inst.admin_state != constants.ADMINST_UP:
            continue
        be = cluster.fill_instance_be(inst)
        if not be.get(constants.BE_AUTO_BALANCE, True):
            continue
        for sec in config.instance_secondary_nodes(inst):
            per = needed.setdefault(sec, {})
            per[inst.primary_node] = per.get(inst.primary_node, 0) + int(be[constants.BE_MINMEM])
    _verify_shared_n_plus_one(lu, v, nodes, free)
    for node in nodes:
        if node.uuid not in free:
            continue
        for prim, mem in sorted(needed.get(node.uuid, {}).items()):
            pname = config.nodes[prim].name if prim in config.nodes else prim
            v.report(
                ENODEN1,
                "node",
                node.name,
                f"not enough memory to accommodate instance failovers should node {pname} "
                f"fail ({mem} MiB needed, {free[node.uuid]} MiB free)",
                cond=free[node.uuid] < mem,
            )


def _verify_shared_n_plus_one(
    lu: LogicalUnit, v: Verifier, nodes: list[Node], free: dict[str, int]
) -> None:
    """Externally mirrored instances (sharedfile, rbd, ...) have no secondary: should
    their primary fail, any other node of the group may restart them.  The check places
    a node's running ones, largest first, each on the node with the most memory left
    (online, undrained, vm_capable nodes whose free memory is known) and reports the
    node whose instances would not all find room."""
    cfg = lu.cfg
    config = cfg.config
    cluster = cfg.get_cluster()
    shared: dict[str, list[int]] = {}
    for inst in cfg.get_instances():
        if inst.admin_state != constants.ADMINST_UP:
            continue
        if config.instance_disk_template(inst) not in constants.DTS_EXT_MIRROR:
            continue
        be = cluster.fill_instance_be(inst)
        if not be.get(constants.BE_AUTO_BALANCE, True):
            continue
        shared.setdefault(inst.primary_node, []).append(int(be[constants.BE_MINMEM]))
    hosts = {
        n.uuid: free[n.uuid]
        for n in nodes
        if n.uuid in free and n.vm_capable and not n.drained and not n.offline
    }
    for node in nodes:
        mems = sorted(shared.get(node.uuid, []), reverse=True)
        if not mems or node.uuid not in free:
            continue
        room = {uuid: mem for uuid, mem in hosts.items() if uuid != node.uuid}
        lost = 0
        lost_mem = 0
        for mem in mems:
            best = max(room, key=lambda uuid: room[uuid], default=None)
            if best is None or room[best] < mem:
                lost += 1
                lost_mem += mem
            else:
                room[best] -= mem
        v.report(
            ENODEN1,
            "node",
            node.name,
            f"not enough memory on the other nodes to restart its {len(mems)} "
            f"shared-storage instance(s) should it fail ({lost} instance(s), "
            f"{lost_mem} MiB would find no room)",
            cond=lost > 0,
        )


def _verifier(lu: LogicalUnit, feedback: Feedback) -> Verifier:
    op = lu.op
    return Verifier(
        feedback,
        error_codes=bool(op.error_codes),
        ignore_errors=op.ignore_errors or (),
        simulate=bool(op.debug_simulate_errors),
    )


@register
class LUClusterVerifyConfig(LogicalUnit):
    """Configuration consistency and certificates; True when nothing is wrong."""

    OP_ID = "OP_CLUSTER_VERIFY_CONFIG"
    REQ_BGL = False

    def expand_names(self) -> None:
        # Only the configuration is read, synchronously: no locks beyond the shared BGL.
        pass

    async def exec(self, feedback: Feedback) -> Any:
        v = _verifier(self, feedback)
        verify_config(self, v)
        return not v.bad


@register
class LUClusterVerifyGroup(LogicalUnit):
    """Node reachability, versions, instance placement and N+1 memory of one group."""

    OP_ID = "OP_CLUSTER_VERIFY_GROUP"
    REQ_BGL = False

    def expand_names(self) -> None:
        self.group_uuid = self.cfg.lookup_group(self.op.group_name).uuid
        self.needed_locks[LEVEL_NODEGROUP] = [self.group_uuid]
        self.share_locks[LEVEL_NODEGROUP] = True
        self.needed_locks[LEVEL_NODE] = [
            n.uuid for n in self.cfg.get_nodes() if n.group == self.group_uuid
        ]
        self.share_locks[LEVEL_NODE] = True

    async def exec(self, feedback: Feedback) -> Any:
        v = _verifier(self, feedback)
        await verify_group(self, v, self.group_uuid, self.op.skip_checks or [])
        return not v.bad


@register
class LUClusterVerify(LogicalUnit):
    """Fans out, as Ganeti does: one ``OP_CLUSTER_VERIFY_CONFIG`` job (unless a group
    is named) and one ``OP_CLUSTER_VERIFY_GROUP`` job per group, each group job
    depending on the config job; the result lists the submitted jobs."""

    OP_ID = "OP_CLUSTER_VERIFY"
    REQ_BGL = False

    def expand_names(self) -> None:
        # Only names are read here; the submitted jobs take their own locks.
        if self.op.group_name:
            self.group_names = [self.cfg.lookup_group(self.op.group_name).name]
        else:
            self.group_names = sorted(g.name for g in self.cfg.get_groups())

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        common = {
            "debug_simulate_errors": bool(op.debug_simulate_errors),
            "error_codes": bool(op.error_codes),
            "ignore_errors": list(op.ignore_errors or []),
            "verbose": bool(op.verbose),
        }
        jobs: list[list[dict[str, Any]]] = []
        if not op.group_name:
            jobs.append([{"OP_ID": "OP_CLUSTER_VERIFY_CONFIG", **common}])
        for name in self.group_names:
            group_op: dict[str, Any] = {
                "OP_ID": "OP_CLUSTER_VERIFY_GROUP",
                "group_name": name,
                "skip_checks": list(op.skip_checks or []),
                **common,
            }
            if not op.group_name:
                # Relative to this job: the config job, first of the submission.
                group_op["depends"] = [[-len(jobs), []]]
            jobs.append([group_op])
        return ResultWithJobs(jobs)


# --- set parameters ------------------------------------------------------------------

_OS_NAME_RE = re.compile(r"^[\w.+-]+$")
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    re.IGNORECASE,
)
_TEMPLATE_STORAGE_DIRS = {
    constants.DT_FILE: "file_storage_dir",
    constants.DT_SHARED_FILE: "shared_file_storage_dir",
    constants.DT_GLUSTER: "gluster_storage_dir",
}
_LVM_TEMPLATES = frozenset({constants.DT_PLAIN, constants.DT_DRBD8})


def _inval(message: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(message, errors.ECODE_INVAL)


def _apply_os_list(current: list[str], mods: list[Any], what: str, feedback: Feedback) -> list[str]:
    result = list(current)
    for action, name in mods:
        if not _OS_NAME_RE.match(name):
            raise _inval(f"{what}: invalid OS name {name!r}")
        if action == constants.DDM_ADD:
            if name not in result:
                result.append(name)
        elif name in result:
            result.remove(name)
        else:
            feedback(f"OS {name} not found in {what}, nothing to remove")
    return result


def _merge_ranges(ranges: Iterable[Sequence[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for lo, hi in sorted((int(r[0]), int(r[1])) for r in ranges):
        if lo > hi:
            raise _inval(f"invalid uid range {lo}-{hi}")
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def _remove_ranges(pool: list[list[int]], gone: Iterable[Sequence[int]]) -> list[list[int]]:
    result = [list(r) for r in pool]
    for glo, ghi in gone:
        nxt: list[list[int]] = []
        for lo, hi in result:
            if ghi < lo or glo > hi:
                nxt.append([lo, hi])
                continue
            if lo < glo:
                nxt.append([lo, glo - 1])
            if hi > ghi:
                nxt.append([ghi + 1, hi])
        result = nxt
    return result


@register
class LUClusterSetParams(LogicalUnit):
    """Change cluster-wide parameters (validated first; nothing changes on a refusal).

    ``max_running_jobs`` reaches the running queue through
    :attr:`MasterHooks.set_max_running_jobs`.
    """

    OP_ID = "OP_CLUSTER_SET_PARAMS"
    REQ_BGL = False

    def expand_names(self) -> None:
        # Parameters are inherited by every node, group and instance: read them stable.
        for level in (LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE):
            self.needed_locks[level] = ALL_SET
            self.share_locks[level] = True

    def check_prereq(self) -> None:
        self.messages: list[str] = []
        old = self.cfg.get_cluster()
        new = old.copy()
        self._params(new)
        self._lists(new)
        self._storage(new, old)
        self._simple(new)
        problems = new.problems()
        if problems:
            raise _inval("Invalid cluster parameters: " + "; ".join(problems))
        self.new = new
        self.old_max_running = old.max_running_jobs
        self.old_pool = old.candidate_pool_size

    def _hv_users(self, hv: str) -> list[str]:
        return sorted(i.name for i in self.cfg.get_instances() if i.hypervisor == hv)

    def _template_users(self, template: str) -> list[str]:
        config = self.cfg.config
        return sorted(
            i.name for i in self.cfg.get_instances() if config.instance_disk_template(i) == template
        )

    def _params(self, new: Cluster) -> None:
        op = self.op
        config = self.cfg.config
        if op.enabled_hypervisors is not None:
            hvs = list(dict.fromkeys(op.enabled_hypervisors))
            for hv in set(new.enabled_hypervisors) - set(hvs):
                users = self._hv_users(hv)
                if users:
                    raise errors.OpPrereqError(
                        f"Cannot disable hypervisor {hv}: in use by instance(s) "
                        + ", ".join(users),
                        errors.ECODE_STATE,
                    )
            new.enabled_hypervisors = hvs
            for hv in hvs:
                new.hvparams.setdefault(hv, fill_dict(constants.HVC_DEFAULTS[hv], {}))
        if op.hvparams is not None:
            for hv, params in op.hvparams.items():
                if hv not in constants.HYPER_TYPES:
                    raise _inval(f"hvparams: unknown hypervisor {hv!r}")
                new.hvparams[hv] = update_params(
                    new.hvparams.get(hv, {}), params, hv_param_defaults(hv), f"hvparams {hv}"
                )
        if op.os_hvp is not None:
            for os_name, per_hv in op.os_hvp.items():
                merged = dict(new.os_hvp.get(os_name, {}))
                for hv, params in per_hv.items():
                    if hv not in constants.HYPER_TYPES:
                        raise _inval(f"os_hvp {os_name}: unknown hypervisor {hv!r}")
                    globals_ = sorted(set(params) & constants.HVC_GLOBALS)
                    if globals_:
                        raise _inval(
                            f"os_hvp {os_name}: {', '.join(globals_)} can only be set cluster-wide"
                        )
                    merged[hv] = update_params(
                        merged.get(hv, {}), params, hv_param_defaults(hv), f"os_hvp {os_name}"
                    )
                    if not merged[hv]:
                        del merged[hv]
                if merged:
                    new.os_hvp[os_name] = merged
                else:
                    new.os_hvp.pop(os_name, None)
        for attr in ("osparams", "osparams_private_cluster"):
            changes = getattr(op, attr)
            if changes is None:
                continue
            current: dict[str, dict[str, Any]] = getattr(new, attr)
            for os_name, params in changes.items():
                merged = dict(current.get(os_name, {}))
                for key, value in params.items():
                    if value is None or value == VALUE_DEFAULT:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                if merged:
                    current[os_name] = merged
                else:
                    current.pop(os_name, None)
        if op.beparams is not None:
            defaults = dict(constants.BEC_DEFAULTS)
            new.beparams[constants.PP_DEFAULT] = update_params(
                upgrade_beparams(new.beparams.get(constants.PP_DEFAULT, {})),
                upgrade_beparams(op.beparams),
                defaults,
                "beparams",
            )
        if op.nicparams is not None:
            nic = update_params(
                new.nicparams.get(constants.PP_DEFAULT, {}),
                op.nicparams,
                constants.NICC_DEFAULTS,
                "nicparams",
            )
            filled = fill_dict(constants.NICC_DEFAULTS, nic)
            mode = filled[constants.NIC_MODE]
            if mode not in constants.NIC_VALID_MODES:
                raise _inval(f"nicparams: invalid NIC mode {mode!r}")
            if mode in (constants.NIC_MODE_BRIDGED, constants.NIC_MODE_OVS) and not filled.get(
                constants.NIC_LINK
            ):
                raise _inval(f"nicparams: NIC mode {mode} needs a link")
            new.nicparams[constants.PP_DEFAULT] = nic
        if op.ndparams is not None:
            new.ndparams = update_params(
                new.ndparams, op.ndparams, constants.NDC_DEFAULTS, "ndparams"
            )
        if op.diskparams is not None:
            new.diskparams = update_diskparams(new.diskparams, op.diskparams, "diskparams")
        if op.ipolicy is not None:
            new.ipolicy = update_ipolicy(new.ipolicy, op.ipolicy, "ipolicy", group=False)
            for group in config.nodegroups.values():
                check_ipolicy(
                    fill_ipolicy(new.cluster_ipolicy(), group.ipolicy),
                    f"ipolicy of node group {group.name!r} with the new cluster policy",
                )
            for group in config.nodegroups.values():
                members = {n.uuid for n in config.nodes.values() if n.group == group.uuid}
                policy = new.fill_ipolicy(group)
                instances = [i for i in config.instances.values() if i.primary_node in members]
                for line in policy_violations(self.cfg, policy, instances):
                    self.messages.append(f"WARNING: instance violates the new policy: {line}")
        if op.hv_state is not None:
            new.hv_state_static = {**new.hv_state_static, **op.hv_state}
        if op.disk_state is not None:
            new.disk_state_static = {**new.disk_state_static, **op.disk_state}

    def _lists(self, new: Cluster) -> None:
        op = self.op
        note = self.messages.append
        if op.hidden_os is not None:
            new.hidden_os = _apply_os_list(new.hidden_os, op.hidden_os, "hidden_os", note)
        if op.blacklisted_os is not None:
            new.blacklisted_os = _apply_os_list(
                new.blacklisted_os, op.blacklisted_os, "blacklisted_os", note
            )
        if op.reserved_lvs is not None:
            for lv in op.reserved_lvs:
                try:
                    re.compile(lv)
                except re.error as exc:
                    raise _inval(
                        f"reserved_lvs: invalid regular expression {lv!r}: {exc}"
                    ) from None
            new.reserved_lvs = list(op.reserved_lvs)
        if op.uid_pool is not None:
            new.uid_pool = _merge_ranges(op.uid_pool)
        if op.add_uids is not None:
            new.uid_pool = _merge_ranges([*new.uid_pool, *op.add_uids])
        if op.remove_uids is not None:
            new.uid_pool = _remove_ranges(new.uid_pool, op.remove_uids)
        if op.compression_tools is not None:
            tools = list(dict.fromkeys(op.compression_tools))
            if "gzip" not in tools:
                raise _inval("compression_tools must include gzip")
            bad = [t for t in tools if not _OS_NAME_RE.match(t)]
            if bad:
                raise _inval(f"compression_tools: invalid name(s) {', '.join(bad)}")
            new.compression_tools = tools
        if op.enabled_data_collectors is not None:
            for name, active in op.enabled_data_collectors.items():
                new.data_collectors.setdefault(name, {})["active"] = bool(active)
        if op.data_collector_interval is not None:
            for name, interval in op.data_collector_interval.items():
                new.data_collectors.setdefault(name, {})["interval"] = int(interval)

    def _storage(self, new: Cluster, old: Cluster) -> None:
        op = self.op
        if op.enabled_disk_templates is not None:
            templates = list(dict.fromkeys(op.enabled_disk_templates))
            for dt in set(old.enabled_disk_templates) - set(templates):
                users = self._template_users(dt)
                if users:
                    raise errors.OpPrereqError(
                        f"Cannot disable disk template {dt}: in use by instance(s) "
                        + ", ".join(users),
                        errors.ECODE_STATE,
                    )
            new.enabled_disk_templates = templates
        if op.vg_name is not None:
            new.volume_group_name = op.vg_name or None
        if op.drbd_helper is not None:
            new.drbd_usermode_helper = op.drbd_helper or None
        for attr in _TEMPLATE_STORAGE_DIRS.values():
            value = getattr(op, attr)
            if value is None:
                continue
            if value and not value.startswith("/"):
                raise _inval(f"{attr} must be an absolute path, not {value!r}")
            setattr(new, attr, value.rstrip("/") or ("/" if value else ""))
        lvm_used = _LVM_TEMPLATES.intersection(new.enabled_disk_templates)
        if lvm_used and not new.volume_group_name:
            raise _inval(
                f"Disk template(s) {', '.join(sorted(lvm_used))} need a volume group (vg_name)"
            )
        for template, attr in _TEMPLATE_STORAGE_DIRS.items():
            if template in new.enabled_disk_templates and not getattr(new, attr):
                raise _inval(f"Disk template {template} is enabled but {attr} is empty")

    def _simple(self, new: Cluster) -> None:
        op = self.op
        if op.mac_prefix is not None:
            prefix = op.mac_prefix.lower()
            if not valid_mac_prefix(prefix):
                raise _inval(f"Invalid MAC address prefix {op.mac_prefix!r}")
            new.mac_prefix = prefix
        if op.default_iallocator is not None:
            if op.default_iallocator and not _OS_NAME_RE.match(op.default_iallocator):
                raise _inval(f"Invalid iallocator name {op.default_iallocator!r}")
            new.default_iallocator = op.default_iallocator
        if op.default_iallocator_params is not None:
            new.default_iallocator_params = dict(op.default_iallocator_params)
        if op.master_netdev is not None:
            if not op.master_netdev:
                raise _inval("master_netdev must not be empty")
            new.master_netdev = op.master_netdev
            self.messages.append(
                "The master IP moves to the new interface at the next master IP activation"
            )
        for attr in (
            "candidate_pool_size",
            "max_running_jobs",
            "max_tracked_jobs",
            "auto_failover_timeout",
            "master_netmask",
            "maintain_node_health",
            "prealloc_wipe_disks",
            "use_external_mip_script",
            "modify_etc_hosts",
            "enabled_user_shutdown",
            "install_image",
            "zeroing_image",
            "instance_communication_network",
        ):
            value = getattr(op, attr)
            if value is not None:
                setattr(new, attr, coerce_value(attr, value, getattr(new, attr), "cluster"))

    async def exec(self, feedback: Feedback) -> Any:
        for message in self.messages:
            feedback(message)
        new = self.new
        self.cfg.update(new)
        await self.cfg.flush()
        hooks = _hooks(self)
        if new.max_running_jobs != self.old_max_running and hooks.set_max_running_jobs:
            hooks.set_max_running_jobs(new.max_running_jobs)
        if new.candidate_pool_size > self.old_pool:
            # A bigger pool: promote eligible nodes now (a smaller one keeps its
            # candidates until they are demoted, as in Ganeti).
            from ganeti.cmdlib.node import candidates_to_promote, promote

            wanted = candidates_to_promote(self.cfg.config)
            if wanted:
                await promote(self, wanted, feedback)
                await self.cfg.flush()
        if new.candidate_pool_size != self.old_pool and hooks.candidate_pool_changed:
            hooks.candidate_pool_changed()
        return None


@register
class LUClusterRename(LogicalUnit):
    """Rename the cluster (the master IP stays as it is); returns the new name."""

    OP_ID = "OP_CLUSTER_RENAME"
    REQ_BGL = True

    def check_prereq(self) -> None:
        name = self.op.name
        if not _HOSTNAME_RE.match(name):
            raise _inval(f"Invalid cluster name {name!r}")
        if name == self.cfg.get_cluster().cluster_name:
            raise _inval("The cluster name has not changed")

    async def exec(self, feedback: Feedback) -> Any:
        cluster = self.cfg.get_cluster().copy()
        cluster.cluster_name = self.op.name
        self.cfg.update(cluster)
        await self.cfg.flush()
        return self.op.name


@register
class LUClusterDestroy(LogicalUnit):
    """Check that only the master is left; returns the master's name.

    Removing the cluster's files from the master (``node_leave_cluster``) and stopping the
    daemons happens after the job, through :attr:`MasterHooks.cluster_destroyed`.
    """

    OP_ID = "OP_CLUSTER_DESTROY"
    REQ_BGL = True

    def check_prereq(self) -> None:
        cfg = self.cfg
        master = cfg.get_cluster().master_node
        others = [n for n in cfg.get_nodes() if n.uuid != master]
        if others:
            raise _inval(
                f"There are still {len(others)} node(s) in this cluster: "
                + ", ".join(sorted(n.name for n in others))
            )
        instances = cfg.get_instances()
        if instances:
            raise _inval(f"There are still {len(instances)} instance(s) in this cluster")

    async def exec(self, feedback: Feedback) -> Any:
        master = self.cfg.get_master_node().name
        hooks = _hooks(self)
        if hooks.cluster_destroyed is not None:
            hooks.cluster_destroyed(master)
        else:
            feedback("The master daemon has no destroy hook: stop it and remove the files")
        return master
