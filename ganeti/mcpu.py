"""The opcode processor: runs one opcode by driving its logical unit under locks.

The job queue calls :meth:`IOpcodeProcessor.execute` once per opcode with callbacks
(:class:`IOpExecCallbacks`) through which the processor reports progress.  What happens:

1. The LU class is looked up by ``OP_ID`` (an opcode without an LU fails with
   :class:`~ganeti.errors.OpCodeUnknown` "... is not implemented yet").
2. ``lu.expand_names()``; the BGL is acquired (exclusive if ``REQ_BGL``, else shared),
   then each further level in order (``declare_locks(level)`` first).  The owner is the
   job id, the priority is ``callbacks.current_priority()`` at the time of the request.
   Lock names the lock manager does not know yet are registered first (locks exist
   implicitly for every config object, as since Ganeti 2.12).  A level the LU marks in
   ``opportunistic_locks`` is taken without waiting: the free part of it, or nothing.
3. ``callbacks.notify_start()`` (the opcode becomes ``running``), ``lu.check_prereq()``,
   then ``await lu.exec(feedback)`` unless ``dry_run``.
4. All locks of the job are released, whatever happened.
5. A :class:`~ganeti.cmdlib.base.ResultWithJobs` result: its jobs are submitted through
   ``hooks.submit_jobs`` and the opcode's result is ``{"jobs": [[True, id] | [False,
   message], ...], ...}``.

Cancelling the Deferred returned by ``execute`` cancels whatever the LU or a lock wait
is waiting for; the Deferred then fails with ``CancelledError``.  Other failures are
exceptions; :func:`encode_error` turns one into the ``[ErrorClass, [args...]]`` form
stored as a failed opcode's result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import Interface, implementer

from ganeti import errors
from ganeti.cmdlib.base import LogicalUnit, LUContext, MasterHooks, ResultWithJobs, lu_registry
from ganeti.config.interfaces import IConfigWriter
from ganeti.locking import (
    ALL_SET,
    BGL,
    LEVEL_CLUSTER,
    LEVEL_INSTANCE,
    LEVEL_NETWORK,
    LEVEL_NODE,
    LEVEL_NODE_RES,
    LEVEL_NODEGROUP,
    LEVELS,
    ILockManager,
    Names,
)
from ganeti.opcodes import OpCode
from ganeti.paths import Paths
from ganeti.rpc.client import IRpcClient

log = Logger()

ELOG_MESSAGE = "message"  # job log entry type (kept equal to ganeti.jobs.model)


class IOpExecCallbacks(Interface):
    """How the processor reports on the opcode it runs (implemented by the queue)."""

    def notify_start() -> None:
        """Locks are held; the LU is about to check and execute (opcode -> running)."""

    def feedback(msg_type: str, message: str) -> None:
        """Append a log entry to the job."""

    def current_priority() -> int:
        """The opcode's priority now (it may change while waiting)."""


class IOpcodeProcessor(Interface):
    """Executes single opcodes; used by the job queue."""

    def execute(op: OpCode, job_id: int, callbacks: IOpExecCallbacks) -> Deferred[Any]:
        """Run ``op`` for job ``job_id``; fires with the result or fails with the error."""


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def encode_error(exc: BaseException) -> list[Any]:
    """``[ErrorClass, [args...]]`` as stored in a failed opcode's result.

    Ganeti errors keep their class name and arguments (``OpPrereqError`` carries
    ``[message, ecode]``); anything else is an unexpected failure reported as
    ``OpExecError`` with the exception's text.
    """
    if isinstance(exc, errors.OpPrereqError):
        return ["OpPrereqError", [str(exc.args[0]), exc.ecode]]
    if isinstance(exc, errors.GanetiError):
        args = list(exc.args) or [str(exc)]
        return [type(exc).__name__, _jsonable(args)]
    return ["OpExecError", [f"{type(exc).__name__}: {exc}"]]


def _config_names(config: IConfigWriter, level: int) -> list[str]:
    if level == LEVEL_INSTANCE:
        return [i.uuid for i in config.get_instances()]
    if level == LEVEL_NODEGROUP:
        return [g.uuid for g in config.get_groups()]
    if level in (LEVEL_NODE, LEVEL_NODE_RES):
        return [n.uuid for n in config.get_nodes()]
    if level == LEVEL_NETWORK:
        return [n.uuid for n in config.get_networks()]
    return []


@implementer(IOpcodeProcessor)
class OpcodeProcessor:
    """Runs opcodes through their LUs; see the module docstring."""

    def __init__(
        self,
        *,
        config: IConfigWriter,
        locks: ILockManager,
        rpc: IRpcClient,
        clock: IReactorTime,
        paths: Paths,
        registry: Mapping[str, type[LogicalUnit]] | None = None,
        hooks: MasterHooks | None = None,
    ) -> None:
        self.hooks = hooks or MasterHooks()
        self.config = config
        self.locks = locks
        self.rpc = rpc
        self.clock = clock
        self.paths = paths
        self.registry: Mapping[str, type[LogicalUnit]] = (
            lu_registry() if registry is None else registry
        )

    def execute(self, op: OpCode, job_id: int, callbacks: IOpExecCallbacks) -> Deferred[Any]:
        return Deferred.fromCoroutine(self._execute(op, job_id, callbacks))

    async def _execute(self, op: OpCode, job_id: int, callbacks: IOpExecCallbacks) -> Any:
        lu_class = self.registry.get(op.OP_ID)
        if lu_class is None:
            raise errors.OpCodeUnknown(f"Opcode {op.OP_ID} is not implemented yet")

        def feedback(message: str) -> None:
            callbacks.feedback(ELOG_MESSAGE, message)

        ctx = LUContext(
            config=self.config,
            locks=self.locks,
            rpc=self.rpc,
            clock=self.clock,
            paths=self.paths,
            job_id=job_id,
            feedback=feedback,
            hooks=self.hooks,
        )
        lu = lu_class(op, ctx)
        result = await self._run_lu(lu, op, job_id, callbacks, feedback)
        if isinstance(result, ResultWithJobs):
            return await self._submit_jobs(result, op)
        return result

    async def _run_lu(
        self,
        lu: LogicalUnit,
        op: OpCode,
        job_id: int,
        callbacks: IOpExecCallbacks,
        feedback: Callable[[str], None],
    ) -> Any:
        try:
            lu.expand_names()
            await self._acquire(job_id, LEVEL_CLUSTER, [BGL], not lu.REQ_BGL, callbacks)
            for level in LEVELS:
                if level == LEVEL_CLUSTER:
                    continue
                lu.declare_locks(level)
                names = lu.needed_locks.get(level)
                if names is None:
                    continue
                if names is not ALL_SET and not isinstance(names, str):
                    names = list(names)
                await self._acquire(
                    job_id,
                    level,
                    names,
                    bool(lu.share_locks.get(level)),
                    callbacks,
                    opportunistic=bool(lu.opportunistic_locks.get(level)),
                )
            callbacks.notify_start()
            lu.check_prereq()
            if op.dry_run:
                return None
            return await lu.exec(feedback)
        finally:
            self.locks.release(job_id)

    async def _submit_jobs(self, result: ResultWithJobs, parent: OpCode) -> dict[str, Any]:
        """Submit the jobs an LU asked for (its locks are already released).

        Like Ganeti, the new opcodes inherit the parent's priority and reason trail
        unless they set their own.
        """
        out: dict[str, Any] = dict(result.other)
        if not result.jobs:
            out["jobs"] = []
            return out
        submit = self.hooks.submit_jobs
        if submit is None:
            raise errors.OpExecError("this master cannot submit jobs from a job")
        jobs: list[list[dict[str, Any]]] = []
        for ops in result.jobs:
            job = []
            for op in ops:
                data = dict(op)
                if getattr(parent, "priority", None) is not None:
                    data.setdefault("priority", parent.priority)
                if getattr(parent, "reason", None):
                    data.setdefault("reason", [list(r) for r in parent.reason])
                job.append(data)
            jobs.append(job)
        out["jobs"] = _jsonable(await submit(jobs))
        return out

    async def _acquire(
        self,
        owner: int,
        level: int,
        names: Names,
        shared: bool,
        callbacks: IOpExecCallbacks,
        *,
        opportunistic: bool = False,
    ) -> frozenset[str]:
        if level != LEVEL_CLUSTER:
            self._register(level, names)
        if opportunistic:
            # Whatever is free now (at least one), else nothing: never wait.
            try:
                return await self.locks.acquire(
                    owner,
                    level,
                    names,
                    shared=shared,
                    priority=callbacks.current_priority(),
                    opportunistic=True,
                    timeout=0,
                )
            except errors.LockTimeout:
                return frozenset()
        return await self.locks.acquire(
            owner, level, names, shared=shared, priority=callbacks.current_priority()
        )

    def _register(self, level: int, names: Names) -> None:
        wanted: Iterable[str]
        if names is ALL_SET:
            wanted = _config_names(self.config, level)
        elif isinstance(names, str):
            wanted = [names]
        else:
            wanted = names
        missing = set(wanted) - self.locks.known(level)
        if missing:
            self.locks.add(level, missing)
