"""``ganeti-confd``: options and service tree of the configuration query daemon.

Run it as the twistd plugin (``twistd --nodaemon --pidfile= ganeti-confd ...``) or with
the ``ganeti-confd`` console script, which does the same without plugin discovery.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.application import service
from twisted.application.internet import TimerService, UDPServer
from twisted.logger import Logger
from twisted.python import usage

from ganeti import constants
from ganeti.confd import protocol as proto
from ganeti.confd.server import ConfdProtocol, DropStats, ReplicaWatcher, Responder
from ganeti.paths import Paths, default_root

log = Logger()

TAPNAME = "ganeti-confd"
DEFAULT_LISTEN = f"udp:{constants.DEFAULT_CONFD_PORT}:interface=\\:\\:"


def parse_listen(spec: str) -> tuple[int, str]:
    """``udp:PORT[:interface=ADDR]`` → ``(port, address)``; colons in ADDR may be
    escaped (``\\:``) as in Twisted endpoint strings or left bare."""
    kind, _, rest = spec.partition(":")
    if kind != "udp" or not rest:
        raise usage.UsageError(f"--listen {spec!r}: expected udp:PORT[:interface=ADDRESS]")
    port_text, _, options = rest.partition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise usage.UsageError(f"--listen {spec!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise usage.UsageError(f"--listen {spec!r}: port out of range")
    address = ""
    if options:
        name, sep, value = options.partition("=")
        if name != "interface" or not sep:
            raise usage.UsageError(f"--listen {spec!r}: only 'interface=' is understood")
        address = value.replace("\\:", ":")
    return port, address


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "The Ganeti configuration daemon: answers signed UDP queries about the cluster "
        "from this node's replica of config.data (master candidates only), reloading it "
        "when it changes."
    )
    optParameters = [
        ["root", "r", None, "Root directory of this node's files (default: $GANETI_ROOT or /)."],
        ["check-interval", None, "0.25", "Seconds between checks of config.data for changes."],
        ["stats-interval", None, "60", "Seconds between summaries of dropped datagrams."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def opt_listen(self, spec: str) -> None:
        """UDP address to answer on, udp:PORT[:interface=ADDRESS]; repeatable
        (default: udp:1814:interface=\\:\\:, every IPv6 and IPv4 address)."""
        self["listen"].append(parse_listen(spec))

    opt_l = opt_listen

    def postOptions(self) -> None:
        self["root"] = self["root"] or str(default_root())
        if not self["listen"]:
            self["listen"] = [parse_listen(DEFAULT_LISTEN)]
        for name in ("check-interval", "stats-interval"):
            try:
                self[name] = float(self[name])
            except ValueError:
                raise usage.UsageError(f"--{name} must be a number of seconds") from None
            if self[name] <= 0:
                raise usage.UsageError(f"--{name} must be positive")


def build_service(options: Options, reactor: Any) -> service.MultiService:
    """The confd service tree; ``reactor`` is injected for tests."""
    paths = Paths(options["root"])
    watcher = ReplicaWatcher(paths)
    watcher.check()
    if watcher.key is None:
        raise SystemExit(
            f"ganeti-confd: cannot read the HMAC key {paths.hmac_key} "
            "(is this node part of a cluster?)"
        )
    if watcher.index is None:
        log.warn(
            "no usable {path} yet (not a master candidate?); answering only pings until it appears",
            path=str(paths.config_data),
        )
    stats = DropStats()
    responder = Responder(watcher, reactor, stats)
    top = service.MultiService()
    top.setName(TAPNAME)
    checker = TimerService(options["check-interval"], watcher.check)
    checker.clock = reactor
    checker.setServiceParent(top)
    interval = options["stats-interval"]
    reporter = TimerService(interval, stats.report, interval)
    reporter.clock = reactor
    reporter.setServiceParent(top)
    for port, address in options["listen"]:
        udp = UDPServer(
            port,
            ConfdProtocol(responder, stats),
            interface=address,
            maxPacketSize=proto.MAX_REQUEST_SIZE + 1,
            reactor=reactor,
        )
        udp.setServiceParent(top)
        log.info(
            "confd for root {root} answering on UDP {address} port {port}",
            root=str(paths.root),
            address=address or "0.0.0.0",
            port=port,
        )
    return top


def makeService(options: Options) -> service.MultiService:
    from twisted.internet import reactor

    return build_service(options, reactor)


def main(argv: list[str] | None = None) -> None:
    """Console script: run in the foreground, logging to stdout (for systemd)."""
    from ganeti.daemon import run_foreground

    run_foreground(TAPNAME, "Ganeti configuration daemon", Options, makeService, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
