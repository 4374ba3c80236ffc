"""JSON encoding used on disk and on the wire.

Compact output for the wire, stable key order for files so that two writes of the same
data give the same bytes (which makes replication and diffs predictable).
"""

from __future__ import annotations

import json
from typing import Any

from ganeti import errors


def dump_json(data: Any, *, indent: bool = False) -> str:
    """Serialise ``data``; files use ``indent=True`` for readability."""
    if indent:
        return json.dumps(data, sort_keys=True, indent=1, separators=(",", ": ")) + "\n"
    return json.dumps(data, separators=(",", ":"))


def load_json(text: str | bytes, *, what: str = "data") -> Any:
    """Parse JSON, raising a GanetiError that names ``what`` on malformed input."""
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.GanetiError(f"cannot parse {what} as JSON: {exc}") from exc
