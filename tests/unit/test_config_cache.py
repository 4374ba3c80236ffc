"""Loading hands encoded fragments to the serialiser; batched writes with early writeback.

The fragment cache must never change what is written: every test compares the file with
a full render by a fresh :class:`ConfigSerializer`.
"""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.config import ConfigStore, ConfigWriter, FileOps, atomic_write, load_config
from ganeti.config import atomic as atomic_mod
from ganeti.config import store as store_mod
from ganeti.config.store import ConfigSerializer
from ganeti.objects import ConfigData
from tests.unit.test_config_helpers import FIXTURE, U, sample_config, sample_dict


class SeededCacheTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()
        self.path = self.dir / "config.data"
        self.clock = Clock()
        self.clock.advance(1800000000)

    def writer_for(self, content: bytes) -> ConfigWriter:
        self.path.write_bytes(content)
        return ConfigWriter.load(ConfigStore(self.path), self.clock)

    def commit(self, writer: ConfigWriter) -> None:
        d = writer.flush()
        self.clock.advance(0)
        self.successResultOf(d)

    def change_something(self, writer: ConfigWriter) -> None:
        inst = writer.get_instance(U(402)).copy()
        inst.beparams["vcpus"] = 3
        writer.update(inst)

    def assertFileIsFullRender(self, writer: ConfigWriter) -> None:
        self.assertEqual(self.path.read_bytes(), ConfigSerializer().render_bytes(writer.config))

    def test_every_written_object_is_seeded(self) -> None:
        ConfigStore(self.path).save(sample_config())
        cfg = load_config(self.path)
        seeds = store_mod._SEEDS[cfg]
        for section in ("nodes", "nodegroups", "instances", "disks", "networks"):
            self.assertEqual(sorted(seeds[section]), sorted(getattr(cfg, section)))
            for uuid, (obj, serial, fragment) in seeds[section].items():
                self.assertIs(obj, getattr(cfg, section)[uuid])
                self.assertEqual(serial, obj.serial_no)  # type: ignore[attr-defined]
                self.assertEqual(
                    json.loads(b"{" + fragment + b"}"),
                    {uuid: json.loads(json.dumps(obj.to_dict()))},
                )

    def test_commit_right_after_load_matches_full_render(self) -> None:
        ConfigStore(self.path).save(sample_config())
        writer = ConfigWriter.load(ConfigStore(self.path), self.clock)
        self.assertNotIn(writer.config, store_mod._SEEDS)  # adopted by the writer's cache
        self.change_something(writer)
        self.commit(writer)
        self.assertFileIsFullRender(writer)
        self.assertEqual(load_config(self.path).instances[U(402)].beparams["vcpus"], 3)

    def test_non_canonical_file(self) -> None:
        """Objects whose dicts differ from what we write are encoded from the objects."""
        raw = sample_dict()
        raw["instances"][U(401)]["tags"] = ["zz", "aa", "aa"]
        raw["instances"][U(401)]["osparams"] = {}
        raw["instances"][U(402)]["network_port"] = None
        raw["instances"][U(403)]["future_key"] = {"kept": 1}
        raw["nodes"][U(101)]["ndparams"] = None
        raw["disks"][U(301)]["children"][0]["serial_no"] = 7
        writer = self.writer_for(json.dumps(raw).encode())
        self.change_something(writer)
        self.commit(writer)
        self.assertFileIsFullRender(writer)
        on_disk = json.loads(self.path.read_bytes())
        self.assertEqual(on_disk["instances"][U(401)]["tags"], ["aa", "zz"])
        self.assertNotIn("osparams", on_disk["instances"][U(401)])
        self.assertEqual(on_disk["instances"][U(403)]["future_key"], {"kept": 1})
        self.assertNotIn("ndparams", on_disk["nodes"][U(101)])
        self.assertNotIn("serial_no", on_disk["disks"][U(301)]["children"][0])

    def test_unsorted_keys_written_sorted(self) -> None:
        raw = sample_dict()
        inst = raw["instances"][U(401)]
        raw["instances"][U(401)] = dict(reversed(list(inst.items())))
        writer = self.writer_for(json.dumps(raw).encode())
        self.change_something(writer)
        self.commit(writer)
        self.assertFileIsFullRender(writer)

    def test_objects_replaced_before_the_writer_starts(self) -> None:
        """A seed no longer matching its object (identity or serial) is not used."""
        ConfigStore(self.path).save(sample_config())
        cfg = load_config(self.path)
        renamed = cfg.instances[U(401)].copy()
        renamed.name = "renamed.example.com"
        cfg.instances[U(401)] = renamed
        node = cfg.nodes[U(102)]
        node.serial_no += 1
        node.master_candidate = False
        node.drained = True
        store = ConfigStore(self.path)
        store.save(cfg)
        self.assertEqual(self.path.read_bytes(), ConfigSerializer().render_bytes(cfg))
        again = load_config(self.path)
        self.assertEqual(again.instances[U(401)].name, "renamed.example.com")
        self.assertTrue(again.nodes[U(102)].drained)

    def test_file_bytes_stable_across_load_and_save(self) -> None:
        ConfigStore(self.path).save(sample_config())
        before = self.path.read_bytes()
        ConfigStore(self.path).save(load_config(self.path))
        self.assertEqual(self.path.read_bytes(), before)

    def test_non_ascii_round_trip(self) -> None:
        raw = sample_dict()
        raw["instances"][U(401)]["osparams"] = {"motd": "Grüße \u2603"}
        writer = self.writer_for(json.dumps(raw).encode())
        self.change_something(writer)
        self.commit(writer)
        self.assertFileIsFullRender(writer)
        again = load_config(self.path)
        self.assertEqual(again.instances[U(401)].osparams["motd"], "Grüße \u2603")


class StrictLoadTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()
        self.path = self.dir / "config.data"

    def assertRefused(self, content: bytes, fragment: str) -> errors.ConfigurationError:
        self.path.write_bytes(content)
        err = self.assertRaises(errors.ConfigurationError, load_config, self.path)
        self.assertIn(str(self.path), str(err))
        self.assertIn(fragment, str(err))
        return err

    def test_corrupt_bytes(self) -> None:
        data = bytearray(FIXTURE.read_bytes())
        data[len(data) // 2] = 0xFF  # invalid UTF-8 in the middle
        self.assertRefused(bytes(data), "not valid JSON")

    def test_trailing_garbage(self) -> None:
        self.assertRefused(FIXTURE.read_bytes() + b"}", "not valid JSON")

    def test_object_entry_not_a_dict(self) -> None:
        raw = sample_dict()
        raw["disks"][U(301)] = 5
        self.assertRefused(json.dumps(raw).encode(), "malformed")

    def test_nested_entry_not_a_dict(self) -> None:
        raw = sample_dict()
        raw["instances"][U(401)]["nics"] = ["aa:00:00:00:00:01"]
        self.assertRefused(json.dumps(raw).encode(), "malformed")

    def test_every_problem_reported(self) -> None:
        raw = sample_dict()
        raw["instances"][U(401)]["primary_node"] = "gone"
        raw["disks"][U(301)]["size"] = -1
        raw["nodes"][U(102)]["name"] = raw["nodes"][U(101)]["name"]
        err = self.assertRefused(json.dumps(raw).encode(), "does not validate")
        assert isinstance(err, errors.ConfigVerifyError)
        text = "\n".join(err.errors)
        self.assertIn("primary node 'gone' does not exist", text)
        self.assertIn("invalid size -1", text)
        self.assertIn("used by both", text)

    def test_gc_state_restored(self) -> None:
        self.assertTrue(gc.isenabled())
        ConfigStore(self.path).save(sample_config())
        load_config(self.path)
        self.assertTrue(gc.isenabled())
        self.path.write_bytes(b"{broken")
        self.assertRaises(errors.ConfigurationError, load_config, self.path)
        self.assertTrue(gc.isenabled())
        gc.disable()
        try:
            self.path.write_bytes(FIXTURE.read_bytes())
            load_config(self.path)
            self.assertFalse(gc.isenabled())
        finally:
            gc.enable()

    def test_large_configs_are_frozen(self) -> None:
        """Past the threshold the loaded objects leave the cyclic GC's generations."""
        self.patch(store_mod, "_FREEZE_OBJECTS", 1)
        self.addCleanup(gc.unfreeze)
        ConfigStore(self.path).save(sample_config())
        before = gc.get_freeze_count()
        cfg = load_config(self.path)
        self.assertGreater(gc.get_freeze_count(), before)
        self.assertIsInstance(cfg, ConfigData)


class BatchedWriteTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()
        self.path = self.dir / "file"
        self.chunks = [bytes([65 + i % 26]) * (10 + i) for i in range(200)]
        self.expected = b"".join(self.chunks)
        self.patch(atomic_mod, "_BATCH_BYTES", 100)

    def test_writeback_ranges_cover_the_file(self) -> None:
        ranges: list[tuple[int, int]] = []
        calls: list[str] = []

        def record(fd: int, offset: int, length: int) -> None:
            ranges.append((offset, length))
            calls.append("writeback")

        def fsync(fd: int) -> None:
            calls.append("fsync")
            os.fsync(fd)

        atomic_write(self.path, self.chunks, 0o600, FileOps(start_writeback=record, fsync=fsync))
        self.assertEqual(self.path.read_bytes(), self.expected)
        self.assertGreater(len(ranges), 10)
        pos = 0
        for offset, length in ranges:
            self.assertEqual(offset, pos)
            self.assertGreaterEqual(length, 100)
            pos += length
        self.assertLessEqual(pos, len(self.expected))
        self.assertEqual(calls[-2:], ["fsync", "fsync"])  # file, then directory
        self.assertNotIn("fsync", calls[:-2])

    def test_short_writes_with_batches(self) -> None:
        def trickle(fd: int, bufs: Any) -> int:
            return os.write(fd, bytes(bufs[0][:7]))

        ranges: list[tuple[int, int]] = []
        ops = FileOps(writev=trickle, start_writeback=lambda fd, o, n: ranges.append((o, n)))
        atomic_write(self.path, self.chunks, 0o600, ops)
        self.assertEqual(self.path.read_bytes(), self.expected)
        self.assertEqual(sum(n for _, n in ranges), ranges[-1][0] + ranges[-1][1])

    def test_without_writeback(self) -> None:
        atomic_write(self.path, self.chunks, 0o600, FileOps(start_writeback=None))
        self.assertEqual(self.path.read_bytes(), self.expected)

    def test_default_writeback_hint(self) -> None:
        """The real sync_file_range (where available) is harmless on any file."""
        atomic_write(self.path, self.chunks, 0o600, FileOps())
        self.assertEqual(self.path.read_bytes(), self.expected)

    def test_many_chunks_beyond_iov_max(self) -> None:
        self.patch(atomic_mod, "_BATCH_BYTES", 1 << 30)
        chunks = [b"x"] * 3000
        atomic_write(self.path, chunks, 0o600, FileOps())
        self.assertEqual(self.path.read_bytes(), b"x" * 3000)
