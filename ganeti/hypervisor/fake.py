"""The fake hypervisor: instances are state files, nothing runs.

Each "running" instance is a JSON file ``<state_dir>/<name>`` written atomically, so the
state survives node daemon restarts (and, with the run dir on tmpfs, not node reboots,
like real VMs).  Migration moves the state: the source hands the file's content to the
master (``migration_info``), the target writes it as "migrating" and makes it running on
success, the source removes its copy.  In a storage-copy migration (node-local ``file``
disks) the state also carries the disks' data (non-zero blocks, compressed), which the
target writes into its pre-created disk files.

Test hook: if ``<run dir>/fake-hv-migration-seconds`` holds a number, a migration started
on this node reports ``active`` (with a growing ``transferred_ram``) for that many
seconds before it completes, like a slow memory transfer.  Without the file a migration
completes at once.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from ganeti import constants as C
from ganeti import errors
from ganeti.fileutils import write_file_atomic
from ganeti.hypervisor import params
from ganeti.hypervisor.interface import (
    DISK_LOCAL,
    MIGRATION_ACTIVE,
    MIGRATION_COMPLETED,
    MIGRATION_NONE,
    REBOOT_HARD,
    REBOOT_SOFT,
    STATE_MIGRATING,
    STATE_PAUSED,
    STATE_RUNNING,
    IHypervisor,
    InstanceInfo,
    InstanceSpec,
)

log = Logger()

_FORBIDDEN = frozenset({"", ".", ".."})
# In the node's run directory: the test hook making migrations take time.
MIGRATION_SECONDS_FILE = "fake-hv-migration-seconds"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name in _FORBIDDEN or "/" in name or "\0" in name:
        raise errors.HypervisorError(f"invalid instance name {name!r}")
    return name


@implementer(IHypervisor)
class FakeHypervisor:
    name = C.HT_FAKE

    def __init__(
        self,
        state_dir: Path,
        clock: IReactorTime,
        host_info: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.clock = clock
        self._host_info = host_info

    # --- state files ------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.state_dir / _check_name(name)

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(name).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise errors.HypervisorError(f"corrupt fake state for {name}: {exc}") from None
        if not isinstance(data, dict):
            raise errors.HypervisorError(f"corrupt fake state for {name}")
        return data

    def _write(self, name: str, data: Mapping[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_file_atomic(self._path(name), json.dumps(dict(data)).encode(), mode=0o600)

    def _remove(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def _names(self) -> list[str]:
        try:
            entries = sorted(os.listdir(self.state_dir))
        except FileNotFoundError:
            return []
        return [e for e in entries if not e.startswith(".")]

    def _info(self, data: Mapping[str, Any]) -> InstanceInfo:
        return InstanceInfo(
            name=str(data["name"]),
            state=str(data.get("state", STATE_RUNNING)),
            memory=int(data.get("memory", 0)),
            vcpus=int(data.get("vcpus", 1)),
            time=max(0.0, self.clock.seconds() - float(data.get("started", 0.0))),
        )

    def _state(self, instance: InstanceSpec, state: str) -> dict[str, Any]:
        return {
            "name": instance.name,
            "uuid": instance.uuid,
            "memory": instance.memory,
            "vcpus": instance.vcpus,
            "state": state,
            "started": self.clock.seconds(),
        }

    # --- IHypervisor ------------------------------------------------------------------

    def validate_params(self, hvparams: Mapping[str, Any]) -> None:
        params.validate(self.name, hvparams)

    async def start(self, instance: InstanceSpec, paused: bool) -> None:
        current = self._read(instance.name)
        if current is not None and current.get("state") != STATE_MIGRATING:
            raise errors.HypervisorError(f"instance {instance.name} is already running")
        self._write(instance.name, self._state(instance, STATE_PAUSED if paused else STATE_RUNNING))
        log.info("fake: started {name}", name=instance.name)

    async def stop(self, instance: InstanceSpec, timeout: float, force: bool) -> None:
        self._remove(instance.name)
        log.info("fake: stopped {name}", name=instance.name)

    async def reboot(
        self, instance: InstanceSpec, reboot_type: str, shutdown_timeout: float
    ) -> None:
        if reboot_type not in (REBOOT_SOFT, REBOOT_HARD):
            raise errors.HypervisorError(f"unknown reboot type {reboot_type!r}")
        current = self._read(instance.name)
        if current is None:
            raise errors.HypervisorError(f"instance {instance.name} is not running")
        self._write(instance.name, self._state(instance, STATE_RUNNING))

    async def list_instances(self, hvparams: Mapping[str, Any]) -> list[str]:
        return [i.name for i in await self.all_instances_info(hvparams)]

    async def instance_info(self, name: str, hvparams: Mapping[str, Any]) -> InstanceInfo | None:
        data = self._read(name)
        return None if data is None else self._info(data)

    async def all_instances_info(self, hvparams: Mapping[str, Any]) -> list[InstanceInfo]:
        out = []
        for name in self._names():
            data = self._read(name)
            if data is not None:
                out.append(self._info(data))
        return out

    async def node_info(self, hvparams: Mapping[str, Any]) -> dict[str, Any]:
        from ganeti.noded import hostinfo

        info = self._host_info() if self._host_info else hostinfo.memory_and_cpu()
        used = sum(i.memory for i in await self.all_instances_info(hvparams))
        info = dict(info)
        info["memory_free"] = max(0, int(info.get("memory_free", 0)) - used)
        info["memory_hv"] = used
        info["hv_version"] = [0, 0]
        return info

    def console_info(self, instance: InstanceSpec, node_name: str) -> dict[str, Any]:
        return {
            "instance": instance.name,
            "kind": "message",
            "message": "The fake hypervisor has no console.",
        }

    async def balloon_memory(self, instance: InstanceSpec, memory: int) -> None:
        data = self._read(instance.name)
        if data is None:
            raise errors.HypervisorError(f"instance {instance.name} is not running")
        data["memory"] = int(memory)
        self._write(instance.name, data)

    # --- migration: the state file moves ----------------------------------------------

    async def migration_info(self, instance: InstanceSpec) -> str:
        data = self._read(instance.name)
        if data is None:
            raise errors.HypervisorError(f"instance {instance.name} is not running")
        local = [d for d in instance.disks if d.storage == DISK_LOCAL]
        if local:
            # A storage-copy migration: the disk files' data go with the state.
            data["disks"] = [read_extents(Path(d.path)) for d in local]
        return json.dumps(data)

    async def accept_instance(self, instance: InstanceSpec, info: str, target: str) -> None:
        if self._read(instance.name) is not None:
            raise errors.HypervisorError(f"instance {instance.name} already exists on the target")
        try:
            data = json.loads(info) if info else self._state(instance, STATE_RUNNING)
        except ValueError:
            raise errors.HypervisorError("bad migration info") from None
        copies = data.pop("disks", None) or []
        local = [d for d in instance.disks if d.storage == DISK_LOCAL]
        if len(copies) != len(local):
            raise errors.HypervisorError(
                f"the migration carries {len(copies)} disk copies, the instance has "
                f"{len(local)} local disks here"
            )
        for disk, extents in zip(local, copies, strict=True):
            write_extents(Path(disk.path), extents)
        data["state"] = STATE_MIGRATING
        self._write(instance.name, data)

    async def migrate(
        self, cluster_name: str, instance: InstanceSpec, target: str, live: bool
    ) -> None:
        data = self._read(instance.name)
        if data is None:
            raise errors.HypervisorError(f"instance {instance.name} is not running")
        data["migrated_to"] = target
        data["migration_started"] = self.clock.seconds()
        self._write(instance.name, data)

    def _migration_seconds(self) -> float:
        """The test hook's transfer time (0: none); see the module docstring."""
        try:
            text = (self.state_dir.parent / MIGRATION_SECONDS_FILE).read_text()
        except OSError:
            return 0.0
        try:
            return max(0.0, float(text.strip()))
        except ValueError:
            return 0.0

    async def finalize_migration_dst(
        self, instance: InstanceSpec, info: str, success: bool
    ) -> None:
        data = self._read(instance.name)
        if not success:
            if data is not None and data.get("state") == STATE_MIGRATING:
                self._remove(instance.name)
            return
        if data is None:
            raise errors.HypervisorError(f"instance {instance.name} was not accepted here")
        data["state"] = STATE_RUNNING
        self._write(instance.name, data)

    async def finalize_migration_src(
        self, instance: InstanceSpec, success: bool, live: bool
    ) -> None:
        if success:
            self._remove(instance.name)
            return
        data = self._read(instance.name)
        if data is not None:
            data.pop("migrated_to", None)
            data.pop("migration_started", None)
            self._write(instance.name, data)

    async def migration_status(self, instance: InstanceSpec) -> dict[str, Any]:
        data = self._read(instance.name)
        if data is not None and "migrated_to" in data:
            duration = self._migration_seconds()
            elapsed = self.clock.seconds() - float(data.get("migration_started") or 0)
            if duration and elapsed < duration:
                total = int(data.get("memory") or 0)
                return {
                    "status": MIGRATION_ACTIVE,
                    "transferred_ram": int(total * elapsed / duration),
                    "total_ram": total,
                }
            return {"status": MIGRATION_COMPLETED}
        return {"status": MIGRATION_NONE}


# At most this much disk data (after leaving out holes and zero blocks) travels in a
# storage-copy migration's info: the fake hypervisor is for tests and small disks.
MAX_COPY_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


def read_extents(path: Path) -> list[list[Any]]:
    """The non-zero 1 MiB blocks of a disk file as ``[offset, base64(zlib(data))]``,
    holes skipped; the last entry is ``[size, ""]`` (the file's length)."""
    out: list[list[Any]] = []
    total = 0
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                offset = os.lseek(f.fileno(), offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            try:
                end = os.lseek(f.fileno(), offset, os.SEEK_HOLE)
            except OSError:
                end = size
            f.seek(offset)
            while offset < end:
                block = f.read(min(_CHUNK, end - offset))
                if not block:
                    break
                if block.count(0) != len(block):
                    total += len(block)
                    if total > MAX_COPY_BYTES:
                        raise errors.HypervisorError(
                            f"{path}: more than {MAX_COPY_BYTES // _CHUNK} MiB of data to "
                            "copy; the fake hypervisor copies only small disks"
                        )
                    packed = base64.b64encode(zlib.compress(block, 1)).decode()
                    out.append([offset, packed])
                offset += len(block)
    out.append([size, ""])
    return out


def write_extents(path: Path, extents: list[list[Any]]) -> None:
    """Write what :func:`read_extents` read into the (pre-created) file at ``path``."""
    try:
        with open(path, "r+b") as f:
            for offset, packed in extents:
                if packed:
                    f.seek(int(offset))
                    f.write(zlib.decompress(base64.b64decode(packed)))
                else:
                    f.truncate(int(offset))
            f.flush()
            os.fsync(f.fileno())
    except (OSError, ValueError, TypeError, zlib.error) as exc:
        raise errors.HypervisorError(f"cannot write the disk copy to {path}: {exc}") from None
