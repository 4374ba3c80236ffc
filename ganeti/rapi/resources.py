"""The version-2 resources: decode the request, build a query or opcode, call LUXI, shape
the answer.  No decisions about the cluster live here; the master makes them.

Every handler is declared with :func:`ganeti.rapi.base.route`; the order of declaration
is the order of the OpenAPI document and of docs/rapi.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.threads import deferToThread

from ganeti import constants, errors
from ganeti.luxi import protocol as L
from ganeti.opcodes import OpCode
from ganeti.query import RAPI_FIELDS
from ganeti.query.base import gc_paused
from ganeti.rapi.base import (
    BULK,
    DRY_RUN,
    FORCE,
    OPS,
    RW,
    RWO,
    TAG,
    Call,
    HttpError,
    QueryParam,
    bad_request,
    route,
)
from ganeti.rapi.luxi import ILuxiClient

RAPI_VERSION = 2
FEATURES = [
    "instance-create-reqv1",
    "instance-reinstall-reqv1",
    "node-migrate-reqv1",
    "node-evac-res1",
]
# Server-side long-poll of /2/jobs/<id>/wait, as Ganeti's _WFJC_TIMEOUT.
WFJC_TIMEOUT = 10
# How long a synchronous resource (/2/os, console) waits for its job.
SYNC_JOB_TIMEOUT = 300.0
QUERY_RESOURCES = ("instance", "node", "group", "network", "job", "lock", "export", "filter")
FILTER_FIELDS = ["watermark", "priority", "predicates", "action", "reason_trail", "uuid"]
OS_FIELDS = [
    "name",
    "valid",
    "variants",
    "parameters",
    "api_versions",
    "blacklisted",
    "hidden",
    "trusted",
]
NODE_ROLES = {
    "M": "master",
    "C": "master-candidate",
    "R": "regular",
    "D": "drained",
    "O": "offline",
}
FINAL = frozenset({"success", "error", "canceled"})


def _ns(clock: IReactorTime) -> int:
    return int(clock.seconds() * 1e9)


class Resources:
    """The handlers' shared state: the LUXI client and a clock."""

    def __init__(
        self,
        luxi: ILuxiClient,
        clock: IReactorTime,
        runner: Callable[..., Deferred[Any]] | None = None,
    ) -> None:
        self.luxi = luxi
        self.clock = clock
        # Runs CPU-heavy work (htools) off the reactor thread: runner(fn, *args).
        self.runner: Callable[..., Deferred[Any]] = runner or deferToThread

    async def luxi_call(self, method: str, *args: Any) -> Any:
        return await self.luxi.call(method, list(args))

    # --- opcodes -----------------------------------------------------------------------

    def opcode(
        self,
        call: Call,
        op_id: str,
        body: Mapping[str, Any] | None = None,
        static: Mapping[str, Any] | None = None,
        renames: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        dry_run: bool = True,
    ) -> dict[str, Any]:
        """An opcode dict from body parameters plus values fixed by the URL/query.

        Raises 400 for renamed parameters given twice, for body values that try to
        override the URL, and for anything the opcode's validation refuses.
        """
        params = dict(body or {})
        for old, new in (renames or {}).items():
            if old in params:
                if new in params:
                    raise bad_request(
                        f"Parameter '{old}' has been renamed to '{new}'; do not give both"
                    )
                params[new] = params.pop(old)
        fixed = dict(static or {})
        if dry_run and call.dry_run:
            fixed["dry_run"] = True
        clash = sorted(set(fixed) & set(params))
        if clash:
            raise bad_request(f"Can't overwrite static parameters: {', '.join(clash)}")
        if "OP_ID" in params:
            raise bad_request("Invalid body parameters: OP_ID cannot be given")
        data: dict[str, Any] = {**(defaults or {}), **params, **fixed}
        reason = data.get("reason")
        trail: list[Any] = list(reason) if isinstance(reason, list) else []
        if reason is not None and not isinstance(reason, list):
            raise bad_request("Invalid body parameters: 'reason' must be a list")
        now = _ns(self.clock)
        user_reason = call.str_arg("reason")
        if user_reason:
            trail.insert(0, ["gnt:user", user_reason, now])
        trail.append([f"gnt:library:rlib2:{call.route.handler.__name__}", "", now])
        data["reason"] = trail
        data["OP_ID"] = op_id
        try:
            return OpCode.from_dict(data).to_dict()
        except (errors.ParameterError, errors.OpCodeUnknown) as exc:
            raise bad_request(f"Invalid body parameters: {exc}") from None

    async def submit(self, ops: list[dict[str, Any]]) -> int:
        job_id = await self.luxi_call(L.REQ_SUBMIT_JOB, ops)
        return int(job_id)

    async def submit_op(self, call: Call, op_id: str, **kwargs: Any) -> int:
        return await self.submit([self.opcode(call, op_id, **kwargs)])

    async def run_job(self, ops: list[dict[str, Any]]) -> Any:
        """Submit a job, wait for it to finish and return the first opcode's result.

        A failed job raises its opcode's error (OpPrereqError keeps its error code).
        """
        job_id = await self.submit(ops)
        deadline = self.clock.seconds() + SYNC_JOB_TIMEOUT
        prev_info: Any = None
        prev_serial: int | None = None
        while True:
            answer = await self.luxi_call(
                L.REQ_WAIT_FOR_JOB_CHANGE, job_id, ["status"], prev_info, prev_serial, WFJC_TIMEOUT
            )
            if isinstance(answer, list) and len(answer) == 2:
                prev_info, entries = answer
                if entries:
                    prev_serial = entries[-1][0]
                if isinstance(prev_info, list) and prev_info and prev_info[0] in FINAL:
                    break
            if self.clock.seconds() > deadline:
                raise HttpError(504, f"Job {job_id} did not finish in {SYNC_JOB_TIMEOUT:g}s")
        rows = await self.luxi_call(L.REQ_QUERY_JOBS, [job_id], ["status", "opresult"])
        if not rows or rows[0] is None:
            raise HttpError(500, f"Job {job_id} vanished")
        status, results = rows[0]
        if status == "success":
            return results[0] if results else None
        for result in results or []:
            if isinstance(result, list) and len(result) == 2 and isinstance(result[0], str):
                raise L.decode_exception(result)
        raise HttpError(500, f"Job {job_id} ended with status {status}")

    # --- queries -----------------------------------------------------------------------

    async def old_query(self, method: str, names: list[str], fields: Sequence[str]) -> Any:
        return await self.luxi_call(method, names, list(fields), False)

    async def one(self, method: str, name: str, fields: Sequence[str]) -> dict[str, Any]:
        rows = await self.old_query(method, [name], fields)
        if not rows:
            raise HttpError(404, f"{name} not found")
        return dict(zip(fields, rows[0], strict=False))

    async def listing(
        self,
        call: Call,
        method: str,
        fields: Sequence[str],
        key: str,
        uri: str,
        shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[Any]:
        if call.bulk:
            rows = await self.old_query(method, [], fields)
            # Thousands of small dicts and no cycles: no GC passes over them meanwhile.
            with gc_paused(len(rows) > 500):
                if shape is None:
                    return [dict(zip(fields, row, strict=False)) for row in rows]
                return [shape(dict(zip(fields, row, strict=False))) for row in rows]
        rows = await self.old_query(method, [], ["name"])
        return [{key: row[0], "uri": uri.format(row[0])} for row in rows]

    # --- tags --------------------------------------------------------------------------

    async def tags_get(self, kind: str, name: str | None) -> Any:
        return await self.luxi_call(L.REQ_QUERY_TAGS, kind, name)

    async def tags_change(self, call: Call, op_id: str, kind: str, name: str | None) -> int:
        tags = call.list_arg("tag")
        if not tags:
            raise bad_request("Please specify tag(s) with the 'tag' parameter")
        static: dict[str, Any] = {"kind": kind, "tags": tags}
        if name is not None:
            static["name"] = name
        return await self.submit_op(call, op_id, static=static)


def _with_memory_alias(inst: dict[str, Any]) -> dict[str, Any]:
    be = inst.get("beparams")
    if isinstance(be, dict) and "maxmem" in be:
        inst["beparams"] = {**be, "memory": be["maxmem"]}
    return inst


def _disks_list(value: Any) -> list[int]:
    if isinstance(value, str):
        try:
            return [int(x) for x in value.split(",") if x.strip()]
        except ValueError:
            raise bad_request(f"Invalid disk list {value!r}") from None
    if isinstance(value, list) and all(
        isinstance(x, int) and not isinstance(x, bool) for x in value
    ):
        return value
    raise bad_request("'disks' must be a list of disk indices or a comma separated string")


_UNIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mMgGtT]?)[bB]?\s*$")
_UNIT_MIB = {"": 1, "m": 1, "g": 1024, "t": 1024 * 1024}


def _size_mib(value: Any) -> Any:
    """Disk sizes may be given as strings with a unit (``"10G"``); opcodes take MiB."""
    if not isinstance(value, str):
        return value
    m = _UNIT_RE.match(value)
    if not m:
        raise bad_request(f"Invalid disk size {value!r}")
    return int(float(m.group(1)) * _UNIT_MIB[m.group(2).lower()] + 0.999999)


def _create_params(body: Mapping[str, Any]) -> dict[str, Any]:
    """Instance creation body (format version 1) to OP_INSTANCE_CREATE parameters."""
    params = {k: v for k, v in body.items() if k != "__version__"}
    disks = params.get("disks")
    if isinstance(disks, list):
        params["disks"] = [
            {**d, "size": _size_mib(d["size"])} if isinstance(d, dict) and "size" in d else d
            for d in disks
        ]
    hv = params.get("hvparams")
    if isinstance(hv, dict) and isinstance(hv.get("usb_devices"), str):
        hv = dict(hv)
        hv["usb_devices"] = ",".join(hv["usb_devices"].replace(",", " ").split())
        params["hvparams"] = hv
    return params


CREATE_RENAMES = {"name": "instance_name", "os": "os_type"}


# ===================================================================================
# Top level and cluster
# ===================================================================================


@route("/", "GET", summary="Root: null", returns="null")
async def root(self: Resources, call: Call) -> Any:
    return None


@route("/2", "GET", summary="Version 2 root: null", returns="null")
async def root2(self: Resources, call: Call) -> Any:
    return None


@route("/version", "GET", summary="The RAPI version (2)", returns="int")
async def version(self: Resources, call: Call) -> Any:
    return RAPI_VERSION


@route("/2/info", "GET", summary="Cluster information", returns="object")
async def cluster_info(self: Resources, call: Call) -> Any:
    info = await self.luxi_call(L.REQ_QUERY_CLUSTER_INFO)
    if isinstance(info, dict):
        info.setdefault("vg_name", info.get("volume_group_name"))
        info.setdefault("drbd_helper", info.get("drbd_usermode_helper"))
    return info


@route("/2/features", "GET", summary="Feature strings of this RAPI", returns="list")
async def features(self: Resources, call: Call) -> Any:
    return list(FEATURES)


@route(
    "/2/modify",
    "PUT",
    summary="Change cluster parameters (OP_CLUSTER_SET_PARAMS)",
    query=(DRY_RUN,),
    body="object",
)
async def cluster_modify(self: Resources, call: Call) -> Any:
    body = call.body_dict()
    if "compression_tools" in body:
        raise HttpError(403, "compression_tools cannot be changed through RAPI")
    return await self.submit_op(call, "OP_CLUSTER_SET_PARAMS", body=body)


@route(
    "/2/redistribute-config",
    "PUT",
    summary="Push the configuration to all nodes (OP_CLUSTER_REDIST_CONF)",
    query=(DRY_RUN,),
)
async def redistribute_config(self: Resources, call: Call) -> Any:
    return await self.submit_op(call, "OP_CLUSTER_REDIST_CONF")


@route(
    "/2/cluster/verify",
    "PUT",
    summary="Verify the cluster (OP_CLUSTER_VERIFY); extension",
    query=(DRY_RUN,),
    body="object",
    extension=True,
)
async def cluster_verify(self: Resources, call: Call) -> Any:
    return await self.submit_op(call, "OP_CLUSTER_VERIFY", body=call.body_dict())


@route(
    "/2/watcher/pause",
    "GET",
    summary="Until when the watcher is paused (null: not paused); extension",
    returns="any",
    extension=True,
)
async def watcher_pause_get(self: Resources, call: Call) -> Any:
    values = await self.luxi_call(L.REQ_QUERY_CONFIG_VALUES, ["watcher_pause"])
    return values[0] if values else None


@route(
    "/2/watcher/pause",
    "PUT",
    summary="Pause the watcher until a timestamp, or resume it with null; extension",
    body="object",
    returns="any",
    extension=True,
)
async def watcher_pause_set(self: Resources, call: Call) -> Any:
    body = call.body_dict()
    until = body.get("until")
    if until is not None and (not isinstance(until, int | float) or isinstance(until, bool)):
        raise bad_request("'until' must be a Unix timestamp or null")
    return await self.luxi_call(L.REQ_SET_WATCHER_PAUSE, until)


@route(
    "/2/debug/delay",
    "POST",
    summary="Submit a test delay job (OP_TEST_DELAY); extension for testing",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
    extension=True,
)
async def debug_delay(self: Resources, call: Call) -> Any:
    return await self.submit_op(call, "OP_TEST_DELAY", body=call.body_dict())


# --- tags of the cluster --------------------------------------------------------------


@route("/2/tags", "GET", summary="Cluster tags", returns="list")
async def cluster_tags_get(self: Resources, call: Call) -> Any:
    return await self.tags_get(constants.TAG_CLUSTER, None)


@route("/2/tags", "PUT", summary="Add cluster tags (OP_TAGS_SET)", query=(TAG, DRY_RUN))
async def cluster_tags_put(self: Resources, call: Call) -> Any:
    return await self.tags_change(call, "OP_TAGS_SET", constants.TAG_CLUSTER, None)


@route("/2/tags", "DELETE", summary="Remove cluster tags (OP_TAGS_DEL)", query=(TAG, DRY_RUN))
async def cluster_tags_delete(self: Resources, call: Call) -> Any:
    return await self.tags_change(call, "OP_TAGS_DEL", constants.TAG_CLUSTER, None)


# ===================================================================================
# Operating systems
# ===================================================================================


def _os_names(rows: Iterable[Any]) -> list[str]:
    names: list[str] = []
    for row in rows:
        name, variants = row[0], row[1]
        if variants:
            names.extend(f"{name}+{v}" for v in variants)
        else:
            names.append(name)
    return names


@route(
    "/2/os",
    "GET",
    summary="Operating system definitions (runs OP_OS_DIAGNOSE and waits)",
    query=(BULK,),
    returns="list",
)
async def os_list(self: Resources, call: Call) -> Any:
    fields = OS_FIELDS if call.bulk else ["name", "variants"]
    op = self.opcode(call, "OP_OS_DIAGNOSE", static={"output_fields": fields, "names": []})
    rows = await self.run_job([op]) or []
    if call.bulk:
        return [dict(zip(fields, row, strict=False)) for row in rows]
    return _os_names(rows)


@route(
    "/2/os/<os>",
    "GET",
    summary="One operating system definition (runs OP_OS_DIAGNOSE); extension",
    returns="object",
    extension=True,
)
async def os_get(self: Resources, call: Call) -> Any:
    name = call.vars["os"].split("+", 1)[0]
    op = self.opcode(call, "OP_OS_DIAGNOSE", static={"output_fields": OS_FIELDS, "names": [name]})
    rows = await self.run_job([op]) or []
    for row in rows:
        if row and row[0] == name:
            return dict(zip(OS_FIELDS, row, strict=False))
    raise HttpError(404, f"OS {name} not found")


# ===================================================================================
# Nodes
# ===================================================================================

NODE_URI = "/2/nodes/{}"


@route("/2/nodes", "GET", summary="List nodes", query=(BULK,), returns="list")
async def nodes_list(self: Resources, call: Call) -> Any:
    return await self.listing(call, L.REQ_QUERY_NODES, RAPI_FIELDS["node"], "id", NODE_URI)


@route(
    "/2/nodes",
    "POST",
    summary="Add a node (OP_NODE_ADD); extension",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
    extension=True,
)
async def nodes_add(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_NODE_ADD", body=call.body_dict(), renames={"name": "node_name"}
    )


@route("/2/nodes/<node>", "GET", summary="One node", returns="object")
async def node_get(self: Resources, call: Call) -> Any:
    return await self.one(L.REQ_QUERY_NODES, call.vars["node"], RAPI_FIELDS["node"])


@route(
    "/2/nodes/<node>",
    "DELETE",
    summary="Remove a node (OP_NODE_REMOVE); extension",
    query=(DRY_RUN,),
    extension=True,
)
async def node_remove(self: Resources, call: Call) -> Any:
    return await self.submit_op(call, "OP_NODE_REMOVE", static={"node_name": call.vars["node"]})


@route("/2/nodes/<node>/role", "GET", summary="A node's role as a word", returns="string")
async def node_role_get(self: Resources, call: Call) -> Any:
    node = await self.one(L.REQ_QUERY_NODES, call.vars["node"], ["role"])
    return NODE_ROLES.get(node["role"], node["role"])


@route(
    "/2/nodes/<node>/role",
    "PUT",
    summary="Change a node's role (OP_NODE_SET_PARAMS)",
    query=(FORCE, QueryParam("auto-promote"), DRY_RUN),
    body="string",
    body_required=True,
)
async def node_role_set(self: Resources, call: Call) -> Any:
    role = call.body
    changes: dict[str, Any]
    if role == "regular":
        changes = {"master_candidate": False, "offline": False, "drained": False}
    elif role == "master-candidate":
        changes = {"master_candidate": True}
    elif role == "drained":
        changes = {"drained": True}
    elif role == "offline":
        changes = {"offline": True}
    else:
        raise bad_request(f"Can't set role to {role!r}")
    static = {
        "node_name": call.vars["node"],
        "force": call.bool_arg("force"),
        "auto_promote": call.bool_arg("auto-promote"),
        **changes,
    }
    return await self.submit_op(call, "OP_NODE_SET_PARAMS", static=static)


@route(
    "/2/nodes/<node>/modify",
    "POST",
    summary="Change node parameters (OP_NODE_SET_PARAMS)",
    query=(DRY_RUN,),
    body="object",
)
async def node_modify(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_NODE_SET_PARAMS", body=call.body_dict(), static={"node_name": call.vars["node"]}
    )


@route(
    "/2/nodes/<node>/powercycle",
    "POST",
    summary="Power-cycle a node (OP_NODE_POWERCYCLE)",
    query=(FORCE, DRY_RUN),
)
async def node_powercycle(self: Resources, call: Call) -> Any:
    static = {"node_name": call.vars["node"], "force": call.bool_arg("force")}
    return await self.submit_op(call, "OP_NODE_POWERCYCLE", static=static)


@route(
    "/2/nodes/<node>/evacuate",
    "POST",
    summary="Move instances off a node (OP_NODE_EVACUATE)",
    query=(DRY_RUN,),
    body="object",
)
async def node_evacuate(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_NODE_EVACUATE", body=call.body_dict(), static={"node_name": call.vars["node"]}
    )


@route(
    "/2/nodes/<node>/migrate",
    "POST",
    summary="Migrate primary instances off a node (OP_NODE_MIGRATE)",
    query=(QueryParam("live"), QueryParam("mode", "string"), DRY_RUN),
    body="object",
)
async def node_migrate(self: Resources, call: Call) -> Any:
    body = call.body_dict()
    if not body:
        # Legacy form: parameters in the query string.
        if call.has("live"):
            if call.has("mode"):
                raise bad_request("Only one of 'live' and 'mode' may be given")
            body["mode"] = "live" if call.bool_arg("live") else "non-live"
        elif call.has("mode"):
            body["mode"] = call.str_arg("mode")
    return await self.submit_op(
        call, "OP_NODE_MIGRATE", body=body, static={"node_name": call.vars["node"]}
    )


STORAGE_TYPE = QueryParam("storage_type", "string", doc="storage type, e.g. lvm-vg, file")


@route(
    "/2/nodes/<node>/storage",
    "GET",
    access=frozenset({"write"}),
    summary="Query a node's storage units (OP_NODE_QUERY_STORAGE)",
    query=(STORAGE_TYPE, QueryParam("output_fields", "csv", required=True)),
)
async def node_storage(self: Resources, call: Call) -> Any:
    fields = [f for f in call.req_str("output_fields").split(",") if f]
    static: dict[str, Any] = {"nodes": [call.vars["node"]], "output_fields": fields}
    storage_type = call.str_arg("storage_type")
    if storage_type:
        static["storage_type"] = storage_type
    return await self.submit_op(call, "OP_NODE_QUERY_STORAGE", static=static)


@route(
    "/2/nodes/<node>/storage/modify",
    "PUT",
    summary="Change a storage unit (OP_NODE_MODIFY_STORAGE)",
    query=(
        STORAGE_TYPE,
        QueryParam("name", "string", required=True),
        QueryParam("allocatable"),
    ),
)
async def node_storage_modify(self: Resources, call: Call) -> Any:
    changes: dict[str, Any] = {}
    allocatable = call.opt_bool("allocatable")
    if allocatable is not None:
        changes["allocatable"] = allocatable
    static = {
        "node_name": call.vars["node"],
        "storage_type": call.req_str("storage_type"),
        "name": call.req_str("name"),
        "changes": changes,
    }
    return await self.submit_op(call, "OP_NODE_MODIFY_STORAGE", static=static)


@route(
    "/2/nodes/<node>/storage/repair",
    "PUT",
    summary="Repair a storage unit (OP_REPAIR_NODE_STORAGE)",
    query=(STORAGE_TYPE, QueryParam("name", "string", required=True)),
)
async def node_storage_repair(self: Resources, call: Call) -> Any:
    static = {
        "node_name": call.vars["node"],
        "storage_type": call.req_str("storage_type"),
        "name": call.req_str("name"),
    }
    return await self.submit_op(call, "OP_REPAIR_NODE_STORAGE", static=static)


@route("/2/nodes/<node>/tags", "GET", summary="A node's tags", returns="list")
async def node_tags_get(self: Resources, call: Call) -> Any:
    return await self.tags_get(constants.TAG_NODE, call.vars["node"])


@route("/2/nodes/<node>/tags", "PUT", summary="Add node tags", query=(TAG, DRY_RUN))
async def node_tags_put(self: Resources, call: Call) -> Any:
    return await self.tags_change(call, "OP_TAGS_SET", constants.TAG_NODE, call.vars["node"])


@route("/2/nodes/<node>/tags", "DELETE", summary="Remove node tags", query=(TAG, DRY_RUN))
async def node_tags_delete(self: Resources, call: Call) -> Any:
    return await self.tags_change(call, "OP_TAGS_DEL", constants.TAG_NODE, call.vars["node"])


# ===================================================================================
# Instances
# ===================================================================================

INSTANCE_URI = "/2/instances/{}"


@route("/2/instances", "GET", summary="List instances", query=(BULK,), returns="list")
async def instances_list(self: Resources, call: Call) -> Any:
    return await self.listing(
        call,
        L.REQ_QUERY_INSTANCES,
        RAPI_FIELDS["instance"],
        "id",
        INSTANCE_URI,
        shape=_with_memory_alias,
    )


@route(
    "/2/instances",
    "POST",
    summary="Create an instance (OP_INSTANCE_CREATE), body format version 1",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
)
async def instance_create(self: Resources, call: Call) -> Any:
    body = call.body_dict()
    version_ = body.get("__version__")
    if version_ is None or version_ == 0:
        raise bad_request("Instance creation request version 0 is no longer supported")
    if version_ != 1:
        raise bad_request(f"Unsupported request data version {version_!r}")
    return await self.submit_op(
        call, "OP_INSTANCE_CREATE", body=_create_params(body), renames=CREATE_RENAMES
    )


@route(
    "/2/instances-multi-alloc",
    "POST",
    summary="Allocate several instances at once (OP_INSTANCE_MULTI_ALLOC)",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
)
async def instances_multi_alloc(self: Resources, call: Call) -> Any:
    body = call.body_dict()
    specs = body.pop("instances", None)
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise bad_request("'instances' must be a list of instance creation bodies")
    creates = [
        self.opcode(call, "OP_INSTANCE_CREATE", body=_create_params(s), renames=CREATE_RENAMES)
        for s in specs
    ]
    for op in creates:
        op.pop("reason", None)
    return await self.submit_op(
        call, "OP_INSTANCE_MULTI_ALLOC", body=body, static={"instances": creates}
    )


@route("/2/instances/<instance>", "GET", summary="One instance", returns="object")
async def instance_get(self: Resources, call: Call) -> Any:
    inst = await self.one(L.REQ_QUERY_INSTANCES, call.vars["instance"], RAPI_FIELDS["instance"])
    return _with_memory_alias(inst)


@route(
    "/2/instances/<instance>",
    "DELETE",
    summary="Remove an instance (OP_INSTANCE_REMOVE)",
    query=(DRY_RUN,),
    body="object",
)
async def instance_remove(self: Resources, call: Call) -> Any:
    static = {"instance_name": call.vars["instance"], "ignore_failures": False}
    return await self.submit_op(call, "OP_INSTANCE_REMOVE", body=call.body_dict(), static=static)


def _inst(call: Call) -> dict[str, Any]:
    return {"instance_name": call.vars["instance"]}


@route(
    "/2/instances/<instance>/info",
    "GET",
    summary="Detailed instance data (job OP_INSTANCE_QUERY_DATA)",
    query=(QueryParam("static", doc="only configuration data, no live data"),),
)
async def instance_info(self: Resources, call: Call) -> Any:
    static = {"instances": [call.vars["instance"]], "static": call.bool_arg("static")}
    return await self.submit_op(call, "OP_INSTANCE_QUERY_DATA", static=static)


@route(
    "/2/instances/<instance>/reboot",
    "POST",
    access=OPS,
    summary="Reboot an instance (OP_INSTANCE_REBOOT)",
    query=(
        QueryParam("type", "string", enum=("soft", "hard", "full")),
        QueryParam("ignore_secondaries"),
        DRY_RUN,
    ),
    body="object",
)
async def instance_reboot(self: Resources, call: Call) -> Any:
    static = {
        **_inst(call),
        "reboot_type": call.str_arg("type") or "hard",
        "ignore_secondaries": call.bool_arg("ignore_secondaries"),
    }
    return await self.submit_op(call, "OP_INSTANCE_REBOOT", body=call.body_dict(), static=static)


@route(
    "/2/instances/<instance>/shutdown",
    "PUT",
    access=OPS,
    summary="Stop an instance (OP_INSTANCE_SHUTDOWN)",
    query=(QueryParam("no_remember"), DRY_RUN),
    body="object",
)
async def instance_shutdown(self: Resources, call: Call) -> Any:
    static = {**_inst(call), "no_remember": call.bool_arg("no_remember")}
    return await self.submit_op(call, "OP_INSTANCE_SHUTDOWN", body=call.body_dict(), static=static)


@route(
    "/2/instances/<instance>/startup",
    "PUT",
    access=OPS,
    summary="Start an instance (OP_INSTANCE_STARTUP)",
    query=(FORCE, QueryParam("no_remember"), DRY_RUN),
)
async def instance_startup(self: Resources, call: Call) -> Any:
    static = {
        **_inst(call),
        "force": call.bool_arg("force"),
        "no_remember": call.bool_arg("no_remember"),
    }
    return await self.submit_op(call, "OP_INSTANCE_STARTUP", static=static)


@route(
    "/2/instances/<instance>/reinstall",
    "POST",
    summary="Reinstall an instance's OS (shutdown, reinstall, optional startup)",
    query=(QueryParam("os", "string"), QueryParam("nostartup")),
    body="object",
)
async def instance_reinstall(self: Resources, call: Call) -> Any:
    body = call.body_dict()
    if body:
        if call.has("os") or call.has("nostartup"):
            raise bad_request("Parameters must be given in the body or the query, not both")
        unknown = sorted(set(body) - {"os", "start", "osparams"})
        if unknown:
            raise bad_request(f"Invalid body parameters: unknown {', '.join(unknown)}")
        os_name = body.get("os")
        start = body.get("start", True)
        osparams = body.get("osparams")
        if not isinstance(start, bool):
            raise bad_request("'start' must be a boolean")
    else:
        os_name = call.str_arg("os")
        start = not call.bool_arg("nostartup")
        osparams = None
    name = call.vars["instance"]
    ops = [
        self.opcode(call, "OP_INSTANCE_SHUTDOWN", static={"instance_name": name}),
        self.opcode(
            call,
            "OP_INSTANCE_REINSTALL",
            body={"os_type": os_name, "osparams": osparams},
            static={"instance_name": name},
        ),
    ]
    if start:
        ops.append(
            self.opcode(call, "OP_INSTANCE_STARTUP", static={"instance_name": name, "force": False})
        )
    return await self.submit(ops)


_REPLACE_KEYS = ("mode", "disks", "remote_node", "iallocator", "early_release", "ignore_ipolicy")


@route(
    "/2/instances/<instance>/replace-disks",
    "POST",
    summary="Replace an instance's disks (OP_INSTANCE_REPLACE_DISKS)",
    query=(
        QueryParam("mode", "string"),
        QueryParam("disks", "string"),
        QueryParam("remote_node", "string"),
        QueryParam("iallocator", "string"),
        DRY_RUN,
    ),
    body="object",
)
async def instance_replace_disks(self: Resources, call: Call) -> Any:
    body = call.body_dict()
    if not body:
        # Legacy clients put the parameters into the query string.
        for key in ("mode", "disks", "remote_node", "iallocator"):
            value = call.str_arg(key)
            if value:
                body[key] = value
        for key in ("early_release", "ignore_ipolicy"):
            if call.has(key):
                body[key] = call.bool_arg(key)
    if "disks" in body:
        body["disks"] = _disks_list(body["disks"])
    return await self.submit_op(call, "OP_INSTANCE_REPLACE_DISKS", body=body, static=_inst(call))


@route(
    "/2/instances/<instance>/activate-disks",
    "PUT",
    access=OPS,
    summary="Activate an instance's disks (OP_INSTANCE_ACTIVATE_DISKS)",
    query=(QueryParam("ignore_size"), DRY_RUN),
)
async def instance_activate_disks(self: Resources, call: Call) -> Any:
    static = {**_inst(call), "ignore_size": call.bool_arg("ignore_size")}
    return await self.submit_op(call, "OP_INSTANCE_ACTIVATE_DISKS", static=static)


@route(
    "/2/instances/<instance>/deactivate-disks",
    "PUT",
    access=OPS,
    summary="Deactivate an instance's disks (OP_INSTANCE_DEACTIVATE_DISKS)",
    query=(FORCE, DRY_RUN),
)
async def instance_deactivate_disks(self: Resources, call: Call) -> Any:
    static = {**_inst(call), "force": call.bool_arg("force")}
    return await self.submit_op(call, "OP_INSTANCE_DEACTIVATE_DISKS", static=static)


@route(
    "/2/instances/<instance>/recreate-disks",
    "POST",
    summary="Recreate an instance's disks (OP_INSTANCE_RECREATE_DISKS)",
    query=(DRY_RUN,),
    body="object",
)
async def instance_recreate_disks(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_INSTANCE_RECREATE_DISKS", body=call.body_dict(), static=_inst(call)
    )


@route(
    "/2/instances/<instance>/disk/<disk>/grow",
    "POST",
    summary="Grow one disk (OP_INSTANCE_GROW_DISK)",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
)
async def instance_grow_disk(self: Resources, call: Call) -> Any:
    static = {**_inst(call), "disk": int(call.vars["disk"])}
    return await self.submit_op(call, "OP_INSTANCE_GROW_DISK", body=call.body_dict(), static=static)


@route(
    "/2/instances/<instance>/prepare-export",
    "PUT",
    summary="Prepare an export (OP_BACKUP_PREPARE)",
    query=(QueryParam("mode", "string", required=True, enum=("local", "remote")), DRY_RUN),
)
async def instance_prepare_export(self: Resources, call: Call) -> Any:
    static = {**_inst(call), "mode": call.req_str("mode")}
    return await self.submit_op(call, "OP_BACKUP_PREPARE", static=static)


@route(
    "/2/instances/<instance>/export",
    "PUT",
    summary="Export an instance (OP_BACKUP_EXPORT)",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
)
async def instance_export(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call,
        "OP_BACKUP_EXPORT",
        body=call.body_dict(),
        static=_inst(call),
        renames={"destination": "target_node"},
    )


@route(
    "/2/instances/<instance>/export",
    "DELETE",
    summary="Remove an instance's export (OP_BACKUP_REMOVE)",
    query=(DRY_RUN,),
)
async def instance_export_remove(self: Resources, call: Call) -> Any:
    return await self.submit_op(call, "OP_BACKUP_REMOVE", static=_inst(call))


@route(
    "/2/instances/<instance>/migrate",
    "PUT",
    access=OPS,
    summary="Migrate an instance (OP_INSTANCE_MIGRATE)",
    query=(DRY_RUN,),
    body="object",
)
async def instance_migrate(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_INSTANCE_MIGRATE", body=call.body_dict(), static=_inst(call)
    )


@route(
    "/2/instances/<instance>/failover",
    "PUT",
    access=OPS,
    summary="Fail an instance over (OP_INSTANCE_FAILOVER)",
    query=(DRY_RUN,),
    body="object",
)
async def instance_failover(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_INSTANCE_FAILOVER", body=call.body_dict(), static=_inst(call)
    )


@route(
    "/2/instances/<instance>/rename",
    "PUT",
    summary="Rename an instance (OP_INSTANCE_RENAME)",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
)
async def instance_rename(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_INSTANCE_RENAME", body=call.body_dict(), static=_inst(call)
    )


@route(
    "/2/instances/<instance>/modify",
    "PUT",
    summary="Change instance parameters (OP_INSTANCE_SET_PARAMS)",
    query=(DRY_RUN,),
    body="object",
)
async def instance_modify(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call,
        "OP_INSTANCE_SET_PARAMS",
        body=call.body_dict(),
        static=_inst(call),
        renames={"custom_beparams": "beparams", "custom_hvparams": "hvparams"},
    )


@route(
    "/2/instances/<instance>/console",
    "GET",
    access=RWO,
    summary="How to reach an instance's console (runs OP_INSTANCE_CONSOLE and waits)",
    returns="object",
)
async def instance_console(self: Resources, call: Call) -> Any:
    op = self.opcode(call, "OP_INSTANCE_CONSOLE", static=_inst(call))
    try:
        return await self.run_job([op])
    except errors.OpPrereqError as exc:
        if exc.ecode == errors.ECODE_STATE:
            raise HttpError(503, str(exc)) from None
        raise


@route("/2/instances/<instance>/tags", "GET", summary="An instance's tags", returns="list")
async def instance_tags_get(self: Resources, call: Call) -> Any:
    return await self.tags_get(constants.TAG_INSTANCE, call.vars["instance"])


@route("/2/instances/<instance>/tags", "PUT", summary="Add instance tags", query=(TAG, DRY_RUN))
async def instance_tags_put(self: Resources, call: Call) -> Any:
    return await self.tags_change(
        call, "OP_TAGS_SET", constants.TAG_INSTANCE, call.vars["instance"]
    )


@route(
    "/2/instances/<instance>/tags", "DELETE", summary="Remove instance tags", query=(TAG, DRY_RUN)
)
async def instance_tags_delete(self: Resources, call: Call) -> Any:
    return await self.tags_change(
        call, "OP_TAGS_DEL", constants.TAG_INSTANCE, call.vars["instance"]
    )


# ===================================================================================
# Node groups
# ===================================================================================

GROUP_URI = "/2/groups/{}"


@route("/2/groups", "GET", summary="List node groups", query=(BULK,), returns="list")
async def groups_list(self: Resources, call: Call) -> Any:
    return await self.listing(call, L.REQ_QUERY_GROUPS, RAPI_FIELDS["group"], "name", GROUP_URI)


@route(
    "/2/groups",
    "POST",
    summary="Add a node group (OP_GROUP_ADD)",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
)
async def group_add(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_GROUP_ADD", body=call.body_dict(), renames={"name": "group_name"}
    )


@route("/2/groups/<group>", "GET", summary="One node group", returns="object")
async def group_get(self: Resources, call: Call) -> Any:
    return await self.one(L.REQ_QUERY_GROUPS, call.vars["group"], RAPI_FIELDS["group"])


@route("/2/groups/<group>", "DELETE", summary="Remove a node group", query=(DRY_RUN,))
async def group_remove(self: Resources, call: Call) -> Any:
    return await self.submit_op(call, "OP_GROUP_REMOVE", static={"group_name": call.vars["group"]})


@route(
    "/2/groups/<group>/modify",
    "PUT",
    summary="Change node group parameters (OP_GROUP_SET_PARAMS)",
    query=(DRY_RUN,),
    body="object",
)
async def group_modify(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call,
        "OP_GROUP_SET_PARAMS",
        body=call.body_dict(),
        static={"group_name": call.vars["group"]},
        renames={
            "custom_ndparams": "ndparams",
            "custom_ipolicy": "ipolicy",
            "custom_diskparams": "diskparams",
        },
    )


@route(
    "/2/groups/<group>/rename",
    "PUT",
    summary="Rename a node group (OP_GROUP_RENAME)",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
)
async def group_rename(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_GROUP_RENAME", body=call.body_dict(), static={"group_name": call.vars["group"]}
    )


@route(
    "/2/groups/<group>/assign-nodes",
    "PUT",
    summary="Move nodes into a node group (OP_GROUP_ASSIGN_NODES)",
    query=(FORCE, DRY_RUN),
    body="object",
    body_required=True,
)
async def group_assign_nodes(self: Resources, call: Call) -> Any:
    static = {"group_name": call.vars["group"], "force": call.bool_arg("force")}
    return await self.submit_op(call, "OP_GROUP_ASSIGN_NODES", body=call.body_dict(), static=static)


@route("/2/groups/<group>/tags", "GET", summary="A node group's tags", returns="list")
async def group_tags_get(self: Resources, call: Call) -> Any:
    return await self.tags_get(constants.TAG_NODEGROUP, call.vars["group"])


@route("/2/groups/<group>/tags", "PUT", summary="Add node group tags", query=(TAG, DRY_RUN))
async def group_tags_put(self: Resources, call: Call) -> Any:
    return await self.tags_change(call, "OP_TAGS_SET", constants.TAG_NODEGROUP, call.vars["group"])


@route("/2/groups/<group>/tags", "DELETE", summary="Remove node group tags", query=(TAG, DRY_RUN))
async def group_tags_delete(self: Resources, call: Call) -> Any:
    return await self.tags_change(call, "OP_TAGS_DEL", constants.TAG_NODEGROUP, call.vars["group"])


# ===================================================================================
# Networks
# ===================================================================================

NETWORK_URI = "/2/networks/{}"


@route("/2/networks", "GET", summary="List networks", query=(BULK,), returns="list")
async def networks_list(self: Resources, call: Call) -> Any:
    return await self.listing(
        call, L.REQ_QUERY_NETWORKS, RAPI_FIELDS["network"], "name", NETWORK_URI
    )


@route(
    "/2/networks",
    "POST",
    summary="Add a network (OP_NETWORK_ADD)",
    query=(DRY_RUN,),
    body="object",
    body_required=True,
)
async def network_add(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_NETWORK_ADD", body=call.body_dict(), renames={"name": "network_name"}
    )


@route("/2/networks/<network>", "GET", summary="One network", returns="object")
async def network_get(self: Resources, call: Call) -> Any:
    return await self.one(L.REQ_QUERY_NETWORKS, call.vars["network"], RAPI_FIELDS["network"])


@route("/2/networks/<network>", "DELETE", summary="Remove a network", query=(DRY_RUN,))
async def network_remove(self: Resources, call: Call) -> Any:
    return await self.submit_op(
        call, "OP_NETWORK_REMOVE", static={"network_name": call.vars["network"]}
    )


def _network_action(op_id: str, summary: str, dry_run: bool = True) -> None:
    async def handler(self: Resources, call: Call) -> Any:
        return await self.submit_op(
            call,
            op_id,
            body=call.body_dict(),
            static={"network_name": call.vars["network"]},
            dry_run=dry_run,
        )

    action = summary.split()[0].lower()
    handler.__name__ = f"network_{action}"
    route(
        f"/2/networks/<network>/{action}",
        "PUT",
        summary=f"{summary} ({op_id})",
        query=(DRY_RUN,) if dry_run else (),
        body="object",
    )(handler)


_network_action("OP_NETWORK_SET_PARAMS", "Modify a network's parameters", dry_run=False)
_network_action("OP_NETWORK_RENAME", "Rename a network")
_network_action("OP_NETWORK_CONNECT", "Connect a network to a node group")
_network_action("OP_NETWORK_DISCONNECT", "Disconnect a network from a node group")


@route("/2/networks/<network>/tags", "GET", summary="A network's tags", returns="list")
async def network_tags_get(self: Resources, call: Call) -> Any:
    return await self.tags_get(constants.TAG_NETWORK, call.vars["network"])


@route("/2/networks/<network>/tags", "PUT", summary="Add network tags", query=(TAG, DRY_RUN))
async def network_tags_put(self: Resources, call: Call) -> Any:
    return await self.tags_change(call, "OP_TAGS_SET", constants.TAG_NETWORK, call.vars["network"])


@route("/2/networks/<network>/tags", "DELETE", summary="Remove network tags", query=(TAG, DRY_RUN))
async def network_tags_delete(self: Resources, call: Call) -> Any:
    return await self.tags_change(call, "OP_TAGS_DEL", constants.TAG_NETWORK, call.vars["network"])


# ===================================================================================
# Jobs
# ===================================================================================


@route("/2/jobs", "GET", summary="List jobs", query=(BULK,), returns="list")
async def jobs_list(self: Resources, call: Call) -> Any:
    if call.bulk:
        fields = list(RAPI_FIELDS["job_bulk"])
        rows = await self.luxi_call(L.REQ_QUERY_JOBS, None, fields)
        return [dict(zip(fields, row, strict=False)) for row in rows if row is not None]
    rows = await self.luxi_call(L.REQ_QUERY_JOBS, None, ["id"])
    ids = sorted(int(row[0]) for row in rows if row is not None)
    return [{"id": job_id, "uri": f"/2/jobs/{job_id}"} for job_id in ids]


@route("/2/jobs/<job_id>", "GET", summary="One job", returns="object")
async def job_get(self: Resources, call: Call) -> Any:
    fields = list(RAPI_FIELDS["job"])
    job_id = int(call.vars["job_id"])
    rows = await self.luxi_call(L.REQ_QUERY_JOBS, [job_id], fields)
    if not rows or rows[0] is None:
        raise HttpError(404, f"Job {job_id} not found")
    return dict(zip(fields, rows[0], strict=False))


@route(
    "/2/jobs/<job_id>",
    "DELETE",
    access=OPS,
    summary="Cancel a job: [success, message]",
    returns="list",
)
async def job_cancel(self: Resources, call: Call) -> Any:
    return await self.luxi_call(L.REQ_CANCEL_JOB, int(call.vars["job_id"]), False)


@route(
    "/2/jobs/<job_id>/wait",
    "GET",
    access=OPS,
    summary="Wait (up to 10 s) for a job to change",
    body="object",
    body_required=True,
    returns="object",
)
async def job_wait(self: Resources, call: Call) -> Any:
    body = call.body_dict()
    fields = body.get("fields")
    prev_info = body.get("previous_job_info")
    prev_serial = body.get("previous_log_serial")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise bad_request("The 'fields' parameter should be a list of strings")
    if prev_info is not None and not isinstance(prev_info, list):
        raise bad_request("The 'previous_job_info' parameter should be a list")
    if prev_serial is not None and (
        not isinstance(prev_serial, int) or isinstance(prev_serial, bool)
    ):
        raise bad_request("The 'previous_log_serial' parameter should be a number")
    answer = await self.luxi_call(
        L.REQ_WAIT_FOR_JOB_CHANGE,
        int(call.vars["job_id"]),
        fields,
        prev_info,
        prev_serial,
        WFJC_TIMEOUT,
    )
    if not isinstance(answer, list) or len(answer) != 2:
        return None
    job_info, log_entries = answer
    return {"job_info": job_info, "log_entries": log_entries}


# ===================================================================================
# Query2
# ===================================================================================


def _query_resource(call: Call) -> str:
    what = call.vars["resource"]
    if what not in QUERY_RESOURCES:
        raise HttpError(404, f"Resource {what!r} cannot be queried")
    return what


@route(
    "/2/query/<resource>",
    "GET",
    access=RW,
    summary="Query a resource (no filter)",
    query=(QueryParam("fields", "csv", required=True),),
    returns="object",
)
async def query_get(self: Resources, call: Call) -> Any:
    what = _query_resource(call)
    fields = [f for f in call.req_str("fields").split(",") if f]
    return await self.luxi_call(L.REQ_QUERY, what, fields, None)


@route(
    "/2/query/<resource>",
    "PUT",
    access=RW,
    summary="Query a resource with a filter",
    query=(QueryParam("fields", "csv"),),
    body="object",
    returns="object",
)
async def query_put(self: Resources, call: Call) -> Any:
    what = _query_resource(call)
    body = call.body_dict()
    fields = body.get("fields")
    if fields is None:
        text = call.str_arg("fields")
        fields = [f for f in text.split(",") if f] if text else None
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise bad_request("'fields' must be a non-empty list of field names")
    qfilter = body.get("qfilter", body.get("filter"))
    if qfilter is not None and not isinstance(qfilter, list):
        raise bad_request("'qfilter' must be a list (or null)")
    return await self.luxi_call(L.REQ_QUERY, what, fields, qfilter)


@route(
    "/2/query/<resource>/fields",
    "GET",
    summary="Field definitions of a resource",
    query=(QueryParam("fields", "csv"),),
    returns="object",
)
async def query_fields(self: Resources, call: Call) -> Any:
    what = _query_resource(call)
    text = call.str_arg("fields")
    fields = [f for f in text.split(",") if f] if text else None
    return await self.luxi_call(L.REQ_QUERY_FIELDS, what, fields)


# ===================================================================================
# Filters (job filter rules); the master may not have them yet
# ===================================================================================


async def _filters_call(self: Resources, method: str, *args: Any) -> Any:
    try:
        return await self.luxi_call(method, *args)
    except errors.LuxiError as exc:
        if "unknown LUXI method" in str(exc):
            raise HttpError(
                501, f"The master daemon does not support job filters yet ({method})"
            ) from None
        raise


def _filter_body(call: Call) -> tuple[Any, Any, Any, Any]:
    body = call.body_dict()
    priority = body.get("priority", 0)
    predicates = body.get("predicates", [])
    action = body.get("action", "CONTINUE")
    reason = body.get("reason", [])
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise bad_request("'priority' must be an integer")
    if not isinstance(predicates, list) or not isinstance(reason, list):
        raise bad_request("'predicates' and 'reason' must be lists")
    return priority, predicates, action, reason


@route("/2/filters", "GET", summary="List job filter rules", query=(BULK,), returns="list")
async def filters_list(self: Resources, call: Call) -> Any:
    fields = FILTER_FIELDS if call.bulk else ["uuid"]
    rows = await _filters_call(self, "QueryFilters", None, fields)
    if call.bulk:
        return [dict(zip(fields, row, strict=False)) for row in rows]
    return [{"uuid": row[0], "uri": f"/2/filters/{row[0]}"} for row in rows]


@route(
    "/2/filters",
    "POST",
    summary="Add a job filter rule; returns its UUID",
    body="object",
    body_required=True,
    returns="string",
)
async def filter_add(self: Resources, call: Call) -> Any:
    return await _filters_call(self, "ReplaceFilter", None, *_filter_body(call))


@route("/2/filters/<uuid>", "GET", summary="One job filter rule", returns="object")
async def filter_get(self: Resources, call: Call) -> Any:
    rows = await _filters_call(self, "QueryFilters", [call.vars["uuid"]], FILTER_FIELDS)
    if not rows or rows[0] is None:
        raise HttpError(404, f"Filter {call.vars['uuid']} not found")
    return dict(zip(FILTER_FIELDS, rows[0], strict=False))


@route(
    "/2/filters/<uuid>",
    "PUT",
    summary="Replace a job filter rule",
    body="object",
    body_required=True,
    returns="string",
)
async def filter_replace(self: Resources, call: Call) -> Any:
    return await _filters_call(self, "ReplaceFilter", call.vars["uuid"], *_filter_body(call))


@route("/2/filters/<uuid>", "DELETE", summary="Delete a job filter rule", returns="null")
async def filter_delete(self: Resources, call: Call) -> Any:
    await _filters_call(self, "DeleteFilter", call.vars["uuid"])
    return None
