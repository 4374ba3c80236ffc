"""The query entry points: Query2 (``query``/``query_fields``) and the old-style calls.

Query2 reports every value as ``[status, value]`` and unknown fields as kind ``unknown``
with status RS_UNKNOWN; the old-style calls (``QueryNodes`` and friends, the CLI) are
strict: an unknown field or name is an :class:`~ganeti.errors.OpPrereqError`, and values
without data come back as ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ganeti import constants as C
from ganeti import errors
from ganeti.query import (
    cluster,
    exports,
    groups,
    instances,
    jobs,
    locks,
    networks,
    nodes,
    rowcache,
)
from ganeti.query.base import (
    FieldDef,
    FieldTable,
    JsonDict,
    QueryContext,
    QueryData,
    Status,
    gc_paused,
    nice_key,
    unknown_field,
)
from ganeti.query.filter import compile_filter


@attrs.frozen
class Resource:
    """A queryable resource: its fields, how to list its items and how to name them."""

    name: str
    label: str  # in messages: "Node 'x' not known"
    fields: FieldTable
    key_field: str  # the field naming an item ("name", or "id" for jobs)
    items: Callable[[QueryData, bool], list[Any]]  # (data, include_archived)
    key: Callable[[Any], Any]
    sort_key: Callable[[Any], Any]
    default_fields: tuple[str, ...] = ()
    # Items already come in sort_key order (no sorting in the engine).
    presorted: bool = False
    # Row cache (see rowcache): fields derived from the configuration only, and what
    # besides the item and the cluster they derive from.  None: no caching.
    cacheable: frozenset[str] = frozenset()
    deps: rowcache.Deps | None = None


def _by_name(item: Any) -> Any:
    return nice_key(item.name)


def _name(item: Any) -> Any:
    return item.name


# fmt: off
RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            C.QR_NODE, "Node", nodes.FIELDS, "name",
            lambda qd, _a: list(qd.config.nodes.values()), _name, _by_name,
            nodes.DEFAULT_LIST_FIELDS,
        ),
        Resource(
            C.QR_INSTANCE, "Instance", instances.FIELDS, "name",
            lambda qd, _a: rowcache.sorted_by_name(qd, "instances", qd.config.instances),
            _name, _by_name, instances.DEFAULT_LIST_FIELDS, presorted=True,
            cacheable=instances.CONFIG_FIELDS, deps=instances.row_deps,
        ),
        Resource(
            C.QR_GROUP, "Group", groups.FIELDS, "name",
            lambda qd, _a: list(qd.config.nodegroups.values()), _name, _by_name,
            groups.DEFAULT_LIST_FIELDS,
        ),
        Resource(
            C.QR_NETWORK, "Network", networks.FIELDS, "name",
            lambda qd, _a: list(qd.config.networks.values()), _name, _by_name,
            networks.DEFAULT_LIST_FIELDS,
        ),
        Resource(
            C.QR_JOB, "Job", jobs.FIELDS, "id",
            lambda qd, archived: jobs.job_items(qd.ctx, archived),
            lambda job: int(job["id"]), lambda job: int(job["id"]),
            jobs.DEFAULT_LIST_FIELDS,
        ),
        Resource(
            C.QR_LOCK, "Lock", locks.FIELDS, "name",
            lambda qd, _a: locks.lock_items(qd.ctx), _name, _by_name,
            locks.DEFAULT_LIST_FIELDS,
        ),
        Resource(
            C.QR_EXPORT, "Export", exports.FIELDS, "export",
            lambda qd, _a: exports.items(qd.ctx.exports), lambda item: item[1] or "",
            lambda item: (nice_key(item[0]), nice_key(item[1] or "")),
            exports.DEFAULT_LIST_FIELDS,
        ),
        Resource(
            C.QR_CLUSTER, "Cluster", cluster.FIELDS, "name",
            lambda qd, _a: [qd.cluster], lambda cl: cl.cluster_name, lambda _cl: 0,
            presorted=True, cacheable=cluster.CONFIG_FIELDS, deps=cluster.row_deps,
        ),
    )
}
# fmt: on

# Results with more values than this are built with the cyclic GC paused.
GC_PAUSE_VALUES = 20_000

# Default field lists of the RAPI (spec §1.5).
COMMON_FIELDS = ("ctime", "mtime", "uuid", "serial_no", "tags")
# fmt: off
RAPI_FIELDS: dict[str, tuple[str, ...]] = {
    "instance": (
        "name", "admin_state", "os", "pnode", "snodes", "disk_template", "nic.ips",
        "nic.macs", "nic.modes", "nic.uuids", "nic.names", "nic.links", "nic.networks",
        "nic.networks.names", "nic.bridges", "network_port", "disk.sizes", "disk.spindles",
        "disk_usage", "disk.uuids", "disk.names", "beparams", "hvparams", "oper_state",
        "oper_ram", "oper_vcpus", "status", "custom_hvparams", "custom_beparams",
        "custom_nicparams", "custom_osparams", *COMMON_FIELDS,
    ),
    "node": (
        "name", "offline", "master_candidate", "drained", "dtotal", "dfree", "sptotal",
        "spfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt", "ctotal", "cnos",
        "cnodes", "csockets", "pip", "sip", "role", "pinst_list", "sinst_list",
        "master_capable", "vm_capable", "ndparams", "group.uuid", *COMMON_FIELDS,
    ),
    "group": (
        "alloc_policy", "name", "node_cnt", "node_list", "ipolicy", "custom_ipolicy",
        "diskparams", "custom_diskparams", "ndparams", "custom_ndparams", *COMMON_FIELDS,
    ),
    "network": (
        "name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count",
        "reserved_count", "map", "group_list", "inst_list", "external_reservations",
        *COMMON_FIELDS,
    ),
    "job_bulk": jobs.FIELDS_BULK,
    "job": jobs.FIELDS_SINGLE,
}
# fmt: on


def resource(what: str) -> Resource:
    res = RESOURCES.get(what) if isinstance(what, str) else None
    if res is None:
        raise errors.OpPrereqError(
            f"Resource {what!r} cannot be queried (known: {', '.join(sorted(RESOURCES))})",
            errors.ECODE_INVAL,
        )
    return res


def _check_field_names(fields: Any) -> list[str]:
    if not isinstance(fields, list | tuple) or not all(isinstance(f, str) for f in fields):
        raise errors.OpPrereqError(
            f"Fields must be a list of strings, got {fields!r}", errors.ECODE_INVAL
        )
    return list(fields)


def field_defs(res: Resource, fields: Sequence[str], *, strict: bool) -> list[FieldDef]:
    """Definitions for ``fields``; unknown ones raise (strict) or become kind unknown."""
    names = _check_field_names(fields)
    unknown = [f for f in names if f not in res.fields]
    if unknown and strict:
        raise errors.OpPrereqError(
            f"Unknown output field(s) for {res.name}: {', '.join(unknown)}", errors.ECODE_INVAL
        )
    return [res.fields.get(f) or unknown_field(f) for f in names]


def _sorted_items(res: Resource, qd: QueryData, archived: bool) -> list[Any]:
    items = res.items(qd, archived)
    return items if res.presorted else sorted(items, key=res.sort_key)


def _rows(
    res: Resource, defs: list[FieldDef], qfilter: Any, ctx: QueryContext
) -> tuple[QueryData, list[Any]]:
    predicate = None
    used: list[str] = []
    if qfilter is not None:
        predicate, used = compile_filter(qfilter, res.fields)
    # Archived jobs are read only when asked about (spec §1.6): reading the archive is slow.
    archived = any(d.name == "archived" for d in defs) or "archived" in used
    qd = QueryData(ctx)
    items = _sorted_items(res, qd, archived)
    if predicate is not None:
        items = [item for item in items if predicate(qd, item)]
    return qd, items


def _values(
    res: Resource,
    qd: QueryData,
    items: Sequence[Any],
    defs: Sequence[FieldDef],
    encode: Callable[[Any], Any],
) -> list[list[Any]]:
    """One encoded value list per item, through the row cache where the resource has one."""
    with gc_paused(len(items) * len(defs) > GC_PAUSE_VALUES):
        if res.deps is not None:
            return rowcache.rows(qd, res.name, items, defs, encode, res.cacheable, res.deps)
        return [[encode(d.getter(qd, item)) for d in defs] for item in items]


def _encode(value: Any) -> list[Any]:
    if isinstance(value, Status):
        return [value.code, None]
    return [C.RS_NORMAL, value]


def _plain(value: Any) -> Any:
    return None if isinstance(value, Status) else value


def query(what: str, fields: Sequence[str], qfilter: Any, ctx: QueryContext) -> JsonDict:
    """Query2: ``{"fields": [definitions], "data": [[[status, value], ...], ...]}``.

    Items come nicely sorted by name (jobs by id).  ``qfilter`` is a filter in the
    list language (None: everything); a malformed one raises QueryFilterParseError.
    """
    res = resource(what)
    defs = field_defs(res, fields, strict=False)
    qd, items = _rows(res, defs, qfilter, ctx)
    data = _values(res, qd, items, defs, _encode)
    return {"fields": [d.describe() for d in defs], "data": data}


def query_fields(what: str, fields: Sequence[str] | None = None) -> JsonDict:
    """Field definitions: the requested ones (unknown ones as kind unknown) or all, sorted."""
    res = resource(what)
    if fields is None:
        defs = [res.fields[name] for name in sorted(res.fields, key=nice_key)]
    else:
        defs = field_defs(res, fields, strict=False)
    return {"fields": [d.describe() for d in defs]}


def _resolver(res: Resource, items: list[Any]) -> Callable[[Any], Any]:
    """Find an item by exact name, UUID, or unique short host name (``node1``)."""
    exact: dict[Any, Any] = {}
    for item in items:
        exact.setdefault(res.key(item), item)
        uuid = getattr(item, "uuid", None)
        if uuid is not None:
            exact.setdefault(uuid, item)
    short: dict[str, list[Any]] = {}
    if res.key_field == "name":
        for item in items:
            short.setdefault(str(res.key(item)).split(".", 1)[0], []).append(item)

    def resolve(name: Any) -> Any:
        item = exact.get(name)
        if item is not None:
            return item
        if isinstance(name, str):
            prefix = name + "."
            matches = [
                i for i in short.get(name.split(".", 1)[0], ()) if res.key(i).startswith(prefix)
            ]
            if len(matches) == 1:
                return matches[0]
        raise errors.OpPrereqError(f"{res.label} '{name}' not known", errors.ECODE_NOENT)

    return resolve


def query_old_style(
    what: str, names: Sequence[str] | None, fields: Sequence[str], ctx: QueryContext
) -> list[list[Any]]:
    """``QueryNodes``/``QueryInstances``/``QueryGroups``/``QueryNetworks``: value lists.

    ``names`` restricts and orders the result (duplicates dropped); empty or None means
    every item, nicely sorted.  Unknown fields or names raise OpPrereqError.
    """
    res = resource(what)
    defs = field_defs(res, fields, strict=True)
    qd = QueryData(ctx)
    items = _sorted_items(res, qd, False)
    if names:
        resolve = _resolver(res, items)
        chosen: dict[int, Any] = {}  # by id(): duplicates dropped, request order kept
        for name in names:
            item = resolve(name)
            chosen.setdefault(id(item), item)
        items = list(chosen.values())
    return _values(res, qd, items, defs, _plain)


def query_jobs(
    ids: Sequence[int | str] | None, fields: Sequence[str], ctx: QueryContext
) -> list[list[Any] | None]:
    """``QueryJobs``: one value list per job id, None for unknown ids; all jobs if no ids.

    Explicitly named jobs are also looked up in the archive.
    """
    res = RESOURCES[C.QR_JOB]
    defs = field_defs(res, fields, strict=True)
    qd = QueryData(ctx)
    if not ids:
        items = sorted(res.items(qd, False), key=res.sort_key)
        return [[_plain(d.getter(qd, job)) for d in defs] for job in items]
    wanted: list[int] = []
    for job_id in ids:
        try:
            wanted.append(int(job_id))
        except (TypeError, ValueError):
            raise errors.OpPrereqError(f"Invalid job id {job_id!r}", errors.ECODE_INVAL) from None
    by_id = {int(job["id"]): job for job in res.items(qd, True)}
    out: list[list[Any] | None] = []
    for job_id in wanted:
        job = by_id.get(job_id)
        out.append(None if job is None else [_plain(d.getter(qd, job)) for d in defs])
    return out


_INFO_DEFS = [cluster.FIELDS[k] for k in cluster.INFO_KEYS]


def cluster_info(ctx: QueryContext) -> JsonDict:
    """``QueryClusterInfo``: the dict behind RAPI ``/2/info``."""
    qd = QueryData(ctx)
    (row,) = _values(RESOURCES[C.QR_CLUSTER], qd, [qd.cluster], _INFO_DEFS, _plain)
    return dict(zip(cluster.INFO_KEYS, row, strict=True))


def query_config_values(fields: Sequence[str], ctx: QueryContext) -> list[Any]:
    """``QueryConfigValues``: cluster values in field order (unknown fields raise)."""
    res = RESOURCES[C.QR_CLUSTER]
    defs = field_defs(res, fields, strict=True)
    qd = QueryData(ctx)
    (row,) = _values(res, qd, [qd.cluster], defs, _plain)
    return row
