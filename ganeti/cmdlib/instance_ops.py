"""Instance power operations: startup, shutdown, reboot, reinstall.

The admin state lives in the configuration (``admin_state``/``admin_state_source``);
whether the instance really runs is asked from its primary node each time.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, register
from ganeti.cmdlib.instance_common import (
    InstanceLU,
    assemble_disks,
    bad,
    check_node_usable,
    inst_dict,
    instance_running,
    node_free,
    require_memory,
    rpc_payload,
    shutdown_disks,
    update_beparams,
    update_hvparams,
)


@register
class LUInstanceStartup(InstanceLU):
    OP_ID = "OP_INSTANCE_STARTUP"

    def check_prereq(self) -> None:
        inst = self.inst
        if inst.admin_state == C.ADMINST_OFFLINE:
            raise bad(f"instance {inst.name} is offline; bring it online first", errors.ECODE_STATE)
        self.tmp_hv = update_hvparams(inst.hypervisor, {}, self.op.hvparams)
        self.tmp_be = update_beparams({}, self.op.beparams)
        pnode = self.pnode
        if pnode.offline and self.op.ignore_offline_nodes:
            return
        check_node_usable(pnode)

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        op = self.op
        pnode = self.pnode
        if pnode.offline:  # ignore_offline_nodes: only remember the wish
            if not op.no_remember:
                self.set_state(admin_state=C.ADMINST_UP, admin_state_source=C.ADMIN_SOURCE)
                await cfg.flush()
            feedback(f"Primary node {pnode.name} is offline: instance only marked up")
            return None
        inst = self.inst
        if await instance_running(self, inst):
            feedback(f"Instance {inst.name} is already running")
            if not op.no_remember:
                self.set_state(admin_state=C.ADMINST_UP, admin_state_source=C.ADMIN_SOURCE)
                await cfg.flush()
            return None
        filled_be = cfg.get_cluster().fill_instance_be(inst)
        filled_be.update(self.tmp_be)
        info = await node_free(self, pnode, inst.hypervisor)
        require_memory(info, int(filled_be[C.BE_MAXMEM]), pnode.name, f"start {inst.name}")
        if not op.no_remember:
            self.set_state(admin_state=C.ADMINST_UP, admin_state_source=C.ADMIN_SOURCE)
        self.set_state(disks_active=bool(inst.disks))
        await cfg.flush()
        await start_instance(self, feedback, op.force, self.tmp_hv, self.tmp_be, op.startup_paused)
        return None


async def start_instance(
    lu: InstanceLU,
    feedback: Feedback,
    force: bool = False,
    hvparams: dict[str, Any] | None = None,
    beparams: dict[str, Any] | None = None,
    paused: bool = False,
) -> None:
    """Assemble the disks and start the instance; shut the disks again on failure."""
    inst = lu.inst
    cfg = lu.cfg
    pnode = lu.pnode
    if inst.disks:
        await assemble_disks(lu, inst, feedback, ignore_secondaries=force)
    feedback(f"Starting instance {inst.name} on node {pnode.name}")
    res = await lu.ctx.rpc.call_one(
        pnode.name,
        "instance_start",
        [inst_dict(cfg, inst, hvparams=hvparams, beparams=beparams), paused, lu.op.reason],
    )
    if not res.ok:
        await shutdown_disks(lu, inst, feedback)
        raise errors.OpExecError(f"could not start instance {inst.name}: {res.fail_msg}")


async def stop_instance(lu: InstanceLU, feedback: Feedback, timeout: int) -> None:
    inst = lu.inst
    pnode = lu.pnode
    res = await lu.ctx.rpc.call_one(
        pnode.name, "instance_shutdown", [inst_dict(lu.cfg, inst), timeout, lu.op.reason]
    )
    rpc_payload(res, f"shutting down instance {inst.name}")


@register
class LUInstanceShutdown(InstanceLU):
    OP_ID = "OP_INSTANCE_SHUTDOWN"

    def check_prereq(self) -> None:
        pnode = self.pnode
        if pnode.offline and self.op.ignore_offline_nodes:
            return
        check_node_usable(pnode)

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        op = self.op
        source = op.admin_state_source or C.ADMIN_SOURCE
        if not op.no_remember:
            self.set_state(admin_state=C.ADMINST_DOWN, admin_state_source=source)
        pnode = self.pnode
        if pnode.offline:
            feedback(f"Primary node {pnode.name} is offline: instance only marked down")
            await cfg.flush()
            return None
        await cfg.flush()
        feedback(f"Shutting down instance {self.inst.name}")
        await stop_instance(self, feedback, op.timeout)
        await shutdown_disks(self, self.inst, feedback)
        self.set_state(disks_active=False)
        await cfg.flush()
        return None


@register
class LUInstanceReboot(InstanceLU):
    OP_ID = "OP_INSTANCE_REBOOT"

    def check_prereq(self) -> None:
        inst = self.inst
        if inst.admin_state == C.ADMINST_OFFLINE:
            raise bad(f"instance {inst.name} is offline", errors.ECODE_STATE)
        check_node_usable(self.pnode)

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        op = self.op
        inst = self.inst
        pnode = self.pnode
        running = await instance_running(self, inst)
        if running and op.reboot_type in (C.INSTANCE_REBOOT_SOFT, C.INSTANCE_REBOOT_HARD):
            feedback(f"Rebooting instance {inst.name} ({op.reboot_type})")
            res = await self.ctx.rpc.call_one(
                pnode.name,
                "instance_reboot",
                [inst_dict(cfg, inst), op.reboot_type, op.shutdown_timeout, op.reason],
            )
            rpc_payload(res, f"rebooting instance {inst.name}")
        else:
            if running:
                feedback(f"Shutting down instance {inst.name} for a full reboot")
                await stop_instance(self, feedback, op.shutdown_timeout)
                await shutdown_disks(self, inst, feedback)
            else:
                info = await node_free(self, pnode, inst.hypervisor)
                need = int(cfg.get_cluster().fill_instance_be(inst)[C.BE_MAXMEM])
                require_memory(info, need, pnode.name, f"start {inst.name}")
            await start_instance(self, feedback, op.ignore_secondaries)
        self.set_state(
            admin_state=C.ADMINST_UP,
            admin_state_source=C.ADMIN_SOURCE,
            disks_active=bool(inst.disks),
        )
        await cfg.flush()
        return None


@register
class LUInstanceReinstall(InstanceLU):
    OP_ID = "OP_INSTANCE_REINSTALL"

    def check_prereq(self) -> None:
        inst = self.inst
        if inst.admin_state == C.ADMINST_UP:
            raise bad(
                f"instance {inst.name} is marked to be up; shut it down first",
                errors.ECODE_STATE,
            )
        check_node_usable(self.pnode)

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        op = self.op
        inst = self.inst
        pnode = self.pnode
        if await instance_running(self, inst):
            raise bad(f"instance {inst.name} is running; shut it down first", errors.ECODE_STATE)
        os_name = op.os_type or inst.os
        cluster = cfg.get_cluster()
        osparams = dict(inst.osparams)
        if op.osparams:
            osparams.update(op.osparams)
        filled = cluster.fill_os(os_name, osparams)
        filled.update(
            cluster.fill_os_private(os_name, op.osparams_private or inst.osparams_private)
        )
        res = await self.ctx.rpc.call_one(
            pnode.name, "os_validate", [True, os_name, ["parameters"], filled, op.force_variant]
        )
        if not res.ok:
            raise bad(f"OS {os_name!r} is not valid on node {pnode.name}: {res.fail_msg}")
        if os_name != inst.os or (op.osparams is not None and osparams != inst.osparams):
            feedback(f"Changing OS of {inst.name} to {os_name}")
            self.set_state(os=os_name, osparams=osparams)
            await cfg.flush()
        inst = self.inst
        if inst.disks:
            await assemble_disks(self, inst, feedback)
        try:
            feedback(f"Running the instance OS create scripts ({os_name})...")
            data = inst_dict(cfg, inst)
            if op.osparams_secret:
                data["osparams_secret"] = dict(op.osparams_secret)
            res = await self.ctx.rpc.call_one(
                pnode.name, "instance_os_add", [data, True, op.debug_level or 0]
            )
            rpc_payload(res, f"OS create script of {os_name}")
        finally:
            if inst.disks:
                await shutdown_disks(self, inst, feedback)
        return None
