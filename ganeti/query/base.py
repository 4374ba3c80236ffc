"""Field definitions, per-value statuses, natural sorting and the query context.

A getter receives the per-query :class:`QueryData` and one item and returns either the
value or one of the status markers :data:`NODATA`, :data:`UNAVAIL`, :data:`OFFLINE`.
Markers instead of exceptions keep the hot loop (thousands of items times tens of fields)
free of try/except.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Final

import attrs

from ganeti import constants
from ganeti.objects import (
    NIC,
    ConfigData,
    Disk,
    Instance,
    Network,
    Node,
    NodeGroup,
    upgrade_beparams,
)

JsonDict = dict[str, Any]


@attrs.frozen
class Status:
    """A value that is not there; ``code`` is one of ``constants.RS_*``."""

    code: int


NODATA: Final = Status(constants.RS_NODATA)
UNAVAIL: Final = Status(constants.RS_UNAVAIL)
OFFLINE: Final = Status(constants.RS_OFFLINE)

Getter = Callable[["QueryData", Any], Any]


@attrs.frozen
class FieldDef:
    """One query field.  ``hostname`` fields also match short names in ``==`` filters."""

    name: str
    title: str
    kind: str
    doc: str
    getter: Getter = attrs.field(repr=False, eq=False)
    hostname: bool = False

    def describe(self) -> JsonDict:
        return {"name": self.name, "title": self.title, "kind": self.kind, "doc": self.doc}


def unknown_field(name: str) -> FieldDef:
    """The Query2 definition reported for a field nobody knows."""
    return FieldDef(
        name=name,
        title=name,
        kind=constants.QFT_UNKNOWN,
        doc=f"Unknown field {name!r}",
        getter=lambda _qd, _item: Status(constants.RS_UNKNOWN),
    )


class FieldTable(Mapping[str, FieldDef]):
    """Fields of one resource by name, in definition order (aliases last)."""

    def __init__(self, fields: Iterable[FieldDef], aliases: Mapping[str, str] = {}) -> None:
        self._fields: dict[str, FieldDef] = {}
        for fdef in fields:
            if fdef.name in self._fields:
                raise ValueError(f"field {fdef.name!r} defined twice")
            if fdef.kind not in constants.QFT_ALL or fdef.kind == constants.QFT_UNKNOWN:
                raise ValueError(f"field {fdef.name!r} has invalid kind {fdef.kind!r}")
            self._fields[fdef.name] = fdef
        for alias, target in aliases.items():
            base = self._fields[target]
            self._fields[alias] = attrs.evolve(
                base, name=alias, doc=f"{base.doc} (alias of {target})"
            )

    def __getitem__(self, name: str) -> FieldDef:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


@contextmanager
def gc_paused(enabled: bool = True) -> Iterator[None]:
    """No cyclic garbage collection inside (when ``enabled``).

    Building a big result allocates millions of containers and no cycles; every
    allocation threshold crossed would start a collection that walks the whole heap
    (the configuration included), which tripled the time of a 10,000-row query.
    Collection resumes afterwards, as usual.
    """
    if not enabled or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# -- natural ("nice") sorting -------------------------------------------------------------

_DIGITS = re.compile(r"([0-9]+)")


def nice_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key comparing digit runs as numbers: node2 < node10.

    ``re.split`` with a capturing group alternates text and digit runs, so equal positions
    always hold equal types and the tuples compare without type errors.  The raw name
    breaks ties ("01" vs "1").
    """
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def nice_sort(names: Iterable[str]) -> list[str]:
    return sorted(names, key=nice_key)


# -- the caller's context -----------------------------------------------------------------


def _as_config(value: Any) -> ConfigData:
    # Accept a ConfigWriter (or anything exposing ``.config``) as well as ConfigData.
    if isinstance(value, ConfigData):
        return value
    config = getattr(value, "config", None)
    if isinstance(config, ConfigData):
        return config
    raise TypeError(f"expected ConfigData or a config writer, got {type(value).__name__}")


JobDict = Mapping[str, Any]
# Either all job dicts (an ``archived`` key marks archived ones) or a function returning
# them, told whether archived jobs are wanted (so a queue can skip reading the archive).
JobSource = Iterable[JobDict] | Callable[[bool], Iterable[JobDict]]


@attrs.define
class QueryContext:
    """Everything field getters may need; one per request.

    ``node_live``: node name -> live values from the ``node_info`` RPC, keyed by the
    query field names (``mtotal``, ``mnode``, ``mfree``, ``dtotal``, ``dfree``,
    ``sptotal``, ``spfree``, ``ctotal``, ``cnos``, ``cnodes``, ``csockets``, ``bootid``).
    ``None`` means live data was not collected (fields report RS_NODATA).

    ``instance_live``: instance name -> ``{"node": name it runs on, "state": "running"
    or "shutdown" (stopped from inside the guest), "memory": MiB, "vcpus": n}``, only
    for instances found running on an answering node.  ``failed_nodes`` names the nodes
    whose instance list could not be fetched.
    """

    config: ConfigData = attrs.field(converter=_as_config)
    node_live: Mapping[str, Mapping[str, Any]] | None = None
    instance_live: Mapping[str, Mapping[str, Any]] | None = None
    failed_nodes: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    jobs: JobSource | None = None
    locks: Any = None  # anything with list_locks() -> list[LockInfo]
    drain_flag: bool | None = None
    watcher_pause: float | None = None
    # Export names per online node (None: the node did not answer); ``export`` queries.
    exports: Mapping[str, Sequence[str] | None] | None = None


class QueryData:
    """Per-query view of a context with lazily built indexes (each built at most once).

    Reading :attr:`ctx` sets :attr:`ctx_used`: the row cache (:mod:`ganeti.query.rowcache`)
    uses it to tell values derived from the configuration alone (cacheable) from values
    that depend on the request (live data, jobs, flags), which are computed every time.
    Getters must therefore reach request data only through ``qd.ctx``.
    """

    def __init__(self, ctx: QueryContext) -> None:
        self._ctx = ctx
        self.ctx_used = False
        self.config = ctx.config
        self.cluster = ctx.config.cluster

    @property
    def ctx(self) -> QueryContext:
        self.ctx_used = True
        return self._ctx

    def node_name(self, uuid: str) -> str:
        node = self.config.nodes.get(uuid)
        return node.name if node is not None else uuid

    def group_of_node(self, uuid: str) -> NodeGroup | None:
        node = self.config.nodes.get(uuid)
        return self.config.nodegroups.get(node.group) if node is not None else None

    def disks(self, inst: Instance) -> list[Disk]:
        cache = self._disks
        found = cache.get(inst.uuid)
        if found is None:
            found = cache[inst.uuid] = self.config.instance_disks(inst)
        return found

    def secondary_nodes(self, inst: Instance) -> list[str]:
        result: list[str] = []
        for disk in self.disks(inst):
            for node in disk.nodes:
                if node != inst.primary_node and node not in result:
                    result.append(node)
        return result

    @cached_property
    def _disks(self) -> dict[str, list[Disk]]:
        return {}

    @cached_property
    def primary_instances(self) -> dict[str, list[Instance]]:
        out: dict[str, list[Instance]] = {}
        for inst in self.config.instances.values():
            out.setdefault(inst.primary_node, []).append(inst)
        return out

    @cached_property
    def secondary_instances(self) -> dict[str, list[Instance]]:
        out: dict[str, list[Instance]] = {}
        for inst in self.config.instances.values():
            for node in self.secondary_nodes(inst):
                out.setdefault(node, []).append(inst)
        return out

    @cached_property
    def group_nodes(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for node in self.config.nodes.values():
            out.setdefault(node.group, []).append(node)
        return out

    @cached_property
    def network_instances(self) -> dict[str, list[Instance]]:
        out: dict[str, list[Instance]] = {}
        for inst in self.config.instances.values():
            seen: set[str] = set()
            for nic in inst.nics:
                if nic.network is not None and nic.network not in seen:
                    seen.add(nic.network)
                    out.setdefault(nic.network, []).append(inst)
        return out

    @cached_property
    def network_groups(self) -> dict[str, list[NodeGroup]]:
        out: dict[str, list[NodeGroup]] = {}
        for group in self.config.nodegroups.values():
            for net_uuid in group.networks:
                out.setdefault(net_uuid, []).append(group)
        return out

    def network(self, uuid: str | None) -> Network | None:
        return None if uuid is None else self.config.networks.get(uuid)

    # -- filled parameters: the cluster-level part is computed once per query ----------
    #
    # Same results as Cluster.fill_instance_be/fill_instance_hv/ConfigData.filled_nicparams,
    # without their deep copies: nested values are shared with the configuration, so a
    # query result must be treated as read-only (it is only ever serialised).

    @cached_property
    def _be_base(self) -> dict[str, Any]:
        return self.cluster.fill_be()

    @cached_property
    def memo(self) -> dict[Any, Any]:
        """Per-query memo for getters (keys are tuples starting with a kind name)."""
        return {}

    def filled_be(self, inst: Instance) -> dict[str, Any]:
        key = ("be", inst.uuid)
        found = self.memo.get(key)
        if found is None:
            custom = inst.beparams
            if not custom:
                found = self._be_base
            else:
                found = {**self._be_base, **upgrade_beparams(custom)}
            self.memo[key] = found
        return found

    def _hv_base(self, hypervisor: str, os_name: str) -> dict[str, Any]:
        key = ("hvbase", hypervisor, os_name)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self.cluster.fill_hv(hypervisor, os_name)
        return found

    def filled_hv(self, inst: Instance) -> dict[str, Any]:
        key = ("hv", inst.uuid)
        found = self.memo.get(key)
        if found is None:
            base = self._hv_base(inst.hypervisor, inst.os)
            custom = inst.hvparams
            if not custom:
                found = base
            else:
                found = {**base}
                for k, v in custom.items():
                    if k not in constants.HVC_GLOBALS:
                        found[k] = v
            self.memo[key] = found
        return found

    def filled_nic(self, inst: Instance, nic: NIC) -> dict[str, Any]:
        key = ("nic", inst.uuid, id(nic))
        found = self.memo.get(key)
        if found is None:
            base = self.memo.get(("nicbase",))
            if base is None:
                base = self.memo[("nicbase",)] = self.cluster.fill_nic({})
            netparams = None
            if nic.network is not None:
                group = self.group_of_node(inst.primary_node)
                if group is not None:
                    netparams = group.networks.get(nic.network)
            found = {**base, **(netparams or {}), **nic.nicparams}
            self.memo[key] = found
        return found


def names_of(items: Iterable[Any]) -> list[str]:
    """Nicely sorted ``name`` attributes."""
    return nice_sort(item.name for item in items)


def timestamp_fields() -> list[FieldDef]:
    """``ctime``/``mtime``/``serial_no``/``uuid``/``tags``: the _COMMON fields."""
    return [
        FieldDef(
            "ctime",
            "CTime",
            constants.QFT_TIMESTAMP,
            "Creation timestamp",
            lambda _qd, obj: obj.ctime,
        ),
        FieldDef(
            "mtime",
            "MTime",
            constants.QFT_TIMESTAMP,
            "Modification timestamp",
            lambda _qd, obj: obj.mtime,
        ),
        FieldDef(
            "uuid", "UUID", constants.QFT_TEXT, "Unique identifier", lambda _qd, obj: obj.uuid
        ),
        FieldDef(
            "serial_no",
            "SerialNo",
            constants.QFT_NUMBER,
            "Modification serial number",
            lambda _qd, obj: obj.serial_no,
        ),
        FieldDef(
            "tags", "Tags", constants.QFT_OTHER, "Tags (sorted)", lambda _qd, obj: sorted(obj.tags)
        ),
    ]
