"""Exports (``gnt-backup``): ``OP_BACKUP_PREPARE``, ``OP_BACKUP_EXPORT``,
``OP_BACKUP_REMOVE``, and the import half of ``OP_INSTANCE_CREATE`` (mode ``import``).

**Export** (local mode): the instance is shut down if it runs (``shutdown``, the
default; exporting a running instance is refused because these templates have no
snapshots), its disks are activated on the primary, and every disk is streamed over the
node-to-node TLS transfer into ``<export dir>/<instance>.new/disk<N>.dump`` on the target
node: through the OS ``export`` script when the primary has the OS, else as raw disk
bytes.  ``finalize_export`` then writes ``config.ini`` (:mod:`ganeti.exportmanifest`)
and renames the directory to ``<export dir>/<instance>``.  The instance is started again
if it was running, or removed (``remove_instance``).  Older exports of the instance on
other nodes are removed, as Ganeti does.  Result: ``[true, [true per disk]]``.

**Import**: the export is found (``src_node``, else on any node) and read; the opcode's
missing values come from it (OS, template, disk sizes, NICs, hypervisor; backend,
hypervisor and OS parameters, as the instance's own values, or with
``identify_defaults`` only those that differ from the cluster defaults); the instance is
created as usual, and instead of the OS ``create`` script each dump is streamed from the
export's node into the new disk (through the OS ``import`` script, or raw for raw
dumps), its checksum compared with the manifest's.  Remote (inter-cluster) exports and
imports are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti import exportmanifest as em
from ganeti.cmdlib import impexp
from ganeti.cmdlib.base import Feedback, LogicalUnit, register
from ganeti.cmdlib.instance_common import (
    SUPPORTED_TEMPLATES,
    InstanceLU,
    assemble_disks,
    bad,
    disk_dict,
    inst_dict,
    instance_running,
    remove_disks,
    rpc_payload,
    shutdown_disks,
    used_macs,
)
from ganeti.cmdlib.instance_move import expected_bytes
from ganeti.locking import ALL_SET, LEVEL_INSTANCE, LEVEL_NODE
from ganeti.objects import Instance, Node, disk_template_of

STAGING = ".new"
REMOTE_REFUSAL = "remote (inter-cluster) exports and imports are not supported"


def dump_name(idx: int) -> str:
    return f"disk{idx}.dump"


def _online(lu: LogicalUnit) -> list[Node]:
    return [n for n in lu.cfg.get_nodes() if not n.offline]


@register
class LUBackupPrepare(InstanceLU):
    OP_ID = "OP_BACKUP_PREPARE"
    SHARED_NODES = True

    def check_prereq(self) -> None:
        if self.op.mode != C.EXPORT_MODE_LOCAL:
            raise bad(REMOTE_REFUSAL)

    async def exec(self, feedback: Feedback) -> Any:
        return None  # nothing to prepare for a local export


@register
class LUBackupExport(InstanceLU):
    OP_ID = "OP_BACKUP_EXPORT"

    def expand_names(self) -> None:
        super().expand_names()
        op = self.op
        if op.mode != C.EXPORT_MODE_LOCAL:
            raise bad(REMOTE_REFUSAL)
        if not isinstance(op.target_node, str) and not op.target_node_uuid:
            raise bad("a local export needs a target node name")
        self.target_uuid = self.cfg.lookup_node(op.target_node_uuid or op.target_node).uuid
        # Old exports of the instance are removed wherever they are.
        self.needed_locks[LEVEL_NODE] = ALL_SET
        self.share_locks[LEVEL_NODE] = True

    def declare_locks(self, level: int) -> None:
        pass  # all nodes, shared (set in expand_names)

    def check_prereq(self) -> None:
        op = self.op
        target = self.cfg.get_node(self.target_uuid)
        if target.offline:
            raise bad(f"target node {target.name} is offline", errors.ECODE_STATE)
        if self.pnode.offline:
            raise bad(f"primary node {self.pnode.name} is offline", errors.ECODE_STATE)
        self.template = disk_template_of(self.disks)
        if self.template not in SUPPORTED_TEMPLATES:
            raise bad(f"exporting {self.template} instances is not supported", errors.ECODE_STATE)
        if op.remove_instance and not op.shutdown:
            raise bad("an instance cannot be removed without shutting it down first")
        if op.zero_free_space:
            raise bad("zeroing free space before an export is not supported")
        self.compress = impexp.check_compression(op.compress)

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        cfg = self.cfg
        inst = self.inst
        pnode = self.pnode
        target = cfg.get_node(self.target_uuid)
        running = await instance_running(self, inst)
        if running and not op.shutdown:
            raise bad(
                f"instance {inst.name} is running and its {self.template} disks cannot be "
                "snapshotted: export it with shutdown (the default)",
                errors.ECODE_STATE,
            )
        if running:
            feedback(f"Shutting down instance {inst.name}")
            res = await self.ctx.rpc.call_one(
                pnode.name,
                "instance_shutdown",
                [inst_dict(cfg, inst), op.shutdown_timeout, op.reason],
            )
            rpc_payload(res, f"shutting down {inst.name}")
        staging = inst.name + STAGING
        results: list[bool] = []
        try:
            method = await self._method(pnode, feedback)
            if self.disks:
                await assemble_disks(self, inst, feedback)
            await self.ctx.rpc.call_one(target.name, "export_remove", [staging])
            snap = await self._export_disks(pnode, target, staging, method, results, feedback)
            if not all(results):
                failed = [i for i, ok in enumerate(results) if not ok]
                raise errors.OpExecError(f"export of disk(s) {failed} failed")
            idict = inst_dict(cfg, inst)
            idict["disk_template"] = self.template
            idict["export_options"] = {
                "source": pnode.name,
                "compression": self.compress,
                "dump_method": method,
            }
            feedback(f"Finalizing export on {target.name}")
            res = await self.ctx.rpc.call_one(target.name, "finalize_export", [idict, snap])
            rpc_payload(res, "finalizing the export")
        except errors.GanetiError:
            await self.ctx.rpc.call_one(target.name, "export_remove", [staging])
            await self._after(running, remove=False, feedback=feedback)
            raise
        await self._after(running, remove=op.remove_instance, feedback=feedback)
        await self._remove_older(target, feedback)
        return [True, results]

    async def _method(self, pnode: Node, feedback: Feedback) -> str:
        """``script`` if the primary has the instance's OS, else ``raw``."""
        inst = self.inst
        res = await self.ctx.rpc.call_one(
            pnode.name, "os_validate", [False, inst.os, [], {}, False]
        )
        if res.ok and res.payload:
            return em.DUMP_SCRIPT
        feedback(f"WARNING: OS {inst.os} not found on {pnode.name}: exporting raw disk data")
        return em.DUMP_RAW

    async def _export_disks(
        self,
        pnode: Node,
        target: Node,
        staging: str,
        method: str,
        results: list[bool],
        feedback: Feedback,
    ) -> list[Any]:
        cfg = self.cfg
        inst = self.inst
        idict = inst_dict(cfg, inst)
        snap: list[Any] = []
        for idx, disk in enumerate(self.disks):
            dd = disk_dict(cfg, disk, pnode.uuid)
            source = ["script", dd, idx] if method == em.DUMP_SCRIPT else ["raw", dd]
            feedback(f"Exporting disk/{idx} ({method}) to {target.name}")
            try:
                done = await impexp.transfer(
                    self,
                    src=pnode,
                    dst=target,
                    source=source,
                    dest=["file", staging, dump_name(idx)],
                    component=f"disk{idx}",
                    feedback=feedback,
                    src_instance=idict,
                    compress=self.compress,
                    expected_size=expected_bytes(disk) if method == em.DUMP_RAW else None,
                )
            except errors.OpExecError as exc:
                feedback(f"WARNING: export of disk/{idx} failed: {exc}")
                results.append(False)
                snap.append(False)
                continue
            feedback(f"  - disk/{idx}: {done.size} bytes, sha256 {done.sha256[:16]}...")
            results.append(True)
            snap.append(
                {
                    "dump": dump_name(idx),
                    "size": disk.size,
                    "iv_name": disk.iv_name or f"disk/{idx}",
                    "name": disk.name,
                    "sha256": done.sha256,
                }
            )
        return snap

    async def _after(self, running: bool, *, remove: bool, feedback: Feedback) -> None:
        cfg = self.cfg
        inst = self.inst
        pnode = self.pnode
        if remove:
            feedback(f"Removing instance {inst.name}")
            await shutdown_disks(self, inst, feedback)
            if not await remove_disks(self, inst, self.disks, feedback):
                if not self.op.ignore_remove_failures:
                    raise errors.OpExecError(f"could not remove all disks of {inst.name}")
            cfg.remove_instance(inst.uuid)
            await cfg.flush()
            return
        if running:
            feedback(f"Starting instance {inst.name} again")
            res = await self.ctx.rpc.call_one(
                pnode.name, "instance_start", [inst_dict(cfg, inst), False, self.op.reason]
            )
            rpc_payload(res, f"restarting {inst.name} after the export")
        elif self.disks and not inst.disks_active:
            await shutdown_disks(self, inst, feedback)

    async def _remove_older(self, target: Node, feedback: Feedback) -> None:
        name = self.op.instance_name or self.inst.name
        others = [n for n in _online(self) if n.uuid != target.uuid]
        if not others:
            return
        found = await self.ctx.rpc.call([n.name for n in others], "export_list", [])
        for node_name, res in sorted(found.items()):
            if res.ok and name in (res.payload or []):
                feedback(f"Removing the older export of {name} on {node_name}")
                await self.ctx.rpc.call_one(node_name, "export_remove", [name])


@register
class LUBackupRemove(LogicalUnit):
    OP_ID = "OP_BACKUP_REMOVE"
    REQ_BGL = False

    def expand_names(self) -> None:
        name = self.op.instance_uuid or self.op.instance_name
        try:
            inst = self.cfg.lookup_instance(name)
        except errors.OpPrereqError:
            # Exports outlive their instances: a removed instance is named as given.
            self.export_name = str(self.op.instance_name or name)
        else:
            self.export_name = inst.name
            self.needed_locks[LEVEL_INSTANCE] = [inst.uuid]
        self.needed_locks[LEVEL_NODE] = ALL_SET
        self.share_locks[LEVEL_NODE] = True

    async def exec(self, feedback: Feedback) -> Any:
        name = self.export_name
        nodes = [n.name for n in _online(self)]
        found = await self.ctx.rpc.call(nodes, "export_list", [])
        removed = []
        for node_name, res in sorted(found.items()):
            if not res.ok:
                feedback(f"WARNING: cannot list exports on {node_name}: {res.fail_msg}")
                continue
            if name in (res.payload or []):
                res = await self.ctx.rpc.call_one(node_name, "export_remove", [name])
                rpc_payload(res, f"removing the export of {name}")
                removed.append(node_name)
        if not removed:
            raise errors.OpExecError(f"no export of {name} found on any online node")
        feedback(f"Removed the export of {name} from {', '.join(removed)}")


# --- import (OP_INSTANCE_CREATE mode import) -----------------------------------------------


def import_expand(lu: LogicalUnit) -> None:
    """Locks for an import: the export's node too (all nodes, shared, if not given)."""
    op = lu.op
    if op.source_x509_ca or op.source_handshake:
        raise bad(REMOTE_REFUSAL)
    if not op.src_path:
        raise bad("an import needs the export's name or path (src_path)")
    src = op.src_node_uuid or op.src_node
    nodes = lu.needed_locks.get(LEVEL_NODE)
    if src and isinstance(nodes, list):
        uuid = lu.cfg.lookup_node(src).uuid
        if uuid not in nodes:
            nodes.append(uuid)
    elif not src:
        lu.needed_locks[LEVEL_NODE] = ALL_SET


def export_name_of(src_path: str) -> str:
    """``web1`` or ``/srv/ganeti/export/web1`` -> ``web1``."""
    name = src_path.rstrip("/").rsplit("/", 1)[-1]
    if not name or name.endswith(STAGING) or name.startswith("."):
        raise bad(f"{src_path!r} does not name an export")
    return name


async def import_prepare(lu: Any, feedback: Feedback) -> None:
    """Find and read the export; fill the opcode's missing values from it."""
    op = lu.op
    cfg = lu.cfg
    name = export_name_of(op.src_path)
    if op.src_node_uuid or op.src_node:
        src = cfg.lookup_node(op.src_node_uuid or op.src_node)
        if src.offline:
            raise bad(f"source node {src.name} is offline", errors.ECODE_STATE)
    else:
        found = await lu.ctx.rpc.call([n.name for n in _online(lu)], "export_list", [])
        holders = sorted(n for n, r in found.items() if r.ok and name in (r.payload or []))
        if not holders:
            raise bad(f"no export named {name!r} on any online node", errors.ECODE_NOENT)
        src = cfg.lookup_node(holders[0])
    res = await lu.ctx.rpc.call_one(src.name, "export_info", [op.src_path])
    if not res.ok:
        raise bad(f"cannot read export {name!r} on {src.name}: {res.fail_msg}", errors.ECODE_NOENT)
    try:
        manifest = em.parse(str(res.payload))
    except em.ManifestError as exc:
        raise bad(f"export {name!r} on {src.name}: {exc}") from None
    feedback(f"Importing from export {name} on {src.name} (made on {manifest.source})")
    lu.import_source = (src, name, manifest)
    cluster = cfg.get_cluster()
    if not op.os_type:
        op.os_type = manifest.os
    if not op.disk_template:
        op.disk_template = manifest.disk_template or None
    if not op.disks:
        op.disks = [
            {"size": d.size, **({"name": d.name} if d.name else {})} for d in manifest.disks
        ]
    if len(op.disks) < len(manifest.disks):
        raise bad(f"the export has {len(manifest.disks)} disks, only {len(op.disks)} given")
    if not op.nics:
        taken = used_macs(cfg)
        nics = []
        for nic in manifest.nics:
            spec = nic.to_opcode()
            spec.pop("network", None)
            if spec["mac"] in taken:
                feedback(f"MAC {spec['mac']} is in use: the imported NIC gets a new one")
                spec["mac"] = "generate"
            nics.append(spec)
        op.nics = nics
    if not op.hypervisor and manifest.hypervisor in cluster.enabled_hypervisors:
        op.hypervisor = manifest.hypervisor
    hv = op.hypervisor or cluster.default_hypervisor
    # As in Ganeti, the export's values become the instance's own; with
    # --identify-defaults those equal to the cluster's defaults are left to inheritance.
    drop_defaults = bool(op.identify_defaults)

    def own(
        saved: Mapping[str, str], defaults: Mapping[str, Any], skip: Any = ()
    ) -> dict[str, str]:
        return {
            k: v
            for k, v in saved.items()
            if k in defaults
            and k not in skip
            and not (drop_defaults and em._text(defaults[k]) == v)
        }

    op.beparams = {**own(manifest.beparams, cluster.fill_be({})), **(op.beparams or {})}
    if hv == manifest.hypervisor:
        hv_defaults = cluster.fill_hv(hv, op.os_type or "", {})
        op.hvparams = {
            **own(manifest.hvparams, hv_defaults, C.HVC_GLOBALS),
            **(op.hvparams or {}),
        }
    if manifest.os.split("+")[0] == (op.os_type or "").split("+")[0]:
        os_defaults = cluster.fill_os(op.os_type, {})
        saved_os = {
            k: v
            for k, v in manifest.osparams.items()
            if not (drop_defaults and k in os_defaults and em._text(os_defaults[k]) == v)
        }
        op.osparams = {**saved_os, **(op.osparams or {})}


async def import_disks(lu: Any, inst: Instance, feedback: Feedback) -> None:
    """Stream every dump of the export into the new instance's disks (disks assembled)."""
    src, name, manifest = lu.import_source
    cfg = lu.cfg
    pnode = cfg.get_node(inst.primary_node)
    disks = cfg.config.instance_disks(inst)
    idict = inst_dict(cfg, inst)
    for idx, entry in enumerate(manifest.disks):
        disk = disks[idx]
        dd = disk_dict(cfg, disk, pnode.uuid)
        dest = ["script", dd, idx] if manifest.dump_method == em.DUMP_SCRIPT else ["raw", dd]
        feedback(f"* importing disk/{idx} from {name} on {src.name} ({manifest.dump_method})")
        done = await impexp.transfer(
            lu,
            src=src,
            dst=pnode,
            source=["file", name, entry.dump],
            dest=dest,
            component=f"disk{idx}",
            feedback=feedback,
            dst_instance=idict,
            compress=impexp.check_compression(lu.op.compress),
        )
        if entry.sha256 and done.sha256 != entry.sha256:
            raise errors.OpExecError(
                f"disk/{idx}: the dump {entry.dump} has checksum {done.sha256}, the export "
                f"manifest says {entry.sha256}: the export is damaged"
            )
        feedback(f"  - disk/{idx}: {done.size} bytes, checksum matches the export")
