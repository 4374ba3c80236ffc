"""Parameters shared by several opcodes (Ganeti's ``p*`` definitions).

Opcode-specific parameters are declared next to their opcode; anything used twice
or more lives here so that name, type and default stay the same everywhere.
"""

from __future__ import annotations

from ganeti import constants as C
from ganeti.opcodes import types as t
from ganeti.opcodes.base import name_or_uuid, opt, req

INSTANCE = name_or_uuid("instance")
NODE = name_or_uuid("node")

FORCE = opt("force", t.BOOL, False)
FORCE_VARIANT = opt("force_variant", t.BOOL, False, doc="accept unknown OS variants")
WAIT_FOR_SYNC = opt("wait_for_sync", t.BOOL, True)
IGNORE_IPOLICY = opt("ignore_ipolicy", t.BOOL, False)
IGNORE_CONSISTENCY = opt("ignore_consistency", t.BOOL, False)
IGNORE_OFFLINE_NODES = opt("ignore_offline_nodes", t.BOOL, False)
EARLY_RELEASE = opt("early_release", t.BOOL, False)
NO_REMEMBER = opt("no_remember", t.BOOL, False)
NAME_CHECK = opt("name_check", t.BOOL, True)
IP_CHECK = opt("ip_check", t.BOOL, True)
CONFLICTS_CHECK = opt("conflicts_check", t.BOOL, True)
USE_LOCKING = opt("use_locking", t.BOOL, False)
VERBOSE = opt("verbose", t.BOOL, False)
SHUTDOWN_TIMEOUT = opt("shutdown_timeout", t.NON_NEG_INT, C.DEFAULT_SHUTDOWN_TIMEOUT)
ALLOW_RUNTIME_CHANGES = opt("allow_runtime_changes", t.BOOL, True)
CLEANUP = opt("cleanup", t.BOOL, False)
COMPRESS = opt("compress", t.NON_EMPTY_STRING, C.IEC_NONE, doc="compression tool for copies")
OPPORTUNISTIC_LOCKING = opt("opportunistic_locking", t.BOOL, False)

IALLOCATOR = opt("iallocator", t.NON_EMPTY_STRING)
TARGET_NODE = opt("target_node", t.NON_EMPTY_STRING)
TARGET_NODE_REQ = req("target_node", t.NON_EMPTY_STRING)
TARGET_NODE_UUID = opt("target_node_uuid", t.NON_EMPTY_STRING)
REMOTE_NODE = opt("remote_node", t.NON_EMPTY_STRING)
REMOTE_NODE_UUID = opt("remote_node_uuid", t.NON_EMPTY_STRING)
PNODE = opt("pnode", t.NON_EMPTY_STRING)
PNODE_UUID = opt("pnode_uuid", t.NON_EMPTY_STRING)
TARGET_GROUPS = opt("target_groups", t.STRING_LIST)

MIGRATION_MODE = opt("mode", t.one_of(C.HT_MIGRATION_MODES))
MIGRATION_LIVE = opt("live", t.BOOL, doc="legacy; use mode")

GROUP_NAME = req("group_name", t.NON_EMPTY_STRING)
GROUP_NAME_OPT = opt("group_name", t.NON_EMPTY_STRING)
NETWORK_NAME = req("network_name", t.NON_EMPTY_STRING)
NEW_NAME = req("new_name", t.NON_EMPTY_STRING)

OUTPUT_FIELDS = req("output_fields", t.STRING_LIST)
NAMES = opt("names", t.STRING_LIST, [])
NODES_OPT = opt("nodes", t.STRING_LIST, [])
NODES_REQ = req("nodes", t.STRING_LIST)
NODE_UUIDS = opt("node_uuids", t.STRING_LIST)

BEPARAMS = opt("beparams", t.DICT, {})
HVPARAMS = opt("hvparams", t.DICT, {})
OSPARAMS = opt("osparams", t.DICT, {})
OSPARAMS_OPT = opt("osparams", t.DICT)
OSPARAMS_PRIVATE = opt("osparams_private", t.DICT)
OSPARAMS_SECRET = opt("osparams_secret", t.DICT)
OS_TYPE = opt("os_type", t.NON_EMPTY_STRING)
NDPARAMS = opt("ndparams", t.DICT)
DISKPARAMS = opt("diskparams", t.DICT_OF_DICTS)
IPOLICY = opt("ipolicy", t.DICT)
HV_STATE = opt("hv_state", t.DICT)
DISK_STATE = opt("disk_state", t.DICT)
ALLOC_POLICY = opt("alloc_policy", t.one_of(C.VALID_ALLOC_POLICIES))

DISK_TEMPLATE = opt("disk_template", t.one_of(C.DISK_TEMPLATES))
HYPERVISOR = opt("hypervisor", t.one_of(C.HYPER_TYPES))
FILE_DRIVER = opt("file_driver", t.one_of(C.FILE_DRIVERS))
FILE_STORAGE_DIR = opt("file_storage_dir", t.NON_EMPTY_STRING)
STORAGE_TYPE = req("storage_type", t.one_of(C.STORAGE_TYPES))
STORAGE_NAME = opt("name", t.NON_EMPTY_STRING, doc="storage unit name (e.g. volume group)")
TAGS = opt("tags", t.list_of(t.NON_EMPTY_STRING), [])
TAG_KIND = req("kind", t.one_of(C.VALID_TAG_TYPES))
TAG_NAME = opt("name", t.NON_EMPTY_STRING, doc="object name; unset for the cluster")
TAG_LIST = req("tags", t.list_of(t.NON_EMPTY_STRING))

EVAC_MODE = t.one_of(C.NODE_EVAC_MODES)
MAC_PREFIX = opt("mac_prefix", t.NON_EMPTY_STRING)
RESERVED_IPS = t.list_of(t.NON_EMPTY_STRING)

# Verify options shared by OP_CLUSTER_VERIFY{,_CONFIG,_GROUP}.
DEBUG_SIMULATE_ERRORS = opt("debug_simulate_errors", t.BOOL, False)
ERROR_CODES = opt("error_codes", t.BOOL, False)
SKIP_CHECKS = opt("skip_checks", t.list_of(t.one_of(sorted(C.VERIFY_OPTIONAL_CHECKS))), [])
IGNORE_ERRORS = opt("ignore_errors", t.list_of(t.NON_EMPTY_STRING), [])
VERIFY_CLUTTER = opt("verify_clutter", t.BOOL, False)
IS_STRICT = opt("is_strict", t.BOOL, True)

INSTANCE_COMMUNICATION = opt("instance_communication", t.BOOL, False)
HOTPLUG = opt("hotplug", t.BOOL, False)
