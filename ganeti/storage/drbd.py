"""``drbd`` disks: a DRBD 9 device over two LVs (data + meta) on two nodes.

``logical_id`` is ``[pnode_uuid, snode_uuid, port, p_minor, s_minor, secret]``; the children
are the plain data LV (disk size) and the plain meta LV (128 MiB), the same LV names on both
nodes.  The DRBD node-id of a node is its position in ``logical_id`` (0 or 1), so it does not
change when the instance fails over.  The resource is called ``ganeti-<port>`` (ports are
unique in the cluster and survive a change of secondary).

A disk only says which two nodes it spans, not which of them runs the command, so the master
annotates the disk dict it sends to each node with *dynamic parameters* in ``params``:

* ``local-node``: uuid of the node the call is for (one of the two in ``logical_id``);
* ``local-ip`` / ``remote-ip``: secondary IPs of this node and of the peer;
* ``remote-name``: the peer's node name (DRBD's connection name).

Every command goes through the injected command runner and uses the ``drbdsetup``/``drbdmeta``
syntax of drbd-utils 9 (what ``drbdadm -d up`` prints for :func:`resource_config`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from zope.interface import implementer

from ganeti import constants as C
from ganeti import errors
from ganeti.storage.command import CommandRunner
from ganeti.storage.filestorage import dd_zero
from ganeti.storage.interface import (
    LDISK_FAULTY,
    LDISK_OKAY,
    LDISK_UNKNOWN,
    Assembled,
    BlockDevice,
    DeviceStatus,
    IStorage,
)
from ganeti.storage.lvm import LvmStorage, split_lid

DRBD_MAJOR = 147
HMAC_ALG = "md5"
MAX_PEERS = 1
META_FORMAT = "v09"

# Keys of the per-node annotation the master adds to ``params``.
P_LOCAL_NODE = "local-node"
P_LOCAL_IP = "local-ip"
P_REMOTE_IP = "remote-ip"
P_REMOTE_NAME = "remote-name"
# Set by the master when a new secondary is created: bring the resource up with its peer
# and path configured but without connecting (``drbd_attach_net`` connects later).
P_STANDALONE = "standalone"

_SECRET_RE = re.compile(r"^[A-Za-z0-9_+/=.-]{1,64}$")
_NODE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$")
_SYNCING = frozenset({"SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT"})


@attrs.frozen
class DrbdId:
    """A parsed, checked ``logical_id``."""

    pnode: str
    snode: str
    port: int
    p_minor: int
    s_minor: int
    secret: str

    @property
    def resource(self) -> str:
        return f"ganeti-{self.port}"


def parse_lid(logical_id: Sequence[Any]) -> DrbdId:
    lid = list(logical_id)
    if len(lid) != 6:
        raise errors.BlockDeviceError(
            f"drbd logical_id must be [pnode, snode, port, p_minor, s_minor, secret], got {lid!r}"
        )
    pnode, snode, port, p_minor, s_minor, secret = lid
    if not (isinstance(pnode, str) and pnode and isinstance(snode, str) and snode):
        raise errors.BlockDeviceError("drbd logical_id nodes must be non-empty strings")
    if pnode == snode:
        raise errors.BlockDeviceError("drbd primary and secondary must differ")
    for value, what, low, high in (
        (port, "port", 1, 65535),
        (p_minor, "primary minor", 0, 1048575),
        (s_minor, "secondary minor", 0, 1048575),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise errors.BlockDeviceError(f"invalid drbd {what} {value!r}")
    if not isinstance(secret, str) or not _SECRET_RE.match(secret):
        raise errors.BlockDeviceError("invalid drbd shared secret")
    return DrbdId(pnode, snode, port, p_minor, s_minor, secret)


@attrs.frozen
class Side:
    """One node's view of a DRBD disk: what ``drbdsetup`` needs there."""

    lid: DrbdId
    node_id: int
    minor: int
    local_ip: str
    remote_ip: str
    remote_name: str
    data: tuple[str, str]  # (vg, lv)
    meta: tuple[str, str]

    @property
    def peer_id(self) -> int:
        return 1 - self.node_id

    @property
    def resource(self) -> str:
        return self.lid.resource

    @property
    def dev_path(self) -> str:
        return f"/dev/drbd{self.minor}"

    @property
    def data_path(self) -> str:
        return LvmStorage.dev_path(*self.data)

    @property
    def meta_path(self) -> str:
        return LvmStorage.dev_path(*self.meta)


def _ip(value: Any, what: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise errors.BlockDeviceError(f"drbd disk needs a valid {what}, got {value!r}") from None


def _addr(ip: str, port: int) -> str:
    if ipaddress.ip_address(ip).version == 6:
        return f"ipv6:[{ip}]:{port}"
    return f"ipv4:{ip}:{port}"


def side_of(dev: BlockDevice) -> Side:
    """This node's side of ``dev`` from its logical_id, children and dynamic params."""
    lid = parse_lid(dev.logical_id)
    if len(dev.children) != 2 or any(c.dev_type != C.DT_PLAIN for c in dev.children):
        raise errors.BlockDeviceError("a drbd disk needs two plain children (data, meta)")
    local = dev.params.get(P_LOCAL_NODE)
    if local == lid.pnode:
        node_id, minor = 0, lid.p_minor
    elif local == lid.snode:
        node_id, minor = 1, lid.s_minor
    else:
        raise errors.BlockDeviceError(f"drbd disk is not annotated for a node of {lid.resource}")
    remote_name = dev.params.get(P_REMOTE_NAME)
    if not isinstance(remote_name, str) or not _NODE_NAME_RE.match(remote_name):
        raise errors.BlockDeviceError(f"invalid drbd peer name {remote_name!r}")
    return Side(
        lid=lid,
        node_id=node_id,
        minor=minor,
        local_ip=_ip(dev.params.get(P_LOCAL_IP), "local-ip"),
        remote_ip=_ip(dev.params.get(P_REMOTE_IP), "remote-ip"),
        remote_name=remote_name,
        data=split_lid(dev.children[0].logical_id),
        meta=split_lid(dev.children[1].logical_id),
    )


def _kib(value: Any) -> str:
    return f"{int(value)}k"


def resync_options(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Resync controller settings (disk params, KiB/s and 0.1 s units) as DRBD options."""
    opts = [("resync-rate", _kib(params.get("resync-rate", 61440)))]
    if params.get("dynamic-resync"):
        opts += [
            ("c-plan-ahead", str(int(params.get("c-plan-ahead", 20)))),
            ("c-fill-target", str(int(params.get("c-fill-target", 0)))),
            ("c-delay-target", str(int(params.get("c-delay-target", 1)))),
            ("c-max-rate", _kib(params.get("c-max-rate", 61440))),
            ("c-min-rate", _kib(params.get("c-min-rate", 4096))),
        ]
    return opts


def _protocol(params: Mapping[str, Any]) -> str:
    proto = str(params.get("protocol", "C"))
    if proto not in ("A", "B", "C"):
        raise errors.BlockDeviceError(f"invalid drbd protocol {proto!r}")
    return proto


# --- command lines ----------------------------------------------------------------------


def create_md_argv(side: Side) -> list[str]:
    return [
        "drbdmeta",
        str(side.minor),
        META_FORMAT,
        side.meta_path,
        "flex-external",
        "create-md",
        str(MAX_PEERS),
        "--force",
    ]


def peer_argvs(side: Side, params: Mapping[str, Any]) -> list[list[str]]:
    """The peer of this node (``drbdadm new-peer``, ``new-path``, ``peer-device-options``)."""
    res, peer = side.resource, str(side.peer_id)
    new_peer = [
        "drbdsetup",
        "new-peer",
        res,
        peer,
        f"--_name={side.remote_name}",
        f"--shared-secret={side.lid.secret}",
        f"--cram-hmac-alg={HMAC_ALG}",
        f"--protocol={_protocol(params)}",
    ]
    return [
        new_peer,
        [
            "drbdsetup",
            "new-path",
            res,
            peer,
            _addr(side.local_ip, side.lid.port),
            _addr(side.remote_ip, side.lid.port),
        ],
        [
            "drbdsetup",
            "peer-device-options",
            res,
            peer,
            "0",
            *(f"--{k}={v}" for k, v in resync_options(params)),
        ],
    ]


def up_argvs(side: Side, params: Mapping[str, Any], connect: bool = True) -> list[list[str]]:
    """What ``drbdadm up`` runs: resource, minor, peer, path, resync options, attach, connect.

    ``connect=False`` leaves the connection StandAlone (a new secondary waiting for its
    primary to be re-pointed at it).
    """
    res = side.resource
    out = [
        ["drbdsetup", "new-resource", res, str(side.node_id)],
        ["drbdsetup", "new-minor", res, str(side.minor), "0"],
        *peer_argvs(side, params),
        apply_al_argv(side),
        attach_argv(side),
    ]
    if connect:
        out.append(connect_argv(side))
    return out


def connect_argv(side: Side) -> list[str]:
    return ["drbdsetup", "connect", side.resource, str(side.peer_id)]


def detach_argv(side: Side) -> list[str]:
    return ["drbdsetup", "detach", str(side.minor)]


def apply_al_argv(side: Side) -> list[str]:
    return ["drbdmeta", str(side.minor), META_FORMAT, side.meta_path, "flex-external", "apply-al"]


def attach_argv(side: Side) -> list[str]:
    return ["drbdsetup", "attach", str(side.minor), side.data_path, side.meta_path, "flexible"]


def status_argv(resource: str) -> list[str]:
    return ["drbdsetup", "status", resource, "--verbose", "--statistics"]


# --- status parsing -----------------------------------------------------------------------


@attrs.define
class PeerDeviceState:
    volume: int
    replication: str = "Off"
    peer_disk: str = "DUnknown"
    done: float | None = None


@attrs.define
class ConnectionState:
    name: str
    node_id: int | None = None
    connection: str = "StandAlone"
    role: str = "Unknown"
    peer_devices: list[PeerDeviceState] = attrs.field(factory=list)


@attrs.define
class DeviceState:
    volume: int
    minor: int
    disk: str = "Diskless"
    size: int | None = None  # KiB


@attrs.define
class ResourceState:
    name: str
    node_id: int | None = None
    role: str = "Unknown"
    devices: list[DeviceState] = attrs.field(factory=list)
    connections: list[ConnectionState] = attrs.field(factory=list)


def _fields(tokens: Sequence[str]) -> dict[str, str]:
    out = {}
    for tok in tokens:
        key, sep, value = tok.partition(":")
        if sep:
            out[key] = value
    return out


def _int_or_none(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def parse_status(text: str) -> list[ResourceState]:
    """Parse ``drbdsetup status [--verbose] [--statistics]`` text (DRBD 9).

    Indentation tells the levels: resource (0), its devices and connections (2), the
    connections' peer devices (4); deeper lines are statistics of the line before.
    """
    resources: list[ResourceState] = []
    last: Any = None  # the object statistics lines belong to
    for raw in text.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        tokens = raw.split()
        fields = _fields(tokens)
        named = ":" not in tokens[0]
        if indent == 0:
            if not named:
                raise errors.BlockDeviceError(f"unexpected drbd status line {raw!r}")
            res = ResourceState(
                tokens[0], _int_or_none(fields.get("node-id")), fields.get("role", "Unknown")
            )
            resources.append(res)
            last = res
            continue
        if not resources:
            raise errors.BlockDeviceError(f"drbd status line before a resource: {raw!r}")
        res = resources[-1]
        if named and indent <= 2:
            conn = ConnectionState(
                tokens[0],
                _int_or_none(fields.get("node-id")),
                fields.get("connection", "StandAlone"),
                fields.get("role", "Unknown"),
            )
            res.connections.append(conn)
            last = conn
        elif "volume" in fields and indent <= 2:
            dev = DeviceState(
                int(fields["volume"]),
                int(fields.get("minor", "-1")),
                fields.get("disk", "Diskless"),
                _int_or_none(fields.get("size")),
            )
            res.devices.append(dev)
            last = dev
        elif "volume" in fields and indent <= 4 and res.connections:
            done = fields.get("done")
            pdev = PeerDeviceState(
                int(fields["volume"]),
                fields.get("replication", "Off"),
                fields.get("peer-disk", "DUnknown"),
                float(done) if done is not None else None,
            )
            res.connections[-1].peer_devices.append(pdev)
            last = pdev
        elif isinstance(last, DeviceState) and "size" in fields:
            last.size = _int_or_none(fields["size"])
        elif isinstance(last, PeerDeviceState) and "done" in fields:
            last.done = float(fields["done"])
    return resources


def device_status(res: ResourceState, minor: int) -> DeviceStatus:
    """Ganeti's view (degraded, local disk state, sync progress) of one volume."""
    dev = next((d for d in res.devices if d.minor == minor), None)
    if dev is None:
        raise errors.BlockDeviceError(f"drbd resource {res.name} has no minor {minor}")
    peer = None
    conn = res.connections[0] if res.connections else None
    if conn is not None:
        peer = next((p for p in conn.peer_devices if p.volume == dev.volume), None)
    connected = conn is not None and conn.connection == "Connected"
    syncing = peer is not None and peer.replication in _SYNCING
    if dev.disk == "UpToDate":
        ldisk = LDISK_OKAY
    elif syncing and dev.disk == "Inconsistent":
        ldisk = LDISK_UNKNOWN
    else:
        ldisk = LDISK_FAULTY
    # Ganeti's meaning: this side cannot serve data on its own (no connection, or its
    # local disk is not UpToDate).  A peer that is resyncing or diskless does not make
    # *this* side degraded; its own status says so.
    degraded = not connected or dev.disk != "UpToDate"
    return DeviceStatus(
        f"/dev/drbd{minor}",
        major=DRBD_MAJOR,
        minor=minor,
        sync_percent=peer.done if syncing and peer is not None else None,
        is_degraded=degraded,
        ldisk_status=ldisk,
        size=(dev.size // 1024) if dev.size is not None else 0,
    )


def _missing(text: str) -> bool:
    low = text.lower()
    return "no such resource" in low or "unknown resource" in low or "not defined" in low


# --- the driver -----------------------------------------------------------------------------


@implementer(IStorage)
class DrbdStorage:
    dev_type = C.DT_DRBD8

    def __init__(self, runner: CommandRunner, lvm: LvmStorage) -> None:
        self.runner = runner
        self.lvm = lvm

    async def _run(self, argv: Sequence[str]) -> None:
        (await self.runner(argv)).check()

    async def _up(self, side: Side, params: Mapping[str, Any]) -> None:
        for argv in up_argvs(side, params, connect=not params.get(P_STANDALONE)):
            await self._run(argv)

    async def resource_state(self, resource: str) -> ResourceState | None:
        res = await self.runner(status_argv(resource))
        if res.failed:
            if _missing(res.stderr + res.stdout):
                return None
            res.check()
        for state in parse_status(res.stdout):
            if state.name == resource:
                return state
        return None

    async def create(self, dev: BlockDevice, size: int, exclusive_storage: bool) -> Assembled:
        side = side_of(dev)
        if size <= 0:
            raise errors.BlockDeviceError(f"invalid size {size} MiB")
        if await self.resource_state(side.resource) is not None:
            raise errors.BlockDeviceError(f"drbd resource {side.resource} already exists")
        data, meta = dev.children
        await self.lvm.create(data, data.size or size, exclusive_storage)
        try:
            await self.lvm.create(meta, meta.size or C.DRBD_META_SIZE, exclusive_storage)
            await self._run(create_md_argv(side))
            await self._up(side, dev.params)
        except BaseException:
            await self._teardown(side, dev)
            raise
        return Assembled(side.dev_path)

    async def _teardown(self, side: Side, dev: BlockDevice) -> None:
        """Best effort after a failed create: resource down, both LVs removed."""
        await self.runner(["drbdsetup", "down", side.resource])
        for child in dev.children:
            try:
                await self.lvm.remove(child)
            except errors.BlockDeviceError:
                pass

    async def assemble(self, dev: BlockDevice) -> Assembled:
        """Bring the resource up as Secondary (see :meth:`set_primary`) unless it is up."""
        side = side_of(dev)
        state = await self.resource_state(side.resource)
        if state is None:
            await self._up(side, dev.params)
        else:
            local = next((d for d in state.devices if d.minor == side.minor), None)
            if local is None:
                raise errors.BlockDeviceError(
                    f"drbd resource {side.resource} is up without minor {side.minor}"
                )
            if local.disk == "Diskless":
                await self._run(apply_al_argv(side))
                await self._run(attach_argv(side))
            conns = state.connections
            standalone = not conns or conns[0].connection == "StandAlone"
            if standalone and not dev.params.get(P_STANDALONE):
                await self._run(connect_argv(side))
        return Assembled(side.dev_path)

    async def set_primary(self, dev: BlockDevice, force: bool = False) -> None:
        side = side_of(dev)
        argv = ["drbdsetup", "primary", side.resource]
        if force:
            argv.append("--force")
        await self._run(argv)

    async def set_secondary(self, dev: BlockDevice) -> None:
        await self._run(["drbdsetup", "secondary", side_of(dev).resource])

    async def disconnect_net(self, dev: BlockDevice) -> None:
        side = side_of(dev)
        res = await self.runner(["drbdsetup", "disconnect", side.resource, str(side.peer_id)])
        if res.failed and not _missing(res.stderr + res.stdout):
            res.check()

    async def attach_net(self, dev: BlockDevice, multimaster: bool) -> None:
        """Connect to the peer the disk dict names, in single- or dual-primary mode.

        After a change of secondary the resource may still know the old peer (same
        node-id, another name and address): that peer is deleted and the new one added
        first, like ``drbdadm adjust`` would.
        """
        side = side_of(dev)
        peer = str(side.peer_id)
        state = await self.resource_state(side.resource)
        if state is None:
            raise errors.BlockDeviceError(f"drbd resource {side.resource} is not up")
        conn = next(
            (c for c in state.connections if c.node_id in (None, side.peer_id)),
            None,
        )
        if conn is None or conn.name != side.remote_name:
            if conn is not None:
                await self._run(["drbdsetup", "del-peer", side.resource, peer])
            for argv in peer_argvs(side, dev.params):
                await self._run(argv)
        flag = "yes" if multimaster else "no"
        await self._run(
            ["drbdsetup", "net-options", side.resource, peer, f"--allow-two-primaries={flag}"]
        )
        if conn is None or conn.name != side.remote_name or conn.connection == "StandAlone":
            await self._run(connect_argv(side))

    async def remove_children(self, dev: BlockDevice, children: Sequence[BlockDevice]) -> None:
        """Detach the local backing LVs (data, meta) from the running resource.

        The resource keeps running diskless (a Primary reads and writes through its peer).
        ``children`` must be the disk's current data and meta LVs.
        """
        side = side_of(dev)
        names = [split_lid(c.logical_id) for c in children]
        if names != [side.data, side.meta]:
            raise errors.BlockDeviceError(
                f"{names!r} are not the backing volumes of {side.resource} "
                f"({[side.data, side.meta]!r})"
            )
        state = await self.resource_state(side.resource)
        if state is None:
            raise errors.BlockDeviceError(f"drbd resource {side.resource} is not up")
        local = next((d for d in state.devices if d.minor == side.minor), None)
        if local is None or local.disk == "Diskless":
            return  # nothing attached
        await self._run(detach_argv(side))

    async def add_children(self, dev: BlockDevice, children: Sequence[BlockDevice]) -> None:
        """Attach new (empty) backing LVs to a diskless resource: fresh meta data, attach.

        DRBD then resyncs the whole disk from the peer.
        """
        if len(children) != 2 or any(c.dev_type != C.DT_PLAIN for c in children):
            raise errors.BlockDeviceError("new drbd children must be two plain LVs (data, meta)")
        side = attrs.evolve(
            side_of(dev),
            data=split_lid(children[0].logical_id),
            meta=split_lid(children[1].logical_id),
        )
        state = await self.resource_state(side.resource)
        if state is None:
            raise errors.BlockDeviceError(f"drbd resource {side.resource} is not up")
        local = next((d for d in state.devices if d.minor == side.minor), None)
        if local is None:
            raise errors.BlockDeviceError(
                f"drbd resource {side.resource} has no minor {side.minor}"
            )
        if local.disk != "Diskless":
            raise errors.BlockDeviceError(
                f"drbd minor {side.minor} still has a local disk ({local.disk}); detach it first"
            )
        await self._run(create_md_argv(side))
        await self._run(apply_al_argv(side))
        await self._run(attach_argv(side))

    async def shutdown(self, dev: BlockDevice) -> None:
        side = side_of(dev)
        res = await self.runner(["drbdsetup", "down", side.resource])
        if res.failed and not _missing(res.stderr + res.stdout):
            res.check()

    async def remove(self, dev: BlockDevice) -> None:
        await self.shutdown(dev)
        for child in dev.children:
            await self.lvm.remove(child)

    async def find(self, dev: BlockDevice) -> DeviceStatus | None:
        side = side_of(dev)
        state = await self.resource_state(side.resource)
        if state is None:
            return None
        return device_status(state, side.minor)

    async def grow(self, dev: BlockDevice, amount: int, dryrun: bool, backingstore: bool) -> None:
        """``backingstore``: grow the data LV; else let DRBD take the new size (``resize``)."""
        side = side_of(dev)
        if amount < 0:
            raise errors.BlockDeviceError("cannot shrink a disk")
        if backingstore:
            await self.lvm.grow(dev.children[0], amount, dryrun, backingstore)
            return
        if dryrun:
            return
        await self._run(["drbdsetup", "resize", str(side.minor)])
        await self._run(["drbdsetup", "check-resize", str(side.minor)])

    async def rename(self, dev: BlockDevice, new_logical_id: list[Any]) -> None:
        # A DRBD identity lives in the configuration; an active device cannot change it.
        parse_lid(new_logical_id)
        if await self.find(dev) is not None:
            raise errors.BlockDeviceError("cannot rename an active drbd device")

    async def wipe(self, dev: BlockDevice, offset: int, size: int) -> None:
        await dd_zero(self.runner, side_of(dev).dev_path, offset, size)


# --- drbdadm configuration text (for dry-run checks and operators) ----------------------


@attrs.frozen
class NodeAddr:
    name: str
    ip: str


def resource_config(
    dev: BlockDevice,
    pnode: NodeAddr,
    snode: NodeAddr,
    params: Mapping[str, Any] | None = None,
) -> str:
    """A drbd.conf resource section equivalent to what :class:`DrbdStorage` sets up.

    ``drbdadm -c FILE -d up ganeti-<port>`` on either node prints the same ``drbdsetup`` and
    ``drbdmeta`` calls as :func:`up_argvs` for that node.
    """
    lid = parse_lid(dev.logical_id)
    if len(dev.children) != 2:
        raise errors.BlockDeviceError("a drbd disk needs two plain children (data, meta)")
    data = LvmStorage.dev_path(*split_lid(dev.children[0].logical_id))
    meta = LvmStorage.dev_path(*split_lid(dev.children[1].logical_id))
    p = dict(dev.params if params is None else params)
    for node in (pnode, snode):
        _ip(node.ip, f"address of {node.name}")
        if not _NODE_NAME_RE.match(node.name):
            raise errors.BlockDeviceError(f"invalid node name {node.name!r}")
    resync = " ".join(f"{k} {v};" for k, v in resync_options(p))
    lines = [
        f"resource {lid.resource} {{",
        f"  net {{ protocol {_protocol(p)}; cram-hmac-alg {HMAC_ALG}; "
        f'shared-secret "{lid.secret}"; }}',
        f"  disk {{ {resync} }}",
    ]
    for node_id, (node, minor) in enumerate(((pnode, lid.p_minor), (snode, lid.s_minor))):
        ip = ipaddress.ip_address(node.ip)
        family = "ipv6" if ip.version == 6 else "ipv4"
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        lines.append(
            f"  on {node.name} {{ node-id {node_id}; device minor {minor}; disk {data}; "
            f"meta-disk {meta}; address {family} {host}:{lid.port}; }}"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def annotate(disk: Mapping[str, Any], local: str, nodes: Mapping[str, NodeAddr]) -> dict[str, Any]:
    """The disk dict for node ``local``: params get the dynamic (per-node) DRBD keys.

    ``nodes`` maps node uuid to name and secondary IP for both nodes of the disk.
    """
    out = dict(disk)
    lid = list(out.get("logical_id") or [])
    if len(lid) != 6 or local not in lid[:2]:
        raise errors.BlockDeviceError(f"node {local} is not a node of drbd disk {lid!r}")
    remote = lid[1] if local == lid[0] else lid[0]
    params = dict(out.get("params") or {})
    params.update(
        {
            P_LOCAL_NODE: local,
            P_LOCAL_IP: nodes[local].ip,
            P_REMOTE_IP: nodes[remote].ip,
            P_REMOTE_NAME: nodes[remote].name,
        }
    )
    out["params"] = params
    return out
