"""The lock manager: who may touch which cluster object, and who waits for it.

Pure code: no reactor import.  Waits are Deferreds; timeouts use an injected
``IReactorTime``.

Levels
------
Locks live in six levels, acquired strictly in this order (``LEVELS``): cluster (one
lock, ``BGL``, the Big Ganeti Lock), instance, nodegroup, node, node-res, network.
Members of the non-cluster levels are named by the caller (UUIDs in practice) and must
be registered with :meth:`LockManager.add` before they can be locked; :meth:`remove`
unregisters them when the object is deleted.

Each level also has a pseudo lock, the *lockset*.  Holding any member implies holding
the lockset shared; acquiring ``ALL_SET`` means holding the lockset itself, in the
requested mode, which covers every member -- including members added later.  Hence a
whole-level holder conflicts with any other holder of a member unless both are shared.

Rules
-----
* Modes: shared (many owners) or exclusive (one owner).  Two holdings at a level
  conflict unless both are shared, or both name members and the names are disjoint.
* One request per call: a list of names (or ``ALL_SET``) at one level, one mode.  It is
  all-or-nothing: the Deferred fires with the names acquired once every one of them is
  granted; cancelling it or a timeout leaves nothing held.
* Order: an owner may only acquire at a level above every level it holds, once per level,
  and may have at most one request waiting.  Together with whole-set requests this makes
  deadlock impossible: an owner only waits for locks above everything it holds.
* Fairness: waiting requests of a level are ordered by priority (lower number first,
  -20..19 as job priorities) and then by arrival.  A request is granted as soon as it
  conflicts neither with a holder nor with an earlier request still waiting, so compatible
  shared requests are granted together and nobody jumps a conflicting waiter ahead of it.
* Opportunistic requests (design-opportunistic-locking) take the subset of the named
  members that is grantable now, once at least ``min_count`` of them are.
* Usage errors (order, unknown level or lock name, second waiting request) raise
  :class:`~ganeti.errors.LockError` immediately; the outcome of a wait arrives on the
  Deferred: the names, :class:`~ganeti.errors.LockTimeout`, ``CancelledError``, or
  ``LockError`` when a lock that was waited for got removed.
* Downgrade (exclusive to shared) works on a whole level at a time.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Final, Literal, TypeAlias

from attrs import define, frozen
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import Interface, implementer

from ganeti import constants, errors

LEVEL_CLUSTER: Final = 0
LEVEL_INSTANCE: Final = 1
LEVEL_NODEGROUP: Final = 2
LEVEL_NODE: Final = 3
LEVEL_NODE_RES: Final = 4
LEVEL_NETWORK: Final = 5
LEVELS: Final = (
    LEVEL_CLUSTER,
    LEVEL_INSTANCE,
    LEVEL_NODEGROUP,
    LEVEL_NODE,
    LEVEL_NODE_RES,
    LEVEL_NETWORK,
)
LEVEL_NAMES: Final[Mapping[int, str]] = {
    LEVEL_CLUSTER: "cluster",
    LEVEL_INSTANCE: "instance",
    LEVEL_NODEGROUP: "nodegroup",
    LEVEL_NODE: "node",
    LEVEL_NODE_RES: "node-res",
    LEVEL_NETWORK: "network",
}
BGL: Final = "BGL"
LOCKSET_NAME: Final = "[lockset]"


class Mode(enum.StrEnum):
    SHARED = "shared"
    EXCLUSIVE = "exclusive"


class _AllSet(enum.Enum):
    ALL_SET = "ALL_SET"


ALL_SET: Final = _AllSet.ALL_SET
"""Every member of a level, present and future (the level's lockset)."""

Names: TypeAlias = Iterable[str] | Literal[_AllSet.ALL_SET]
Owner: TypeAlias = Hashable


@frozen
class PendingInfo:
    """One waiting request, as shown by ``gnt-debug locks``."""

    owner: Owner
    mode: Mode
    priority: int


@frozen
class LockInfo:
    """State of one lock: ``name`` is ``<level>/<member>`` or ``<level>/[lockset]``."""

    name: str
    mode: Mode | None
    owners: tuple[Owner, ...]
    pending: tuple[PendingInfo, ...]


class ILockManager(Interface):
    """The lock manager as the job processor and the logical units see it."""

    def acquire(
        owner: Owner,
        level: int,
        names: Names,
        *,
        shared: bool = False,
        priority: int = constants.OP_PRIO_DEFAULT,
        timeout: float | None = None,
        opportunistic: bool = False,
        min_count: int = 1,
    ) -> Deferred[frozenset[str]]:
        """Request ``names`` at ``level``; fires with the names acquired."""

    def release(owner: Owner, level: int | None = None, names: Iterable[str] | None = None) -> None:
        """Release ``names`` (default all) at ``level`` (default every level)."""

    def drop(owner: Owner) -> None:
        """Cancel the owner's waiting request and release all it holds (job ended)."""

    def downgrade(owner: Owner, level: int) -> None:
        """Turn the owner's exclusive holding at ``level`` into a shared one."""

    def set_priority(owner: Owner, priority: int) -> bool:
        """Change the priority of the owner's waiting request; False if none waits."""

    def add(level: int, names: Iterable[str]) -> None:
        """Register new lock names (objects were created)."""

    def remove(level: int, names: Iterable[str], owner: Owner | None = None) -> None:
        """Unregister lock names (objects were deleted)."""

    def known(level: int) -> frozenset[str]:
        """The registered member names of ``level``."""

    def owned(owner: Owner, level: int) -> frozenset[str]:
        """Members of ``level`` the owner holds (all of them for a whole-level holding)."""

    def owns_all(owner: Owner, level: int) -> bool:
        """Whether the owner holds the whole level (``ALL_SET``)."""

    def owned_mode(owner: Owner, level: int) -> Mode | None:
        """Mode of the owner's holding at ``level``, None if it holds nothing there."""

    def is_waiting(owner: Owner) -> bool:
        """Whether the owner has a request waiting."""

    def list_locks() -> list[LockInfo]:
        """Every lock with mode, owners and waiters, for the lock monitor."""


def _conflict(
    a_names: frozenset[str] | None, a_mode: Mode, b_names: frozenset[str] | None, b_mode: Mode
) -> bool:
    """Whether two holdings at one level exclude each other (None = whole level)."""
    if a_mode is Mode.SHARED and b_mode is Mode.SHARED:
        return False
    if a_names is None or b_names is None:
        return True
    return not a_names.isdisjoint(b_names)


@define
class _Holding:
    mode: Mode
    names: frozenset[str] | None  # None: the whole level


@define(eq=False)
class _Request:
    owner: Owner
    level: int
    names: frozenset[str] | None  # None: ALL_SET
    mode: Mode
    priority: int
    seq: int
    opportunistic: bool
    min_count: int
    deferred: Deferred[frozenset[str]] | None = None
    timer: IDelayedCall | None = None

    def sort_key(self) -> tuple[int, int]:
        return (self.priority, self.seq)


def _lock_name(level: int, name: str) -> str:
    return f"{LEVEL_NAMES[level]}/{name}"


@implementer(ILockManager)
class LockManager:
    """In-memory lock manager; see the module docstring for the semantics."""

    def __init__(
        self, clock: IReactorTime, names: Mapping[int, Iterable[str]] | None = None
    ) -> None:
        self._clock = clock
        self._known: dict[int, set[str]] = {level: set() for level in LEVELS}
        self._known[LEVEL_CLUSTER].add(BGL)
        self._held: dict[int, dict[Owner, _Holding]] = {level: {} for level in LEVELS}
        self._pending: dict[int, list[_Request]] = {level: [] for level in LEVELS}
        self._waiting: dict[Owner, _Request] = {}
        self._seq = itertools.count()
        # Grants are applied at once but fired from the outermost call only, so that
        # callbacks re-entering the manager see consistent state.
        self._to_fire: list[tuple[_Request, frozenset[str]]] = []
        self._firing = False
        for level, level_names in (names or {}).items():
            self.add(level, level_names)

    # -- acquiring ----------------------------------------------------------------------

    def acquire(
        self,
        owner: Owner,
        level: int,
        names: Names,
        *,
        shared: bool = False,
        priority: int = constants.OP_PRIO_DEFAULT,
        timeout: float | None = None,
        opportunistic: bool = False,
        min_count: int = 1,
    ) -> Deferred[frozenset[str]]:
        self._check_level(level)
        if not constants.OP_PRIO_HIGHEST <= priority <= constants.OP_PRIO_LOWEST:
            raise errors.LockError(f"invalid lock priority {priority}")
        if min_count < 1:
            raise errors.LockError(f"invalid min_count {min_count}")
        if owner in self._waiting:
            raise errors.LockError(f"{owner!r} already waits for locks")
        above = [lv for lv in LEVELS if lv >= level and owner in self._held[lv]]
        if above:
            raise errors.LockError(
                f"{owner!r} cannot acquire {LEVEL_NAMES[level]} locks while holding "
                + ", ".join(LEVEL_NAMES[lv] for lv in above)
                + " locks"
            )
        wanted = self._normalise(level, names)
        if wanted is not None and not wanted:
            return succeed(frozenset())

        req = _Request(
            owner=owner,
            level=level,
            names=wanted,
            mode=Mode.SHARED if shared else Mode.EXCLUSIVE,
            priority=priority,
            seq=next(self._seq),
            opportunistic=opportunistic,
            min_count=min_count,
        )
        d: Deferred[frozenset[str]] = Deferred(self._canceller(req))
        req.deferred = d
        self._pending[level].append(req)
        self._waiting[owner] = req
        self._process()
        if self._waiting.get(owner) is not req:
            return d  # granted (fired now, or soon by an outer _process)
        if timeout is not None:
            if timeout <= 0:
                self._withdraw(req)
                return fail(self._timeout_error(req))
            req.timer = self._clock.callLater(timeout, self._expire, req)
        return d

    def set_priority(self, owner: Owner, priority: int) -> bool:
        if not constants.OP_PRIO_HIGHEST <= priority <= constants.OP_PRIO_LOWEST:
            raise errors.LockError(f"invalid lock priority {priority}")
        req = self._waiting.get(owner)
        if req is None:
            return False
        req.priority = priority
        self._process()
        return True

    def is_waiting(self, owner: Owner) -> bool:
        return owner in self._waiting

    # -- releasing ----------------------------------------------------------------------

    def release(
        self, owner: Owner, level: int | None = None, names: Iterable[str] | None = None
    ) -> None:
        if level is None:
            if names is not None:
                raise errors.LockError("releasing named locks needs a level")
            for lv in LEVELS:
                self._held[lv].pop(owner, None)
        else:
            self._check_level(level)
            if names is None:
                self._held[level].pop(owner, None)
            else:
                self._release_names(owner, level, frozenset(names))
        self._process()

    def drop(self, owner: Owner) -> None:
        req = self._waiting.get(owner)
        if req is not None and req.deferred is not None:
            req.deferred.cancel()
        self.release(owner)

    def _release_names(self, owner: Owner, level: int, names: frozenset[str]) -> None:
        holding = self._held[level].get(owner)
        covered = self._covered(level, holding)
        missing = names - covered
        if missing:
            raise errors.LockError(
                f"{owner!r} does not hold "
                + ", ".join(_lock_name(level, n) for n in sorted(missing))
            )
        assert holding is not None
        # Releasing part of a whole-level holding leaves explicit members behind.
        left = covered - names
        if left:
            holding.names = frozenset(left)
        else:
            del self._held[level][owner]

    def downgrade(self, owner: Owner, level: int) -> None:
        self._check_level(level)
        holding = self._held[level].get(owner)
        if holding is None:
            raise errors.LockError(f"{owner!r} holds no {LEVEL_NAMES[level]} locks")
        holding.mode = Mode.SHARED
        self._process()

    # -- names ----------------------------------------------------------------------------

    def add(self, level: int, names: Iterable[str]) -> None:
        self._check_level(level)
        if level == LEVEL_CLUSTER:
            raise errors.LockError("the cluster level has only the BGL")
        new = self._names_arg(names)
        dup = new & self._known[level]
        if dup:
            raise errors.LockError(
                "locks already exist: " + ", ".join(_lock_name(level, n) for n in sorted(dup))
            )
        self._known[level] |= new
        # Opportunistic whole-level waiters may find the new members free.
        self._process()

    def remove(self, level: int, names: Iterable[str], owner: Owner | None = None) -> None:
        self._check_level(level)
        if level == LEVEL_CLUSTER:
            raise errors.LockError("the BGL cannot be removed")
        gone = self._names_arg(names)
        self._check_known(level, gone)
        for other, holding in self._held[level].items():
            covered = self._covered(level, holding) & gone
            if not covered:
                continue
            if other != owner or holding.mode is not Mode.EXCLUSIVE:
                raise errors.LockError(
                    f"cannot remove {_lock_name(level, min(covered))}: held by {other!r}"
                )
        if owner is not None:
            mine = self._held[level].get(owner)
            if mine is None or not gone <= self._covered(level, mine):
                raise errors.LockError(f"{owner!r} must hold the locks it removes exclusively")
            if mine.names is not None:
                if mine.names - gone:
                    mine.names = mine.names - gone
                else:
                    del self._held[level][owner]
        self._known[level] -= gone

        failed: list[_Request] = []
        for req in list(self._pending[level]):
            if req.names is None or req.names.isdisjoint(gone):
                continue
            if req.opportunistic and len(req.names - gone) >= req.min_count:
                req.names = req.names - gone
                continue
            self._withdraw(req, process=False)
            failed.append(req)
        for req in failed:
            assert req.deferred is not None
            lost = sorted(gone & (req.names or frozenset()))
            req.deferred.errback(
                errors.LockError(
                    "lock removed while waiting: " + ", ".join(_lock_name(level, n) for n in lost)
                )
            )
        self._process()

    def known(self, level: int) -> frozenset[str]:
        self._check_level(level)
        return frozenset(self._known[level])

    # -- introspection --------------------------------------------------------------------

    def owned(self, owner: Owner, level: int) -> frozenset[str]:
        self._check_level(level)
        return self._covered(level, self._held[level].get(owner))

    def owns_all(self, owner: Owner, level: int) -> bool:
        self._check_level(level)
        holding = self._held[level].get(owner)
        return holding is not None and holding.names is None

    def owned_mode(self, owner: Owner, level: int) -> Mode | None:
        self._check_level(level)
        holding = self._held[level].get(owner)
        return None if holding is None else holding.mode

    def list_locks(self) -> list[LockInfo]:
        result: list[LockInfo] = []
        for level in LEVELS:
            held = self._held[level]
            queue = sorted(self._pending[level], key=_Request.sort_key)
            if level != LEVEL_CLUSTER:
                whole = [o for o, h in held.items() if h.names is None]
                modes = [h.mode for h in held.values() if h.names is None]
                mode = Mode.EXCLUSIVE if Mode.EXCLUSIVE in modes else Mode.SHARED if held else None
                result.append(
                    LockInfo(
                        name=_lock_name(level, LOCKSET_NAME),
                        mode=mode,
                        owners=tuple(whole + [o for o in held if o not in whole]),
                        pending=tuple(
                            PendingInfo(r.owner, r.mode, r.priority)
                            for r in queue
                            if r.names is None and not r.opportunistic
                        ),
                    )
                )
            for name in sorted(self._known[level]):
                holders = [
                    (o, h.mode) for o, h in held.items() if h.names is None or name in h.names
                ]
                waiters = [
                    PendingInfo(r.owner, r.mode, r.priority)
                    for r in queue
                    if (r.names is None and r.opportunistic)
                    or (r.names is not None and name in r.names)
                ]
                result.append(
                    LockInfo(
                        name=_lock_name(level, name),
                        mode=holders[0][1] if holders else None,
                        owners=tuple(o for o, _ in holders),
                        pending=tuple(waiters),
                    )
                )
        return result

    # -- internals ------------------------------------------------------------------------

    def _check_level(self, level: int) -> None:
        if level not in LEVEL_NAMES:
            raise errors.LockError(f"unknown lock level {level!r}")

    @staticmethod
    def _names_arg(names: Iterable[str]) -> frozenset[str]:
        # A bare string is one name, not a sequence of one-letter names.
        return frozenset([names] if isinstance(names, str) else names)

    def _check_known(self, level: int, names: frozenset[str]) -> None:
        unknown = names - self._known[level]
        if unknown:
            raise errors.LockError(
                "unknown locks: " + ", ".join(_lock_name(level, n) for n in sorted(unknown))
            )

    def _normalise(self, level: int, names: Names) -> frozenset[str] | None:
        if names is ALL_SET:
            return None
        wanted = self._names_arg(names)
        self._check_known(level, wanted)
        return wanted

    def _covered(self, level: int, holding: _Holding | None) -> frozenset[str]:
        if holding is None:
            return frozenset()
        if holding.names is None:
            return frozenset(self._known[level])
        return holding.names

    def _canceller(self, req: _Request) -> Callable[[Deferred[frozenset[str]]], None]:
        def cancel(_: Deferred[frozenset[str]]) -> None:
            # Deferred.cancel errbacks with CancelledError after this returns.
            for index, (granted, _names) in enumerate(self._to_fire):
                if granted is req:
                    # Granted but not yet delivered: undo the grant, nothing stays held.
                    del self._to_fire[index]
                    del self._held[req.level][req.owner]
                    self._process()
                    return
            self._withdraw(req)

        return cancel

    def _withdraw(self, req: _Request, *, process: bool = True) -> None:
        if req not in self._pending[req.level]:
            return
        self._pending[req.level].remove(req)
        del self._waiting[req.owner]
        if req.timer is not None:
            if req.timer.active():
                req.timer.cancel()
            req.timer = None
        # A waiter that went away may have been blocking later, compatible ones.
        if process:
            self._process()

    def _timeout_error(self, req: _Request) -> errors.LockTimeout:
        what = "all" if req.names is None else ", ".join(sorted(req.names))
        return errors.LockTimeout(
            f"timeout waiting for {LEVEL_NAMES[req.level]} locks ({what}) for {req.owner!r}"
        )

    def _expire(self, req: _Request) -> None:
        req.timer = None
        self._withdraw(req)
        assert req.deferred is not None
        req.deferred.errback(self._timeout_error(req))

    def _process(self) -> None:
        """Grant whatever can be granted, then fire the Deferreds of the grants."""
        for level in LEVELS:
            self._to_fire.extend(self._grant_level(level))
        if self._firing:
            return
        self._firing = True
        try:
            while self._to_fire:
                req, got = self._to_fire.pop(0)
                assert req.deferred is not None
                req.deferred.callback(got)
        finally:
            self._firing = False

    def _grant_level(self, level: int) -> list[tuple[_Request, frozenset[str]]]:
        pending = self._pending[level]
        if not pending:
            return []
        taken: list[tuple[frozenset[str] | None, Mode]] = [
            (h.names, h.mode) for h in self._held[level].values()
        ]
        blockers: list[tuple[frozenset[str] | None, Mode]] = []

        def blocked(names: frozenset[str] | None, mode: Mode) -> bool:
            return any(_conflict(names, mode, n, m) for n, m in taken) or any(
                _conflict(names, mode, n, m) for n, m in blockers
            )

        granted: list[tuple[_Request, frozenset[str]]] = []
        for req in sorted(pending, key=_Request.sort_key):
            grant: frozenset[str] | None
            if req.opportunistic:
                candidates = frozenset(self._known[level]) if req.names is None else req.names
                grant = frozenset(n for n in candidates if not blocked(frozenset([n]), req.mode))
                if len(grant) < req.min_count:
                    blockers.append((candidates, req.mode))
                    continue
            else:
                if blocked(req.names, req.mode):
                    blockers.append((req.names, req.mode))
                    continue
                grant = req.names
            self._withdraw(req, process=False)
            self._held[level][req.owner] = _Holding(req.mode, grant)
            taken.append((grant, req.mode))
            granted.append((req, self._covered(level, self._held[level][req.owner])))
        return granted
