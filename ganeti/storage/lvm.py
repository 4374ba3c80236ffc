"""``plain`` disks: LVM logical volumes, through ``lvcreate/lvremove/lvresize/lvs``.

``logical_id`` is ``[vg, lv]``.  Every command goes through the injected command runner.
``extra_args`` are put after the command name; on machines whose kernel has no
device-mapper (such as our test hosts) pass ``NO_ACTIVATION``: LVM then works on metadata
only (create, resize, rename, remove, ``lvs``), no ``/dev/<vg>/<lv>`` device appears and
snapshots are impossible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from zope.interface import implementer

from ganeti import constants as C
from ganeti import errors
from ganeti.storage.command import CommandRunner
from ganeti.storage.filestorage import dd_zero
from ganeti.storage.interface import (
    LDISK_FAULTY,
    LDISK_OKAY,
    Assembled,
    BlockDevice,
    DeviceStatus,
    IStorage,
)

NO_ACTIVATION: tuple[str, ...] = ("--config", "global { activation = 0 }")

_NAME_RE = re.compile(r"^[A-Za-z0-9_+.][A-Za-z0-9_+.-]*$")
_RESERVED = frozenset({".", ".."})


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in _RESERVED:
        raise errors.BlockDeviceError(f"invalid LVM {what} name {name!r}")
    if len(name) > 127:
        raise errors.BlockDeviceError(f"LVM {what} name {name!r} is too long")
    return name


def split_lid(logical_id: Sequence[Any]) -> tuple[str, str]:
    lid = list(logical_id)
    if len(lid) != 2:
        raise errors.BlockDeviceError(f"plain logical_id must be [vg, lv], got {lid!r}")
    return _check_name(lid[0], "volume group"), _check_name(lid[1], "logical volume")


@implementer(IStorage)
class LvmStorage:
    dev_type = C.DT_PLAIN

    def __init__(self, runner: CommandRunner, extra_args: Sequence[str] = ()) -> None:
        self.runner = runner
        self.extra_args = tuple(extra_args)

    def _cmd(self, tool: str, *args: str) -> list[str]:
        return [tool, *self.extra_args, *args]

    @staticmethod
    def dev_path(vg: str, lv: str) -> str:
        return f"/dev/{vg}/{lv}"

    async def lv_status(self, vg: str, lv: str) -> tuple[int, str] | None:
        """``(size MiB, attr)`` of ``vg/lv`` from ``lvs``, None if it does not exist."""
        res = await self.runner(
            self._cmd(
                "lvs",
                "--noheadings",
                "--nosuffix",
                "--units=m",
                "--separator=|",
                "-o",
                "lv_name,lv_size,lv_attr",
                f"{vg}/{lv}",
            )
        )
        if res.failed:
            text = (res.stderr + res.stdout).lower()
            if "not found" in text or "failed to find" in text:
                return None
            res.check()
        for line in res.stdout.splitlines():
            fields = line.strip().split("|")
            if len(fields) == 3 and fields[0] == lv:
                return int(float(fields[1])), fields[2]
        return None

    async def create(self, dev: BlockDevice, size: int, exclusive_storage: bool) -> Assembled:
        vg, lv = split_lid(dev.logical_id)
        if size <= 0:
            raise errors.BlockDeviceError(f"invalid size {size} MiB")
        stripes = int(dev.params.get("stripes", 1) or 1)
        args = ["-L", f"{size}m", "-n", lv]
        if stripes > 1:
            args += ["-i", str(stripes)]
        (await self.runner(self._cmd("lvcreate", *args, vg))).check()
        return Assembled(self.dev_path(vg, lv))

    async def remove(self, dev: BlockDevice) -> None:
        vg, lv = split_lid(dev.logical_id)
        if await self.lv_status(vg, lv) is None:
            return
        (await self.runner(self._cmd("lvremove", "-f", f"{vg}/{lv}"))).check()

    async def assemble(self, dev: BlockDevice) -> Assembled:
        vg, lv = split_lid(dev.logical_id)
        if await self.lv_status(vg, lv) is None:
            raise errors.BlockDeviceError(f"logical volume {vg}/{lv} does not exist")
        (await self.runner(self._cmd("lvchange", "-ay", f"{vg}/{lv}"))).check()
        return Assembled(self.dev_path(vg, lv))

    async def shutdown(self, dev: BlockDevice) -> None:
        # Like Ganeti: logical volumes stay active; there is nothing to tear down.
        split_lid(dev.logical_id)

    async def find(self, dev: BlockDevice) -> DeviceStatus | None:
        vg, lv = split_lid(dev.logical_id)
        found = await self.lv_status(vg, lv)
        if found is None:
            return None
        size, attr = found
        # lv_attr: 9th character 'p' = partial (a PV is missing).
        partial = len(attr) > 8 and attr[8] == "p"
        return DeviceStatus(
            self.dev_path(vg, lv),
            is_degraded=partial,
            ldisk_status=LDISK_FAULTY if partial else LDISK_OKAY,
            size=size,
        )

    async def grow(self, dev: BlockDevice, amount: int, dryrun: bool, backingstore: bool) -> None:
        vg, lv = split_lid(dev.logical_id)
        if amount < 0:
            raise errors.BlockDeviceError("cannot shrink a disk")
        args = ["-L", f"+{amount}m"]
        if dryrun:
            args.append("--test")
        (await self.runner(self._cmd("lvresize", *args, f"{vg}/{lv}"))).check()

    async def rename(self, dev: BlockDevice, new_logical_id: list[Any]) -> None:
        vg, lv = split_lid(dev.logical_id)
        new_vg, new_lv = split_lid(new_logical_id)
        if new_vg != vg:
            raise errors.BlockDeviceError(f"cannot move {vg}/{lv} to another volume group")
        (await self.runner(self._cmd("lvrename", vg, lv, new_lv))).check()

    async def wipe(self, dev: BlockDevice, offset: int, size: int) -> None:
        vg, lv = split_lid(dev.logical_id)
        await dd_zero(self.runner, self.dev_path(vg, lv), offset, size)


async def vg_info(runner: CommandRunner, vg: str, extra_args: Sequence[str] = ()) -> dict[str, int]:
    """``{"storage_free", "storage_size"}`` of a volume group, MiB (``vgs``)."""
    _check_name(vg, "volume group")
    res = await runner(
        [
            "vgs",
            *extra_args,
            "--noheadings",
            "--nosuffix",
            "--units=m",
            "--separator=|",
            "-o",
            "vg_name,vg_free,vg_size",
            vg,
        ]
    )
    res.check()
    for line in res.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) == 3 and fields[0] == vg:
            return {"storage_free": int(float(fields[1])), "storage_size": int(float(fields[2]))}
    raise errors.BlockDeviceError(f"volume group {vg} not found")


async def list_volumes(
    runner: CommandRunner, vgs: Sequence[str], extra_args: Sequence[str] = ()
) -> dict[str, list[Any]]:
    """The logical volumes of ``vgs`` (all volume groups when empty), as the ``lv_list``
    procedure answers: ``{"vg/lv": [size MiB, inactive, open]}`` (Ganeti's shape).

    ``inactive`` is the 5th ``lv_attr`` character ``-`` (not activated), ``open`` the 6th
    ``o`` (a device holds it open: a running guest, a DRBD device on top).  When the node
    runs LVM without activation (``NO_ACTIVATION``: no device-mapper, metadata only) no
    volume can ever be activated, so none is reported inactive.
    """
    names = [_check_name(vg, "volume group") for vg in vgs]
    res = await runner(
        [
            "lvs",
            *extra_args,
            "--noheadings",
            "--nosuffix",
            "--units=m",
            "--separator=|",
            "-o",
            "vg_name,lv_name,lv_size,lv_attr",
            *names,
        ]
    )
    res.check()
    no_activation = tuple(extra_args) == NO_ACTIVATION
    out: dict[str, list[Any]] = {}
    for line in res.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4 or not fields[0]:
            continue
        vg, lv, size, attr = fields
        try:
            mib = float(size)
        except ValueError:
            continue
        inactive = len(attr) > 4 and attr[4] == "-" and not no_activation
        is_open = len(attr) > 5 and attr[5] == "o"
        out[f"{vg}/{lv}"] = [mib, inactive, is_open]
    return out
