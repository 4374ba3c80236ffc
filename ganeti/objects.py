"""Configuration objects: the cluster, its node groups, nodes, instances, disks and networks.

Each object maps one-to-one onto a dict in ``config.data``.  Objects hold only their own
*overrides* of parameters; the ``fill_*`` methods of :class:`Cluster` compute the effective
values along the inheritance chains (cluster -> group -> node/instance).

Serialisation rules (``to_dict``/``from_dict``):

* keys whose value is ``None`` are omitted, as Ganeti does;
* keys holding an *empty* container (``{}``, ``[]``, no tags) are omitted too, except in
  the cluster object: they read back as the same empty default, and dropping them makes a
  20,000-instance file about a fifth smaller, which is what commit latency and load time
  scale with.  ``forthcoming`` is likewise written only when true (older Ganeti files
  lack it).  Embedded DRBD children carry no ``serial_no``/``ctime``/``mtime``;
* tag sets are written as sorted lists;
* keys this code does not know are **preserved** in ``extra`` and written back unchanged,
  so a replica never silently drops data written by a newer version.  Two keys are
  deliberately dropped on load because they are derived: ``Instance.disk_template`` and
  ``NodeGroup.members``.

The objects are plain mutable records and perform no validation on construction (loading a
large config must be fast); :meth:`ConfigData.verify` reports every problem at once.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Self, cast

import attrs

from ganeti import constants

JsonDict = dict[str, Any]

_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_MAC_PREFIX_RE = re.compile(r"^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$")

# Keys never stored, because they are derived from other data.
_DERIVED_KEYS: dict[str, frozenset[str]] = {
    "Instance": frozenset({"disk_template"}),
    "NodeGroup": frozenset({"members"}),
}


_CONTAINERS = frozenset({dict, list, set})

# Lookups used once per object by the checks below.
_DISK_DEV_TYPES = frozenset(constants.DISK_TEMPLATES) - {constants.DT_DISKLESS}
_ONE_NODE_TYPES = frozenset({constants.DT_PLAIN, constants.DT_FILE})
_PRIMARY_ON_DISK_TYPES = frozenset({constants.DT_PLAIN, constants.DT_DRBD8, constants.DT_FILE})
_HYPER_TYPES = frozenset(constants.HYPER_TYPES)
_NESTED_SKIP = frozenset({"serial_no", "ctime", "mtime"})


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def fill_dict(
    defaults: Mapping[str, Any], custom: Mapping[str, Any], skip_keys: Iterable[str] = ()
) -> JsonDict:
    """A deep copy of ``defaults`` updated with ``custom``, minus ``skip_keys``."""
    result = copy.deepcopy(dict(defaults))
    result.update(copy.deepcopy(dict(custom)))
    for key in skip_keys:
        result.pop(key, None)
    return result


def fill_ipolicy(defaults: Mapping[str, Any], custom: Mapping[str, Any]) -> JsonDict:
    """Group policy over cluster policy: ``std`` merges key-wise, everything else replaces."""
    result = copy.deepcopy(dict(defaults))
    for key, value in custom.items():
        if key == constants.ISPECS_STD:
            result[key] = fill_dict(result.get(key, {}), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def upgrade_beparams(params: Mapping[str, Any]) -> JsonDict:
    """Map the legacy ``memory`` key onto ``minmem``/``maxmem``."""
    result = dict(params)
    if constants.BE_MEMORY in result:
        mem = result.pop(constants.BE_MEMORY)
        result.setdefault(constants.BE_MAXMEM, mem)
        result.setdefault(constants.BE_MINMEM, mem)
    return result


def valid_mac(mac: object) -> bool:
    return isinstance(mac, str) and _MAC_RE.match(mac) is not None


def valid_mac_prefix(prefix: object) -> bool:
    return isinstance(prefix, str) and _MAC_PREFIX_RE.match(prefix) is not None


def valid_ip(addr: object, family: int | None = None) -> bool:
    if not isinstance(addr, str):
        return False
    try:
        parsed = ipaddress.ip_address(addr)
    except ValueError:
        return False
    if family == constants.IP4_FAMILY:
        return parsed.version == 4
    if family == constants.IP6_FAMILY:
        return parsed.version == 6
    return True


class ConfigObject:
    """Shared serialisation for the attrs records below.

    Subclasses list nested object fields in ``_NESTED`` (field name -> class, the value
    being a list of such objects).  ``extra`` holds unknown keys, preserved verbatim.
    """

    _NESTED: ClassVar[dict[str, type[ConfigObject]]] = {}
    _SPARSE: ClassVar[bool] = True
    _names_cache: ClassVar[dict[type, tuple[frozenset[str], tuple[str, ...]]]] = {}

    extra: JsonDict

    @classmethod
    def _field_names(cls) -> tuple[frozenset[str], tuple[str, ...]]:
        cached = ConfigObject._names_cache.get(cls)
        if cached is None:
            names = tuple(f.name for f in attrs.fields(cast(Any, cls)) if f.name != "extra")
            cached = (frozenset(names), names)
            ConfigObject._names_cache[cls] = cached
        return cached

    def to_dict(self, *, nested: bool = False) -> JsonDict:
        """The ``config.data`` form.  Containers are shared with the object, not copied.

        ``nested`` is set for objects embedded in another one (DRBD children), which carry
        no serial number or timestamps of their own.
        """
        out: JsonDict = {}
        subs = self._NESTED
        sparse = self._SPARSE
        skip = _NESTED_SKIP if nested else ()
        for name in self._field_names()[1]:
            value = getattr(self, name)
            if value is None or name in skip:
                continue
            if not value and sparse and (value.__class__ in _CONTAINERS or name == "forthcoming"):
                continue
            if value.__class__ is set:
                value = sorted(value)
            elif name in subs:
                value = [item.to_dict(nested=True) for item in value]
            out[name] = value
        if self.extra:
            for key, value in self.extra.items():
                out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls.load_dict(data)[0]

    @classmethod
    def load_dict(cls, data: Mapping[str, Any], *, nested: bool = False) -> tuple[Self, bool]:
        """Build from a ``config.data`` dict; also say whether ``data`` is *canonical*.

        Canonical means ``to_dict(nested=nested)`` of the result equals ``data`` key for key
        with the very same values (so encoding ``data`` gives the bytes encoding the object
        would).  Loading needs no validation per field: :meth:`ConfigData.verify` checks.
        """
        return cast(tuple[Self, bool], _loader(cls, nested)(data))

    @classmethod
    def _from_dict_slow(cls, data: Mapping[str, Any]) -> Self:
        known, _ = cls._field_names()
        derived = _DERIVED_KEYS.get(cls.__name__, frozenset())
        nested = cls._NESTED
        kwargs: JsonDict = {}
        extra: JsonDict = {}
        for key, value in data.items():
            if key in known:
                if value is None:
                    continue
                if key == "tags":
                    value = set(value)
                elif key in nested:
                    sub = nested[key]
                    value = [sub.from_dict(item) for item in value]
                kwargs[key] = value
            elif key not in derived:
                extra[key] = value
        obj = cls(**kwargs)
        obj.extra = extra
        return obj

    def copy(self) -> Self:
        """A deep, independent copy (what :meth:`IConfigWriter.update` expects)."""
        return self.from_dict(copy.deepcopy(self.to_dict()))


_Loader = Callable[[Mapping[str, Any]], tuple[ConfigObject, bool]]
_LOADERS: dict[type, tuple[_Loader, _Loader]] = {}


def _loader(cls: type[ConfigObject], nested: bool) -> _Loader:
    loaders = _LOADERS.get(cls)
    if loaders is None:
        loaders = _LOADERS[cls] = (_make_loader(cls, False), _make_loader(cls, True))
    return loaders[nested]


def _sorted_unique(items: list[Any], as_set: set[Any]) -> bool:
    """Whether writing ``as_set`` back (sorted) reproduces ``items``."""
    try:
        return items == sorted(as_set)
    except TypeError:
        return False


def _make_loader(cls: type[ConfigObject], nested: bool) -> _Loader:
    """Generate ``cls``'s loader: one straight-line function per class, no per-key loop.

    A config holds ~100,000 objects, so this is the hot path of loading.  The function
    sets every field (``None`` and missing keys give the default), sends dicts with keys
    it does not model to :meth:`ConfigObject._from_dict_slow`, and counts the keys that
    :meth:`ConfigObject.to_dict` would write back unchanged; the dict is canonical when
    that count is all of its keys and no default that ``to_dict`` writes was filled in.
    """
    sparse = cls._SPARSE
    ns: dict[str, Any] = {
        "KNOWN": cls._field_names()[0],
        "CONTAINERS": _CONTAINERS,
        "new": object.__new__,
        "cls": cls,
        "slow": cls._from_dict_slow,
        "sorted_unique": _sorted_unique,
    }
    lines = [
        "def load(data):",
        "    if not data.keys() <= KNOWN:",
        "        return slow(data), False",
        "    get = data.get",
        "    self = new(cls)",
        "    n = 0",
        "    ok = True",
    ]
    for field in attrs.fields(cast(Any, cls)):
        name = field.name
        if name == "extra":
            continue
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            ns[f"F_{name}"] = default.factory
            default_expr = f"F_{name}()"
            sample = default.factory()
        else:
            ns[f"D_{name}"] = default
            default_expr = f"D_{name}"
            sample = default
        skipped = nested and name in _NESTED_SKIP  # to_dict(nested=True) never writes it
        written = sample is not None and not skipped
        if sparse and not sample and (sample.__class__ in _CONTAINERS or name == "forthcoming"):
            written = False
        lines += [
            f"    v = get({name!r})",
            "    if v is None:",
            f"        self.{name} = {default_expr}",
        ]
        if written:
            lines.append("        ok = False")
        lines.append("    else:")
        if skipped:
            lines += [f"        self.{name} = v", "        ok = False"]
        elif name == "tags":
            cond = "v.__class__ is list" + (" and v" if sparse else "")
            lines += [
                "        s = set(v)",
                f"        self.{name} = s",
                f"        if {cond} and sorted_unique(v, s):",
                "            n += 1",
            ]
        elif name in cls._NESTED:
            ns[f"L_{name}"] = cls._NESTED[name].load_dict
            cond = "v.__class__ is list" + (" and v" if sparse else "")
            lines += [
                "        items = []",
                "        for item in v:",
                f"            sub, good = L_{name}(item, nested=True)",
                "            items.append(sub)",
                "            if not good:",
                "                ok = False",
                f"        self.{name} = items",
                f"        if {cond}:",
                "            n += 1",
            ]
        else:
            if not sparse:
                cond = "True"
            elif name == "forthcoming":
                cond = "v"
            else:
                cond = "v or v.__class__ not in CONTAINERS"
            lines += [f"        self.{name} = v", f"        if {cond}:", "            n += 1"]
    lines += ["    self.extra = {}", "    return self, ok and n == len(data)"]
    exec("\n".join(lines), ns)  # source generated above from the attrs fields
    loader: _Loader = ns["load"]
    return loader


def _tags() -> set[str]:
    return set()


@attrs.define(eq=False)
class NIC(ConfigObject):
    uuid: str = attrs.field(factory=new_uuid)
    name: str | None = None
    mac: str = ""
    ip: str | None = None
    network: str | None = None
    nicparams: JsonDict = attrs.field(factory=dict)
    pci: int | None = None
    hvinfo: JsonDict | None = None
    extra: JsonDict = attrs.field(factory=dict)


@attrs.define(eq=False)
class Disk(ConfigObject):
    uuid: str = attrs.field(factory=new_uuid)
    name: str | None = None
    dev_type: str = constants.DT_PLAIN
    logical_id: list[Any] | None = None
    children: list[Disk] = attrs.field(factory=list)
    nodes: list[str] = attrs.field(factory=list)
    iv_name: str | None = None
    size: int = 0
    mode: str = constants.DISK_RDWR
    params: JsonDict = attrs.field(factory=dict)
    spindles: int | None = None
    forthcoming: bool = False
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    extra: JsonDict = attrs.field(factory=dict)

    def problems(self, *, child: bool = False) -> list[str]:
        """Problems visible from the disk alone (references are checked by ConfigData).

        DRBD children are plain LVs that exist on both DRBD nodes, hence ``child``.
        """
        out: list[str] = []
        dev_type = self.dev_type
        if dev_type not in _DISK_DEV_TYPES:
            out.append(f"invalid dev_type {dev_type!r}")
        if self.mode not in constants.VALID_DISK_MODES:
            out.append(f"invalid mode {self.mode!r}")
        size = self.size
        if not (size.__class__ is int or (isinstance(size, int) and size.__class__ is not bool)):
            out.append(f"invalid size {size!r}")
        elif size < 0:
            out.append(f"invalid size {size!r}")
        lid = self.logical_id
        nodes = self.nodes
        if dev_type == constants.DT_DRBD8:
            if not isinstance(lid, list) or len(lid) != 6:
                out.append("DRBD logical_id must have 6 elements")
            elif lid[:2] != list(nodes):
                out.append("DRBD logical_id nodes differ from the disk's nodes")
            elif not (
                isinstance(lid[2], int)
                and constants.FIRST_DRBD_PORT <= lid[2] <= constants.LAST_DRBD_PORT
            ):
                out.append(f"DRBD port {lid[2]!r} outside the allowed range")
            if len(nodes) != 2 or nodes[0] == nodes[1]:
                out.append("DRBD disk needs two distinct nodes")
            if len(self.children) != 2:
                out.append("DRBD disk needs two children (data and meta)")
        elif dev_type in _ONE_NODE_TYPES and not child:
            if len(nodes) != 1:
                out.append(f"{dev_type} disk must live on exactly one node")
        if lid is not None and not isinstance(lid, list):
            out.append("logical_id must be a list")
        for sub in self.children:
            found = sub.problems(child=True)
            if found:
                out.extend(f"child {sub.uuid}: {p}" for p in found)
        return out


Disk._NESTED = {"children": Disk}


@attrs.define(eq=False)
class Node(ConfigObject):
    uuid: str = attrs.field(factory=new_uuid)
    name: str = ""
    primary_ip: str = ""
    secondary_ip: str | None = None
    group: str = ""
    master_candidate: bool = False
    offline: bool = False
    drained: bool = False
    master_capable: bool = True
    vm_capable: bool = True
    powered: bool = True
    ndparams: JsonDict = attrs.field(factory=dict)
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    tags: set[str] = attrs.field(factory=_tags)
    hv_state_static: JsonDict = attrs.field(factory=dict)
    disk_state_static: JsonDict = attrs.field(factory=dict)
    extra: JsonDict = attrs.field(factory=dict)

    @property
    def role(self) -> str:
        """Ganeti's one-letter role name minus the master: C, D, O or R."""
        if self.master_candidate:
            return "C"
        if self.drained:
            return "D"
        if self.offline:
            return "O"
        return "R"

    def problems(self) -> list[str]:
        out: list[str] = []
        if not self.name:
            out.append("empty name")
        if not valid_ip(self.primary_ip):
            out.append(f"invalid primary_ip {self.primary_ip!r}")
        if self.secondary_ip is not None and not valid_ip(self.secondary_ip):
            out.append(f"invalid secondary_ip {self.secondary_ip!r}")
        if sum((self.master_candidate, self.drained, self.offline)) > 1:
            out.append("more than one of master_candidate/drained/offline is set")
        if self.master_candidate and not self.master_capable:
            out.append("master candidate but not master_capable")
        return out


@attrs.define(eq=False)
class NodeGroup(ConfigObject):
    uuid: str = attrs.field(factory=new_uuid)
    name: str = ""
    alloc_policy: str = constants.ALLOC_POLICY_PREFERRED
    ndparams: JsonDict = attrs.field(factory=dict)
    diskparams: JsonDict = attrs.field(factory=dict)
    ipolicy: JsonDict = attrs.field(factory=dict)
    networks: dict[str, JsonDict] = attrs.field(factory=dict)
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    tags: set[str] = attrs.field(factory=_tags)
    hv_state_static: JsonDict = attrs.field(factory=dict)
    disk_state_static: JsonDict = attrs.field(factory=dict)
    extra: JsonDict = attrs.field(factory=dict)


@attrs.define(eq=False)
class Instance(ConfigObject):
    _NESTED: ClassVar[dict[str, type[ConfigObject]]] = {"nics": NIC}

    uuid: str = attrs.field(factory=new_uuid)
    name: str = ""
    primary_node: str = ""
    os: str = ""
    hypervisor: str = constants.HT_FAKE
    hvparams: JsonDict = attrs.field(factory=dict)
    beparams: JsonDict = attrs.field(factory=dict)
    osparams: JsonDict = attrs.field(factory=dict)
    osparams_private: JsonDict = attrs.field(factory=dict)
    admin_state: str = constants.ADMINST_DOWN
    admin_state_source: str = constants.ADMIN_SOURCE
    nics: list[NIC] = attrs.field(factory=list)
    disks: list[str] = attrs.field(factory=list)
    disks_active: bool = False
    network_port: int | None = None
    forthcoming: bool = False
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    tags: set[str] = attrs.field(factory=_tags)
    extra: JsonDict = attrs.field(factory=dict)

    @property
    def os_name(self) -> str:
        """OS name without the ``+variant`` suffix."""
        return self.os.split("+", 1)[0]

    def problems(self) -> list[str]:
        out: list[str] = []
        if not self.name:
            out.append("empty name")
        if self.hypervisor not in _HYPER_TYPES:
            out.append(f"unknown hypervisor {self.hypervisor!r}")
        if self.admin_state not in constants.ADMINST_ALL:
            out.append(f"invalid admin_state {self.admin_state!r}")
        if self.admin_state_source not in constants.VALID_ADMIN_SOURCES:
            out.append(f"invalid admin_state_source {self.admin_state_source!r}")
        disks = self.disks
        if len(disks) > 1 and len(set(disks)) != len(disks):
            out.append("a disk is listed twice")
        for idx, nic in enumerate(self.nics):
            mac = nic.mac
            if not (isinstance(mac, str) and _MAC_RE.match(mac)):
                out.append(f"nic/{idx}: invalid MAC {mac!r}")
            if nic.ip is not None and not valid_ip(nic.ip):
                out.append(f"nic/{idx}: invalid IP {nic.ip!r}")
            if nic.nicparams:
                mode = nic.nicparams.get(constants.NIC_MODE)
                if mode is not None and mode not in constants.NIC_VALID_MODES:
                    out.append(f"nic/{idx}: invalid mode {mode!r}")
        if self.hvparams and not constants.HVC_GLOBALS.isdisjoint(self.hvparams):
            for key in self.hvparams:
                if key in constants.HVC_GLOBALS:
                    out.append(f"hypervisor parameter {key!r} can only be set cluster-wide")
        return out


@attrs.define(eq=False)
class Network(ConfigObject):
    uuid: str = attrs.field(factory=new_uuid)
    name: str = ""
    network: str = ""
    gateway: str | None = None
    network6: str | None = None
    gateway6: str | None = None
    mac_prefix: str | None = None
    reservations: str | None = None
    ext_reservations: str | None = None
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    tags: set[str] = attrs.field(factory=_tags)
    extra: JsonDict = attrs.field(factory=dict)

    def problems(self) -> list[str]:
        out: list[str] = []
        if not self.name:
            out.append("empty name")
        try:
            net = ipaddress.IPv4Network(self.network)
        except ValueError:
            return [*out, f"invalid IPv4 network {self.network!r}"]
        if self.gateway is not None and (
            not valid_ip(self.gateway, constants.IP4_FAMILY)
            or ipaddress.IPv4Address(self.gateway) not in net
        ):
            out.append(f"gateway {self.gateway!r} is not inside {self.network}")
        if self.network6 is not None:
            try:
                ipaddress.IPv6Network(self.network6)
            except ValueError:
                out.append(f"invalid IPv6 network {self.network6!r}")
        if self.gateway6 is not None and not valid_ip(self.gateway6, constants.IP6_FAMILY):
            out.append(f"invalid IPv6 gateway {self.gateway6!r}")
        if self.mac_prefix is not None and not valid_mac_prefix(self.mac_prefix):
            out.append(f"invalid mac_prefix {self.mac_prefix!r}")
        for key in ("reservations", "ext_reservations"):
            value = getattr(self, key)
            if value is None:
                continue
            if len(value) != net.num_addresses or value.strip("01"):
                out.append(f"{key} must be {net.num_addresses} characters of 0/1")
        return out


@attrs.define
class IPolicy:
    """A complete (filled) instance policy; config files keep policies as plain dicts."""

    minmax: list[dict[str, dict[str, int]]]
    std: dict[str, int]
    disk_templates: list[str]
    vcpu_ratio: float
    spindle_ratio: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IPolicy:
        return cls(
            minmax=copy.deepcopy(data[constants.ISPECS_MINMAX]),
            std=dict(data[constants.ISPECS_STD]),
            disk_templates=list(data[constants.IPOLICY_DTS]),
            vcpu_ratio=float(data[constants.IPOLICY_VCPU_RATIO]),
            spindle_ratio=float(data[constants.IPOLICY_SPINDLE_RATIO]),
        )

    def to_dict(self) -> JsonDict:
        return {
            constants.ISPECS_MINMAX: copy.deepcopy(self.minmax),
            constants.ISPECS_STD: dict(self.std),
            constants.IPOLICY_DTS: list(self.disk_templates),
            constants.IPOLICY_VCPU_RATIO: self.vcpu_ratio,
            constants.IPOLICY_SPINDLE_RATIO: self.spindle_ratio,
        }

    def problems(self) -> list[str]:
        """Sanity: every spec complete and numeric, min <= max, std within one min/max pair."""
        out: list[str] = []
        params = constants.ISPECS_PARAMETERS
        if not self.minmax:
            out.append("minmax is empty")
        for idx, pair in enumerate(self.minmax):
            lo, hi = pair.get(constants.ISPECS_MIN), pair.get(constants.ISPECS_MAX)
            if not isinstance(lo, dict) or not isinstance(hi, dict):
                out.append(f"minmax[{idx}] needs both min and max")
                continue
            for p in params:
                if not isinstance(lo.get(p), int) or not isinstance(hi.get(p), int):
                    out.append(f"minmax[{idx}]: {p} missing or not an integer")
                elif lo[p] > hi[p]:
                    out.append(f"minmax[{idx}]: min {p} {lo[p]} > max {hi[p]}")
        missing = [p for p in params if not isinstance(self.std.get(p), int)]
        if missing:
            out.append(f"std lacks {', '.join(missing)}")
        elif self.minmax and not out:
            if not any(self._within(pair, self.std) for pair in self.minmax):
                out.append("std is not within any min/max pair")
        bad = [t for t in self.disk_templates if t not in constants.DISK_TEMPLATES]
        if bad:
            out.append(f"unknown disk templates {bad}")
        if not self.vcpu_ratio > 0:
            out.append(f"vcpu-ratio {self.vcpu_ratio} must be positive")
        if not self.spindle_ratio > 0:
            out.append(f"spindle-ratio {self.spindle_ratio} must be positive")
        return out

    @staticmethod
    def _within(pair: Mapping[str, Mapping[str, int]], spec: Mapping[str, int]) -> bool:
        lo, hi = pair[constants.ISPECS_MIN], pair[constants.ISPECS_MAX]
        return all(lo[p] <= spec[p] <= hi[p] for p in constants.ISPECS_PARAMETERS)

    def spec_violations(self, spec: Mapping[str, int]) -> list[str]:
        """Why an instance with ``spec`` (ISPEC_* keys, disk-size = largest) breaks the policy."""
        best: list[str] | None = None
        for pair in self.minmax:
            lo, hi = pair[constants.ISPECS_MIN], pair[constants.ISPECS_MAX]
            found = [
                f"{p} {spec[p]} not in range [{lo[p]}, {hi[p]}]"
                for p in constants.ISPECS_PARAMETERS
                if p in spec and not lo[p] <= spec[p] <= hi[p]
            ]
            if not found:
                return []
            if best is None or len(found) < len(best):
                best = found
        return best or []


@attrs.define(eq=False)
class Cluster(ConfigObject):
    _SPARSE: ClassVar[bool] = False  # small, and operators read it: write every key

    cluster_name: str = ""
    uuid: str = attrs.field(factory=new_uuid)
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    tags: set[str] = attrs.field(factory=_tags)
    master_node: str = ""
    master_ip: str = ""
    master_netdev: str = "eth0"
    master_netmask: int = 32
    use_external_mip_script: bool = False
    primary_ip_family: int = constants.IP4_FAMILY
    mac_prefix: str = constants.DEFAULT_MAC_PREFIX
    volume_group_name: str | None = None
    reserved_lvs: list[str] = attrs.field(factory=list)
    drbd_usermode_helper: str | None = None
    file_storage_dir: str = ""
    shared_file_storage_dir: str = ""
    gluster_storage_dir: str = ""
    enabled_hypervisors: list[str] = attrs.field(factory=lambda: [constants.HT_FAKE])
    enabled_disk_templates: list[str] = attrs.field(
        factory=lambda: [constants.DT_PLAIN, constants.DT_DRBD8, constants.DT_DISKLESS]
    )
    hvparams: dict[str, JsonDict] = attrs.field(factory=dict)
    os_hvp: dict[str, dict[str, JsonDict]] = attrs.field(factory=dict)
    beparams: dict[str, JsonDict] = attrs.field(factory=dict)
    nicparams: dict[str, JsonDict] = attrs.field(factory=dict)
    ndparams: JsonDict = attrs.field(factory=dict)
    diskparams: dict[str, JsonDict] = attrs.field(factory=dict)
    osparams: dict[str, JsonDict] = attrs.field(factory=dict)
    osparams_private_cluster: dict[str, JsonDict] = attrs.field(factory=dict)
    ipolicy: JsonDict = attrs.field(factory=dict)
    candidate_pool_size: int = constants.DEFAULT_CANDIDATE_POOL_SIZE
    candidate_certs: dict[str, str] = attrs.field(factory=dict)
    max_running_jobs: int = constants.DEFAULT_MAX_RUNNING_JOBS
    # Beyond Ganeti: seconds the master may be unreachable before a candidate takes
    # over automatically (with a majority of nodes agreeing); 0 disables it.
    auto_failover_timeout: float | None = None
    max_tracked_jobs: int = constants.DEFAULT_MAX_TRACKED_JOBS
    modify_etc_hosts: bool = True
    modify_ssh_setup: bool = True
    maintain_node_health: bool = False
    uid_pool: list[list[int]] = attrs.field(factory=list)
    default_iallocator: str = ""
    default_iallocator_params: JsonDict = attrs.field(factory=dict)
    hidden_os: list[str] = attrs.field(factory=list)
    blacklisted_os: list[str] = attrs.field(factory=list)
    prealloc_wipe_disks: bool = False
    tcpudp_port_pool: list[int] = attrs.field(factory=list)
    highest_used_port: int = constants.FIRST_DRBD_PORT - 1
    rsahostkeypub: str | None = None
    dsahostkeypub: str | None = None
    hv_state_static: JsonDict = attrs.field(factory=dict)
    disk_state_static: JsonDict = attrs.field(factory=dict)
    install_image: str = ""
    instance_communication_network: str = ""
    zeroing_image: str = ""
    compression_tools: list[str] = attrs.field(
        factory=lambda: list(constants.DEFAULT_COMPRESSION_TOOLS)
    )
    enabled_user_shutdown: bool = False
    data_collectors: dict[str, JsonDict] = attrs.field(factory=dict)
    ssh_key_type: str = "rsa"
    ssh_key_bits: int = 2048
    extra: JsonDict = attrs.field(factory=dict)

    # -- inheritance chains (spec 6.4) --

    @property
    def default_hypervisor(self) -> str:
        return self.enabled_hypervisors[0] if self.enabled_hypervisors else constants.HT_FAKE

    def fill_hv(
        self, hypervisor: str, os_name: str = "", custom: Mapping[str, Any] = {}
    ) -> JsonDict:
        """Built-in defaults -> cluster -> cluster os_hvp[os] -> ``custom`` (no HVC_GLOBALS)."""
        result = fill_dict(
            constants.HVC_DEFAULTS.get(hypervisor, {}), self.hvparams.get(hypervisor, {})
        )
        for name in (os_name.split("+", 1)[0], os_name) if os_name else ():
            result.update(copy.deepcopy(self.os_hvp.get(name, {}).get(hypervisor, {})))
        local = {k: v for k, v in custom.items() if k not in constants.HVC_GLOBALS}
        result.update(copy.deepcopy(local))
        return result

    def fill_instance_hv(self, instance: Instance) -> JsonDict:
        return self.fill_hv(instance.hypervisor, instance.os, instance.hvparams)

    def fill_be(self, custom: Mapping[str, Any] = {}) -> JsonDict:
        base = fill_dict(
            constants.BEC_DEFAULTS,
            upgrade_beparams(self.beparams.get(constants.PP_DEFAULT, {})),
        )
        return fill_dict(base, upgrade_beparams(custom))

    def fill_instance_be(self, instance: Instance) -> JsonDict:
        return self.fill_be(instance.beparams)

    def fill_os(self, os_name: str, custom: Mapping[str, Any] = {}) -> JsonDict:
        """cluster.osparams[os] -> cluster.osparams[os+variant] -> ``custom``."""
        result = fill_dict({}, self.osparams.get(os_name.split("+", 1)[0], {}))
        if "+" in os_name:
            result.update(copy.deepcopy(self.osparams.get(os_name, {})))
        result.update(copy.deepcopy(dict(custom)))
        return result

    def fill_os_private(self, os_name: str, custom: Mapping[str, Any] = {}) -> JsonDict:
        result = fill_dict({}, self.osparams_private_cluster.get(os_name.split("+", 1)[0], {}))
        if "+" in os_name:
            result.update(copy.deepcopy(self.osparams_private_cluster.get(os_name, {})))
        result.update(copy.deepcopy(dict(custom)))
        return result

    def fill_nic(
        self, custom: Mapping[str, Any], network_params: Mapping[str, Any] | None = None
    ) -> JsonDict:
        """Cluster default -> the group's connection params for the NIC's network -> NIC."""
        result = fill_dict(constants.NICC_DEFAULTS, self.nicparams.get(constants.PP_DEFAULT, {}))
        if network_params:
            result.update(copy.deepcopy(dict(network_params)))
        result.update(copy.deepcopy(dict(custom)))
        return result

    def fill_nd(self, node: Node, group: NodeGroup | None) -> JsonDict:
        result = fill_dict(constants.NDC_DEFAULTS, self.ndparams)
        if group is not None:
            result.update(copy.deepcopy(group.ndparams))
        result.update(copy.deepcopy(node.ndparams))
        return result

    def fill_disk_params(
        self,
        template: str,
        group: NodeGroup | None = None,
        custom: Mapping[str, Any] = {},
    ) -> JsonDict:
        result = fill_dict(
            constants.DISK_DT_DEFAULTS.get(template, {}), self.diskparams.get(template, {})
        )
        if group is not None:
            result.update(copy.deepcopy(group.diskparams.get(template, {})))
        result.update(copy.deepcopy(dict(custom)))
        return result

    def cluster_ipolicy(self) -> JsonDict:
        return fill_ipolicy(constants.IPOLICY_DEFAULTS, self.ipolicy)

    def fill_ipolicy(self, group: NodeGroup | None = None) -> IPolicy:
        policy = self.cluster_ipolicy()
        if group is not None:
            policy = fill_ipolicy(policy, group.ipolicy)
        return IPolicy.from_dict(policy)

    def problems(self) -> list[str]:
        out: list[str] = []
        if not self.cluster_name:
            out.append("empty cluster_name")
        if not valid_ip(self.master_ip, self.primary_ip_family):
            out.append(f"invalid master_ip {self.master_ip!r} for family {self.primary_ip_family}")
        if self.primary_ip_family not in constants.VALID_IP_FAMILIES:
            out.append(f"invalid primary_ip_family {self.primary_ip_family!r}")
        limit = 32 if self.primary_ip_family == constants.IP4_FAMILY else 128
        if not isinstance(self.master_netmask, int) or not 0 < self.master_netmask <= limit:
            out.append(f"invalid master_netmask {self.master_netmask!r}")
        if not valid_mac_prefix(self.mac_prefix):
            out.append(f"invalid mac_prefix {self.mac_prefix!r}")
        if not self.enabled_hypervisors:
            out.append("no enabled hypervisors")
        for hv in self.enabled_hypervisors:
            if hv not in constants.HYPER_TYPES:
                out.append(f"unknown enabled hypervisor {hv!r}")
        for hv in self.hvparams:
            if hv not in constants.HYPER_TYPES:
                out.append(f"hvparams for unknown hypervisor {hv!r}")
        if not self.enabled_disk_templates:
            out.append("no enabled disk templates")
        for dt in self.enabled_disk_templates:
            if dt not in constants.DISK_TEMPLATES:
                out.append(f"unknown enabled disk template {dt!r}")
        for dt in self.diskparams:
            if dt not in constants.DISK_TEMPLATES:
                out.append(f"diskparams for unknown disk template {dt!r}")
        mode = self.fill_nic({}).get(constants.NIC_MODE)
        if mode not in constants.NIC_VALID_MODES:
            out.append(f"invalid default NIC mode {mode!r}")
        be = self.fill_be()
        if (
            not isinstance(be[constants.BE_MINMEM], int)
            or be[constants.BE_MINMEM] > be[constants.BE_MAXMEM]
        ):
            out.append("default beparams: minmem greater than maxmem")
        if not isinstance(self.candidate_pool_size, int) or self.candidate_pool_size < 1:
            out.append(f"invalid candidate_pool_size {self.candidate_pool_size!r}")
        for rng in self.uid_pool:
            if len(rng) != 2 or rng[0] > rng[1]:
                out.append(f"invalid uid_pool range {rng!r}")
        try:
            out.extend(f"ipolicy: {p}" for p in self.fill_ipolicy().problems())
        except (KeyError, TypeError, ValueError) as exc:
            out.append(f"ipolicy malformed: {exc!r}")
        return out


def disk_template_of(disks: Iterable[Disk]) -> str:
    """The template of an instance: its disks' common ``dev_type``, ``diskless`` if none."""
    for disk in disks:
        return disk.dev_type
    return constants.DT_DISKLESS


# Top-level keys in the order of the file (sorted, as Ganeti writes them).
TOP_LEVEL_KEYS: tuple[str, ...] = (
    "cluster",
    "ctime",
    "disks",
    "filters",
    "instances",
    "mtime",
    "networks",
    "nodegroups",
    "nodes",
    "serial_no",
    "version",
)
OBJECT_SECTIONS: tuple[str, ...] = ("disks", "instances", "networks", "nodegroups", "nodes")


@attrs.define(eq=False)
class ConfigData:
    """The whole of ``config.data``."""

    cluster: Cluster
    version: int = constants.CONFIG_VERSION
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    nodes: dict[str, Node] = attrs.field(factory=dict)
    nodegroups: dict[str, NodeGroup] = attrs.field(factory=dict)
    instances: dict[str, Instance] = attrs.field(factory=dict)
    disks: dict[str, Disk] = attrs.field(factory=dict)
    networks: dict[str, Network] = attrs.field(factory=dict)
    filters: dict[str, JsonDict] = attrs.field(factory=dict)
    extra: JsonDict = attrs.field(factory=dict)

    _SECTION_TYPES: ClassVar[dict[str, type[ConfigObject]]] = {
        "nodes": Node,
        "nodegroups": NodeGroup,
        "instances": Instance,
        "disks": Disk,
        "networks": Network,
    }

    def to_dict(self) -> JsonDict:
        out: JsonDict = {
            "version": self.version,
            "serial_no": self.serial_no,
            "ctime": self.ctime,
            "mtime": self.mtime,
            "cluster": self.cluster.to_dict(),
            "filters": self.filters,
        }
        for section in OBJECT_SECTIONS:
            objs: dict[str, ConfigObject] = getattr(self, section)
            out[section] = {key: obj.to_dict() for key, obj in objs.items()}
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, canonical: dict[str, list[str]] | None = None
    ) -> ConfigData:
        """Build from the parsed file; raises KeyError/TypeError/ValueError when malformed.

        With ``canonical``, also record per section the keys whose dicts are exactly what
        ``to_dict()`` of the built object returns (see :meth:`ConfigObject.load_dict`).
        """
        if not isinstance(data, Mapping):
            raise TypeError("top level is not a JSON object")
        kwargs: JsonDict = {}
        for section, typ in cls._SECTION_TYPES.items():
            raw = data.get(section, {})
            if not isinstance(raw, dict):
                raise TypeError(f"{section} is not a JSON object")
            load = _loader(typ, False)
            objs: dict[str, ConfigObject] = {}
            good: list[str] = []
            for key, value in raw.items():
                obj, ok = load(value)
                objs[key] = obj
                if ok:
                    good.append(key)
            kwargs[section] = objs
            if canonical is not None:
                canonical[section] = good
        filters = data.get("filters", {})
        if not isinstance(filters, dict):
            raise TypeError("filters is not a JSON object")
        known = set(TOP_LEVEL_KEYS)
        return cls(
            cluster=Cluster.from_dict(data["cluster"]),
            version=int(data["version"]),
            serial_no=int(data.get("serial_no", 1)),
            ctime=float(data.get("ctime", 0.0)),
            mtime=float(data.get("mtime", 0.0)),
            filters=filters,
            extra={k: v for k, v in data.items() if k not in known},
            **kwargs,
        )

    # -- derived instance data --

    def instance_disks(self, instance: Instance) -> list[Disk]:
        return [self.disks[uuid] for uuid in instance.disks if uuid in self.disks]

    def instance_disk_template(self, instance: Instance) -> str:
        return disk_template_of(self.instance_disks(instance))

    def instance_all_nodes(self, instance: Instance) -> list[str]:
        """Primary node first, then every other node any of its disks lives on."""
        result = [instance.primary_node]
        for disk in self.instance_disks(instance):
            for node in disk.nodes:
                if node not in result:
                    result.append(node)
        return result

    def instance_secondary_nodes(self, instance: Instance) -> list[str]:
        return self.instance_all_nodes(instance)[1:]

    def node_group(self, node: Node) -> NodeGroup | None:
        return self.nodegroups.get(node.group)

    def filled_ndparams(self, node: Node) -> JsonDict:
        return self.cluster.fill_nd(node, self.node_group(node))

    def filled_nicparams(self, instance: Instance, nic: NIC) -> JsonDict:
        netparams = None
        if nic.network is not None:
            node = self.nodes.get(instance.primary_node)
            group = self.node_group(node) if node is not None else None
            if group is not None:
                netparams = group.networks.get(nic.network)
        return self.cluster.fill_nic(nic.nicparams, netparams)

    def filled_ipolicy(self, group: NodeGroup | None) -> IPolicy:
        return self.cluster.fill_ipolicy(group)

    # -- validation --

    def verify(self) -> list[str]:
        """Every problem found, each message naming the object; empty when valid.

        Uniqueness is first checked with sets; the loops that name the culprits run only
        when something is duplicated.
        """
        out: list[str] = []
        out.extend(self.verify_cluster())
        sections: list[tuple[str, Iterable[str]]] = [(s, getattr(self, s)) for s in OBJECT_SECTIONS]
        sections.append(("cluster", [self.cluster.uuid]))
        every: set[str] = set()
        for _, keys in sections:
            every.update(keys)
        if len(every) != sum(len(cast(Any, keys)) for _, keys in sections):
            seen_uuids: dict[str, str] = {}
            for section, keys in sections:
                for key in keys:
                    if key in seen_uuids:
                        out.append(f"UUID {key} used by both {seen_uuids[key]} and {section}")
                    else:
                        seen_uuids[key] = section
        for section, label in (
            ("nodes", "node"),
            ("nodegroups", "node group"),
            ("instances", "instance"),
            ("networks", "network"),
        ):
            objs = getattr(self, section).values()
            if len({obj.name for obj in objs}) == len(objs):
                continue
            names: dict[str, str] = {}
            for obj in objs:
                if obj.name in names:
                    out.append(
                        f"{label} name {obj.name!r} used by both {names[obj.name]} and {obj.uuid}"
                    )
                else:
                    names[obj.name] = obj.uuid
        nodes = self.nodes.values()
        if len({node.primary_ip for node in nodes}) != len(nodes):
            ips: dict[str, str] = {}
            for node in nodes:
                if node.primary_ip in ips:
                    out.append(
                        f"node {node.name!r}: primary_ip {node.primary_ip} also used by node "
                        f"{ips[node.primary_ip]!r}"
                    )
                else:
                    ips[node.primary_ip] = node.name
        instances = self.instances.values()
        all_macs = [nic.mac for inst in instances for nic in inst.nics]
        all_disks = [duuid for inst in instances for duuid in inst.disks]
        if len(set(all_macs)) != len(all_macs) or len(set(all_disks)) != len(all_disks):
            macs: dict[str, str] = {}
            owner: dict[str, str] = {}
            for inst in instances:
                for idx, nic in enumerate(inst.nics):
                    if nic.mac in macs:
                        out.append(
                            f"instance {inst.name!r}: MAC {nic.mac} of nic/{idx} also used by "
                            f"{macs[nic.mac]}"
                        )
                    else:
                        macs[nic.mac] = f"instance {inst.name!r}"
                for duuid in inst.disks:
                    if duuid in owner:
                        out.append(
                            f"instance {inst.name!r}: disk {duuid} also used by instance "
                            f"{owner[duuid]!r}"
                        )
                    else:
                        owner[duuid] = inst.name
        out.extend(self.verify_objects(None))
        return out

    def verify_cluster(self) -> list[str]:
        out = [f"cluster {self.cluster.cluster_name!r}: {p}" for p in self.cluster.problems()]
        master = self.nodes.get(self.cluster.master_node)
        if master is None:
            out.append(f"cluster: master node {self.cluster.master_node!r} does not exist")
        else:
            if not master.master_capable:
                out.append(f"cluster: master node {master.name!r} is not master_capable")
            if master.offline or master.drained:
                out.append(f"cluster: master node {master.name!r} is offline or drained")
        for node_uuid in self.cluster.candidate_certs:
            if node_uuid not in self.nodes:
                out.append(f"cluster: candidate_certs names unknown node {node_uuid}")
        return out

    def verify_objects(self, uuids: Iterable[str] | None) -> list[str]:
        """Per-object checks and references, for the given UUIDs (all objects if None).

        Cross-object uniqueness is checked by :meth:`verify` only; the config writer
        enforces it on every change through its indexes.
        """
        out: list[str] = []
        sections: list[tuple[str, Iterable[ConfigObject]]]
        if uuids is None:
            sections = [(s, getattr(self, s).values()) for s in OBJECT_SECTIONS]
        else:
            wanted = list(uuids)
            sections = [
                (s, [getattr(self, s)[u] for u in wanted if u in getattr(self, s)])
                for s in OBJECT_SECTIONS
            ]
        checkers: dict[str, Callable[[Any], list[str]]] = {
            "nodes": self._check_node,
            "nodegroups": self._check_group,
            "instances": self._check_instance,
            "disks": self._check_disk,
            "networks": self._check_network,
        }
        for section, objs in sections:
            checker = checkers[section]
            for obj in objs:
                found = checker(obj)
                if found:
                    out.extend(found)
            if uuids is None:
                objects: dict[str, ConfigObject] = getattr(self, section)
                if any(getattr(obj, "uuid", key) != key for key, obj in objects.items()):
                    for key, obj in objects.items():
                        if getattr(obj, "uuid", key) != key:
                            out.append(f"{section}: key {key} differs from the object's uuid")
        return out

    def _check_node(self, node: Node) -> list[str]:
        where = f"node {node.name!r} ({node.uuid})"
        out = [f"{where}: {p}" for p in node.problems()]
        if node.group not in self.nodegroups:
            out.append(f"{where}: node group {node.group!r} does not exist")
        return out

    def _check_group(self, group: NodeGroup) -> list[str]:
        where = f"node group {group.name!r} ({group.uuid})"
        out: list[str] = []
        if not group.name:
            out.append(f"{where}: empty name")
        if group.alloc_policy not in constants.VALID_ALLOC_POLICIES:
            out.append(f"{where}: invalid alloc_policy {group.alloc_policy!r}")
        for net_uuid, params in group.networks.items():
            if net_uuid not in self.networks:
                out.append(f"{where}: connected to unknown network {net_uuid}")
            mode = params.get(constants.NIC_MODE)
            if mode is not None and mode not in constants.NIC_VALID_MODES:
                out.append(f"{where}: invalid NIC mode {mode!r} for network {net_uuid}")
        unknown = set(group.ipolicy) - constants.IPOLICY_ALL_KEYS
        if unknown:
            out.append(f"{where}: unknown ipolicy keys {sorted(unknown)}")
        else:
            try:
                out.extend(
                    f"{where}: ipolicy: {p}" for p in self.cluster.fill_ipolicy(group).problems()
                )
            except (KeyError, TypeError, ValueError) as exc:
                out.append(f"{where}: ipolicy malformed: {exc!r}")
        return out

    def _check_instance(self, inst: Instance) -> list[str]:
        out = inst.problems()
        if inst.primary_node not in self.nodes:
            out.append(f"primary node {inst.primary_node!r} does not exist")
        if inst.hypervisor not in self.cluster.enabled_hypervisors:
            out.append(f"hypervisor {inst.hypervisor!r} is not enabled")
        templates = set()
        disks = self.disks
        for duuid in inst.disks:
            disk = disks.get(duuid)
            if disk is None:
                out.append(f"disk {duuid} does not exist")
                continue
            templates.add(disk.dev_type)
            if disk.dev_type in _PRIMARY_ON_DISK_TYPES:
                if disk.nodes and inst.primary_node not in disk.nodes:
                    out.append(f"disk {duuid} does not live on the primary node")
        if len(templates) > 1:
            out.append(f"disks of mixed types {sorted(templates)}")
        for idx, nic in enumerate(inst.nics):
            if nic.network is not None and nic.network not in self.networks:
                out.append(f"nic/{idx} refers to unknown network {nic.network}")
        if out:
            where = f"instance {inst.name!r} ({inst.uuid})"
            out = [f"{where}: {p}" for p in out]
        return out

    def _check_disk(self, disk: Disk) -> list[str]:
        out = disk.problems()
        nodes = self.nodes
        for node in disk.nodes:
            if node not in nodes:
                out.append(f"node {node} does not exist")
        if out:
            where = f"disk {disk.iv_name or disk.name or ''!r} ({disk.uuid})"
            out = [f"{where}: {p}" for p in out]
        return out

    def _check_network(self, net: Network) -> list[str]:
        where = f"network {net.name!r} ({net.uuid})"
        return [f"{where}: {p}" for p in net.problems()]
