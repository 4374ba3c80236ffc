"""The storage seam: block devices of one disk template on one node.

A :class:`BlockDevice` is the node's view of a disk dict from the master (``dev_type``,
``logical_id``, ``size`` in MiB, ``params``, ``children``).  A driver creates, assembles,
finds, grows, renames, shuts down and removes such devices.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

import attrs
from zope.interface import Attribute, Interface

from ganeti import errors

LDISK_OKAY = "ok"
LDISK_FAULTY = "faulty"
LDISK_UNKNOWN = "unknown"


@attrs.frozen
class BlockDevice:
    dev_type: str
    logical_id: tuple[Any, ...]
    size: int = 0
    uuid: str = ""
    name: str | None = None
    iv_name: str | None = None
    mode: str = "rw"
    params: Mapping[str, Any] = attrs.field(factory=dict)
    children: tuple[BlockDevice, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> BlockDevice:
        """From a ``Disk.to_dict()`` (extra keys ignored); raises BlockDeviceError."""
        if not isinstance(data, Mapping):
            raise errors.BlockDeviceError("a disk must be a dict")
        dev_type = data.get("dev_type")
        if not isinstance(dev_type, str):
            raise errors.BlockDeviceError("disk has no dev_type")
        lid = data.get("logical_id")
        if lid is None:
            lid = []
        if not isinstance(lid, list | tuple):
            raise errors.BlockDeviceError("disk logical_id must be a list")
        size = data.get("size", 0)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise errors.BlockDeviceError(f"invalid disk size {size!r}")
        params = data.get("params") or {}
        if not isinstance(params, Mapping):
            raise errors.BlockDeviceError("disk params must be a dict")
        children = data.get("children") or []
        if not isinstance(children, list):
            raise errors.BlockDeviceError("disk children must be a list")
        return cls(
            dev_type=dev_type,
            logical_id=tuple(lid),
            size=size,
            uuid=str(data.get("uuid") or ""),
            name=data.get("name"),
            iv_name=data.get("iv_name"),
            mode=str(data.get("mode") or "rw"),
            params=dict(params),
            children=tuple(cls.from_dict(c) for c in children),
        )

    def describe(self) -> str:
        return f"{self.dev_type} disk {self.iv_name or self.uuid} {list(self.logical_id)}"


@attrs.frozen
class DeviceStatus:
    """What ``blockdev_find`` reports (Ganeti's BlockDevStatus)."""

    dev_path: str
    major: int | None = None
    minor: int | None = None
    sync_percent: float | None = None
    estimated_time: int | None = None
    is_degraded: bool = False
    ldisk_status: str = LDISK_OKAY
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dev_path": self.dev_path,
            "major": self.major,
            "minor": self.minor,
            "sync_percent": self.sync_percent,
            "estimated_time": self.estimated_time,
            "is_degraded": self.is_degraded,
            "ldisk_status": self.ldisk_status,
        }


@attrs.frozen
class Assembled:
    """Where an assembled device can be reached: path and optional userspace URI."""

    dev_path: str
    uri: str | None = None
    # "file" for an image file, "block" for a block device (the hypervisor needs it).
    kind: str = "block"
    format: str = "raw"


class IStorage(Interface):
    """Block devices of one type (``dev_type``) on this node."""

    dev_type = Attribute("The disk template / dev_type this driver handles.")

    def create(dev: BlockDevice, size: int, exclusive_storage: bool) -> Awaitable[Assembled]:
        """Create the device of ``size`` MiB; fails if it exists."""

    def remove(dev: BlockDevice) -> Awaitable[None]:
        """Remove the device; removing a missing device succeeds."""

    def assemble(dev: BlockDevice) -> Awaitable[Assembled]:
        """Make the device usable (activate) and say where it is."""

    def shutdown(dev: BlockDevice) -> Awaitable[None]:
        """Deactivate the device (it keeps its data)."""

    def find(dev: BlockDevice) -> Awaitable[DeviceStatus | None]:
        """The device's status, None if it does not exist."""

    def grow(dev: BlockDevice, amount: int, dryrun: bool, backingstore: bool) -> Awaitable[None]:
        """Grow by ``amount`` MiB; ``dryrun`` only checks that it would work."""

    def rename(dev: BlockDevice, new_logical_id: list[Any]) -> Awaitable[None]:
        """Give the device a new identity (logical_id)."""

    def wipe(dev: BlockDevice, offset: int, size: int) -> Awaitable[None]:
        """Write zeroes over ``size`` MiB from ``offset`` MiB."""
