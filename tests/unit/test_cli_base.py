"""The shared CLI layer: field selection, tables, units, ages, errors."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.bootstrap import InitParams, init_cluster
from ganeti.cli import base
from ganeti.config.store import load_config
from ganeti.paths import Paths


class FieldsAndTablesTests(SynchronousTestCase):
    def test_select_fields(self) -> None:
        self.assertEqual(base.select_fields(None, ["a", "b"]), ["a", "b"])
        self.assertEqual(base.select_fields("+c,d", ["a", "b"]), ["a", "b", "c", "d"])
        self.assertEqual(base.select_fields("x,y", ["a"]), ["x", "y"])

    def test_table_alignment(self) -> None:
        lines = base.format_table(
            ["ID", "Status", "Summary"],
            [["1", "success", "TEST_DELAY(1)"], ["10", "error", "X"]],
            numeric=[True, False, False],
        )
        self.assertEqual(
            lines,
            ["ID Status  Summary", " 1 success TEST_DELAY(1)", "10 error   X"],
        )

    def test_table_separator_and_no_headers(self) -> None:
        lines = base.format_table(["A", "B"], [["1", "2"]], separator="|", no_headers=True)
        self.assertEqual(lines, ["1|2"])

    def test_units(self) -> None:
        self.assertEqual(base.format_unit(512, None), "512M")
        self.assertEqual(base.format_unit(2048, "h"), "2.0G")
        self.assertEqual(base.format_unit(3 * 1024 * 1024, "h"), "3.0T")
        self.assertEqual(base.format_unit(2048, "g"), "2.0")
        self.assertEqual(base.format_unit(2048, "m"), "2048")

    def test_query_table_unknown_field_is_usage_error(self) -> None:
        opts = argparse.Namespace(units=None, separator=None, no_headers=False)
        result = {"fields": [{"name": "bogus", "title": "bogus", "kind": "unknown"}], "data": []}
        self.assertRaises(base.UsageError, base.print_query_table, result, opts)

    def test_age(self) -> None:
        self.assertEqual(base.parse_age("6h"), 21600)
        self.assertEqual(base.parse_age("1d"), 86400)
        self.assertEqual(base.parse_age("45"), 45)
        self.assertEqual(base.parse_age("all"), -1)
        self.assertRaises(base.UsageError, base.parse_age, "soon")

    def test_job_ids(self) -> None:
        self.assertEqual(base.parse_job_ids(["1", "22"]), [1, 22])
        self.assertRaises(base.UsageError, base.parse_job_ids, ["x"])

    def test_error_format(self) -> None:
        msg = base.format_error(errors.OpPrereqError("Node 'x' not known", "unknown_entity"))
        self.assertIn("error type: unknown_entity", msg)
        self.assertIn("Node 'x' not known", msg)

    def test_filter(self) -> None:
        self.assertEqual(base.parse_qfilter('["=", "name", "x"]'), ["=", "name", "x"])
        self.assertIsNone(base.parse_qfilter(None))
        self.assertRaises(base.UsageError, base.parse_qfilter, "[nope")


class InitTests(SynchronousTestCase):
    def test_init_writes_a_valid_cluster_and_refuses_twice(self) -> None:
        paths = Paths(self.mktemp())
        params = InitParams("cluster.test", "node1.test", "127.0.1.1", "127.0.1.1")
        config = init_cluster(paths, params)
        loaded = load_config(paths.config_data)
        self.assertEqual(loaded.cluster.cluster_name, "cluster.test")
        self.assertEqual(loaded.nodes[loaded.cluster.master_node].name, "node1.test")
        self.assertEqual(loaded.cluster.candidate_certs, config.cluster.candidate_certs)
        self.assertEqual(paths.ssconf("master_node").read_text(), "node1.test\n")
        self.assertIn("=", paths.ssconf("master_candidates_certs").read_text())
        self.assertEqual(paths.queue_serial.read_text(), "0\n")
        for f in (paths.server_pem, paths.client_pem, paths.rapi_pem, paths.hmac_key):
            self.assertTrue(f.exists(), f)
        exc = self.assertRaises(errors.OpPrereqError, init_cluster, paths, params)
        self.assertIn("already exists", str(exc))


class BrokenPipeTests(SynchronousTestCase):
    def test_reader_gone_is_quiet(self) -> None:
        # A command whose output is cut short (``gnt-... | head -1``) ends without a
        # traceback.
        script = (
            "import argparse\n"
            "from ganeti.cli import base\n"
            "def build():\n"
            "    p = argparse.ArgumentParser()\n"
            "    p.set_defaults(func=lambda o: [print('line', i) for i in range(200000)] and 0)\n"
            "    return p\n"
            "base.run_command('t', build, [])\n"
        )
        proc = subprocess.run(
            f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} | head -1",
            shell=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(proc.stdout, "line 0\n")
        self.assertEqual(proc.stderr, "")
