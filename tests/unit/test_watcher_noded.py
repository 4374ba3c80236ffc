"""The watcher restarts a dead local node daemon."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti.bootstrap import node_name_file
from ganeti.paths import Paths
from ganeti.watcher.nodecheck import ensure_noded, noded_alive, own_address


class Result:
    def __init__(self, returncode: int) -> None:
        self.returncode = returncode
        self.stderr = "boom" if returncode else ""


class NodedCheckTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths = Paths(self.mktemp())
        self.paths.data_dir.mkdir(parents=True)
        node_name_file(self.paths).write_text("node2.test\n")
        self.paths.ssconf("node_primary_ips").write_text(
            "node1.test 127.0.1.1\nnode2.test 127.0.1.2\n"
        )
        self.log: list[str] = []
        self.ran: list[Any] = []

    def run_fake(self, rc: int = 0):
        def run(cmd: Any, **kw: Any) -> Result:
            self.ran.append(cmd)
            return Result(rc)

        return run

    def test_own_address(self) -> None:
        self.assertEqual(own_address(self.paths), "127.0.1.2")

    def test_alive_does_nothing(self) -> None:
        restarted = ensure_noded(
            self.paths, self.log.append, alive=lambda a, p: True, run=self.run_fake()
        )
        self.assertFalse(restarted)
        self.assertEqual(self.ran, [])

    def test_dead_is_restarted_with_the_command(self) -> None:
        restarted = ensure_noded(
            self.paths,
            self.log.append,
            port=1811,
            restart_command="systemctl restart ganeti-noded.service",
            alive=lambda a, p: False,
            run=self.run_fake(),
        )
        self.assertTrue(restarted)
        self.assertEqual(self.ran, [["systemctl", "restart", "ganeti-noded.service"]])
        self.assertIn("127.0.1.2:1811", self.log[0])

    def test_failed_restart_is_logged(self) -> None:
        ensure_noded(
            self.paths,
            self.log.append,
            restart_command="false",
            alive=lambda a, p: False,
            run=self.run_fake(1),
        )
        self.assertIn("failed", self.log[-1])

    def test_not_in_a_cluster(self) -> None:
        node_name_file(self.paths).unlink()
        self.assertFalse(ensure_noded(self.paths, self.log.append, alive=lambda a, p: False))

    def test_real_probe_of_a_closed_port(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.assertFalse(noded_alive("127.0.0.1", port, timeout=1))
