"""Tag LUs: set, delete, get, search; validation as Ganeti."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.cmdlib.tags import MAX_TAG_LEN, MAX_TAGS_PER_OBJ, check_tag
from ganeti.locking import LEVEL_NODE
from tests.unit.cmdlib_harness import Master


class TagValidationTests(SynchronousTestCase):
    def test_valid(self) -> None:
        for tag in ("a", "web:prod", "x.y+z*/@-_", "é", "a" * MAX_TAG_LEN):
            self.assertEqual(check_tag(tag), tag)

    def test_invalid(self) -> None:
        for tag in ("", "a b", "semi;colon", "a" * (MAX_TAG_LEN + 1), 5, "tab\t"):
            with self.assertRaises(errors.OpPrereqError) as cm:
                check_tag(tag)
            self.assertEqual(cm.exception.ecode, errors.ECODE_INVAL)


class TagLUTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self)
        self.m.add_node("node2.test", "192.0.2.12")
        self.m.add_group("rack1")

    def test_cluster_tags(self) -> None:
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "cluster", "tags": ["b", "a"]})
        self.assertEqual(self.m.run({"OP_ID": "OP_TAGS_GET", "kind": "cluster"}), ["a", "b"])
        self.assertEqual(sorted(self.m.on_disk()["cluster"]["tags"]), ["a", "b"])
        self.m.run({"OP_ID": "OP_TAGS_DEL", "kind": "cluster", "tags": ["a"]})
        self.assertEqual(self.m.run({"OP_ID": "OP_TAGS_GET", "kind": "cluster"}), ["b"])

    def test_node_and_group_tags(self) -> None:
        before = self.m.config.lookup_node("node2.test").serial_no
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "node", "name": "node2.test", "tags": ["x"]})
        self.assertEqual(self.m.config.lookup_node("node2.test").serial_no, before + 1)
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "nodegroup", "name": "rack1", "tags": ["y"]})
        self.assertEqual(
            self.m.run(
                {"OP_ID": "OP_TAGS_GET", "kind": "nodegroup", "name": "rack1", "use_locking": True}
            ),
            ["y"],
        )
        uuid = self.m.config.lookup_group("rack1").uuid
        self.assertEqual(self.m.on_disk()["nodegroups"][uuid]["tags"], ["y"])

    def test_instance_tags(self) -> None:
        n1 = self.m.config.get_master_node()
        n2 = self.m.config.lookup_node("node2.test")
        self.m.add_drbd_instance("inst1", n1, n2)
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "instance", "name": "inst1", "tags": ["db"]})
        self.assertEqual(
            self.m.run({"OP_ID": "OP_TAGS_GET", "kind": "instance", "name": "inst1"}), ["db"]
        )

    def test_set_locks_the_object(self) -> None:
        seen = []
        original = self.m.locks.acquire

        def spy(owner, level, names, **kw):  # type: ignore[no-untyped-def]
            seen.append((level, names if isinstance(names, str) else sorted(names), kw["shared"]))
            return original(owner, level, names, **kw)

        self.m.locks.acquire = spy  # type: ignore[method-assign]
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "node", "name": "node2.test", "tags": ["x"]})
        uuid = self.m.config.lookup_node("node2.test").uuid
        self.assertIn((LEVEL_NODE, [uuid], False), seen)

    def test_refusals(self) -> None:
        self.m.fail(
            {"OP_ID": "OP_TAGS_SET", "kind": "node", "name": "nosuch", "tags": ["x"]},
            errors.ECODE_NOENT,
        )
        self.m.fail({"OP_ID": "OP_TAGS_SET", "kind": "node", "tags": ["x"]}, errors.ECODE_INVAL)
        self.m.fail(
            {"OP_ID": "OP_TAGS_SET", "kind": "cluster", "tags": ["bad tag"]}, errors.ECODE_INVAL
        )
        self.m.fail(
            {"OP_ID": "OP_TAGS_DEL", "kind": "cluster", "tags": ["absent"]}, errors.ECODE_NOENT
        )
        self.assertEqual(self.m.config.get_cluster().tags, set())

    def test_too_many_tags(self) -> None:
        tags = [f"t{i}" for i in range(MAX_TAGS_PER_OBJ)]
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "cluster", "tags": tags})
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "cluster", "tags": ["t0"]})  # no change
        exc = self.m.fail(
            {"OP_ID": "OP_TAGS_SET", "kind": "cluster", "tags": ["one-more"]}, errors.ECODE_INVAL
        )
        self.assertIn("Too many tags", str(exc))

    def test_search(self) -> None:
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "cluster", "tags": ["prod", "site:a"]})
        self.m.run(
            {"OP_ID": "OP_TAGS_SET", "kind": "node", "name": "node2.test", "tags": ["prod-db"]}
        )
        self.m.run({"OP_ID": "OP_TAGS_SET", "kind": "nodegroup", "name": "rack1", "tags": ["prod"]})
        result = self.m.run({"OP_ID": "OP_TAGS_SEARCH", "pattern": "^prod"})
        self.assertEqual(
            result,
            [["/cluster", "prod"], ["/nodes/node2.test", "prod-db"], ["/nodegroup/rack1", "prod"]],
        )
        self.assertEqual(self.m.run({"OP_ID": "OP_TAGS_SEARCH", "pattern": "zzz"}), [])
        self.m.fail({"OP_ID": "OP_TAGS_SEARCH", "pattern": "(unclosed"}, errors.ECODE_INVAL)
