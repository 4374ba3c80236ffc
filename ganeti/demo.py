"""``make demo``: a local cluster under ./demo-root, and ``make demo-stop``.

Three nodes on 127.0.1.1-3, each a node daemon with its own root (fake hypervisor, file
storage).  The first node initialises the cluster and runs the master daemon and RAPI;
the other two join with ``gnt-node add`` and, like the master, become master
candidates; every candidate runs confd.  ``demo-root/demo.json`` describes what runs,
for scripts and users:

    {"cluster_name", "master", "master_root", "luxi_socket", "env": {"GANETI_ROOT"},
     "nodes": [{"name", "address", "root", "port", "pid", "uuid"}, ...],
     "ports": {"noded", "confd", "rapi"}, "rapi_url", "rapi_user", "rapi_password",
     "confd_addresses": [[host, port], ...], "hmac_key_path", "certificates": {...}}
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any

from ganeti import devcluster
from ganeti.cli.base import wait_job
from ganeti.confd import devtools as confd_dev
from ganeti.luxi.client import LuxiClient
from ganeti.rapi import devtools as rapi_dev

DEMO_NODES = [("node1.demo", "127.0.1.1"), ("node2.demo", "127.0.1.2"), ("node3.demo", "127.0.1.3")]
CLUSTER_NAME = "cluster.demo"
PREFERRED = {"noded": 1811, "confd": 1814, "rapi": 5080}
MASTERD = "ganeti.masterd.tap"


def _load_state(base: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((base / "demo.json").read_text())
        return state
    except (FileNotFoundError, ValueError):
        return None


def _save_state(base: Path, state: dict[str, Any]) -> None:
    (base / "demo.json").write_text(json.dumps(state, indent=1) + "\n")


def _free(port: int, kind: int = socket.SOCK_STREAM) -> bool:
    for _, address in DEMO_NODES:
        with socket.socket(socket.AF_INET, kind) as s:
            # Like the daemons, ignore connections of an earlier run in TIME_WAIT.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def _pick_port(name: str, previous: dict[str, Any], kind: int = socket.SOCK_STREAM) -> int:
    for candidate in (previous.get(name), PREFERRED[name]):
        if candidate and _free(int(candidate), kind):
            return int(candidate)
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((DEMO_NODES[0][1], 0))
        port: int = s.getsockname()[1]
        return port


def _daemons(state: dict[str, Any]) -> list[tuple[int, Path, str]]:
    """(pid, root, module) of every daemon the state lists."""
    out = []
    for n in state.get("nodes", []):
        root = Path(n["root"])
        if n.get("pid"):
            out.append((int(n["pid"]), root, "ganeti.noded.tap"))
        if n.get("confd_pid"):
            out.append((int(n["confd_pid"]), root, confd_dev.MODULE))
    if state.get("master_pid"):
        out.append((int(state["master_pid"]), Path(state["master_root"]), MASTERD))
    if state.get("rapi_pid"):
        out.append((int(state["rapi_pid"]), Path(state["master_root"]), rapi_dev.MODULE))
    return out


def _all_running(state: dict[str, Any]) -> bool:
    daemons = _daemons(state)
    return len(daemons) == 8 and all(devcluster.is_ours(p, r, m) for p, r, m in daemons)


def start(base: Path) -> int:
    base = base.absolute()
    state = _load_state(base) or {}
    if state and _all_running(state):
        print(f"demo cluster already running (see {base / 'demo.json'})")
        return show(base)
    if state:
        stop(base, quiet=True)
    ports = state.get("ports", {})
    noded_port = _pick_port("noded", ports)
    confd_port = _pick_port("confd", ports, socket.SOCK_DGRAM)
    rapi_port = _pick_port("rapi", ports)
    uuids = {n["name"]: n["uuid"] for n in state.get("nodes", []) if n.get("uuid")}
    nodes = devcluster.prepare(base, DEMO_NODES, noded_port, CLUSTER_NAME, uuids)
    master = nodes[0]
    state = {"cluster_name": CLUSTER_NAME, "master": master.name, "master_root": str(master.root)}
    try:
        for node in nodes:
            devcluster.start_noded(node, sys.executable, detach=True)
        state["nodes"] = [n.to_json() for n in nodes]
        _save_state(base, state)
        devcluster.wait_listening(nodes, timeout=60)
        state["master_pid"] = devcluster.start_masterd(master, sys.executable, detach=True)
        _save_state(base, state)
        devcluster.wait_socket(master.paths.luxi_socket, state["master_pid"], timeout=60)
        _join(master, nodes[1:])
        _create_instances(master)
        for node, entry in zip(nodes, state["nodes"], strict=True):
            entry["uuid"] = node.uuid
            entry["confd_pid"] = confd_dev.start_confd(node, sys.executable, True, confd_port)
        _save_state(base, state)
        confd_dev.wait_confd(nodes, port=confd_port, timeout=60)
        rapi_user, rapi_password = rapi_dev.create_demo_user(master.paths)
        state["rapi_pid"] = rapi_dev.start_rapi(master, sys.executable, rapi_port, detach=True)
        _save_state(base, state)
        rapi_dev.wait_rapi(master.address, rapi_port, state["rapi_pid"], timeout=60)
    except (TimeoutError, RuntimeError, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        stop(base, quiet=True)
        return 1
    state.update(
        {
            "luxi_socket": str(master.paths.luxi_socket),
            "env": {"GANETI_ROOT": str(master.root)},
            "cli": f"GANETI_ROOT={master.root} .venv/bin/gnt-node list",
            "ports": {"noded": noded_port, "confd": confd_port, "rapi": rapi_port},
            "rapi_url": rapi_dev.rapi_url(master, rapi_port),
            "rapi_user": rapi_user,
            "rapi_password": rapi_password,
            "confd_addresses": confd_dev.confd_addresses(nodes, confd_port),
            "hmac_key_path": str(master.paths.hmac_key),
            "certificates": {
                "cluster": str(master.paths.server_pem),
                "client": str(master.paths.client_pem),
                "rapi": str(master.paths.rapi_pem),
            },
            "hypervisor": "fake",
            "storage": "file",
        }
    )
    _save_state(base, state)
    print(f"started the demo cluster; state in {base / 'demo.json'}")
    return show(base)


def _join(master: devcluster.DevNode, others: list[devcluster.DevNode]) -> None:
    """gnt-node add for nodes not yet in the cluster (the same job the CLI submits)."""
    with LuxiClient(master.paths.luxi_socket) as client:
        known = {row[0] for row in client.call("QueryNodes", [], ["name"])}
        for node in others:
            if node.name in known:
                continue
            op = {"OP_ID": "OP_NODE_ADD", "node_name": node.name, "primary_ip": node.address}
            wait_job(client, client.submit_job([op]), feedback=lambda line: None)
    deadline_files = [n.paths.config_data for n in others]
    import time

    deadline = time.monotonic() + 60
    while not all(f.exists() for f in deadline_files):
        if time.monotonic() > deadline:
            raise TimeoutError("the configuration did not reach the candidates")
        time.sleep(0.1)


DEMO_INSTANCES = [
    ("demo1.instance", ["-t", "diskless", "-o", "noop", "-n", "node1.demo"]),
    ("demo2.instance", ["-t", "file", "-o", "noop", "--disk", "0:size=1G"]),
]


def _create_instances(master: devcluster.DevNode) -> None:
    """Two instances with the noop OS on the fake hypervisor, if not there yet."""
    with LuxiClient(master.paths.luxi_socket) as client:
        known = {row[0] for row in client.call("QueryInstances", [], ["name"])}
    env = {**os.environ, "GANETI_ROOT": str(master.root)}
    gnt_instance = str(Path(sys.executable).parent / "gnt-instance")
    for name, args in DEMO_INSTANCES:
        if name in known:
            continue
        proc = subprocess.run(
            [gnt_instance, "add", *args, name], env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"gnt-instance add {name} failed: {proc.stderr.strip()}")


def _run(cmd: list[str], env: dict[str, str], shown: str) -> int:
    print(f"$ {shown}")
    sys.stdout.flush()
    return subprocess.call(cmd, env=env)


def show(base: Path) -> int:
    """Demonstrate the running cluster through the CLI, RAPI and confd."""
    state = _load_state(base.absolute())
    if not state or not state.get("luxi_socket"):
        print("no demo cluster here; run 'make demo'", file=sys.stderr)
        return 1
    root = state["master_root"]
    bindir = Path(sys.executable).parent
    env = {**os.environ, "GANETI_ROOT": root}
    prefix = f"GANETI_ROOT={root}"
    rc = 0
    for cmd in (
        ["gnt-node", "list"],
        ["gnt-node", "list", "-o", "name,role,pip,master_candidate"],
        ["gnt-instance", "list"],
        ["gnt-debug", "delay", "1"],
        ["gnt-job", "list"],
    ):
        rc |= _run([str(bindir / cmd[0]), *cmd[1:]], env, f"{prefix} {' '.join(cmd)}")
    servers = [f"--server={h}:{p}" for h, p in state["confd_addresses"]]
    rc |= _run(
        [
            sys.executable,
            "-m",
            "ganeti.confd.cli",
            *servers,
            "query",
            "node-role-byname",
            "node2.demo",
        ],
        env,
        f"{prefix} gnt-confd {' '.join(servers)} query node-role-byname node2.demo",
    )
    print(f"$ curl -k -u {state['rapi_user']}:... {state['rapi_url']}/2/info  (name, master)")
    try:
        info = _rapi_get(state, "/2/info")
        print(json.dumps({k: info[k] for k in ("name", "master", "software_version")}))
    except OSError as exc:
        print(f"RAPI request failed: {exc}", file=sys.stderr)
        rc |= 1
    return rc


def _rapi_get(state: dict[str, Any], path: str) -> Any:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the demo's RAPI certificate is self-signed
    auth = b64encode(f"{state['rapi_user']}:{state['rapi_password']}".encode()).decode()
    req = urllib.request.Request(
        state["rapi_url"] + path, headers={"Authorization": f"Basic {auth}"}
    )
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        return json.loads(resp.read())


def stop(base: Path, quiet: bool = False) -> int:
    base = base.absolute()
    state = _load_state(base)
    if not state:
        if not quiet:
            print("no demo cluster state found; nothing to stop")
        return 0
    stopped = 0
    # Master-side daemons first, node daemons last.
    for pid, root, module in reversed(_daemons(state)):
        if devcluster.stop_pid(pid, root, module):
            stopped += 1
    state["master_pid"] = state["rapi_pid"] = None
    for n in state.get("nodes", []):
        n["pid"] = n["confd_pid"] = None
    _save_state(base, state)
    if not quiet:
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
