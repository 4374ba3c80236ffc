"""Starting the RAPI daemon on a development cluster (``make demo``, cluster tests, bench).

The daemon listens on the node's own address with the cluster's ``rapi.pem``.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

from ganeti.devcluster import DevNode, pid_alive, stop_pid
from ganeti.fileutils import write_file_atomic
from ganeti.paths import Paths
from ganeti.rapi.auth import ha1

MODULE = "ganeti.rapi.tap"


def rapi_command(
    node: DevNode,
    python: str = sys.executable,
    port: int = 5080,
    *,
    tls: bool = True,
    extra: tuple[str, ...] = (),
) -> list[str]:
    scheme = "ssl" if tls else "tcp"
    return [
        python,
        "-m",
        MODULE,
        "--root",
        str(node.root),
        "--listen",
        f"{scheme}:{port}:interface={node.address}",
        *extra,
    ]


def start_rapi(
    node: DevNode,
    python: str = sys.executable,
    port: int = 5080,
    detach: bool = False,
    *,
    tls: bool = True,
    extra: tuple[str, ...] = (),
) -> int:
    """Start ganeti-rapi on ``node`` (the master); output goes to its log dir.

    Returns the pid, also written to ``<root>/rapi.pid``.
    """
    log_path = node.paths.daemon_log("rapi")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            rapi_command(node, python, port, tls=tls, extra=extra),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
    (node.root / "rapi.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def wait_rapi(address: str, port: int, pid: int, timeout: float = 30.0) -> None:
    """Block until the daemon accepts TCP connections (or raise)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            if not pid_alive(pid):
                raise RuntimeError(f"ganeti-rapi (pid {pid}) exited before listening") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"ganeti-rapi not listening on {address}:{port}") from None
            time.sleep(0.05)


def stop_rapi(node: DevNode, pid: int, timeout: float = 10.0) -> bool:
    """Stop a ganeti-rapi we started (checked by pid and command line)."""
    return stop_pid(pid, node.root, MODULE, timeout)


def rapi_url(node: DevNode, port: int = 5080, tls: bool = True) -> str:
    return f"{'https' if tls else 'http'}://{node.address}:{port}"


def add_user(
    paths: Paths, name: str, password: str, options: str = "write", *, hashed: bool = True
) -> None:
    """Add (or replace) a user in ``rapi/users``; the password is stored as {HA1}."""
    path: Path = paths.rapi_users
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [ln for ln in lines if not ln.split() or ln.split()[0] != name]
    stored = "{HA1}" + ha1(name, password) if hashed else "{CLEARTEXT}" + password
    lines.append(f"{name} {stored} {options}".rstrip())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, ("\n".join(lines) + "\n").encode(), mode=0o640)


def create_demo_user(paths: Paths, name: str = "demo") -> tuple[str, str]:
    """A user with write access and a fresh random password: ``(name, password)``."""
    password = secrets.token_urlsafe(12)
    add_user(paths, name, password, "write")
    return name, password
