"""The node daemon's service tree, its twistd plugin and its options."""

from __future__ import annotations

from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactor, MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

from ganeti import tls
from ganeti.noded import tap
from ganeti.paths import Paths


class TapTests(SynchronousTestCase):
    def test_plugin_is_discoverable(self) -> None:
        names = {p.tapname for p in getPlugins(IServiceMaker)}
        self.assertIn("ganeti-noded", names)

    def test_service_listens_with_tls(self) -> None:
        root = self.mktemp()
        paths = Paths(root)
        tls.create_cluster_certificate("c.test").save(paths.server_pem)
        opts = tap.Options()
        opts.parseOptions(["--root", root, "--listen", "ssl:1811:interface=127.0.1.1"])
        reactor = MemoryReactorClock()
        svc = tap.build_service(opts, reactor)
        svc.startService()
        self.addCleanup(svc.stopService)
        [(port, factory, _backlog, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (1811, "127.0.1.1"))
        # The site is wrapped in TLS: a plain-text listener would be a security bug.
        self.assertEqual(type(factory).__name__, "TLSMemoryBIOFactory")
        self.assertTrue(paths.queue_dir.is_dir())

    def test_missing_certificate_is_a_clear_error(self) -> None:
        opts = tap.Options()
        opts.parseOptions(["--root", self.mktemp()])
        exc = self.assertRaises(SystemExit, tap.build_service, opts, MemoryReactor())
        self.assertIn("server.pem", str(exc))
        self.assertIn("part of a cluster", str(exc))
