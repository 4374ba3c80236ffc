"""Master-side pieces of the ``drbd`` disk template, shared by the instance LUs.

* :func:`generate_drbd_disk` builds the configuration object of a new mirrored disk (port,
  minors, shared secret, data and meta LV children);
* :func:`wait_for_sync` polls ``drbd_wait_sync`` on the nodes with the injected clock until
  no disk resyncs any more, reporting progress in the job log, then checks that no disk is
  left degraded (``blockdev_getmirrorstatus``);
* :func:`disk_consistency` asks a node whether its side of each disk is usable;
* :func:`set_network`, :func:`close_disks` and :func:`open_disks` switch the mirror between
  single- and dual-primary mode (migration) and demote or promote one side.

Every disk dict is annotated for the node it goes to (:func:`instance_common.disk_dict`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from twisted.internet.task import deferLater

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, LogicalUnit
from ganeti.cmdlib.instance_common import bad, disk_dict, inst_dict, rpc_payload
from ganeti.objects import Disk, Instance, Node, new_uuid

# Seconds between two ``drbd_wait_sync`` looks.
SYNC_POLL = 2.0
# A resync whose lowest percentage has not moved for this long is reported as stuck
# (a paused sync, a peer that never connects); Ganeti would loop forever (issue 870).
SYNC_STALL_TIMEOUT = 1800.0
# Consecutive failed status calls tolerated while waiting.
SYNC_RPC_RETRIES = 10
# Looks at a finished sync that is still degraded (the peer may be connecting).
DEGRADED_RETRIES = 10


def is_drbd(disks: Sequence[Disk]) -> bool:
    return any(d.dev_type == C.DT_DRBD8 for d in disks)


def new_secret() -> str:
    """A shared secret for DRBD's peer authentication (cram-hmac)."""
    return secrets.token_hex(20)


def lv_child(vg: str, name: str, size: int) -> Disk:
    return Disk(dev_type=C.DT_PLAIN, logical_id=[vg, name], size=size)


def generate_drbd_disk(
    *,
    idx: int,
    size: int,
    pnode: str,
    snode: str,
    port: int,
    p_minor: int,
    s_minor: int,
    vg: str,
    metavg: str | None = None,
    name: str | None = None,
    mode: str = C.DISK_RDWR,
    spindles: int | None = None,
) -> Disk:
    """A new ``drbd`` disk: data LV (``size``) and meta LV (128 MiB), same names on both."""
    prefix = new_uuid()
    children = [
        lv_child(vg, f"{prefix}.disk{idx}_data", size),
        lv_child(metavg or vg, f"{prefix}.disk{idx}_meta", C.DRBD_META_SIZE),
    ]
    return Disk(
        dev_type=C.DT_DRBD8,
        logical_id=[pnode, snode, port, p_minor, s_minor, new_secret()],
        children=children,
        nodes=[pnode, snode],
        iv_name=f"disk/{idx}",
        size=size,
        mode=mode,
        name=name,
        spindles=spindles,
    )


def release_ports(lu: LogicalUnit, ports: Sequence[int]) -> None:
    """Give ports allocated for disks that never reached the configuration back."""
    if not ports:
        return
    cluster = lu.cfg.get_cluster().copy()
    for port in ports:
        if port not in cluster.tcpudp_port_pool:
            cluster.tcpudp_port_pool.append(port)
    lu.cfg.update(cluster)


def dicts_for(lu: LogicalUnit, disks: Sequence[Disk], node: Node) -> list[dict[str, Any]]:
    return [disk_dict(lu.cfg, d, node.uuid) for d in disks]


def _sleep(lu: LogicalUnit, seconds: float) -> Any:
    return deferLater(lu.ctx.clock, seconds, lambda: None)


async def mirror_status(lu: LogicalUnit, node: Node, disks: Sequence[Disk]) -> list[dict[str, Any]]:
    res = await lu.ctx.rpc.call_one(
        node.name, "blockdev_getmirrorstatus", [dicts_for(lu, disks, node)]
    )
    payload = rpc_payload(res, "reading the mirror status")
    return list(payload or [])


async def wait_for_sync(
    lu: LogicalUnit,
    nodes: Sequence[Node],
    disks: Sequence[Disk],
    feedback: Feedback,
    *,
    oneshot: bool = False,
) -> bool:
    """Wait until no disk resyncs on ``nodes``; False if a disk stays degraded.

    ``oneshot``: one look only; True unless a disk is degraded without resyncing.
    """
    disks = [d for d in disks if d.dev_type == C.DT_DRBD8]
    nodes = [n for n in nodes if not n.offline]
    if not disks or not nodes:
        return True
    if oneshot:
        return await _not_degraded(lu, nodes, disks, feedback, retries=0, syncing_ok=True)
    clock = lu.ctx.clock
    last_pct: float | None = None
    last_progress = clock.seconds()
    failures = 0
    while True:
        all_done = True
        lowest = 100.0
        failed = None
        for node in nodes:
            res = await lu.ctx.rpc.call_one(
                node.name, "drbd_wait_sync", [dicts_for(lu, disks, node)]
            )
            if not res.ok:
                failed = f"{node.name}: {res.fail_msg}"
                break
            done, pct = res.payload
            if not done:
                all_done = False
                lowest = min(lowest, float(pct))
        if failed is not None:
            failures += 1
            if failures > SYNC_RPC_RETRIES:
                raise errors.OpExecError(f"cannot read the disk sync status ({failed})")
            feedback(f"WARNING: cannot read the disk sync status ({failed}); retrying")
            await _sleep(lu, SYNC_POLL)
            continue
        failures = 0
        if all_done:
            break
        now = clock.seconds()
        if last_pct is None or lowest > last_pct:
            feedback(f"- disks resyncing: {lowest:.1f}% done")
            last_pct = lowest
            last_progress = now
        elif now - last_progress > SYNC_STALL_TIMEOUT:
            raise errors.OpExecError(
                f"disk resync stuck at {lowest:.1f}% for {int(now - last_progress)} s "
                f"(paused, or the peer cannot connect?); check 'drbdsetup status' on "
                f"{', '.join(n.name for n in nodes)}"
            )
        await _sleep(lu, SYNC_POLL)
    if last_pct is not None:
        feedback("- disks are in sync")
    return await _not_degraded(lu, nodes, disks, feedback, retries=DEGRADED_RETRIES)


async def _not_degraded(
    lu: LogicalUnit,
    nodes: Sequence[Node],
    disks: Sequence[Disk],
    feedback: Feedback,
    *,
    retries: int,
    syncing_ok: bool = False,
) -> bool:
    attempt = 0
    while True:
        bad_disks = []
        for node in nodes:
            for disk, status in zip(disks, await mirror_status(lu, node, disks), strict=False):
                if not status or not status.get("is_degraded"):
                    continue
                if syncing_ok and status.get("sync_percent") is not None:
                    continue
                bad_disks.append(f"{disk.iv_name} on {node.name}")
        if not bad_disks:
            return True
        if attempt >= retries:
            feedback(f"WARNING: degraded disks: {', '.join(bad_disks)}")
            return False
        attempt += 1
        await _sleep(lu, 1.0)


async def disk_consistency(
    lu: LogicalUnit, node: Node, disks: Sequence[Disk], *, ldisk: bool, feedback: Feedback
) -> list[int]:
    """Indexes (in ``disks``) whose side on ``node`` is not usable.

    ``ldisk``: only the local disk must be good (``ldisk_status`` ok); otherwise the device
    must also not be degraded (connected, local disk UpToDate).
    """
    out = []
    for idx, disk in enumerate(disks):
        res = await lu.ctx.rpc.call_one(
            node.name, "blockdev_find", [disk_dict(lu.cfg, disk, node.uuid)]
        )
        name = disk.iv_name or f"disk/{idx}"
        if not res.ok:
            feedback(f"WARNING: cannot check {name} on {node.name}: {res.fail_msg}")
            out.append(idx)
            continue
        status = res.payload
        if not status:
            feedback(f"WARNING: {name} is not active on {node.name}")
            out.append(idx)
        elif ldisk and status.get("ldisk_status") != "ok":
            out.append(idx)
        elif not ldisk and status.get("is_degraded"):
            out.append(idx)
    return out


async def set_network(
    lu: LogicalUnit,
    nodes: Sequence[Node],
    disks: Sequence[Disk],
    feedback: Feedback,
    *,
    multimaster: bool,
) -> None:
    """Disconnect the mirror on ``nodes`` and connect it again (dual-primary or not)."""
    mode = "dual-primary" if multimaster else "single-primary"
    feedback(f"* changing the disks of {', '.join(n.name for n in nodes)} to {mode} mode")
    for node in nodes:
        res = await lu.ctx.rpc.call_one(
            node.name, "drbd_disconnect_net", [dicts_for(lu, disks, node)]
        )
        rpc_payload(res, f"disconnecting the disks on {node.name}")
    for node in nodes:
        res = await lu.ctx.rpc.call_one(
            node.name, "drbd_attach_net", [dicts_for(lu, disks, node), multimaster]
        )
        rpc_payload(res, f"reconnecting the disks on {node.name} ({mode})")


async def close_disks(lu: LogicalUnit, node: Node, inst: Instance, disks: Sequence[Disk]) -> None:
    """Demote ``node``'s side of the mirror to Secondary (``blockdev_close``)."""
    res = await lu.ctx.rpc.call_one(
        node.name, "blockdev_close", [inst.name, dicts_for(lu, disks, node)]
    )
    rpc_payload(res, f"demoting the disks of {inst.name} on {node.name} to secondary")


async def open_disks(lu: LogicalUnit, node: Node, inst: Instance, disks: Sequence[Disk]) -> None:
    """Make ``node``'s side Primary (``blockdev_assemble`` with ``on_primary``)."""
    idict = inst_dict(lu.cfg, inst)
    for idx, disk in enumerate(disks):
        res = await lu.ctx.rpc.call_one(
            node.name,
            "blockdev_assemble",
            [disk_dict(lu.cfg, disk, node.uuid), idict, True, idx],
        )
        rpc_payload(res, f"making disk/{idx} of {inst.name} primary on {node.name}")


def secondary_of(lu: LogicalUnit, inst: Instance, disks: Sequence[Disk]) -> Node:
    """The other node of a DRBD instance's disks."""
    for disk in disks:
        for uuid in disk.nodes:
            if uuid != inst.primary_node:
                return lu.cfg.get_node(uuid)
    raise bad(f"instance {inst.name} has drbd disks but no secondary node", errors.ECODE_STATE)


async def enter_dual_primary(
    lu: LogicalUnit,
    inst: Instance,
    source: Node,
    target: Node,
    disks: Sequence[Disk],
    feedback: Feedback,
) -> None:
    """Before a live migration: both sides connected in dual-primary mode, both Primary.

    The target is first made sure to be Secondary, both sides are disconnected and
    reconnected with ``allow-two-primaries``, the mirror must be in sync, then the
    target is promoted.
    """
    nodes = [source, target]
    await close_disks(lu, target, inst, disks)
    await set_network(lu, nodes, disks, feedback, multimaster=True)
    if not await wait_for_sync(lu, nodes, disks, feedback):
        raise errors.OpExecError(
            f"the disks of {inst.name} are degraded after switching to dual-primary mode"
        )
    feedback(f"* making the disks of {inst.name} primary on {target.name} too")
    await open_disks(lu, target, inst, disks)


async def restore_single_primary(
    lu: LogicalUnit,
    inst: Instance,
    demote: Node,
    nodes: Sequence[Node],
    disks: Sequence[Disk],
    feedback: Feedback,
    *,
    strict: bool,
) -> None:
    """After a migration (or its abort): ``demote`` becomes Secondary, single-primary again.

    ``strict=False`` (abort and cleanup paths) turns failures into warnings.
    """
    try:
        feedback(f"* demoting the disks of {inst.name} on {demote.name} to secondary")
        await close_disks(lu, demote, inst, disks)
        if not await wait_for_sync(lu, nodes, disks, feedback):
            feedback(f"WARNING: the disks of {inst.name} are degraded; check them manually")
        await set_network(lu, nodes, disks, feedback, multimaster=False)
        if not await wait_for_sync(lu, nodes, disks, feedback):
            feedback(f"WARNING: the disks of {inst.name} are degraded; check them manually")
    except errors.OpExecError as exc:
        if strict:
            raise errors.OpExecError(
                f"instance {inst.name} runs on its new primary, but its disks could not be "
                f"returned to single-primary mode: {exc}; run 'gnt-instance migrate "
                f"--cleanup {inst.name}'"
            ) from None
        feedback(
            f"WARNING: could not return the disks of {inst.name} to single-primary mode "
            f"({exc}); run 'gnt-instance activate-disks {inst.name}' and check them"
        )
