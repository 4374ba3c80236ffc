"""Reuse of configuration-derived query values between queries.

Most values of an instance row (filled parameters, NIC and disk lists, node names) are
a function of the configuration alone; recomputing them for every ``GET
/2/instances?bulk=1`` is what made big clusters slow.  This module keeps, per
configuration object and per requested field list, the already encoded values of each
row and reuses them while everything they derive from is unchanged.

Correct by construction, without any time-based expiry: an entry is reused only if

* the item is the very same object with the same ``serial_no`` (the configuration
  writer replaces objects on update and bumps the serial of everything it changes,
  tags included),
* its disks are the same objects with the same serials (a disk change does not bump
  the instance's serial),
* the cluster object is the same, with the same ``serial_no`` (the writer bumps it on
  any change of a node, node group, network or the cluster, on instance renames and on
  every addition or removal).

Values depending on the request rather than on the configuration (live data, jobs,
flags) are never stored: a field is cached only if its resource lists it as
configuration-derived *and* its getter did not read ``qd.ctx`` while computing it.
Cached values are shared between results: callers must not modify query results.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ganeti.objects import Cluster, ConfigData
from ganeti.query.base import FieldDef, QueryData, nice_key

Encoder = Callable[[Any], Any]
# (object, serial) pairs besides the item itself that its values derive from.
Deps = Callable[[QueryData, Any], tuple[Any, ...]]

MAX_LAYOUTS = 16  # distinct (resource, field list, encoding) combinations kept per config


class _Entry:
    __slots__ = ("deps", "item", "live", "row", "serial")

    def __init__(
        self, item: Any, serial: int, deps: tuple[Any, ...], row: list[Any], live: tuple[int, ...]
    ) -> None:
        self.item = item
        self.serial = serial
        self.deps = deps
        self.row = row
        self.live = live


class _Layout:
    """Rows for one field list: valid for one cluster object at one cluster serial."""

    __slots__ = ("cluster", "cluster_serial", "rows")

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.cluster_serial = cluster.serial_no
        self.rows: dict[str, _Entry] = {}


class _Store:
    def __init__(self) -> None:
        self.layouts: OrderedDict[tuple[Any, ...], _Layout] = OrderedDict()
        self.order: dict[str, list[tuple[str, str]]] = {}


_stores: weakref.WeakKeyDictionary[ConfigData, _Store] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _store(config: ConfigData) -> _Store:
    store = _stores.get(config)
    if store is None:
        with _lock:
            store = _stores.setdefault(config, _Store())
    return store


def _layout(store: _Store, key: tuple[Any, ...], cluster: Cluster) -> _Layout:
    layout = store.layouts.get(key)
    if (
        layout is None
        or layout.cluster is not cluster
        or layout.cluster_serial != cluster.serial_no
    ):
        layout = _Layout(cluster)
        with _lock:
            store.layouts[key] = layout
            while len(store.layouts) > MAX_LAYOUTS:
                store.layouts.popitem(last=False)
    return layout


def rows(
    qd: QueryData,
    resource: str,
    items: Sequence[Any],
    defs: Sequence[FieldDef],
    encode: Encoder,
    cacheable: Collection[str],
    deps: Deps,
) -> list[list[Any]]:
    """``[[encode(getter(qd, item)) for each def] for each item]``, reusing what it can.

    ``cacheable`` names the fields whose values derive from the configuration only;
    ``deps`` gives, per item, what besides the item and the cluster they derive from.
    Items must have ``uuid`` and ``serial_no``.
    """
    store = _store(qd.config)
    names = tuple(d.name for d in defs)
    layout = _layout(store, (resource, names, encode), qd.cluster)
    allowed = [d.name in cacheable for d in defs]
    entries = layout.rows
    out: list[list[Any]] = []
    for item in items:
        dep = deps(qd, item)
        entry = entries.get(item.uuid)
        if (
            entry is None
            or entry.item is not item
            or entry.serial != item.serial_no
            or entry.deps != dep
        ):
            entry, row = _compute(qd, item, defs, encode, allowed, dep)
            entries[item.uuid] = entry
        else:
            row = list(entry.row)
            for i in entry.live:
                row[i] = encode(defs[i].getter(qd, item))
        out.append(row)
    if len(entries) > 2 * len(items) + 64:
        # Items that left the configuration: keep only what this query saw.
        seen = {item.uuid for item in items}
        for uuid in [u for u in entries if u not in seen]:
            entries.pop(uuid, None)
    return out


def _compute(
    qd: QueryData,
    item: Any,
    defs: Sequence[FieldDef],
    encode: Encoder,
    allowed: list[bool],
    dep: tuple[Any, ...],
) -> tuple[_Entry, list[Any]]:
    """The entry to store and the row to answer with (live values filled in)."""
    row: list[Any] = []
    live: list[int] = []
    for i, fdef in enumerate(defs):
        qd.ctx_used = False
        row.append(encode(fdef.getter(qd, item)))
        if qd.ctx_used or not allowed[i]:
            live.append(i)
    stored = list(row)
    for i in live:
        stored[i] = None  # never served from the cache
    return _Entry(item, item.serial_no, dep, stored, tuple(live)), row


def sorted_by_name(qd: QueryData, section: str, objects: dict[str, Any]) -> list[Any]:
    """The objects of a configuration section, nicely sorted by name.

    The order is remembered per configuration and reused while the same UUIDs carry
    the same names (checked on every call, in linear time), which saves the natural
    sort key of every name.
    """
    store = _store(qd.config)
    cached = store.order.get(section)
    if cached is not None and len(cached) == len(objects):
        result = []
        for uuid, name in cached:
            obj = objects.get(uuid)
            if obj is None or obj.name != name:
                break
            result.append(obj)
        else:
            return result
    ordered = sorted(objects.values(), key=lambda o: nice_key(o.name))
    store.order[section] = [(o.uuid, o.name) for o in ordered]
    return ordered


def clear() -> None:
    """Forget everything (tests)."""
    with _lock:
        _stores.clear()
