"""Instance, block device and hypervisor procedures of the node daemon (in memory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti import errors
from ganeti.hypervisor import HypervisorRegistry, LibvirtHypervisor, libvirt_available, run_inline
from ganeti.noded.blockdev import BlockdevBackend
from ganeti.noded.instances import InstanceBackend
from ganeti.paths import Paths
from ganeti.rpc.server import HandlerError, NodeRpcResource
from ganeti.storage import StorageRegistry

from .test_storage import STORAGE, ScriptedRunner, node_root


def call(value: Any) -> defer.Deferred[Any]:
    if hasattr(value, "__await__") and not isinstance(value, defer.Deferred):
        return defer.Deferred.fromCoroutine(value)
    return defer.succeed(value)


def disk_dict(idx: int = 0, size: int = 16) -> dict[str, Any]:
    return {
        "uuid": f"disk-{idx}",
        "dev_type": "file",
        "logical_id": ["loop", f"{STORAGE}/web1/disk-{idx}.file.disk{idx}"],
        "size": size,
        "iv_name": f"disk/{idx}",
        "mode": "rw",
        "params": {},
    }


def inst_dict(hv: str = C.HT_FAKE, **hvp: Any) -> dict[str, Any]:
    hvparams = dict(C.HVC_DEFAULTS[hv])
    hvparams.update(hvp)
    return {
        "uuid": "0f0c6a52-3f5e-4a43-9a9e-0f2b2b9d6c11",
        "name": "web1",
        "primary_node": "node-uuid-1",
        "os": "noop",
        "hypervisor": hv,
        "hvparams": hvparams,
        "beparams": dict(C.BEC_DEFAULTS),
        "osparams": {},
        "nics": [
            {
                "uuid": "nic-0",
                "mac": "aa:00:00:12:34:56",
                "nicparams": {"mode": "bridged", "link": "br0", "vlan": ""},
            }
        ],
        "disks": ["disk-0"],
        "disks_info": [disk_dict()],
        "secondary_nodes": [],
    }


class NodedInstanceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths: Paths = node_root(self)
        self.clock = Clock()
        self.runner = ScriptedRunner()
        self.blockdev = BlockdevBackend(self.paths, StorageRegistry(self.paths, self.runner))
        self.hvs = HypervisorRegistry(self.paths.run_dir, self.clock, run_inline)
        self.inst = InstanceBackend(self.hvs, self.blockdev, self.runner)
        self.h = {**self.blockdev.handlers(), **self.inst.handlers()}

    def ok(self, name: str, *args: Any) -> Any:
        return self.successResultOf(call(self.h[name](*args)))

    def fails(self, name: str, *args: Any) -> str:
        try:
            d = call(self.h[name](*args))
        except (HandlerError, errors.GanetiError) as exc:
            return str(exc)
        f = self.failureResultOf(d)
        self.assertIsInstance(f.value, HandlerError | errors.GanetiError)
        return str(f.value)

    def test_fake_lifecycle(self) -> None:
        inst = inst_dict()
        self.ok("file_storage_dir_create", f"{STORAGE}/web1")
        dev_path = self.ok("blockdev_create", disk_dict(), 16, "web1", True, "", False)
        self.assertTrue(Path(dev_path).is_file())
        path, link, uri = self.ok("blockdev_assemble", disk_dict(), inst, True, 0)
        self.assertEqual((path, uri), (dev_path, None))
        self.assertEqual(Path(link).resolve(), Path(dev_path).resolve())
        self.assertEqual(self.ok("blockdev_find", disk_dict())["dev_path"], dev_path)
        self.assertEqual(len(self.ok("blockdev_getmirrorstatus", [disk_dict()])), 1)
        self.ok("instance_start", inst, False, "user:test")
        self.assertIn("already running", self.fails("instance_start", inst, False, ""))
        self.assertEqual(self.ok("instance_list", ["fake"], {"fake": {}}), ["web1"])
        info = self.ok("instance_info", "web1", "fake", {})
        self.assertEqual((info["state"], info["memory"], info["vcpus"]), ("running", 128, 1))
        all_info = self.ok("all_instances_info", ["fake", "kvm"] if False else ["fake"], {})
        self.assertEqual(list(all_info), ["web1"])
        self.ok("instance_balloon_memory", inst, 100)
        self.ok("instance_reboot", inst, "hard", 10, "")
        self.assertIn("soft or hard", self.fails("instance_reboot", inst, "full", 10, ""))
        console = self.ok("instance_console_info", {"web1": {"instance": inst, "node_name": "n1"}})
        self.assertEqual(console["web1"]["kind"], "message")
        self.ok("instance_shutdown", inst, 5, "")
        self.assertEqual(self.ok("instance_info", "web1", "fake", {}), {})
        self.ok("blockdev_grow", disk_dict(), 8, False, True, False)
        self.assertEqual(Path(dev_path).stat().st_size, 24 * 1024 * 1024)
        self.ok("blockdev_shutdown", disk_dict())
        self.ok("blockdev_remove", disk_dict())
        self.assertIsNone(self.ok("blockdev_find", disk_dict()))
        self.ok("file_storage_dir_remove", f"{STORAGE}/web1")

    def test_bad_input(self) -> None:
        # Disks must exist before start.
        self.assertIn("not found", self.fails("instance_start", inst_dict(), False, ""))
        self.assertIn(
            "unknown fake parameter",
            self.fails("instance_start", inst_dict(kernel_path="/k"), False, ""),
        )
        self.assertIn(
            "not one of", self.fails("hypervisor_validate_params", "kvm", {"kvm_flag": "sometimes"})
        )
        self.ok("hypervisor_validate_params", "kvm", dict(C.HVC_DEFAULTS["kvm"]))
        self.assertIn("unknown hypervisor", self.fails("instance_list", ["vmware"], {}))
        bad_mac = inst_dict()
        bad_mac["nics"][0]["mac"] = "zz"
        self.assertIn("invalid MAC", self.fails("instance_start", bad_mac, False, ""))
        outside = disk_dict()
        outside["logical_id"] = ["loop", "/etc/shadow"]
        self.assertIn(
            "not below an allowed",
            self.fails("blockdev_create", outside, 1, "web1", True, "", False),
        )
        self.assertIn(
            "not below an allowed", self.fails("file_storage_dir_create", "/var/lib/ganeti")
        )
        self.assertIn(
            "not supported",
            self.fails(
                "blockdev_create", {"dev_type": "rbd", "logical_id": []}, 1, "x", True, "", False
            ),
        )
        self.assertIn(
            "size", self.fails("blockdev_create", disk_dict(), 0, "web1", True, "", False)
        )

    def test_errors_are_clean_rpc_failures(self) -> None:
        resource = NodeRpcResource(self.h)
        treq = StubTreq(resource)
        body = json.dumps(
            [disk_dict() | {"logical_id": ["loop", "/etc/x"]}, 1, "w", True, "", False]
        )
        resp = self.successResultOf(treq.post("http://node/blockdev_create", data=body.encode()))
        self.assertEqual(resp.code, 200)
        reply = json.loads(self.successResultOf(resp.content()))
        self.assertEqual(reply[0], False)
        self.assertIn("not below an allowed file storage directory", reply[1])

    def test_kvm_on_libvirt_test_driver(self) -> None:
        if not libvirt_available():
            raise self.skipTest("libvirt-python is not installed")
        hv = LibvirtHypervisor(
            C.HT_KVM, self.paths.run_dir / "libvirt/kvm", self.clock, run_inline, "test:///default"
        )
        self.hvs.put(hv)
        inst = inst_dict(C.HT_KVM, kvm_flag="disabled")
        inst["name"] = "gnt-ut-noded-kvm"
        self.ok("file_storage_dir_create", f"{STORAGE}/web1")
        self.ok("blockdev_create", disk_dict(), 16, "web1", True, "", False)
        self.ok("instance_start", inst, False, "")
        self.assertEqual(self.ok("instance_list", ["kvm"], {}), ["gnt-ut-noded-kvm"])
        console = self.ok("instance_console_info", {"gnt-ut-noded-kvm": [inst, {"name": "node1"}]})
        self.assertEqual(console["gnt-ut-noded-kvm"]["host"], "node1")
        self.ok("instance_shutdown", inst, 10, "")
        self.assertEqual(self.ok("instance_list", ["kvm"], {}), [])
