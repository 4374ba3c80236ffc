"""The query row cache: cached answers equal fresh ones, and every change shows at once.

Changes go through the real ConfigWriter (which replaces objects and bumps serials) and
each query right after a change must show the new values.  The reference for "fresh"
is the same query on an independent copy of the configuration (a separate cache).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti.config.store import ConfigStore
from ganeti.config.writer import ConfigWriter
from ganeti.objects import NIC, ConfigData, Disk, Instance
from ganeti.query import QueryContext, cluster_info, query, query_old_style, rowcache
from ganeti.query import instances as qinst
from ganeti.query.base import FieldDef, QueryData
from ganeti.query.engine import RAPI_FIELDS, query_config_values
from tests.unit.test_query_fixture import (
    DB1,
    G2,
    INSTANCE_LIVE,
    N2,
    NODE_LIVE,
    WEB1,
    WEB10,
    build_config,
)

ALL = sorted(qinst.FIELDS)
RAPI = list(RAPI_FIELDS["instance"])


def _same(value: Any) -> Any:
    return value


def _copy(config: ConfigData) -> ConfigData:
    return ConfigData.from_dict(config.to_dict())


class RowCacheTests(SynchronousTestCase):
    def setUp(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="rowcache-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        self.clock = Clock()
        self.writer = ConfigWriter(build_config(), ConfigStore(tmp / "config.data"), self.clock)

    def ctx(self, config: ConfigData | None = None, **kw: Any) -> QueryContext:
        return QueryContext(config=config or self.writer.config, **kw)

    def rows(self, fields: list[str] = RAPI, **kw: Any) -> dict[str, dict[str, Any]]:
        out = query_old_style("instance", [], fields, self.ctx(**kw))
        return {row[fields.index("name")]: dict(zip(fields, row, strict=True)) for row in out}

    def assert_fresh(self, fields: list[str] = ALL) -> None:
        """The (cached) answer equals an uncached one, for Query2 and old-style calls."""
        fresh_cfg = _copy(self.writer.config)
        self.assertEqual(
            query_old_style("instance", [], fields, self.ctx()),
            query_old_style("instance", [], fields, self.ctx(fresh_cfg)),
        )
        self.assertEqual(
            query("instance", fields, None, self.ctx()),
            query("instance", fields, None, self.ctx(fresh_cfg)),
        )
        self.assertEqual(cluster_info(self.ctx()), cluster_info(self.ctx(fresh_cfg)))

    def update(self, uuid: str, **changes: Any) -> None:
        inst = self.writer.get_instance(uuid).copy()
        for key, value in changes.items():
            setattr(inst, key, value)
        self.writer.update(inst)

    # -- equivalence ----------------------------------------------------------------------

    def test_cached_equals_fresh_and_old_fill_functions(self) -> None:
        first = self.rows()
        self.assertEqual(self.rows(), first)
        self.assert_fresh()
        cfg = self.writer.config
        for inst in cfg.instances.values():
            row = first[inst.name]
            self.assertEqual(row["beparams"], cfg.cluster.fill_instance_be(inst))
            self.assertEqual(row["hvparams"], cfg.cluster.fill_instance_hv(inst))
            self.assertEqual(
                row["nic.links"],
                [cfg.filled_nicparams(inst, nic).get(C.NIC_LINK) for nic in inst.nics],
            )

    def test_results_are_fresh_lists(self) -> None:
        a = query_old_style("instance", [], RAPI, self.ctx())
        a[0][0] = "mangled"
        a[0].append("extra")
        self.assertNotEqual(query_old_style("instance", [], RAPI, self.ctx())[0][0], "mangled")

    # -- changes show immediately ---------------------------------------------------------

    def test_instance_update(self) -> None:
        self.rows()
        self.update(DB1, beparams={C.BE_MAXMEM: 4096, C.BE_MINMEM: 1024}, os="other+v2")
        row = self.rows()["db1.example.com"]
        self.assertEqual(row["beparams"][C.BE_MAXMEM], 4096)
        self.assertEqual(row["custom_beparams"], {C.BE_MAXMEM: 4096, C.BE_MINMEM: 1024})
        self.assertEqual(row["os"], "other+v2")
        self.assert_fresh()

    def test_admin_state_and_tags_in_place(self) -> None:
        self.rows()
        self.update(WEB10, admin_state=C.ADMINST_DOWN)
        self.writer.add_tags("instance", "web10.example.com", ["fresh"])
        row = self.rows()["web10.example.com"]
        self.assertEqual(row["admin_state"], C.ADMINST_DOWN)
        self.assertIn("fresh", row["tags"])
        self.writer.remove_tags("instance", "web10.example.com", ["fresh"])
        self.assertNotIn("fresh", self.rows()["web10.example.com"]["tags"])
        self.assert_fresh()

    def test_cluster_defaults(self) -> None:
        self.rows()
        info = cluster_info(self.ctx())
        cl = self.writer.get_cluster().copy()
        cl.beparams = {C.PP_DEFAULT: {C.BE_VCPUS: 7}}
        cl.candidate_pool_size = 5
        self.writer.update(cl)
        for row in self.rows().values():
            if C.BE_VCPUS not in row["custom_beparams"]:
                self.assertEqual(row["beparams"][C.BE_VCPUS], 7)
        self.assertNotEqual(cluster_info(self.ctx()), info)
        self.assertEqual(cluster_info(self.ctx())["candidate_pool_size"], 5)
        self.assertEqual(query_config_values(["candidate_pool_size"], self.ctx()), [5])
        self.writer.add_tags("cluster", None, ["newtag"])
        self.assertIn("newtag", cluster_info(self.ctx())["tags"])
        self.assert_fresh()

    def test_node_rename_and_master(self) -> None:
        self.rows()
        node = self.writer.get_node(N2).copy()
        node.name = "renamed2.example.com"
        self.writer.update(node)
        row = self.rows()["web1.example.com"]
        self.assertEqual(row["snodes"], ["renamed2.example.com"])
        self.assert_fresh()

    def test_disk_update_without_instance_serial(self) -> None:
        before = self.rows()["web1.example.com"]
        serial = self.writer.get_instance(WEB1).serial_no
        disk = self.writer.get_disk(self.writer.get_instance(WEB1).disks[0]).copy()
        disk.size += 1024
        disk.name = "grown"
        self.writer.update(disk)
        self.assertEqual(self.writer.get_instance(WEB1).serial_no, serial)
        after = self.rows()["web1.example.com"]
        self.assertEqual(after["disk.sizes"][0], before["disk.sizes"][0] + 1024)
        self.assertEqual(after["disk.names"][0], "grown")
        self.assertEqual(after["disk_usage"], before["disk_usage"] + 1024)
        self.assert_fresh()

    def test_group_network_parameters(self) -> None:
        self.rows(ALL)
        group = self.writer.get_group(G2).copy()
        group.networks = {k: {**v, C.NIC_LINK: "rt9"} for k, v in group.networks.items()}
        self.writer.update(group)
        self.assert_fresh()

    def test_add_rename_remove(self) -> None:
        self.rows()
        node = self.writer.get_instance(DB1).primary_node
        inst = Instance(
            name="app2.example.com",
            primary_node=node,
            os="debootstrap+default",
            hypervisor=C.HT_FAKE,
            nics=[NIC(mac="aa:00:00:00:00:99")],
        )
        disk = Disk(dev_type=C.DT_PLAIN, size=2048, nodes=[node], logical_id=["xenvg", "app2"])
        self.writer.add_instance(inst, [disk])
        rows = self.rows()
        self.assertEqual(rows["app2.example.com"]["disk.sizes"], [2048])
        self.update(inst.uuid, name="a1.example.com")
        names = [r[0] for r in query_old_style("instance", [], ["name"], self.ctx())]
        self.assertEqual(names[0], "a1.example.com")
        self.assertNotIn("app2.example.com", names)
        self.writer.remove_instance(inst.uuid)
        self.assertNotIn("a1.example.com", self.rows())
        self.assert_fresh()

    def test_live_fields_follow_the_request(self) -> None:
        fields = ["name", "status", "oper_state", "oper_ram", "beparams"]
        down = self.rows(fields, instance_live={}, node_live=NODE_LIVE)
        up = self.rows(fields, instance_live=INSTANCE_LIVE, node_live=NODE_LIVE)
        nodata = self.rows(fields)
        self.assertNotEqual(down, up)
        self.assertEqual(nodata["db1.example.com"]["oper_ram"], None)
        fresh = {
            row[0]: dict(zip(fields, row, strict=True))
            for row in query_old_style(
                "instance",
                [],
                fields,
                self.ctx(_copy(self.writer.config), instance_live=INSTANCE_LIVE),
            )
        }
        self.assertEqual(up, fresh)


class RowsTests(SynchronousTestCase):
    """rowcache.rows itself: what it stores and what it recomputes."""

    def test_only_listed_fields_without_ctx_are_cached(self) -> None:
        calls: dict[str, int] = {"cfg": 0, "unlisted": 0, "ctx": 0}

        def counting(name: str, use_ctx: bool = False) -> FieldDef:
            def get(qd: QueryData, item: Any) -> Any:
                calls[name] += 1
                return qd.ctx.drain_flag if use_ctx else item.name

            return FieldDef(name, name, C.QFT_TEXT, name, get)

        defs = [counting("cfg"), counting("unlisted"), counting("ctx", use_ctx=True)]
        config = build_config()
        items = list(config.instances.values())
        for flag in (False, True):
            qd = QueryData(QueryContext(config=config, drain_flag=flag))
            out = rowcache.rows(qd, "t", items, defs, _same, {"cfg", "ctx"}, lambda *_: ())
            self.assertEqual([row[2] for row in out], [flag] * len(items))
        self.assertEqual(calls, {"cfg": 3, "unlisted": 6, "ctx": 6})
        # A bumped serial recomputes that item only.
        items[0].serial_no += 1
        qd = QueryData(QueryContext(config=config))
        rowcache.rows(qd, "t", items, defs, _same, {"cfg", "ctx"}, lambda *_: ())
        self.assertEqual(calls["cfg"], 4)
        # A different cluster serial recomputes everything.
        config.cluster.serial_no += 1
        qd = QueryData(QueryContext(config=config))
        rowcache.rows(qd, "t", items, defs, _same, {"cfg", "ctx"}, lambda *_: ())
        self.assertEqual(calls["cfg"], 7)

    def test_sorted_by_name_follows_renames(self) -> None:
        config = build_config()
        qd = QueryData(QueryContext(config=config))
        names = [i.name for i in rowcache.sorted_by_name(qd, "instances", config.instances)]
        self.assertEqual(names, ["db1.example.com", "web1.example.com", "web10.example.com"])
        config.instances[DB1].name = "zz.example.com"
        names = [i.name for i in rowcache.sorted_by_name(qd, "instances", config.instances)]
        self.assertEqual(names, ["web1.example.com", "web10.example.com", "zz.example.com"])
        del config.instances[WEB1]
        names = [i.name for i in rowcache.sorted_by_name(qd, "instances", config.instances)]
        self.assertEqual(names, ["web10.example.com", "zz.example.com"])
