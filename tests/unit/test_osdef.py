"""OS definitions (API 20): discovery, environment, and running scripts (tiny real
shell scripts in a temporary directory)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ganeti import constants as C
from ganeti import osdef
from ganeti.hypervisor.interface import DiskRef, InstanceSpec, NicSpec

REPO_OS = Path(__file__).resolve().parents[2] / "etc" / "os"


def make_os(base: Path, name: str, scripts: dict[str, str] | None = None, **files: str) -> Path:
    d = base / name
    d.mkdir(parents=True)
    (d / "ganeti_api_version").write_text(files.pop("api", "20\n15\n"))
    for fname, text in files.items():
        (d / fname.replace("_", ".")).write_text(text)
    body = scripts or {}
    for kind in (*osdef.REQUIRED_SCRIPTS, osdef.SCRIPT_VERIFY):
        p = d / kind
        p.write_text("#!/bin/sh\n" + body.get(kind, "exit 0\n"))
        p.chmod(0o755)
    return d


def os_instance(os_name: str = "deb+bookworm") -> osdef.OSInstance:
    spec = InstanceSpec(
        name="web1",
        uuid="u-1",
        hypervisor=C.HT_KVM,
        hvparams={"disk_type": "paravirtual", "nic_type": "e1000", "acpi": True},
        beparams={"maxmem": 256, "vcpus": 2},
        disks=(
            DiskRef("/srv/f/d0", "file", "qcow2", uuid="d-0", name="root", size=1024),
            DiskRef("/dev/xenvg/d1", "block", mode="ro", uuid="d-1", size=10),
        ),
        nics=(
            NicSpec("aa:00:00:00:00:01", "bridged", "br0", ip="192.0.2.10", uuid="n-0"),
            NicSpec("aa:00:00:00:00:02", "routed", "100", uuid="n-1", name="back"),
        ),
    )
    return osdef.OSInstance(
        spec=spec,
        os=os_name,
        osparams={"dhcp-mode": "on", "mirror": "http://m"},
        primary_node="node1.example.com",
        secondary_nodes=("node2.example.com",),
        ctime=10.0,
        mtime=20.0,
        netinfo=(
            {
                "name": "net1",
                "uuid": "net-u",
                "network": "192.0.2.0/24",
                "gateway": "192.0.2.1",
                "tags": ["b", "a"],
            },
            None,
        ),
    )


class DiscoveryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.base = Path(self.mktemp())
        self.first = self.base / "first"
        self.second = self.base / "second"
        self.first.mkdir(parents=True)
        self.second.mkdir(parents=True)

    def test_read_variants_parameters(self) -> None:
        make_os(
            self.first,
            "deb",
            variants_list="# comment\nbookworm\ntrixie\n",
            parameters_list="dhcp-mode how to get an address\nmirror the mirror\n",
        )
        d = osdef.find_os([self.first, self.second], "deb+trixie")
        self.assertEqual((d.name, d.api_version, d.variants), ("deb", 20, ("bookworm", "trixie")))
        self.assertEqual(
            d.parameters, (("dhcp-mode", "how to get an address"), ("mirror", "the mirror"))
        )
        self.assertEqual(d.pick_variant(""), "bookworm")
        self.assertEqual(d.pick_variant("trixie"), "trixie")
        self.assertRaises(osdef.OSDefinitionError, d.pick_variant, "sid")
        self.assertEqual(d.pick_variant("sid", force=True), "sid")
        osdef.check_parameters(d, {"mirror": "x"})
        self.assertRaises(osdef.OSDefinitionError, osdef.check_parameters, d, {"bogus": 1})

    def test_first_search_dir_wins_and_diagnose(self) -> None:
        make_os(self.first, "a")
        make_os(self.second, "a", api="10\n")
        make_os(self.second, "old", api="5\n")
        broken = make_os(self.second, "broken")
        (broken / "rename").unlink()
        noexec = make_os(self.second, "noexec")
        (noexec / "export").chmod(0o644)
        make_os(self.second, "noverify")
        (self.second / "noverify" / "verify").unlink()
        (self.second / "stray-file").write_text("")
        found = osdef.find_os([self.first, self.second], "a")
        self.assertEqual(found.path, self.first / "a")
        entries = {e[0]: e for e in osdef.diagnose([self.first, self.second])}
        self.assertEqual(sorted(entries), ["a", "broken", "noexec", "noverify", "old"])
        self.assertEqual(entries["a"][1:4], [str(self.first / "a"), True, ""])
        self.assertEqual(entries["a"][6], [20, 15])
        self.assertIn("rename is missing", entries["broken"][3])
        self.assertIn("not executable", entries["noexec"][3])
        self.assertIn("verify is missing", entries["noverify"][3])
        self.assertIn("not supported", entries["old"][3])
        self.assertFalse(entries["old"][2])
        with self.assertRaises(osdef.OSDefinitionError):
            osdef.find_os([self.first], "missing")
        with self.assertRaises(osdef.OSDefinitionError):
            osdef.find_os([self.first], "../etc")

    def test_shipped_definitions_are_valid(self) -> None:
        entries = {e[0]: e for e in osdef.diagnose([REPO_OS])}
        self.assertTrue(entries["noop"][2], entries["noop"][3])
        self.assertTrue(entries["image"][2], entries["image"][3])
        self.assertEqual([p[0] for p in entries["image"][5]], ["image_path", "image_format"])


class EnvironmentTests(SynchronousTestCase):
    def test_instance_environment(self) -> None:
        base = Path(self.mktemp())
        d = osdef.read_os("deb", make_os(base, "deb", variants_list="bookworm\n"))
        env = osdef.instance_environment(d, os_instance(), debug=3)
        expected = {
            "PATH": osdef.SAFE_PATH,
            "OS_API_VERSION": "20",
            "OS_NAME": "deb",
            "OS_VARIANT": "bookworm",
            "INSTANCE_OS": "deb+bookworm",
            "DEBUG_LEVEL": "1",
            "INSTANCE_NAME": "web1",
            "INSTANCE_UUID": "u-1",
            "INSTANCE_PRIMARY_NODE": "node1.example.com",
            "INSTANCE_SECONDARY_NODES": "node2.example.com",
            "INSTANCE_CTIME": "10.0",
            "HYPERVISOR": "kvm",
            "DISK_COUNT": "2",
            "DISK_0_PATH": "/srv/f/d0",
            "DISK_0_ACCESS": "rw",
            "DISK_0_UUID": "d-0",
            "DISK_0_NAME": "root",
            "DISK_0_SIZE": "1024",
            "DISK_0_FRONTEND_TYPE": "paravirtual",
            "DISK_0_BACKEND_TYPE": "file:loop",
            "DISK_0_FORMAT": "qcow2",
            "DISK_1_PATH": "/dev/xenvg/d1",
            "DISK_1_ACCESS": "ro",
            "DISK_1_BACKEND_TYPE": "block",
            "NIC_COUNT": "2",
            "NIC_0_MAC": "aa:00:00:00:00:01",
            "NIC_0_IP": "192.0.2.10",
            "NIC_0_MODE": "bridged",
            "NIC_0_LINK": "br0",
            "NIC_0_BRIDGE": "br0",
            "NIC_0_FRONTEND_TYPE": "e1000",
            "NIC_0_NETWORK_NAME": "net1",
            "NIC_0_NETWORK_SUBNET": "192.0.2.0/24",
            "NIC_0_NETWORK_GATEWAY": "192.0.2.1",
            "NIC_0_NETWORK_TAGS": "a b",
            "NIC_1_MODE": "routed",
            "NIC_1_NAME": "back",
            "OSP_DHCP_MODE": "on",
            "OSP_MIRROR": "http://m",
            "INSTANCE_BE_maxmem": "256",
            "INSTANCE_HV_acpi": "True",
        }
        for key, value in expected.items():
            self.assertEqual(env.get(key), value, key)
        self.assertNotIn("NIC_1_BRIDGE", env)
        self.assertNotIn("DISK_1_FORMAT", env)
        self.assertNotIn("HOME", env)

    def test_bad_variant(self) -> None:
        d = osdef.read_os("deb", make_os(Path(self.mktemp()), "deb", variants_list="bookworm\n"))
        self.assertRaises(
            osdef.OSDefinitionError, osdef.instance_environment, d, os_instance("deb+sid"), 0
        )


class RunnerTests(TestCase):
    """Real processes: tiny shell scripts, the real reactor (process spawning)."""

    timeout = 30

    def setUp(self) -> None:
        from twisted.internet import reactor

        self.base = Path(self.mktemp()).absolute()
        self.base.mkdir(parents=True)
        self.logs = self.base / "log"
        self.runner = osdef.OSScriptRunner(reactor, self.logs)

    async def test_create_env_cwd_and_log(self) -> None:
        d = osdef.read_os(
            "t",
            make_os(
                self.base,
                "t",
                {
                    "create": 'echo "name=$INSTANCE_NAME cwd=$(pwd) home=${HOME:-none}"\n'
                    "echo oops >&2\n"
                },
            ),
        )
        env = {"PATH": osdef.SAFE_PATH, "INSTANCE_NAME": "web1"}
        log_file = self.runner.log_path("add", "t+v", "web1")
        self.assertTrue(log_file.name.startswith("add-t-web1-"))
        result = await self.runner.run(d, "create", env, log_file, 10)
        self.assertTrue(result.ok)
        text = log_file.read_text()
        self.assertIn(f"name=web1 cwd={d.path} home=none", text)
        self.assertIn("oops", text)

    async def test_failure_tail(self) -> None:
        body = "i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); done; exit 3\n"
        d = osdef.read_os("t", make_os(self.base, "t", {"create": body}))
        result = await self.runner.run(d, "create", {}, self.logs / "x.log", 10)
        self.assertEqual((result.ok, result.exit_code), (False, 3))
        self.assertEqual(result.tail[-1], "line29")
        self.assertIn("exit code 3", result.describe())
        self.assertIn("line29", result.describe())

    async def test_timeout_kills(self) -> None:
        d = osdef.read_os("t", make_os(self.base, "t", {"create": "echo started\nexec sleep 30\n"}))
        result = await self.runner.run(d, "create", {}, self.logs / "t.log", 0.5)
        self.assertTrue(result.timed_out)
        self.assertFalse(result.ok)
        self.assertIn("timed out", result.describe())

    async def test_cancel_kills(self) -> None:
        from twisted.internet import reactor, task

        marker = self.base / "pid"
        d = osdef.read_os(
            "t", make_os(self.base, "t", {"create": f"echo $$ > {marker}\nexec sleep 30\n"})
        )
        running = self.runner.run(d, "create", {}, self.logs / "c.log", 60)
        while not marker.exists() or not marker.read_text().strip():
            await task.deferLater(reactor, 0.05)
        pid = int(marker.read_text())
        running.cancel()
        with self.assertRaises(defer.CancelledError):
            await running
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            await task.deferLater(reactor, 0.05)
        else:
            self.fail("cancelled script still running")

    async def test_stdin_and_stdout_streams(self) -> None:
        d = osdef.read_os(
            "t", make_os(self.base, "t", {"import": "tr a-z A-Z\n", "export": "echo exported\n"})
        )
        src = self.base / "in"
        src.write_text("hello\n")
        out = self.base / "out"
        r = await self.runner.run(
            d, "import", {"PATH": osdef.SAFE_PATH}, self.logs / "i.log", 10, stdin_path=src
        )
        self.assertTrue(r.ok)
        self.assertIn("HELLO", (self.logs / "i.log").read_text())
        r = await self.runner.run(d, "export", {}, self.logs / "e.log", 10, stdout_path=out)
        self.assertEqual(out.read_text(), "exported\n")

    async def test_image_os_writes_first_disk(self) -> None:
        d = osdef.read_os("image", REPO_OS / "image")
        image = self.base / "src.img"
        image.write_bytes(b"BOOT" * 1024)
        disk = self.base / "disk0"
        disk.write_bytes(b"\0" * (2 * 1024 * 1024))
        spec = InstanceSpec(name="web1", hypervisor="fake", disks=(DiskRef(str(disk), size=2),))
        inst = osdef.OSInstance(spec=spec, os="image", osparams={"image_path": str(image)})
        env = osdef.instance_environment(d, inst, 0)
        result = await self.runner.run(d, "create", env, self.logs / "img.log", 30)
        self.assertTrue(result.ok, result.describe())
        self.assertEqual(disk.read_bytes()[:4096], b"BOOT" * 1024)
        self.assertEqual(disk.stat().st_size, 2 * 1024 * 1024)
        # verify refuses a relative path, accepts the real one
        bad = osdef.core_environment(d, "", {"image_path": "rel.img"}, 0)
        r = await self.runner.run(d, "verify", bad, self.logs / "v.log", 10, args=["parameters"])
        self.assertFalse(r.ok)
        good = osdef.core_environment(d, "", {"image_path": str(image)}, 0)
        r = await self.runner.run(d, "verify", good, self.logs / "v.log", 10, args=["parameters"])
        self.assertTrue(r.ok, r.describe())

    async def test_image_os_qcow2(self) -> None:
        if shutil.which("qemu-img") is None:
            raise self.skipTest("qemu-img is not installed")
        from twisted.internet import reactor

        from ganeti.storage import ProcessRunner

        qcow = self.base / "src.qcow2"
        (
            await ProcessRunner(reactor)(
                ["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "1M"]
            )
        ).check()
        disk = self.base / "disk0"
        disk.write_bytes(b"\1" * (1024 * 1024))
        d = osdef.read_os("image", REPO_OS / "image")
        spec = InstanceSpec(name="w", hypervisor="fake", disks=(DiskRef(str(disk), size=1),))
        inst = osdef.OSInstance(spec=spec, os="image", osparams={"image_path": str(qcow)})
        result = await self.runner.run(
            d, "create", osdef.instance_environment(d, inst, 0), self.logs / "q.log", 30
        )
        self.assertTrue(result.ok, result.describe())
        self.assertEqual(disk.read_bytes(), b"\0" * (1024 * 1024))
