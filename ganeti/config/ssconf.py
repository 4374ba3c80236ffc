"""ssconf: the small plain-text files every node keeps (``ssconf_<key>``).

The master computes the values from its config (:func:`ssconf_values`) and pushes them to
all online nodes; a node writes them with :func:`write_ssconf_files`, which accepts only
the closed list of keys in :data:`ganeti.paths.SSCONF_KEYS`.  Each value is the whole file
content: one item per line, every line newline-terminated, empty when there are no items.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ganeti import constants, errors
from ganeti.config.atomic import FileOps, atomic_write, fsync_dir
from ganeti.objects import ConfigData
from ganeti.paths import SSCONF_KEYS, Paths

SSCONF_FILE_MODE = 0o444
_KNOWN = frozenset(SSCONF_KEYS)
_DIGITS = re.compile(r"(\d+)")


def nice_sort_key(name: str) -> list[tuple[int, int | str]]:
    """Sort "node2" before "node10": digit runs compare as numbers."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in _DIGITS.split(name) if p]


def nice_sort(names: Iterable[str]) -> list[str]:
    return sorted(names, key=nice_sort_key)


def _lines(items: Iterable[Any]) -> str:
    return "".join(f"{item}\n" for item in items)


def _bool(value: bool) -> str:
    return f"{bool(value)}\n"


def ssconf_values(config: ConfigData) -> dict[str, str]:
    """Every ssconf key with its file content, computed from ``config``."""
    cluster = config.cluster
    nodes = sorted(config.nodes.values(), key=lambda n: nice_sort_key(n.name))
    master = config.nodes.get(cluster.master_node)
    candidates = [n for n in nodes if n.master_candidate or n.uuid == cluster.master_node]
    values: dict[str, str] = {
        "cluster_name": _lines([cluster.cluster_name]),
        "cluster_tags": _lines(sorted(cluster.tags)),
        "enabled_user_shutdown": _bool(cluster.enabled_user_shutdown),
        "file_storage_dir": _lines([cluster.file_storage_dir]),
        "shared_file_storage_dir": _lines([cluster.shared_file_storage_dir]),
        "gluster_storage_dir": _lines([cluster.gluster_storage_dir]),
        "hypervisor_list": _lines(cluster.enabled_hypervisors),
        "instance_list": _lines(nice_sort(i.name for i in config.instances.values())),
        "maintain_node_health": _bool(cluster.maintain_node_health),
        "master_candidates": _lines(n.name for n in candidates),
        "master_candidates_ips": _lines(n.primary_ip for n in candidates),
        "master_candidates_certs": _lines(
            f"{uuid}={digest}" for uuid, digest in sorted(cluster.candidate_certs.items())
        ),
        "master_ip": _lines([cluster.master_ip]),
        "master_netdev": _lines([cluster.master_netdev]),
        "master_netmask": _lines([cluster.master_netmask]),
        "master_node": _lines([master.name if master is not None else ""]),
        "networks": _lines(
            f"{n.uuid} {n.name}"
            for n in sorted(config.networks.values(), key=lambda n: nice_sort_key(n.name))
        ),
        "nodegroups": _lines(
            f"{g.uuid} {g.name}"
            for g in sorted(config.nodegroups.values(), key=lambda g: nice_sort_key(g.name))
        ),
        "node_list": _lines(n.name for n in nodes),
        "node_primary_ips": _lines(f"{n.name} {n.primary_ip}" for n in nodes),
        "node_secondary_ips": _lines(f"{n.name} {n.secondary_ip or n.primary_ip}" for n in nodes),
        "node_vm_capable": _lines(f"{n.name}={n.vm_capable}" for n in nodes),
        "offline_nodes": _lines(n.name for n in nodes if n.offline),
        "online_nodes": _lines(n.name for n in nodes if not n.offline),
        "primary_ip_family": _lines([cluster.primary_ip_family]),
        "release_version": _lines([constants.RELEASE_VERSION]),
        "ssh_ports": _lines(
            f"{n.name}={config.filled_ndparams(n)[constants.ND_SSH_PORT]}" for n in nodes
        ),
        "uid_pool": _lines(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in cluster.uid_pool),
    }
    for hv in constants.HYPER_TYPES:
        params = cluster.fill_hv(hv)
        values[f"hvparams_{hv}"] = _lines(f"{k}={v}" for k, v in sorted(params.items()))
    missing = _KNOWN - values.keys()
    assert not missing, f"ssconf keys not computed: {missing}"
    return values


def check_ssconf_values(values: Mapping[str, str]) -> None:
    """Refuse unknown keys, non-strings and values over the size limit."""
    unknown = sorted(set(values) - _KNOWN)
    if unknown:
        raise errors.SsconfError(f"unknown ssconf keys: {', '.join(unknown)}")
    for key, value in values.items():
        if not isinstance(value, str):
            raise errors.SsconfError(f"ssconf value for {key!r} is not a string")
        if len(value.encode("utf-8")) > constants.SSCONF_MAX_SIZE:
            raise errors.SsconfError(
                f"ssconf value for {key!r} exceeds {constants.SSCONF_MAX_SIZE} bytes"
            )


def write_ssconf_files(paths: Paths, values: Mapping[str, str], ops: FileOps | None = None) -> None:
    """Node side: validate every value first, then replace each file atomically (0444)."""
    check_ssconf_values(values)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        target = paths.ssconf(key)
        try:
            if target.read_bytes() == value.encode("utf-8"):
                continue  # unchanged: keep the file and its mtime
        except OSError:
            pass
        atomic_write(target, value.encode("utf-8"), SSCONF_FILE_MODE, ops, sync_dir=False)
    fsync_dir(paths.data_dir, ops)


def read_ssconf(paths: Paths, key: str) -> str:
    """The raw content of one ssconf file."""
    if key not in _KNOWN:
        raise errors.SsconfError(f"unknown ssconf key {key!r}")
    path = paths.ssconf(key)
    try:
        with open(path, "rb") as fh:
            data = fh.read(constants.SSCONF_MAX_SIZE + 1)
    except OSError as exc:
        raise errors.SsconfError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > constants.SSCONF_MAX_SIZE:
        raise errors.SsconfError(f"{path} is larger than {constants.SSCONF_MAX_SIZE} bytes")
    return data.decode("utf-8")


def read_ssconf_lines(paths: Paths, key: str) -> list[str]:
    """One ssconf file as a list of its non-empty lines."""
    return [line for line in read_ssconf(paths, key).splitlines() if line]


def read_ssconf_value(paths: Paths, key: str) -> str:
    """A single-valued ssconf file (``cluster_name``, ``master_node``...) without newline."""
    return read_ssconf(paths, key).strip()
