"""The simulation backend (``--simulate SPEC``): empty clusters from specs.

``SPEC = alloc_policy,num_nodes,disk,mem,cpu[,spindles[,exclusive_storage]]``.
Repeated specs are numbered in reverse order (the last one is group-01),
like Ganeti; node 1 of group 1 is the master.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ganeti.htools.backend.text import ClusterData
from ganeti.htools.model import Group, NodeSpec
from ganeti.htools.types import AllocPolicy, HToolsError, IPolicy

_UNITS = {
    "": 1.0,
    "m": 1.0,
    "mib": 1.0,
    "g": 1024.0,
    "gib": 1024.0,
    "t": 1024.0 * 1024,
    "tib": 1024.0 * 1024,
    "M": 1e6 / (1024 * 1024),
    "MB": 1e6 / (1024 * 1024),
    "G": 1e9 / (1024 * 1024),
    "GB": 1e9 / (1024 * 1024),
    "T": 1e12 / (1024 * 1024),
    "TB": 1e12 / (1024 * 1024),
}


def parse_unit(text: str) -> int:
    """A size in MiB; binary units m/g/t, SI units M/G/T (truncated)."""
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)", text.strip())
    if not m:
        raise HToolsError(f"Can't parse size '{text}'")
    unit = m[2]
    key = unit if unit in _UNITS else unit.lower()
    if key not in _UNITS:
        raise HToolsError(f"Unknown unit '{unit}'")
    return int(float(m[1]) * _UNITS[key])


def parse_simu_spec(spec: str) -> tuple[AllocPolicy, int, int, int, int, int, bool]:
    parts = spec.split(",")
    if len(parts) not in (5, 6, 7):
        raise HToolsError(f"Invalid cluster specification: {spec}")
    try:
        count = int(parts[1])
        cpu = int(parts[4])
        spindles = int(parts[5]) if len(parts) > 5 else 1
    except ValueError:
        raise HToolsError(f"Invalid cluster specification: {spec}") from None
    excl = False
    if len(parts) > 6:
        if parts[6] not in ("True", "False"):
            raise HToolsError(f"Invalid exclusive_storage value: {parts[6]}")
        excl = parts[6] == "True"
    return (
        AllocPolicy.parse(parts[0]),
        count,
        parse_unit(parts[2]),
        parse_unit(parts[3]),
        cpu,
        spindles,
        excl,
    )


def load_simulation(specs: Sequence[str]) -> ClusterData:
    groups: list[Group] = []
    nodes: list[NodeSpec] = []
    parsed = [parse_simu_spec(s) for s in specs]
    for gno, (pol, count, disk, mem, cpu, spindles, excl) in enumerate(reversed(parsed), 1):
        gidx = len(groups)
        groups.append(Group(f"group-{gno:02d}", f"fake-uuid-{gno:02d}", pol))
        for k in range(1, count + 1):
            nodes.append(
                NodeSpec(
                    name=f"node-{gno:02d}-{k:03d}",
                    t_mem=float(mem),
                    n_mem=0,
                    f_mem=mem,
                    t_dsk=float(disk),
                    f_dsk=disk,
                    t_cpu=float(cpu),
                    offline=False,
                    group=gidx,
                    master=gno == 1 and k == 1,
                    t_spindles=spindles,
                    excl_storage=excl,
                    f_spindles=spindles if excl else 0,
                    n_cpu=1,
                )
            )
    return ClusterData(groups, nodes, [], [], IPolicy())
