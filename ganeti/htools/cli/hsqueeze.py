"""hsqueeze: not implemented yet; fails cleanly instead of with a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    sys.stderr.write(
        "Error: hsqueeze is not implemented yet in this re-implementation (issue 9).\n"
    )
    sys.exit(1)
