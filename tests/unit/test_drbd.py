"""The drbd storage driver: exact command lines, status parsing, drbdadm dry runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase
from zope.interface.verify import verifyObject

from ganeti import errors
from ganeti.rpc.server import HandlerError
from ganeti.storage import StorageRegistry
from ganeti.storage import drbd as D
from ganeti.storage.command import CommandResult
from ganeti.storage.interface import IStorage
from ganeti.storage.lvm import LvmStorage
from tests.unit.test_storage import ScriptedRunner, node_root, run

PNODE, SNODE = "uuid-a", "uuid-b"
NODES = {PNODE: D.NodeAddr("nodea", "10.78.0.1"), SNODE: D.NodeAddr("nodeb", "10.78.0.2")}
PARAMS = {"resync-rate": 61440, "protocol": "C"}
NO_RES = CommandResult(("drbdsetup",), 10, "", "ganeti-11000: No such resource\n")


def disk_dict(params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "dev_type": "drbd",
        "logical_id": [PNODE, SNODE, 11000, 3, 5, "s3cr3t"],
        "size": 1024,
        "iv_name": "disk/0",
        "params": dict(PARAMS if params is None else params),
        "children": [
            {"dev_type": "plain", "logical_id": ["xenvg", "u1.disk0_data"], "size": 1024},
            {"dev_type": "plain", "logical_id": ["xenvg", "u1.disk0_meta"], "size": 128},
        ],
    }


def dev_on(node: str, params: dict[str, Any] | None = None) -> D.BlockDevice:
    return D.BlockDevice.from_dict(D.annotate(disk_dict(params), node, NODES))


LVS = ["lvs", "--noheadings", "--nosuffix", "--units=m", "--separator=|"]
STATUS = ["drbdsetup", "status", "ganeti-11000", "--verbose", "--statistics"]

# What the driver runs to bring up the resource, per node (recorded expectation; the same
# lines drbdadm 9.22 prints for the generated configuration, see DryRunTests).
UP_PRIMARY = [
    ["drbdsetup", "new-resource", "ganeti-11000", "0"],
    ["drbdsetup", "new-minor", "ganeti-11000", "3", "0"],
    [
        "drbdsetup",
        "new-peer",
        "ganeti-11000",
        "1",
        "--_name=nodeb",
        "--shared-secret=s3cr3t",
        "--cram-hmac-alg=md5",
        "--protocol=C",
    ],
    ["drbdsetup", "new-path", "ganeti-11000", "1", "ipv4:10.78.0.1:11000", "ipv4:10.78.0.2:11000"],
    ["drbdsetup", "peer-device-options", "ganeti-11000", "1", "0", "--resync-rate=61440k"],
    ["drbdmeta", "3", "v09", "/dev/xenvg/u1.disk0_meta", "flex-external", "apply-al"],
    [
        "drbdsetup",
        "attach",
        "3",
        "/dev/xenvg/u1.disk0_data",
        "/dev/xenvg/u1.disk0_meta",
        "flexible",
    ],
    ["drbdsetup", "connect", "ganeti-11000", "1"],
]
UP_SECONDARY = [
    ["drbdsetup", "new-resource", "ganeti-11000", "1"],
    ["drbdsetup", "new-minor", "ganeti-11000", "5", "0"],
    [
        "drbdsetup",
        "new-peer",
        "ganeti-11000",
        "0",
        "--_name=nodea",
        "--shared-secret=s3cr3t",
        "--cram-hmac-alg=md5",
        "--protocol=C",
    ],
    ["drbdsetup", "new-path", "ganeti-11000", "0", "ipv4:10.78.0.2:11000", "ipv4:10.78.0.1:11000"],
    ["drbdsetup", "peer-device-options", "ganeti-11000", "0", "0", "--resync-rate=61440k"],
    ["drbdmeta", "5", "v09", "/dev/xenvg/u1.disk0_meta", "flex-external", "apply-al"],
    [
        "drbdsetup",
        "attach",
        "5",
        "/dev/xenvg/u1.disk0_data",
        "/dev/xenvg/u1.disk0_meta",
        "flexible",
    ],
    ["drbdsetup", "connect", "ganeti-11000", "0"],
]


def create_md(minor: str) -> list[str]:
    return [
        "drbdmeta",
        minor,
        "v09",
        "/dev/xenvg/u1.disk0_meta",
        "flex-external",
        "create-md",
        "1",
        "--force",
    ]


def lvs_found(lv: str, size: int) -> CommandResult:
    return CommandResult(("lvs",), 0, f"  {lv}|{size}.00|-wi-a-----\n")


BOTH_LVS = CommandResult(
    ("lvs",), 0, "  u1.disk0_data|1024.00|-wi-a-----\n  u1.disk0_meta|128.00|-wi-a-----\n"
)


SYNCING = """\
ganeti-11000 node-id:0 role:Primary suspended:no
    write-ordering:flush
  volume:0 minor:3 disk:UpToDate quorum:yes
      size:1048576 read:1000 written:2000 al-writes:3 bm-writes:0 upper-pending:0
      lower-pending:0 al-suspended:no blocked:no
  nodeb node-id:1 connection:Connected role:Secondary congested:no ap-in-flight:0
      rs-in-flight:0
    volume:0 replication:SyncSource peer-disk:Inconsistent done:45.20 resync-suspended:no
        received:0 sent:474112 out-of-sync:574464 pending:0 unacked:0
"""

IN_SYNC = """\
ganeti-11000 node-id:1 role:Secondary suspended:no
  volume:0 minor:5 disk:UpToDate quorum:yes
      size:1048576 read:0 written:0
  nodea node-id:0 connection:Connected role:Primary congested:no
    volume:0 replication:Established peer-disk:UpToDate resync-suspended:no
"""

STANDALONE = """\
ganeti-11000 node-id:0 role:Primary suspended:no
  volume:0 minor:3 disk:UpToDate quorum:yes
  nodeb node-id:1 connection:StandAlone role:Unknown congested:no
"""

SECONDARY_STANDALONE = """\
ganeti-11000 node-id:1 role:Secondary suspended:no
  volume:0 minor:5 disk:UpToDate quorum:yes
  nodea node-id:0 connection:StandAlone role:Unknown congested:no
"""

DISKLESS_CONNECTING = """\
ganeti-11000 role:Secondary
  disk:Diskless
  volume:0 minor:5 disk:Diskless
  nodea connection:Connecting
"""


class DriverTests(SynchronousTestCase):
    def driver(self, runner: ScriptedRunner) -> D.DrbdStorage:
        return D.DrbdStorage(runner, LvmStorage(runner))

    def test_interface_and_registry(self) -> None:
        runner = ScriptedRunner()
        verifyObject(IStorage, self.driver(runner))
        reg = StorageRegistry(node_root(self), runner)
        self.assertIsInstance(reg.get("drbd"), D.DrbdStorage)

    def test_create_on_primary(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), NO_RES)])
        made = self.successResultOf(run(self.driver(runner).create(dev_on(PNODE), 1024, False)))
        self.assertEqual(made.dev_path, "/dev/drbd3")
        self.assertEqual(
            runner.calls,
            [
                STATUS,
                ["lvcreate", "-L", "1024m", "-n", "u1.disk0_data", "xenvg"],
                ["lvcreate", "-L", "128m", "-n", "u1.disk0_meta", "xenvg"],
                create_md("3"),
                *UP_PRIMARY,
            ],
        )

    def test_create_on_secondary(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), NO_RES)])
        made = self.successResultOf(run(self.driver(runner).create(dev_on(SNODE), 1024, False)))
        self.assertEqual(made.dev_path, "/dev/drbd5")
        self.assertEqual(
            runner.calls,
            [
                STATUS,
                ["lvcreate", "-L", "1024m", "-n", "u1.disk0_data", "xenvg"],
                ["lvcreate", "-L", "128m", "-n", "u1.disk0_meta", "xenvg"],
                create_md("5"),
                *UP_SECONDARY,
            ],
        )

    def test_dynamic_resync_options(self) -> None:
        params = {"resync-rate": 1000, "dynamic-resync": True, "c-plan-ahead": 10}
        side = D.side_of(dev_on(PNODE, params))
        self.assertEqual(
            D.up_argvs(side, params)[4],
            [
                "drbdsetup",
                "peer-device-options",
                "ganeti-11000",
                "1",
                "0",
                "--resync-rate=1000k",
                "--c-plan-ahead=10",
                "--c-fill-target=0",
                "--c-delay-target=1",
                "--c-max-rate=61440k",
                "--c-min-rate=4096k",
            ],
        )

    def test_create_fails_cleans_up(self) -> None:
        attach_fail = CommandResult(("drbdsetup",), 10, "", "attach: Failure: (114) Lower device\n")
        runner = ScriptedRunner(
            [
                (tuple(STATUS), NO_RES),
                (("drbdsetup", "attach"), attach_fail),
                (("lvs",), BOTH_LVS),
            ]
        )
        failure = self.failureResultOf(
            run(self.driver(runner).create(dev_on(PNODE), 1024, False)), errors.BlockDeviceError
        )
        self.assertIn("Lower device", str(failure.value))
        tail = runner.calls[runner.calls.index(UP_PRIMARY[6]) + 1 :]
        self.assertEqual(tail[0], ["drbdsetup", "down", "ganeti-11000"])
        self.assertEqual(tail[2], ["lvremove", "-f", "xenvg/u1.disk0_data"])
        self.assertEqual(tail[4], ["lvremove", "-f", "xenvg/u1.disk0_meta"])

    def test_create_refuses_existing(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), CommandResult(("x",), 0, IN_SYNC))])
        self.failureResultOf(
            run(self.driver(runner).create(dev_on(SNODE), 1024, False)), errors.BlockDeviceError
        )
        self.assertEqual(runner.calls, [STATUS])

    def test_assemble_then_primary(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), NO_RES)])
        drv = self.driver(runner)
        dev = dev_on(PNODE)
        where = self.successResultOf(run(drv.assemble(dev)))
        self.assertEqual(where.dev_path, "/dev/drbd3")
        self.successResultOf(run(drv.set_primary(dev)))
        self.assertEqual(
            runner.calls, [STATUS, *UP_PRIMARY, ["drbdsetup", "primary", "ganeti-11000"]]
        )

    def test_assemble_secondary_already_up(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), CommandResult(("x",), 0, IN_SYNC))])
        self.successResultOf(run(self.driver(runner).assemble(dev_on(SNODE))))
        self.assertEqual(runner.calls, [STATUS])

    def test_assemble_reattaches_and_reconnects(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), CommandResult(("x",), 0, DISKLESS_CONNECTING))])
        self.successResultOf(run(self.driver(runner).assemble(dev_on(SNODE))))
        self.assertEqual(runner.calls, [STATUS, UP_SECONDARY[5], UP_SECONDARY[6]])
        runner = ScriptedRunner([(tuple(STATUS), CommandResult(("x",), 0, STANDALONE))])
        self.successResultOf(run(self.driver(runner).assemble(dev_on(PNODE))))
        self.assertEqual(runner.calls, [STATUS, ["drbdsetup", "connect", "ganeti-11000", "1"]])

    def test_shutdown_and_remove(self) -> None:
        runner = ScriptedRunner(
            [
                (("lvs", "--noheadings"), lvs_found("u1.disk0_data", 1024)),
            ]
        )
        drv = self.driver(runner)
        self.successResultOf(run(drv.shutdown(dev_on(SNODE))))
        self.assertEqual(runner.calls, [["drbdsetup", "down", "ganeti-11000"]])
        runner.calls.clear()
        runner.rules = [(("lvs",), lvs_found("u1.disk0_data", 1024))]
        self.successResultOf(run(drv.remove(dev_on(PNODE))))
        self.assertEqual(
            [c for c in runner.calls if c[0] != "lvs"],
            [
                ["drbdsetup", "down", "ganeti-11000"],
                ["lvremove", "-f", "xenvg/u1.disk0_data"],
            ],
        )
        # A missing resource is already down.
        runner = ScriptedRunner([(("drbdsetup", "down"), NO_RES)])
        self.successResultOf(run(self.driver(runner).shutdown(dev_on(PNODE))))
        runner = ScriptedRunner(
            [(("drbdsetup", "down"), CommandResult(("x",), 11, "", "Device is held open\n"))]
        )
        self.failureResultOf(
            run(self.driver(runner).shutdown(dev_on(PNODE))), errors.BlockDeviceError
        )

    def test_network_changes(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), CommandResult(("x",), 0, STANDALONE))])
        drv = self.driver(runner)
        dev = dev_on(PNODE)
        self.successResultOf(run(drv.disconnect_net(dev)))
        self.successResultOf(run(drv.attach_net(dev, True)))
        self.successResultOf(run(drv.set_secondary(dev)))
        self.successResultOf(run(drv.set_primary(dev, force=True)))
        self.assertEqual(
            runner.calls,
            [
                ["drbdsetup", "disconnect", "ganeti-11000", "1"],
                STATUS,
                ["drbdsetup", "net-options", "ganeti-11000", "1", "--allow-two-primaries=yes"],
                ["drbdsetup", "connect", "ganeti-11000", "1"],
                ["drbdsetup", "secondary", "ganeti-11000"],
                ["drbdsetup", "primary", "ganeti-11000", "--force"],
            ],
        )

    def test_grow(self) -> None:
        runner = ScriptedRunner()
        drv = self.driver(runner)
        dev = dev_on(SNODE)
        self.successResultOf(run(drv.grow(dev, 512, True, True)))
        self.successResultOf(run(drv.grow(dev, 512, False, True)))
        self.successResultOf(run(drv.grow(dev, 512, True, False)))
        self.successResultOf(run(drv.grow(dev, 512, False, False)))
        self.assertEqual(
            runner.calls,
            [
                ["lvresize", "-L", "+512m", "--test", "xenvg/u1.disk0_data"],
                ["lvresize", "-L", "+512m", "xenvg/u1.disk0_data"],
                ["drbdsetup", "resize", "5"],
                ["drbdsetup", "check-resize", "5"],
            ],
        )
        self.failureResultOf(run(drv.grow(dev, -1, False, False)), errors.BlockDeviceError)

    def test_find(self) -> None:
        runner = ScriptedRunner([(tuple(STATUS), CommandResult(("x",), 0, SYNCING))])
        st = self.successResultOf(run(self.driver(runner).find(dev_on(PNODE))))
        self.assertEqual(
            st.to_dict(),
            {
                "dev_path": "/dev/drbd3",
                "major": 147,
                "minor": 3,
                "sync_percent": 45.2,
                "estimated_time": None,
                "is_degraded": False,
                "ldisk_status": "ok",
            },
        )
        self.assertEqual(st.size, 1024)
        runner = ScriptedRunner([(tuple(STATUS), NO_RES)])
        self.assertIsNone(self.successResultOf(run(self.driver(runner).find(dev_on(PNODE)))))
        runner = ScriptedRunner([(tuple(STATUS), CommandResult(("x",), 20, "", "oops\n"))])
        self.failureResultOf(run(self.driver(runner).find(dev_on(PNODE))), errors.BlockDeviceError)

    def test_bad_disks(self) -> None:
        for lid in (
            [PNODE, SNODE, 11000, 3, 5],
            [PNODE, PNODE, 11000, 3, 5, "s"],
            [PNODE, SNODE, 0, 3, 5, "s"],
            [PNODE, SNODE, 11000, -1, 5, "s"],
            [PNODE, SNODE, 11000, 3, 5, "bad secret; }"],
        ):
            self.assertRaises(errors.BlockDeviceError, D.parse_lid, lid)
        raw = disk_dict()
        # Not annotated for a node: refuse rather than guess which side we are.
        self.assertRaises(errors.BlockDeviceError, D.side_of, D.BlockDevice.from_dict(raw))
        self.assertRaises(errors.BlockDeviceError, D.annotate, raw, "uuid-c", NODES)
        bad_ip = D.annotate(raw, PNODE, NODES)
        bad_ip["params"]["remote-ip"] = "10.0.0"
        self.assertRaises(errors.BlockDeviceError, D.side_of, D.BlockDevice.from_dict(bad_ip))
        no_children = dict(D.annotate(raw, PNODE, NODES), children=[])
        self.assertRaises(errors.BlockDeviceError, D.side_of, D.BlockDevice.from_dict(no_children))


class StatusTests(SynchronousTestCase):
    def test_syncing(self) -> None:
        [res] = D.parse_status(SYNCING)
        self.assertEqual((res.name, res.node_id, res.role), ("ganeti-11000", 0, "Primary"))
        self.assertEqual(res.devices, [D.DeviceState(0, 3, "UpToDate", 1048576)])
        [conn] = res.connections
        self.assertEqual((conn.name, conn.node_id, conn.connection), ("nodeb", 1, "Connected"))
        self.assertEqual(
            conn.peer_devices, [D.PeerDeviceState(0, "SyncSource", "Inconsistent", 45.2)]
        )

    def test_in_sync(self) -> None:
        [res] = D.parse_status(IN_SYNC)
        st = D.device_status(res, 5)
        self.assertFalse(st.is_degraded)
        self.assertEqual((st.ldisk_status, st.sync_percent), ("ok", None))
        self.assertRaises(errors.BlockDeviceError, D.device_status, res, 3)

    def test_sync_target_and_standalone(self) -> None:
        target = SYNCING.replace("SyncSource", "SyncTarget").replace(
            "disk:UpToDate", "disk:Inconsistent"
        )
        st = D.device_status(D.parse_status(target)[0], 3)
        self.assertEqual(
            (st.is_degraded, st.ldisk_status, st.sync_percent), (True, "unknown", 45.2)
        )
        st = D.device_status(D.parse_status(STANDALONE)[0], 3)
        self.assertEqual((st.is_degraded, st.ldisk_status), (True, "ok"))
        st = D.device_status(D.parse_status(DISKLESS_CONNECTING)[0], 5)
        self.assertEqual((st.is_degraded, st.ldisk_status), (True, "faulty"))

    def test_several_resources_and_garbage(self) -> None:
        both = D.parse_status(SYNCING + "\n" + IN_SYNC.replace("ganeti-11000", "ganeti-11001"))
        self.assertEqual([r.name for r in both], ["ganeti-11000", "ganeti-11001"])
        self.assertEqual(D.parse_status(""), [])
        self.assertRaises(errors.BlockDeviceError, D.parse_status, "volume:0 minor:1\n")
        self.assertRaises(errors.BlockDeviceError, D.parse_status, "  nodeb node-id:1\n")


def _dry_run(conf: str, hostname: str, *command: str) -> list[list[str]]:
    """``drbdadm -c CONF -d COMMAND`` in a private UTS namespace named ``hostname``."""
    script = 'hostname "$1"; shift; exec drbdadm "$@"'
    proc = subprocess.run(
        ["unshare", "--uts", "sh", "-c", script, "sh", hostname, "-c", conf, "-d", *command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"drbdadm {command} failed ({proc.returncode}): {proc.stderr}")
    return [line.split() for line in proc.stdout.splitlines() if line.strip()]


def dry_run_conf(case: SynchronousTestCase) -> str:
    """A drbd.conf path for drbdadm dry runs (SkipTest when they cannot run here)."""
    if shutil.which("drbdadm") is None:
        raise SkipTest("drbdadm not installed (apt-get install drbd-utils)")
    if shutil.which("unshare") is None:
        raise SkipTest("unshare (util-linux) not installed")
    if os.geteuid() != 0:
        raise SkipTest("drbdadm dry runs need a UTS namespace (unshare --uts) and root")
    probe = subprocess.run(
        ["unshare", "--uts", "true"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        raise SkipTest(f"unshare --uts refused here: {probe.stderr.strip()}")
    tmp = tempfile.mkdtemp(prefix="ganeti-drbd-test-")
    case.addCleanup(shutil.rmtree, tmp, True)
    return os.path.join(tmp, "drbd.conf")


class DryRunTests(SynchronousTestCase):
    """The generated resource file, checked by drbd-utils itself (no kernel module needed)."""

    def setUp(self) -> None:
        self.conf = dry_run_conf(self)

    def write(self, params: dict[str, Any]) -> None:
        text = D.resource_config(
            D.BlockDevice.from_dict(disk_dict(params)), NODES[PNODE], NODES[SNODE]
        )
        with open(self.conf, "w") as f:
            f.write("global { usage-count no; }\n" + text)

    def test_up_matches_driver(self) -> None:
        for params in (PARAMS, {"resync-rate": 2048, "dynamic-resync": True, "protocol": "B"}):
            self.write(params)
            for node, expected_minor in ((PNODE, "3"), (SNODE, "5")):
                side = D.side_of(dev_on(node, params))
                name = NODES[node].name
                self.assertEqual(
                    _dry_run(self.conf, name, "up", "ganeti-11000"), D.up_argvs(side, params)
                )
                self.assertEqual(side.minor, int(expected_minor))
                self.assertEqual(
                    _dry_run(self.conf, name, "--force", "create-md", "ganeti-11000"),
                    [D.create_md_argv(side)],
                )

    def test_other_commands_match_driver(self) -> None:
        self.write(PARAMS)
        runner = ScriptedRunner()
        drv = D.DrbdStorage(runner, LvmStorage(runner))
        dev = dev_on(SNODE)
        self.successResultOf(run(drv.shutdown(dev)))
        self.successResultOf(run(drv.set_primary(dev)))
        self.successResultOf(run(drv.set_secondary(dev)))
        self.successResultOf(run(drv.disconnect_net(dev)))
        self.successResultOf(run(drv.grow(dev, 1, False, False)))
        expected: list[list[str]] = []
        for cmd in ("down", "primary", "secondary", "disconnect", "resize"):
            expected += _dry_run(self.conf, "nodeb", cmd, "ganeti-11000")
        self.assertEqual(runner.calls, expected)


class NodedProcedureTests(SynchronousTestCase):
    """blockdev_* and drbd_* procedures of noded with drbd disks (scripted commands)."""

    def setUp(self) -> None:
        from ganeti.noded.blockdev import BlockdevBackend

        self.paths = node_root(self)
        self.runner = ScriptedRunner([(tuple(STATUS), NO_RES)])
        self.backend = BlockdevBackend(self.paths, StorageRegistry(self.paths, self.runner))
        self.h = self.backend.handlers()

    def ok(self, name: str, *args: Any) -> Any:
        result = self.h[name](*args)
        if hasattr(result, "__await__"):
            return self.successResultOf(run(result))
        return result

    def test_create_and_assemble_on_primary(self) -> None:
        disk = D.annotate(disk_dict(), PNODE, NODES)
        self.assertEqual(
            self.ok("blockdev_create", disk, 1024, "web1", True, "", False), "/dev/drbd3"
        )
        self.runner.calls.clear()
        inst = {"name": "web1"}
        path, link, _uri = self.ok("blockdev_assemble", disk, inst, True, 0)
        self.assertEqual(path, "/dev/drbd3")
        self.assertTrue(link.endswith("instance-disks/web1:0"))
        self.assertEqual(
            self.runner.calls, [STATUS, *UP_PRIMARY, ["drbdsetup", "primary", "ganeti-11000"]]
        )

    def test_network_procedures(self) -> None:
        disk = D.annotate(disk_dict(), SNODE, NODES)
        self.ok("drbd_disconnect_net", [disk])
        self.runner.rules = [(tuple(STATUS), CommandResult(("x",), 0, SECONDARY_STANDALONE))]
        self.ok("drbd_attach_net", [disk], False)
        self.runner.rules = [(tuple(STATUS), NO_RES)]
        self.assertEqual(
            self.runner.calls,
            [
                ["drbdsetup", "disconnect", "ganeti-11000", "0"],
                STATUS,
                ["drbdsetup", "net-options", "ganeti-11000", "0", "--allow-two-primaries=no"],
                ["drbdsetup", "connect", "ganeti-11000", "0"],
            ],
        )
        needs = self.backend.drbd_needs_activation
        self.assertEqual(self.successResultOf(run(needs([disk]))), [""])
        self.runner.rules = [(tuple(STATUS), CommandResult(("x",), 0, SYNCING))]
        pdisk = D.annotate(disk_dict(), PNODE, NODES)
        self.assertEqual(self.ok("drbd_wait_sync", [pdisk]), [False, 45.2])
        self.assertEqual(self.successResultOf(run(needs([pdisk]))), [])
        self.runner.rules = [(tuple(STATUS), CommandResult(("x",), 0, IN_SYNC))]
        self.assertEqual(self.ok("drbd_wait_sync", [disk]), [True, 100.0])
        plain = {"dev_type": "plain", "logical_id": ["xenvg", "x"], "size": 1}
        self.failureResultOf(run(self.h["drbd_disconnect_net"]([plain])), HandlerError)
