"""``make demo``: a local cluster under ./demo-root, and ``make demo-stop``.

Three nodes on 127.0.1.1-3, each a node daemon with its own root, the fake hypervisor
and file storage.  ``demo-root/demo.json`` describes what runs, for scripts and users:

    {"cluster_name": ..., "master": "node1.demo",
     "nodes": [{"name", "address", "root", "port", "pid", "uuid"}, ...],
     "ports": {"noded": 1811}, "certificates": {...}, "hmac_key_path": ...}

Later parts of the system add their daemons (master, RAPI, confd) to the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ganeti import devcluster

DEMO_NODES = [("node1.demo", "127.0.1.1"), ("node2.demo", "127.0.1.2"), ("node3.demo", "127.0.1.3")]
CLUSTER_NAME = "cluster.demo"
PREFERRED_PORT = 1811


def _load_state(base: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((base / "demo.json").read_text())
        return state
    except (FileNotFoundError, ValueError):
        return None


def _running(state: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [
        n
        for n in state.get("nodes", [])
        if n.get("pid") and devcluster.is_our_noded(int(n["pid"]), Path(n["root"]))
    ]
    pid = state.get("master_pid")
    if pid and devcluster.is_ours(int(pid), Path(state["master_root"]), "ganeti.masterd.tap"):
        nodes.append({"master": pid})
    return nodes


def _port_free(port: int) -> bool:
    import socket

    for _, address in DEMO_NODES:
        with socket.socket() as s:
            # Like the daemons, ignore connections of an earlier run in TIME_WAIT.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def start(base: Path) -> int:
    base = base.absolute()
    state = _load_state(base)
    if state and state.get("nodes") and len(_running(state)) == len(state["nodes"]) + 1:
        print(f"demo cluster already running (see {base / 'demo.json'})")
        return show(base)
    if state and _running(state):
        stop(base)
    if state and state.get("ports", {}).get("noded"):
        port = int(state["ports"]["noded"])
        if not _port_free(port):
            port = devcluster.free_port(DEMO_NODES[0][1])
    else:
        port = PREFERRED_PORT if _port_free(PREFERRED_PORT) else devcluster.free_port("127.0.1.1")
    # Keep node identities stable across restarts.
    uuids = {n["name"]: n["uuid"] for n in (state or {}).get("nodes", []) if n.get("uuid")}
    nodes = devcluster.prepare(base, DEMO_NODES, port, CLUSTER_NAME, uuids)
    for node in nodes:
        devcluster.start_noded(node, sys.executable, detach=True)
    master = nodes[0]
    master_pid = None
    try:
        devcluster.wait_listening(nodes, timeout=60)
        master_pid = devcluster.start_masterd(master, sys.executable, detach=True)
        devcluster.wait_socket(master.paths.luxi_socket, master_pid, timeout=60)
    except (TimeoutError, RuntimeError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        if master_pid:
            devcluster.stop_pid(master_pid, master.root, "ganeti.masterd.tap")
        for node in nodes:
            devcluster.stop_noded(node)
        return 1
    state = {
        "cluster_name": CLUSTER_NAME,
        "master": master.name,
        "nodes": [n.to_json() for n in nodes],
        "ports": {"noded": port},
        "certificates": {
            "cluster": str(master.paths.server_pem),
            "client": str(master.paths.client_pem),
        },
        "hmac_key_path": str(master.paths.hmac_key),
        "master_root": str(master.root),
        "master_pid": master_pid,
        "luxi_socket": str(master.paths.luxi_socket),
        "env": {"GANETI_ROOT": str(master.root)},
        "cli": f"GANETI_ROOT={master.root} .venv/bin/gnt-job list",
        "hypervisor": "fake",
        "storage": "file",
    }
    (base / "demo.json").write_text(json.dumps(state, indent=1) + "\n")
    print(f"started {len(nodes)} node daemons on port {port}; state in {base / 'demo.json'}")
    return show(base)


def show(base: Path) -> int:
    """Demonstrate the running cluster: RPC calls from the master to every node."""
    state = _load_state(base.absolute())
    if not state:
        print("no demo cluster here; run 'make demo'", file=sys.stderr)
        return 1
    master_root = state["nodes"][0]["root"]
    port = str(state["ports"]["noded"])
    bindir = Path(sys.executable).parent
    env = {**os.environ, "GANETI_ROOT": master_root}
    rc = 0
    if state.get("luxi_socket"):
        for cmd in (["gnt-debug", "delay", "1"], ["gnt-job", "list"], ["gnt-debug", "locks"]):
            print(f"$ GANETI_ROOT={master_root} {' '.join(cmd)}")
            sys.stdout.flush()
            rc |= subprocess.call([str(bindir / cmd[0]), *cmd[1:]], env=env)
    # Nodes 2 and 3 run node daemons but have not joined the cluster yet (no `gnt-node
    # add` so far), so they are named explicitly.
    extra = [f"--address={n['name']}={n['address']}" for n in state["nodes"][1:]]
    for procedure in ("version", "node_info"):
        cmd = [
            sys.executable,
            "-m",
            "ganeti.cli.rpc",
            "--root",
            master_root,
            "--port",
            port,
            *extra,
            procedure,
        ]
        print(f"$ ganeti-rpc --root {master_root} --port {port} {' '.join(extra)} {procedure}")
        sys.stdout.flush()
        rc |= subprocess.call(cmd)
    return rc


def stop(base: Path) -> int:
    base = base.absolute()
    state = _load_state(base)
    if not state:
        print("no demo cluster state found; nothing to stop")
        return 0
    stopped = 0
    master_pid = state.get("master_pid")
    if master_pid and devcluster.stop_pid(
        int(master_pid), Path(state["master_root"]), "ganeti.masterd.tap"
    ):
        stopped += 1
    state["master_pid"] = None
    for n in state.get("nodes", []):
        node = devcluster.DevNode(n["name"], n["address"], n["port"], Path(n["root"]), pid=n["pid"])
        if node.pid and devcluster.is_our_noded(node.pid, node.root):
            devcluster.stop_noded(node)
            stopped += 1
        n["pid"] = None
    (base / "demo.json").write_text(json.dumps(state, indent=1) + "\n")
    print(f"stopped {stopped} daemon(s)")
    return 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ganeti.demo", description=__doc__.split("\n")[0])
    p.add_argument("action", choices=["start", "stop", "show"])
    p.add_argument("--base", default="demo-root", help="directory for the demo (default demo-root)")
    opts = p.parse_args(argv)
    base = Path(opts.base)
    action = {"start": start, "stop": stop, "show": show}[opts.action]
    sys.exit(action(base))


if __name__ == "__main__":
    main()
