"""LUXI methods of the master: each decodes its arguments and calls the queue or a query.

Argument order and result shapes follow Ganeti's LUXI so that its clients work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.logger import Logger

from ganeti import constants as C
from ganeti import errors, query
from ganeti.config.writer import ConfigWriter
from ganeti.fileutils import write_file_atomic
from ganeti.jobs.queue import JobQueue
from ganeti.locking import LockManager
from ganeti.luxi import protocol as L
from ganeti.masterd.coalesce import Coalescer
from ganeti.masterd.live import (
    LIVE_INSTANCE_FIELDS,
    LIVE_NODE_FIELDS,
    gather_instance_live,
    gather_node_live,
)
from ganeti.paths import Paths
from ganeti.rpc.client import IRpcClient

log = Logger()

WFJC_MAX_TIMEOUT = 89.0


class MasterHandlers:
    """The object behind the LUXI socket."""

    def __init__(
        self,
        *,
        paths: Paths,
        config: ConfigWriter,
        queue: JobQueue,
        locks: LockManager,
        rpc: IRpcClient,
    ) -> None:
        self.paths = paths
        self.config = config
        self.queue = queue
        self.locks = locks
        self.rpc = rpc
        # Concurrent live queries share fan-outs (never one that started before them).
        self._node_live = Coalescer(lambda: gather_node_live(self.config, self.rpc))
        self._instance_live = Coalescer(lambda: gather_instance_live(self.config, self.rpc))

    def table(self) -> Mapping[str, Callable[..., Any]]:
        return {
            L.REQ_SUBMIT_JOB: self.submit_job,
            L.REQ_SUBMIT_JOB_TO_DRAINED_QUEUE: self.submit_job_to_drained_queue,
            L.REQ_SUBMIT_MANY_JOBS: self.submit_many_jobs,
            L.REQ_WAIT_FOR_JOB_CHANGE: self.wait_for_job_change,
            L.REQ_CANCEL_JOB: self.cancel_job,
            L.REQ_ARCHIVE_JOB: self.archive_job,
            L.REQ_AUTO_ARCHIVE_JOBS: self.auto_archive_jobs,
            L.REQ_CHANGE_JOB_PRIORITY: self.change_job_priority,
            L.REQ_QUERY_JOBS: self.query_jobs,
            L.REQ_QUERY: self.query,
            L.REQ_QUERY_FIELDS: self.query_fields,
            L.REQ_QUERY_NODES: self.query_nodes,
            L.REQ_QUERY_INSTANCES: self.query_instances,
            L.REQ_QUERY_GROUPS: self.query_groups,
            L.REQ_QUERY_NETWORKS: self.query_networks,
            L.REQ_QUERY_CLUSTER_INFO: self.query_cluster_info,
            L.REQ_QUERY_CONFIG_VALUES: self.query_config_values,
            L.REQ_QUERY_TAGS: self.query_tags,
            L.REQ_SET_DRAIN_FLAG: self.set_drain_flag,
            L.REQ_SET_WATCHER_PAUSE: self.set_watcher_pause,
        }

    # --- jobs -------------------------------------------------------------------------

    @staticmethod
    def _ops(ops: Any) -> list[dict[str, Any]]:
        if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
            raise errors.OpPrereqError("a job must be a list of opcode dicts", errors.ECODE_INVAL)
        if not ops:
            raise errors.OpPrereqError("a job needs at least one opcode", errors.ECODE_INVAL)
        return ops

    async def submit_job(self, ops: Any) -> int:
        return await self.queue.submit_job(self._ops(ops))

    async def submit_job_to_drained_queue(self, ops: Any) -> int:
        return await self.queue.submit_job(self._ops(ops), ignore_drain=True)

    async def submit_many_jobs(self, jobs: Any) -> list[Any]:
        if not isinstance(jobs, list):
            raise errors.OpPrereqError("SubmitManyJobs takes a list of jobs", errors.ECODE_INVAL)
        return await self.queue.submit_many_jobs([self._ops(j) for j in jobs])

    async def wait_for_job_change(
        self,
        job_id: Any,
        fields: Any,
        prev_job_info: Any,
        prev_log_serial: Any,
        timeout: Any,
    ) -> Any:
        if not isinstance(fields, list):
            raise errors.OpPrereqError("fields must be a list", errors.ECODE_INVAL)
        try:
            tmo = min(float(timeout), WFJC_MAX_TIMEOUT)
        except (TypeError, ValueError):
            raise errors.OpPrereqError("timeout must be a number", errors.ECODE_INVAL) from None
        return await self.queue.wait_for_job_change(
            _job_id(job_id), fields, prev_job_info, prev_log_serial, max(tmo, 0.0)
        )

    def cancel_job(self, job_id: Any, kill: Any = False) -> Any:
        return self.queue.cancel_job(_job_id(job_id), bool(kill))

    def archive_job(self, job_id: Any) -> bool:
        return self.queue.archive_job(_job_id(job_id))

    def auto_archive_jobs(self, age: Any, timeout: Any) -> Any:
        if not isinstance(age, int | float) or not isinstance(timeout, int | float):
            raise errors.OpPrereqError("age and timeout must be numbers", errors.ECODE_INVAL)
        return self.queue.auto_archive_jobs(age, timeout)

    def change_job_priority(self, job_id: Any, priority: Any) -> Any:
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise errors.OpPrereqError("priority must be an integer", errors.ECODE_INVAL)
        return self.queue.change_job_priority(_job_id(job_id), priority)

    def query_jobs(self, job_ids: Any, fields: Any) -> Any:
        if job_ids is not None and not isinstance(job_ids, list):
            raise errors.OpPrereqError("job ids must be a list or null", errors.ECODE_INVAL)
        ids = None if not job_ids else [_job_id(j) for j in job_ids]
        return self.queue.query_jobs(ids, _fields(fields))

    def set_drain_flag(self, flag: Any) -> bool:
        if not isinstance(flag, bool):
            raise errors.OpPrereqError("the drain flag must be a boolean", errors.ECODE_INVAL)
        self.queue.set_drain_flag(flag)
        return True

    # --- queries ----------------------------------------------------------------------

    def _jobs_source(self, include_archived: bool) -> Any:
        for job in self.queue.iter_jobs(include_archived):
            data = job.to_dict()
            data["archived"] = bool(getattr(job, "archived", False))
            yield data

    async def _context(self, what: str, fields: Sequence[str]) -> query.QueryContext:
        node_live = None
        if what == "node" and LIVE_NODE_FIELDS.intersection(fields):
            node_live = await self._node_live.get()
        instance_live = None
        failed_nodes: frozenset[str] = frozenset()
        if what == "instance" and LIVE_INSTANCE_FIELDS.intersection(fields):
            instance_live, failed_nodes = await self._instance_live.get()
        return query.QueryContext(
            config=self.config.config,
            node_live=node_live,
            instance_live=instance_live,
            failed_nodes=failed_nodes,  # type: ignore[arg-type]  # attrs converter
            jobs=self._jobs_source,
            locks=self.locks,
            # Only cluster queries show these; the pause is a file read.
            drain_flag=self.queue.is_drained() if what == "cluster" else None,
            watcher_pause=self._watcher_pause() if what == "cluster" else None,
            exports=await self._exports() if what == C.QR_EXPORT else None,
        )

    async def _exports(self) -> dict[str, list[str] | None]:
        """``export_list`` on every online node (the ``export`` query resource)."""
        nodes = [n.name for n in self.config.config.nodes.values() if not n.offline]
        if not nodes:
            return {}
        results = await self.rpc.call(nodes, "export_list", [])
        return {
            name: (list(res.payload or []) if res.ok else None) for name, res in results.items()
        }

    async def query(self, what: Any, fields: Any, qfilter: Any = None) -> Any:
        if not isinstance(what, str):
            raise errors.OpPrereqError("the resource must be a string", errors.ECODE_INVAL)
        fields = _fields(fields)
        ctx = await self._context(what, fields)
        return query.query(what, fields, qfilter, ctx)

    def query_fields(self, what: Any, fields: Any = None) -> Any:
        if not isinstance(what, str):
            raise errors.OpPrereqError("the resource must be a string", errors.ECODE_INVAL)
        return query.query_fields(what, None if fields is None else _fields(fields))

    async def _old_style(self, what: str, names: Any, fields: Any) -> Any:
        if names is not None and not isinstance(names, list):
            raise errors.OpPrereqError("names must be a list", errors.ECODE_INVAL)
        fields = _fields(fields)
        ctx = await self._context(what, fields)
        return query.query_old_style(what, names, fields, ctx)

    async def query_nodes(self, names: Any, fields: Any, use_locking: Any = False) -> Any:
        return await self._old_style("node", names, fields)

    async def query_instances(self, names: Any, fields: Any, use_locking: Any = False) -> Any:
        return await self._old_style("instance", names, fields)

    async def query_groups(self, names: Any, fields: Any, use_locking: Any = False) -> Any:
        return await self._old_style("group", names, fields)

    async def query_networks(self, names: Any, fields: Any, use_locking: Any = False) -> Any:
        return await self._old_style("network", names, fields)

    async def query_cluster_info(self) -> Any:
        return query.cluster_info(await self._context("cluster", []))

    async def query_config_values(self, fields: Any) -> Any:
        fields = _fields(fields)
        return query.query_config_values(fields, await self._context("cluster", fields))

    def query_tags(self, kind: Any, name: Any) -> list[str]:
        cfg = self.config
        if kind == "cluster":
            tags = cfg.get_cluster().tags
        elif kind == "node":
            tags = cfg.lookup_node(str(name)).tags
        elif kind == "instance":
            tags = cfg.lookup_instance(str(name)).tags
        elif kind == "nodegroup":
            tags = cfg.lookup_group(str(name)).tags
        elif kind == "network":
            tags = cfg.lookup_network(str(name)).tags
        else:
            raise errors.OpPrereqError(f"unknown tag kind {kind!r}", errors.ECODE_INVAL)
        return sorted(tags)

    # --- watcher ----------------------------------------------------------------------

    def _watcher_pause(self) -> float | None:
        try:
            value = float(self.paths.watcher_pause.read_text().strip())
        except (OSError, ValueError):
            return None
        return value if value > time.time() else None

    async def set_watcher_pause(self, until: Any) -> Any:
        if until is not None and not isinstance(until, int | float):
            raise errors.OpPrereqError("until must be a timestamp or null", errors.ECODE_INVAL)
        if until is None:
            self.paths.watcher_pause.unlink(missing_ok=True)
        else:
            write_file_atomic(self.paths.watcher_pause, f"{int(until)}\n".encode(), mode=0o644)
        others = [n.name for n in self.config.get_nodes() if n.name != self._master_name()]
        if others:
            results = await self.rpc.call(others, "set_watcher_pause", [until])
            for res in results.values():
                if not res.ok and not res.offline:
                    log.warn(
                        "could not set watcher pause on {node}: {msg}",
                        node=res.node,
                        msg=res.fail_msg,
                    )
        return until

    def _master_name(self) -> str:
        return self.config.get_master_node().name


def _job_id(value: Any) -> int:
    try:
        job_id = int(value)
    except (TypeError, ValueError):
        raise errors.OpPrereqError(f"invalid job id {value!r}", errors.ECODE_INVAL) from None
    if job_id < 0:
        raise errors.OpPrereqError(f"invalid job id {value!r}", errors.ECODE_INVAL)
    return job_id


def _fields(fields: Any) -> list[str]:
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise errors.OpPrereqError("fields must be a list of strings", errors.ECODE_INVAL)
    return fields
