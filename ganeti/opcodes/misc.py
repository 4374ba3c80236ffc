"""OS, export, tag, network and test opcodes."""

from __future__ import annotations

from ganeti import constants as C
from ganeti.opcodes import params as p
from ganeti.opcodes import types as t
from ganeti.opcodes.base import opcode, opt, req

_INSTANCE = ("instance_name", "instance_uuid")

OpOsDiagnose = opcode("OP_OS_DIAGNOSE", p.OUTPUT_FIELDS, p.NAMES, result="[[JSValue]]")
OpExtStorageDiagnose = opcode(
    "OP_EXT_STORAGE_DIAGNOSE", p.OUTPUT_FIELDS, p.NAMES, result="[[JSValue]]"
)

_EXPORT_MODE = req("mode", t.one_of(C.EXPORT_MODES))

OpBackupPrepare = opcode(
    "OP_BACKUP_PREPARE",
    p.INSTANCE,
    _EXPORT_MODE,
    summary=_INSTANCE,
    result="Maybe (JSObject JSValue)",
)
OpBackupExport = opcode(
    "OP_BACKUP_EXPORT",
    p.INSTANCE,
    p.COMPRESS,
    p.SHUTDOWN_TIMEOUT,
    # A node name for local exports, per-disk destinations for remote ones.
    req("target_node", t.either(t.NON_EMPTY_STRING, t.LIST)),
    p.TARGET_NODE_UUID,
    opt("shutdown", t.BOOL, True),
    opt("remove_instance", t.BOOL, False),
    opt("ignore_remove_failures", t.BOOL, False),
    _EXPORT_MODE,
    opt("x509_key_name", t.LIST),
    opt("destination_x509_ca", t.NON_EMPTY_STRING),
    opt("zero_free_space", t.BOOL, False),
    opt("zeroing_timeout_fixed", t.NON_NEG_INT),
    opt("zeroing_timeout_per_mib", t.NON_NEG_NUMBER),
    opt("long_sleep", t.BOOL, False),
    summary=_INSTANCE,
    result="(Bool, [Bool])",
)
OpBackupRemove = opcode("OP_BACKUP_REMOVE", p.INSTANCE, summary=_INSTANCE, result="()")

OpTagsGet = opcode(
    "OP_TAGS_GET",
    p.TAG_KIND,
    p.USE_LOCKING,
    p.TAG_NAME,
    summary=("name", "kind"),
    result="[NonEmptyString]",
)
OpTagsSearch = opcode(
    "OP_TAGS_SEARCH",
    req("pattern", t.NON_EMPTY_STRING),
    summary="pattern",
    result="[(NonEmptyString, NonEmptyString)]",
)
OpTagsSet = opcode(
    "OP_TAGS_SET", p.TAG_KIND, p.TAG_LIST, p.TAG_NAME, summary=("name", "kind"), result="()"
)
OpTagsDel = opcode(
    "OP_TAGS_DEL", p.TAG_KIND, p.TAG_LIST, p.TAG_NAME, summary=("name", "kind"), result="()"
)

OpTestDelay = opcode(
    "OP_TEST_DELAY",
    req("duration", t.NON_NEG_NUMBER, doc="seconds to sleep"),
    opt("on_master", t.BOOL, True),
    opt("on_nodes", t.STRING_LIST, []),
    opt("on_node_uuids", t.STRING_LIST),
    opt("repeat", t.NON_NEG_INT, 0),
    opt("interruptible", t.BOOL, False),
    opt("no_locks", t.BOOL, True),
    summary="duration",
    result="()",
)
OpTestAllocator = opcode(
    "OP_TEST_ALLOCATOR",
    req("direction", t.one_of(C.IALLOCATOR_DIRECTIONS)),
    req("mode", t.one_of(C.IALLOCATOR_MODES)),
    req("name", t.NON_EMPTY_STRING),
    opt("nics", t.list_of(t.DICT)),
    opt("disks", t.LIST),
    p.HYPERVISOR,
    p.IALLOCATOR,
    p.TAGS,
    opt("memory", t.NON_NEG_INT),
    opt("vcpus", t.NON_NEG_INT),
    opt("os", t.NON_EMPTY_STRING),
    p.DISK_TEMPLATE,
    opt("instances", t.STRING_LIST, []),
    opt("evac_mode", p.EVAC_MODE),
    opt("target_groups", t.STRING_LIST, []),
    opt("spindle_use", t.NON_NEG_INT),
    opt("count", t.NON_NEG_INT),
    p.GROUP_NAME_OPT,
    summary="iallocator",
    result="String",
)
OpTestJqueue = opcode(
    "OP_TEST_JQUEUE",
    opt("notify_waitlock", t.BOOL, False),
    opt("notify_exec", t.BOOL, False),
    opt("log_messages", t.list_of(t.STRING), []),
    opt("fail", t.BOOL, False),
    result="Bool",
)
OpTestOsParams = opcode("OP_TEST_OS_PARAMS", p.OSPARAMS_SECRET, result="()")
OpTestDummy = opcode(
    "OP_TEST_DUMMY",
    req("result", t.ANY),
    req("messages", t.ANY),
    req("fail", t.ANY),
    req("submit_jobs", t.ANY),
    result="()",
)

_NETWORK_ADDRS = (
    opt("gateway", t.NON_EMPTY_STRING),
    opt("network6", t.NON_EMPTY_STRING),
    opt("gateway6", t.NON_EMPTY_STRING),
    p.MAC_PREFIX,
    opt("add_reserved_ips", p.RESERVED_IPS),
)

OpNetworkAdd = opcode(
    "OP_NETWORK_ADD",
    p.NETWORK_NAME,
    req("network", t.NON_EMPTY_STRING, doc="IPv4 subnet in CIDR notation"),
    *_NETWORK_ADDRS,
    p.CONFLICTS_CHECK,
    p.TAGS,
    summary="network_name",
    result="()",
)
OpNetworkRemove = opcode(
    "OP_NETWORK_REMOVE", p.NETWORK_NAME, p.FORCE, summary="network_name", result="()"
)
OpNetworkRename = opcode(
    "OP_NETWORK_RENAME",
    p.NETWORK_NAME,
    p.NEW_NAME,
    summary="network_name",
    result="NonEmptyString",
)
OpNetworkSetParams = opcode(
    "OP_NETWORK_SET_PARAMS",
    p.NETWORK_NAME,
    *_NETWORK_ADDRS,
    opt("remove_reserved_ips", p.RESERVED_IPS),
    summary="network_name",
    result="()",
)
OpNetworkConnect = opcode(
    "OP_NETWORK_CONNECT",
    p.GROUP_NAME,
    p.NETWORK_NAME,
    req("network_mode", t.one_of(sorted(C.NIC_VALID_MODES))),
    req("network_link", t.NON_EMPTY_STRING),
    opt("network_vlan", t.STRING, ""),
    p.CONFLICTS_CHECK,
    summary="network_name",
    result="()",
)
OpNetworkDisconnect = opcode(
    "OP_NETWORK_DISCONNECT", p.GROUP_NAME, p.NETWORK_NAME, summary="network_name", result="()"
)
