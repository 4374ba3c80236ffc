"""Tests for ganeti.opcodes: the catalogue, parameter validation, dict round trips."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors, opcodes, serializer
from ganeti.opcodes import OpCode, registry
from ganeti.opcodes import types as t

# From the catalogue table: `*` marks required, `a*/b` means one of a or b is required.
CATALOGUE: dict[str, tuple[str, ...]] = {
    "OP_CLUSTER_POST_INIT": (),
    "OP_CLUSTER_DESTROY": (),
    "OP_CLUSTER_QUERY": (),
    "OP_CLUSTER_VERIFY": (
        "debug_simulate_errors",
        "error_codes",
        "skip_checks",
        "ignore_errors",
        "verbose",
        "group_name",
        "verify_clutter",
    ),
    "OP_CLUSTER_VERIFY_CONFIG": (
        "debug_simulate_errors",
        "error_codes",
        "ignore_errors",
        "verbose",
    ),
    "OP_CLUSTER_VERIFY_GROUP": (
        "group_name*",
        "debug_simulate_errors",
        "error_codes",
        "skip_checks",
        "ignore_errors",
        "verbose",
        "verify_clutter",
    ),
    "OP_CLUSTER_VERIFY_DISKS": (
        "group_name",
        "is_strict",
    ),
    "OP_GROUP_VERIFY_DISKS": (
        "group_name*",
        "is_strict",
    ),
    "OP_CLUSTER_REPAIR_DISK_SIZES": ("instances",),
    "OP_CLUSTER_CONFIG_QUERY": ("output_fields*",),
    "OP_CLUSTER_RENAME": ("name*",),
    "OP_CLUSTER_SET_PARAMS": (
        "force",
        "hv_state",
        "disk_state",
        "vg_name",
        "enabled_hypervisors",
        "hvparams",
        "beparams",
        "os_hvp",
        "osparams",
        "osparams_private_cluster",
        "diskparams",
        "candidate_pool_size",
        "max_running_jobs",
        "max_tracked_jobs",
        "uid_pool",
        "add_uids",
        "remove_uids",
        "maintain_node_health",
        "prealloc_wipe_disks",
        "nicparams",
        "ndparams",
        "ipolicy",
        "drbd_helper",
        "default_iallocator",
        "default_iallocator_params",
        "mac_prefix",
        "master_netdev",
        "master_netmask",
        "reserved_lvs",
        "hidden_os",
        "blacklisted_os",
        "use_external_mip_script",
        "enabled_disk_templates",
        "modify_etc_hosts",
        "file_storage_dir",
        "shared_file_storage_dir",
        "gluster_storage_dir",
        "install_image",
        "instance_communication_network",
        "zeroing_image",
        "compression_tools",
        "enabled_user_shutdown",
        "enabled_data_collectors",
        "data_collector_interval",
    ),
    "OP_CLUSTER_REDIST_CONF": (),
    "OP_CLUSTER_ACTIVATE_MASTER_IP": (),
    "OP_CLUSTER_DEACTIVATE_MASTER_IP": (),
    "OP_CLUSTER_RENEW_CRYPTO": (
        "node_certificates",
        "renew_ssh_keys",
        "ssh_key_type",
        "ssh_key_bits",
        "verbose",
        "debug",
    ),
    "OP_QUERY": (
        "what*",
        "use_locking",
        "fields*",
        "qfilter",
    ),
    "OP_QUERY_FIELDS": (
        "what*",
        "fields",
    ),
    "OP_OOB_COMMAND": (
        "node_names",
        "node_uuids",
        "command*",
        "timeout",
        "ignore_status",
        "power_delay",
    ),
    "OP_RESTRICTED_COMMAND": (
        "use_locking",
        "nodes*",
        "node_uuids",
        "command*",
    ),
    "OP_NODE_REMOVE": ("node_name*/node_uuid",),
    "OP_NODE_ADD": (
        "node_name*",
        "hv_state",
        "disk_state",
        "primary_ip",
        "secondary_ip",
        "readd",
        "group",
        "master_capable",
        "vm_capable",
        "ndparams",
        "node_setup",
    ),
    "OP_NODE_QUERYVOLS": (
        "output_fields*",
        "nodes",
    ),
    "OP_NODE_QUERY_STORAGE": (
        "output_fields*",
        "storage_type",
        "nodes",
        "name",
    ),
    "OP_NODE_MODIFY_STORAGE": (
        "node_name*/node_uuid",
        "storage_type*",
        "name",
        "changes*",
    ),
    "OP_REPAIR_NODE_STORAGE": (
        "node_name*/node_uuid",
        "storage_type*",
        "name",
        "ignore_consistency",
    ),
    "OP_NODE_SET_PARAMS": (
        "node_name*/node_uuid",
        "force",
        "hv_state",
        "disk_state",
        "master_candidate",
        "offline",
        "drained",
        "auto_promote",
        "master_capable",
        "vm_capable",
        "secondary_ip",
        "ndparams",
        "powered",
    ),
    "OP_NODE_POWERCYCLE": (
        "node_name*/node_uuid",
        "force",
    ),
    "OP_NODE_MIGRATE": (
        "node_name*/node_uuid",
        "mode",
        "live",
        "target_node",
        "target_node_uuid",
        "allow_runtime_changes",
        "ignore_ipolicy",
        "iallocator",
    ),
    "OP_NODE_EVACUATE": (
        "early_release",
        "node_name*/node_uuid",
        "remote_node",
        "remote_node_uuid",
        "iallocator",
        "mode*",
        "ignore_soft_errors",
    ),
    "OP_INSTANCE_CREATE": (
        "instance_name*",
        "force_variant",
        "wait_for_sync",
        "name_check",
        "ignore_ipolicy",
        "opportunistic_locking",
        "beparams",
        "disks*",
        "disk_template",
        "group_name",
        "file_driver",
        "file_storage_dir",
        "hvparams",
        "hypervisor",
        "iallocator",
        "identify_defaults",
        "ip_check",
        "conflicts_check",
        "mode*",
        "nics*",
        "no_install",
        "osparams",
        "osparams_private",
        "osparams_secret",
        "os_type",
        "pnode",
        "pnode_uuid",
        "snode",
        "snode_uuid",
        "source_handshake",
        "source_instance_name",
        "source_shutdown_timeout",
        "source_x509_ca",
        "src_node",
        "src_node_uuid",
        "src_path",
        "compress",
        "start",
        "forthcoming",
        "commit",
        "tags",
        "instance_communication",
        "helper_startup_timeout",
        "helper_shutdown_timeout",
    ),
    "OP_INSTANCE_MULTI_ALLOC": (
        "opportunistic_locking",
        "iallocator",
        "instances",
    ),
    "OP_INSTANCE_REINSTALL": (
        "instance_name*/instance_uuid",
        "force_variant",
        "os_type",
        "osparams",
        "osparams_private",
        "osparams_secret",
    ),
    "OP_INSTANCE_REMOVE": (
        "instance_name*/instance_uuid",
        "shutdown_timeout",
        "ignore_failures",
    ),
    "OP_INSTANCE_RENAME": (
        "instance_name*/instance_uuid",
        "new_name*",
        "name_check",
        "ip_check",
    ),
    "OP_INSTANCE_STARTUP": (
        "instance_name*/instance_uuid",
        "force",
        "ignore_offline_nodes",
        "hvparams",
        "beparams",
        "no_remember",
        "startup_paused",
        "shutdown_timeout",
    ),
    "OP_INSTANCE_SHUTDOWN": (
        "instance_name*/instance_uuid",
        "force",
        "ignore_offline_nodes",
        "timeout",
        "no_remember",
        "admin_state_source",
    ),
    "OP_INSTANCE_REBOOT": (
        "instance_name*/instance_uuid",
        "shutdown_timeout",
        "ignore_secondaries",
        "reboot_type*",
    ),
    "OP_INSTANCE_REPLACE_DISKS": (
        "instance_name*/instance_uuid",
        "early_release",
        "ignore_ipolicy",
        "mode*",
        "disks",
        "remote_node",
        "remote_node_uuid",
        "iallocator",
    ),
    "OP_INSTANCE_FAILOVER": (
        "instance_name*/instance_uuid",
        "shutdown_timeout",
        "ignore_consistency",
        "target_node",
        "target_node_uuid",
        "ignore_ipolicy",
        "cleanup",
        "iallocator",
    ),
    "OP_INSTANCE_MIGRATE": (
        "instance_name*/instance_uuid",
        "mode",
        "live",
        "target_node",
        "target_node_uuid",
        "allow_runtime_changes",
        "ignore_ipolicy",
        "cleanup",
        "iallocator",
        "allow_failover",
        "ignore_hvversions",
    ),
    "OP_INSTANCE_MOVE": (
        "instance_name*/instance_uuid",
        "shutdown_timeout",
        "ignore_ipolicy",
        "target_node*",
        "target_node_uuid",
        "compress",
        "ignore_consistency",
    ),
    "OP_INSTANCE_CONSOLE": ("instance_name*/instance_uuid",),
    "OP_INSTANCE_ACTIVATE_DISKS": (
        "instance_name*/instance_uuid",
        "ignore_size",
        "wait_for_sync",
    ),
    "OP_INSTANCE_DEACTIVATE_DISKS": (
        "instance_name*/instance_uuid",
        "force",
    ),
    "OP_INSTANCE_RECREATE_DISKS": (
        "instance_name*/instance_uuid",
        "disks",
        "nodes",
        "node_uuids",
        "iallocator",
    ),
    "OP_INSTANCE_QUERY_DATA": (
        "use_locking",
        "instances",
        "static",
    ),
    "OP_INSTANCE_SET_PARAMS": (
        "instance_name*/instance_uuid",
        "force",
        "force_variant",
        "ignore_ipolicy",
        "nics",
        "disks",
        "beparams",
        "runtime_mem",
        "hvparams",
        "disk_template",
        "ext_params",
        "file_driver",
        "file_storage_dir",
        "pnode",
        "pnode_uuid",
        "remote_node",
        "remote_node_uuid",
        "iallocator",
        "os_name",
        "osparams",
        "osparams_private",
        "wait_for_sync",
        "offline",
        "conflicts_check",
        "hotplug",
        "instance_communication",
    ),
    "OP_INSTANCE_GROW_DISK": (
        "instance_name*/instance_uuid",
        "wait_for_sync",
        "disk*",
        "amount*",
        "absolute",
        "ignore_ipolicy",
    ),
    "OP_INSTANCE_CHANGE_GROUP": (
        "instance_name*/instance_uuid",
        "early_release",
        "iallocator",
        "target_groups",
    ),
    "OP_GROUP_ADD": (
        "group_name*",
        "alloc_policy",
        "ndparams",
        "diskparams",
        "hv_state",
        "disk_state",
        "ipolicy",
    ),
    "OP_GROUP_ASSIGN_NODES": (
        "group_name*",
        "force",
        "nodes*",
        "node_uuids",
    ),
    "OP_GROUP_SET_PARAMS": (
        "group_name*",
        "alloc_policy",
        "ndparams",
        "diskparams",
        "hv_state",
        "disk_state",
        "ipolicy",
    ),
    "OP_GROUP_REMOVE": ("group_name*",),
    "OP_GROUP_RENAME": (
        "group_name*",
        "new_name*",
    ),
    "OP_GROUP_EVACUATE": (
        "group_name*",
        "early_release",
        "iallocator",
        "target_groups",
        "sequential",
        "force_failover",
    ),
    "OP_OS_DIAGNOSE": (
        "output_fields*",
        "names",
    ),
    "OP_EXT_STORAGE_DIAGNOSE": (
        "output_fields*",
        "names",
    ),
    "OP_BACKUP_PREPARE": (
        "instance_name*/instance_uuid",
        "mode*",
    ),
    "OP_BACKUP_EXPORT": (
        "instance_name*/instance_uuid",
        "compress",
        "shutdown_timeout",
        "target_node*",
        "target_node_uuid",
        "shutdown",
        "remove_instance",
        "ignore_remove_failures",
        "mode*",
        "x509_key_name",
        "destination_x509_ca",
        "zero_free_space",
        "zeroing_timeout_fixed",
        "zeroing_timeout_per_mib",
        "long_sleep",
    ),
    "OP_BACKUP_REMOVE": ("instance_name*/instance_uuid",),
    "OP_TAGS_GET": (
        "kind*",
        "use_locking",
        "name",
    ),
    "OP_TAGS_SEARCH": ("pattern*",),
    "OP_TAGS_SET": (
        "kind*",
        "tags*",
        "name",
    ),
    "OP_TAGS_DEL": (
        "kind*",
        "tags*",
        "name",
    ),
    "OP_TEST_DELAY": (
        "duration*",
        "on_master",
        "on_nodes",
        "on_node_uuids",
        "repeat",
        "interruptible",
        "no_locks",
    ),
    "OP_TEST_ALLOCATOR": (
        "direction*",
        "mode*",
        "name*",
        "nics",
        "disks",
        "hypervisor",
        "iallocator",
        "tags",
        "memory",
        "vcpus",
        "os",
        "disk_template",
        "instances",
        "evac_mode",
        "target_groups",
        "spindle_use",
        "count",
        "group_name",
    ),
    "OP_TEST_JQUEUE": (
        "notify_waitlock",
        "notify_exec",
        "log_messages",
        "fail",
    ),
    "OP_TEST_OS_PARAMS": ("osparams_secret",),
    "OP_TEST_DUMMY": (
        "result*",
        "messages*",
        "fail*",
        "submit_jobs*",
    ),
    "OP_NETWORK_ADD": (
        "network_name*",
        "network*",
        "gateway",
        "network6",
        "gateway6",
        "mac_prefix",
        "add_reserved_ips",
        "conflicts_check",
        "tags",
    ),
    "OP_NETWORK_REMOVE": (
        "network_name*",
        "force",
    ),
    "OP_NETWORK_RENAME": (
        "network_name*",
        "new_name*",
    ),
    "OP_NETWORK_SET_PARAMS": (
        "network_name*",
        "gateway",
        "network6",
        "gateway6",
        "mac_prefix",
        "add_reserved_ips",
        "remove_reserved_ips",
    ),
    "OP_NETWORK_CONNECT": (
        "group_name*",
        "network_name*",
        "network_mode*",
        "network_link*",
        "network_vlan",
        "conflicts_check",
    ),
    "OP_NETWORK_DISCONNECT": (
        "group_name*",
        "network_name*",
    ),
}

COMMON = {"dry_run", "debug_level", "priority", "depends", "comment", "reason"}
# Parameters we add beyond Ganeti (documented in docs/membership.md).
EXTENSIONS = {
    "OP_CLUSTER_SET_PARAMS": {"auto_failover_timeout"},
    "OP_INSTANCE_MIGRATE": {"storage_copy"},
}


def parse_entry(entries: tuple[str, ...]) -> tuple[set[str], set[str], list[set[str]]]:
    """All parameter names, the required ones, and the name-or-uuid groups."""
    names: set[str] = set()
    required: set[str] = set()
    groups: list[set[str]] = []
    for entry in entries:
        if "/" in entry:
            first, second = entry.split("/")
            first = first.rstrip("*")
            names |= {first, second}
            groups.append({first, second})
        elif entry.endswith("*"):
            names.add(entry[:-1])
            required.add(entry[:-1])
        else:
            names.add(entry)
    return names, required, groups


def sample(ptype: t.PType) -> Any:
    """Some value ``ptype`` accepts, built from its structure."""
    if isinstance(ptype, t.Maybe):
        return sample(ptype.inner)
    if isinstance(ptype, t.Or):
        return sample(ptype.choices[0])
    if isinstance(ptype, t.Enum):
        return ptype.values[0]
    if isinstance(ptype, t.Number):
        return int(ptype.minimum) if ptype.minimum is not None else 3
    if isinstance(ptype, t.String):
        return "7"
    if isinstance(ptype, t.ListOf):
        return [sample(ptype.item)]
    if isinstance(ptype, t.Tuple):
        return [sample(item) for item in ptype.items]
    if isinstance(ptype, t.DictOf):
        return {"key": sample(ptype.value)}
    if ptype is t.BOOL:
        return True
    if ptype is t.ANY:
        return {"any": [1]}
    return []  # opcode lists (multi-alloc)


WRONG_CANDIDATES: list[Any] = [True, "", -5, 0.5, "not-a-valid-choice", {"k": None}, [[None]]]


def wrong(ptype: t.PType) -> Any:
    for value in WRONG_CANDIDATES:
        if value is not None and not ptype.accepts(value):
            return value
    raise AssertionError(f"no wrong value for {ptype}")


def minimal(op_id: str) -> dict[str, Any]:
    cls = registry()[op_id]
    data: dict[str, Any] = {"OP_ID": op_id}
    for name, param in cls.PARAMS.items():
        if param.required:
            data[name] = sample(param.type)
    for group in cls.ONE_OF:
        data[group[0]] = sample(cls.PARAMS[group[0]].type)
    return data


class CatalogueTests(SynchronousTestCase):
    def test_every_row_declared(self) -> None:
        self.assertEqual(set(registry()), set(CATALOGUE))

    def test_parameters_match_catalogue(self) -> None:
        for op_id, entries in CATALOGUE.items():
            cls = registry()[op_id]
            names, required, groups = parse_entry(entries)
            self.assertEqual(set(cls.PARAMS), names | COMMON | EXTENSIONS.get(op_id, set()), op_id)
            declared_required = {n for n, p in cls.PARAMS.items() if p.required}
            self.assertEqual(declared_required, required, op_id)
            self.assertEqual([set(g) for g in cls.ONE_OF], groups, op_id)

    def test_exported_under_class_names(self) -> None:
        for op_id, cls in registry().items():
            self.assertIs(getattr(opcodes, cls.__name__), cls)
            self.assertIn(cls.__name__, opcodes.__all__)
            self.assertEqual(cls.OP_ID, op_id)
        self.assertEqual(opcodes.OpInstanceStartup.__name__, "OpInstanceStartup")
        self.assertEqual(opcodes.OpNodeQueryvols.OP_ID, "OP_NODE_QUERYVOLS")

    def test_minimal_dicts_parse_and_round_trip(self) -> None:
        for op_id in CATALOGUE:
            data = minimal(op_id)
            op = OpCode.from_dict(data)
            self.assertEqual(op.OP_ID, op_id)
            dumped = op.to_dict()
            for key, value in data.items():
                self.assertEqual(dumped[key], value, (op_id, key))
            again = OpCode.from_dict(serializer.load_json(serializer.dump_json(dumped)))
            self.assertEqual(again, op, op_id)
            self.assertEqual(again.to_dict(), dumped, op_id)
            self.assertTrue(op.summary().startswith(op_id[3:]), op_id)

    def test_every_parameter_rejects_wrong_type(self) -> None:
        for op_id in CATALOGUE:
            cls = registry()[op_id]
            for name, param in cls.PARAMS.items():
                if param.type is t.ANY:
                    continue
                data = {**minimal(op_id), name: wrong(param.type)}
                e = self.assertRaises(errors.ParameterError, OpCode.from_dict, data)
                self.assertIn(repr(name), str(e), (op_id, name))
                self.assertIn(op_id, str(e))

    def test_every_required_parameter_is_required(self) -> None:
        for op_id in CATALOGUE:
            cls = registry()[op_id]
            for name, param in cls.PARAMS.items():
                if not param.required:
                    continue
                data = minimal(op_id)
                del data[name]
                e = self.assertRaises(errors.ParameterError, OpCode.from_dict, data)
                self.assertIn(repr(name), str(e), (op_id, name))
            for group in cls.ONE_OF:
                data = minimal(op_id)
                data.pop(group[0])
                e = self.assertRaises(errors.ParameterError, OpCode.from_dict, data)
                for name in group:
                    self.assertIn(repr(name), str(e))


class ParseErrorTests(SynchronousTestCase):
    def test_unknown_op_id(self) -> None:
        e = self.assertRaises(errors.OpCodeUnknown, OpCode.from_dict, {"OP_ID": "OP_NOPE"})
        self.assertIn("OP_NOPE", str(e))
        self.assertRaises(errors.OpCodeUnknown, OpCode.from_dict, {"instance_name": "x"})
        self.assertRaises(errors.OpCodeUnknown, opcodes.lookup, "OP_NOPE")

    def test_not_a_dict(self) -> None:
        self.assertRaises(errors.ParameterError, OpCode.from_dict, ["OP_CLUSTER_QUERY"])

    def test_unknown_parameter(self) -> None:
        e = self.assertRaises(
            errors.ParameterError,
            OpCode.from_dict,
            {"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "web1", "forse": True},
        )
        self.assertIn("'forse'", str(e))
        self.assertIn("OP_INSTANCE_STARTUP", str(e))

    def test_subclass_from_dict_checks_op_id(self) -> None:
        self.assertRaises(
            errors.ParameterError, opcodes.OpClusterQuery.from_dict, {"OP_ID": "OP_CLUSTER_DESTROY"}
        )
        op = opcodes.OpClusterQuery.from_dict({"OP_ID": "OP_CLUSTER_QUERY"})
        self.assertIsInstance(op, opcodes.OpClusterQuery)

    def test_abstract_base(self) -> None:
        self.assertRaises(errors.ProgrammerError, OpCode)

    def test_nested_error_names_path(self) -> None:
        e = self.assertRaises(
            errors.ParameterError,
            OpCode.from_dict,
            {"OP_ID": "OP_TAGS_SET", "kind": "node", "tags": ["a", ""], "name": "n1"},
        )
        self.assertIn("item 1", str(e))
        self.assertIn("'tags'", str(e))


class ValueTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        op = opcodes.OpInstanceStartup(instance_name="web1")
        self.assertIs(op.force, False)
        self.assertEqual(op.shutdown_timeout, 120)
        self.assertEqual(op.hvparams, {})
        self.assertIsNone(op.instance_uuid)
        self.assertIsNone(op.dry_run)
        self.assertEqual(op.priority, 0)
        self.assertEqual(op.reason, [])
        self.assertNotIn("instance_uuid", op.to_dict())

    def test_mutable_defaults_not_shared(self) -> None:
        a = opcodes.OpInstanceStartup(instance_name="a")
        b = opcodes.OpInstanceStartup(instance_name="b")
        a.hvparams["x"] = 1
        self.assertEqual(b.hvparams, {})

    def test_null_means_default(self) -> None:
        op = OpCode.from_dict({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "w", "force": None})
        self.assertIs(op.force, False)

    def test_test_dummy_accepts_null(self) -> None:
        data: dict[str, Any] = {
            "OP_ID": "OP_TEST_DUMMY",
            "result": None,
            "messages": [],
            "fail": False,
            "submit_jobs": None,
        }
        op = OpCode.from_dict(data)
        self.assertIsNone(op.result)
        self.assertRaises(
            errors.ParameterError,
            OpCode.from_dict,
            {k: v for k, v in data.items() if k != "result"},
        )

    def test_test_delay(self) -> None:
        op = OpCode.from_dict({"OP_ID": "OP_TEST_DELAY", "duration": 2.5})
        self.assertEqual(op.duration, 2.5)
        self.assertIs(op.on_master, True)
        self.assertEqual(op.on_nodes, [])
        self.assertEqual(op.repeat, 0)
        self.assertIs(op.no_locks, True)
        self.assertIs(op.interruptible, False)
        self.assertEqual(op.summary(), "TEST_DELAY(2.5)")
        self.assertRaises(errors.ParameterError, opcodes.OpTestDelay, duration=-1)

    def test_bool_and_int_are_distinct(self) -> None:
        self.assertRaises(
            errors.ParameterError, opcodes.OpInstanceStartup, instance_name="w", force=1
        )
        self.assertRaises(
            errors.ParameterError,
            opcodes.OpInstanceStartup,
            instance_name="w",
            shutdown_timeout=True,
        )

    def test_priority_range(self) -> None:
        opcodes.OpClusterQuery(priority=-20)
        opcodes.OpClusterQuery(priority=19)
        e = self.assertRaises(errors.ParameterError, opcodes.OpClusterQuery, priority=20)
        self.assertIn("'priority'", str(e))

    def test_depends_and_reason(self) -> None:
        op = opcodes.OpClusterQuery(
            depends=[[-1, ["success"]], ["12", []]],
            reason=[["gnt:client:gnt-cluster", "info", 1700000000000000000]],
            comment="why",
        )
        self.assertEqual(op.to_dict()["depends"], [[-1, ["success"]], ["12", []]])
        for bad in ([[1, ["running"]]], [["x", []]], [[1]]):
            self.assertRaises(errors.ParameterError, opcodes.OpClusterQuery, depends=bad)
        self.assertRaises(errors.ParameterError, opcodes.OpClusterQuery, reason=[["a", "b"]])

    def test_enum(self) -> None:
        self.assertRaises(
            errors.ParameterError, opcodes.OpInstanceReboot, instance_name="w", reboot_type="warm"
        )
        op = opcodes.OpInstanceReboot(instance_name="w", reboot_type="hard")
        self.assertEqual(op.reboot_type, "hard")

    def test_set_params_modifications(self) -> None:
        op = opcodes.OpInstanceSetParams(
            instance_name="w",
            disks=[["add", -1, {"size": 1024}], [0, {"mode": "ro"}]],
            nics=[["remove", "eth1", {}]],
        )
        self.assertEqual(len(op.disks), 2)
        self.assertRaises(
            errors.ParameterError,
            opcodes.OpInstanceSetParams,
            instance_name="w",
            disks=[["explode", 0, {}]],
        )

    def test_multi_alloc_validates_nested_opcodes(self) -> None:
        create = {"instance_name": "a", "disks": [], "nics": [], "mode": "create"}
        op = opcodes.OpInstanceMultiAlloc(
            instances=[{"OP_ID": "OP_INSTANCE_CREATE", **create}, create]
        )
        self.assertEqual(len(op.instances), 2)
        e = self.assertRaises(
            errors.ParameterError,
            opcodes.OpInstanceMultiAlloc,
            instances=[{**create, "mode": "bogus"}],
        )
        self.assertIn("item 0", str(e))
        self.assertRaises(
            errors.ParameterError,
            opcodes.OpInstanceMultiAlloc,
            instances=[{"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": "a"}],
        )

    def test_setattr_validates(self) -> None:
        op = opcodes.OpInstanceStartup(instance_name="web1")
        op.instance_uuid = "1234-abcd"
        self.assertEqual(op.to_dict()["instance_uuid"], "1234-abcd")
        self.assertRaises(errors.ParameterError, setattr, op, "force", "yes")
        self.assertRaises(AttributeError, setattr, op, "nonsense", 1)
        self.assertRaises(AttributeError, getattr, op, "nonsense")

    def test_replace_and_equality(self) -> None:
        op = opcodes.OpInstanceStartup(instance_name="web1")
        forced = op.replace(force=True)
        self.assertIs(forced.force, True)
        self.assertIs(op.force, False)
        self.assertNotEqual(op, forced)
        self.assertNotEqual(op, opcodes.OpInstanceShutdown(instance_name="web1"))
        self.assertEqual(repr(forced), "OpInstanceStartup(instance_name='web1', force=True)")


class SummaryTests(SynchronousTestCase):
    def test_summaries(self) -> None:
        cases = [
            (opcodes.OpInstanceStartup(instance_name="web1"), "INSTANCE_STARTUP(web1)"),
            (opcodes.OpInstanceStartup(instance_uuid="u-1"), "INSTANCE_STARTUP(u-1)"),
            (opcodes.OpClusterQuery(), "CLUSTER_QUERY"),
            (opcodes.OpNodeEvacuate(node_name="n1", mode="all"), "NODE_EVACUATE(n1)"),
            (opcodes.OpTagsGet(kind="cluster"), "TAGS_GET(cluster)"),
            (opcodes.OpTagsGet(kind="node", name="n1"), "TAGS_GET(n1)"),
            (
                opcodes.OpQuery(what="instance", fields=["name"]),
                "QUERY(instance)",
            ),
            (
                opcodes.OpClusterRepairDiskSizes(instances=["a", "b"]),
                "CLUSTER_REPAIR_DISK_SIZES(a,b)",
            ),
        ]
        for op, expected in cases:
            self.assertEqual(op.summary(), expected)

    def test_long_summary_is_shortened(self) -> None:
        op = opcodes.OpClusterRepairDiskSizes(instances=[f"instance{i}" for i in range(20)])
        self.assertTrue(op.summary().endswith("...)"))
        self.assertLessEqual(len(op.summary()), len("CLUSTER_REPAIR_DISK_SIZES()") + 60)
