"""Cluster-wide opcodes, queries, out-of-band and restricted commands."""

from __future__ import annotations

from ganeti import constants as C
from ganeti.opcodes import params as p
from ganeti.opcodes import types as t
from ganeti.opcodes.base import opcode, opt, req

OpClusterPostInit = opcode("OP_CLUSTER_POST_INIT", result="Bool")
OpClusterDestroy = opcode("OP_CLUSTER_DESTROY", result="NonEmptyString")
OpClusterQuery = opcode("OP_CLUSTER_QUERY", result="JSObject JSValue")

OpClusterVerify = opcode(
    "OP_CLUSTER_VERIFY",
    p.DEBUG_SIMULATE_ERRORS,
    p.ERROR_CODES,
    p.SKIP_CHECKS,
    p.IGNORE_ERRORS,
    p.VERBOSE,
    p.GROUP_NAME_OPT,
    p.VERIFY_CLUTTER,
    summary="group_name",
    result="JobIdListOnly",
)
OpClusterVerifyConfig = opcode(
    "OP_CLUSTER_VERIFY_CONFIG",
    p.DEBUG_SIMULATE_ERRORS,
    p.ERROR_CODES,
    p.IGNORE_ERRORS,
    p.VERBOSE,
    result="Bool",
)
OpClusterVerifyGroup = opcode(
    "OP_CLUSTER_VERIFY_GROUP",
    p.GROUP_NAME,
    p.DEBUG_SIMULATE_ERRORS,
    p.ERROR_CODES,
    p.SKIP_CHECKS,
    p.IGNORE_ERRORS,
    p.VERBOSE,
    p.VERIFY_CLUTTER,
    summary="group_name",
    result="Bool",
)
OpClusterVerifyDisks = opcode(
    "OP_CLUSTER_VERIFY_DISKS",
    p.GROUP_NAME_OPT,
    p.IS_STRICT,
    summary="group_name",
    result="JobIdListOnly",
)
OpGroupVerifyDisks = opcode(
    "OP_GROUP_VERIFY_DISKS",
    p.GROUP_NAME,
    p.IS_STRICT,
    summary="group_name",
    result="(Map String String, [String], Map String [[String]])",
)
OpClusterRepairDiskSizes = opcode(
    "OP_CLUSTER_REPAIR_DISK_SIZES",
    opt("instances", t.STRING_LIST, []),
    summary="instances",
    result="[(NonEmptyString, NonNegative Int, NonEmptyString, NonNegative Int)]",
)
OpClusterConfigQuery = opcode("OP_CLUSTER_CONFIG_QUERY", p.OUTPUT_FIELDS, result="[JSValue]")
OpClusterRename = opcode(
    "OP_CLUSTER_RENAME",
    req("name", t.NON_EMPTY_STRING),
    summary="name",
    result="NonEmptyString",
)

_OS_ACTIONS = t.list_of(t.tuple_of(t.one_of((C.DDM_ADD, C.DDM_REMOVE)), t.NON_EMPTY_STRING))
_UID_RANGES = t.list_of(t.tuple_of(t.NON_NEG_INT, t.NON_NEG_INT))

OpClusterSetParams = opcode(
    "OP_CLUSTER_SET_PARAMS",
    p.FORCE,
    p.HV_STATE,
    p.DISK_STATE,
    opt("vg_name", t.STRING, doc="empty string disables LVM"),
    opt("enabled_hypervisors", t.list_of(t.one_of(C.HYPER_TYPES), non_empty=True)),
    opt("hvparams", t.DICT_OF_DICTS),
    opt("beparams", t.DICT),
    opt("os_hvp", t.DICT_OF_DICTS),
    opt("osparams", t.DICT_OF_DICTS),
    opt("osparams_private_cluster", t.DICT_OF_DICTS),
    opt("diskparams", t.DICT_OF_DICTS),
    opt("candidate_pool_size", t.POSITIVE_INT),
    opt("max_running_jobs", t.POSITIVE_INT),
    opt("auto_failover_timeout", t.NON_NEG_NUMBER),
    opt("max_tracked_jobs", t.POSITIVE_INT),
    opt("uid_pool", _UID_RANGES),
    opt("add_uids", _UID_RANGES),
    opt("remove_uids", _UID_RANGES),
    opt("maintain_node_health", t.BOOL),
    opt("prealloc_wipe_disks", t.BOOL),
    opt("nicparams", t.DICT),
    p.NDPARAMS,
    p.IPOLICY,
    opt("drbd_helper", t.STRING),
    opt("default_iallocator", t.STRING),
    opt("default_iallocator_params", t.DICT),
    p.MAC_PREFIX,
    opt("master_netdev", t.STRING),
    opt("master_netmask", t.NON_NEG_INT),
    opt("reserved_lvs", t.list_of(t.NON_EMPTY_STRING)),
    opt("hidden_os", _OS_ACTIONS),
    opt("blacklisted_os", _OS_ACTIONS),
    opt("use_external_mip_script", t.BOOL),
    opt("enabled_disk_templates", t.list_of(t.one_of(C.DISK_TEMPLATES), non_empty=True)),
    opt("modify_etc_hosts", t.BOOL),
    opt("file_storage_dir", t.STRING),
    opt("shared_file_storage_dir", t.STRING),
    opt("gluster_storage_dir", t.STRING),
    opt("install_image", t.STRING),
    opt("instance_communication_network", t.STRING),
    opt("zeroing_image", t.STRING),
    opt("compression_tools", t.list_of(t.NON_EMPTY_STRING)),
    opt("enabled_user_shutdown", t.BOOL),
    opt("enabled_data_collectors", t.dict_of(t.BOOL)),
    opt("data_collector_interval", t.dict_of(t.NON_NEG_INT)),
    result="Either () JobIdListOnly",
)
OpClusterRedistConf = opcode("OP_CLUSTER_REDIST_CONF", result="()")
OpClusterActivateMasterIp = opcode("OP_CLUSTER_ACTIVATE_MASTER_IP", result="()")
OpClusterDeactivateMasterIp = opcode("OP_CLUSTER_DEACTIVATE_MASTER_IP", result="()")
OpClusterRenewCrypto = opcode(
    "OP_CLUSTER_RENEW_CRYPTO",
    opt("node_certificates", t.BOOL, False),
    opt("renew_ssh_keys", t.BOOL, False),
    opt("ssh_key_type", t.one_of(C.SSHK_ALL)),
    opt("ssh_key_bits", t.POSITIVE_INT),
    p.VERBOSE,
    opt("debug", t.BOOL, False),
    result="()",
)

OpQuery = opcode(
    "OP_QUERY",
    req("what", t.one_of(C.QR_VIA_OP)),
    p.USE_LOCKING,
    req("fields", t.STRING_LIST),
    opt("qfilter", t.LIST, doc="query filter expression"),
    summary="what",
    result="QueryResponse",
)
OpQueryFields = opcode(
    "OP_QUERY_FIELDS",
    req("what", t.one_of(C.QR_VIA_OP)),
    opt("fields", t.STRING_LIST),
    summary="what",
    result="QueryFieldsResponse",
)
OpOobCommand = opcode(
    "OP_OOB_COMMAND",
    opt("node_names", t.STRING_LIST, []),
    p.NODE_UUIDS,
    req("command", t.one_of(C.OOB_COMMANDS)),
    opt("timeout", t.POSITIVE_INT, C.OOB_TIMEOUT),
    opt("ignore_status", t.BOOL, False),
    opt("power_delay", t.NON_NEG_NUMBER, C.OOB_POWER_DELAY),
    summary="command",
    result="[[(QueryResultCode, JSValue)]]",
)
OpRestrictedCommand = opcode(
    "OP_RESTRICTED_COMMAND",
    p.USE_LOCKING,
    p.NODES_REQ,
    p.NODE_UUIDS,
    req("command", t.NON_EMPTY_STRING),
    summary="command",
    result="[(Bool, String)]",
)
