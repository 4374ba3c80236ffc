"""Fields of the ``lock`` resource, over :meth:`ganeti.locking.LockManager.list_locks`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ganeti import constants as C
from ganeti.query.base import FieldDef, FieldTable, QueryContext

DEFAULT_LIST_FIELDS = ("name", "mode", "owner", "pending")


def _owner_name(owner: Any) -> str:
    # Owners are whatever the job processor uses (job ids, names); show them as text.
    return str(owner)


def _pending(waiters: Iterable[Any]) -> list[list[Any]]:
    """Waiters in queue order, consecutive ones with the same mode grouped:
    ``[[mode, [owner, ...]], ...]``."""
    out: list[list[Any]] = []
    for info in waiters:
        mode = str(info.mode)
        if out and out[-1][0] == mode:
            out[-1][1].append(_owner_name(info.owner))
        else:
            out.append([mode, [_owner_name(info.owner)]])
    return out


def lock_items(ctx: QueryContext) -> list[Any]:
    return [] if ctx.locks is None else list(ctx.locks.list_locks())


def _fields() -> list[FieldDef]:
    t, o = C.QFT_TEXT, C.QFT_OTHER
    # fmt: off
    return [
        FieldDef("name", "Name", t, "Lock name: <level>/<member>", lambda _qd, lk: lk.name),
        FieldDef("mode", "Mode", o, "Mode it is held in: shared, exclusive or null",
                 lambda _qd, lk: None if lk.mode is None else str(lk.mode)),
        FieldDef("owner", "Owner", o, "Current holders",
                 lambda _qd, lk: [_owner_name(x) for x in lk.owners]),
        FieldDef("pending", "Pending", o, "Waiters as [[mode, [owner, ...]], ...]",
                 lambda _qd, lk: _pending(lk.pending)),
    ]
    # fmt: on


FIELDS = FieldTable(_fields())
