"""The logical unit (LU) base class, its execution context and the OP_ID -> LU registry.

An LU implements one opcode.  The processor (:mod:`ganeti.mcpu`) drives it through these
steps, in this order:

1. ``expand_names()``: resolve user-given names to UUIDs (raise ``OpPrereqError`` for
   unknown ones) and declare locks: ``self.needed_locks[level] = names | ALL_SET`` and
   ``self.share_locks[level] = True`` for shared mode (exclusive otherwise);
   ``self.opportunistic_locks[level] = True`` takes only the free part of a level.  The
   cluster level (the BGL) is always taken by the processor: shared unless the LU sets
   ``REQ_BGL = True``.
2. For each level from instance to network: ``declare_locks(level)`` (compute locks of a
   lower level from what the higher levels hold), then the processor acquires
   ``needed_locks[level]`` if present, owner = job id, at the job's priority.
3. ``check_prereq()``: checks against the in-memory configuration; no side effects.
   With ``dry_run`` the processor stops here and returns None.
4. ``await exec(feedback)``: does the work and returns the opcode result (JSON-able).
   ``feedback(message)`` appends a line to the job log.

Locks are released when the opcode ends, however it ends.  Errors are exceptions:
``OpPrereqError(message, ecode)`` for unmet preconditions, ``OpExecError`` for failures
during execution; the processor turns them into Ganeti-style results.

Registering an LU::

    @register
    class LUClusterQuery(LogicalUnit):
        OP_ID = "OP_CLUSTER_QUERY"
        ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar

from attrs import define, field, frozen
from twisted.internet.interfaces import IReactorTime

from ganeti import errors
from ganeti.config.interfaces import IConfigWriter
from ganeti.locking import ILockManager, Names
from ganeti.opcodes import OpCode, lookup
from ganeti.paths import Paths
from ganeti.rpc.client import IRpcClient

Feedback = Callable[[str], None]


@define
class MasterHooks:
    """Services of the running master that some LUs need; absent (None) in unit tests
    that do not exercise them."""

    # An RPC client presenting the cluster certificate as its client certificate: the
    # only identity a node that has not joined yet accepts (node add).
    bootstrap_rpc: IRpcClient | None = None
    # An RPC client presenting the master's previous client certificate (after a
    # renewal, nodes that were down still know only that one).
    previous_rpc: IRpcClient | None = None
    # Apply a new ``max_running_jobs`` to the job queue at once.
    set_max_running_jobs: Callable[[int], None] | None = None
    # Replace the master's own RPC client certificate (renew-crypto).
    reload_client_certificate: Callable[[], None] | None = None
    # ``candidate_pool_size`` changed: promote candidates as needed.
    candidate_pool_changed: Callable[[], object] | None = None
    # OP_CLUSTER_DESTROY passed its checks (argument: the master's name): the master
    # leaves the cluster and stops once the job's result is written.
    cluster_destroyed: Callable[[str], object] | None = None
    # Submit new jobs (lists of opcode dicts), as LUXI SubmitManyJobs does; fires with
    # ``[[True, job_id] | [False, message], ...]``.  Used for :class:`ResultWithJobs`.
    submit_jobs: Callable[[list[list[dict[str, Any]]]], Awaitable[list[list[Any]]]] | None = None


@frozen
class ResultWithJobs:
    """An LU result that fans out into new jobs (Ganeti's ``ResultWithJobs``).

    The processor submits ``jobs`` (each a list of opcode dicts) once the LU is done and
    its locks are released; the opcode's result becomes ``{"jobs": [[True, id] |
    [False, message], ...], **other}`` (the ``JobIdListOnly`` shape).
    """

    jobs: list[list[dict[str, Any]]]
    other: dict[str, Any] = field(factory=dict)


@frozen
class LUContext:
    """What an LU may use: injected services plus the identity of the running job."""

    config: IConfigWriter
    locks: ILockManager
    rpc: IRpcClient
    clock: IReactorTime
    paths: Paths
    job_id: int
    feedback: Feedback
    hooks: MasterHooks = field(factory=lambda: MasterHooks())


class LogicalUnit:
    """Base class of all logical units; subclasses set ``OP_ID`` and override the steps."""

    OP_ID: ClassVar[str] = ""
    REQ_BGL: ClassVar[bool] = True
    """Whether the LU needs the Big Ganeti Lock exclusively (node add/remove, ...)."""

    def __init__(self, op: OpCode, ctx: LUContext) -> None:
        self.op: Any = op  # parameters are dynamic attributes
        self.ctx = ctx
        self.cfg = ctx.config
        self.needed_locks: dict[int, Names] = {}
        self.share_locks: dict[int, bool] = {}
        # Levels whose locks are taken opportunistically: whatever part of
        # ``needed_locks[level]`` is free right now (possibly nothing), without waiting.
        self.opportunistic_locks: dict[int, bool] = {}

    def expand_names(self) -> None:
        """Resolve names and declare ``needed_locks``/``share_locks``."""

    def declare_locks(self, level: int) -> None:
        """Adjust ``needed_locks[level]`` just before that level is acquired."""

    def check_prereq(self) -> None:
        """Check preconditions against the configuration; raise OpPrereqError if unmet."""

    async def exec(self, feedback: Feedback) -> Any:
        """Do the work; return the opcode result."""
        raise NotImplementedError

    def owned_locks(self, level: int) -> frozenset[str]:
        """Names of ``level`` this LU's job holds."""
        return self.ctx.locks.owned(self.ctx.job_id, level)


_REGISTRY: dict[str, type[LogicalUnit]] = {}
_L = TypeVar("_L", bound=type[LogicalUnit])


def register(cls: _L) -> _L:
    """Class decorator: make ``cls`` the implementation of ``cls.OP_ID``."""
    op_id = cls.OP_ID
    lookup(op_id)  # raises OpCodeUnknown for a typo
    if op_id in _REGISTRY:
        raise errors.ProgrammerError(f"two logical units for {op_id}")
    _REGISTRY[op_id] = cls
    return cls


def lu_registry() -> Mapping[str, type[LogicalUnit]]:
    """Every registered LU by OP_ID (a copy)."""
    return dict(_REGISTRY)
