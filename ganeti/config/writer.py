"""The master's configuration writer: checked in-memory changes, serials, group commit.

Changes apply to the in-memory :class:`~ganeti.objects.ConfigData` immediately.  The first
change of a reactor tick schedules one commit with ``clock.callLater(0, ...)``; the commit
validates what changed, renders the file (re-encoding only changed objects) and writes it
atomically.  All changes made before the commit share that single write.

Serial numbers: each modification bumps the modified object's ``serial_no`` and ``mtime``
and the top-level ``serial_no``/``mtime``.  The cluster's serial is bumped as well when the
change matters cluster-wide: adding or removing any object, any change to a node, node
group, network or the cluster itself (tags included), instance renames and master changes.
Parameter or state changes of an instance or disk leave the cluster serial alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ganeti import constants, errors
from ganeti.config.interfaces import Commit, CommitListener, IConfigWriter
from ganeti.config.store import ConfigStore, verify_error
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

log = Logger()

RunBlocking = Callable[[Callable[[], None]], "Deferred[None]"]

MAX_TAG_LEN = 128
MAX_TAGS_PER_OBJ = 4096
_TAG_RE = re.compile(r"^[\w.+*/:@-]+$")
TAG_KINDS = ("cluster", "node", "nodegroup", "instance", "network")

_O = TypeVar("_O", bound=ConfigObject)


def run_inline(fn: Callable[[], None]) -> Deferred[None]:
    """Run blocking work on the calling thread (default; tests and small clusters)."""
    try:
        fn()
    except Exception:
        return fail()
    return succeed(None)


def _noent(what: str, name: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(f"{what} {name!r} does not exist", errors.ECODE_NOENT)


def _exists(what: str, name: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(f"{what} {name!r} already exists", errors.ECODE_EXISTS)


def _invalid(what: str, problems: list[str]) -> errors.OpPrereqError:
    shown = "; ".join(problems[:10]) + (
        f"; ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    )
    return errors.OpPrereqError(f"invalid {what}: {shown}", errors.ECODE_INVAL)


class _Kind:
    """Per-section bookkeeping: the objects and a name index."""

    def __init__(self, label: str, objects: dict[str, Any]) -> None:
        self.label = label
        self.objects = objects
        self.names: dict[str, str] = {o.name: u for u, o in objects.items()}

    def get(self, uuid: str) -> Any:
        try:
            return self.objects[uuid]
        except KeyError:
            raise _noent(self.label, uuid) from None

    def lookup(self, name_or_uuid: str) -> Any:
        obj = self.objects.get(name_or_uuid)
        if obj is None:
            uuid = self.names.get(name_or_uuid)
            if uuid is None:
                raise _noent(self.label, name_or_uuid)
            obj = self.objects[uuid]
        return obj


@implementer(IConfigWriter)
class ConfigWriter:
    """The one place the master changes its configuration (see :class:`IConfigWriter`)."""

    def __init__(
        self,
        config: ConfigData,
        store: ConfigStore,
        clock: IReactorTime,
        run_blocking: RunBlocking = run_inline,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._run_blocking = run_blocking
        self._listeners: list[CommitListener] = []
        self._nodes = _Kind("node", config.nodes)
        self._groups = _Kind("node group", config.nodegroups)
        self._instances = _Kind("instance", config.instances)
        self._networks = _Kind("network", config.networks)
        self._macs: dict[str, str] = {}
        self._disk_owner: dict[str, str] = {}
        self._node_ips: dict[str, str] = {}
        # Temporary DRBD minor reservations of running jobs: (node uuid, minor) -> owner.
        self._drbd_reserved: dict[tuple[str, int], str] = {}
        for inst in config.instances.values():
            self._index_instance(inst)
        for node in config.nodes.values():
            self._node_ips[node.primary_ip] = node.uuid
        # Group commit state.
        self._changed: set[str] = set()  # UUIDs changed since the last snapshot
        self._stale = False  # disk differs from memory
        self._new_changes = False  # changes since the last snapshot
        self._call: IDelayedCall | None = None
        self._writing = False
        self._waiting: list[Deferred[int]] = []  # want the next commit
        self._inflight: list[Deferred[int]] = []  # satisfied by the write in progress
        self._durable_serial = config.serial_no
        # Encode (or adopt from loading) every object's fragment now, at start-up, so the
        # first commit costs what any commit costs.
        store.serializer.prime(config)

    @classmethod
    def load(
        cls, store: ConfigStore, clock: IReactorTime, run_blocking: RunBlocking = run_inline
    ) -> ConfigWriter:
        return cls(store.load(), store, clock, run_blocking)

    # -- properties --

    @property
    def config(self) -> ConfigData:
        return self._config

    @property
    def serial_no(self) -> int:
        return self._config.serial_no

    @property
    def durable_serial_no(self) -> int:
        return self._durable_serial

    # -- lookups --

    def get_cluster(self) -> Cluster:
        return self._config.cluster

    def get_node(self, uuid: str) -> Node:
        node: Node = self._nodes.get(uuid)
        return node

    def lookup_node(self, name_or_uuid: str) -> Node:
        node: Node = self._nodes.lookup(name_or_uuid)
        return node

    def get_nodes(self) -> list[Node]:
        return list(self._config.nodes.values())

    def get_group(self, uuid: str) -> NodeGroup:
        group: NodeGroup = self._groups.get(uuid)
        return group

    def lookup_group(self, name_or_uuid: str) -> NodeGroup:
        group: NodeGroup = self._groups.lookup(name_or_uuid)
        return group

    def get_groups(self) -> list[NodeGroup]:
        return list(self._config.nodegroups.values())

    def get_instance(self, uuid: str) -> Instance:
        inst: Instance = self._instances.get(uuid)
        return inst

    def lookup_instance(self, name_or_uuid: str) -> Instance:
        inst: Instance = self._instances.lookup(name_or_uuid)
        return inst

    def get_instances(self) -> list[Instance]:
        return list(self._config.instances.values())

    def get_network(self, uuid: str) -> Network:
        net: Network = self._networks.get(uuid)
        return net

    def lookup_network(self, name_or_uuid: str) -> Network:
        net: Network = self._networks.lookup(name_or_uuid)
        return net

    def get_networks(self) -> list[Network]:
        return list(self._config.networks.values())

    def get_disk(self, uuid: str) -> Disk:
        try:
            return self._config.disks[uuid]
        except KeyError:
            raise _noent("disk", uuid) from None

    def get_instance_disks(self, instance_uuid: str) -> list[Disk]:
        return [self.get_disk(d) for d in self.get_instance(instance_uuid).disks]

    def get_master_node(self) -> Node:
        return self.get_node(self._config.cluster.master_node)

    def get_node_instances(self, node_uuid: str) -> tuple[list[Instance], list[Instance]]:
        self.get_node(node_uuid)
        primary: list[Instance] = []
        secondary: list[Instance] = []
        for inst in self._config.instances.values():
            if inst.primary_node == node_uuid:
                primary.append(inst)
            elif node_uuid in self._config.instance_secondary_nodes(inst):
                secondary.append(inst)
        return primary, secondary

    # -- serials and scheduling --

    def _now(self) -> float:
        return self._clock.seconds()

    def _touch(self, objs: Iterable[ConfigObject], *, cluster: bool) -> None:
        """Record a modification: bump serials and mtimes, schedule the commit."""
        now = self._now()
        for obj in objs:
            obj.serial_no += 1  # type: ignore[attr-defined]
            obj.mtime = now  # type: ignore[attr-defined]
            self._changed.add(obj.uuid)  # type: ignore[attr-defined]
        if cluster:
            self._config.cluster.serial_no += 1
            self._config.cluster.mtime = now
        self._config.serial_no += 1
        self._config.mtime = now
        self._mark_changed()

    def _mark_changed(self) -> None:
        self._stale = True
        self._new_changes = True
        self._schedule()

    def _schedule(self) -> None:
        if self._call is None and not self._writing:
            self._call = self._clock.callLater(0, self._commit)

    def _stamp_new(self, obj: ConfigObject) -> None:
        now = self._now()
        obj.serial_no = 1  # type: ignore[attr-defined]
        obj.ctime = obj.mtime = now  # type: ignore[attr-defined]
        self._changed.add(obj.uuid)  # type: ignore[attr-defined]

    # -- index helpers --

    def _index_instance(self, inst: Instance) -> None:
        for nic in inst.nics:
            self._macs[nic.mac] = inst.uuid
        for disk in inst.disks:
            self._disk_owner[disk] = inst.uuid

    def _unindex_instance(self, inst: Instance) -> None:
        for nic in inst.nics:
            if self._macs.get(nic.mac) == inst.uuid:
                del self._macs[nic.mac]
        for disk in inst.disks:
            if self._disk_owner.get(disk) == inst.uuid:
                del self._disk_owner[disk]

    def _check_new_uuid(self, uuid: str) -> None:
        cfg = self._config
        if not uuid:
            raise errors.OpPrereqError("object has no UUID", errors.ECODE_INVAL)
        if uuid == cfg.cluster.uuid or any(
            uuid in section
            for section in (cfg.nodes, cfg.nodegroups, cfg.instances, cfg.disks, cfg.networks)
        ):
            raise errors.OpPrereqError(f"UUID {uuid} is already in use", errors.ECODE_EXISTS)

    def _check_name(self, kind: _Kind, name: str, uuid: str) -> None:
        if not name:
            raise errors.OpPrereqError(f"{kind.label} name is empty", errors.ECODE_INVAL)
        owner = kind.names.get(name)
        if owner is not None and owner != uuid:
            raise _exists(kind.label, name)

    def _check_macs(self, inst: Instance) -> None:
        seen: set[str] = set()
        for nic in inst.nics:
            owner = self._macs.get(nic.mac)
            if (owner is not None and owner != inst.uuid) or nic.mac in seen:
                raise errors.OpPrereqError(
                    f"MAC address {nic.mac} is already in use", errors.ECODE_NOTUNIQUE
                )
            seen.add(nic.mac)

    def _verify_with(self, section: dict[str, Any], obj: ConfigObject, what: str) -> None:
        """Tentatively store ``obj`` and check it; restore the previous state on failure."""
        uuid: str = obj.uuid  # type: ignore[attr-defined]
        previous = section.get(uuid)
        section[uuid] = obj
        problems = self._config.verify_objects([uuid])
        if isinstance(obj, Node):
            problems += self._config.verify_cluster()
        if problems:
            if previous is None:
                del section[uuid]
            else:
                section[uuid] = previous
            raise _invalid(what, problems)

    # -- nodes --

    def add_node(self, node: Node) -> None:
        self._check_new_uuid(node.uuid)
        self._check_name(self._nodes, node.name, node.uuid)
        if node.primary_ip in self._node_ips:
            raise errors.OpPrereqError(
                f"primary IP {node.primary_ip} is already used by another node",
                errors.ECODE_NOTUNIQUE,
            )
        self._verify_with(self._config.nodes, node, f"node {node.name!r}")
        self._stamp_new(node)
        self._nodes.names[node.name] = node.uuid
        self._node_ips[node.primary_ip] = node.uuid
        self._touch((), cluster=True)

    def remove_node(self, uuid: str) -> None:
        node = self.get_node(uuid)
        if uuid == self._config.cluster.master_node:
            raise errors.OpPrereqError(
                f"node {node.name!r} is the master node and cannot be removed", errors.ECODE_STATE
            )
        users = [
            i.name
            for i in self._config.instances.values()
            if uuid in self._config.instance_all_nodes(i)
        ]
        if users:
            raise errors.OpPrereqError(
                f"node {node.name!r} still hosts instances: {', '.join(sorted(users))}",
                errors.ECODE_STATE,
            )
        del self._config.nodes[uuid]
        del self._nodes.names[node.name]
        self._node_ips.pop(node.primary_ip, None)
        self._config.cluster.candidate_certs.pop(uuid, None)
        self._changed.add(uuid)
        self._touch((), cluster=True)

    # -- node groups --

    def add_group(self, group: NodeGroup) -> None:
        self._check_new_uuid(group.uuid)
        self._check_name(self._groups, group.name, group.uuid)
        self._verify_with(self._config.nodegroups, group, f"node group {group.name!r}")
        self._stamp_new(group)
        self._groups.names[group.name] = group.uuid
        self._touch((), cluster=True)

    def remove_group(self, uuid: str) -> None:
        group = self.get_group(uuid)
        members = [n.name for n in self._config.nodes.values() if n.group == uuid]
        if members:
            raise errors.OpPrereqError(
                f"node group {group.name!r} still has nodes: {', '.join(sorted(members))}",
                errors.ECODE_STATE,
            )
        if len(self._config.nodegroups) == 1:
            raise errors.OpPrereqError(
                f"node group {group.name!r} is the last group", errors.ECODE_STATE
            )
        del self._config.nodegroups[uuid]
        del self._groups.names[group.name]
        self._changed.add(uuid)
        self._touch((), cluster=True)

    # -- instances and disks --

    def _check_new_disk(self, disk: Disk) -> None:
        self._check_new_uuid(disk.uuid)
        self._check_disk_children(disk)

    def _check_disk_children(self, disk: Disk) -> None:
        problems = self._config._check_disk(disk)
        if problems:
            raise _invalid("disk", problems)

    def add_instance(self, instance: Instance, disks: Sequence[Disk]) -> None:
        self._check_new_uuid(instance.uuid)
        self._check_name(self._instances, instance.name, instance.uuid)
        if len({d.uuid for d in disks}) != len(disks):
            raise errors.OpPrereqError("a disk is given twice", errors.ECODE_INVAL)
        for disk in disks:
            self._check_new_disk(disk)
        self._check_macs(instance)
        instance.disks = [d.uuid for d in disks]
        for disk in disks:
            self._config.disks[disk.uuid] = disk
        try:
            self._verify_with(self._config.instances, instance, f"instance {instance.name!r}")
        except errors.OpPrereqError:
            for disk in disks:
                del self._config.disks[disk.uuid]
            raise
        for disk in disks:
            self._stamp_new(disk)
        self._stamp_new(instance)
        self._instances.names[instance.name] = instance.uuid
        self._index_instance(instance)
        self._touch((), cluster=True)

    def remove_instance(self, uuid: str) -> None:
        inst = self.get_instance(uuid)
        self._unindex_instance(inst)
        self._release_drbd_ports(inst.disks)
        for disk in inst.disks:
            self._config.disks.pop(disk, None)
            self._changed.add(disk)
        del self._config.instances[uuid]
        del self._instances.names[inst.name]
        self._changed.add(uuid)
        self._touch((), cluster=True)

    def add_instance_disk(self, instance_uuid: str, disk: Disk, index: int | None = None) -> None:
        inst = self.get_instance(instance_uuid)
        self._check_new_disk(disk)
        new = inst.copy()
        new.disks.insert(len(new.disks) if index is None else index, disk.uuid)
        self._config.disks[disk.uuid] = disk
        try:
            self._verify_with(self._config.instances, new, f"instance {inst.name!r}")
        except errors.OpPrereqError:
            del self._config.disks[disk.uuid]
            raise
        self._stamp_new(disk)
        self._disk_owner[disk.uuid] = inst.uuid
        self._touch([new], cluster=False)

    def remove_instance_disk(self, instance_uuid: str, disk_uuid: str) -> None:
        inst = self.get_instance(instance_uuid)
        if disk_uuid not in inst.disks:
            raise _noent(f"disk of instance {inst.name!r}", disk_uuid)
        new = inst.copy()
        self._release_drbd_ports([disk_uuid])
        new.disks.remove(disk_uuid)
        self._config.instances[inst.uuid] = new
        self._config.disks.pop(disk_uuid, None)
        self._disk_owner.pop(disk_uuid, None)
        self._changed.add(disk_uuid)
        self._touch([new], cluster=False)

    # -- networks --

    def add_network(self, network: Network) -> None:
        self._check_new_uuid(network.uuid)
        self._check_name(self._networks, network.name, network.uuid)
        self._verify_with(self._config.networks, network, f"network {network.name!r}")
        self._stamp_new(network)
        self._networks.names[network.name] = network.uuid
        self._touch((), cluster=True)

    def remove_network(self, uuid: str) -> None:
        net = self.get_network(uuid)
        groups = [g.name for g in self._config.nodegroups.values() if uuid in g.networks]
        if groups:
            raise errors.OpPrereqError(
                f"network {net.name!r} is connected to node groups: {', '.join(sorted(groups))}",
                errors.ECODE_STATE,
            )
        users = [
            i.name
            for i in self._config.instances.values()
            if any(n.network == uuid for n in i.nics)
        ]
        if users:
            raise errors.OpPrereqError(
                f"network {net.name!r} is used by instances: {', '.join(sorted(users))}",
                errors.ECODE_STATE,
            )
        del self._config.networks[uuid]
        del self._networks.names[net.name]
        self._changed.add(uuid)
        self._touch((), cluster=True)

    # -- generic update --

    def _check_current(self, stored: ConfigObject, new: ConfigObject, what: str) -> None:
        if stored is new:
            raise errors.ProgrammerError(
                f"{what}: update() needs a modified copy (obj.copy()), not the live object"
            )
        if getattr(stored, "serial_no", None) != getattr(new, "serial_no", None):
            raise errors.OpPrereqError(
                f"{what} was modified by someone else since it was read "
                f"(serial {getattr(stored, 'serial_no', None)}, "
                f"yours {getattr(new, 'serial_no', None)})",
                errors.ECODE_STATE,
            )

    def update(self, obj: ConfigObject) -> None:
        if isinstance(obj, Cluster):
            self._update_cluster(obj)
        elif isinstance(obj, Node):
            self._update_named(self._nodes, obj, cluster=True)
        elif isinstance(obj, NodeGroup):
            self._update_named(self._groups, obj, cluster=True)
        elif isinstance(obj, Network):
            self._update_named(self._networks, obj, cluster=True)
        elif isinstance(obj, Instance):
            self._update_instance(obj)
        elif isinstance(obj, Disk):
            self._update_disk(obj)
        else:
            raise errors.ProgrammerError(f"cannot update objects of type {type(obj).__name__}")

    def _update_cluster(self, new: Cluster) -> None:
        old = self._config.cluster
        self._check_current(old, new, "cluster")
        if new.uuid != old.uuid:
            raise errors.OpPrereqError("the cluster UUID cannot change", errors.ECODE_INVAL)
        self._config.cluster = new
        problems = self._config.verify_cluster()
        if problems:
            self._config.cluster = old
            raise _invalid("cluster configuration", problems)
        self._touch((), cluster=True)

    def _update_named(self, kind: _Kind, new: Any, *, cluster: bool) -> None:
        old = kind.get(new.uuid)
        what = f"{kind.label} {old.name!r}"
        self._check_current(old, new, what)
        self._check_name(kind, new.name, new.uuid)
        if isinstance(new, Node) and new.primary_ip != old.primary_ip:
            if new.primary_ip in self._node_ips:
                raise errors.OpPrereqError(
                    f"primary IP {new.primary_ip} is already used by another node",
                    errors.ECODE_NOTUNIQUE,
                )
        self._verify_with(kind.objects, new, what)
        if new.name != old.name:
            del kind.names[old.name]
            kind.names[new.name] = new.uuid
        if isinstance(new, Node) and new.primary_ip != old.primary_ip:
            del self._node_ips[old.primary_ip]
            self._node_ips[new.primary_ip] = new.uuid
        self._touch([new], cluster=cluster)

    def _update_instance(self, new: Instance) -> None:
        old = self.get_instance(new.uuid)
        what = f"instance {old.name!r}"
        self._check_current(old, new, what)
        if new.disks != old.disks:
            raise errors.OpPrereqError(
                f"{what}: change disks with add_instance_disk/remove_instance_disk",
                errors.ECODE_INVAL,
            )
        self._check_name(self._instances, new.name, new.uuid)
        self._check_macs(new)
        self._verify_with(self._config.instances, new, what)
        self._unindex_instance(old)
        self._index_instance(new)
        renamed = new.name != old.name
        if renamed:
            del self._instances.names[old.name]
            self._instances.names[new.name] = new.uuid
        self._touch([new], cluster=renamed)

    def _update_disk(self, new: Disk) -> None:
        old = self.get_disk(new.uuid)
        self._check_current(old, new, f"disk {new.uuid}")
        self._verify_with(self._config.disks, new, f"disk {new.uuid}")
        owner = self._disk_owner.get(new.uuid)
        if owner is not None:
            problems = self._config.verify_objects([owner])
            if problems:
                self._config.disks[new.uuid] = old
                raise _invalid(f"disk {new.uuid}", problems)
        self._touch([new], cluster=False)

    # -- cluster-level operations --

    def set_master_node(self, uuid: str) -> None:
        node = self.get_node(uuid)
        if not node.master_capable or node.offline or node.drained:
            raise errors.OpPrereqError(
                f"node {node.name!r} cannot be master (must be master_capable, online and "
                "not drained)",
                errors.ECODE_STATE,
            )
        touched: list[ConfigObject] = []
        if not node.master_candidate:
            new = node.copy()
            new.master_candidate = True
            self._config.nodes[uuid] = new
            touched.append(new)
        self._config.cluster.master_node = uuid
        self._touch(touched, cluster=True)

    def allocate_drbd_port(self) -> int:
        cluster = self._config.cluster
        if cluster.tcpudp_port_pool:
            port = cluster.tcpudp_port_pool.pop(0)
        else:
            port = cluster.highest_used_port + 1
            if port > constants.LAST_DRBD_PORT:
                raise errors.OpPrereqError("the DRBD port range is exhausted", errors.ECODE_NORES)
            cluster.highest_used_port = port
        self._touch((), cluster=True)
        return port

    # -- DRBD minors (per node) --

    def drbd_minors(self) -> dict[str, dict[int, str]]:
        """Minors in use per node: ``{node_uuid: {minor: disk uuid or reservation owner}}``."""
        used: dict[str, dict[int, str]] = {}
        for disk in self._config.disks.values():
            lid = disk.logical_id
            if disk.dev_type != constants.DT_DRBD8 or not isinstance(lid, list) or len(lid) != 6:
                continue
            used.setdefault(lid[0], {})[lid[3]] = disk.uuid
            used.setdefault(lid[1], {})[lid[4]] = disk.uuid
        for (node, minor), owner in self._drbd_reserved.items():
            used.setdefault(node, {}).setdefault(minor, owner)
        return used

    def allocate_drbd_minors(self, node_uuids: Sequence[str], owner: str) -> list[int]:
        """The lowest free minor on each node, reserved for ``owner`` (a job or instance).

        A node listed twice gets two different minors.  Minors of DRBD disks in the
        configuration are taken; reservations last until :meth:`release_drbd_minors`
        (call it once the disks are in the configuration, or when the job gives up).
        Removing a disk from the configuration frees its minors.
        """
        used = self.drbd_minors()
        out = []
        for node in node_uuids:
            self.get_node(node)
            taken = used.setdefault(node, {})
            minor = 0
            while minor in taken:
                minor += 1
            taken[minor] = owner
            self._drbd_reserved[(node, minor)] = owner
            out.append(minor)
        return out

    def release_drbd_minors(self, owner: str) -> None:
        for key in [k for k, v in self._drbd_reserved.items() if v == owner]:
            del self._drbd_reserved[key]

    def _release_drbd_ports(self, disk_uuids: Iterable[str]) -> None:
        """Return the ports of DRBD disks about to be removed to the cluster's pool."""
        pool = self._config.cluster.tcpudp_port_pool
        for uuid in disk_uuids:
            disk = self._config.disks.get(uuid)
            if disk is None or disk.dev_type != constants.DT_DRBD8:
                continue
            lid = disk.logical_id
            if isinstance(lid, list) and len(lid) == 6 and isinstance(lid[2], int):
                if lid[2] not in pool:
                    pool.append(lid[2])
                    self._touch((), cluster=True)

    def _tag_target(self, kind: str, name_or_uuid: str | None) -> Any:
        if kind == "cluster":
            return self._config.cluster
        kinds = {
            "node": self._nodes,
            "nodegroup": self._groups,
            "instance": self._instances,
            "network": self._networks,
        }
        if kind not in kinds:
            raise errors.OpPrereqError(f"unknown tag kind {kind!r}", errors.ECODE_INVAL)
        if name_or_uuid is None:
            raise errors.OpPrereqError(f"tagging a {kind} needs its name", errors.ECODE_INVAL)
        return kinds[kind].lookup(name_or_uuid)

    @staticmethod
    def _check_tags(tags: Iterable[str]) -> set[str]:
        result = set()
        for tag in tags:
            if not isinstance(tag, str) or not 0 < len(tag) <= MAX_TAG_LEN:
                raise errors.OpPrereqError(f"invalid tag length: {tag!r}", errors.ECODE_INVAL)
            if not _TAG_RE.match(tag):
                raise errors.OpPrereqError(f"invalid characters in tag {tag!r}", errors.ECODE_INVAL)
            result.add(tag)
        return result

    def add_tags(self, kind: str, name_or_uuid: str | None, tags: Iterable[str]) -> None:
        target = self._tag_target(kind, name_or_uuid)
        new_tags = self._check_tags(tags)
        if len(target.tags | new_tags) > MAX_TAGS_PER_OBJ:
            raise errors.OpPrereqError("too many tags", errors.ECODE_INVAL)
        target.tags |= new_tags
        self._touch([target] if kind != "cluster" else [], cluster=kind != "instance")

    def remove_tags(self, kind: str, name_or_uuid: str | None, tags: Iterable[str]) -> None:
        target = self._tag_target(kind, name_or_uuid)
        gone = self._check_tags(tags)
        missing = gone - target.tags
        if missing:
            raise errors.OpPrereqError(
                f"tags not present: {', '.join(sorted(missing))}", errors.ECODE_NOENT
            )
        target.tags -= gone
        self._touch([target] if kind != "cluster" else [], cluster=kind != "instance")

    # -- durability --

    def flush(self) -> Deferred[int]:
        if self._stale:
            d: Deferred[int] = Deferred()
            if self._writing and not self._new_changes:
                # Every change so far is in the write in progress: that one makes it durable.
                self._inflight.append(d)
                return d
            self._waiting.append(d)
            if self._new_changes:
                self._schedule()
            elif not self._writing:
                # A previous write failed and nothing changed since: try again for this caller.
                self._new_changes = True
                self._schedule()
            return d
        if self._writing:
            d = Deferred()
            self._inflight.append(d)
            return d
        return succeed(self._durable_serial)

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def remove_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.remove(listener)

    def _commit(self) -> None:
        self._call = None
        if self._writing or not self._new_changes:
            return
        cfg = self._config
        changed = self._changed
        problems = cfg.verify_cluster() + cfg.verify_objects(changed)
        waiters, self._waiting = self._waiting, []
        if problems:
            # Only reachable when someone changed live objects behind the writer's back.
            self._new_changes = False
            err = verify_error(f"refusing to write {self._store.path}", problems)
            log.error("{error}", error=str(err))
            for d in waiters:
                d.errback(Failure(err))
            return
        try:
            chunks = self._store.serializer.render(cfg, changed)
        except Exception:
            failure = Failure()
            self._new_changes = False
            for d in waiters:
                d.errback(failure)
            return
        serial = cfg.serial_no
        self._changed = set()
        self._new_changes = False
        self._writing = True
        self._inflight = waiters
        self._run_blocking(lambda: self._store.persist(chunks)).addCallbacks(
            self._written, self._write_failed, callbackArgs=(serial, chunks)
        )

    def _written(self, _: None, serial: int, chunks: Sequence[bytes]) -> None:
        self._writing = False
        self._durable_serial = serial
        if not self._new_changes:
            self._stale = False
        inflight, self._inflight = self._inflight, []
        commit = Commit(serial, chunks)
        for listener in list(self._listeners):
            try:
                listener(commit)
            except Exception:
                log.failure("commit listener {listener!r} failed", listener=listener)
        for d in inflight:
            d.callback(serial)
        self._run_blocking(self._store.release_previous).addErrback(
            lambda f: log.failure("cannot remove {path}", f, path=str(self._store.previous_path))
        )
        self._after_write()

    def _write_failed(self, failure: Failure) -> None:
        self._writing = False
        log.failure(
            "writing {path} failed; it keeps its previous content",
            failure,
            path=str(self._store.path),
        )
        inflight, self._inflight = self._inflight, []
        for d in inflight:
            d.errback(failure)
        self._after_write()

    def _after_write(self) -> None:
        if self._new_changes or (self._waiting and self._stale):
            self._new_changes = True
            self._schedule()
