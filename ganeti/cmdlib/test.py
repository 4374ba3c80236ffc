"""Logical units for testing the job machinery: ``OP_TEST_DELAY``."""

from __future__ import annotations

from typing import Any

from twisted.internet import task

from ganeti import errors
from ganeti.cmdlib.base import Feedback, LogicalUnit, register
from ganeti.locking import LEVEL_NODE


@register
class LUTestDelay(LogicalUnit):
    """Sleep on the master and/or on nodes (``test_delay`` RPC), optionally repeatedly.

    ``on_nodes`` names are resolved through the configuration; with ``no_locks=False`` the
    named nodes are locked exclusively.  Both kinds of sleep honour ``Deferred.cancel``.
    """

    OP_ID = "OP_TEST_DELAY"
    REQ_BGL = False

    def expand_names(self) -> None:
        uuids: list[str] = []
        for name in self.op.on_nodes or []:
            uuids.append(self.cfg.lookup_node(name).uuid)
        for uuid in self.op.on_node_uuids or []:
            uuids.append(self.cfg.get_node(uuid).uuid)
        self.node_uuids = list(dict.fromkeys(uuids))
        if not self.op.no_locks and self.node_uuids:
            self.needed_locks[LEVEL_NODE] = list(self.node_uuids)

    async def exec(self, feedback: Feedback) -> Any:
        repeat = self.op.repeat
        if repeat == 0:
            await self._delay()
            return None
        for index in range(repeat):
            feedback(f"Test delay iteration {index}/{repeat}")
            await self._delay()
        return None

    async def _delay(self) -> None:
        duration = float(self.op.duration)
        if self.op.on_master and duration > 0:
            await task.deferLater(self.ctx.clock, duration, lambda: None)
        if self.node_uuids:
            names = [self.cfg.get_node(uuid).name for uuid in self.node_uuids]
            results = await self.ctx.rpc.call(names, "test_delay", [duration])
            for name in names:
                result = results.get(name)
                if result is None or not result.ok:
                    why = "no answer" if result is None else result.fail_msg
                    raise errors.OpExecError(f"Error during node delay on {name}: {why}")


@register
class LUTestDummy(LogicalUnit):
    """Returns ``result`` after logging ``messages``; fails on request (``fail``)."""

    OP_ID = "OP_TEST_DUMMY"
    REQ_BGL = False

    async def exec(self, feedback: Feedback) -> Any:
        for message in self.op.messages or []:
            feedback(str(message))
        if self.op.fail:
            raise errors.OpExecError("LUTestDummy failed as requested")
        return self.op.result
