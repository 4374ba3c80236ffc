"""Query2 and old-style entry points: shapes, statuses, names, sorting, errors."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti import errors
from ganeti.query import (
    QueryContext,
    cluster_info,
    nice_sort,
    query,
    query_config_values,
    query_fields,
    query_old_style,
)
from tests.unit.test_query_fixture import build_config, make_ctx


class Query2Tests(SynchronousTestCase):
    def test_shape_and_sorting(self) -> None:
        result = query("node", ["name", "pinst_cnt"], None, make_ctx())
        self.assertEqual(
            result["fields"],
            [
                {"name": "name", "title": "Node", "kind": "text", "doc": "Node name"},
                {"name": "pinst_cnt", "title": "Pinst", "kind": "number",
                 "doc": "Number of instances with this node as primary"},
            ],
        )  # fmt: skip
        self.assertEqual(
            result["data"],
            [
                [[0, "node1.example.com"], [0, 1]],
                [[0, "node2.example.com"], [0, 1]],
                [[0, "node10.example.com"], [0, 1]],
            ],
        )

    def test_unknown_field_is_reported_not_raised(self) -> None:
        result = query("instance", ["name", "no_such"], None, make_ctx())
        self.assertEqual(
            result["fields"][1],
            {"name": "no_such", "title": "no_such", "kind": "unknown",
             "doc": "Unknown field 'no_such'"},
        )  # fmt: skip
        self.assertEqual({tuple(row[1]) for row in result["data"]}, {(C.RS_UNKNOWN, None)})

    def test_filter_selects(self) -> None:
        result = query("instance", ["name"], ["==", "pnode", "node1"], make_ctx())
        self.assertEqual(result["data"], [[[0, "web1.example.com"]]])

    def test_filter_on_field_not_requested(self) -> None:
        result = query("node", ["name"], ["?", "offline"], make_ctx())
        self.assertEqual(result["data"], [[[0, "node10.example.com"]]])

    def test_unknown_resource(self) -> None:
        exc = self.assertRaises(errors.OpPrereqError, query, "bogus", ["name"], None, make_ctx())
        self.assertIn("'bogus'", str(exc))
        self.assertRaises(errors.OpPrereqError, query_fields, "bogus")

    def test_fields_must_be_strings(self) -> None:
        self.assertRaises(errors.OpPrereqError, query, "node", "name", None, make_ctx())
        self.assertRaises(errors.OpPrereqError, query, "node", [1], None, make_ctx())

    def test_accepts_config_writer(self) -> None:
        # Anything exposing the live ConfigData as ``.config`` (IConfigWriter) will do.
        class Writer:
            config = build_config()

        writer = Writer()
        result = query("group", ["name"], None, QueryContext(config=writer))
        self.assertEqual(result["data"], [[[0, "default"]], [[0, "rack2"]]])
        self.assertRaises(TypeError, QueryContext, config=object())

    def test_status_offline_and_nodata(self) -> None:
        ctx = make_ctx(live=True)
        result = query("instance", ["name", "oper_state", "oper_ram", "status"], None, ctx)
        by_name = {row[0][1]: row[1:] for row in result["data"]}
        self.assertEqual(
            by_name["web10.example.com"],
            [[C.RS_OFFLINE, None], [C.RS_OFFLINE, None], [0, "ERROR_nodeoffline"]],
        )
        self.assertEqual(
            by_name["db1.example.com"], [[0, False], [C.RS_UNAVAIL, None], [0, "USER_down"]]
        )
        self.assertEqual(by_name["web1.example.com"], [[0, True], [0, 512], [0, "running"]])

    def test_no_live_data_is_nodata(self) -> None:
        result = query("instance", ["oper_state", "oper_ram", "status"], None, make_ctx())
        self.assertEqual(
            result["data"],
            [
                [[C.RS_NODATA, None]] * 3,
                [[C.RS_NODATA, None]] * 3,
                [[C.RS_OFFLINE, None], [C.RS_OFFLINE, None], [0, "ERROR_nodeoffline"]],
            ],
        )


class InstanceStatusTests(SynchronousTestCase):
    def _status(self, name: str, **kwargs: Any) -> str:
        ctx = make_ctx(**kwargs)
        return str(query_old_style("instance", [name], ["status"], ctx)[0][0])

    def test_states(self) -> None:
        run = {"node": "node1.example.com", "state": "running", "memory": 1, "vcpus": 1}
        self.assertEqual(self._status("web1", instance_live={"web1.example.com": run}), "running")
        self.assertEqual(self._status("web1", instance_live={}), "ERROR_down")
        self.assertEqual(
            self._status("web1", instance_live={"web1.example.com": {**run, "node": "x"}}),
            "ERROR_wrongnode",
        )
        self.assertEqual(
            self._status("web1", instance_live={"web1.example.com": {**run, "state": "shutdown"}}),
            "USER_down",
        )
        self.assertEqual(
            self._status("web1", instance_live={}, failed_nodes={"node1.example.com"}),
            "ERROR_nodedown",
        )
        db1_run = {"db1.example.com": {**run, "node": "node2.example.com"}}
        self.assertEqual(self._status("db1", instance_live=db1_run), "ERROR_up")
        self.assertEqual(self._status("db1", instance_live={}), "USER_down")

    def test_admin_down_and_offline(self) -> None:
        ctx = make_ctx(instance_live={})
        inst = ctx.config.instances["i-0002"]
        inst.admin_state_source = C.ADMIN_SOURCE
        self.assertEqual(query_old_style("instance", ["db1"], ["status"], ctx), [["ADMIN_down"]])
        inst.admin_state = C.ADMINST_OFFLINE
        self.assertEqual(query_old_style("instance", ["db1"], ["status"], ctx), [["ADMIN_offline"]])


class OldStyleTests(SynchronousTestCase):
    def test_all_sorted(self) -> None:
        rows = query_old_style("instance", [], ["name"], make_ctx())
        self.assertEqual(rows, [["db1.example.com"], ["web1.example.com"], ["web10.example.com"]])

    def test_names_restrict_and_order(self) -> None:
        rows = query_old_style(
            "node",
            ["node10.example.com", "node1", "n-0002", "node1.example.com"],
            ["name"],
            make_ctx(),
        )
        self.assertEqual(
            rows, [["node10.example.com"], ["node1.example.com"], ["node2.example.com"]]
        )

    def test_unknown_name(self) -> None:
        for what, label in (("node", "Node"), ("instance", "Instance"), ("group", "Group"),
                            ("network", "Network")):  # fmt: skip
            exc = self.assertRaises(
                errors.OpPrereqError, query_old_style, what, ["nosuch"], ["name"], make_ctx()
            )
            self.assertEqual(str(exc), f"{label} 'nosuch' not known")
            self.assertEqual(exc.ecode, errors.ECODE_NOENT)

    def test_ambiguous_short_name(self) -> None:
        ctx = make_ctx()
        ctx.config.nodes["n-0002"].name = "node1.other.org"
        self.assertRaises(errors.OpPrereqError, query_old_style, "node", ["node1"], ["name"], ctx)

    def test_unknown_field_is_strict(self) -> None:
        exc = self.assertRaises(
            errors.OpPrereqError, query_old_style, "node", [], ["name", "bogus"], make_ctx()
        )
        self.assertIn("bogus", str(exc))
        self.assertEqual(exc.ecode, errors.ECODE_INVAL)

    def test_missing_values_are_none(self) -> None:
        rows = query_old_style("node", [], ["mfree"], make_ctx())
        self.assertEqual(rows, [[None], [None], [None]])


class FieldsTests(SynchronousTestCase):
    def test_all_fields_sorted(self) -> None:
        names = [f["name"] for f in query_fields("group")["fields"]]
        self.assertEqual(names, nice_sort(names))
        self.assertIn("node_cnt", names)

    def test_selected_fields(self) -> None:
        result = query_fields("job", ["id", "nope"])
        self.assertEqual([f["kind"] for f in result["fields"]], ["number", "unknown"])


class ClusterTests(SynchronousTestCase):
    def test_cluster_info(self) -> None:
        info = cluster_info(make_ctx())
        self.assertEqual(info["name"], "cluster.example.com")
        self.assertEqual(info["master"], "node1.example.com")
        self.assertEqual(info["enabled_hypervisors"], ["kvm", "fake"])
        self.assertEqual(info["beparams"]["default"]["vcpus"], 2)
        self.assertEqual(info["nicparams"]["default"]["link"], "br0")
        self.assertEqual(set(info["hvparams"]), {"kvm", "fake"})
        self.assertEqual(info["tags"], ["eu", "prod"])
        self.assertEqual(len(info["architecture"]), 2)
        self.assertEqual(info["volume_group_name"], "xenvg")
        self.assertNotIn("drain_flag", info)

    def test_config_values(self) -> None:
        ctx = make_ctx(drain_flag=False, watcher_pause=1234.0)
        self.assertEqual(
            query_config_values(
                ["cluster_name", "master_node", "drain_flag", "watcher_pause"], ctx
            ),
            ["cluster.example.com", "node1.example.com", False, 1234.0],
        )
        self.assertRaises(errors.OpPrereqError, query_config_values, ["nonsense"], ctx)


class NiceSortTests(SynchronousTestCase):
    def test_numbers_compare_numerically(self) -> None:
        self.assertEqual(
            nice_sort(["node10", "node9", "node1", "node01", "a", "node1a", "node1b2", "node1b10"]),
            ["a", "node01", "node1", "node1a", "node1b2", "node1b10", "node9", "node10"],
        )

    def test_mixed_text_and_digits(self) -> None:
        self.assertEqual(nice_sort(["10", "9", "x", ""]), ["", "9", "10", "x"])
