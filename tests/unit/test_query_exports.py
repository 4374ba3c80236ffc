"""The ``export`` query resource (gnt-backup list, /2/query/export)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti.query import QueryContext, query, query_fields
from tests.unit.test_query_fixture import build_config


class ExportQueryTests(SynchronousTestCase):
    def ctx(self) -> QueryContext:
        exports = {"node2": ["web1", "db1"], "node1": [], "node3": None}
        return QueryContext(config=build_config(), exports=exports)

    def test_rows_sorted_and_failed_node_is_nodata(self) -> None:
        result = query("export", ["node", "export"], None, self.ctx())
        self.assertEqual([f["name"] for f in result["fields"]], ["node", "export"])
        self.assertEqual(
            result["data"],
            [
                [[C.RS_NORMAL, "node2"], [C.RS_NORMAL, "db1"]],
                [[C.RS_NORMAL, "node2"], [C.RS_NORMAL, "web1"]],
                [[C.RS_NORMAL, "node3"], [C.RS_NODATA, None]],
            ],
        )

    def test_filter_by_node_and_fields(self) -> None:
        result = query("export", ["export"], ["=", "node", "node2"], self.ctx())
        self.assertEqual([row[0][1] for row in result["data"]], ["db1", "web1"])
        fields = query_fields("export")
        self.assertEqual(sorted(f["name"] for f in fields["fields"]), ["export", "node"])

    def test_no_live_data_means_no_rows(self) -> None:
        result = query("export", ["node"], None, QueryContext(config=build_config()))
        self.assertEqual(result["data"], [])
