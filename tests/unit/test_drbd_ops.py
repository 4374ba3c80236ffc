"""Node side of the DRBD operations replace-disks, migration and failover need: exact
command lines against recorded expectations, and drbdadm dry runs for the new states
(detached, re-attached to new volumes, re-pointed at a new peer, up without connecting)."""

from __future__ import annotations

import copy
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.noded.blockdev import BlockdevBackend
from ganeti.rpc import procedures
from ganeti.rpc.server import HandlerError
from ganeti.storage import StorageRegistry
from ganeti.storage import drbd as D
from ganeti.storage.command import CommandResult
from ganeti.storage.lvm import LvmStorage
from tests.unit import test_drbd
from tests.unit.test_drbd import (
    IN_SYNC,
    NO_RES,
    NODES,
    PARAMS,
    PNODE,
    SNODE,
    STANDALONE,
    STATUS,
    UP_PRIMARY,
    UP_SECONDARY,
    _dry_run,
    create_md,
    dev_on,
    disk_dict,
)
from tests.unit.test_storage import ScriptedRunner, node_root, run

NEW_LVS = [
    {"dev_type": "plain", "logical_id": ["xenvg", "u2.disk0_data"], "size": 1024},
    {"dev_type": "plain", "logical_id": ["xenvg", "u2.disk0_meta"], "size": 128},
]
OLD_LVS = disk_dict()["children"]

PRIMARY_UP = """\
ganeti-11000 node-id:0 role:Primary suspended:no
  volume:0 minor:3 disk:UpToDate quorum:yes
  nodeb node-id:1 connection:Connected role:Secondary congested:no
    volume:0 replication:Established peer-disk:UpToDate resync-suspended:no
"""
PRIMARY_DISKLESS = PRIMARY_UP.replace("disk:UpToDate quorum", "disk:Diskless quorum")
SECONDARY_DISKLESS = IN_SYNC.replace("disk:UpToDate quorum", "disk:Diskless quorum")

# The third node that replaces nodeb as secondary (same node-id 1, other name and IP).
NODE_C = "uuid-c"
NODES3 = {**NODES, NODE_C: D.NodeAddr("nodec", "10.78.0.3")}


def status(text: str) -> tuple[tuple[str, ...], CommandResult]:
    return (tuple(STATUS), CommandResult(("drbdsetup",), 0, text))


def moved_disk() -> dict[str, Any]:
    """The disk after replace-disks -n nodec: same port, nodec in nodeb's slot, minor 7."""
    data = disk_dict()
    data["logical_id"] = [PNODE, NODE_C, 11000, 3, 7, "s3cr3t"]
    return data


def moved_on(node: str) -> D.BlockDevice:
    return D.BlockDevice.from_dict(D.annotate(moved_disk(), node, NODES3))


REPEER_ON_A = [
    ["drbdsetup", "del-peer", "ganeti-11000", "1"],
    [
        "drbdsetup",
        "new-peer",
        "ganeti-11000",
        "1",
        "--_name=nodec",
        "--shared-secret=s3cr3t",
        "--cram-hmac-alg=md5",
        "--protocol=C",
    ],
    ["drbdsetup", "new-path", "ganeti-11000", "1", "ipv4:10.78.0.1:11000", "ipv4:10.78.0.3:11000"],
    ["drbdsetup", "peer-device-options", "ganeti-11000", "1", "0", "--resync-rate=61440k"],
]


class DriverOpsTests(SynchronousTestCase):
    def driver(self, runner: ScriptedRunner) -> D.DrbdStorage:
        return D.DrbdStorage(runner, LvmStorage(runner))

    def test_remove_children_detaches(self) -> None:
        runner = ScriptedRunner([status(IN_SYNC)])
        drv = self.driver(runner)
        old = [D.BlockDevice.from_dict(c) for c in OLD_LVS]
        self.successResultOf(run(drv.remove_children(dev_on(SNODE), old)))
        self.assertEqual(runner.calls, [STATUS, ["drbdsetup", "detach", "5"]])
        # Already diskless: nothing to do.
        runner = ScriptedRunner([status(SECONDARY_DISKLESS)])
        self.successResultOf(run(self.driver(runner).remove_children(dev_on(SNODE), old)))
        self.assertEqual(runner.calls, [STATUS])
        # Volumes that are not the device's children are refused before anything runs.
        runner = ScriptedRunner([status(IN_SYNC)])
        new = [D.BlockDevice.from_dict(c) for c in NEW_LVS]
        self.failureResultOf(
            run(self.driver(runner).remove_children(dev_on(SNODE), new)), errors.BlockDeviceError
        )
        self.assertEqual(runner.calls, [])

    def test_add_children_fresh_meta_then_attach(self) -> None:
        runner = ScriptedRunner([status(PRIMARY_DISKLESS)])
        new = [D.BlockDevice.from_dict(c) for c in NEW_LVS]
        self.successResultOf(run(self.driver(runner).add_children(dev_on(PNODE), new)))
        self.assertEqual(
            runner.calls,
            [
                STATUS,
                [
                    "drbdmeta",
                    "3",
                    "v09",
                    "/dev/xenvg/u2.disk0_meta",
                    "flex-external",
                    "create-md",
                    "1",
                    "--force",
                ],
                ["drbdmeta", "3", "v09", "/dev/xenvg/u2.disk0_meta", "flex-external", "apply-al"],
                [
                    "drbdsetup",
                    "attach",
                    "3",
                    "/dev/xenvg/u2.disk0_data",
                    "/dev/xenvg/u2.disk0_meta",
                    "flexible",
                ],
            ],
        )

    def test_add_children_refuses_attached_or_down(self) -> None:
        new = [D.BlockDevice.from_dict(c) for c in NEW_LVS]
        for text in (PRIMARY_UP, None):
            rules = [status(text)] if text else [(tuple(STATUS), NO_RES)]
            runner = ScriptedRunner(rules)
            self.failureResultOf(
                run(self.driver(runner).add_children(dev_on(PNODE), new)),
                errors.BlockDeviceError,
            )
            self.assertEqual(runner.calls, [STATUS])
        runner = ScriptedRunner([status(PRIMARY_DISKLESS)])
        self.failureResultOf(
            run(self.driver(runner).add_children(dev_on(PNODE), new[:1])),
            errors.BlockDeviceError,
        )

    def test_attach_net_repoints_primary_at_new_secondary(self) -> None:
        runner = ScriptedRunner([status(STANDALONE)])
        self.successResultOf(run(self.driver(runner).attach_net(moved_on(PNODE), False)))
        self.assertEqual(
            runner.calls,
            [
                STATUS,
                *REPEER_ON_A,
                ["drbdsetup", "net-options", "ganeti-11000", "1", "--allow-two-primaries=no"],
                ["drbdsetup", "connect", "ganeti-11000", "1"],
            ],
        )

    def test_attach_net_same_peer_connected_only_changes_options(self) -> None:
        runner = ScriptedRunner([status(PRIMARY_UP)])
        self.successResultOf(run(self.driver(runner).attach_net(dev_on(PNODE), True)))
        self.assertEqual(
            runner.calls,
            [
                STATUS,
                ["drbdsetup", "net-options", "ganeti-11000", "1", "--allow-two-primaries=yes"],
            ],
        )
        runner = ScriptedRunner([(tuple(STATUS), NO_RES)])
        self.failureResultOf(
            run(self.driver(runner).attach_net(dev_on(PNODE), True)), errors.BlockDeviceError
        )

    def test_create_standalone_does_not_connect(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), NO_RES)])
        data = D.annotate(moved_disk(), NODE_C, NODES3)
        data["params"][D.P_STANDALONE] = True
        dev = D.BlockDevice.from_dict(data)
        self.successResultOf(run(self.driver(runner).create(dev, 1024, False)))
        calls = runner.calls
        self.assertEqual(calls[3], create_md("7"))
        self.assertEqual(calls[-1][:2], ["drbdsetup", "attach"])
        self.assertNotIn("connect", [c[1] for c in calls if c[0] == "drbdsetup"])
        self.assertEqual(calls[4], ["drbdsetup", "new-resource", "ganeti-11000", "1"])


class NodedOpsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths = node_root(self)
        self.runner = ScriptedRunner([(tuple(STATUS), NO_RES)])
        self.backend = BlockdevBackend(self.paths, StorageRegistry(self.paths, self.runner))
        self.h = self.backend.handlers()

    def ok(self, name: str, *args: Any) -> Any:
        return self.successResultOf(run(self.h[name](*args)))

    def test_procedures_are_in_the_table(self) -> None:
        for name in (
            "blockdev_addchildren",
            "blockdev_removechildren",
            "blockdev_close",
            "drbd_needs_activation",
        ):
            self.assertIn(name, self.h)
            self.assertIn(name, procedures.PROCEDURES)

    def test_create_on_primary_forces_primary_role(self) -> None:
        self.ok(
            "blockdev_create", D.annotate(disk_dict(), PNODE, NODES), 1024, "i", True, "", False
        )
        self.assertEqual(self.runner.calls[-1], ["drbdsetup", "primary", "ganeti-11000", "--force"])
        self.assertEqual(self.runner.calls[-1 - len(UP_PRIMARY) : -1], UP_PRIMARY)
        self.runner.calls.clear()
        self.ok(
            "blockdev_create", D.annotate(disk_dict(), SNODE, NODES), 1024, "i", False, "", False
        )
        self.assertEqual(self.runner.calls[-len(UP_SECONDARY) :], UP_SECONDARY)

    def test_close_demotes_drbd_only(self) -> None:
        plain = {"dev_type": "plain", "logical_id": ["xenvg", "x"], "size": 1}
        self.ok("blockdev_close", "web1", [D.annotate(disk_dict(), SNODE, NODES), plain])
        self.assertEqual(self.runner.calls, [["drbdsetup", "secondary", "ganeti-11000"]])

    def test_children_procedures(self) -> None:
        self.runner.rules = [status(PRIMARY_UP)]
        disk = D.annotate(disk_dict(), PNODE, NODES)
        self.ok("blockdev_removechildren", disk, copy.deepcopy(OLD_LVS))
        self.assertEqual(self.runner.calls[-1], ["drbdsetup", "detach", "3"])
        self.runner.rules = [status(PRIMARY_DISKLESS)]
        self.ok("blockdev_addchildren", disk, copy.deepcopy(OLD_LVS))
        self.assertEqual(self.runner.calls[-1][:3], ["drbdsetup", "attach", "3"])
        self.failureResultOf(run(self.h["blockdev_addchildren"](disk, "x")), HandlerError)
        plain = {"dev_type": "plain", "logical_id": ["xenvg", "x"], "size": 1}
        self.failureResultOf(run(self.h["blockdev_removechildren"](plain, [])), HandlerError)


class DryRunOpsTests(SynchronousTestCase):
    """drbd-utils prints the same commands for the new states."""

    def setUp(self) -> None:
        self.conf = test_drbd.dry_run_conf(self)

    def write(self, params: dict[str, Any]) -> None:
        self.write_conf(disk_dict(params), NODES)

    def write_conf(self, data: dict[str, Any], nodes: dict[str, D.NodeAddr]) -> None:
        lid = data["logical_id"]
        text = D.resource_config(D.BlockDevice.from_dict(data), nodes[lid[0]], nodes[lid[1]])
        with open(self.conf, "w") as f:
            f.write("global { usage-count no; }\n" + text)

    def test_detach_and_attach(self) -> None:
        self.write(PARAMS)
        runner = ScriptedRunner([status(IN_SYNC)])
        drv = D.DrbdStorage(runner, LvmStorage(runner))
        old = [D.BlockDevice.from_dict(c) for c in OLD_LVS]
        self.successResultOf(run(drv.remove_children(dev_on(SNODE), old)))
        runner.rules = [status(SECONDARY_DISKLESS)]
        self.successResultOf(run(drv.add_children(dev_on(SNODE), old)))
        expected = _dry_run(self.conf, "nodeb", "detach", "ganeti-11000")
        expected += _dry_run(self.conf, "nodeb", "--force", "create-md", "ganeti-11000")
        expected += _dry_run(self.conf, "nodeb", "attach", "ganeti-11000")
        self.assertEqual([c for c in runner.calls if c != STATUS], expected)

    def test_repoint_at_new_secondary(self) -> None:
        # On the old configuration drbdadm deletes the peer nodeb; on the new one it adds
        # nodec with its path and resync options and connects: what attach_net runs.
        self.write_conf(disk_dict(), NODES)
        expected = _dry_run(self.conf, "nodea", "del-peer", "ganeti-11000:nodeb")
        self.write_conf(moved_disk(), NODES3)
        for cmd in ("new-peer", "new-path", "peer-device-options"):
            expected += _dry_run(self.conf, "nodea", cmd, "ganeti-11000:nodec")
        connect = _dry_run(self.conf, "nodea", "connect", "ganeti-11000:nodec")
        self.assertEqual(expected, REPEER_ON_A)
        runner = ScriptedRunner([status(STANDALONE)])
        drv = D.DrbdStorage(runner, LvmStorage(runner))
        self.successResultOf(run(drv.attach_net(moved_on(PNODE), False)))
        calls = [c for c in runner.calls if c != STATUS and c[1] != "net-options"]
        self.assertEqual(calls, expected + connect)

    def test_new_secondary_up_without_connect(self) -> None:
        self.write_conf(moved_disk(), NODES3)
        full = _dry_run(self.conf, "nodec", "up", "ganeti-11000")
        self.assertEqual(full[-1], ["drbdsetup", "connect", "ganeti-11000", "0"])
        data = D.annotate(moved_disk(), NODE_C, NODES3)
        data["params"][D.P_STANDALONE] = True
        side = D.side_of(D.BlockDevice.from_dict(data))
        self.assertEqual(D.up_argvs(side, data["params"], connect=False), full[:-1])
        self.assertEqual(
            _dry_run(self.conf, "nodec", "--force", "create-md", "ganeti-11000"),
            [D.create_md_argv(side)],
        )

    def test_roles(self) -> None:
        self.write(PARAMS)
        runner = ScriptedRunner()
        drv = D.DrbdStorage(runner, LvmStorage(runner))
        self.successResultOf(run(drv.set_primary(dev_on(PNODE), force=True)))
        self.assertEqual(
            runner.calls, _dry_run(self.conf, "nodea", "primary", "--force", "ganeti-11000")
        )
