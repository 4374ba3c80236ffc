"""Node group LUs through the real processor, locks and config writer."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants, errors
from ganeti.cmdlib.group import update_ipolicy, update_params
from tests.unit.cmdlib_harness import Master


class GroupAddRemoveRenameTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self)

    def test_add_with_params(self) -> None:
        self.m.run(
            {
                "OP_ID": "OP_GROUP_ADD",
                "group_name": "rack2",
                "alloc_policy": "last_resort",
                "ndparams": {"spindle_count": "3", "exclusive_storage": "no"},
                "diskparams": {"drbd": {"resync-rate": 1000}},
                "ipolicy": {"vcpu-ratio": 2, "std": {"memory-size": 256}},
            }
        )
        group = self.m.config.lookup_group("rack2")
        self.assertEqual(group.alloc_policy, "last_resort")
        self.assertEqual(group.ndparams, {"spindle_count": 3, "exclusive_storage": False})
        self.assertEqual(group.diskparams, {"drbd": {"resync-rate": 1000}})
        self.assertEqual(group.ipolicy, {"vcpu-ratio": 2.0, "std": {"memory-size": 256}})
        on_disk = self.m.on_disk()["nodegroups"]
        self.assertIn(group.uuid, on_disk)
        self.assertEqual(self.m.config.durable_serial_no, self.m.config.serial_no)

    def test_add_refusals(self) -> None:
        self.m.fail({"OP_ID": "OP_GROUP_ADD", "group_name": "default"}, errors.ECODE_EXISTS)
        self.m.fail(
            {"OP_ID": "OP_GROUP_ADD", "group_name": "g", "ndparams": {"bogus": 1}},
            errors.ECODE_INVAL,
        )
        self.m.fail(
            {"OP_ID": "OP_GROUP_ADD", "group_name": "g", "ndparams": {"spindle_count": "x"}},
            errors.ECODE_INVAL,
        )
        self.m.fail(
            {"OP_ID": "OP_GROUP_ADD", "group_name": "g", "diskparams": {"nope": {}}},
            errors.ECODE_INVAL,
        )
        self.m.fail(
            {"OP_ID": "OP_GROUP_ADD", "group_name": "g", "ipolicy": {"std": {"cpu-count": 99}}},
            errors.ECODE_INVAL,
        )
        self.assertEqual(len(self.m.config.get_groups()), 1)

    def test_remove(self) -> None:
        self.m.add_group("empty")
        self.m.run({"OP_ID": "OP_GROUP_REMOVE", "group_name": "empty"})
        self.assertEqual([g.name for g in self.m.config.get_groups()], ["default"])

    def test_remove_refuses_nonempty_and_last(self) -> None:
        exc = self.m.fail({"OP_ID": "OP_GROUP_REMOVE", "group_name": "default"}, "wrong_state")
        self.assertIn("node1.test", str(exc))
        self.m.add_group("other")
        self.m.run(
            {"OP_ID": "OP_GROUP_ASSIGN_NODES", "group_name": "other", "nodes": ["node1.test"]}
        )
        exc = self.m.fail({"OP_ID": "OP_GROUP_REMOVE", "group_name": "other"}, "wrong_state")
        self.m.run({"OP_ID": "OP_GROUP_REMOVE", "group_name": "default"})
        exc = self.m.fail({"OP_ID": "OP_GROUP_REMOVE", "group_name": "other"}, "wrong_state")
        self.m.fail({"OP_ID": "OP_GROUP_REMOVE", "group_name": "nosuch"}, "unknown_entity")

    def test_rename(self) -> None:
        self.m.add_group("a")
        result = self.m.run({"OP_ID": "OP_GROUP_RENAME", "group_name": "a", "new_name": "b"})
        self.assertEqual(result, "b")
        self.assertEqual(self.m.config.lookup_group("b").serial_no, 2)
        self.m.fail(
            {"OP_ID": "OP_GROUP_RENAME", "group_name": "b", "new_name": "default"},
            errors.ECODE_EXISTS,
        )

    def test_dry_run_changes_nothing(self) -> None:
        self.m.run({"OP_ID": "OP_GROUP_ADD", "group_name": "dry", "dry_run": True})
        self.assertEqual(len(self.m.config.get_groups()), 1)


class AssignNodesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self)
        self.n1 = self.m.config.get_master_node()
        self.n2 = self.m.add_node("node2.test", "192.0.2.12")
        self.n3 = self.m.add_node("node3.test", "192.0.2.13")
        self.other = self.m.add_group("other")

    def test_move_nodes(self) -> None:
        self.m.run(
            {
                "OP_ID": "OP_GROUP_ASSIGN_NODES",
                "group_name": "other",
                "nodes": ["node2.test", "node3.test"],
            }
        )
        self.assertEqual(self.m.config.lookup_node("node2.test").group, self.other)
        self.assertEqual(self.m.config.lookup_node("node3.test").group, self.other)
        self.assertEqual(self.m.on_disk()["nodes"][self.n2.uuid]["group"], self.other)

    def test_unknown_node(self) -> None:
        self.m.fail(
            {"OP_ID": "OP_GROUP_ASSIGN_NODES", "group_name": "other", "nodes": ["x"]},
            "unknown_entity",
        )

    def test_split_refused_then_forced(self) -> None:
        self.m.add_drbd_instance("inst1", self.n2, self.n3)
        exc = self.m.fail(
            {"OP_ID": "OP_GROUP_ASSIGN_NODES", "group_name": "other", "nodes": ["node3.test"]},
            "wrong_state",
        )
        self.assertIn("inst1", str(exc))
        self.assertNotEqual(self.m.config.lookup_node("node3.test").group, self.other)
        self.m.run(
            {
                "OP_ID": "OP_GROUP_ASSIGN_NODES",
                "group_name": "other",
                "nodes": ["node3.test"],
                "force": True,
            }
        )
        self.assertEqual(self.m.config.lookup_node("node3.test").group, self.other)
        self.assertTrue(any("split" in line and "inst1" in line for line in self.m.log))

    def test_moving_both_nodes_is_no_split(self) -> None:
        self.m.add_drbd_instance("inst1", self.n2, self.n3)
        self.m.run(
            {
                "OP_ID": "OP_GROUP_ASSIGN_NODES",
                "group_name": "other",
                "nodes": ["node2.test", "node3.test"],
            }
        )
        self.assertEqual(self.m.log, [])


class SetParamsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self)
        self.m.add_group("g")

    def test_changes_and_result(self) -> None:
        result = self.m.run(
            {
                "OP_ID": "OP_GROUP_SET_PARAMS",
                "group_name": "g",
                "alloc_policy": "unallocable",
                "ndparams": {"ssh_port": 2222},
            }
        )
        self.assertEqual(result[0], ["alloc_policy", "unallocable"])
        self.assertEqual(result[1][0], "ndparams")
        group = self.m.config.lookup_group("g")
        self.assertEqual(group.ndparams, {"ssh_port": 2222})
        self.m.run(
            {"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "g", "ndparams": {"ssh_port": None}}
        )
        self.assertEqual(self.m.config.lookup_group("g").ndparams, {})

    def test_needs_a_change(self) -> None:
        self.m.fail({"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "g"}, errors.ECODE_INVAL)

    def test_bad_ipolicy(self) -> None:
        self.m.fail(
            {"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "g", "ipolicy": {"foo": 1}},
            errors.ECODE_INVAL,
        )
        self.m.fail(
            {"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "g", "ipolicy": {"vcpu-ratio": -1}},
            errors.ECODE_INVAL,
        )


class HelperTests(SynchronousTestCase):
    def test_update_params(self) -> None:
        out = update_params(
            {"a": 1, "b": True},
            {"a": "default", "b": "no", "c": "2.5"},
            {"a": 0, "b": False, "c": 1.0},
            "x",
        )
        self.assertEqual(out, {"b": False, "c": 2.5})

    def test_update_ipolicy_cluster_complete(self) -> None:
        with self.assertRaises(errors.OpPrereqError):
            update_ipolicy(
                {},
                {"minmax": [{"min": {"memory-size": 10}, "max": {"memory-size": 5}}]},
                "p",
                group=False,
            )
        policy = update_ipolicy({}, {"disk-templates": [constants.DT_PLAIN]}, "p", group=False)
        self.assertEqual(policy, {"disk-templates": ["plain"]})
