"""The watcher's node-local duty: keep this node's node daemon running.

Runs on every node, master or not.  The node daemon is alive if it accepts TCP
connections on this node's primary address; if it does not, the watcher restarts it
with the service manager (``systemctl restart ganeti-noded.service`` under systemd, or
the command given with ``--noded-restart-command``).
"""

from __future__ import annotations

import shlex
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganeti import constants
from ganeti.bootstrap import node_name_file
from ganeti.paths import Paths

SYSTEMD_RESTART = "systemctl restart ganeti-noded.service"


def own_address(paths: Paths) -> str | None:
    """This node's primary IP from ssconf, found by the name recorded at join/init."""
    try:
        me = node_name_file(paths).read_text().strip()
        lines = paths.ssconf("node_primary_ips").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, ip = line.partition(" ")
        if name == me and ip.strip():
            return ip.strip()
    return None


def noded_alive(address: str, port: int, timeout: float = 5.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def default_restart_command() -> str | None:
    return SYSTEMD_RESTART if Path("/run/systemd/system").is_dir() else None


def ensure_noded(
    paths: Paths,
    log: Callable[[str], None],
    *,
    port: int = constants.DEFAULT_NODED_PORT,
    restart_command: str | None = None,
    alive: Callable[[str, int], bool] = noded_alive,
    run: Callable[..., Any] = subprocess.run,
) -> bool:
    """Restart the local node daemon if it does not answer; True if it had to."""
    address = own_address(paths)
    if address is None:
        return False  # not (yet) part of a cluster: nothing to watch
    if alive(address, port):
        return False
    command = restart_command or default_restart_command()
    if command is None:
        log(
            f"The node daemon does not answer on {address}:{port} and no service manager "
            "is known; restart it by hand or pass --noded-restart-command"
        )
        return False
    log(f"The node daemon does not answer on {address}:{port}; restarting it")
    result = run(shlex.split(command), check=False, capture_output=True, text=True)
    if getattr(result, "returncode", 1) != 0:
        log(f"Restarting the node daemon failed: {getattr(result, 'stderr', '')}".strip())
    return True
