"""Node group opcodes."""

from __future__ import annotations

from ganeti.opcodes import params as p
from ganeti.opcodes import types as t
from ganeti.opcodes.base import opcode, opt

_GROUP_PARAMS = (
    p.ALLOC_POLICY,
    p.NDPARAMS,
    p.DISKPARAMS,
    p.HV_STATE,
    p.DISK_STATE,
    p.IPOLICY,
)

OpGroupAdd = opcode(
    "OP_GROUP_ADD",
    p.GROUP_NAME,
    *_GROUP_PARAMS,
    summary="group_name",
    result="Either () JobIdListOnly",
)
OpGroupAssignNodes = opcode(
    "OP_GROUP_ASSIGN_NODES",
    p.GROUP_NAME,
    p.FORCE,
    p.NODES_REQ,
    p.NODE_UUIDS,
    summary="group_name",
    result="()",
)
OpGroupSetParams = opcode(
    "OP_GROUP_SET_PARAMS",
    p.GROUP_NAME,
    *_GROUP_PARAMS,
    summary="group_name",
    result="[(NonEmptyString, JSValue)]",
)
OpGroupRemove = opcode("OP_GROUP_REMOVE", p.GROUP_NAME, summary="group_name", result="()")
OpGroupRename = opcode(
    "OP_GROUP_RENAME", p.GROUP_NAME, p.NEW_NAME, summary="group_name", result="NonEmptyString"
)
OpGroupEvacuate = opcode(
    "OP_GROUP_EVACUATE",
    p.GROUP_NAME,
    p.EARLY_RELEASE,
    p.IALLOCATOR,
    p.TARGET_GROUPS,
    opt("sequential", t.BOOL, False),
    opt("force_failover", t.BOOL, False),
    summary="group_name",
    result="JobIdListOnly",
)
