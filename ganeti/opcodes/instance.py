"""Instance opcodes: lifecycle, placement, disks and parameters."""

from __future__ import annotations

from typing import Any

from attrs import frozen

from ganeti import constants as C
from ganeti import errors
from ganeti.opcodes import params as p
from ganeti.opcodes import types as t
from ganeti.opcodes.base import opcode, opt, req

_INSTANCE = ("instance_name", "instance_uuid")

# [action, index or name, params]; legacy form [index | "add" | "remove", params].
_MODIFICATIONS = t.list_of(
    t.either(
        t.tuple_of(t.one_of(C.DDMS_VALUES), t.either(t.INT, t.NON_EMPTY_STRING), t.DICT),
        t.tuple_of(t.either(t.INT, t.one_of((C.DDM_ADD, C.DDM_REMOVE))), t.DICT),
    )
)

OpInstanceCreate = opcode(
    "OP_INSTANCE_CREATE",
    req("instance_name", t.NON_EMPTY_STRING),
    p.FORCE_VARIANT,
    p.WAIT_FOR_SYNC,
    p.NAME_CHECK,
    p.IGNORE_IPOLICY,
    p.OPPORTUNISTIC_LOCKING,
    p.BEPARAMS,
    req("disks", t.list_of(t.DICT)),
    p.DISK_TEMPLATE,
    p.GROUP_NAME_OPT,
    p.FILE_DRIVER,
    p.FILE_STORAGE_DIR,
    p.HVPARAMS,
    p.HYPERVISOR,
    p.IALLOCATOR,
    opt("identify_defaults", t.BOOL, False),
    p.IP_CHECK,
    p.CONFLICTS_CHECK,
    req("mode", t.one_of(C.INSTANCE_CREATE_MODES)),
    req("nics", t.list_of(t.DICT)),
    opt("no_install", t.BOOL),
    p.OSPARAMS,
    p.OSPARAMS_PRIVATE,
    p.OSPARAMS_SECRET,
    p.OS_TYPE,
    p.PNODE,
    p.PNODE_UUID,
    opt("snode", t.NON_EMPTY_STRING),
    opt("snode_uuid", t.NON_EMPTY_STRING),
    opt("source_handshake", t.LIST),
    opt("source_instance_name", t.NON_EMPTY_STRING),
    opt("source_shutdown_timeout", t.NON_NEG_INT, C.DEFAULT_SHUTDOWN_TIMEOUT),
    opt("source_x509_ca", t.NON_EMPTY_STRING),
    opt("src_node", t.NON_EMPTY_STRING),
    opt("src_node_uuid", t.NON_EMPTY_STRING),
    opt("src_path", t.NON_EMPTY_STRING),
    p.COMPRESS,
    opt("start", t.BOOL, True),
    opt("forthcoming", t.BOOL, False),
    opt("commit", t.BOOL, False),
    p.TAGS,
    p.INSTANCE_COMMUNICATION,
    opt("helper_startup_timeout", t.POSITIVE_INT),
    opt("helper_shutdown_timeout", t.POSITIVE_INT),
    summary="instance_name",
    result="[NonEmptyString]",
)


@frozen
class _CreateOpcodes(t.PType):
    """A list of OP_INSTANCE_CREATE dicts (multi-allocation requests)."""

    def check(self, value: Any) -> None:
        t.list_of(t.DICT).check(value)
        for index, item in enumerate(value):
            try:
                OpInstanceCreate.from_dict({"OP_ID": OpInstanceCreate.OP_ID, **item})
            except errors.GanetiError as exc:
                raise t.TypeMismatch(f"item {index}: {exc}") from None

    def describe(self) -> str:
        return "a list of OP_INSTANCE_CREATE opcodes"


OpInstanceMultiAlloc = opcode(
    "OP_INSTANCE_MULTI_ALLOC",
    p.OPPORTUNISTIC_LOCKING,
    p.IALLOCATOR,
    opt("instances", _CreateOpcodes(), []),
    result="InstanceMultiAllocResponse",
)
OpInstanceReinstall = opcode(
    "OP_INSTANCE_REINSTALL",
    p.INSTANCE,
    p.FORCE_VARIANT,
    p.OS_TYPE,
    p.OSPARAMS_OPT,
    p.OSPARAMS_PRIVATE,
    p.OSPARAMS_SECRET,
    summary=_INSTANCE,
    result="()",
)
OpInstanceRemove = opcode(
    "OP_INSTANCE_REMOVE",
    p.INSTANCE,
    p.SHUTDOWN_TIMEOUT,
    opt("ignore_failures", t.BOOL, False),
    summary=_INSTANCE,
    result="()",
)
OpInstanceRename = opcode(
    "OP_INSTANCE_RENAME",
    p.INSTANCE,
    p.NEW_NAME,
    p.NAME_CHECK,
    p.IP_CHECK,
    summary=_INSTANCE,
    result="NonEmptyString",
)
OpInstanceStartup = opcode(
    "OP_INSTANCE_STARTUP",
    p.INSTANCE,
    p.FORCE,
    p.IGNORE_OFFLINE_NODES,
    p.HVPARAMS,
    p.BEPARAMS,
    p.NO_REMEMBER,
    opt("startup_paused", t.BOOL, False),
    p.SHUTDOWN_TIMEOUT,
    summary=_INSTANCE,
    result="()",
)
OpInstanceShutdown = opcode(
    "OP_INSTANCE_SHUTDOWN",
    p.INSTANCE,
    p.FORCE,
    p.IGNORE_OFFLINE_NODES,
    opt("timeout", t.NON_NEG_INT, C.DEFAULT_SHUTDOWN_TIMEOUT),
    p.NO_REMEMBER,
    opt("admin_state_source", t.one_of(sorted(C.VALID_ADMIN_SOURCES))),
    summary=_INSTANCE,
    result="()",
)
OpInstanceReboot = opcode(
    "OP_INSTANCE_REBOOT",
    p.INSTANCE,
    p.SHUTDOWN_TIMEOUT,
    opt("ignore_secondaries", t.BOOL, False),
    req("reboot_type", t.one_of(C.REBOOT_TYPES)),
    summary=_INSTANCE,
    result="()",
)
OpInstanceReplaceDisks = opcode(
    "OP_INSTANCE_REPLACE_DISKS",
    p.INSTANCE,
    p.EARLY_RELEASE,
    p.IGNORE_IPOLICY,
    req("mode", t.one_of(C.REPLACE_MODES)),
    opt("disks", t.list_of(t.NON_NEG_INT), []),
    p.REMOTE_NODE,
    p.REMOTE_NODE_UUID,
    p.IALLOCATOR,
    summary=_INSTANCE,
    result="()",
)
OpInstanceFailover = opcode(
    "OP_INSTANCE_FAILOVER",
    p.INSTANCE,
    p.SHUTDOWN_TIMEOUT,
    p.IGNORE_CONSISTENCY,
    p.TARGET_NODE,
    p.TARGET_NODE_UUID,
    p.IGNORE_IPOLICY,
    p.CLEANUP,
    p.IALLOCATOR,
    summary=_INSTANCE,
    result="()",
)
OpInstanceMigrate = opcode(
    "OP_INSTANCE_MIGRATE",
    p.INSTANCE,
    p.MIGRATION_MODE,
    p.MIGRATION_LIVE,
    p.TARGET_NODE,
    p.TARGET_NODE_UUID,
    p.ALLOW_RUNTIME_CHANGES,
    p.IGNORE_IPOLICY,
    p.CLEANUP,
    p.IALLOCATOR,
    opt("allow_failover", t.BOOL, False),
    opt("ignore_hvversions", t.BOOL, False),
    # Beyond Ganeti: copy node-local ('file') disks during the migration.
    opt("storage_copy", t.BOOL, False),
    summary=_INSTANCE,
    result="()",
)
OpInstanceMove = opcode(
    "OP_INSTANCE_MOVE",
    p.INSTANCE,
    p.SHUTDOWN_TIMEOUT,
    p.IGNORE_IPOLICY,
    p.TARGET_NODE_REQ,
    p.TARGET_NODE_UUID,
    p.COMPRESS,
    p.IGNORE_CONSISTENCY,
    summary=_INSTANCE,
    result="()",
)
OpInstanceConsole = opcode(
    "OP_INSTANCE_CONSOLE", p.INSTANCE, summary=_INSTANCE, result="JSObject JSValue"
)
OpInstanceActivateDisks = opcode(
    "OP_INSTANCE_ACTIVATE_DISKS",
    p.INSTANCE,
    opt("ignore_size", t.BOOL, False),
    opt("wait_for_sync", t.BOOL, False),
    summary=_INSTANCE,
    result="[(NonEmptyString, NonEmptyString, Maybe NonEmptyString)]",
)
OpInstanceDeactivateDisks = opcode(
    "OP_INSTANCE_DEACTIVATE_DISKS", p.INSTANCE, p.FORCE, summary=_INSTANCE, result="()"
)
OpInstanceRecreateDisks = opcode(
    "OP_INSTANCE_RECREATE_DISKS",
    p.INSTANCE,
    opt(
        "disks",
        t.either(t.list_of(t.NON_NEG_INT), t.list_of(t.tuple_of(t.NON_NEG_INT, t.DICT))),
        [],
        doc="disk indices, or [index, changes] pairs; empty means all",
    ),
    p.NODES_OPT,
    p.NODE_UUIDS,
    p.IALLOCATOR,
    summary=_INSTANCE,
    result="()",
)
OpInstanceQueryData = opcode(
    "OP_INSTANCE_QUERY_DATA",
    p.USE_LOCKING,
    opt("instances", t.STRING_LIST, []),
    opt("static", t.BOOL, False),
    summary="instances",
    result="JSObject (JSObject JSValue)",
)
OpInstanceSetParams = opcode(
    "OP_INSTANCE_SET_PARAMS",
    p.INSTANCE,
    p.FORCE,
    p.FORCE_VARIANT,
    p.IGNORE_IPOLICY,
    opt("nics", _MODIFICATIONS, []),
    opt("disks", _MODIFICATIONS, []),
    p.BEPARAMS,
    opt("runtime_mem", t.POSITIVE_INT),
    p.HVPARAMS,
    p.DISK_TEMPLATE,
    opt("ext_params", t.DICT, {}),
    p.FILE_DRIVER,
    p.FILE_STORAGE_DIR,
    p.PNODE,
    p.PNODE_UUID,
    p.REMOTE_NODE,
    p.REMOTE_NODE_UUID,
    p.IALLOCATOR,
    opt("os_name", t.NON_EMPTY_STRING),
    p.OSPARAMS,
    p.OSPARAMS_PRIVATE,
    p.WAIT_FOR_SYNC,
    opt("offline", t.BOOL),
    p.CONFLICTS_CHECK,
    p.HOTPLUG,
    opt("instance_communication", t.BOOL),
    summary=_INSTANCE,
    result="[(NonEmptyString, JSValue)]",
)
OpInstanceGrowDisk = opcode(
    "OP_INSTANCE_GROW_DISK",
    p.INSTANCE,
    p.WAIT_FOR_SYNC,
    req("disk", t.NON_NEG_INT),
    req("amount", t.NON_NEG_INT, doc="MiB to add, or the new size when absolute"),
    opt("absolute", t.BOOL, False),
    p.IGNORE_IPOLICY,
    summary=_INSTANCE,
    result="()",
)
OpInstanceChangeGroup = opcode(
    "OP_INSTANCE_CHANGE_GROUP",
    p.INSTANCE,
    p.EARLY_RELEASE,
    p.IALLOCATOR,
    p.TARGET_GROUPS,
    summary=_INSTANCE,
    result="JobIdListOnly",
)
