"""Node daemon procedures: what they write, and what they refuse."""

from __future__ import annotations

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.noded.backend import NodeBackend, QueueLock
from ganeti.rpc.encoding import compress
from ganeti.rpc.server import HandlerError

from .rpchelpers import in_memory_cluster, make_node_root, targets


def run(coro):
    return defer.Deferred.fromCoroutine(coro)


class UploadTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths = make_node_root(self.mktemp())
        self.clock = Clock()
        self.backend = NodeBackend(self.paths, self.clock)

    def upload(self, name: str, data: bytes = b"content", mode: int = 0o640) -> None:
        self.backend.upload_file(name, compress(data), mode, None, None, 1000.0, 2000.0)

    def test_whitelisted_file_written_atomically_with_mode_and_times(self) -> None:
        self.upload("/var/lib/ganeti/config.data", b"{}" * 1000)
        path = self.paths.config_data
        self.assertEqual(path.read_bytes(), b"{}" * 1000)
        st = os.stat(path)
        self.assertEqual(st.st_mode & 0o777, 0o640)
        self.assertEqual(st.st_mtime, 2000.0)
        leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
        self.assertEqual(leftovers, [])

    def test_every_whitelisted_path(self) -> None:
        for path in self.paths.upload_whitelist():
            self.upload(self.paths.virtual_path(path))
            self.assertEqual(path.read_bytes(), b"content")

    def test_refused_paths(self) -> None:
        for bad in (
            "/etc/passwd",
            "/root/.ssh/authorized_keys",
            "/etc/ganeti/file-storage-paths",
            "/var/lib/ganeti/../ganeti/config.data",
            "/var/lib/ganeti/./config.data",
            "var/lib/ganeti/config.data",
            "/var/lib/ganeti/ssconf_master_node",
            "/var/lib/ganeti/queue/job-1",
            "",
        ):
            self.assertRaises(HandlerError, self.upload, bad)
        self.assertFalse((self.paths.root / "etc/passwd").exists())
        self.assertFalse(self.paths.file_storage_paths.exists())

    def test_bad_mode_and_owner(self) -> None:
        with self.assertRaises(HandlerError):
            self.backend.upload_file(
                "/var/lib/ganeti/hmac.key", compress(b"x"), "0644", None, None, None, None
            )
        with self.assertRaises(HandlerError):
            self.backend.upload_file(
                "/var/lib/ganeti/hmac.key",
                compress(b"x"),
                0o600,
                "no-such-user-xyz",
                None,
                None,
                None,
            )
        with self.assertRaises(errors.RpcError):
            self.backend.upload_file(
                "/var/lib/ganeti/hmac.key", [7, "x"], 0o600, None, None, None, None
            )


class SsconfTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths = make_node_root(self.mktemp())
        self.backend = NodeBackend(self.paths, Clock())

    def test_write(self) -> None:
        self.backend.write_ssconf_files(
            {"master_node": "node1.example.com", "node_list": ["a", "b"], "cluster_tags": ""}
        )
        self.assertEqual(self.paths.ssconf("master_node").read_text(), "node1.example.com\n")
        self.assertEqual(self.paths.ssconf("node_list").read_text(), "a\nb\n")
        self.assertEqual(self.paths.ssconf("cluster_tags").read_text(), "")
        self.assertEqual(os.stat(self.paths.ssconf("node_list")).st_mode & 0o777, 0o444)
        self.assertEqual(self.backend.master_node_name(), "node1.example.com")

    def test_unknown_key_refused_and_nothing_written(self) -> None:
        exc = self.assertRaises(
            HandlerError,
            self.backend.write_ssconf_files,
            {"master_node": "x", "../../etc/shadow": "y"},
        )
        self.assertIn("unknown ssconf keys", str(exc))
        self.assertFalse(self.paths.ssconf("master_node").exists())

    def test_too_large(self) -> None:
        self.assertRaises(
            HandlerError, self.backend.write_ssconf_files, {"node_list": "x" * (129 * 1024)}
        )


class QueueTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths = make_node_root(self.mktemp())
        self.clock = Clock()
        self.backend = NodeBackend(self.paths, self.clock)

    def test_update_and_rename(self) -> None:
        self.successResultOf(
            run(self.backend.jobqueue_update("/var/lib/ganeti/queue/job-17", compress(b"{}")))
        )
        self.assertEqual(self.paths.job_file(17).read_bytes(), b"{}")
        self.successResultOf(
            run(
                self.backend.jobqueue_rename(
                    [["/var/lib/ganeti/queue/job-17", "/var/lib/ganeti/queue/archive/0/job-17"]]
                )
            )
        )
        self.assertFalse(self.paths.job_file(17).exists())
        self.assertTrue(self.paths.archived_job_file(17).exists())

    def test_outside_queue_refused(self) -> None:
        for bad in (
            "/var/lib/ganeti/config.data",
            "/var/lib/ganeti/queue/../config.data",
            "/var/lib/ganeti/queue",
        ):
            f = self.failureResultOf(run(self.backend.jobqueue_update(bad, compress(b"x"))))
            self.assertIsInstance(f.value, HandlerError)
        f = self.failureResultOf(
            run(self.backend.jobqueue_rename([["/var/lib/ganeti/queue/job-1", "/etc/passwd"]]))
        )
        self.assertIsInstance(f.value, HandlerError)

    def test_drain_flag(self) -> None:
        self.successResultOf(run(self.backend.jobqueue_set_drain_flag(True)))
        self.assertTrue(self.paths.queue_drain.exists())
        self.successResultOf(run(self.backend.jobqueue_set_drain_flag(False)))
        self.assertFalse(self.paths.queue_drain.exists())
        self.failureResultOf(run(self.backend.jobqueue_set_drain_flag("yes")), HandlerError)

    def test_purge(self) -> None:
        self.paths.job_file(1).write_text("x")
        self.successResultOf(run(self.backend.jobqueue_purge()))
        self.assertEqual([p.name for p in self.paths.queue_dir.iterdir()], ["lock"])

    def test_queue_lock_waits_then_times_out(self) -> None:
        held = QueueLock(self.paths.queue_lock, self.clock)
        self.successResultOf(run(held.__aenter__()))
        d = run(self.backend.jobqueue_update("/var/lib/ganeti/queue/job-1", compress(b"x")))
        self.assertNoResult(d)
        self.clock.advance(5)
        self.assertNoResult(d)
        # Released within the 10 s: the waiter proceeds.
        self.successResultOf(run(held.__aexit__(None, None, None)))
        self.clock.advance(0.1)
        self.successResultOf(d)
        self.successResultOf(run(held.__aenter__()))
        d = run(self.backend.jobqueue_update("/var/lib/ganeti/queue/job-2", compress(b"x")))
        self.clock.pump([0.5] * 25)
        self.failureResultOf(d, errors.JobQueueError)
        self.assertFalse(self.paths.job_file(2).exists())


class LeaveClusterTests(SynchronousTestCase):
    def test_leave(self) -> None:
        paths = make_node_root(self.mktemp())
        stopped = []
        clock = Clock()
        backend = NodeBackend(paths, clock, shutdown=lambda: stopped.append(True))
        for f in (paths.config_data, paths.server_pem, paths.hmac_key, paths.ssconf("node_list")):
            f.write_text("x")
        paths.job_file(3).write_text("x")
        backend.node_leave_cluster(False)
        self.assertFalse(paths.config_data.exists())
        self.assertFalse(paths.server_pem.exists())
        self.assertFalse(paths.ssconf("node_list").exists())
        self.assertFalse(paths.queue_dir.exists())
        self.assertEqual(stopped, [])
        clock.advance(1)
        self.assertEqual(stopped, [True])


class ViaRpcTests(SynchronousTestCase):
    """The same refusals seen by a remote caller: a failed result, not an exception."""

    def test_upload_traversal_over_rpc(self) -> None:
        client, _, _, stub = in_memory_cluster(self.mktemp(), ["n1"])
        d = client.call(
            targets(["n1"]),
            "upload_file",
            ["/var/lib/ganeti/../../../etc/passwd", compress(b"x"), 0o644, None, None, None, None],
        )
        stub.flush()
        res = self.successResultOf(d)["n1"]
        self.assertFalse(res.ok)
        self.assertIn("'..'", res.fail_msg)


class WatcherPauseTests(SynchronousTestCase):
    def test_pause_and_continue(self) -> None:
        paths = make_node_root(self.mktemp())
        backend = NodeBackend(paths, Clock())
        self.assertIsNone(backend.get_watcher_pause())
        backend.set_watcher_pause(2000000000.5)
        self.assertEqual(backend.get_watcher_pause(), 2000000000)
        backend.set_watcher_pause(None)
        self.assertIsNone(backend.get_watcher_pause())
        self.assertRaises(HandlerError, backend.set_watcher_pause, "tomorrow")
