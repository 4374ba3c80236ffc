"""Fields of the ``export`` resource (``gnt-backup list``, ``/2/query/export``).

Items are ``(node name, export name)`` pairs from an ``export_list`` fan-out to the online
nodes (collected by the master per query); a node that did not answer gives one row whose
``export`` is RS_NODATA, as in Ganeti.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ganeti import constants as C
from ganeti.query.base import NODATA, FieldDef, FieldTable, QueryData

DEFAULT_LIST_FIELDS = ("node", "export")


def items(exports: Mapping[str, Sequence[str] | None] | None) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for node, names in sorted((exports or {}).items()):
        if names is None:
            out.append((node, None))
        else:
            out.extend((node, name) for name in sorted(names))
    return out


def _export(_qd: QueryData, item: tuple[str, str | None]) -> Any:
    return NODATA if item[1] is None else item[1]


FIELDS = FieldTable(
    [
        FieldDef("node", "Node", C.QFT_TEXT, "Node name", lambda _qd, item: item[0], True),
        FieldDef("export", "Export", C.QFT_TEXT, "Export name", _export),
    ]
)
