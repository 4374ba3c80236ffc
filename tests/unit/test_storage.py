"""Storage drivers: file images below allowed directories, LVM command lines, refusals."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from ganeti import errors
from ganeti.paths import Paths
from ganeti.storage import (
    NO_ACTIVATION,
    BlockDevice,
    CommandResult,
    FileStorage,
    IStorage,
    LvmStorage,
    ProcessRunner,
    StorageRegistry,
)
from ganeti.storage import filestorage as fs
from ganeti.storage.lvm import vg_info

MIB = 1024 * 1024
STORAGE = "/srv/ganeti/file-storage"


def run(coro: Any) -> defer.Deferred[Any]:
    return defer.Deferred.fromCoroutine(coro)


class ScriptedRunner:
    """Records command lines; answers from (prefix, result) rules, else success."""

    def __init__(self, rules: Sequence[tuple[tuple[str, ...], CommandResult]] = ()) -> None:
        self.calls: list[list[str]] = []
        self.rules = list(rules)

    def __call__(self, argv: Sequence[str]) -> defer.Deferred[CommandResult]:
        self.calls.append(list(argv))
        for prefix, result in self.rules:
            if tuple(argv[: len(prefix)]) == prefix:
                return defer.succeed(result)
        return defer.succeed(CommandResult(tuple(argv), 0))


def node_root(test: SynchronousTestCase) -> Paths:
    paths = Paths(Path(test.mktemp()).absolute())
    paths.ensure_dirs()
    (paths.root / STORAGE.lstrip("/")).mkdir(parents=True)
    paths.file_storage_paths.write_text(f"# allowed\n{STORAGE}\n")
    return paths


def file_disk(
    path: str, size: int = 10, fmt: str | None = None, dev_type: str = "file"
) -> BlockDevice:
    params = {"format": fmt} if fmt else {}
    return BlockDevice.from_dict(
        {"dev_type": dev_type, "logical_id": ["loop", path], "size": size, "params": params}
    )


class FileStorageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.paths = node_root(self)
        self.runner = ScriptedRunner()
        self.store = FileStorage(self.paths, self.runner)

    def real(self, virtual: str) -> Path:
        return self.paths.root / virtual.lstrip("/")

    def test_interface(self) -> None:
        verifyObject(IStorage, self.store)

    def test_raw_lifecycle(self) -> None:
        v = f"{STORAGE}/web1/uuid.file.disk0"
        dev = file_disk(v)
        made = self.successResultOf(run(self.store.create(dev, 10, False)))
        self.assertEqual(made.dev_path, str(self.real(v)))
        self.assertEqual((made.kind, made.format), ("file", "raw"))
        self.assertEqual(self.real(v).stat().st_size, 10 * MIB)
        self.failureResultOf(run(self.store.create(dev, 10, False)), errors.BlockDeviceError)
        status = self.successResultOf(run(self.store.find(dev)))
        self.assertEqual(status.to_dict()["dev_path"], str(self.real(v)))
        self.assertFalse(status.is_degraded)
        self.successResultOf(run(self.store.grow(dev, 5, True, True)))
        self.assertEqual(self.real(v).stat().st_size, 10 * MIB)
        self.successResultOf(run(self.store.grow(dev, 5, False, True)))
        self.assertEqual(self.real(v).stat().st_size, 15 * MIB)
        self.failureResultOf(run(self.store.grow(dev, 10**9, True, True)), errors.BlockDeviceError)
        new = ["loop", f"{STORAGE}/web2/uuid.file.disk0"]
        self.successResultOf(run(self.store.rename(dev, new)))
        self.assertFalse(self.real(v).exists())
        moved = file_disk(new[1])
        self.assertEqual(
            self.successResultOf(run(self.store.assemble(moved))).dev_path, str(self.real(new[1]))
        )
        self.successResultOf(run(self.store.shutdown(moved)))
        self.successResultOf(run(self.store.remove(moved)))
        self.assertIsNone(self.successResultOf(run(self.store.find(moved))))
        self.successResultOf(run(self.store.remove(moved)))
        self.failureResultOf(run(self.store.assemble(moved)), errors.BlockDeviceError)
        self.assertEqual(self.runner.calls, [])

    def test_qcow2_command_lines(self) -> None:
        v = f"{STORAGE}/web1/d0.qcow2"
        dev = file_disk(v, fmt="qcow2")
        made = self.successResultOf(run(self.store.create(dev, 100, False)))
        self.assertEqual(made.format, "qcow2")
        self.real(v).write_bytes(b"QFI\xfb")  # what qemu-img would have made
        self.successResultOf(run(self.store.grow(dev, 50, False, True)))
        self.assertEqual(
            self.runner.calls,
            [
                ["qemu-img", "create", "-q", "-f", "qcow2", str(self.real(v)), "100M"],
                ["qemu-img", "resize", "-q", str(self.real(v)), "+50M"],
            ],
        )
        self.failureResultOf(
            run(self.store.create(file_disk(f"{STORAGE}/x", fmt="vmdk"), 1, False))
        )

    def test_wipe(self) -> None:
        v = f"{STORAGE}/w"
        self.successResultOf(run(self.store.wipe(file_disk(v), 2, 3)))
        self.assertEqual(
            self.runner.calls,
            [
                [
                    "dd",
                    "if=/dev/zero",
                    f"of={self.real(v)}",
                    "bs=1M",
                    "seek=2",
                    "count=3",
                    "conv=notrunc",
                    "oflag=direct",
                ]
            ],
        )

    def test_paths_outside_are_refused(self) -> None:
        outside = self.paths.root / "etc/ganeti/evil"
        os.symlink(self.paths.root / "etc/ganeti", self.real(f"{STORAGE}/link"))
        for bad in (
            "/etc/passwd",
            f"{STORAGE}/../../../etc/x",
            f"{STORAGE}/link/evil",  # a symlink out of the allowed directory
            STORAGE,  # the directory itself is not an image
            "relative/path",
            "/srv/ganeti/file-storage-other/x",
        ):
            f = self.failureResultOf(run(self.store.create(file_disk(bad), 1, False)))
            self.assertIsInstance(
                f.value, errors.FileStoragePathError | errors.BlockDeviceError, bad
            )
        self.assertFalse(outside.exists())
        for lid in (["loop"], ["nbd", f"{STORAGE}/x"]):
            dev = BlockDevice.from_dict({"dev_type": "file", "logical_id": lid, "size": 1})
            self.failureResultOf(run(self.store.create(dev, 1, False)), errors.BlockDeviceError)

    def test_no_allowed_paths_file_refuses_everything(self) -> None:
        self.paths.file_storage_paths.unlink()
        f = self.failureResultOf(run(self.store.create(file_disk(f"{STORAGE}/a"), 1, False)))
        self.assertIsInstance(f.value, errors.FileStoragePathError)

    def test_storage_dirs(self) -> None:
        fs.create_storage_dir(self.paths, f"{STORAGE}/web1")
        self.assertTrue(self.real(f"{STORAGE}/web1").is_dir())
        fs.rename_storage_dir(self.paths, f"{STORAGE}/web1", f"{STORAGE}/web9")
        (self.real(f"{STORAGE}/web9") / "f").write_text("x")
        self.assertRaises(
            errors.FileStoragePathError, fs.remove_storage_dir, self.paths, f"{STORAGE}/web9"
        )
        (self.real(f"{STORAGE}/web9") / "f").unlink()
        fs.remove_storage_dir(self.paths, f"{STORAGE}/web9")
        fs.remove_storage_dir(self.paths, f"{STORAGE}/web9")
        self.assertRaises(errors.FileStoragePathError, fs.create_storage_dir, self.paths, "/tmp/x")
        self.assertRaises(errors.FileStoragePathError, fs.create_storage_dir, self.paths, STORAGE)

    def test_registry(self) -> None:
        reg = StorageRegistry(self.paths, self.runner)
        self.assertEqual(reg.get("sharedfile").dev_type, "sharedfile")
        self.assertEqual(reg.get("plain").dev_type, "plain")
        diskless = reg.get("diskless")
        dev = BlockDevice.from_dict({"dev_type": "diskless", "logical_id": [], "size": 0})
        self.successResultOf(run(diskless.create(dev, 1, False)))
        self.assertEqual(reg.get("drbd").dev_type, "drbd")
        self.assertRaises(errors.BlockDeviceError, reg.get, "rbd")
        self.assertRaises(errors.BlockDeviceError, reg.get, "nope")
        self.assertRaises(errors.BlockDeviceError, BlockDevice.from_dict, {"logical_id": []})
        self.assertRaises(
            errors.BlockDeviceError, BlockDevice.from_dict, {"dev_type": "file", "size": -1}
        )


def ok(stdout: str = "") -> CommandResult:
    return CommandResult((), 0, stdout)


LVS = ("lvs", *NO_ACTIVATION)


class LvmTests(SynchronousTestCase):
    """Command lines as run on hosts without device-mapper (activation off)."""

    def dev(self, lv: str = "uuid.disk0", stripes: int = 1) -> BlockDevice:
        return BlockDevice.from_dict(
            {
                "dev_type": "plain",
                "logical_id": ["xenvg", lv],
                "size": 1024,
                "params": {"stripes": stripes},
            }
        )

    def lvs_line(self, lv: str = "uuid.disk0", attr: str = "-wi-------") -> list[str]:
        return [
            *LVS,
            "--noheadings",
            "--nosuffix",
            "--units=m",
            "--separator=|",
            "-o",
            "lv_name,lv_size,lv_attr",
            f"xenvg/{lv}",
        ]

    def test_create_grow_rename_remove(self) -> None:
        runner = ScriptedRunner([(LVS, ok("  uuid.disk0|1024.00|-wi-------\n"))])
        lvm = LvmStorage(runner, NO_ACTIVATION)
        verifyObject(IStorage, lvm)
        made = self.successResultOf(run(lvm.create(self.dev(stripes=2), 1024, False)))
        self.assertEqual(made.dev_path, "/dev/xenvg/uuid.disk0")
        self.successResultOf(run(lvm.grow(self.dev(), 512, True, True)))
        self.successResultOf(run(lvm.grow(self.dev(), 512, False, True)))
        self.successResultOf(run(lvm.rename(self.dev(), ["xenvg", "uuid.disk0_replaced"])))
        status = self.successResultOf(run(lvm.find(self.dev())))
        self.assertEqual(
            (status.dev_path, status.size, status.is_degraded),
            ("/dev/xenvg/uuid.disk0", 1024, False),
        )
        self.successResultOf(run(lvm.assemble(self.dev())))
        self.successResultOf(run(lvm.remove(self.dev())))
        cfg = list(NO_ACTIVATION)
        self.assertEqual(
            runner.calls,
            [
                ["lvcreate", *cfg, "-L", "1024m", "-n", "uuid.disk0", "-i", "2", "xenvg"],
                ["lvresize", *cfg, "-L", "+512m", "--test", "xenvg/uuid.disk0"],
                ["lvresize", *cfg, "-L", "+512m", "xenvg/uuid.disk0"],
                ["lvrename", *cfg, "xenvg", "uuid.disk0", "uuid.disk0_replaced"],
                self.lvs_line(),
                self.lvs_line(),
                ["lvchange", *cfg, "-ay", "xenvg/uuid.disk0"],
                self.lvs_line(),
                ["lvremove", *cfg, "-f", "xenvg/uuid.disk0"],
            ],
        )

    def test_missing_partial_and_failures(self) -> None:
        missing = CommandResult((), 5, "", '  Failed to find logical volume "xenvg/uuid.disk0"\n')
        runner = ScriptedRunner([(("lvs",), missing)])
        lvm = LvmStorage(runner)
        self.assertIsNone(self.successResultOf(run(lvm.find(self.dev()))))
        self.successResultOf(run(lvm.remove(self.dev())))  # nothing to remove
        self.assertEqual([c[0] for c in runner.calls], ["lvs", "lvs"])
        self.failureResultOf(run(lvm.assemble(self.dev())), errors.BlockDeviceError)

        partial = LvmStorage(ScriptedRunner([(("lvs",), ok("uuid.disk0|10.00|-wi-a---p-\n"))]))
        status = self.successResultOf(run(partial.find(self.dev())))
        self.assertEqual((status.is_degraded, status.ldisk_status), (True, "faulty"))

        full = CommandResult(
            ("lvcreate",), 5, "", '  Volume group "xenvg" has insufficient free space\n'
        )
        failing = LvmStorage(ScriptedRunner([(("lvcreate",), full)]))
        f = self.failureResultOf(
            run(failing.create(self.dev(), 1024, False)), errors.BlockDeviceError
        )
        self.assertIn("insufficient free space", str(f.value))

    def test_names_checked(self) -> None:
        lvm = LvmStorage(ScriptedRunner())
        for lid in (["xenvg"], ["xen vg", "a"], ["xenvg", "-rf"], ["xenvg", ".."], ["../x", "a"]):
            dev = BlockDevice.from_dict({"dev_type": "plain", "logical_id": lid, "size": 1})
            self.failureResultOf(run(lvm.create(dev, 1, False)), errors.BlockDeviceError)
        self.failureResultOf(run(lvm.rename(self.dev(), ["othervg", "x"])), errors.BlockDeviceError)

    def test_vg_info(self) -> None:
        runner = ScriptedRunner([(("vgs",), ok("  xenvg|2048.00|4096.00\n"))])
        info = self.successResultOf(run(vg_info(runner, "xenvg")))
        self.assertEqual(info, {"storage_free": 2048, "storage_size": 4096})


class QemuImgTests(TestCase):
    """qcow2 images with the real qemu-img (skipped where it is not installed)."""

    def setUp(self) -> None:
        if shutil.which("qemu-img") is None:
            raise self.skipTest("qemu-img is not installed (apt-get install qemu-utils)")

    async def test_qcow2_create_and_grow(self) -> None:
        from twisted.internet import reactor

        paths = node_root(self)
        store = FileStorage(paths, ProcessRunner(reactor, timeout=60))
        dev = file_disk(f"{STORAGE}/q/d0", fmt="qcow2")
        made = await store.create(dev, 64, False)
        image = Path(made.dev_path)
        self.assertEqual(image.read_bytes()[:4], b"QFI\xfb")
        await store.grow(dev, 64, False, True)
        info = await ProcessRunner(reactor)(["qemu-img", "info", "--output=json", str(image)])
        self.assertIn('"virtual-size": 134217728', info.check().stdout)
        # A failing tool reports its message.
        bad = await ProcessRunner(reactor)(["qemu-img", "info", str(image) + ".missing"])
        self.assertRaises(errors.BlockDeviceError, bad.check)
