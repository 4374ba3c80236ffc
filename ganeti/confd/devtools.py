"""confd on development clusters (``make demo``, cluster tests, benchmarks).

Modelled on :func:`ganeti.devcluster.start_noded`: each confd listens on its node's
address; UDP ports are separate from TCP ports, so the default 1814 on every node
address never collides with anything the node daemons use.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from ganeti import constants
from ganeti.confd import protocol as proto
from ganeti.devcluster import DevNode, pid_alive, stop_pid

MODULE = "ganeti.confd.tap"
PID_FILE = "confd.pid"
LOG_NAME = "conf-daemon"


def confd_command(
    node: DevNode, python: str = sys.executable, port: int = constants.DEFAULT_CONFD_PORT
) -> list[str]:
    """The command line of ``node``'s confd (answers on ``node.address:port``)."""
    address = node.address.replace(":", "\\:")
    return [
        python,
        "-m",
        MODULE,
        "--root",
        str(node.root),
        "--listen",
        f"udp:{port}:interface={address}",
    ]


def start_confd(
    node: DevNode,
    python: str = sys.executable,
    detach: bool = False,
    port: int = constants.DEFAULT_CONFD_PORT,
) -> int:
    """Start ``node``'s confd; output goes to its log dir, pid to ``<root>/confd.pid``.
    Returns the pid."""
    log_path = node.paths.daemon_log(LOG_NAME)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            confd_command(node, python, port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
    (node.root / PID_FILE).write_text(f"{proc.pid}\n")
    return proc.pid


def stop_confd(node: DevNode, pid: int | None = None, timeout: float = 10.0) -> bool:
    """Stop the confd we started for ``node`` (pid from the argument or its pid file);
    False if it was not running or is not ours."""
    pid_file = node.root / PID_FILE
    if pid is None:
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return False
    stopped = stop_pid(pid, node.root, MODULE, timeout)
    pid_file.unlink(missing_ok=True)
    return stopped


def confd_addresses(
    nodes: Sequence[DevNode], port: int = constants.DEFAULT_CONFD_PORT
) -> list[list[str | int]]:
    """``[[host, port], ...]`` as ``demo.json`` lists them."""
    return [[n.address, port] for n in nodes]


def ping_once(key: bytes, address: str, port: int, timeout: float = 0.5) -> bool:
    """Blocking: True if a confd at ``address:port`` answers a signed ping."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    rsalt = f"devtools-{time.monotonic_ns()}"
    request = proto.Request(proto.RequestType.PING, rsalt)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(proto.encode_request(key, request, time.time()), (address, port))
            data = sock.recv(proto.MAX_UDP_DATA_SIZE)
            _reply, salt = proto.decode_reply(key, data)
        except (OSError, proto.BadDatagram):
            return False
        return salt == rsalt


def wait_confd(
    nodes: Sequence[DevNode],
    pids: Sequence[int | None] | None = None,
    port: int = constants.DEFAULT_CONFD_PORT,
    timeout: float = 30.0,
) -> None:
    """Block until every node's confd answers a ping (RuntimeError if one died,
    TimeoutError at the deadline)."""
    deadline = time.monotonic() + timeout
    for i, node in enumerate(nodes):
        key = node.paths.hmac_key.read_bytes()
        pid = pids[i] if pids is not None else None
        while not ping_once(key, node.address, port):
            if pid is not None and not pid_alive(pid):
                raise RuntimeError(
                    f"confd of {node.name} (pid {pid}) exited; see "
                    f"{node.paths.daemon_log(LOG_NAME)}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"confd of {node.name} not answering on {node.address}:{port}")
            time.sleep(0.05)
