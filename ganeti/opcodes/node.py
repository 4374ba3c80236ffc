"""Node opcodes: membership, flags, storage, power, evacuation."""

from __future__ import annotations

from ganeti.opcodes import params as p
from ganeti.opcodes import types as t
from ganeti.opcodes.base import opcode, opt, req

_NODE = ("node_name", "node_uuid")

OpNodeRemove = opcode("OP_NODE_REMOVE", p.NODE, summary=_NODE, result="()")
OpNodeAdd = opcode(
    "OP_NODE_ADD",
    req("node_name", t.NON_EMPTY_STRING),
    p.HV_STATE,
    p.DISK_STATE,
    opt("primary_ip", t.NON_EMPTY_STRING),
    opt("secondary_ip", t.NON_EMPTY_STRING),
    opt("readd", t.BOOL, False),
    opt("group", t.NON_EMPTY_STRING),
    opt("master_capable", t.BOOL),
    opt("vm_capable", t.BOOL),
    p.NDPARAMS,
    opt("node_setup", t.BOOL, False),
    summary="node_name",
    result="()",
)
OpNodeQueryvols = opcode(
    "OP_NODE_QUERYVOLS", p.OUTPUT_FIELDS, p.NODES_OPT, summary="nodes", result="[JSValue]"
)
OpNodeQueryStorage = opcode(
    "OP_NODE_QUERY_STORAGE",
    p.OUTPUT_FIELDS,
    opt("storage_type", p.STORAGE_TYPE.type),
    p.NODES_OPT,
    p.STORAGE_NAME,
    summary="nodes",
    result="[[JSValue]]",
)
OpNodeModifyStorage = opcode(
    "OP_NODE_MODIFY_STORAGE",
    p.NODE,
    p.STORAGE_TYPE,
    p.STORAGE_NAME,
    req("changes", t.DICT),
    summary=_NODE,
    result="()",
)
OpRepairNodeStorage = opcode(
    "OP_REPAIR_NODE_STORAGE",
    p.NODE,
    p.STORAGE_TYPE,
    p.STORAGE_NAME,
    p.IGNORE_CONSISTENCY,
    summary=_NODE,
    result="()",
)
OpNodeSetParams = opcode(
    "OP_NODE_SET_PARAMS",
    p.NODE,
    p.FORCE,
    p.HV_STATE,
    p.DISK_STATE,
    opt("master_candidate", t.BOOL),
    opt("offline", t.BOOL),
    opt("drained", t.BOOL),
    opt("auto_promote", t.BOOL, False),
    opt("master_capable", t.BOOL),
    opt("vm_capable", t.BOOL),
    opt("secondary_ip", t.NON_EMPTY_STRING),
    p.NDPARAMS,
    opt("powered", t.BOOL),
    summary=_NODE,
    result="[(NonEmptyString, JSValue)]",
)
OpNodePowercycle = opcode(
    "OP_NODE_POWERCYCLE", p.NODE, p.FORCE, summary=_NODE, result="Maybe NonEmptyString"
)
OpNodeMigrate = opcode(
    "OP_NODE_MIGRATE",
    p.NODE,
    p.MIGRATION_MODE,
    p.MIGRATION_LIVE,
    p.TARGET_NODE,
    p.TARGET_NODE_UUID,
    p.ALLOW_RUNTIME_CHANGES,
    p.IGNORE_IPOLICY,
    p.IALLOCATOR,
    summary=_NODE,
    result="JobIdListOnly",
)
OpNodeEvacuate = opcode(
    "OP_NODE_EVACUATE",
    p.EARLY_RELEASE,
    p.NODE,
    p.REMOTE_NODE,
    p.REMOTE_NODE_UUID,
    p.IALLOCATOR,
    req("mode", p.EVAC_MODE),
    opt("ignore_soft_errors", t.BOOL, False),
    summary=_NODE,
    result="JobIdListOnly",
)
