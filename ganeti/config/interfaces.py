"""The seam between the master (logical units, queries, replication) and the config store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs
from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from ganeti.objects import (
    Cluster,
    ConfigData,
    ConfigObject,
    Disk,
    Instance,
    Network,
    Node,
    NodeGroup,
)


@attrs.frozen
class Commit:
    """A durable commit, as handed to commit listeners (replication)."""

    serial_no: int
    chunks: Sequence[bytes] = attrs.field(repr=False)

    @property
    def data(self) -> bytes:
        """The exact bytes now in ``config.data``."""
        return b"".join(self.chunks)


CommitListener = Callable[[Commit], object]


class IConfigWriter(Interface):
    """In-memory cluster configuration with group-committed durable writes.

    Objects returned by lookups are the live ones and must be treated as read-only.  To
    change one, take ``obj.copy()``, modify the copy and pass it to :meth:`update`; the
    writer checks that nobody else changed the object in between (``serial_no``).

    Every modification is applied in memory at once and raises
    :class:`~ganeti.errors.OpPrereqError` (duplicate, unknown reference, invalid value)
    without changing anything.  The change is written with all others of the same
    reactor tick; :meth:`flush` tells when it is durable.
    """

    config = Attribute("The live ConfigData (read-only for callers).")
    serial_no = Attribute("Top-level serial number of the in-memory config.")
    durable_serial_no = Attribute("Top-level serial number last written to disk.")

    # Lookups: get_* take a UUID, lookup_* a name or UUID; both raise OpPrereqError
    # (ECODE_NOENT) when nothing matches.
    def get_cluster() -> Cluster: ...
    def get_node(uuid: str) -> Node: ...
    def lookup_node(name_or_uuid: str) -> Node: ...
    def get_nodes() -> list[Node]: ...
    def get_group(uuid: str) -> NodeGroup: ...
    def lookup_group(name_or_uuid: str) -> NodeGroup: ...
    def get_groups() -> list[NodeGroup]: ...
    def get_instance(uuid: str) -> Instance: ...
    def lookup_instance(name_or_uuid: str) -> Instance: ...
    def get_instances() -> list[Instance]: ...
    def get_network(uuid: str) -> Network: ...
    def lookup_network(name_or_uuid: str) -> Network: ...
    def get_networks() -> list[Network]: ...
    def get_disk(uuid: str) -> Disk: ...
    def get_instance_disks(instance_uuid: str) -> list[Disk]: ...
    def get_master_node() -> Node: ...
    def get_node_instances(node_uuid: str) -> tuple[list[Instance], list[Instance]]:
        """(primary, secondary) instances of a node."""

    # Modifications.
    def add_node(node: Node) -> None: ...
    def remove_node(uuid: str) -> None: ...
    def add_group(group: NodeGroup) -> None: ...
    def remove_group(uuid: str) -> None: ...
    def add_instance(instance: Instance, disks: Sequence[Disk]) -> None:
        """Add an instance with its disks; ``instance.disks`` is set from ``disks``."""

    def remove_instance(uuid: str) -> None:
        """Remove an instance and its disks."""

    def add_instance_disk(instance_uuid: str, disk: Disk, index: int | None = None) -> None: ...
    def remove_instance_disk(instance_uuid: str, disk_uuid: str) -> None: ...
    def add_network(network: Network) -> None: ...
    def remove_network(uuid: str) -> None: ...
    def update(obj: ConfigObject) -> None:
        """Replace a stored object (Cluster, Node, NodeGroup, Instance, Disk, Network)."""

    def set_master_node(uuid: str) -> None: ...
    def add_tags(kind: str, name_or_uuid: str | None, tags: Iterable[str]) -> None: ...
    def remove_tags(kind: str, name_or_uuid: str | None, tags: Iterable[str]) -> None: ...
    def allocate_drbd_port() -> int: ...
    def drbd_minors() -> dict[str, dict[int, str]]:
        """Minors in use per node (config and reservations)."""

    def allocate_drbd_minors(node_uuids: Sequence[str], owner: str) -> list[int]:
        """The lowest free minor on each node, reserved for ``owner``."""

    def release_drbd_minors(owner: str) -> None: ...

    # Durability and replication.
    def flush() -> Deferred[int]:
        """Fires with the serial written once every change made so far is on disk."""

    def add_commit_listener(listener: CommitListener) -> None:
        """Call ``listener(Commit)`` after each durable write, in registration order."""

    def remove_commit_listener(listener: CommitListener) -> None: ...


__all__ = ["Commit", "CommitListener", "ConfigData", "IConfigWriter"]
