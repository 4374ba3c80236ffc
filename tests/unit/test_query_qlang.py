"""The textual filter language of ``gnt-* list --filter`` and CLI name arguments."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.query import make_filter, parse_filter, query
from tests.unit.test_query_fixture import make_ctx


class ParseTests(SynchronousTestCase):
    def test_comparisons(self) -> None:
        cases: list[tuple[str, Any]] = [
            ('name == "node1"', ["==", "name", "node1"]),
            ("name = 'node1'", ["==", "name", "node1"]),
            ("pinst_cnt != 2", ["!=", "pinst_cnt", 2]),
            ("mfree < 1024", ["<", "mfree", 1024]),
            ("mfree > -1", [">", "mfree", -1]),
            ("ctime <= 1.5", ["<=", "ctime", 1.5]),
            ("ctime >= 1e3", [">=", "ctime", 1000.0]),
            ("offline == true", ["==", "offline", True]),
            ("gateway6 == null", ["==", "gateway6", None]),
            ("disk.size/0 > 100", [">", "disk.size/0", 100]),
            ("hv/kernel_path == ''", ["==", "hv/kernel_path", ""]),
            ('name == "a \\" b"', ["==", "name", 'a " b']),
        ]
        for text, expected in cases:
            self.assertEqual(parse_filter(text), expected, text)

    def test_regex_and_membership(self) -> None:
        self.assertEqual(parse_filter("name =~ /^web/"), ["=~", "name", "^web"])
        self.assertEqual(parse_filter("name =~ m/a\\/b/i"), ["=~", "name", "(?i)a/b"])
        self.assertEqual(parse_filter('name =~ "x.*"'), ["=~", "name", "x.*"])
        self.assertEqual(parse_filter("name !~ /x/"), ["!", ["=~", "name", "x"]])
        self.assertEqual(parse_filter('"web" in tags'), ["=[]", "tags", "web"])
        self.assertEqual(parse_filter('"web" not in tags'), ["!", ["=[]", "tags", "web"]])

    def test_logic_precedence(self) -> None:
        self.assertEqual(
            parse_filter("a or b and not c"),
            ["|", ["?", "a"], ["&", ["?", "b"], ["!", ["?", "c"]]]],
        )
        self.assertEqual(
            parse_filter("(a or b) and c"), ["&", ["|", ["?", "a"], ["?", "b"]], ["?", "c"]]
        )
        self.assertEqual(parse_filter("not not a"), ["!", ["!", ["?", "a"]]])
        self.assertEqual(parse_filter("notes and order"), ["&", ["?", "notes"], ["?", "order"]])
        self.assertEqual(
            parse_filter('name == "x" and not offline'),
            ["&", ["==", "name", "x"], ["!", ["?", "offline"]]],
        )

    def test_errors(self) -> None:
        for text, fragment in [
            ("", "empty filter"),
            ("   ", "empty filter"),
            ("name ==", "missing value"),
            ("name == bare", "expected a value"),
            ('name == "open', "unterminated string"),
            ("(a or b", "missing ')'"),
            ("a b", "unexpected 'b'"),
            ("and a", "expected a field name"),
            ("name =~ /x", "unterminated regular expression"),
            ("name =~ /(/", "invalid regular expression"),
            ("name =~ 5", "expected a regular expression"),
            ('"x" tags', "expected 'in'"),
        ]:
            exc = self.assertRaises(errors.QueryFilterParseError, parse_filter, text)
            self.assertIn(fragment, str(exc), text)
        self.assertRaises(errors.QueryFilterParseError, parse_filter, 5)

    def test_end_to_end(self) -> None:
        qfilter = parse_filter(
            'group == "default" and not drained or "web1.example.com" in sinst_list'
        )
        result = query("node", ["name"], qfilter, make_ctx())
        self.assertEqual(
            [row[0][1] for row in result["data"]], ["node1.example.com", "node2.example.com"]
        )


class MakeFilterTests(SynchronousTestCase):
    def test_names(self) -> None:
        self.assertIsNone(make_filter([]))
        self.assertEqual(make_filter(["a", "b"]), ["|", ["==", "name", "a"], ["==", "name", "b"]])
        self.assertEqual(make_filter(["web*"]), ["|", ["=~", "name", "^web.*$"]])
        self.assertEqual(make_filter(["n?.x"]), ["|", ["=~", "name", "^n.\\.x$"]])

    def test_job_ids(self) -> None:
        self.assertEqual(make_filter(["3", "7"], namefield="id", numeric=True),
                         ["|", ["==", "id", 3], ["==", "id", 7]])  # fmt: skip
        self.assertRaises(errors.QueryFilterParseError, make_filter, ["x"], numeric=True)

    def test_expressions(self) -> None:
        self.assertEqual(make_filter(["offline"], force_filter=True), ["?", "offline"])
        self.assertEqual(make_filter(["not offline"]), ["!", ["?", "offline"]])
        self.assertRaises(errors.QueryFilterParseError, make_filter, ["a", "b"], force_filter=True)

    def test_glob_end_to_end(self) -> None:
        result = query("instance", ["name"], make_filter(["web*"]), make_ctx())
        self.assertEqual(
            [row[0][1] for row in result["data"]], ["web1.example.com", "web10.example.com"]
        )
