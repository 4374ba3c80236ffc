"""htools over RAPI (extensions, not in Ganeti): an hbal plan, its execution, hspace.

The cluster is read through the daemon's asynchronous LUXI client with the queries of
``hbal -L`` (:mod:`ganeti.htools.backend.luxi`); the recorded answers are then fed to
that backend's conversion, so the model is exactly the one ``hbal -L`` builds.  Building
the model and the search (CPU-bound) run through the app's *runner*, by default
``deferToThread``, so the reactor keeps serving requests meanwhile.

* ``GET /2/htools/hbal``: the plan (moves, job sets with the opcodes ``hbal -L -X``
  would submit) without changing anything.
* ``POST /2/htools/hbal``: the same plan, submitted: one ``SubmitManyJobs`` per job
  set, every job of a later set depending (``depends``, status ``success``) on every
  job of the set before, so the master runs the sets in order and a failure stops the
  rest.  Answers at once with the job ids per set.
* ``GET /2/htools/hspace``: ``hspace --machine-readable`` as a JSON object.
"""

from __future__ import annotations

import argparse
import io
import math
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
from twisted.internet.defer import Deferred

from ganeti.luxi import protocol as L
from ganeti.rapi.base import RW, Call, HttpError, QueryParam, W, bad_request, route
from ganeti.rapi.resources import Resources, _ns

Runner = Callable[..., "Deferred[Any]"]

# --- query parameters --------------------------------------------------------------

GROUP = QueryParam("group", "string", doc="node group to balance (name or UUID), hbal -G")
MAX_MOVES = QueryParam("max-moves", "int", doc="at most this many moves (hbal -l); -1: no cap")
MAX_MOVES_L = QueryParam("l", "int", doc="alias of max-moves")
MIN_SCORE = QueryParam("min-score", "float", doc="hbal -e (default 1e-9)")
MIN_GAIN = QueryParam("min-gain", "float", doc="hbal -g (default 0.01)")
MIN_GAIN_LIMIT = QueryParam("min-gain-limit", "float", doc="hbal --min-gain-limit (0.1)")
NO_DISK_MOVES = QueryParam("no-disk-moves", doc="hbal --no-disk-moves")
NO_INSTANCE_MOVES = QueryParam("no-instance-moves", doc="hbal --no-instance-moves")
RESTRICTED = QueryParam("restricted-migration", doc="hbal --restricted-migration")
EVAC_MODE = QueryParam("evac-mode", doc="hbal --evac-mode")
IGNORE_SOFT = QueryParam("ignore-soft-errors", doc="--ignore-soft-errors")
IGNORE_DYNU = QueryParam("ignore-dynu", doc="--ignore-dynu")
EXCLUSION_TAGS = QueryParam("exclusion-tags", "csv", doc="--exclusion-tags (comma list)")
SELECT = QueryParam("select-instances", "csv", doc="only move these instances (comma list)")
EXCLUDE = QueryParam("exclude-instances", "csv", doc="never move these instances (comma list)")
OFFLINE = QueryParam("offline", "list", doc="treat this node as offline, -O (repeatable)")
MAX_CPU = QueryParam("max-cpu", "float", doc="--max-cpu")
MIN_DISK = QueryParam("min-disk", "float", doc="--min-disk")

HBAL_QUERY = (
    GROUP,
    MAX_MOVES,
    MAX_MOVES_L,
    MIN_SCORE,
    MIN_GAIN,
    MIN_GAIN_LIMIT,
    NO_DISK_MOVES,
    NO_INSTANCE_MOVES,
    RESTRICTED,
    EVAC_MODE,
    IGNORE_SOFT,
    IGNORE_DYNU,
    EXCLUSION_TAGS,
    SELECT,
    EXCLUDE,
    OFFLINE,
    MAX_CPU,
    MIN_DISK,
)


def _disk_templates() -> tuple[str, ...]:
    from ganeti.htools.types import DISK_TEMPLATES

    return tuple(DISK_TEMPLATES)


HSPACE_QUERY = (
    QueryParam("disk-template", "string", doc="hspace --disk-template", enum=_disk_templates()),
    QueryParam("standard-alloc", "string", doc="hspace --standard-alloc=DISK,RAM,CPU[,SPN]"),
    QueryParam("tiered-alloc", "string", doc="hspace --tiered-alloc=DISK,RAM,CPU[,SPN]"),
    QueryParam("max", "int", doc="allocate at most this many instances per mode (hspace -l)"),
    QueryParam("spindle-use", "int", doc="hspace --spindle-use"),
    QueryParam("no-capacity-checks", doc="hspace --no-capacity-checks"),
    QueryParam("independent-groups", doc="hspace --independent-groups"),
    QueryParam("accept-existing-errors", doc="hspace --accept-existing-errors"),
    IGNORE_SOFT,
    IGNORE_DYNU,
    EXCLUSION_TAGS,
    OFFLINE,
    MAX_CPU,
    MIN_DISK,
)


def _int_arg(call: Call, name: str) -> int | None:
    value = call.str_arg(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"Invalid value for parameter '{name}': {value!r}") from None


def _float_arg(call: Call, name: str, default: float | None) -> float | None:
    value = call.str_arg(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise bad_request(f"Invalid value for parameter '{name}': {value!r}")
    return number


def _csv_arg(call: Call, name: str) -> list[str]:
    return [x for v in call.list_arg(name) for x in v.split(",") if x]


@attrs.frozen
class LoadOptions:
    """What ``common.build_cluster`` applies at load time."""

    offline: tuple[str, ...] = ()
    exclusion_tags: tuple[str, ...] = ()
    ignore_dynu: bool = False
    max_cpu: float | None = None
    min_disk: float | None = None

    @classmethod
    def from_call(cls, call: Call) -> LoadOptions:
        return cls(
            offline=tuple(call.list_arg("offline")),
            exclusion_tags=tuple(_csv_arg(call, "exclusion-tags")),
            ignore_dynu=call.bool_arg("ignore-dynu"),
            max_cpu=_float_arg(call, "max-cpu", None),
            min_disk=_float_arg(call, "min-disk", None),
        )

    def namespace(self) -> argparse.Namespace:
        return argparse.Namespace(
            util_file=None,
            ignore_dynu=self.ignore_dynu,
            offline=list(self.offline),
            exclusion_tags=",".join(self.exclusion_tags) or None,
            max_cpu=self.max_cpu,
            min_disk=self.min_disk,
        )


@attrs.frozen
class HbalParams:
    load: LoadOptions
    group: str | None = None
    max_moves: int = -1
    min_score: float = 1e-9
    min_gain: float = 0.01
    min_gain_limit: float = 0.1
    no_disk_moves: bool = False
    no_instance_moves: bool = False
    restricted_migration: bool = False
    evac_mode: bool = False
    ignore_soft_errors: bool = False
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def from_call(cls, call: Call) -> HbalParams:
        moves = _int_arg(call, "max-moves")
        short = _int_arg(call, "l")
        if moves is not None and short is not None and moves != short:
            raise bad_request("Give only one of 'max-moves' and 'l'")
        moves = moves if moves is not None else short
        return cls(
            load=LoadOptions.from_call(call),
            group=call.str_arg("group") or None,
            max_moves=-1 if moves is None else moves,
            min_score=_float_arg(call, "min-score", 1e-9) or 0.0,
            min_gain=_float_arg(call, "min-gain", 0.01) or 0.0,
            min_gain_limit=_float_arg(call, "min-gain-limit", 0.1) or 0.0,
            no_disk_moves=call.bool_arg("no-disk-moves"),
            no_instance_moves=call.bool_arg("no-instance-moves"),
            restricted_migration=call.bool_arg("restricted-migration"),
            evac_mode=call.bool_arg("evac-mode"),
            ignore_soft_errors=call.bool_arg("ignore-soft-errors"),
            select=tuple(_csv_arg(call, "select-instances")),
            exclude=tuple(_csv_arg(call, "exclude-instances")),
        )


@attrs.frozen
class Plan:
    initial_score: float | None
    final_score: float | None
    group: str | None
    moves: list[dict[str, Any]]
    jobsets: list[list[list[dict[str, Any]]]]  # sets of jobs of opcodes

    def to_json(self) -> dict[str, Any]:
        return {
            "initial_score": self.initial_score,
            "final_score": self.final_score,
            "group": self.group,
            "moves": self.moves,
            "jobsets": self.jobsets,
        }


class _Recorded:
    """A synchronous LUXI caller replaying answers fetched through the async client."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def call(self, method: str, *args: Any) -> Any:
        key = f"{method}:{args[0]}" if method == L.REQ_QUERY else method
        return self.answers[key]


async def fetch_cluster(self: Resources) -> _Recorded:
    """The answers ``backend.luxi.load_from`` asks for, fetched concurrently."""
    from twisted.internet.defer import gatherResults

    from ganeti.htools.backend import luxi as hl

    queries = (
        ("group", hl.GROUP_FIELDS),
        ("node", hl.NODE_FIELDS),
        ("instance", hl.INSTANCE_FIELDS),
    )
    ds: list[Deferred[Any]] = [
        self.luxi.call(L.REQ_QUERY, [what, list(fields), None]) for what, fields in queries
    ]
    ds.append(self.luxi.call(L.REQ_QUERY_CLUSTER_INFO, []))
    try:
        results = await gatherResults(ds, consumeErrors=True)
    except Exception as exc:
        inner = getattr(exc, "subFailure", None)
        if inner is not None:
            inner.raiseException()
        raise
    answers: dict[str, Any] = {
        f"{L.REQ_QUERY}:{what}": res for (what, _), res in zip(queries, results[:3], strict=True)
    }
    info = results[3]
    answers[L.REQ_QUERY_CLUSTER_INFO] = info
    if isinstance(info, dict) and "tags" not in info:
        answers[L.REQ_QUERY_TAGS] = await self.luxi_call(L.REQ_QUERY_TAGS, "cluster", "")
    nodes = answers[f"{L.REQ_QUERY}:node"]
    if not isinstance(nodes, dict) or not nodes.get("data"):
        raise HttpError(409, "The cluster has no nodes")
    return _Recorded(answers)


def _htools_error(exc: Exception) -> HttpError:
    return bad_request(str(exc).removeprefix("failed to load data, aborting: "))


def _load(recorded: _Recorded, load: LoadOptions) -> Any:
    from ganeti.htools.backend.luxi import load_from
    from ganeti.htools.cli import common

    data = load_from(recorded)
    return common.build_cluster(data, load.namespace(), io.StringIO())


def compute_plan(recorded: _Recorded, p: HbalParams) -> Plan:
    """hbal's plan (runs in the runner's thread); HToolsError for bad parameters."""
    from ganeti.htools import score as sc
    from ganeti.htools.balance import BalanceOptions, Balancer
    from ganeti.htools.cli import common
    from ganeti.htools.execute import move_opcodes
    from ganeti.htools.jobs import jobsets
    from ganeti.htools.moves import MoveOptions
    from ganeti.htools.types import HToolsError

    c = _load(recorded, p.load)
    if p.select:
        keep = np.zeros(c.n_instances, bool)
        keep[common.resolve_instances(c, ",".join(p.select))] = True
        c.movable &= keep
    if p.exclude:
        c.movable[common.resolve_instances(c, ",".join(p.exclude))] = False
    groups_with_nodes = sorted({int(g) for g in c.node_group})
    if p.group is not None:
        try:
            gidx = c.group_index(p.group)
        except KeyError:
            known = ", ".join(g.name for g in c.groups)
            raise HToolsError(f"Node group {p.group} not found; node groups: {known}") from None
    elif len(groups_with_nodes) > 1:
        known = ", ".join(c.groups[g].name for g in groups_with_nodes)
        raise HToolsError(f"Found multiple node groups ({known}); give 'group'")
    else:
        gidx = groups_with_nodes[0] if groups_with_nodes else 0
    group = c.groups[gidx].name if c.groups else None
    if c.n_instances == 0:
        return Plan(None, None, group, [], [])
    gnodes = c.group_nodes(gidx)
    ginsts = c.group_instances(gidx)
    ini = float(sc.total_score(np.array(sc.detailed_score(c, gnodes))))
    if ini - sc.optimal_score(c, gnodes) < p.min_score:
        return Plan(ini, ini, group, [], [])
    bopts = BalanceOptions(
        max_length=p.max_moves,
        min_score=p.min_score,
        min_gain=p.min_gain,
        min_gain_limit=p.min_gain_limit,
        evac_mode=p.evac_mode,
        moves=MoveOptions(
            ignore_soft_errors=p.ignore_soft_errors,
            no_disk_moves=p.no_disk_moves,
            no_instance_moves=p.no_instance_moves,
            restricted_migration=p.restricted_migration,
        ),
    )
    steps = Balancer(c, gnodes, ginsts, bopts).run(None, initial=ini)
    fin = float(sc.total_score(np.array(sc.detailed_score(c, gnodes))))

    def name(n: int) -> str | None:
        return c.node_specs[n].name if n >= 0 else None

    moves = [
        {
            "instance": c.inst_specs[st.move.inst].name,
            "from": [name(st.old_pri), name(st.old_sec)],
            "to": [name(st.new_pri), name(st.new_sec)],
            "kind": st.move.kind.name.lower(),
            "score": st.score,
        }
        for st in steps
    ]
    sets = [[move_opcodes(c, steps[k].move) for k in members] for members in jobsets(steps)]
    return Plan(ini, fin, group, moves, sets)


async def _run(self: Resources, fn: Callable[..., Any], *args: Any) -> Any:
    from ganeti.htools.types import HToolsError

    try:
        return await self.runner(fn, *args)
    except HToolsError as exc:
        raise _htools_error(exc) from None


async def _plan(self: Resources, call: Call) -> Plan:
    params = HbalParams.from_call(call)
    recorded = await fetch_cluster(self)
    plan: Plan = await _run(self, compute_plan, recorded, params)
    return plan


@route(
    "/2/htools/hbal",
    "GET",
    access=RW,
    summary="The hbal balancing plan: scores, moves and job sets (nothing is changed); extension",
    query=HBAL_QUERY,
    returns="object",
    extension=True,
)
async def htools_hbal_plan(self: Resources, call: Call) -> Any:
    return (await _plan(self, call)).to_json()


def _with_reason(self: Resources, call: Call, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = _ns(self.clock)
    trail: list[Any] = []
    user_reason = call.str_arg("reason")
    if user_reason:
        trail.append(["gnt:user", user_reason, now])
    trail.append([f"gnt:library:rlib2:{call.route.handler.__name__}", "", now])
    return [{**op, "reason": list(trail)} for op in ops]


@route(
    "/2/htools/hbal",
    "POST",
    access=W,
    summary="Compute the hbal plan and submit its job sets, each set after the previous; extension",
    query=HBAL_QUERY,
    returns="object",
    extension=True,
)
async def htools_hbal_execute(self: Resources, call: Call) -> Any:
    plan = await _plan(self, call)
    submitted: list[list[int]] = []
    previous: list[int] = []
    for number, jobset in enumerate(plan.jobsets, start=1):
        jobs = []
        for ops in jobset:
            ops = _with_reason(self, call, ops)
            if previous:
                ops[0]["depends"] = [[job_id, ["success"]] for job_id in previous]
            jobs.append(ops)
        answers = await self.luxi_call(L.REQ_SUBMIT_MANY_JOBS, jobs)
        ids: list[int] = []
        failures: list[str] = []
        for ok, value in answers:
            if ok:
                ids.append(int(value))
            else:
                failures.append(str(value))
        submitted.append(ids)
        if failures:
            raise HttpError(
                503,
                f"Submitting job set {number} failed: {'; '.join(failures)}; "
                f"jobs submitted so far: {submitted}",
            )
        previous = ids
    return {"jobsets": submitted}


# --- hspace ------------------------------------------------------------------------


def _hts_value(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else None


def compute_hspace(recorded: _Recorded, load: LoadOptions, hopts: Any) -> dict[str, Any]:
    from ganeti.htools import hspace as hs
    from ganeti.htools.cli.hspace import format_machine

    c = _load(recorded, load)
    res = hs.run_hspace(c, hopts)
    out: dict[str, Any] = {}
    for line in format_machine(res):
        key, _, value = line.partition("=")
        out[key] = _hts_value(value)
    return out


@route(
    "/2/htools/hspace",
    "GET",
    access=RW,
    summary="hspace's capacity estimate (standard and tiered allocation) as HTS_* values; "
    "extension",
    query=HSPACE_QUERY,
    returns="object",
    extension=True,
)
async def htools_hspace(self: Resources, call: Call) -> Any:
    from ganeti.htools import hspace as hs
    from ganeti.htools.cli.hspace import parse_rspec
    from ganeti.htools.types import HToolsError

    template = call.str_arg("disk-template") or None
    if template is not None and template not in _disk_templates():
        raise bad_request(f"Invalid disk template '{template}'")
    limit = _int_arg(call, "max")
    spindle_use = _int_arg(call, "spindle-use")
    if limit is not None and limit < 0:
        limit = None
    if spindle_use is not None and spindle_use < 0:
        raise bad_request("'spindle-use' must not be negative")
    try:
        std = call.str_arg("standard-alloc")
        tiered = call.str_arg("tiered-alloc")
        hopts = hs.HspaceOptions(
            disk_template=template,
            tiered_spec=parse_rspec(tiered, "tiered") if tiered else None,
            std_spec=parse_rspec(std, "standard") if std else None,
            limit=limit,
            capacity_checks=not call.bool_arg("no-capacity-checks"),
            independent_groups=call.bool_arg("independent-groups"),
            accept_existing=call.bool_arg("accept-existing-errors"),
            spindle_use=spindle_use,
            ignore_soft_errors=call.bool_arg("ignore-soft-errors"),
        )
    except HToolsError as exc:
        raise bad_request(str(exc)) from None
    load = LoadOptions.from_call(call)
    recorded = await fetch_cluster(self)
    return await _run(self, compute_hspace, recorded, load, hopts)
