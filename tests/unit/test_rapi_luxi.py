"""The asynchronous LUXI client: framing, connection reuse, limits, errors, cancel, timeout."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ganeti import errors
from ganeti.luxi import protocol as proto
from ganeti.rapi.luxi import ILuxiClient, LuxiPool, LuxiTimeout, MasterUnreachable


class _Transport(StringTransport):
    def abortConnection(self) -> None:
        self.loseConnection()


@implementer(IStreamClientEndpoint)
class FakeEndpoint:
    def __init__(self) -> None:
        self.connections: list[tuple[Any, _Transport]] = []
        self.refuse = False

    def connect(self, factory: Any) -> Deferred[Any]:
        if self.refuse:
            return fail(ConnectionRefusedError("no"))
        p = factory.buildProtocol(None)
        t = _Transport()
        p.makeConnection(t)
        self.connections.append((p, t))
        return succeed(p)


def reply(result: Any, success: bool = True) -> bytes:
    return proto.encode_reply(success, result)


def sent(t: _Transport) -> list[Any]:
    msgs = [m for m in t.value().split(proto.ETX) if m]
    return [json.loads(m) for m in msgs]


class PoolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.ep = FakeEndpoint()
        self.clock = Clock()
        self.pool = LuxiPool(self.ep, self.clock, max_connections=2, timeout=5)

    def test_interface(self) -> None:
        verifyObject(ILuxiClient, self.pool)

    def test_call_and_reuse(self) -> None:
        d = self.pool.call("QueryTags", ["cluster", None])
        p, t = self.ep.connections[0]
        self.assertEqual(sent(t)[0]["method"], "QueryTags")
        p.dataReceived(reply(["a"])[:5])
        self.assertNoResult(d)
        p.dataReceived(reply(["a"])[5:])
        self.assertEqual(self.successResultOf(d), ["a"])
        d2 = self.pool.call("QueryClusterInfo", [])
        self.assertEqual(len(self.ep.connections), 1)
        p.dataReceived(reply({"name": "c"}))
        self.assertEqual(self.successResultOf(d2), {"name": "c"})

    def test_errors_are_decoded_and_connection_kept(self) -> None:
        d = self.pool.call("SubmitJob", [[]])
        p, _ = self.ep.connections[0]
        p.dataReceived(reply(["OpPrereqError", ["bad", "wrong_input"]], success=False))
        exc = self.failureResultOf(d, errors.OpPrereqError).value
        self.assertEqual(exc.ecode, "wrong_input")
        self.assertEqual(self.pool.open_connections, 1)

    def test_limit_and_waiters(self) -> None:
        ds = [self.pool.call("X", [i]) for i in range(3)]
        self.assertEqual(len(self.ep.connections), 2)
        p0, t0 = self.ep.connections[0]
        p0.dataReceived(reply(0))
        self.assertEqual(self.successResultOf(ds[0]), 0)
        # The waiting call got the freed connection.
        self.assertEqual(sent(t0)[1]["args"], [2])
        p0.dataReceived(reply(2))
        self.assertEqual(self.successResultOf(ds[2]), 2)
        self.assertNoResult(ds[1])

    def test_cancel_drops_the_connection(self) -> None:
        d = self.pool.call("WaitForJobChange", [1, ["status"], None, None, 10])
        p, t = self.ep.connections[0]
        d.cancel()
        self.failureResultOf(d)
        self.assertTrue(t.disconnecting)
        p.connectionLost(None)
        self.assertEqual(self.pool.open_connections, 0)

    def test_timeout(self) -> None:
        d = self.pool.call("QueryJobs", [None, ["id"]])
        self.clock.advance(6)
        self.failureResultOf(d, LuxiTimeout)

    def test_master_closes_connection(self) -> None:
        d = self.pool.call("QueryJobs", [None, ["id"]])
        p, _ = self.ep.connections[0]
        p.connectionLost(None)
        self.failureResultOf(d, errors.LuxiError)
        self.assertEqual(self.pool.open_connections, 0)

    def test_unreachable(self) -> None:
        self.ep.refuse = True
        d = self.pool.call("QueryJobs", [None, ["id"]])
        self.failureResultOf(d, MasterUnreachable)
        self.assertEqual(self.pool.open_connections, 0)
