"""OS procedures: ``os_diagnose``, ``os_validate``, ``instance_os_add``,
``instance_run_rename``.

Scripts come only from the node's OS search path; the master names an OS, never a
file.  Output goes to ``<os_log_dir>/<kind>-<os>-<instance>-<time>.log``; a failing
script's last lines come back as the error message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from twisted.logger import Logger

from ganeti import osdef
from ganeti.noded.blockdev import BlockdevBackend
from ganeti.noded.instargs import InstanceArgs, parse_instance
from ganeti.rpc.server import HandlerError

log = Logger()


def _debug(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int):
        raise HandlerError("debug must be an integer")
    return value


class OSBackend:
    def __init__(
        self,
        search_path: Sequence[Path],
        runner: osdef.OSScriptRunner,
        blockdev: BlockdevBackend,
        create_timeout: float = osdef.CREATE_TIMEOUT,
        rename_timeout: float = osdef.RENAME_TIMEOUT,
        verify_timeout: float = osdef.VERIFY_TIMEOUT,
    ) -> None:
        self.search_path = list(search_path)
        self.runner = runner
        self.blockdev = blockdev
        self.create_timeout = create_timeout
        self.rename_timeout = rename_timeout
        self.verify_timeout = verify_timeout

    def handlers(self) -> Mapping[str, Callable[..., Any]]:
        return {
            "os_diagnose": self.os_diagnose,
            "os_validate": self.os_validate,
            "instance_os_add": self.instance_os_add,
            "instance_run_rename": self.instance_run_rename,
        }

    def os_diagnose(self) -> list[list[Any]]:
        return osdef.diagnose(self.search_path)

    async def os_validate(
        self, required: Any, name: Any, checks: Any, params: Any, force_variant: Any
    ) -> bool:
        if not isinstance(name, str):
            raise HandlerError("OS name must be a string")
        if not isinstance(checks, list) or not isinstance(params, dict):
            raise HandlerError("checks must be a list and params a dict")
        try:
            definition = osdef.find_os(self.search_path, name)
        except osdef.OSDefinitionError:
            if required:
                raise
            return False
        _, variant = osdef.split_name(name)
        variant = definition.pick_variant(variant, bool(force_variant))
        if "parameters" in checks and definition.api_version >= 20:
            osdef.check_parameters(definition, params)
            env = osdef.core_environment(definition, variant, params, 0)
            log_file = self.runner.log_path("verify", definition.name, "validate")
            result = await self.runner.run(
                definition,
                osdef.SCRIPT_VERIFY,
                env,
                log_file,
                self.verify_timeout,
                args=["parameters"],
            )
            if not result.ok:
                raise osdef.OSDefinitionError(result.describe())
        return True

    async def _environment(
        self, args: InstanceArgs, debug: int
    ) -> tuple[osdef.OSDefinition, dict[str, str]]:
        inst = args.instance
        definition = osdef.find_os(self.search_path, inst.os)
        located = await self.blockdev.locate(args.disks)
        params: dict[str, Any] = dict(inst.osparams)
        params.update(inst.osparams_private)
        secret = args.raw.get("osparams_secret")
        if isinstance(secret, Mapping):
            params.update(secret)
        secondaries = args.raw.get("secondary_nodes") or []
        context = osdef.OSInstance(
            spec=args.spec(located),
            os=inst.os,
            osparams=params,
            primary_node=str(args.raw.get("primary_node_name") or inst.primary_node),
            secondary_nodes=tuple(str(s) for s in secondaries),
            ctime=inst.ctime,
            mtime=inst.mtime,
            netinfo=args.netinfo(),
        )
        return definition, osdef.instance_environment(definition, context, debug)

    async def instance_os_add(self, instance: Any, reinstall: Any, debug: Any) -> None:
        args = parse_instance(instance)
        definition, env = await self._environment(args, _debug(debug))
        if reinstall:
            env["INSTANCE_REINSTALL"] = "1"
        log_file = self.runner.log_path("add", definition.name, args.name)
        result = await self.runner.run(
            definition, osdef.SCRIPT_CREATE, env, log_file, self.create_timeout
        )
        if not result.ok:
            raise osdef.OSDefinitionError(result.describe())
        log.info("OS {os} installed on {name}", os=args.instance.os, name=args.name)

    async def instance_run_rename(self, instance: Any, old_name: Any, debug: Any) -> None:
        args = parse_instance(instance)
        if not isinstance(old_name, str) or not old_name:
            raise HandlerError("old_name must be a non-empty string")
        definition, env = await self._environment(args, _debug(debug))
        env["OLD_INSTANCE_NAME"] = old_name
        log_file = self.runner.log_path("rename", definition.name, args.name, old_name)
        result = await self.runner.run(
            definition, osdef.SCRIPT_RENAME, env, log_file, self.rename_timeout
        )
        if not result.ok:
            raise osdef.OSDefinitionError(result.describe())
