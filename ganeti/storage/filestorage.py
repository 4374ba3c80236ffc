"""``file`` and ``sharedfile`` disks: image files below an allowed storage directory.

``logical_id`` is ``[driver, path]`` with ``path`` the root-independent (wire) path of
the image, e.g. ``/srv/ganeti/file-storage/web1/<uuid>.file.disk0``.  Every path must be
below a directory listed in the node-local ``/etc/ganeti/file-storage-paths`` (under
the node's root), after resolving symbolic links; anything else is refused.  Images are
raw (sparse files) or qcow2 (``params["format"]``, made and grown with ``qemu-img``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from zope.interface import implementer

from ganeti import constants as C
from ganeti import errors
from ganeti.noded.backend import read_allowed_storage_paths
from ganeti.paths import Paths
from ganeti.storage.command import CommandRunner
from ganeti.storage.interface import Assembled, BlockDevice, DeviceStatus, IStorage

MIB = 1024 * 1024
FORMAT_RAW = "raw"
FORMAT_QCOW2 = "qcow2"
FORMATS = frozenset({FORMAT_RAW, FORMAT_QCOW2})
FILE_DRIVERS = frozenset({"loop", "blktap", "blktap2"})


def allowed_path(paths: Paths, virtual: Any, *, allow_dir_itself: bool = False) -> Path:
    """Map a wire path below the root and check it against the allowed directories.

    Raises FileStoragePathError when the path is malformed or outside every allowed
    directory (symbolic links are resolved before comparing).
    """
    if not isinstance(virtual, str) or not virtual:
        raise errors.FileStoragePathError("file storage path must be a non-empty string")
    try:
        path = paths.from_virtual(virtual.rstrip("/") or "/")
    except ValueError as exc:
        raise errors.FileStoragePathError(str(exc)) from None
    real = Path(os.path.realpath(path))
    for allowed in read_allowed_storage_paths(paths):
        base = Path(os.path.realpath(allowed))
        if base in real.parents or (allow_dir_itself and real == base):
            return path
    raise errors.FileStoragePathError(
        f"path {virtual} is not below an allowed file storage directory "
        f"(see {paths.virtual_path(paths.file_storage_paths)})"
    )


def create_storage_dir(paths: Paths, virtual: Any) -> None:
    path = allowed_path(paths, virtual)
    if path.exists() and not path.is_dir():
        raise errors.FileStoragePathError(f"{virtual} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True, mode=0o750)


def remove_storage_dir(paths: Paths, virtual: Any) -> None:
    """Remove an (empty) instance storage directory; a missing one is fine."""
    path = allowed_path(paths, virtual)
    if not path.exists():
        return
    if not path.is_dir():
        raise errors.FileStoragePathError(f"{virtual} is not a directory")
    try:
        path.rmdir()
    except OSError as exc:
        raise errors.FileStoragePathError(f"cannot remove {virtual}: {exc.strerror}") from None


def rename_storage_dir(paths: Paths, old: Any, new: Any) -> None:
    src = allowed_path(paths, old)
    dst = allowed_path(paths, new)
    if not src.is_dir():
        raise errors.FileStoragePathError(f"{old} is not a directory")
    if dst.exists():
        raise errors.FileStoragePathError(f"{new} already exists")
    os.rename(src, dst)


@implementer(IStorage)
class FileStorage:
    """Image files; ``shared`` only changes the name (the directory is shared by nodes)."""

    def __init__(self, paths: Paths, runner: CommandRunner, shared: bool = False) -> None:
        self.paths = paths
        self.runner = runner
        self.dev_type = C.DT_SHARED_FILE if shared else C.DT_FILE

    def _image(self, logical_id: Any) -> Path:
        lid = list(logical_id)
        if len(lid) != 2:
            raise errors.BlockDeviceError(f"file logical_id must be [driver, path], got {lid!r}")
        if lid[0] not in FILE_DRIVERS:
            raise errors.BlockDeviceError(f"unknown file driver {lid[0]!r}")
        return allowed_path(self.paths, lid[1])

    @staticmethod
    def _format(dev: BlockDevice) -> str:
        fmt = str(dev.params.get("format") or FORMAT_RAW)
        if fmt not in FORMATS:
            raise errors.BlockDeviceError(f"unsupported image format {fmt!r}")
        return fmt

    def _assembled(self, dev: BlockDevice, path: Path) -> Assembled:
        return Assembled(str(path), None, kind="file", format=self._format(dev))

    async def create(self, dev: BlockDevice, size: int, exclusive_storage: bool) -> Assembled:
        path = self._image(dev.logical_id)
        fmt = self._format(dev)
        if size <= 0:
            raise errors.BlockDeviceError(f"invalid size {size} MiB")
        if path.exists():
            raise errors.BlockDeviceError(f"{dev.logical_id[1]} already exists")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        if fmt == FORMAT_QCOW2:
            (
                await self.runner(
                    ["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size}M"]
                )
            ).check()
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.ftruncate(fd, size * MIB)
            except OSError:
                os.close(fd)
                path.unlink(missing_ok=True)
                raise
            os.close(fd)
        return self._assembled(dev, path)

    async def remove(self, dev: BlockDevice) -> None:
        path = self._image(dev.logical_id)
        if path.is_dir():
            raise errors.BlockDeviceError(f"{dev.logical_id[1]} is a directory")
        path.unlink(missing_ok=True)

    async def assemble(self, dev: BlockDevice) -> Assembled:
        path = self._image(dev.logical_id)
        if not path.is_file():
            raise errors.BlockDeviceError(f"image {dev.logical_id[1]} does not exist")
        return self._assembled(dev, path)

    async def shutdown(self, dev: BlockDevice) -> None:
        self._image(dev.logical_id)

    async def find(self, dev: BlockDevice) -> DeviceStatus | None:
        path = self._image(dev.logical_id)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return DeviceStatus(str(path), size=st.st_size // MIB)

    async def grow(self, dev: BlockDevice, amount: int, dryrun: bool, backingstore: bool) -> None:
        path = self._image(dev.logical_id)
        if amount < 0:
            raise errors.BlockDeviceError("cannot shrink a disk")
        if not path.is_file():
            raise errors.BlockDeviceError(f"image {dev.logical_id[1]} does not exist")
        free = shutil.disk_usage(path.parent).free // MIB
        if amount > free:
            raise errors.BlockDeviceError(
                f"not enough space to grow {dev.logical_id[1]} by {amount} MiB ({free} MiB free)"
            )
        if dryrun or amount == 0:
            return
        if self._format(dev) == FORMAT_QCOW2:
            (await self.runner(["qemu-img", "resize", "-q", str(path), f"+{amount}M"])).check()
        else:
            current = path.stat().st_size
            os.truncate(path, current + amount * MIB)

    async def rename(self, dev: BlockDevice, new_logical_id: list[Any]) -> None:
        old = self._image(dev.logical_id)
        new = self._image(new_logical_id)
        if not old.is_file():
            raise errors.BlockDeviceError(f"image {dev.logical_id[1]} does not exist")
        if new.exists():
            raise errors.BlockDeviceError(f"{new_logical_id[1]} already exists")
        new.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        os.rename(old, new)

    async def wipe(self, dev: BlockDevice, offset: int, size: int) -> None:
        path = self._image(dev.logical_id)
        await dd_zero(self.runner, str(path), offset, size)


async def dd_zero(runner: CommandRunner, target: str, offset: int, size: int) -> None:
    if offset < 0 or size < 0:
        raise errors.BlockDeviceError("wipe offset and size must not be negative")
    argv = [
        "dd",
        "if=/dev/zero",
        f"of={target}",
        "bs=1M",
        f"seek={offset}",
        f"count={size}",
        "conv=notrunc",
        "oflag=direct",
    ]
    (await runner(argv)).check()


@implementer(IStorage)
class DisklessStorage:
    """``diskless`` instances have no disks; every operation is a no-op."""

    dev_type = C.DT_DISKLESS

    async def create(self, dev: BlockDevice, size: int, exclusive_storage: bool) -> Assembled:
        return Assembled("")

    async def remove(self, dev: BlockDevice) -> None:
        return None

    async def assemble(self, dev: BlockDevice) -> Assembled:
        return Assembled("")

    async def shutdown(self, dev: BlockDevice) -> None:
        return None

    async def find(self, dev: BlockDevice) -> DeviceStatus | None:
        return DeviceStatus("")

    async def grow(self, dev: BlockDevice, amount: int, dryrun: bool, backingstore: bool) -> None:
        return None

    async def rename(self, dev: BlockDevice, new_logical_id: list[Any]) -> None:
        return None

    async def wipe(self, dev: BlockDevice, offset: int, size: int) -> None:
        return None
