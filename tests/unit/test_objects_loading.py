"""The generated object loaders: same objects as before, and an exact "canonical" verdict.

``load_dict`` says a dict is canonical when ``to_dict()`` of the built object gives it back
unchanged; the store then encodes the parsed dict instead of the object.  A wrong "yes"
would write stale bytes, so every kind of difference is tried here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
from twisted.trial.unittest import SynchronousTestCase

from ganeti.objects import (
    NIC,
    Cluster,
    ConfigData,
    ConfigObject,
    Disk,
    Instance,
    Network,
    Node,
    NodeGroup,
)
from tests.unit.test_config_helpers import U, sample_dict


def _canon(data: object) -> str:
    return json.dumps(data, sort_keys=True)


SECTIONS: dict[str, type[ConfigObject]] = {
    "nodes": Node,
    "nodegroups": NodeGroup,
    "instances": Instance,
    "disks": Disk,
    "networks": Network,
}


class CanonicalTests(SynchronousTestCase):
    def assertVerdict(self, cls: type[ConfigObject], data: dict[str, Any], expected: bool) -> None:
        obj, canonical = cls.load_dict(copy.deepcopy(data))
        self.assertEqual(canonical, expected, data)
        if canonical:
            self.assertEqual(_canon(obj.to_dict()), _canon(data))

    def test_written_objects_are_canonical(self) -> None:
        """Everything in the fixture (as this code writes it) is canonical."""
        raw = ConfigData.from_dict(sample_dict()).to_dict()
        for section, cls in SECTIONS.items():
            for value in raw[section].values():
                self.assertVerdict(cls, value, True)

    def test_canonical_map_from_config_data(self) -> None:
        raw = ConfigData.from_dict(sample_dict()).to_dict()
        raw["instances"][U(401)]["osparams"] = {}
        canonical: dict[str, list[str]] = {}
        ConfigData.from_dict(raw, canonical=canonical)
        self.assertEqual(set(canonical), set(SECTIONS))
        self.assertNotIn(U(401), canonical["instances"])
        self.assertIn(U(402), canonical["instances"])
        self.assertEqual(sorted(canonical["disks"]), sorted(raw["disks"]))

    def _variants(self) -> list[tuple[type[ConfigObject], dict[str, Any]]]:
        raw = ConfigData.from_dict(sample_dict()).to_dict()
        inst = raw["instances"][U(401)]
        node = raw["nodes"][U(101)]
        drbd = raw["disks"][U(301)]
        out: list[tuple[type[ConfigObject], dict[str, Any]]] = []

        def variant(cls: type[ConfigObject], base: dict[str, Any], **changes: Any) -> None:
            data = copy.deepcopy(base)
            for key, value in changes.items():
                if value is _DROP:
                    data.pop(key)
                else:
                    data[key] = value
            out.append((cls, data))

        variant(Instance, inst, osparams={})  # empty container: not written back
        variant(Instance, inst, network_port=None)  # null: not written back
        variant(Instance, inst, forthcoming=False)  # written only when true
        variant(Instance, inst, tags=["b", "a"])  # written sorted
        variant(Instance, inst, tags=["a", "a"])  # written without duplicates
        variant(Instance, inst, tags=[])
        variant(Instance, inst, tags=[1, "a"])  # unsortable: not canonical, still loads
        variant(Instance, inst, name=_DROP)  # the default "" would be written
        variant(Instance, inst, uuid=_DROP)  # a fresh UUID would be written
        variant(Instance, inst, disk_template="drbd")  # derived key: dropped
        variant(Instance, inst, future_key=1)  # unknown key: kept, but not via the fast path
        variant(Instance, inst, nics=[])
        variant(Instance, inst, nics=[{**inst["nics"][0], "ip": None}])
        variant(Node, node, serial_no=None)
        variant(Node, node, ndparams=[])  # wrong empty container
        variant(Node, node, secondary_ip={})
        variant(Disk, drbd, children=[{**drbd["children"][0], "serial_no": 3}, drbd["children"][1]])
        variant(Disk, drbd, children=[{**drbd["children"][0], "params": {}}, drbd["children"][1]])
        variant(Disk, drbd, logical_id=[])
        return out

    def test_differences_are_not_canonical(self) -> None:
        for cls, data in self._variants():
            self.assertVerdict(cls, data, False)

    def test_same_objects_as_the_constructor(self) -> None:
        """The generated loader builds what the attrs constructor path builds."""
        for cls, data in self._variants():
            fast = cls.from_dict(copy.deepcopy(data))
            reference = cls._from_dict_slow(copy.deepcopy(data))
            if "uuid" not in data:  # a fresh random one each time
                reference.uuid = fast.uuid  # type: ignore[attr-defined]
            self.assertEqual(_fields(fast), _fields(reference), data)

    def test_null_means_default(self) -> None:
        node = Node.from_dict({"uuid": "u", "name": None, "ndparams": None, "offline": None})
        self.assertEqual((node.name, node.ndparams, node.offline), ("", {}, False))
        node.ndparams["x"] = 1
        self.assertEqual(Node.from_dict({"uuid": "v"}).ndparams, {})

    def test_fresh_containers_per_object(self) -> None:
        a = Instance.from_dict({"uuid": "a"})
        b = Instance.from_dict({"uuid": "b"})
        a.tags.add("x")
        a.beparams["vcpus"] = 2
        self.assertEqual((b.tags, b.beparams, b.extra), (set(), {}, {}))

    def test_nested_objects_built(self) -> None:
        inst = Instance.from_dict(
            {"uuid": "a", "nics": [{"uuid": "n", "mac": "aa:00:00:00:00:01"}]}
        )
        self.assertIsInstance(inst.nics[0], NIC)
        self.assertEqual(inst.nics[0].mac, "aa:00:00:00:00:01")

    def test_unknown_keys_in_extra(self) -> None:
        node, canonical = Node.load_dict({"uuid": "u", "name": "n", "future": [1]})
        self.assertEqual(node.extra, {"future": [1]})
        self.assertFalse(canonical)
        self.assertEqual(node.to_dict()["future"], [1])

    def test_cluster_uses_the_full_form(self) -> None:
        cluster = Cluster(cluster_name="c", master_node="m")
        data = json.loads(json.dumps(cluster.to_dict()))
        again, canonical = Cluster.load_dict(copy.deepcopy(data))
        self.assertTrue(canonical)
        self.assertEqual(_canon(again.to_dict()), _canon(data))
        data["reserved_lvs"] = None
        self.assertFalse(Cluster.load_dict(data)[1])


_DROP = object()


def _fields(obj: Any) -> Any:
    if isinstance(obj, ConfigObject):
        return {f.name: _fields(getattr(obj, f.name)) for f in attrs.fields(type(obj))}
    if isinstance(obj, list):
        return [_fields(item) for item in obj]
    return obj
