"""Block device procedures (``blockdev_*``, ``file_storage_dir_*``) on a node.

Disks arrive as disk dicts (``Disk.to_dict()`` with filled ``params``); the storage
registry picks the driver by ``dev_type``.  Assembling a disk also links it as
``<run_dir>/instance-disks/<instance>:<idx>``, Ganeti's stable per-instance name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from twisted.logger import Logger

from ganeti import constants as C
from ganeti import errors
from ganeti.noded.instargs import instance_name, parse_disk
from ganeti.paths import Paths
from ganeti.rpc.server import HandlerError
from ganeti.storage import StorageRegistry
from ganeti.storage import filestorage as fs
from ganeti.storage.drbd import DrbdStorage
from ganeti.storage.interface import Assembled, BlockDevice
from ganeti.storage.lvm import LvmStorage, list_volumes

log = Logger()


def _int(value: Any, what: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise HandlerError(f"{what} must be an integer >= {minimum}")
    return value


class BlockdevBackend:
    def __init__(self, paths: Paths, storage: StorageRegistry) -> None:
        self.paths = paths
        self.storage = storage

    def handlers(self) -> Mapping[str, Callable[..., Any]]:
        return {
            "blockdev_create": self.blockdev_create,
            "blockdev_remove": self.blockdev_remove,
            "blockdev_assemble": self.blockdev_assemble,
            "blockdev_shutdown": self.blockdev_shutdown,
            "blockdev_find": self.blockdev_find,
            "blockdev_getmirrorstatus": self.blockdev_getmirrorstatus,
            "blockdev_grow": self.blockdev_grow,
            "blockdev_rename": self.blockdev_rename,
            "blockdev_wipe": self.blockdev_wipe,
            "drbd_disconnect_net": self.drbd_disconnect_net,
            "drbd_attach_net": self.drbd_attach_net,
            "drbd_wait_sync": self.drbd_wait_sync,
            "drbd_needs_activation": self.drbd_needs_activation,
            "lv_list": self.lv_list,
            "blockdev_addchildren": self.blockdev_addchildren,
            "blockdev_removechildren": self.blockdev_removechildren,
            "blockdev_close": self.blockdev_close,
            "file_storage_dir_create": self.file_storage_dir_create,
            "file_storage_dir_remove": self.file_storage_dir_remove,
            "file_storage_dir_rename": self.file_storage_dir_rename,
        }

    @property
    def disk_links_dir(self) -> Path:
        return self.paths.run_dir / "instance-disks"

    def disk_link(self, instance: str, idx: int) -> Path:
        return self.disk_links_dir / f"{instance}:{idx}"

    # --- helpers used by the instance and OS procedures ----------------------------------

    async def locate(self, devs: Sequence[BlockDevice]) -> list[Assembled]:
        """Where each (already assembled) disk is; fails for a missing one."""
        out = []
        for idx, dev in enumerate(devs):
            driver = self.storage.for_device(dev)
            status = await driver.find(dev)
            if status is None:
                raise errors.BlockDeviceError(f"disk/{idx} ({dev.describe()}) not found")
            out.append(await driver.assemble(dev))
        return out

    # --- procedures ---------------------------------------------------------------------

    async def blockdev_create(
        self,
        bdev: Any,
        size: Any,
        owner: Any,
        on_primary: Any,
        info: Any,
        exclusive_storage: Any,
    ) -> str:
        dev = parse_disk(bdev)
        size = _int(size, "size", 1)
        driver = self.storage.for_device(dev)
        # A DRBD driver builds its own children (data and meta LV) first.
        if dev.children and not isinstance(driver, DrbdStorage):
            raise errors.BlockDeviceError(f"{dev.dev_type} disks with children are not supported")
        made = await driver.create(dev, size, bool(exclusive_storage))
        if on_primary and isinstance(driver, DrbdStorage):
            # A new mirror: both sides start Inconsistent; the primary's data is declared
            # the good copy, which starts the initial sync towards the secondary.
            await driver.set_primary(dev, force=True)
        log.info(
            "created {disk} ({size} MiB) for {owner}", disk=dev.describe(), size=size, owner=owner
        )
        return made.dev_path

    async def blockdev_remove(self, bdev: Any) -> None:
        dev = parse_disk(bdev)
        await self.storage.for_device(dev).remove(dev)

    async def blockdev_assemble(
        self, disk: Any, instance: Any, on_primary: Any, idx: Any
    ) -> list[Any]:
        dev = parse_disk(disk)
        name = instance_name(instance)
        index = _int(idx, "idx")
        driver = self.storage.for_device(dev)
        where = await driver.assemble(dev)
        if on_primary and isinstance(driver, DrbdStorage):
            await driver.set_primary(dev)
        link = ""
        if where.dev_path:
            link_path = self.disk_link(name, index)
            self.disk_links_dir.mkdir(parents=True, exist_ok=True)
            tmp = link_path.with_name(link_path.name + ".new")
            tmp.unlink(missing_ok=True)
            os.symlink(where.dev_path, tmp)
            os.replace(tmp, link_path)
            link = str(link_path)
        return [where.dev_path, link, where.uri]

    async def blockdev_shutdown(self, disk: Any) -> None:
        dev = parse_disk(disk)
        await self.storage.for_device(dev).shutdown(dev)

    async def blockdev_find(self, disk: Any) -> dict[str, Any] | None:
        dev = parse_disk(disk)
        status = await self.storage.for_device(dev).find(dev)
        return None if status is None else status.to_dict()

    async def blockdev_getmirrorstatus(self, disks: Any) -> list[dict[str, Any]]:
        if not isinstance(disks, list):
            raise HandlerError("disks must be a list of disk dicts")
        out = []
        for item in disks:
            dev = parse_disk(item)
            status = await self.storage.for_device(dev).find(dev)
            if status is None:
                raise errors.BlockDeviceError(f"{dev.describe()} not found")
            out.append(status.to_dict())
        return out

    async def blockdev_grow(
        self, cf_bdev: Any, amount: Any, dryrun: Any, backingstore: Any, es_flag: Any
    ) -> None:
        dev = parse_disk(cf_bdev)
        grow_by = _int(amount, "amount")
        await self.storage.for_device(dev).grow(dev, grow_by, bool(dryrun), bool(backingstore))

    async def blockdev_rename(self, devlist: Any) -> None:
        if not isinstance(devlist, list):
            raise HandlerError("devlist must be a list of [disk, new_logical_id] pairs")
        pairs = []
        for item in devlist:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], list)):
                raise HandlerError(f"bad rename entry {item!r}")
            pairs.append((parse_disk(item[0]), item[1]))
        for dev, new_id in pairs:
            await self.storage.for_device(dev).rename(dev, new_id)

    async def blockdev_wipe(self, bdev: Any, offset: Any, size: Any) -> None:
        dev = parse_disk(bdev)
        start = _int(offset, "offset")
        count = _int(size, "size")
        if start + count > dev.size:
            raise HandlerError(f"wipe of {count} MiB at {start} MiB exceeds the disk size")
        await self.storage.for_device(dev).wipe(dev, start, count)

    # --- DRBD network state ------------------------------------------------------------------

    def _drbd_disks(self, disks: Any) -> list[tuple[DrbdStorage, BlockDevice]]:
        if not isinstance(disks, list):
            raise HandlerError("disks must be a list of disk dicts")
        out = []
        for item in disks:
            dev = parse_disk(item)
            driver = self.storage.for_device(dev)
            if not isinstance(driver, DrbdStorage):
                raise HandlerError(f"{dev.describe()} is not a drbd disk")
            out.append((driver, dev))
        return out

    async def drbd_disconnect_net(self, disks: Any) -> None:
        for driver, dev in self._drbd_disks(disks):
            await driver.disconnect_net(dev)

    async def drbd_attach_net(self, disks: Any, multimaster: Any) -> None:
        for driver, dev in self._drbd_disks(disks):
            await driver.attach_net(dev, bool(multimaster))

    async def drbd_wait_sync(self, disks: Any) -> list[Any]:
        """One look (the master polls): ``[all_done, lowest sync percent]``."""
        all_done = True
        lowest = 100.0
        for driver, dev in self._drbd_disks(disks):
            status = await driver.find(dev)
            if status is None:
                raise errors.BlockDeviceError(f"{dev.describe()} is not active")
            if status.sync_percent is not None:
                all_done = False
                lowest = min(lowest, status.sync_percent)
        return [all_done, lowest]

    def _drbd_children(self, bdev: Any, ndevs: Any) -> tuple[DrbdStorage, BlockDevice, list[Any]]:
        [(driver, dev)] = self._drbd_disks([bdev])
        if not isinstance(ndevs, list):
            raise HandlerError("ndevs must be a list of disk dicts")
        return driver, dev, [parse_disk(c) for c in ndevs]

    async def blockdev_addchildren(self, bdev: Any, ndevs: Any) -> None:
        """Attach new backing volumes (data, meta) to a diskless DRBD device."""
        driver, dev, children = self._drbd_children(bdev, ndevs)
        await driver.add_children(dev, children)

    async def blockdev_removechildren(self, bdev: Any, ndevs: Any) -> None:
        """Detach the backing volumes of a DRBD device (it keeps running diskless)."""
        driver, dev, children = self._drbd_children(bdev, ndevs)
        await driver.remove_children(dev, children)

    async def blockdev_close(self, instance_name: Any, disks: Any) -> None:
        """The instance no longer runs here: DRBD disks become Secondary (others: nothing)."""
        if not isinstance(disks, list):
            raise HandlerError("disks must be a list of disk dicts")
        for item in disks:
            dev = parse_disk(item)
            driver = self.storage.for_device(dev)
            if isinstance(driver, DrbdStorage):
                await driver.set_secondary(dev)

    async def drbd_needs_activation(self, disks: Any) -> list[str]:
        """Uuids of the disks that are not up, or up without their local disk."""
        out = []
        for driver, dev in self._drbd_disks(disks):
            status = await driver.find(dev)
            if status is None or status.ldisk_status == "faulty":
                out.append(dev.uuid)
        return out

    async def lv_list(self, vg_name: Any) -> dict[str, list[Any]]:
        """``{"vg/lv": [size, inactive, open]}`` of one volume group, a list of them, or
        (empty) all of them."""
        if vg_name is None or vg_name == "":
            vgs: list[str] = []
        elif isinstance(vg_name, str):
            vgs = [vg_name]
        elif isinstance(vg_name, list) and all(isinstance(v, str) for v in vg_name):
            vgs = list(vg_name)
        else:
            raise HandlerError("vg_name must be a volume group name or a list of them")
        lvm = self.storage.get(C.DT_PLAIN)
        if not isinstance(lvm, LvmStorage):
            raise HandlerError("LVM is not available on this node")
        return await list_volumes(lvm.runner, vgs, lvm.extra_args)

    def file_storage_dir_create(self, file_storage_dir: Any) -> None:
        fs.create_storage_dir(self.paths, file_storage_dir)

    def file_storage_dir_remove(self, file_storage_dir: Any) -> None:
        fs.remove_storage_dir(self.paths, file_storage_dir)

    def file_storage_dir_rename(self, old_file_storage_dir: Any, new_file_storage_dir: Any) -> None:
        fs.rename_storage_dir(self.paths, old_file_storage_dir, new_file_storage_dir)
