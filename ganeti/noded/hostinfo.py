"""Facts about the host a node daemon runs on: memory, CPUs, disk space, boot id."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ganeti.paths import Paths

_MIB = 1024 * 1024


def boot_id(paths: Paths) -> str:
    try:
        return paths.boot_id.read_text().strip()
    except OSError:
        return "unknown"


def _meminfo(path: Path = Path("/proc/meminfo")) -> dict[str, int]:
    """/proc/meminfo values in KiB."""
    out: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            out[key] = int(fields[0])
    return out


def memory_and_cpu(meminfo_path: Path = Path("/proc/meminfo")) -> dict[str, Any]:
    """Hypervisor-independent host figures, in Ganeti's node_info keys (MiB)."""
    info = _meminfo(meminfo_path)
    total = info.get("MemTotal", 0) // 1024
    free = info.get("MemAvailable", info.get("MemFree", 0)) // 1024
    cpus = os.cpu_count() or 1
    return {
        "memory_total": total,
        "memory_free": free,
        "memory_dom0": total - free,
        "cpu_total": cpus,
        "cpu_nodes": 1,
        "cpu_sockets": 1,
        "cpu_dom0": cpus,
    }


def fs_space(path: Path) -> dict[str, Any]:
    """Free and total space of the file system holding ``path``, in MiB."""
    st = os.statvfs(path)
    return {
        "storage_free": st.f_bavail * st.f_frsize // _MIB,
        "storage_size": st.f_blocks * st.f_frsize // _MIB,
    }
