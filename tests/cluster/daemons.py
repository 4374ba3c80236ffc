"""Start the daemons of a ``devcluster`` for a cluster test, stopped again at its end."""

from __future__ import annotations

import sys

from twisted.trial.unittest import TestCase

from ganeti import devcluster


def start_daemons(case: TestCase, nodes: list[devcluster.DevNode]) -> int:
    """A node daemon on every node, then the master daemon on the first; each one is
    stopped by the test's cleanups.  Returns the master daemon's pid."""
    for node in nodes:
        devcluster.start_noded(node, sys.executable)
        case.addCleanup(devcluster.stop_noded, node)
    devcluster.wait_listening(nodes)
    master = nodes[0]
    pid = devcluster.start_masterd(master, sys.executable)
    case.addCleanup(devcluster.stop_pid, pid, master.root, "ganeti.masterd.tap")
    devcluster.wait_socket(master.paths.luxi_socket, pid)
    return pid
