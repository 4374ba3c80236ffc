"""The list filter language: every operator, nesting, every error, and properties."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.query import query
from tests.unit.test_query_fixture import make_ctx

ALL_NODES = ["node1.example.com", "node2.example.com", "node10.example.com"]
ALL_INSTANCES = ["db1.example.com", "web1.example.com", "web10.example.com"]


def names(what: str, qfilter: Any, **ctx: Any) -> list[str]:
    result = query(what, ["name"], qfilter, make_ctx(**ctx))
    return [row[0][1] for row in result["data"]]


class OperatorTests(SynchronousTestCase):
    def test_equality(self) -> None:
        self.assertEqual(names("node", ["==", "name", "node2.example.com"]), ALL_NODES[1:2])
        self.assertEqual(names("node", ["=", "name", "node2.example.com"]), ALL_NODES[1:2])
        self.assertEqual(names("node", ["==", "pinst_cnt", 1]), ALL_NODES)
        self.assertEqual(names("node", ["==", "offline", True]), ALL_NODES[2:])
        self.assertEqual(names("node", ["==", "tags", ["rack:a"]]), ALL_NODES[:1])

    def test_short_host_names(self) -> None:
        self.assertEqual(names("node", ["==", "name", "node1"]), ALL_NODES[:1])
        self.assertEqual(names("node", ["==", "name", "node"]), [])
        self.assertEqual(names("instance", ["==", "pnode", "node2"]), ALL_INSTANCES[:1])
        # Only host name fields: a group is not matched by a prefix.
        self.assertEqual(names("node", ["==", "group", "def"]), [])

    def test_inequality(self) -> None:
        self.assertEqual(names("node", ["!=", "name", "node1"]), ALL_NODES[1:])
        self.assertEqual(names("node", ["!=", "role", "M"]), ALL_NODES[1:])

    def test_ordering(self) -> None:
        self.assertEqual(
            names("node", ["<", "sinst_cnt", 1]), ["node1.example.com", "node10.example.com"]
        )
        self.assertEqual(names("node", [">", "sinst_cnt", 0]), ALL_NODES[1:2])
        self.assertEqual(names("node", ["<=", "serial_no", 1]), ALL_NODES[1:])
        self.assertEqual(names("node", [">=", "serial_no", 3]), ALL_NODES[:1])
        self.assertEqual(names("node", [">", "ctime", 5.5]), ALL_NODES[:1])
        self.assertEqual(names("instance", ["<", "name", "web"]), ALL_INSTANCES[:1])
        self.assertEqual(names("instance", [">=", "disk_usage", 4096]), ALL_INSTANCES[:1])

    def test_regex(self) -> None:
        self.assertEqual(names("instance", ["=~", "name", "^web"]), ALL_INSTANCES[1:])
        self.assertEqual(names("instance", ["=~", "name", "1\\."]), ALL_INSTANCES[:2])
        self.assertEqual(names("instance", ["=~", "name", "(?i)^WEB1\\."]), ["web1.example.com"])
        # Lists are not strings: a regex on an "other" field matches nothing.
        self.assertEqual(names("instance", ["=~", "tags", "web"]), [])

    def test_contains(self) -> None:
        self.assertEqual(names("instance", ["=[]", "tags", "prod"]), ["web1.example.com"])
        self.assertEqual(names("node", ["=[]", "sinst_list", "web1.example.com"]), ALL_NODES[1:2])
        self.assertEqual(names("instance", ["=[]", "nic.ips", None]), ALL_INSTANCES)
        self.assertEqual(names("instance", ["=[]", "nic.ips", "10.1.0.2"]), ALL_INSTANCES[1:2])

    def test_truth(self) -> None:
        self.assertEqual(names("node", ["?", "master_candidate"]), ALL_NODES[:1])
        self.assertEqual(names("node", ["?", "sinst_cnt"]), ALL_NODES[1:2])
        self.assertEqual(names("node", ["?", "tags"]), ALL_NODES[:1])

    def test_logic_and_nesting(self) -> None:
        self.assertEqual(
            names("node", ["|", ["==", "name", "node10"], ["==", "name", "node1"]]),
            ["node1.example.com", "node10.example.com"],
        )
        self.assertEqual(
            names("node", ["&", ["==", "group", "default"], ["!", ["?", "drained"]]]),
            ALL_NODES[:1],
        )
        nested = [
            "&",
            ["|", ["=~", "name", "^web"], ["==", "os", "x"]],
            ["!", ["!", ["?", "admin_up"]]],
        ]
        self.assertEqual(names("instance", nested), ALL_INSTANCES[1:])
        self.assertEqual(names("node", ["&"]), ALL_NODES)
        self.assertEqual(names("node", ["|"]), [])
        self.assertEqual(names("node", ("!", ("?", "offline"))), ALL_NODES[:2])  # tuples too

    def test_missing_values_never_match(self) -> None:
        # node2 has no live data, node10 is offline: neither matches, nor its negation.
        for qfilter in (
            ["<", "mfree", 10**9],
            ["?", "mfree"],
            ["!=", "mfree", 0],
            ["==", "mfree", 8192],
        ):
            self.assertEqual(names("node", qfilter, live=True), ALL_NODES[:1])
        self.assertEqual(names("node", ["!", ["?", "mfree"]], live=True), ALL_NODES[1:])

    def test_none_values(self) -> None:
        self.assertEqual(names("network", ["==", "gateway6", None]), ["lan1"])
        self.assertEqual(names("network", ["<", "gateway6", "x"]), [])


class MalformedFilterTests(SynchronousTestCase):
    def assertParseError(self, qfilter: Any, *fragments: str, what: str = "node") -> None:
        exc = self.assertRaises(
            errors.QueryFilterParseError, query, what, ["name"], qfilter, make_ctx()
        )
        for fragment in fragments:
            self.assertIn(fragment, str(exc))

    def test_structure(self) -> None:
        self.assertParseError("name", "non-empty list")
        self.assertParseError([], "non-empty list")
        self.assertParseError({"==": 1}, "non-empty list")
        self.assertParseError(["&", "name"], "operand 1", "non-empty list")

    def test_unknown_operator(self) -> None:
        self.assertParseError(["~~", "name", "x"], "unknown operator '~~'")
        self.assertParseError([1, "name"], "unknown operator 1")

    def test_arity(self) -> None:
        self.assertParseError(["!"], "'!' takes 1 operand, got 0")
        self.assertParseError(["!", ["?", "name"], ["?", "name"]], "'!' takes 1 operand, got 2")
        self.assertParseError(["?"], "'?' takes 1 operand")
        self.assertParseError(["==", "name"], "'==' takes 2 operands, got 1")
        self.assertParseError(["=[]", "tags", "a", "b"], "'=[]' takes 2 operands, got 3")

    def test_unknown_field(self) -> None:
        self.assertParseError(["==", "nosuch", 1], "unknown field 'nosuch'")
        self.assertParseError(["?", "nosuch"], "unknown field 'nosuch'")
        self.assertParseError(
            ["|", ["?", "offline"], ["!", ["?", "bogus"]]], "unknown field 'bogus'"
        )
        self.assertParseError(["==", 3, 1], "field name must be a string")

    def test_bad_regex(self) -> None:
        self.assertParseError(["=~", "name", "(unclosed"], "invalid regular expression")
        self.assertParseError(["=~", "name", 5], "needs a regular expression string")
        self.assertParseError(["=~", "pinst_cnt", "1"], "cannot be used on number field")

    def test_type_mismatch(self) -> None:
        self.assertParseError(["==", "pinst_cnt", "1"], "number field 'pinst_cnt'", "str value")
        self.assertParseError(["==", "name", 1], "text field 'name'")
        self.assertParseError(["==", "offline", 1], "bool field 'offline'")
        self.assertParseError(["<", "offline", True], "bool field")
        self.assertParseError(["<", "pinst_cnt", True], "bool value")
        self.assertParseError(["<", "tags", []], "other field 'tags'")
        self.assertParseError(["<", "pinst_cnt", None], "null value")
        self.assertParseError(["=[]", "name", "x"], "'=[]' needs a list field")


# -- properties ----------------------------------------------------------------------------

_NODE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["node1", "node2.example.com", "node10.example.com", "x", ""]),
    "role": st.sampled_from(["M", "C", "D", "O", "R"]),
    "group": st.sampled_from(["default", "rack2"]),
    "pinst_cnt": st.integers(-1, 3),
    "sinst_cnt": st.integers(-1, 3),
    "mfree": st.integers(0, 10000),
    "serial_no": st.integers(0, 4),
}
_BOOL_FIELDS = ["offline", "drained", "master_candidate", "master", "vm_capable"]


@st.composite
def _atoms(draw: st.DrawFn) -> list[Any]:
    kind = draw(st.sampled_from(["cmp", "bool", "truth", "regex", "contains"]))
    if kind == "bool":
        return ["==", draw(st.sampled_from(_BOOL_FIELDS)), draw(st.booleans())]
    if kind == "truth":
        return ["?", draw(st.sampled_from([*_BOOL_FIELDS, "mfree", "tags", "sinst_cnt"]))]
    if kind == "regex":
        return ["=~", "name", draw(st.sampled_from(["^node1", "0", "example", "^$"]))]
    if kind == "contains":
        return ["=[]", "pinst_list", draw(st.sampled_from(["web1.example.com", "db1.example.com"]))]
    field = draw(st.sampled_from(sorted(_NODE_FIELDS)))
    op = draw(st.sampled_from(["==", "!=", "<", ">", "<=", ">="]))
    return [op, field, draw(_NODE_FIELDS[field])]


_FILTERS = st.recursive(
    _atoms(),
    lambda sub: st.one_of(
        st.builds(lambda f: ["!", f], sub),
        st.lists(sub, max_size=3).map(lambda fs: ["&", *fs]),
        st.lists(sub, max_size=3).map(lambda fs: ["|", *fs]),
    ),
    max_leaves=8,
)


class FilterPropertyTests(SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(_FILTERS, st.booleans())
    def test_negation_is_complement(self, qfilter: list[Any], live: bool) -> None:
        chosen = names("node", qfilter, live=live)
        rejected = names("node", ["!", qfilter], live=live)
        self.assertEqual(sorted(chosen + rejected), sorted(ALL_NODES))
        self.assertFalse(set(chosen) & set(rejected))

    @settings(max_examples=100, deadline=None)
    @given(_FILTERS, _FILTERS)
    def test_and_or_are_intersection_and_union(self, f: list[Any], g: list[Any]) -> None:
        a, b = set(names("node", f)), set(names("node", g))
        self.assertEqual(set(names("node", ["&", f, g])), a & b)
        self.assertEqual(set(names("node", ["|", f, g])), a | b)
