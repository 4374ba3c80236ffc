"""Every RAPI resource through StubTreq with a fake LUXI: the LUXI call or opcode it makes
and the answer's shape."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.rapi.base import ROUTES
from tests.unit.test_rapi_fakes import Harness

# (method, path, body, expected OP_ID or LUXI method, expected params subset)
# Paths use the route's own template so the coverage test can match them.
JOB_CASES: list[tuple[str, str, str, Any, str, dict[str, Any]]] = [
    (
        "PUT",
        "/2/modify",
        "/2/modify",
        {"candidate_pool_size": 3},
        "OP_CLUSTER_SET_PARAMS",
        {"candidate_pool_size": 3},
    ),
    ("PUT", "/2/redistribute-config", "/2/redistribute-config", None, "OP_CLUSTER_REDIST_CONF", {}),
    (
        "PUT",
        "/2/cluster/verify",
        "/2/cluster/verify",
        {"verbose": True},
        "OP_CLUSTER_VERIFY",
        {"verbose": True},
    ),
    (
        "POST",
        "/2/debug/delay",
        "/2/debug/delay",
        {"duration": 1.5},
        "OP_TEST_DELAY",
        {"duration": 1.5},
    ),
    (
        "PUT",
        "/2/tags",
        "/2/tags?tag=a&tag=b&dry-run=1",
        None,
        "OP_TAGS_SET",
        {"kind": "cluster", "tags": ["a", "b"], "dry_run": True},
    ),
    ("DELETE", "/2/tags", "/2/tags?tag=a", None, "OP_TAGS_DEL", {"kind": "cluster", "tags": ["a"]}),
    (
        "POST",
        "/2/nodes",
        "/2/nodes",
        {"name": "n3", "primary_ip": "127.0.1.3"},
        "OP_NODE_ADD",
        {"node_name": "n3", "primary_ip": "127.0.1.3"},
    ),
    ("DELETE", "/2/nodes/<node>", "/2/nodes/n2", None, "OP_NODE_REMOVE", {"node_name": "n2"}),
    (
        "PUT",
        "/2/nodes/<node>/role",
        "/2/nodes/n2/role?force=1",
        "drained",
        "OP_NODE_SET_PARAMS",
        {"node_name": "n2", "drained": True, "force": True},
    ),
    (
        "POST",
        "/2/nodes/<node>/modify",
        "/2/nodes/n2/modify",
        {"vm_capable": False},
        "OP_NODE_SET_PARAMS",
        {"node_name": "n2", "vm_capable": False},
    ),
    (
        "POST",
        "/2/nodes/<node>/powercycle",
        "/2/nodes/n2/powercycle?force=1",
        None,
        "OP_NODE_POWERCYCLE",
        {"node_name": "n2", "force": True},
    ),
    (
        "POST",
        "/2/nodes/<node>/evacuate",
        "/2/nodes/n2/evacuate?dry-run=1",
        {"mode": "all", "iallocator": "hail"},
        "OP_NODE_EVACUATE",
        {"node_name": "n2", "mode": "all", "iallocator": "hail", "dry_run": True},
    ),
    (
        "POST",
        "/2/nodes/<node>/migrate",
        "/2/nodes/n2/migrate",
        {"mode": "live"},
        "OP_NODE_MIGRATE",
        {"node_name": "n2", "mode": "live"},
    ),
    (
        "GET",
        "/2/nodes/<node>/storage",
        "/2/nodes/n2/storage?storage_type=file&output_fields=name,size",
        None,
        "OP_NODE_QUERY_STORAGE",
        {"nodes": ["n2"], "storage_type": "file", "output_fields": ["name", "size"]},
    ),
    (
        "PUT",
        "/2/nodes/<node>/storage/modify",
        "/2/nodes/n2/storage/modify?storage_type=lvm-pv&name=/dev/sda&allocatable=0",
        None,
        "OP_NODE_MODIFY_STORAGE",
        {
            "node_name": "n2",
            "storage_type": "lvm-pv",
            "name": "/dev/sda",
            "changes": {"allocatable": False},
        },
    ),
    (
        "PUT",
        "/2/nodes/<node>/storage/repair",
        "/2/nodes/n2/storage/repair?storage_type=lvm-vg&name=xenvg",
        None,
        "OP_REPAIR_NODE_STORAGE",
        {"node_name": "n2", "storage_type": "lvm-vg", "name": "xenvg"},
    ),
    (
        "PUT",
        "/2/nodes/<node>/tags",
        "/2/nodes/n2/tags?tag=x",
        None,
        "OP_TAGS_SET",
        {"kind": "node", "name": "n2", "tags": ["x"]},
    ),
    (
        "DELETE",
        "/2/nodes/<node>/tags",
        "/2/nodes/n2/tags?tag=x",
        None,
        "OP_TAGS_DEL",
        {"kind": "node", "name": "n2", "tags": ["x"]},
    ),
    (
        "POST",
        "/2/instances",
        "/2/instances?dry-run=1",
        {
            "__version__": 1,
            "mode": "create",
            "name": "web1",
            "os": "debian",
            "disk_template": "file",
            "disks": [{"size": "1G"}],
            "nics": [{}],
            "pnode": "n1",
        },
        "OP_INSTANCE_CREATE",
        {
            "instance_name": "web1",
            "os_type": "debian",
            "disks": [{"size": 1024}],
            "dry_run": True,
            "pnode": "n1",
        },
    ),
    (
        "POST",
        "/2/instances-multi-alloc",
        "/2/instances-multi-alloc",
        {
            "instances": [
                {
                    "mode": "create",
                    "instance_name": "a",
                    "disk_template": "diskless",
                    "disks": [],
                    "nics": [],
                }
            ],
            "iallocator": "hail",
        },
        "OP_INSTANCE_MULTI_ALLOC",
        {"iallocator": "hail"},
    ),
    (
        "DELETE",
        "/2/instances/<instance>",
        "/2/instances/i1",
        {"shutdown_timeout": 30},
        "OP_INSTANCE_REMOVE",
        {"instance_name": "i1", "shutdown_timeout": 30, "ignore_failures": False},
    ),
    (
        "GET",
        "/2/instances/<instance>/info",
        "/2/instances/i1/info?static=1",
        None,
        "OP_INSTANCE_QUERY_DATA",
        {"instances": ["i1"], "static": True},
    ),
    (
        "POST",
        "/2/instances/<instance>/reboot",
        "/2/instances/i1/reboot?type=soft",
        None,
        "OP_INSTANCE_REBOOT",
        {"instance_name": "i1", "reboot_type": "soft"},
    ),
    (
        "PUT",
        "/2/instances/<instance>/shutdown",
        "/2/instances/i1/shutdown?no_remember=1",
        {"timeout": 10},
        "OP_INSTANCE_SHUTDOWN",
        {"instance_name": "i1", "no_remember": True, "timeout": 10},
    ),
    (
        "PUT",
        "/2/instances/<instance>/startup",
        "/2/instances/i1/startup?force=1",
        None,
        "OP_INSTANCE_STARTUP",
        {"instance_name": "i1", "force": True},
    ),
    (
        "POST",
        "/2/instances/<instance>/replace-disks",
        "/2/instances/i1/replace-disks",
        {"mode": "replace_on_secondary", "disks": "0,2"},
        "OP_INSTANCE_REPLACE_DISKS",
        {"instance_name": "i1", "mode": "replace_on_secondary", "disks": [0, 2]},
    ),
    (
        "PUT",
        "/2/instances/<instance>/activate-disks",
        "/2/instances/i1/activate-disks?ignore_size=1",
        None,
        "OP_INSTANCE_ACTIVATE_DISKS",
        {"instance_name": "i1", "ignore_size": True},
    ),
    (
        "PUT",
        "/2/instances/<instance>/deactivate-disks",
        "/2/instances/i1/deactivate-disks?force=1",
        None,
        "OP_INSTANCE_DEACTIVATE_DISKS",
        {"instance_name": "i1", "force": True},
    ),
    (
        "POST",
        "/2/instances/<instance>/recreate-disks",
        "/2/instances/i1/recreate-disks",
        {"nodes": ["n1"]},
        "OP_INSTANCE_RECREATE_DISKS",
        {"instance_name": "i1", "nodes": ["n1"]},
    ),
    (
        "POST",
        "/2/instances/<instance>/disk/<disk>/grow",
        "/2/instances/i1/disk/1/grow",
        {"amount": 512},
        "OP_INSTANCE_GROW_DISK",
        {"instance_name": "i1", "disk": 1, "amount": 512},
    ),
    (
        "PUT",
        "/2/instances/<instance>/prepare-export",
        "/2/instances/i1/prepare-export?mode=remote",
        None,
        "OP_BACKUP_PREPARE",
        {"instance_name": "i1", "mode": "remote"},
    ),
    (
        "PUT",
        "/2/instances/<instance>/export",
        "/2/instances/i1/export",
        {"mode": "local", "destination": "n2"},
        "OP_BACKUP_EXPORT",
        {"instance_name": "i1", "mode": "local", "target_node": "n2"},
    ),
    (
        "DELETE",
        "/2/instances/<instance>/export",
        "/2/instances/i1/export",
        None,
        "OP_BACKUP_REMOVE",
        {"instance_name": "i1"},
    ),
    (
        "PUT",
        "/2/instances/<instance>/migrate",
        "/2/instances/i1/migrate",
        {"mode": "live", "target_node": "n2"},
        "OP_INSTANCE_MIGRATE",
        {"instance_name": "i1", "mode": "live", "target_node": "n2"},
    ),
    (
        "PUT",
        "/2/instances/<instance>/failover",
        "/2/instances/i1/failover",
        {"ignore_consistency": True},
        "OP_INSTANCE_FAILOVER",
        {"instance_name": "i1", "ignore_consistency": True},
    ),
    (
        "PUT",
        "/2/instances/<instance>/rename",
        "/2/instances/i1/rename",
        {"new_name": "i9"},
        "OP_INSTANCE_RENAME",
        {"instance_name": "i1", "new_name": "i9"},
    ),
    (
        "PUT",
        "/2/instances/<instance>/modify",
        "/2/instances/i1/modify",
        {"custom_beparams": {"vcpus": 2}},
        "OP_INSTANCE_SET_PARAMS",
        {"instance_name": "i1", "beparams": {"vcpus": 2}},
    ),
    (
        "PUT",
        "/2/instances/<instance>/tags",
        "/2/instances/i1/tags?tag=web",
        None,
        "OP_TAGS_SET",
        {"kind": "instance", "name": "i1", "tags": ["web"]},
    ),
    (
        "DELETE",
        "/2/instances/<instance>/tags",
        "/2/instances/i1/tags?tag=web",
        None,
        "OP_TAGS_DEL",
        {"kind": "instance", "name": "i1"},
    ),
    (
        "POST",
        "/2/groups",
        "/2/groups",
        {"name": "g2", "alloc_policy": "preferred"},
        "OP_GROUP_ADD",
        {"group_name": "g2", "alloc_policy": "preferred"},
    ),
    ("DELETE", "/2/groups/<group>", "/2/groups/g2", None, "OP_GROUP_REMOVE", {"group_name": "g2"}),
    (
        "PUT",
        "/2/groups/<group>/modify",
        "/2/groups/g2/modify",
        {"custom_ndparams": {"ssh_port": 22}},
        "OP_GROUP_SET_PARAMS",
        {"group_name": "g2", "ndparams": {"ssh_port": 22}},
    ),
    (
        "PUT",
        "/2/groups/<group>/rename",
        "/2/groups/g2/rename",
        {"new_name": "g3"},
        "OP_GROUP_RENAME",
        {"group_name": "g2", "new_name": "g3"},
    ),
    (
        "PUT",
        "/2/groups/<group>/assign-nodes",
        "/2/groups/g2/assign-nodes?force=1",
        {"nodes": ["n2"]},
        "OP_GROUP_ASSIGN_NODES",
        {"group_name": "g2", "nodes": ["n2"], "force": True},
    ),
    (
        "PUT",
        "/2/groups/<group>/tags",
        "/2/groups/g2/tags?tag=t",
        None,
        "OP_TAGS_SET",
        {"kind": "nodegroup", "name": "g2"},
    ),
    (
        "DELETE",
        "/2/groups/<group>/tags",
        "/2/groups/g2/tags?tag=t",
        None,
        "OP_TAGS_DEL",
        {"kind": "nodegroup", "name": "g2"},
    ),
    (
        "POST",
        "/2/networks",
        "/2/networks",
        {"name": "net2", "network": "10.0.0.0/24"},
        "OP_NETWORK_ADD",
        {"network_name": "net2", "network": "10.0.0.0/24"},
    ),
    (
        "DELETE",
        "/2/networks/<network>",
        "/2/networks/net2",
        None,
        "OP_NETWORK_REMOVE",
        {"network_name": "net2"},
    ),
    (
        "PUT",
        "/2/networks/<network>/modify",
        "/2/networks/net2/modify",
        {"gateway": "10.0.0.1"},
        "OP_NETWORK_SET_PARAMS",
        {"network_name": "net2", "gateway": "10.0.0.1"},
    ),
    (
        "PUT",
        "/2/networks/<network>/rename",
        "/2/networks/net2/rename",
        {"new_name": "net3"},
        "OP_NETWORK_RENAME",
        {"network_name": "net2", "new_name": "net3"},
    ),
    (
        "PUT",
        "/2/networks/<network>/connect",
        "/2/networks/net2/connect",
        {"group_name": "default", "network_mode": "bridged", "network_link": "br0"},
        "OP_NETWORK_CONNECT",
        {"network_name": "net2", "network_link": "br0"},
    ),
    (
        "PUT",
        "/2/networks/<network>/disconnect",
        "/2/networks/net2/disconnect",
        {"group_name": "default"},
        "OP_NETWORK_DISCONNECT",
        {"network_name": "net2", "group_name": "default"},
    ),
    (
        "PUT",
        "/2/networks/<network>/tags",
        "/2/networks/net2/tags?tag=t",
        None,
        "OP_TAGS_SET",
        {"kind": "network", "name": "net2"},
    ),
    (
        "DELETE",
        "/2/networks/<network>/tags",
        "/2/networks/net2/tags?tag=t",
        None,
        "OP_TAGS_DEL",
        {"kind": "network", "name": "net2"},
    ),
]

# (method, route path, url, body, expected status, expected answer or None to skip)
PLAIN_CASES: list[tuple[str, str, str, Any, int, Any]] = [
    ("GET", "/", "/", None, 200, None),
    ("GET", "/2", "/2", None, 200, None),
    ("GET", "/version", "/version", None, 200, 2),
    (
        "GET",
        "/2/features",
        "/2/features",
        None,
        200,
        [
            "instance-create-reqv1",
            "instance-reinstall-reqv1",
            "node-migrate-reqv1",
            "node-evac-res1",
        ],
    ),
    ("GET", "/2/tags", "/2/tags", None, 200, ["a", "b"]),
    (
        "GET",
        "/2/nodes",
        "/2/nodes",
        None,
        200,
        [{"id": "n1", "uri": "/2/nodes/n1"}, {"id": "n2", "uri": "/2/nodes/n2"}],
    ),
    ("GET", "/2/nodes/<node>/role", "/2/nodes/n1/role", None, 200, "master-candidate"),
    ("GET", "/2/nodes/<node>/tags", "/2/nodes/n1/tags", None, 200, ["a", "b"]),
    (
        "GET",
        "/2/instances",
        "/2/instances",
        None,
        200,
        [{"id": "i1", "uri": "/2/instances/i1"}, {"id": "i2", "uri": "/2/instances/i2"}],
    ),
    ("GET", "/2/instances/<instance>/tags", "/2/instances/i1/tags", None, 200, ["a", "b"]),
    ("GET", "/2/groups", "/2/groups", None, 200, [{"name": "default", "uri": "/2/groups/default"}]),
    ("GET", "/2/groups/<group>/tags", "/2/groups/default/tags", None, 200, ["a", "b"]),
    ("GET", "/2/networks", "/2/networks", None, 200, [{"name": "net1", "uri": "/2/networks/net1"}]),
    ("GET", "/2/networks/<network>/tags", "/2/networks/net1/tags", None, 200, ["a", "b"]),
    (
        "GET",
        "/2/jobs",
        "/2/jobs",
        None,
        200,
        [{"id": 1, "uri": "/2/jobs/1"}, {"id": 2, "uri": "/2/jobs/2"}],
    ),
    ("DELETE", "/2/jobs/<job_id>", "/2/jobs/5", None, 200, [True, "Job 5 canceled"]),
    (
        "GET",
        "/2/jobs/<job_id>/wait",
        "/2/jobs/5/wait",
        {"fields": ["status"]},
        200,
        {"job_info": ["success"], "log_entries": [[1, [0, 0], "message", "hello"]]},
    ),
    (
        "GET",
        "/2/query/<resource>",
        "/2/query/node?fields=name,role",
        None,
        200,
        {"fields": [{"name": "name"}, {"name": "role"}], "data": []},
    ),
    (
        "PUT",
        "/2/query/<resource>",
        "/2/query/instance",
        {"fields": ["name"], "qfilter": ["=", "name", "i1"]},
        200,
        {"fields": [{"name": "name"}], "data": []},
    ),
    ("GET", "/2/query/<resource>/fields", "/2/query/job/fields", None, 200, {"fields": []}),
    ("GET", "/2/watcher/pause", "/2/watcher/pause", None, 200, None),
    ("PUT", "/2/watcher/pause", "/2/watcher/pause", {"until": 1800000000}, 200, 1800000000),
    ("GET", "/2/filters", "/2/filters", None, 501, None),
    ("POST", "/2/filters", "/2/filters", {"priority": 1}, 501, None),
    ("GET", "/2/filters/<uuid>", "/2/filters/0aa1-bb", None, 501, None),
    ("PUT", "/2/filters/<uuid>", "/2/filters/0aa1-bb", {"priority": 1}, 501, None),
    ("DELETE", "/2/filters/<uuid>", "/2/filters/0aa1-bb", None, 501, None),
]


class ResourceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self.mktemp())

    def test_every_route_has_a_case(self) -> None:
        covered = {(m, p) for m, p, *_ in JOB_CASES} | {(m, p) for m, p, *_ in PLAIN_CASES}
        covered |= {(m, p) for m, p in SPECIAL_ROUTES}
        missing = [(r.method, r.path) for r in ROUTES if (r.method, r.path) not in covered]
        self.assertEqual(missing, [])

    def test_job_resources_build_the_right_opcode(self) -> None:
        for method, _path, url, body, op_id, params in JOB_CASES:
            self.h.luxi.calls.clear()
            code, answer, _ = self.h.request(method, url, body)
            self.assertEqual((code, answer), (200, 42), f"{method} {url}: {answer}")
            (op,) = self.h.luxi.submitted()
            self.assertEqual(op["OP_ID"], op_id, url)
            for key, value in params.items():
                self.assertEqual(op.get(key), value, f"{method} {url}: {key} in {op}")
            reason = op["reason"]
            self.assertTrue(reason[-1][0].startswith("gnt:library:rlib2:"), reason)

    def test_plain_resources(self) -> None:
        for method, _path, url, body, status, expected in PLAIN_CASES:
            code, answer, response = self.h.request(method, url, body)
            self.assertEqual(code, status, f"{method} {url}: {answer}")
            self.assertEqual(
                response.headers.getRawHeaders("content-type"), ["application/json"], url
            )
            if status == 200 and expected is not None:
                self.assertEqual(answer, expected, f"{method} {url}")
            if status == 501:
                self.assertIn("does not support job filters", answer["message"])

    def test_info_adds_aliases(self) -> None:
        code, info, _ = self.h.request("GET", "/2/info")
        self.assertEqual(code, 200)
        self.assertEqual(info["vg_name"], "xenvg")
        self.assertEqual(info["drbd_helper"], "/bin/true")

    def test_single_objects_and_404(self) -> None:
        for path, key in (
            ("/2/nodes/n1", "name"),
            ("/2/instances/i1", "name"),
            ("/2/groups/default", "name"),
            ("/2/networks/net1", "name"),
        ):
            code, obj, _ = self.h.request("GET", path)
            self.assertEqual(code, 200, path)
            self.assertEqual(obj[key], path.rsplit("/", 1)[1])
            code, err, _ = self.h.request("GET", path.rsplit("/", 1)[0] + "/missing1")
            self.assertEqual(code, 404, path)
            self.assertEqual(set(err), {"code", "message", "explain"})
        _, inst, _ = self.h.request("GET", "/2/instances/i1")
        self.assertEqual(inst["beparams"]["memory"], 128)
        code, job, _ = self.h.request("GET", "/2/jobs/1")
        self.assertEqual((code, job["id"], job["status"]), (200, 1, "success"))
        code, _, _ = self.h.request("GET", "/2/jobs/404")
        self.assertEqual(code, 404)

    def test_bulk_lists_use_rapi_fields(self) -> None:
        from ganeti.query import RAPI_FIELDS

        for path, method, what in (
            ("/2/nodes?bulk=1", "QueryNodes", "node"),
            ("/2/instances?bulk=1", "QueryInstances", "instance"),
            ("/2/groups?bulk=1", "QueryGroups", "group"),
            ("/2/networks?bulk=1", "QueryNetworks", "network"),
        ):
            code, items, _ = self.h.request("GET", path)
            self.assertEqual(code, 200)
            self.assertEqual(self.h.luxi.last(method)[1], list(RAPI_FIELDS[what]))
            self.assertEqual(sorted(items[0]), sorted(RAPI_FIELDS[what]))
        code, jobs, _ = self.h.request("GET", "/2/jobs?bulk=1")
        self.assertEqual(self.h.luxi.last("QueryJobs")[1], list(RAPI_FIELDS["job_bulk"]))
        self.assertEqual(jobs[0]["id"], 2)

    def test_os_list_and_get_wait_for_the_job(self) -> None:
        self.h.luxi.job_result = [["debian", ["min", "full"]], ["alpine", []]]
        code, names, _ = self.h.request("GET", "/2/os")
        self.assertEqual((code, names), (200, ["debian+min", "debian+full", "alpine"]))
        self.assertEqual(self.h.luxi.submitted()[0]["OP_ID"], "OP_OS_DIAGNOSE")
        self.h.luxi.job_result = [["debian", True, ["min"], [], [20], False, False, True]]
        code, osinfo, _ = self.h.request("GET", "/2/os?bulk=1")
        self.assertEqual(osinfo[0]["name"], "debian")
        self.assertEqual(osinfo[0]["api_versions"], [20])
        code, one, _ = self.h.request("GET", "/2/os/debian+min")
        self.assertEqual((code, one["name"]), (200, "debian"))
        self.assertEqual(self.h.luxi.submitted()[0]["names"], ["debian"])
        code, _, _ = self.h.request("GET", "/2/os/other")
        self.assertEqual(code, 404)

    def test_os_job_failure_is_mapped(self) -> None:
        self.h.luxi.job_status = "error"
        self.h.luxi.job_result = ["OpCodeUnknown", ["Opcode OP_OS_DIAGNOSE is not implemented"]]
        code, err, _ = self.h.request("GET", "/2/os")
        self.assertEqual(code, 400)
        self.assertIn("not implemented", err["message"])

    def test_console(self) -> None:
        self.h.luxi.job_result = {"instance": "i1", "kind": "vnc", "host": "n1", "port": 5901}
        code, console, _ = self.h.request("GET", "/2/instances/i1/console")
        self.assertEqual((code, console["kind"]), (200, "vnc"))
        self.h.luxi.job_status = "error"
        self.h.luxi.job_result = ["OpPrereqError", ["Instance i1 is down", "wrong_state"]]
        code, err, _ = self.h.request("GET", "/2/instances/i1/console")
        self.assertEqual(code, 503, err)

    def test_reinstall_body_and_legacy(self) -> None:
        code, _, _ = self.h.request(
            "POST", "/2/instances/i1/reinstall", {"os": "debian", "start": False}
        )
        self.assertEqual(code, 200)
        ops = self.h.luxi.submitted()
        self.assertEqual(
            [o["OP_ID"] for o in ops], ["OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL"]
        )
        self.assertEqual(ops[1]["os_type"], "debian")
        code, _, _ = self.h.request("POST", "/2/instances/i1/reinstall?os=alpine")
        ops = self.h.luxi.submitted()
        self.assertEqual(len(ops), 3)
        self.assertEqual(ops[2]["OP_ID"], "OP_INSTANCE_STARTUP")
        code, _, _ = self.h.request("POST", "/2/instances/i1/reinstall?os=x", {"os": "y"})
        self.assertEqual(code, 400)

    def test_node_role_values(self) -> None:
        code, _, _ = self.h.request("PUT", "/2/nodes/n2/role", "regular")
        op = self.h.luxi.submitted()[0]
        self.assertEqual(
            (op["master_candidate"], op["offline"], op["drained"]), (False, False, False)
        )
        code, _, _ = self.h.request("PUT", "/2/nodes/n2/role", "master")
        self.assertEqual(code, 400)

    def test_node_migrate_legacy_query(self) -> None:
        self.h.request("POST", "/2/nodes/n1/migrate?live=0")
        self.assertEqual(self.h.luxi.submitted()[0]["mode"], "non-live")
        code, _, _ = self.h.request("POST", "/2/nodes/n1/migrate?live=1&mode=live")
        self.assertEqual(code, 400)

    def test_instance_create_versions(self) -> None:
        base = {"mode": "create", "name": "x", "disk_template": "diskless", "disks": [], "nics": []}
        code, err, _ = self.h.request("POST", "/2/instances", base)
        self.assertEqual(code, 400)
        self.assertIn("no longer supported", err["message"])
        code, _, _ = self.h.request("POST", "/2/instances", {**base, "__version__": 2})
        self.assertEqual(code, 400)
        code, err, _ = self.h.request(
            "POST", "/2/instances", {**base, "__version__": 1, "instance_name": "y"}
        )
        self.assertEqual(code, 400)
        self.assertIn("renamed", err["message"])

    def test_static_parameters_cannot_be_overridden(self) -> None:
        code, err, _ = self.h.request(
            "PUT", "/2/instances/i1/rename", {"instance_name": "other", "new_name": "z"}
        )
        self.assertEqual(code, 400)
        self.assertIn("static", err["message"])

    def test_invalid_body_parameters(self) -> None:
        code, err, _ = self.h.request("PUT", "/2/instances/i1/migrate", {"no_such_param": 1})
        self.assertEqual(code, 400)
        self.assertIn("Invalid body parameters", err["message"])
        code, _, _ = self.h.request("PUT", "/2/instances/i1/migrate", ["not", "a", "dict"])
        self.assertEqual(code, 400)
        code, _, _ = self.h.request("PUT", "/2/cluster/verify", {"verbose": "yes"})
        self.assertEqual(code, 400)

    def test_reason_from_query(self) -> None:
        self.h.request("PUT", "/2/instances/i1/startup?reason=maintenance")
        reason = self.h.luxi.submitted()[0]["reason"]
        self.assertEqual(reason[0][:2], ["gnt:user", "maintenance"])
        self.assertEqual(reason[1][0], "gnt:library:rlib2:instance_startup")

    def test_depends_in_body(self) -> None:
        self.h.request("PUT", "/2/instances/i1/migrate", {"depends": [[-1, ["success"]]]})
        self.assertEqual(self.h.luxi.submitted()[0]["depends"], [[-1, ["success"]]])

    def test_cluster_modify_forbids_compression_tools(self) -> None:
        code, _, _ = self.h.request("PUT", "/2/modify", {"compression_tools": ["gzip"]})
        self.assertEqual(code, 403)

    def test_tags_need_tag_parameter(self) -> None:
        code, _, _ = self.h.request("PUT", "/2/tags")
        self.assertEqual(code, 400)

    def test_storage_needs_output_fields(self) -> None:
        code, _, _ = self.h.request("GET", "/2/nodes/n1/storage?storage_type=file")
        self.assertEqual(code, 400)

    def test_wait_validates_body(self) -> None:
        for body in (
            {},
            {"fields": "status"},
            {"fields": ["status"], "previous_log_serial": "x"},
            {"fields": ["status"], "previous_job_info": 3},
        ):
            code, _, _ = self.h.request("GET", "/2/jobs/1/wait", body)
            self.assertEqual(code, 400, body)
        code, _, _ = self.h.request("GET", "/2/jobs/1/wait")
        self.assertEqual(code, 400)

    def test_query_validation(self) -> None:
        code, _, _ = self.h.request("GET", "/2/query/node")
        self.assertEqual(code, 400)
        code, _, _ = self.h.request("GET", "/2/query/bogus?fields=name")
        self.assertEqual(code, 404)
        code, _, _ = self.h.request("PUT", "/2/query/node", {"fields": ["name"], "qfilter": 3})
        self.assertEqual(code, 400)
        code, _, _ = self.h.request("PUT", "/2/query/node?fields=name", {"filter": ["?", "x"]})
        self.assertEqual(code, 200)
        self.assertEqual(self.h.luxi.last("Query"), ["node", ["name"], ["?", "x"]])

    def test_watcher_pause_validates(self) -> None:
        code, _, _ = self.h.request("PUT", "/2/watcher/pause", {"until": "tomorrow"})
        self.assertEqual(code, 400)
        code, answer, _ = self.h.request("PUT", "/2/watcher/pause", {"until": None})
        self.assertEqual((code, answer), (200, None))


# Routes whose cases live in dedicated tests above.
SPECIAL_ROUTES = [
    ("GET", "/2/info"),
    ("GET", "/2/os"),
    ("GET", "/2/os/<os>"),
    ("GET", "/2/nodes/<node>"),
    ("GET", "/2/instances/<instance>"),
    ("GET", "/2/groups/<group>"),
    ("GET", "/2/networks/<network>"),
    ("GET", "/2/jobs/<job_id>"),
    ("GET", "/2/instances/<instance>/console"),
    ("POST", "/2/instances/<instance>/reinstall"),
    # htools extensions: tests/unit/test_rapi_htools.py
    ("GET", "/2/htools/hbal"),
    ("POST", "/2/htools/hbal"),
    ("GET", "/2/htools/hspace"),
]


class ErrorMappingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self.mktemp())

    def submit_error(self, exc: Exception) -> tuple[int, Any]:
        self.h.luxi.errors["SubmitJob"] = exc
        code, body, _ = self.h.request("PUT", "/2/instances/i1/startup")
        return code, body

    def test_luxi_errors(self) -> None:
        from ganeti.rapi.luxi import LuxiTimeout, MasterUnreachable

        cases = [
            (errors.OpPrereqError("no such instance", errors.ECODE_NOENT), 404),
            (errors.OpPrereqError("bad", errors.ECODE_INVAL), 400),
            (errors.OpPrereqError("busy", errors.ECODE_TEMP_NORES), 503),
            (errors.JobQueueDrainError("drained"), 503),
            (errors.JobQueueError("full"), 503),
            (errors.ParameterError("bad param"), 400),
            (errors.JobLost("gone"), 404),
            (MasterUnreachable("down"), 502),
            (LuxiTimeout("slow"), 504),
            (errors.LuxiError("protocol"), 502),
            (errors.OpExecError("boom"), 500),
        ]
        for exc, status in cases:
            code, body = self.submit_error(exc)
            self.assertEqual(code, status, repr(exc))
            self.assertEqual(body["code"], status)
            self.assertIsInstance(body["explain"], str)

    def test_unexpected_exception_is_500_and_logged(self) -> None:
        self.h.luxi.errors["SubmitJob"] = RuntimeError("bug")
        code, _body, _ = self.h.request("PUT", "/2/instances/i1/startup")
        self.assertEqual(code, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_415_400_501_404(self) -> None:
        code, body, _ = self.h.request(
            "PUT", "/2/instances/i1/migrate", raw=b"{}", content_type="text/plain"
        )
        self.assertEqual(code, 415)
        code, body, _ = self.h.request("PUT", "/2/instances/i1/migrate", raw=b"{not json")
        self.assertEqual(code, 400)
        code, body, _ = self.h.request("PATCH", "/2/instances/i1")
        self.assertEqual(code, 501)
        self.assertEqual(body["message"], "Method PATCH is unsupported")
        code, body, _ = self.h.request("GET", "/2/nothing/here")
        self.assertEqual(code, 404)
        code, body, _ = self.h.request("GET", "/2/instances/bad%20name")
        self.assertEqual(code, 404)
        code, body, _ = self.h.request("GET", "/2/jobs/abc")
        self.assertEqual(code, 404)
        code, body, _ = self.h.request("PUT", "/2/instances/i1/startup?force=True")
        self.assertEqual(code, 400)
        self.assertIn("Invalid value", body["message"])

    def test_body_too_large(self) -> None:
        code, _, _ = self.h.request(
            "PUT", "/2/instances/i1/migrate", raw=b" " * (10 * 1024 * 1024 + 1)
        )
        self.assertEqual(code, 413)

    def test_content_type_with_charset(self) -> None:
        code, _, _ = self.h.request(
            "PUT",
            "/2/instances/i1/migrate",
            raw=b"{}",
            content_type="Application/JSON; charset=utf-8",
        )
        self.assertEqual(code, 200)

    def test_disconnect_cancels_luxi_call(self) -> None:
        self.h.luxi.hold = True
        d = self.h.treq.request("GET", "http://rapi.test/2/info", headers={})
        self.h.treq.flush()
        self.assertEqual(len(self.h.luxi.pending), 1)
        self.assertNoResult(d)
        pending = self.h.luxi.pending[0]
        d.cancel()
        self.h.treq.flush()
        self.failureResultOf(d)
        self.assertTrue(pending.called)
