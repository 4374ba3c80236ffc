"""/2/htools/hbal (GET plan, POST execute) and /2/htools/hspace through StubTreq.

The fake LUXI answers ``Query`` with Ganeti's recorded cluster (the htools RAPI
fixtures, an unbalanced 4-node cluster whose hbal plan has 8 moves), so the plan can be
compared with what the htools library computes for the same cluster.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools.backend import luxi as hluxi
from ganeti.htools.balance import BalanceOptions, Balancer
from ganeti.htools.execute import move_opcodes
from ganeti.htools.jobs import jobsets
from ganeti.htools.model import Cluster
from ganeti.rapi.app import RapiApp
from tests.unit.htools.test_backend_luxi import FakeMaster
from tests.unit.htools.test_backend_rapi import HSCAN
from tests.unit.test_rapi_fakes import FakeLuxi, Harness, basic, bearer


class ClusterLuxi(FakeLuxi):
    """FakeLuxi plus the recorded cluster for ``Query`` and a job counter."""

    def __init__(self) -> None:
        super().__init__()
        self.master = FakeMaster()
        self.next_id = 100
        self.batches: list[list[list[dict[str, Any]]]] = []
        self.reject: str | None = None

    def _answer(self, method: str, args: list[Any]) -> Any:
        if method in ("Query", "QueryClusterInfo", "QueryTags"):
            return self.master.call(method, *args)
        if method == "SubmitManyJobs":
            (jobs,) = args
            self.batches.append(jobs)
            out: list[Any] = []
            for ops in jobs:
                if self.reject and ops[0]["instance_name"] == self.reject:
                    out.append([False, "Job queue is drained"])
                    continue
                self.next_id += 1
                out.append([True, self.next_id])
            return out
        return super()._answer(method, args)


class HtoolsHarness(Harness):
    def __init__(self, tmp: str, luxi: FakeLuxi | None = None, **kw: Any) -> None:
        super().__init__(tmp, **kw)
        self.ran: list[str] = []

        def runner(fn: Any, *args: Any) -> Deferred[Any]:
            self.ran.append(fn.__name__)
            return maybeDeferred(fn, *args)

        self.luxi = luxi or ClusterLuxi()
        self.rapi = RapiApp(self.luxi, self.auth, self.clock, runner=runner)
        self.treq = StubTreq(self.rapi.resource())


def expected_plan() -> tuple[Cluster, list[Any]]:
    c = Cluster.build(*_data_args())
    steps = Balancer(c, np.arange(c.n_nodes), np.arange(c.n_instances), BalanceOptions()).run()
    return c, steps


def _data_args() -> tuple[Any, ...]:
    d = hluxi.load_from(FakeMaster())
    return d.groups, d.nodes, d.instances, d.cluster_tags, d.ipolicy


def cli_hspace(*args: str) -> dict[str, Any]:
    """``hspace --machine-readable`` on the same cluster (the hscan text file)."""
    from ganeti.htools.cli import hspace
    from ganeti.rapi.htools_resources import _hts_value

    out, err = io.StringIO(), io.StringIO()
    code = hspace.run(["-t", HSCAN, "--machine-readable", *args], out, err)
    assert code == 0, err.getvalue()
    pairs = (line.partition("=") for line in out.getvalue().splitlines())
    return {k: _hts_value(v) for k, _, v in pairs}


READER = basic("reader", "rpw")
WRITER = basic("writer", "wpw")


class HbalPlanTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = HtoolsHarness(self.mktemp())

    def test_plan_equals_the_library_plan(self) -> None:
        code, plan, _ = self.h.request("GET", "/2/htools/hbal", auth=READER)
        self.assertEqual(code, 200, plan)
        c, steps = expected_plan()
        self.assertEqual(len(steps), 8)
        self.assertEqual(self.h.ran, ["compute_plan"])
        self.assertEqual(
            [m["instance"] for m in plan["moves"]], [c.inst_specs[s.move.inst].name for s in steps]
        )
        first = plan["moves"][0]
        st = steps[0]
        self.assertEqual(first["from"][0], c.node_specs[st.old_pri].name)
        self.assertEqual(first["to"][0], c.node_specs[st.new_pri].name)
        self.assertEqual(first["kind"], st.move.kind.name.lower())
        self.assertGreater(plan["initial_score"], plan["final_score"])
        self.assertAlmostEqual(plan["final_score"], steps[-1].score)
        self.assertEqual(plan["group"], "default")
        want = [[move_opcodes(c, steps[k].move) for k in js] for js in jobsets(steps)]
        self.assertEqual(plan["jobsets"], want)
        # A read-only request submits nothing.
        self.assertEqual(self.h.luxi.batches, [])  # type: ignore[attr-defined]
        queried = [a[0] for m, a in self.h.luxi.calls if m == "Query"]
        self.assertEqual(sorted(queried), ["group", "instance", "node"])

    def test_options(self) -> None:
        code, plan, _ = self.h.request("GET", "/2/htools/hbal?max-moves=2", auth=READER)
        self.assertEqual((code, len(plan["moves"])), (200, 2))
        code, plan, _ = self.h.request("GET", "/2/htools/hbal?l=3", auth=READER)
        self.assertEqual((code, len(plan["moves"])), (200, 3))
        code, plan, _ = self.h.request("GET", "/2/htools/hbal?min-score=1000", auth=READER)
        self.assertEqual((code, plan["moves"], plan["jobsets"]), (200, [], []))
        self.assertEqual(plan["initial_score"], plan["final_score"])
        code, plan, _ = self.h.request("GET", "/2/htools/hbal?no-disk-moves=1", auth=READER)
        self.assertEqual(code, 200)
        for m in plan["moves"]:
            self.assertIn(m["kind"], ("failover", "failover_to_any"))
        code, plan, _ = self.h.request(
            "GET", "/2/htools/hbal?exclude-instances=instance4", auth=READER
        )
        self.assertEqual(code, 200)
        self.assertNotIn("instance4", [m["instance"] for m in plan["moves"]])
        code, plan, _ = self.h.request(
            "GET", "/2/htools/hbal?select-instances=instance2,instance3", auth=READER
        )
        self.assertEqual(code, 200)
        self.assertLessEqual({m["instance"] for m in plan["moves"]}, {"instance2", "instance3"})
        code, plan, _ = self.h.request("GET", "/2/htools/hbal?group=default", auth=READER)
        self.assertEqual(code, 200)

    def test_bad_parameters(self) -> None:
        for query in (
            "max-moves=x",
            "l=1.5",
            "max-moves=2&l=3",
            "min-gain=abc",
            "min-gain=nan",
            "no-disk-moves=yes",
            "group=nosuchgroup",
            "select-instances=nosuch",
            "offline=nosuchnode",
        ):
            code, answer, _ = self.h.request("GET", "/2/htools/hbal?" + query, auth=READER)
            self.assertEqual(code, 400, query)
            self.assertEqual(set(answer), {"code", "message", "explain"})
        self.assertEqual(self.h.luxi.batches, [])  # type: ignore[attr-defined]

    def test_access(self) -> None:
        code, _, resp = self.h.request("GET", "/2/htools/hbal", auth={})
        self.assertEqual(code, 401)
        self.assertTrue(resp.headers.getRawHeaders(b"www-authenticate"))
        self.assertEqual(self.h.request("GET", "/2/htools/hbal", auth=WRITER)[0], 200)
        self.assertEqual(self.h.request("GET", "/2/htools/hspace", auth=READER)[0], 200)
        self.assertEqual(self.h.request("GET", "/2/htools/hspace", auth={})[0], 401)
        self.assertEqual(self.h.request("POST", "/2/htools/hbal", auth=READER)[0], 403)
        self.assertEqual(self.h.request("POST", "/2/htools/hbal", auth={})[0], 401)
        tok = self.h.tokens
        self.assertEqual(self.h.request("GET", "/2/htools/hbal", auth=bearer(tok["read"]))[0], 200)
        self.assertEqual(self.h.request("POST", "/2/htools/hbal", auth=bearer(tok["read"]))[0], 403)
        self.assertEqual(
            self.h.request("POST", "/2/htools/hbal", auth=bearer(tok["admin"]))[0], 200
        )
        self.assertEqual(self.h.request("PUT", "/2/htools/hbal", auth=WRITER)[0], 501)
        self.assertEqual(self.h.request("POST", "/2/htools/hspace", auth=WRITER)[0], 501)

    def test_master_errors(self) -> None:
        from ganeti.rapi.luxi import MasterUnreachable

        self.h.luxi.errors["Query"] = MasterUnreachable("down")
        code, answer, _ = self.h.request("GET", "/2/htools/hbal", auth=READER)
        self.assertEqual(code, 502, answer)
        self.assertEqual(self.h.ran, [])

    def test_empty_cluster(self) -> None:
        h = HtoolsHarness(self.mktemp(), luxi=FakeLuxi())  # Query answers no rows
        code, answer, _ = h.request("GET", "/2/htools/hbal", auth=READER)
        self.assertEqual(code, 409, answer)
        code, answer, _ = h.request("GET", "/2/htools/hspace", auth=READER)
        self.assertEqual(code, 409, answer)
        self.assertEqual(h.ran, [])


class HbalExecuteTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = HtoolsHarness(self.mktemp())
        self.luxi: ClusterLuxi = self.h.luxi  # type: ignore[assignment]

    def test_job_sets_with_dependencies(self) -> None:
        code, plan, _ = self.h.request("GET", "/2/htools/hbal", auth=READER)
        self.assertEqual(code, 200)
        code, answer, _ = self.h.request("POST", "/2/htools/hbal?reason=rebalance", auth=WRITER)
        self.assertEqual(code, 200, answer)
        sets = answer["jobsets"]
        self.assertEqual([len(s) for s in sets], [len(s) for s in plan["jobsets"]])
        self.assertEqual(len(self.luxi.batches), len(sets))
        self.assertNotIn("SubmitJob", [m for m, _ in self.luxi.calls])
        ids = [j for s in sets for j in s]
        self.assertEqual(ids, list(range(101, 101 + len(ids))))
        previous: list[int] = []
        for batch, want in zip(self.luxi.batches, plan["jobsets"], strict=True):
            for job, want_ops in zip(batch, want, strict=True):
                first, *rest = job
                if previous:
                    self.assertEqual(first["depends"], [[j, ["success"]] for j in previous])
                else:
                    self.assertNotIn("depends", first)
                for op in rest:
                    self.assertNotIn("depends", op)
                for op, want_op in zip(job, want_ops, strict=True):
                    self.assertEqual(op["reason"][0], ["gnt:user", "rebalance", op["reason"][0][2]])
                    self.assertEqual(op["reason"][-1][0], "gnt:library:rlib2:htools_hbal_execute")
                    stripped = {k: v for k, v in op.items() if k not in ("depends", "reason")}
                    self.assertEqual(stripped, want_op)
            previous = sets[self.luxi.batches.index(batch)]

    def test_nothing_to_do(self) -> None:
        code, answer, _ = self.h.request("POST", "/2/htools/hbal?min-score=1000", auth=WRITER)
        self.assertEqual((code, answer), (200, {"jobsets": []}))
        self.assertEqual(self.luxi.batches, [])

    def test_bad_parameters_submit_nothing(self) -> None:
        code, _, _ = self.h.request("POST", "/2/htools/hbal?max-moves=z", auth=WRITER)
        self.assertEqual(code, 400)
        self.assertEqual(self.luxi.batches, [])

    def test_submission_failure_stops(self) -> None:
        _, plan, _ = self.h.request("GET", "/2/htools/hbal", auth=READER)
        self.luxi.reject = plan["jobsets"][0][0][0]["instance_name"]
        code, answer, _ = self.h.request("POST", "/2/htools/hbal", auth=WRITER)
        self.assertEqual(code, 503)
        self.assertIn("Job queue is drained", answer["message"])
        self.assertEqual(len(self.luxi.batches), 1)


class HspaceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = HtoolsHarness(self.mktemp())

    def test_hts_values(self) -> None:
        code, res, _ = self.h.request(
            "GET",
            "/2/htools/hspace?disk-template=drbd&standard-alloc=10G,1G,1&tiered-alloc=100G,8G,4",
            auth=READER,
        )
        self.assertEqual(code, 200, res)
        self.assertEqual(self.h.ran, ["compute_hspace"])
        self.assertEqual(res["HTS_OK"], 1)
        self.assertEqual(res["HTS_SPEC_DISK_TEMPLATE"], "drbd")
        self.assertEqual(
            res,
            cli_hspace(
                "--disk-template=drbd", "--standard-alloc=10G,1G,1", "--tiered-alloc=100G,8G,4"
            ),
        )
        self.assertEqual(res["HTS_CLUSTER_NODES"], 4)
        self.assertIsInstance(res["HTS_ALLOC_INSTANCES"], int)
        self.assertGreater(res["HTS_ALLOC_INSTANCES"], 0)
        self.assertIsInstance(res["HTS_INI_SCORE"], float)
        self.assertIsInstance(res["HTS_TSPEC"], str)
        code, capped, _ = self.h.request(
            "GET",
            "/2/htools/hspace?disk-template=drbd&standard-alloc=10G,1G,1&max=2",
            auth=READER,
        )
        self.assertEqual(code, 200, capped)
        self.assertEqual(capped["HTS_ALLOC_INSTANCES"], 2)

    def test_bad_parameters(self) -> None:
        for query in (
            "disk-template=floppy",
            "standard-alloc=1,2",
            "tiered-alloc=a,b,c",
            "standard-alloc=0,1G,1",
            "max=x",
            "spindle-use=-1",
            "offline=nosuch",
        ):
            code, answer, _ = self.h.request("GET", "/2/htools/hspace?" + query, auth=READER)
            self.assertEqual(code, 400, (query, answer))


class OpenApiTests(SynchronousTestCase):
    def test_documented_as_extensions(self) -> None:
        h = HtoolsHarness(self.mktemp())
        code, doc, _ = h.request("GET", "/2/openapi.json")
        self.assertEqual(code, 200)
        ops = doc["paths"]["/2/htools/hbal"]
        self.assertEqual(sorted(ops), ["get", "post"])
        self.assertIn("Extension", ops["get"]["description"])
        self.assertEqual(ops["post"]["x-access"], ["write"])
        self.assertEqual(ops["get"]["x-access"], ["read", "write"])
        names = {p["name"]: p for p in ops["get"]["parameters"]}
        self.assertLessEqual({"group", "max-moves", "l", "min-gain", "evac-mode"}, set(names))
        self.assertEqual(names["min-gain"]["schema"], {"type": "number"})
        hs = doc["paths"]["/2/htools/hspace"]["get"]
        self.assertIn(
            "drbd", {p["name"]: p for p in hs["parameters"]}["disk-template"]["schema"]["enum"]
        )
