"""Cluster membership with real daemons: join, roles, replication, failover."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.config.store import load_config

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2"), ("node3.test", "127.0.1.3")]
NODES5 = [(f"node{i}.test", f"127.0.1.{i}") for i in range(1, 6)]
BIN = Path(sys.executable).parent


class ClusterBase(TestCase):
    """Three prepared nodes with node daemons; node1 is master. Helpers for the tests."""

    timeout = 300

    NODES = NODES
    NODED_EXTRA: tuple[str, ...] = ()

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, self.NODES, self.port, "cluster.test")
        self.by_name = {n.name: n for n in self.nodes}
        for node in self.nodes:
            devcluster.start_noded(node, sys.executable, extra=self.NODED_EXTRA)
            self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        self.addCleanup(self._stop_masters)
        self.start_master(self.nodes[0], "--replication-retry", "1")

    def start_master(self, node: devcluster.DevNode, *extra: str) -> int:
        pid = devcluster.start_masterd(node, sys.executable, extra=extra)
        try:
            devcluster.wait_socket(node.paths.luxi_socket, pid)
        except (RuntimeError, TimeoutError) as exc:
            log = node.paths.daemon_log("master-daemon")
            tail = log.read_text()[-3000:] if log.exists() else "(no log)"
            self.fail(f"{exc}\n{tail}")
        return pid

    def _stop_masters(self) -> None:
        for node in self.nodes:
            for pidfile in (node.root / "masterd.pid", node.paths.masterd_pid):
                try:
                    pid = int(pidfile.read_text())
                except (OSError, ValueError):
                    continue
                devcluster.stop_pid(pid, node.root, "ganeti.masterd.tap")

    def gnt(self, node: devcluster.DevNode, *args: str, check: bool = True) -> str:
        env = {
            **os.environ,
            "GANETI_ROOT": str(node.root),
            "GANETI_NODED_PORT": str(self.port),
        }
        proc = subprocess.run(
            [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=120
        )
        if check and proc.returncode != 0:
            self.fail(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
        return proc.stdout + proc.stderr

    def roles(self, via: devcluster.DevNode) -> dict[str, str]:
        out = self.gnt(via, "gnt-node", "list", "-o", "name,role", "--no-headers")
        return dict(line.split() for line in out.splitlines() if line.strip())

    def add_all(self) -> None:
        master = self.nodes[0]
        for node in self.nodes[1:]:
            self.gnt(master, "gnt-node", "add", "--primary-ip", node.address, node.name)

    def wait_replicated(self, names: list[str], limit: float = 30) -> None:
        master = self.nodes[0].paths.config_data
        deadline = time.monotonic() + limit
        while True:
            want = master.read_bytes()
            same = [
                self.by_name[n].paths.config_data.exists()
                and self.by_name[n].paths.config_data.read_bytes() == want
                for n in names
            ]
            if all(same):
                return
            self.assertLess(time.monotonic(), deadline, f"not replicated: {names} {same}")
            time.sleep(0.2)


class MembershipTests(ClusterBase):
    def test_join_roles_and_replication(self) -> None:
        master, node2, node3 = self.nodes
        self.add_all()
        self.assertEqual(
            self.roles(master), {"node1.test": "M", "node2.test": "C", "node3.test": "C"}
        )
        # config.data is byte-identical on the candidates, ssconf on every node.
        self.wait_replicated(["node2.test", "node3.test"])
        for key in ("node_list", "master_candidates_certs", "master_node"):
            want = master.paths.ssconf(key).read_bytes()
            for node in (node2, node3):
                self.assertEqual(node.paths.ssconf(key).read_bytes(), want, key)

        # A drained node stops being a candidate and drops its config copy.
        self.gnt(master, "gnt-node", "modify", "--drained", "yes", "--auto-promote", "node3.test")
        self.assertEqual(self.roles(master)["node3.test"], "D")
        self.assertFalse(node3.paths.config_data.exists())

        # Offline nodes are not contacted: with node3's daemon frozen, live queries still
        # answer at once (they would wait out the RPC timeout otherwise).
        self.gnt(master, "gnt-node", "modify", "--offline", "yes", "node3.test")
        assert node3.pid is not None
        os.kill(node3.pid, signal.SIGSTOP)
        try:
            t = time.monotonic()
            out = self.gnt(master, "gnt-node", "list", "-o", "name,mfree,role")
            self.assertLess(time.monotonic() - t, 30, out)
            self.assertIn("node3.test", out)
        finally:
            os.kill(node3.pid, signal.SIGCONT)

        # Back online: promoted again and brought up to date.
        self.gnt(master, "gnt-node", "modify", "--offline", "no", "node3.test")
        self.assertEqual(self.roles(master)["node3.test"], "C")
        self.wait_replicated(["node3.test"])

        # A candidate that was down while the config changed catches up when it returns.
        assert node2.pid is not None
        os.kill(node2.pid, signal.SIGSTOP)
        try:
            self.gnt(master, "gnt-cluster", "add-tags", "while-node2-was-away")
        finally:
            os.kill(node2.pid, signal.SIGCONT)
        self.wait_replicated(["node2.test", "node3.test"], limit=60)
        self.assertIn("while-node2-was-away", load_config(node2.paths.config_data).cluster.tags)

        # Remove: the node forgets the cluster and its daemon stops.
        self.gnt(master, "gnt-node", "remove", "node3.test")
        self.assertNotIn("node3.test", self.roles(master))
        deadline = time.monotonic() + 20
        while devcluster.pid_alive(node3.pid):
            self.assertLess(time.monotonic(), deadline, "node3's daemon did not stop")
            time.sleep(0.1)
        self.assertFalse(node3.paths.server_pem.exists())
        self.assertFalse(node3.paths.ssconf("master_node").exists())

        # Re-adding a known node keeps its identity and role.
        uuid_before = load_config(master.paths.config_data).nodes
        self.gnt(master, "gnt-node", "add", "--readd", "node2.test")
        self.assertEqual(load_config(master.paths.config_data).nodes.keys(), uuid_before.keys())
        self.assertEqual(self.roles(master)["node2.test"], "C")

        # Bad input: a clear error and nothing changed.
        out = self.gnt(
            master, "gnt-node", "add", "--primary-ip", "127.0.1.2", "dup.test", check=False
        )
        self.assertIn("already used by node node2.test", out)
        out = self.gnt(master, "gnt-node", "remove", "node1.test", check=False)
        self.assertIn("master node", out)

    def test_master_failover(self) -> None:
        master, node2, node3 = self.nodes
        self.add_all()
        self.wait_replicated(["node2.test", "node3.test"])
        # Slow down replication retries from now on so a stale candidate stays stale:
        # restart the master with a long retry interval.
        self._stop_masters()
        self.start_master(master, "--replication-retry", "600")

        # A candidate that missed a change (its daemon was dead) is refused.
        assert node3.pid is not None
        os.kill(node3.pid, signal.SIGKILL)
        os.waitpid(node3.pid, 0)
        self.gnt(master, "gnt-cluster", "add-tags", "newer")
        devcluster.start_noded(node3, sys.executable)
        devcluster.wait_listening([node3])
        out = self.gnt(node3, "gnt-cluster", "master-failover", check=False)
        self.assertIn("older than on", out)

        # A current candidate takes over; the old master's daemon is stopped.
        out = self.gnt(node2, "gnt-cluster", "master-failover")
        self.assertIn("Master role moved from node1.test", out)
        deadline = time.monotonic() + 60
        while True:
            try:
                roles = self.roles(node2)
                if roles.get("node2.test") == "M":
                    break
            except Exception:
                pass
            self.assertLess(time.monotonic(), deadline, "new master did not come up")
            time.sleep(0.5)
        self.assertEqual(roles["node1.test"], "C")

        # The old master, started again, refuses to act as master (exit code 11).
        pid = devcluster.start_masterd(master, sys.executable)
        deadline = time.monotonic() + 60
        while devcluster.pid_alive(pid):
            self.assertLess(time.monotonic(), deadline, "old master kept running")
            time.sleep(0.2)
        log = master.paths.daemon_log("master-daemon").read_text()
        self.assertTrue(
            "is not the master" in log or "majority of master votes" in log, log[-2000:]
        )

    def test_renew_crypto_with_a_node_down(self) -> None:
        master, node2, node3 = self.nodes
        self.add_all()
        self.wait_replicated(["node2.test", "node3.test"])
        digest_before = node2.paths.client_pem.read_bytes()
        assert node3.pid is not None
        os.kill(node3.pid, signal.SIGKILL)
        os.waitpid(node3.pid, 0)
        out = self.gnt(
            master,
            "gnt-cluster",
            "renew-crypto",
            "--new-node-certificates",
            "--new-confd-hmac-key",
            "-f",
        )
        self.assertIn("node3.test keeps its old certificate", out)
        self.assertNotEqual(node2.paths.client_pem.read_bytes(), digest_before)
        self.assertEqual(node2.paths.hmac_key.read_bytes(), master.paths.hmac_key.read_bytes())
        # The master still reaches the renewed nodes with its new certificate.
        self.gnt(master, "gnt-debug", "delay", "--no-master", "-n", "node2.test", "0")
        # The node that was down comes back and is re-added.
        devcluster.start_noded(node3, sys.executable)
        devcluster.wait_listening([node3])
        self.gnt(master, "gnt-node", "add", "--readd", "node3.test")
        self.gnt(master, "gnt-debug", "delay", "--no-master", "-n", "node3.test", "0")
        self.wait_replicated(["node2.test", "node3.test"])


class AutoFailoverTests(ClusterBase):
    """Opt-in automatic failover: the master's machine dies, a candidate takes over."""

    NODED_EXTRA = ("--failover-check-interval", "0.5")

    def test_candidate_takes_over_when_master_dies(self) -> None:
        master, node2, node3 = self.nodes
        self.add_all()
        self.gnt(master, "gnt-cluster", "modify", "--auto-failover-timeout", "3")
        self.wait_replicated(["node2.test", "node3.test"])
        # The master's machine dies: its node daemon and master daemon are gone.
        assert master.pid is not None
        self._stop_masters()
        os.kill(master.pid, signal.SIGKILL)
        os.waitpid(master.pid, 0)
        deadline = time.monotonic() + 90
        while True:
            names = {
                n.name: n.paths.ssconf("master_node").read_text().strip() for n in (node2, node3)
            }
            if names == {"node2.test": "node2.test", "node3.test": "node2.test"}:
                break
            self.assertLess(time.monotonic(), deadline, f"no takeover: {names}")
            time.sleep(0.5)
        # node2 (newest config, first name) is master and serves LUXI; node3 did nothing.
        deadline = time.monotonic() + 60
        while not node2.paths.luxi_socket.exists():
            self.assertLess(time.monotonic(), deadline, "no master daemon on node2")
            time.sleep(0.2)
        roles = self.roles(node2)
        self.assertEqual(roles["node2.test"], "M")
        self.assertFalse(node3.paths.masterd_pid.exists())

    def test_no_takeover_without_opt_in(self) -> None:
        master, node2, _ = self.nodes
        self.add_all()
        self.wait_replicated(["node2.test", "node3.test"])
        assert master.pid is not None
        os.kill(master.pid, signal.SIGSTOP)
        try:
            time.sleep(5)  # several check intervals with the master unreachable
            self.assertEqual(node2.paths.ssconf("master_node").read_text().strip(), "node1.test")
            self.assertFalse(node2.paths.masterd_pid.exists())
        finally:
            os.kill(master.pid, signal.SIGCONT)


class FiveNodeTests(ClusterBase):
    """A candidate pool smaller than the cluster: regular nodes get ssconf, not config."""

    NODES = NODES5

    def test_pool_of_three(self) -> None:
        master = self.nodes[0]
        self.gnt(master, "gnt-cluster", "modify", "--candidate-pool-size", "3")
        self.add_all()
        roles = self.roles(master)
        self.assertEqual(sorted(roles.values()), ["C", "C", "M", "R", "R"], roles)
        candidates = [n for n, r in roles.items() if r == "C"]
        regular = [n for n, r in roles.items() if r == "R"]
        self.wait_replicated(candidates)
        for name in regular:
            node = self.by_name[name]
            self.assertFalse(node.paths.config_data.exists(), name)
            self.assertEqual(
                node.paths.ssconf("node_list").read_bytes(),
                master.paths.ssconf("node_list").read_bytes(),
            )
        # Removing a candidate promotes a regular node to keep the pool at three.
        self.gnt(master, "gnt-node", "remove", candidates[0])
        roles = self.roles(master)
        self.assertEqual(sorted(roles.values()), ["C", "C", "M", "R"], roles)
        promoted = [n for n, r in roles.items() if r == "C" and n not in candidates]
        self.assertEqual(len(promoted), 1)
        self.wait_replicated([n for n, r in roles.items() if r == "C"])
        # A bigger pool promotes the rest at once.
        self.gnt(master, "gnt-cluster", "modify", "--candidate-pool-size", "10")
        self.assertEqual(sorted(self.roles(master).values()), ["C", "C", "C", "M"])
