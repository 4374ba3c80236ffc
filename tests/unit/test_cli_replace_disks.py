"""gnt-instance replace-disks and add -t drbd -n P:S against a fake LUXI client."""

from __future__ import annotations

from typing import Any

from ganeti.cli import gnt_instance
from tests.unit.test_cli_group import CliCase


class ReplaceDisksCliTests(CliCase):
    def test_modes(self) -> None:
        cases: list[tuple[list[str], dict[str, Any]]] = [
            (["-p"], {"mode": "replace_on_primary"}),
            (["-s", "--disks", "0,2"], {"mode": "replace_on_secondary", "disks": [0, 2]}),
            (["-n", "node4"], {"mode": "replace_new_secondary", "remote_node": "node4"}),
            (["-I", "hail"], {"mode": "replace_new_secondary", "iallocator": "hail"}),
            (["-a", "--early-release"], {"mode": "replace_auto", "early_release": True}),
        ]
        for args, expected in cases:
            code, _out, err = self.run_cli(gnt_instance, ["replace-disks", *args, "web1"])
            self.assertEqual(code, 0, err)
            op = self.op()
            self.assertEqual(op["OP_ID"], "OP_INSTANCE_REPLACE_DISKS")
            self.assertEqual(op["instance_name"], "web1")
            for key, value in expected.items():
                self.assertEqual(op[key], value, args)
        self.assertFalse(self.client.jobs[0][0]["early_release"])

    def test_bad_input(self) -> None:
        for args, text in (
            ([], "give one of -p, -s"),
            (["-p", "-s"], "not allowed with"),
            (["-p", "--disks", "a"], "disk indexes"),
        ):
            code, _out, err = self.run_cli(gnt_instance, ["replace-disks", *args, "web1"])
            self.assertNotEqual(code, 0)
            self.assertIn(text, err)
        self.assertEqual(self.client.jobs, [])

    def test_add_drbd(self) -> None:
        argv = ["add", "-t", "drbd", "-n", "node1:node2", "-o", "debootstrap", "-s", "10G"]
        code, _out, err = self.run_cli(gnt_instance, [*argv, "--no-wait-for-sync", "web1"])
        self.assertEqual(code, 0, err)
        op = self.op()
        self.assertEqual(
            (op["disk_template"], op["pnode"], op["snode"], op["wait_for_sync"]),
            ("drbd", "node1", "node2", False),
        )
        self.run_cli(gnt_instance, [*argv, "web2"])
        self.assertTrue(self.op()["wait_for_sync"])


class DevStatusTests(CliCase):
    def test_describe(self) -> None:
        status = {
            "dev_path": "/dev/drbd3",
            "major": 147,
            "minor": 3,
            "sync_percent": 45.2,
            "is_degraded": True,
            "ldisk_status": "unknown",
        }
        self.assertEqual(
            gnt_instance.describe_dev_status(status),
            "/dev/drbd3 (147:3) 45.20% done, degraded, local disk unknown",
        )
        status.update(sync_percent=None, is_degraded=False, ldisk_status="ok")
        self.assertEqual(
            gnt_instance.describe_dev_status(status), "/dev/drbd3 (147:3) in sync, local disk ok"
        )
        self.assertEqual(gnt_instance.describe_dev_status({"dev_path": "/x"}), "/x")
