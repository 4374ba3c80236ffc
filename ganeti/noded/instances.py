"""Instance and hypervisor procedures on a node, and the wiring of all instance-related
handlers (instances, block devices, OS) into the node daemon.

Instances arrive as ``INST_DICT`` (see :mod:`ganeti.noded.instargs`); their disks must
have been assembled (``blockdev_assemble``) before ``instance_start``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet import threads
from twisted.logger import Logger

from ganeti import constants as C
from ganeti import errors, osdef
from ganeti.hypervisor import HypervisorRegistry, IHypervisor, InstanceSpec
from ganeti.hypervisor.interface import DISK_LOCAL, REBOOT_HARD, REBOOT_SOFT, RunInThread
from ganeti.noded.blockdev import BlockdevBackend
from ganeti.noded.instargs import InstanceArgs, disk_storage, instance_name, parse_instance
from ganeti.noded.osproc import OSBackend
from ganeti.paths import Paths
from ganeti.rpc.server import HandlerError
from ganeti.storage import NO_ACTIVATION, ProcessRunner, StorageRegistry
from ganeti.storage.command import CommandRunner
from ganeti.storage.lvm import vg_info

log = Logger()

DEFAULT_SHUTDOWN_TIMEOUT = 120.0
# Node-local switch for hosts without device-mapper (LVM metadata only).
LVM_NO_ACTIVATION_ENV = "GANETI_LVM_NO_ACTIVATION"
STORAGE_LVM_VG = "lvm-vg"

Handler = Callable[..., Any]


def _timeout(value: Any, what: str) -> float:
    if value is None:
        return DEFAULT_SHUTDOWN_TIMEOUT
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise HandlerError(f"{what} must be a non-negative number of seconds")
    return float(value)


def _hv_name(value: Any) -> str:
    if not isinstance(value, str) or value not in C.HYPER_TYPES:
        raise HandlerError(f"unknown hypervisor {value!r}")
    return value


class InstanceBackend:
    def __init__(
        self,
        hypervisors: HypervisorRegistry,
        blockdev: BlockdevBackend,
        runner: CommandRunner | None = None,
        base_node_info: Handler | None = None,
        lvm_extra_args: tuple[str, ...] = (),
    ) -> None:
        self.hypervisors = hypervisors
        self.blockdev = blockdev
        self.runner = runner
        self._base_node_info = base_node_info
        self.lvm_extra_args = lvm_extra_args

    def handlers(self) -> Mapping[str, Handler]:
        out: dict[str, Handler] = {
            "instance_start": self.instance_start,
            "instance_shutdown": self.instance_shutdown,
            "instance_reboot": self.instance_reboot,
            "instance_info": self.instance_info,
            "all_instances_info": self.all_instances_info,
            "instance_list": self.instance_list,
            "instance_console_info": self.instance_console_info,
            "instance_balloon_memory": self.instance_balloon_memory,
            "hypervisor_validate_params": self.hypervisor_validate_params,
            "migration_info": self.migration_info,
            "accept_instance": self.accept_instance,
            "instance_migrate": self.instance_migrate,
            "instance_finalize_migration_src": self.instance_finalize_migration_src,
            "instance_finalize_migration_dst": self.instance_finalize_migration_dst,
            "instance_get_migration_status": self.instance_get_migration_status,
        }
        if self._base_node_info is not None:
            out["node_info"] = self.node_info
        return out

    def _hv(self, name: str) -> IHypervisor:
        try:
            return self.hypervisors.get(name)
        except errors.HypervisorError as exc:
            raise HandlerError(str(exc)) from None

    async def _spec(self, args: InstanceArgs, with_disks: bool = True) -> InstanceSpec:
        located = await self.blockdev.locate(args.disks) if with_disks else []
        return args.spec(located)

    # --- lifecycle --------------------------------------------------------------------

    async def instance_start(self, instance: Any, startup_paused: Any, reason: Any) -> None:
        args = parse_instance(instance)
        hv = self._hv(args.instance.hypervisor)
        hv.validate_params(args.instance.hvparams)
        spec = await self._spec(args)
        await hv.start(spec, bool(startup_paused))

    async def instance_shutdown(self, instance: Any, timeout: Any, reason: Any) -> None:
        args = parse_instance(instance)
        hv = self._hv(args.instance.hypervisor)
        await hv.stop(args.spec(), _timeout(timeout, "timeout"), False)
        if await hv.instance_info(args.name, args.instance.hvparams) is not None:
            raise errors.HypervisorError(f"instance {args.name} is still running")

    async def instance_reboot(
        self, instance: Any, reboot_type: Any, shutdown_timeout: Any, reason: Any
    ) -> None:
        args = parse_instance(instance)
        if reboot_type not in (REBOOT_SOFT, REBOOT_HARD):
            raise HandlerError(
                f"reboot type {reboot_type!r} is not done on the node (soft or hard only)"
            )
        hv = self._hv(args.instance.hypervisor)
        if await hv.instance_info(args.name, args.instance.hvparams) is None:
            raise errors.HypervisorError(f"instance {args.name} is not running")
        spec = await self._spec(args, with_disks=reboot_type == REBOOT_HARD)
        await hv.reboot(spec, reboot_type, _timeout(shutdown_timeout, "shutdown_timeout"))

    async def instance_balloon_memory(self, instance: Any, memory: Any) -> None:
        args = parse_instance(instance)
        if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0:
            raise HandlerError("memory must be a positive number of MiB")
        await self._hv(args.instance.hypervisor).balloon_memory(args.spec(), memory)

    # --- queries ----------------------------------------------------------------------

    async def instance_info(self, instance: Any, hname: Any, hvparams: Any) -> dict[str, Any]:
        name = instance_name(instance)
        hv = self._hv(_hv_name(hname))
        info = await hv.instance_info(name, dict(hvparams or {}))
        return {} if info is None else info.to_dict()

    def _per_hv(
        self, hypervisor_list: Any, all_hvparams: Any
    ) -> list[tuple[IHypervisor, dict[str, Any]]]:
        if not isinstance(hypervisor_list, list):
            raise HandlerError("hypervisor_list must be a list")
        hvps = all_hvparams or {}
        if not isinstance(hvps, dict):
            raise HandlerError("all_hvparams must be a dict {hypervisor: hvparams}")
        return [(self._hv(_hv_name(h)), dict(hvps.get(h) or {})) for h in hypervisor_list]

    async def all_instances_info(self, hypervisor_list: Any, all_hvparams: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for hv, hvparams in self._per_hv(hypervisor_list, all_hvparams):
            for info in await hv.all_instances_info(hvparams):
                if info.name in out:
                    raise errors.HypervisorError(
                        f"instance {info.name} is running under more than one hypervisor"
                    )
                out[info.name] = info.to_dict()
        return out

    async def instance_list(self, hypervisor_list: Any, all_hvparams: Any) -> list[str]:
        names: list[str] = []
        for hv, hvparams in self._per_hv(hypervisor_list, all_hvparams):
            names.extend(await hv.list_instances(hvparams))
        return sorted(names)

    def instance_console_info(self, instance_info: Any) -> dict[str, Any]:
        if not isinstance(instance_info, dict):
            raise HandlerError("instance_info must be a dict {name: {instance, node_name}}")
        out = {}
        for name, value in instance_info.items():
            node_name = ""
            if isinstance(value, list) and value:
                inst = value[0]
                node = value[1] if len(value) > 1 else None
                node_name = str(node.get("name", "")) if isinstance(node, dict) else ""
            elif isinstance(value, dict) and "instance" in value:
                inst = value["instance"]
                node_name = str(value.get("node_name") or "")
            else:
                raise HandlerError(f"bad console request for {name!r}")
            args = parse_instance(inst)
            out[name] = self._hv(args.instance.hypervisor).console_info(args.spec(), node_name)
        return out

    def hypervisor_validate_params(self, hvname: Any, hvparams: Any) -> None:
        if not isinstance(hvparams, dict):
            raise HandlerError("hvparams must be a dict")
        self._hv(_hv_name(hvname)).validate_params(hvparams)

    async def node_info(self, storage_units: Any, hv_specs: Any) -> list[Any]:
        """NodeBackend's node_info plus LVM volume groups and per-hypervisor figures."""
        assert self._base_node_info is not None
        if not isinstance(storage_units, list) or not isinstance(hv_specs, list):
            raise HandlerError("storage_units and hv_specs must be lists")
        lvm = [u for u in storage_units if isinstance(u, list) and u and u[0] == STORAGE_LVM_VG]
        rest = [u for u in storage_units if u not in lvm]
        base = await _maybe_await(self._base_node_info(rest, hv_specs))
        boot_id, base_storage, _ = base
        storage: list[Any] = []
        it = iter(base_storage)
        for unit in storage_units:
            if unit in lvm:
                if self.runner is None:
                    raise HandlerError("LVM is not available on this node")
                if len(unit) != 3 or not isinstance(unit[1], str):
                    raise HandlerError(f"bad storage unit {unit!r}")
                info = await vg_info(self.runner, unit[1], self.lvm_extra_args)
                storage.append({"type": STORAGE_LVM_VG, "name": unit[1], **info})
            else:
                storage.append(next(it))
        hvs = []
        for spec in hv_specs:
            hv = self._hv(_hv_name(spec[0]))
            hvs.append(await hv.node_info(dict(spec[1] or {})))
        return [boot_id, storage, hvs]

    # --- migration (mobility issue) ---------------------------------------------------

    async def migration_info(self, instance: Any) -> str:
        args = parse_instance(instance)
        # Node-local disks travel with a storage-copy migration: the hypervisor needs
        # their paths (the fake one hands their contents over with its state).
        local = any(disk_storage(d.dev_type) == DISK_LOCAL for d in args.disks)
        spec = await self._spec(args) if local else args.spec()
        return await self._hv(args.instance.hypervisor).migration_info(spec)

    async def accept_instance(self, instance: Any, info: Any, target: Any) -> None:
        args = parse_instance(instance)
        spec = await self._spec(args)
        await self._hv(args.instance.hypervisor).accept_instance(spec, str(info or ""), str(target))

    async def instance_migrate(
        self, cluster_name: Any, instance: Any, target: Any, live: Any
    ) -> None:
        args = parse_instance(instance)
        if not isinstance(target, str) or not target:
            raise HandlerError("target must be a node address")
        hv = self._hv(args.instance.hypervisor)
        # With the disks' paths and storage kinds: the hypervisor decides from them which
        # disks it must copy (node-local ones) and which the target opens itself.
        spec = await self._spec(args)
        await hv.migrate(str(cluster_name), spec, target, bool(live))

    async def instance_finalize_migration_src(self, instance: Any, success: Any, live: Any) -> None:
        args = parse_instance(instance)
        hv = self._hv(args.instance.hypervisor)
        await hv.finalize_migration_src(args.spec(), bool(success), bool(live))

    async def instance_finalize_migration_dst(self, instance: Any, info: Any, success: Any) -> None:
        args = parse_instance(instance)
        hv = self._hv(args.instance.hypervisor)
        await hv.finalize_migration_dst(args.spec(), str(info or ""), bool(success))

    async def instance_get_migration_status(self, instance: Any) -> dict[str, Any]:
        args = parse_instance(instance)
        return await self._hv(args.instance.hypervisor).migration_status(args.spec())


def _in_reactor_pool(reactor: Any, f: Callable[..., Any], *args: Any) -> Any:
    """Run ``f`` in the reactor's thread pool (looked up at call time)."""
    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


def build_handlers(
    paths: Paths,
    reactor: Any,
    base: Mapping[str, Handler],
    run_in_thread: RunInThread | None = None,
    command_runner: CommandRunner | None = None,
) -> dict[str, Handler]:
    """``base`` (NodeBackend's handlers) merged with the instance, block device and OS
    procedures of this node; ``reactor`` provides processes, time and the thread pool."""
    if run_in_thread is None:
        run_in_thread = functools.partial(_in_reactor_pool, reactor)
    runner: CommandRunner = command_runner or ProcessRunner(reactor)
    lvm_args = NO_ACTIVATION if os.environ.get(LVM_NO_ACTIVATION_ENV) == "1" else ()
    storage = StorageRegistry(paths, runner, lvm_args)
    blockdev = BlockdevBackend(paths, storage)
    hypervisors = HypervisorRegistry(
        paths.run_dir,
        reactor,
        run_in_thread,
        ifup_script=str(paths.conf_dir / "kvm-ifup-routed"),
    )
    instances = InstanceBackend(
        hypervisors, blockdev, runner, base.get("node_info"), lvm_extra_args=lvm_args
    )
    os_backend = OSBackend(
        paths.os_search_path, osdef.OSScriptRunner(reactor, paths.os_log_dir), blockdev
    )
    from ganeti.noded.exports import ExportsBackend
    from ganeti.noded.impexp import TransferManager

    transfers = TransferManager(paths, reactor, run_in_thread, blockdev, os_backend)
    merged = dict(base)
    merged.update(blockdev.handlers())
    merged.update(os_backend.handlers())
    merged.update(instances.handlers())
    merged.update(transfers.handlers())
    merged.update(ExportsBackend(paths, reactor).handlers())
    return merged
