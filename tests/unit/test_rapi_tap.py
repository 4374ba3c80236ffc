"""ganeti-rapi's service tree: where the HTTP access log goes."""

from __future__ import annotations

import os

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from ganeti.bootstrap import InitParams, init_cluster
from ganeti.paths import Paths
from ganeti.rapi import tap


class AccessLogTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = self.mktemp()
        self.paths = Paths(self.root)
        init_cluster(self.paths, InitParams("c.test", "node1.test", "127.0.1.1", "127.0.1.1"))

    def site(self, *extra: str):
        opts = tap.Options()
        opts.parseOptions(["--root", self.root, "--listen", "tcp:0:interface=127.0.0.1", *extra])
        reactor = MemoryReactorClock()
        tap.build_service(opts, reactor).startService()
        [(_port, factory, _backlog, _iface)] = reactor.tcpServers
        return factory

    def test_default_is_a_file_in_the_log_dir(self) -> None:
        site = self.site()
        self.assertEqual(site.logPath, os.path.abspath(self.paths.daemon_log("rapi-access")))

    def test_daemon_log_and_none(self) -> None:
        self.assertIsNone(self.site("--access-log", "-").logPath)
        site = self.site("--access-log", "none")
        self.assertIsNone(site.logPath)
        self.assertIsNone(site.log(object()))
