"""The master's side of a disk transfer between two nodes (used by move, export, import).

``transfer`` starts the receiving end (``import_start``) on the destination node, hands
its port and one-time token to the sending node (``export_start``), polls both with
``impexp_status`` until they end, checks that both saw the same size and checksum, and
always cleans both up (``impexp_abort`` first if the job is cancelled or something
failed).  Protocol and node side: :mod:`ganeti.noded.transfer`, :mod:`ganeti.noded.impexp`.
"""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet.task import deferLater

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, LogicalUnit
from ganeti.objects import Node

POLL_INTERVAL = 0.2
# Feedback about progress at most this often (seconds).
PROGRESS_EVERY = 10.0
CONNECT_TIMEOUT = 60
# Status calls that may fail in a row before the transfer is given up.
MAX_STATUS_FAILURES = 5
COMPRESSIONS = ("none", "gzip", "gzip-fast", "gzip-slow")


@attrs.frozen
class TransferResult:
    size: int
    sha256: str
    seconds: float
    wire_bytes: int


def check_compression(value: str | None) -> str:
    name = value or C.IEC_NONE
    if name not in COMPRESSIONS:
        raise errors.OpPrereqError(
            f"unknown compression {name!r} (known: {', '.join(COMPRESSIONS)})", errors.ECODE_INVAL
        )
    return name


async def transfer(
    lu: LogicalUnit,
    *,
    src: Node,
    dst: Node,
    source: list[Any],
    dest: list[Any],
    component: str,
    feedback: Feedback,
    src_instance: dict[str, Any] | None = None,
    dst_instance: dict[str, Any] | None = None,
    compress: str = C.IEC_NONE,
    expected_size: int | None = None,
) -> TransferResult:
    """Copy one stream from ``src`` to ``dst``; OpExecError saying what failed."""
    rpc = lu.ctx.rpc
    # Bulk data goes over the nodes' secondary (replication) network, as DRBD does.
    address = dst.secondary_ip or dst.primary_ip
    opts: dict[str, Any] = {
        "compress": compress,
        "connect_timeout": CONNECT_TIMEOUT,
        "listen_address": address,
        "peer_node": src.name,
        "expected_size": expected_size,
    }
    res = await rpc.call_one(dst.name, "import_start", [opts, dst_instance, component, dest])
    if not res.ok:
        raise errors.OpExecError(f"{component}: cannot receive on {dst.name}: {res.fail_msg}")
    started = res.payload
    recv_name = started["name"]
    send_name: str | None = None
    finished = False
    try:
        res = await rpc.call_one(
            src.name,
            "export_start",
            [
                {
                    "compress": compress,
                    "connect_timeout": CONNECT_TIMEOUT,
                    "magic": started["magic"],
                },
                address,
                started["port"],
                src_instance,
                component,
                source,
            ],
        )
        if not res.ok:
            raise errors.OpExecError(f"{component}: cannot send from {src.name}: {res.fail_msg}")
        send_name = res.payload
        sent, received = await _wait(lu, src, send_name, dst, recv_name, component, feedback)
        finished = sent["exit_status"] is not None and received["exit_status"] is not None
    finally:
        for node, name in ((src, send_name), (dst, recv_name)):
            if name is None:
                continue
            if not finished:
                await rpc.call_one(node.name, "impexp_abort", [name])
            await rpc.call_one(node.name, "impexp_cleanup", [name])
    for side, status, node in (("sending", sent, src), ("receiving", received, dst)):
        if status["exit_status"] not in (0, None):
            raise errors.OpExecError(
                f"{component}: {side} on {node.name} failed: {status['error_message']}"
            )
    if (sent["size"], sent["sha256"]) != (received["size"], received["sha256"]):
        raise errors.OpExecError(
            f"{component}: {src.name} sent {sent['size']} bytes ({sent['sha256']}), "
            f"{dst.name} received {received['size']} ({received['sha256']})"
        )
    return TransferResult(
        size=int(received["size"]),
        sha256=str(received["sha256"]),
        seconds=float(received.get("elapsed") or 0.0),
        wire_bytes=int(received.get("wire_bytes") or 0),
    )


async def _wait(
    lu: LogicalUnit,
    src: Node,
    send_name: str,
    dst: Node,
    recv_name: str,
    component: str,
    feedback: Feedback,
) -> tuple[dict[str, Any], dict[str, Any]]:
    rpc = lu.ctx.rpc
    clock = lu.ctx.clock
    last: dict[str, dict[str, Any]] = {}
    failures = {src.name: 0, dst.name: 0}
    next_report = clock.seconds() + PROGRESS_EVERY
    while True:
        for node, name in ((src, send_name), (dst, recv_name)):
            if last.get(node.name, {}).get("exit_status") is not None:
                continue
            res = await rpc.call_one(node.name, "impexp_status", [[name]])
            status = res.payload[0] if res.ok and res.payload else None
            if status is None:
                failures[node.name] += 1
                if failures[node.name] >= MAX_STATUS_FAILURES:
                    why = res.fail_msg or "the node no longer knows the transfer"
                    raise errors.OpExecError(f"{component}: lost track on {node.name}: {why}")
                continue
            failures[node.name] = 0
            last[node.name] = status
        sent, received = last.get(src.name), last.get(dst.name)
        if sent and received:
            if sent["exit_status"] is not None and received["exit_status"] is not None:
                return sent, received
            # One side failed: the other will not finish on its own.
            for status in (sent, received):
                if status["exit_status"] not in (None, 0):
                    other = received if status is sent else sent
                    if other["exit_status"] is None:
                        return sent, received
        if clock.seconds() >= next_report and received:
            next_report = clock.seconds() + PROGRESS_EVERY
            pct = received.get("progress_percent")
            feedback(
                f"  - {component}: {received['progress_mbytes']:.0f} MiB"
                + (f" ({pct}%)" if pct is not None else "")
                + f", {received['progress_throughput']:.1f} MiB/s"
            )
        await deferLater(clock, POLL_INTERVAL)
