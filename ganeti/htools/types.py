"""Small value types shared by every htools program.

Instance specs and instance policies (`ISpec`, `MinMax`, `IPolicy`), the
string enumerations of disk templates, instance states and group allocation
policies, and the mirror classification that decides which moves hbal may
try for an instance.
"""

from __future__ import annotations

import enum

import attrs


class HToolsError(Exception):
    """An error a htools program reports as ``Error: <message>`` and exits 1."""


class AllocPolicy(enum.Enum):
    PREFERRED = "preferred"
    LAST_RESORT = "last_resort"
    UNALLOCABLE = "unallocable"

    @classmethod
    def parse(cls, text: str) -> AllocPolicy:
        short = {"p": cls.PREFERRED, "a": cls.LAST_RESORT, "u": cls.UNALLOCABLE}
        if text in short:
            return short[text]
        try:
            return cls(text)
        except ValueError:
            raise HToolsError(f"Invalid alloc policy mode: {text}") from None


class Mirror(enum.Enum):
    """How an instance's disks are replicated, which fixes its move set."""

    NONE = "none"
    INTERNAL = "internal"
    EXTERNAL = "external"


# Disk templates in the order Ganeti lists them (this order is also the
# order of `iPolicyDiskTemplates` in the "Loaded cluster ipolicy" message).
DISK_TEMPLATES = (
    "diskless",
    "file",
    "sharedfile",
    "plain",
    "blockdev",
    "drbd",
    "rbd",
    "ext",
    "gluster",
)
DT_HASKELL_NAMES = {
    "diskless": "DTDiskless",
    "file": "DTFile",
    "sharedfile": "DTSharedFile",
    "plain": "DTPlain",
    "blockdev": "DTBlock",
    "drbd": "DTDrbd8",
    "rbd": "DTRbd",
    "ext": "DTExt",
    "gluster": "DTGluster",
}
MIRROR_OF = {
    "drbd": Mirror.INTERNAL,
    "diskless": Mirror.EXTERNAL,
    "sharedfile": Mirror.EXTERNAL,
    "blockdev": Mirror.EXTERNAL,
    "rbd": Mirror.EXTERNAL,
    "ext": Mirror.EXTERNAL,
    "gluster": Mirror.EXTERNAL,
    "plain": Mirror.NONE,
    "file": Mirror.NONE,
}
# Templates whose disks live on the node (they consume fDsk and spindles).
LOCAL_STORAGE_TEMPLATES = frozenset({"drbd", "plain"})
# Templates hbal is allowed to move at all.
MOVABLE_TEMPLATES = frozenset({"drbd", "blockdev", "sharedfile", "gluster", "rbd", "ext"})

INSTANCE_STATES = (
    "running",
    "ADMIN_down",
    "ADMIN_offline",
    "ERROR_down",
    "ERROR_up",
    "ERROR_nodedown",
    "ERROR_nodeoffline",
    "USER_down",
    "ERROR_wrongnode",
)
# States in which the instance holds its memory on the primary node.
MEMORY_USING_STATES = frozenset(
    {"running", "ERROR_up", "ERROR_nodedown", "ERROR_nodeoffline", "ERROR_wrongnode"}
)
# States in which a move is a live migration (else a failover).
RUNNING_STATES = frozenset({"running", "ERROR_up"})


@attrs.frozen
class ISpec:
    mem: int
    cpu: int
    disk_size: int
    disk_count: int
    nic_count: int
    spindle_use: int

    @classmethod
    def parse(cls, text: str) -> ISpec:
        parts = text.split(",")
        if len(parts) != 6:
            raise HToolsError(f"Invalid ispec '{text}': expected 6 comma-separated numbers")
        try:
            return cls(*(int(p) for p in parts))
        except ValueError:
            raise HToolsError(f"Invalid ispec '{text}'") from None

    def serialize(self) -> str:
        return ",".join(
            str(v)
            for v in (
                self.mem,
                self.cpu,
                self.disk_size,
                self.disk_count,
                self.nic_count,
                self.spindle_use,
            )
        )

    def haskell_show(self) -> str:
        return (
            f"ISpec {{iSpecMemorySize = {self.mem}, iSpecCpuCount = {self.cpu}, "
            f"iSpecDiskSize = {self.disk_size}, iSpecDiskCount = {self.disk_count}, "
            f"iSpecNicCount = {self.nic_count}, iSpecSpindleUse = {self.spindle_use}}}"
        )


@attrs.frozen
class MinMax:
    min: ISpec
    max: ISpec


DEFAULT_MIN_SPEC = ISpec(128, 1, 1024, 1, 1, 1)
DEFAULT_MAX_SPEC = ISpec(32768, 8, 1048576, 16, 8, 12)


def _fmt_ratio(value: float) -> str:
    return repr(float(value))


@attrs.frozen
class IPolicy:
    minmax: tuple[MinMax, ...] = (MinMax(DEFAULT_MIN_SPEC, DEFAULT_MAX_SPEC),)
    std: ISpec = DEFAULT_MIN_SPEC
    disk_templates: tuple[str, ...] = DISK_TEMPLATES
    vcpu_ratio: float = 4.0
    spindle_ratio: float = 32.0

    def serialize(self) -> str:
        mm = ";".join(f"{m.min.serialize()};{m.max.serialize()}" for m in self.minmax)
        return "|".join(
            [
                self.std.serialize(),
                mm,
                ",".join(self.disk_templates),
                _fmt_ratio(self.vcpu_ratio),
                _fmt_ratio(self.spindle_ratio),
            ]
        )

    def haskell_show(self) -> str:
        mms = ",".join(
            f"MinMaxISpecs {{minMaxISpecsMinSpec = {m.min.haskell_show()}, "
            f"minMaxISpecsMaxSpec = {m.max.haskell_show()}}}"
            for m in self.minmax
        )
        dts = ",".join(DT_HASKELL_NAMES[d] for d in self.disk_templates)
        return (
            f"IPolicy {{iPolicyMinMaxISpecs = [{mms}], "
            f"iPolicyStdSpec = {self.std.haskell_show()}, "
            f"iPolicyDiskTemplates = [{dts}], "
            f"iPolicyVcpuRatio = {_fmt_ratio(self.vcpu_ratio)}, "
            f"iPolicySpindleRatio = {_fmt_ratio(self.spindle_ratio)}}}"
        )
