"""Several nodes on one machine: node roots, key material and noded processes.

Used by ``make demo``, the cluster tests and the benchmarks.  Each node is an address in
127.0.0.0/8 with its own root directory; all share one cluster certificate, the first
node is the master and holds the client certificate whose digest ssconf lists as the
only master candidate.  (``gnt-cluster init`` and ``gnt-node add`` replace this once
cluster membership exists.)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import attrs

from ganeti import tls
from ganeti.bootstrap import InitParams, init_cluster
from ganeti.config.ssconf import ssconf_values, write_ssconf_files
from ganeti.config.store import load_config
from ganeti.paths import Paths


@attrs.define
class DevNode:
    name: str
    address: str
    port: int
    root: Path
    uuid: str = attrs.Factory(lambda: str(uuid.uuid4()))
    pid: int | None = None

    @property
    def paths(self) -> Paths:
        return Paths(self.root)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "root": str(self.root),
            "uuid": self.uuid,
            "pid": self.pid,
        }


def free_port(address: str = "127.0.0.1") -> int:
    """A port that is free on ``address`` right now (reused for every node address)."""
    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def prepare(
    base: Path,
    nodes: list[tuple[str, str]],
    port: int,
    cluster_name: str = "cluster.local",
    uuids: dict[str, str] | None = None,
) -> list[DevNode]:
    """Node roots under ``base``: the first node initialises a cluster, the others get
    the cluster certificate, HMAC key and ssconf, as a joining node would.  Idempotent:
    existing roots are left as they are."""
    base.mkdir(parents=True, exist_ok=True)
    devnodes = [DevNode(name, addr, port, base / name) for name, addr in nodes]
    master = devnodes[0]
    mpaths = master.paths
    if not mpaths.config_data.exists():
        init_cluster(
            mpaths,
            InitParams(
                cluster_name=cluster_name,
                node_name=master.name,
                node_ip=master.address,
                master_ip=master.address,
            ),
        )
    config = load_config(mpaths.config_data)
    by_name = {n.name: n.uuid for n in config.nodes.values()}
    for node in devnodes:
        node.uuid = by_name.get(node.name) or (uuids or {}).get(node.name) or node.uuid
    for node in devnodes:
        install_os_definitions(node.paths)
    values = ssconf_values(config)
    for node in devnodes[1:]:
        paths = node.paths
        paths.ensure_dirs()
        for src, dst in ((mpaths.server_pem, paths.server_pem), (mpaths.hmac_key, paths.hmac_key)):
            if not dst.exists():
                tls.write_secret_file(dst, src.read_bytes(), 0o400)
        paths.default_file_storage_dir.mkdir(parents=True, exist_ok=True)
        storage = paths.virtual_path(paths.default_file_storage_dir)
        paths.file_storage_paths.write_text(f"{storage}\n")
        write_ssconf_files(paths, values)
    return devnodes


REPO_OS_DIR = Path(__file__).resolve().parent.parent / "etc" / "os"


def install_os_definitions(paths: Paths, source: Path = REPO_OS_DIR) -> None:
    """Copy the project's OS definitions (noop, image) into a node's OS search path."""
    if not source.is_dir():
        return
    target = paths.os_search_path[0]
    for os_dir in sorted(source.iterdir()):
        if os_dir.is_dir() and not (target / os_dir.name).exists():
            shutil.copytree(os_dir, target / os_dir.name)


def masterd_command(
    node: DevNode, python: str = sys.executable, extra: tuple[str, ...] = ()
) -> list[str]:
    return [
        python,
        "-m",
        "ganeti.masterd.tap",
        "--root",
        str(node.root),
        "--noded-port",
        str(node.port),
        *extra,
    ]


def start_masterd(
    node: DevNode,
    python: str = sys.executable,
    detach: bool = False,
    extra: tuple[str, ...] = (),
) -> int:
    """Start the master daemon on ``node``; output goes to its log dir. Returns the pid."""
    log_path = node.paths.daemon_log("master-daemon")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            masterd_command(node, python, extra),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
    (node.root / "masterd.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def wait_socket(path: Path, pid: int, timeout: float = 30.0) -> None:
    """Block until the unix socket at ``path`` accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(path))
                return
            except OSError:
                pass
        if not pid_alive(pid):
            raise RuntimeError(f"process {pid} exited before {path} appeared")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)


def noded_command(
    node: DevNode, python: str = sys.executable, extra: tuple[str, ...] = ()
) -> list[str]:
    return [
        python,
        "-m",
        "ganeti.noded.tap",
        "--root",
        str(node.root),
        "--listen",
        f"ssl:{node.port}:interface={node.address}",
        *extra,
    ]


def start_noded(
    node: DevNode,
    python: str = sys.executable,
    detach: bool = False,
    extra: tuple[str, ...] = (),
) -> int:
    """Start a node daemon; its output goes to the node's log dir. Returns the pid."""
    log_path = node.paths.daemon_log("node-daemon")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            noded_command(node, python, extra),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
    node.pid = proc.pid
    (node.root / "noded.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def wait_listening(nodes: list[DevNode], timeout: float = 30.0) -> None:
    """Block until every node accepts TCP connections (or raise TimeoutError)."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        while True:
            try:
                with socket.create_connection((node.address, node.port), timeout=1):
                    break
            except OSError:
                if node.pid is not None and not pid_alive(node.pid):
                    raise RuntimeError(
                        f"node daemon {node.name} (pid {node.pid}) exited; see "
                        f"{node.paths.daemon_log('node-daemon')}"
                    ) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{node.name} not listening on {node.address}:{node.port}"
                    ) from None
                time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def is_ours(pid: int, root: Path, module: str = "ganeti.noded.tap") -> bool:
    """True if ``pid`` is still the daemon we started for ``root`` (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return module.encode() in cmdline and str(root).encode() in cmdline


def is_our_noded(pid: int, root: Path) -> bool:
    return is_ours(pid, root, "ganeti.noded.tap")


def stop_pid(pid: int, root: Path, module: str, timeout: float = 10.0) -> bool:
    """SIGTERM (then SIGKILL) a daemon we started; False if it was not ours/running."""
    if not is_ours(pid, root, module):
        return False
    os.kill(pid, signal.SIGCONT)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    return True


def stop_noded(node: DevNode, timeout: float = 10.0) -> None:
    """Stop a node daemon we started (by pid, after checking it is ours)."""
    if node.pid is not None:
        stop_pid(node.pid, node.root, "ganeti.noded.tap", timeout)
    node.pid = None
