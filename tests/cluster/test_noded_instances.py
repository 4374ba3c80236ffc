"""A real node daemon over RPC: file disks, the noop OS, the fake hypervisor."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from ganeti import constants as C
from ganeti import devcluster, tls
from ganeti.rpc.client import RpcClient, RpcTarget, make_http_client

NODES = [("node1.test", "127.0.1.1")]
REPO_OS = Path(__file__).resolve().parents[2] / "etc" / "os"
STORAGE = "/srv/ganeti/file-storage"


def disk(idx: int, inst: str = "web1") -> dict[str, Any]:
    return {
        "uuid": f"{inst}-disk-{idx}",
        "dev_type": "file",
        "logical_id": ["loop", f"{STORAGE}/{inst}/{inst}-disk-{idx}.file.disk{idx}"],
        "size": 32,
        "iv_name": f"disk/{idx}",
        "mode": "rw",
        "params": {},
    }


def instance(os_name: str = "noop", **hvp: Any) -> dict[str, Any]:
    hvparams = dict(C.HVC_DEFAULTS[C.HT_FAKE])
    hvparams.update(hvp)
    return {
        "uuid": "6a3e1f0c-2b4d-4e5f-8a9b-0c1d2e3f4a5b",
        "name": "web1",
        "primary_node": "node-uuid",
        "primary_node_name": "node1.test",
        "os": os_name,
        "hypervisor": C.HT_FAKE,
        "hvparams": hvparams,
        "beparams": dict(C.BEC_DEFAULTS),
        "osparams": {},
        "nics": [{"uuid": "n0", "mac": "aa:00:00:01:02:03", "nicparams": dict(C.NICC_DEFAULTS)}],
        "disks": ["web1-disk-0", "web1-disk-1"],
        "disks_info": [disk(0), disk(1)],
        "secondary_nodes": [],
    }


class NodedInstanceLifecycleTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        base = Path(self.mktemp()).absolute()
        port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(base, NODES, port)
        node = self.nodes[0]
        # devcluster.prepare installed the OS definitions (noop, image).
        devcluster.start_noded(node, sys.executable)
        self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        self.connect()
        self.target = RpcTarget(node.name, node.address, node.port)

    def connect(self) -> None:
        """A fresh RPC client (a restarted daemon drops pooled connections)."""
        node = self.nodes[0]
        ca = tls.KeyPair.load(node.paths.server_pem)
        client = tls.KeyPair.load(node.paths.client_pem)
        http = make_http_client(reactor, tls.client_context_factory(client, ca.cert))
        self.addCleanup(http.close)
        self.rpc = RpcClient(reactor, http)

    async def call(self, proc: str, *args: Any) -> Any:
        results = await self.rpc.call([self.target], proc, list(args))
        res = results[self.target.name]
        self.assertTrue(res.ok, f"{proc}: {res.fail_msg}")
        return res.payload

    async def fail(self, proc: str, *args: Any) -> str:
        results = await self.rpc.call([self.target], proc, list(args))
        res = results[self.target.name]
        self.assertFalse(res.ok, f"{proc} unexpectedly succeeded: {res.payload!r}")
        return str(res.fail_msg)

    async def test_lifecycle(self) -> None:
        node = self.nodes[0]
        inst = instance()
        diag = {e[0]: e for e in await self.call("os_diagnose")}
        self.assertTrue(diag["noop"][2], diag["noop"][3])
        self.assertTrue(await self.call("os_validate", True, "noop", ["parameters"], {}, False))

        await self.call("file_storage_dir_create", f"{STORAGE}/web1")
        for idx in (0, 1):
            await self.call("blockdev_create", disk(idx), 32, "web1", True, "", False)
            dev_path, link, _ = await self.call("blockdev_assemble", disk(idx), inst, True, idx)
            self.assertTrue(Path(dev_path).is_file())
            self.assertTrue(link.endswith(f"web1:{idx}"))
        await self.call("instance_os_add", inst, False, 0)
        logs = list(node.paths.os_log_dir.glob("add-noop-web1-*.log"))
        self.assertEqual(len(logs), 1)
        self.assertIn("noop create: instance web1 (fake), 2 disk(s), 1 NIC(s)", logs[0].read_text())

        await self.call("instance_start", inst, False, "test")
        self.assertEqual(await self.call("instance_list", ["fake"], {"fake": {}}), ["web1"])
        info = await self.call("instance_info", "web1", "fake", {})
        self.assertEqual((info["state"], info["memory"]), ("running", 128))
        self.assertIn("web1", await self.call("all_instances_info", ["fake"], {}))
        hv_info = (await self.call("node_info", [["file", STORAGE, []]], [["fake", {}]]))[2][0]
        self.assertIn("memory_hv", hv_info)

        # The fake hypervisor's state survives a node daemon restart.
        devcluster.stop_noded(node)
        devcluster.start_noded(node, sys.executable)
        devcluster.wait_listening(self.nodes)
        self.connect()
        self.assertEqual(await self.call("instance_list", ["fake"], {}), ["web1"])

        await self.call("instance_shutdown", inst, 10, "test")
        self.assertEqual(await self.call("instance_list", ["fake"], {}), [])
        await self.call("instance_run_rename", inst, "web0", 0)
        for idx in (0, 1):
            await self.call("blockdev_shutdown", disk(idx))
            await self.call("blockdev_remove", disk(idx))
            self.assertIsNone(await self.call("blockdev_find", disk(idx)))
        await self.call("file_storage_dir_remove", f"{STORAGE}/web1")

    async def test_bad_input_fails_cleanly(self) -> None:
        msg = await self.fail("os_validate", True, "nosuchos", [], {}, False)
        self.assertIn("not found", msg)
        self.assertFalse(await self.call("os_validate", False, "nosuchos", [], {}, False))
        msg = await self.fail("os_validate", True, "noop", ["parameters"], {"x": 1}, False)
        self.assertIn("does not accept parameter", msg)
        outside = disk(0)
        outside["logical_id"] = ["loop", "/etc/ganeti/evil.img"]
        msg = await self.fail("blockdev_create", outside, 32, "web1", True, "", False)
        self.assertIn("not below an allowed file storage directory", msg)
        msg = await self.fail("file_storage_dir_create", "/srv/ganeti/../../etc")
        self.assertIn("..", msg)
        msg = await self.fail("instance_start", instance(kernel_path="/vmlinuz"), False, "")
        self.assertIn("unknown fake parameter 'kernel_path'", msg)
        msg = await self.fail("hypervisor_validate_params", "kvm", {"kvm_flag": "perhaps"})
        self.assertIn("kvm_flag", msg)
        # Unknown OS for an install: disks exist, the OS does not.
        await self.call("file_storage_dir_create", f"{STORAGE}/web1")
        for idx in (0, 1):
            await self.call("blockdev_create", disk(idx), 32, "web1", True, "", False)
        msg = await self.fail("instance_os_add", instance("nosuchos"), False, 0)
        self.assertIn("not found", msg)
        # Starting without the disks present is refused.
        for idx in (0, 1):
            await self.call("blockdev_remove", disk(idx))
        msg = await self.fail("instance_start", instance(), False, "")
        self.assertIn("not found", msg)
        self.assertEqual(await self.call("instance_list", ["fake"], {}), [])
