"""The hypervisor seam: what a node needs from a virtualisation backend.

Everything a hypervisor needs to run an instance arrives in an :class:`InstanceSpec`,
built by the node daemon from the master's ``INST_DICT`` (filled parameters, disk paths
already resolved by the storage layer).  Operations that may block return awaitables;
implementations keep blocking work off the reactor thread through an injected
:data:`RunInThread`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import attrs
from twisted.internet import defer
from zope.interface import Attribute, Interface

from ganeti import errors

T = TypeVar("T")

# Calls ``f(*args)`` somewhere (a thread pool in production, inline in tests) and gives
# its result as a Deferred.
RunInThread = Callable[..., "defer.Deferred[Any]"]


def run_inline(f: Callable[..., T], *args: Any, **kwargs: Any) -> defer.Deferred[T]:
    """A :data:`RunInThread` that runs ``f`` at once on the calling thread (tests)."""
    return defer.maybeDeferred(f, *args, **kwargs)


# Runtime states reported by instance_info / all_instances_info.
STATE_RUNNING = "running"
STATE_PAUSED = "paused"
STATE_SHUTDOWN = "shutdown"
STATE_CRASHED = "crashed"
STATE_MIGRATING = "migrating"

REBOOT_SOFT = "soft"
REBOOT_HARD = "hard"

# Migration status values (instance_get_migration_status).
MIGRATION_ACTIVE = "active"
MIGRATION_COMPLETED = "completed"
MIGRATION_FAILED = "failed"
MIGRATION_NONE = "none"

# DiskRef.storage values.
DISK_SHARED = "shared"
DISK_LOCAL = "local"


@attrs.frozen
class DiskRef:
    """One assembled disk as the hypervisor sees it."""

    path: str
    # "file" for an image file, "block" for a block device.
    kind: str = "file"
    # Image format of file disks: "raw" or "qcow2".
    format: str = "raw"
    mode: str = "rw"
    uri: str | None = None
    uuid: str = ""
    name: str | None = None
    size: int = 0
    # Where the data lives for a migration: DISK_SHARED (the target opens the same
    # storage), DISK_LOCAL (node-local, copied by a storage-copy migration), "" unknown.
    storage: str = ""


@attrs.frozen
class NicSpec:
    mac: str
    mode: str = "bridged"
    link: str = ""
    vlan: str = ""
    ip: str | None = None
    uuid: str = ""
    name: str | None = None


@attrs.frozen
class InstanceSpec:
    """An instance with filled parameters: what start/stop/reboot need."""

    name: str
    uuid: str = ""
    hypervisor: str = "fake"
    hvparams: Mapping[str, Any] = attrs.field(factory=dict)
    beparams: Mapping[str, Any] = attrs.field(factory=dict)
    disks: tuple[DiskRef, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    network_port: int | None = None

    @property
    def memory(self) -> int:
        """Memory to start with, MiB (beparams maxmem, legacy ``memory``)."""
        value = self.beparams.get("maxmem", self.beparams.get("memory", 128))
        return int(value)

    @property
    def minmem(self) -> int:
        return int(self.beparams.get("minmem", self.memory))

    @property
    def vcpus(self) -> int:
        return int(self.beparams.get("vcpus", 1))


@attrs.frozen
class InstanceInfo:
    """Runtime facts about one instance on this node."""

    name: str
    state: str
    memory: int  # MiB currently assigned
    vcpus: int
    time: float = 0.0  # CPU seconds used (libvirt) or seconds since start (fake)

    def to_dict(self) -> dict[str, Any]:
        return {"memory": self.memory, "vcpus": self.vcpus, "state": self.state, "time": self.time}


class IHypervisor(Interface):
    """A virtualisation backend on one node."""

    name = Attribute("The hypervisor name (constants.HT_*).")

    def validate_params(hvparams: Mapping[str, Any]) -> None:
        """Check a full hvparams dict; raise HypervisorError with all problems found."""

    def start(instance: InstanceSpec, paused: bool) -> Awaitable[None]:
        """Start ``instance``; fails if it is already running."""

    def stop(instance: InstanceSpec, timeout: float, force: bool) -> Awaitable[None]:
        """Stop: ask the guest (soft) and wait up to ``timeout`` seconds, then kill it.

        ``force`` kills at once.  Stopping an instance that does not run succeeds.
        """

    def reboot(
        instance: InstanceSpec, reboot_type: str, shutdown_timeout: float
    ) -> Awaitable[None]:
        """``soft``: the guest reboots itself; ``hard``: stop then start the VM."""

    def list_instances(hvparams: Mapping[str, Any]) -> Awaitable[list[str]]:
        """Names of the instances running on this node."""

    def instance_info(name: str, hvparams: Mapping[str, Any]) -> Awaitable[InstanceInfo | None]:
        """Runtime info of one instance, None if it does not run here."""

    def all_instances_info(hvparams: Mapping[str, Any]) -> Awaitable[list[InstanceInfo]]:
        """Runtime info of every instance on this node."""

    def node_info(hvparams: Mapping[str, Any]) -> Awaitable[dict[str, Any]]:
        """Memory and CPU figures of the node (node_info keys, MiB)."""

    def console_info(instance: InstanceSpec, node_name: str) -> dict[str, Any]:
        """How to reach the instance's console (Ganeti console dict)."""

    def balloon_memory(instance: InstanceSpec, memory: int) -> Awaitable[None]:
        """Change the runtime memory of a running instance (MiB)."""

    # Migration (used by the mobility issue).
    def migration_info(instance: InstanceSpec) -> Awaitable[str]:
        """Source side, first: opaque data the target needs to accept the instance."""

    def accept_instance(instance: InstanceSpec, info: str, target: str) -> Awaitable[None]:
        """Target side: prepare to receive ``instance``."""

    def migrate(
        cluster_name: str, instance: InstanceSpec, target: str, live: bool
    ) -> Awaitable[None]:
        """Source side: move the running instance to ``target`` (an address)."""

    def finalize_migration_dst(instance: InstanceSpec, info: str, success: bool) -> Awaitable[None]:
        """Target side: make the instance ours (success) or clean up (failure)."""

    def finalize_migration_src(
        instance: InstanceSpec, success: bool, live: bool
    ) -> Awaitable[None]:
        """Source side: forget the instance (success) or keep running it (failure)."""

    def migration_status(instance: InstanceSpec) -> Awaitable[dict[str, Any]]:
        """``{"status": active|completed|failed|none, ...progress}``."""


def check_running(info: InstanceInfo | None, name: str) -> InstanceInfo:
    if info is None:
        raise errors.HypervisorError(f"instance {name} is not running")
    return info
