"""Running a daemon in the foreground without twistd plugin discovery.

Plugin discovery writes ``dropin.cache`` next to the plugin files, which a root-owned
site-packages does not allow; console scripts hand the service maker to twistd directly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from typing import Any

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from twisted.python import usage
from twisted.scripts import twistd
from zope.interface import implementer


@implementer(IServiceMaker, IPlugin)
class _Maker:
    def __init__(
        self, tapname: str, description: str, options: type[usage.Options], make: Callable[..., Any]
    ) -> None:
        self.tapname = tapname
        self.description = description
        self.options = options
        self._make = make

    def makeService(self, options: usage.Options) -> Any:
        return self._make(options)


def run_foreground(
    tapname: str,
    description: str,
    options: type[usage.Options],
    make: Callable[..., Any],
    argv: list[str] | None = None,
) -> None:
    argv = sys.argv[1:] if argv is None else argv
    maker = _Maker(tapname, description, options, make)

    class Config(twistd.ServerOptions):
        subCommands = [(tapname, None, options, description)]

    config = Config()
    try:
        config.parseOptions(["--nodaemon", "--pidfile=", tapname, *argv])
    except usage.error as exc:
        raise SystemExit(f"{tapname}: {exc}") from None
    config.loadedPlugins = {tapname: maker}
    twistd.runApp(config)


def run_with_reactor(main: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
    """Run ``main(reactor)`` to completion in the global reactor, for command-line tools.

    Unlike ``task.react`` this returns instead of exiting, and re-raises main's error.
    """
    from twisted.internet import defer, reactor

    failures: list[Any] = []

    def start() -> None:
        d = defer.Deferred.fromCoroutine(main(reactor))
        d.addErrback(failures.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    if failures:
        failures[0].raiseException()
