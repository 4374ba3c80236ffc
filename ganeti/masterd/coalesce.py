"""Sharing one expensive fan-out between concurrent requests, without stale answers.

A request must see data gathered *after* it arrived.  So a request that arrives while
a gather is running does not take that gather's result; it waits for the next gather,
which starts as soon as the running one ends and serves every request that arrived
meanwhile.  Under load this turns N concurrent live queries into about two RPC rounds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

T = TypeVar("T")


class Coalescer(Generic[T]):
    def __init__(self, gather: Callable[[], Awaitable[T]]) -> None:
        self._gather = gather
        self._running = False
        self._waiting: list[defer.Deferred[T]] = []  # arrived during the running gather

    def get(self) -> defer.Deferred[T]:
        d: defer.Deferred[T] = defer.Deferred()
        self._waiting.append(d)
        if not self._running:
            self._start()
        return d

    def _start(self) -> None:
        served, self._waiting = self._waiting, []
        self._running = True

        def finish(result: T | Failure) -> None:
            self._running = False
            for d in served:
                if not d.called:
                    if isinstance(result, Failure):
                        d.errback(result)
                    else:
                        d.callback(result)
            if self._waiting:
                self._start()

        async def run() -> T:
            return await self._gather()

        defer.Deferred.fromCoroutine(run()).addBoth(finish)
