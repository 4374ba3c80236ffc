"""Several nodes on one machine: node roots, key material and noded processes.

Used by ``make demo``, the cluster tests and the benchmarks.  Each node is an address in
127.0.0.0/8 with its own root directory; all share one cluster certificate, the first
node is the master and holds the client certificate whose digest ssconf lists as the
only master candidate.  (``gnt-cluster init`` and ``gnt-node add`` replace this once
cluster membership exists.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import attrs
from twisted.internet.task import Clock

from ganeti import tls
from ganeti.noded.backend import NodeBackend
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
    """Create node roots under ``base`` with keys and ssconf; idempotent per root."""
    base.mkdir(parents=True, exist_ok=True)
    ca_file = base / "cluster-ca.pem"
    if ca_file.exists():
        ca = tls.KeyPair.load(ca_file)
    else:
        ca = tls.create_cluster_certificate(cluster_name)
        ca.save(ca_file, 0o600)
    hmac_file = base / "hmac.key"
    if not hmac_file.exists():
        tls.write_secret_file(hmac_file, tls.generate_hmac_key(), 0o600)
    hmac = hmac_file.read_bytes()

    devnodes = [DevNode(name, addr, port, base / name) for name, addr in nodes]
    for node in devnodes:
        node.uuid = (uuids or {}).get(node.name) or node.uuid
    master = devnodes[0]
    client_file = base / "master-client.pem"
    if client_file.exists():
        client = tls.KeyPair.load(client_file)
    else:
        client = tls.create_node_certificate(ca, master.name, master.uuid)
        client.save(client_file, 0o600)
    digest = tls.cert_digest(client.cert)
    ssconf = {
        "cluster_name": cluster_name,
        "master_node": master.name,
        "node_list": [n.name for n in devnodes],
        "online_nodes": [n.name for n in devnodes],
        "offline_nodes": "",
        "node_primary_ips": [f"{n.name} {n.address}" for n in devnodes],
        "node_secondary_ips": [f"{n.name} {n.address}" for n in devnodes],
        "master_candidates": [master.name],
        "master_candidates_ips": [master.address],
        "master_candidates_certs": [f"{master.uuid}={digest}"],
        "primary_ip_family": "2",
    }
    for node in devnodes:
        paths = node.paths
        paths.ensure_dirs()
        if not paths.server_pem.exists():
            ca.save(paths.server_pem, 0o400)
        if not paths.hmac_key.exists():
            tls.write_secret_file(paths.hmac_key, hmac, 0o400)
        if node is master and not paths.client_pem.exists():
            client.save(paths.client_pem, 0o400)
        paths.default_file_storage_dir.mkdir(parents=True, exist_ok=True)
        paths.file_storage_paths.write_text(
            f"{paths.virtual_path(paths.default_file_storage_dir)}\n"
        )
        NodeBackend(paths, Clock()).write_ssconf_files(dict(ssconf))
    return devnodes


def noded_command(node: DevNode, python: str = sys.executable) -> list[str]:
    return [
        python,
        "-m",
        "ganeti.noded.tap",
        "--root",
        str(node.root),
        "--listen",
        f"ssl:{node.port}:interface={node.address}",
    ]


def start_noded(node: DevNode, python: str = sys.executable, detach: bool = False) -> int:
    """Start a node daemon; its output goes to the node's log dir. Returns the pid."""
    log_path = node.paths.daemon_log("node-daemon")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            noded_command(node, python),
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


def is_our_noded(pid: int, root: Path) -> bool:
    """True if ``pid`` is still the node daemon we started for ``root`` (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"ganeti.noded.tap" in cmdline and str(root).encode() in cmdline


def stop_noded(node: DevNode, timeout: float = 10.0) -> None:
    """Stop a node daemon we started (by pid, after checking it is ours)."""
    pid = node.pid
    if pid is None or not is_our_noded(pid, node.root):
        return
    os.kill(pid, signal.SIGCONT)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    node.pid = None
