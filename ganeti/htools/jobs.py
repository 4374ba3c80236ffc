"""Turning a balancing plan into jobs, jobsets and shell commands.

A move is one job (1-3 gnt-instance commands).  Jobs are grouped into
jobsets whose moves touch pairwise disjoint nodes; like Ganeti the grouping
is built backwards (from the last move), then put in chronological order.
"""

from __future__ import annotations

from collections.abc import Sequence

from ganeti.htools.balance import Step
from ganeti.htools.model import Cluster
from ganeti.htools.moves import involved_nodes, move_commands

SCRIPT_HEADER = """#!/bin/sh

# Auto-generated script for executing cluster rebalancing

# To stop, touch the file /tmp/stop-htools

set -e

check() {
  if [ -f /tmp/stop-htools ]; then
    echo 'Stop requested, exiting'
    exit 0
  fi
}

"""


def jobsets(steps: Sequence[Step]) -> list[list[int]]:
    """Indices (0-based) of steps per jobset, chronological."""
    sets: list[tuple[set[int], list[int]]] = []
    for k in range(len(steps) - 1, -1, -1):
        st = steps[k]
        nodes = involved_nodes(st.old_pri, st.old_sec, st.new_pri, st.new_sec)
        if sets and not (sets[-1][0] & nodes):
            sets[-1][0].update(nodes)
            sets[-1][1].append(k)
        else:
            sets.append((set(nodes), [k]))
    return [sorted(members) for _, members in reversed(sets)]


def command_lines(c: Cluster, steps: Sequence[Step], script: bool) -> list[str]:
    """The ``-C`` listing (stdout form) or the body of the ``-CFILE`` script."""
    out: list[str] = []
    ind = "" if script else "  "
    for js_no, members in enumerate(jobsets(steps), start=1):
        out.append(ind)
        out.append(f"{ind}echo jobset {js_no}, {len(members)} jobs")
        for job_no, k in enumerate(members, start=1):
            out.append(f"{ind}  echo job {js_no}/{job_no}")
            if script:
                out.append(f"{ind}  check")
            for cmd in move_commands(c, steps[k].move):
                out.append(f"{ind}  gnt-instance {cmd}")
    if script:
        out = ["" if line == "" else line for line in out]
    return out


def script_text(c: Cluster, steps: Sequence[Step]) -> str:
    body = command_lines(c, steps, script=True)
    return SCRIPT_HEADER + "".join(line + "\n" for line in body)
