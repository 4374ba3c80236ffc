"""Block device storage: the :class:`IStorage` seam and its drivers.

``diskless``, ``file``, ``sharedfile``, ``plain`` (LVM) and ``drbd`` are implemented; other disk
templates (rbd, ext, gluster, blockdev) are refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence

from ganeti import constants as C
from ganeti import errors
from ganeti.paths import Paths
from ganeti.storage.command import CommandResult, CommandRunner, ProcessRunner
from ganeti.storage.drbd import DrbdStorage
from ganeti.storage.filestorage import DisklessStorage, FileStorage, allowed_path
from ganeti.storage.interface import Assembled, BlockDevice, DeviceStatus, IStorage
from ganeti.storage.lvm import NO_ACTIVATION, LvmStorage

__all__ = [
    "NO_ACTIVATION",
    "Assembled",
    "BlockDevice",
    "CommandResult",
    "CommandRunner",
    "DeviceStatus",
    "DisklessStorage",
    "DrbdStorage",
    "FileStorage",
    "IStorage",
    "LvmStorage",
    "ProcessRunner",
    "StorageRegistry",
    "allowed_path",
]


class StorageRegistry:
    """The storage drivers of one node, by ``dev_type``."""

    def __init__(
        self, paths: Paths, runner: CommandRunner, lvm_extra_args: Sequence[str] = ()
    ) -> None:
        self.paths = paths
        self.runner = runner
        self._drivers: dict[str, IStorage] = {
            C.DT_DISKLESS: DisklessStorage(),
            C.DT_FILE: FileStorage(paths, runner),
            C.DT_SHARED_FILE: FileStorage(paths, runner, shared=True),
            C.DT_PLAIN: LvmStorage(runner, lvm_extra_args),
        }
        self._drivers[C.DT_DRBD8] = DrbdStorage(runner, LvmStorage(runner, lvm_extra_args))

    def get(self, dev_type: str) -> IStorage:
        driver = self._drivers.get(dev_type)
        if driver is None:
            if dev_type in C.DISK_TEMPLATES:
                raise errors.BlockDeviceError(f"disk type {dev_type!r} is not supported here")
            raise errors.BlockDeviceError(f"unknown disk type {dev_type!r}")
        return driver

    def for_device(self, dev: BlockDevice) -> IStorage:
        return self.get(dev.dev_type)
