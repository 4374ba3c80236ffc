"""The master daemon's service tree and its start-up refusals."""

from __future__ import annotations

import os

from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

from ganeti.bootstrap import InitParams, init_cluster
from ganeti.masterd import tap
from ganeti.paths import Paths


def options(root: str, *extra: str) -> tap.Options:
    opts = tap.Options()
    opts.parseOptions(["--root", root, *extra])
    return opts


class MasterTapTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = self.mktemp()
        self.paths = Paths(self.root)
        init_cluster(self.paths, InitParams("c.test", "node1.test", "127.0.1.1", "127.0.1.1"))

    def test_plugin(self) -> None:
        self.assertIn("ganeti-masterd", {p.tapname for p in getPlugins(IServiceMaker)})

    def test_listens_on_luxi_socket(self) -> None:
        reactor = MemoryReactorClock()
        svc = tap.build_service(options(self.root, "--no-voting", "--yes-do-it"), reactor)
        svc.startService()
        self.assertTrue(svc.ready.called)
        self.assertEqual(int(self.paths.masterd_pid.read_text()), os.getpid())
        self.addCleanup(svc.stopService)
        [(address, _factory, _backlog, mode, _pid)] = reactor.unixServers
        self.assertEqual(address, str(self.paths.luxi_socket))
        self.assertEqual(mode, 0o660)

    def test_refuses_when_not_master(self) -> None:
        exc = self.assertRaises(
            SystemExit,
            tap.build_service,
            options(self.root, "--node-name", "node2.test"),
            MemoryReactorClock(),
        )
        self.assertEqual(exc.code, tap.EXIT_NOTMASTER)

    def test_corrupt_config_names_the_file(self) -> None:
        self.paths.config_data.write_text('{"version": 3010000, "clus')
        exc = self.assertRaises(
            SystemExit, tap.build_service, options(self.root), MemoryReactorClock()
        )
        self.assertIn(str(self.paths.config_data), str(exc.code))

    def test_no_voting_needs_yes_do_it(self) -> None:
        from twisted.python import usage

        self.assertRaises(usage.UsageError, options, self.root, "--no-voting")

    def test_voting_waits_for_answers(self) -> None:
        reactor = MemoryReactorClock()
        svc = tap.build_service(options(self.root, "--vote-retries", "0"), reactor)
        svc.startService()
        # The vote needs the node daemons' answers: nothing listens before that.
        self.assertFalse(svc.ready.called)
        self.assertEqual(reactor.unixServers, [])

    def test_bad_port_option(self) -> None:
        from twisted.python import usage

        self.assertRaises(usage.UsageError, options, self.root, "--noded-port", "x")
