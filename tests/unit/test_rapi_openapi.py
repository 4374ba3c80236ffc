"""The OpenAPI document covers every route of the Klein app; fuzzing against it finds no 500."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ganeti.rapi.openapi import openapi_document
from tests.unit.test_rapi_fakes import Harness, basic

METHODS = ("GET", "PUT", "POST", "DELETE")


class OpenApiTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self.mktemp())
        code, self.doc, _ = self.h.request("GET", "/2/openapi.json")
        self.assertEqual(code, 200)

    def test_every_klein_route_is_documented(self) -> None:
        paths = self.doc["paths"]
        rules = list(self.h.rapi.app.url_map.iter_rules())
        self.assertGreater(len(rules), 60)
        for rule in rules:
            path = re.sub(r"<(?:\w+:)?v_(\w+)>", r"{\1}", rule.rule)
            self.assertIn(path, paths, rule.rule)
        for path, table in self.h.rapi.table.items():
            oa = re.sub(r"<(\w+)>", r"{\1}", path)
            self.assertEqual(sorted(paths[oa]), sorted(m.lower() for m in table), path)

    def test_document_is_consistent(self) -> None:
        self.assertEqual(self.doc["openapi"][:2], "3.")
        ids = [op["operationId"] for ops in self.doc["paths"].values() for op in ops.values()]
        self.assertEqual(len(ids), len(set(ids)))
        for path, ops in self.doc["paths"].items():
            names = set(re.findall(r"{(\w+)}", path))
            for op in ops.values():
                declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
                self.assertEqual(names, declared, path)
        self.assertEqual(openapi_document(self.h.rapi.routes), self.doc)


def _operations() -> list[tuple[str, str, dict[str, Any]]]:

    from ganeti.rapi.base import ROUTES

    full = openapi_document(ROUTES)
    return [
        (path, method.upper(), op)
        for path, ops in sorted(full["paths"].items())
        for method, op in sorted(ops.items())
    ]


OPERATIONS = _operations()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
path_values = st.one_of(
    st.sampled_from(["n1", "i1", "default", "net1", "1", "404", "missing1", "0aa1-bb", "x+y"]),
    st.text(min_size=1, max_size=12),
)
query_values = st.one_of(
    st.sampled_from(["0", "1", "", "True", "name,role", "soft", "local", "lvm-vg", "-1"]),
    st.text(max_size=8),
)


@st.composite
def requests(draw: Any) -> tuple[str, str, bytes | None, str | None]:
    path, method, op = draw(st.sampled_from(OPERATIONS))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(METHODS))
    url = path
    query: list[tuple[str, str]] = []
    for param in op["parameters"]:
        if param["in"] == "path":
            url = url.replace("{{{}}}".format(param["name"]), quote(draw(path_values), safe=""))
        elif draw(st.booleans()):
            query.append((param["name"], draw(query_values)))
    if query:
        url += "?" + urlencode(query)
    body: bytes | None = None
    ctype: str | None = "application/json"
    choice = draw(st.integers(0, 9))
    if choice < 6:
        body = json.dumps(draw(json_values)).encode()
    elif choice == 6:
        body = draw(st.binary(max_size=20))
    elif choice == 7:
        body, ctype = b"{}", "text/plain"
    return method, url, body, ctype


class FuzzTests(SynchronousTestCase):
    """Random requests built from the OpenAPI document (in memory, bounded): no 500."""

    @settings(
        max_examples=400,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(requests())
    def test_no_internal_errors(self, req: tuple[str, str, bytes | None, str | None]) -> None:
        if not hasattr(self, "_h"):
            self._h = Harness(self.mktemp())
            self._started = time.monotonic()
        method, url, body, ctype = req
        code, answer, _ = self._h.request(
            method, url, raw=body, content_type=ctype, auth=basic("writer", "wpw")
        )
        self.assertNotEqual(code, 500, f"{method} {url} {body!r}: {answer}")
        self.assertIsInstance(answer, dict if code != 200 else object)
        if code != 200:
            self.assertEqual(set(answer), {"code", "message", "explain"})
        self.assertLess(time.monotonic() - self._started, 120, "fuzzing took too long")
