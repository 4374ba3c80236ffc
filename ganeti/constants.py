"""Constants shared by every component: versions, ports, timeouts and enumerations.

Values follow Ganeti where clients can observe them (ports, protocol and config
versions, enumeration strings), so that Ganeti's tools and habits keep working.
"""

from __future__ import annotations

from typing import Final

RELEASE_VERSION: Final = "3.1.0"
# 1000000 * major + 10000 * minor + revision, as Ganeti encodes it.
CONFIG_MAJOR: Final = 3
CONFIG_MINOR: Final = 1
CONFIG_REVISION: Final = 0
CONFIG_VERSION: Final = 1000000 * CONFIG_MAJOR + 10000 * CONFIG_MINOR + CONFIG_REVISION
PROTOCOL_VERSION: Final = CONFIG_VERSION
OS_API_VERSION: Final = 20
OS_API_VERSIONS: Final = frozenset({10, 15, 20})
JOB_QUEUE_VERSION: Final = 1
RAPI_VERSION: Final = 2

# Default ports.
DEFAULT_NODED_PORT: Final = 1811
DEFAULT_CONFD_PORT: Final = 1814
DEFAULT_MOND_PORT: Final = 1815
DEFAULT_RAPI_PORT: Final = 5080

# RPC timeout classes, in seconds.
RPC_TMO_URGENT: Final = 60
RPC_TMO_FAST: Final = 5 * 60
RPC_TMO_NORMAL: Final = 15 * 60
RPC_TMO_SLOW: Final = 3600
RPC_TMO_4HRS: Final = 4 * 3600
RPC_TMO_1DAY: Final = 86400
RPC_CONNECT_TIMEOUT: Final = 5

# Uploaded content is sent as [encoding, data]; large bodies are zlib + base64.
RPC_ENCODING_NONE: Final = 0
RPC_ENCODING_ZLIB_BASE64: Final = 1
RPC_COMPRESS_THRESHOLD: Final = 512

# Hypervisors.
HT_XEN_PVM: Final = "xen-pvm"
HT_XEN_HVM: Final = "xen-hvm"
HT_KVM: Final = "kvm"
HT_FAKE: Final = "fake"
HT_CHROOT: Final = "chroot"
HT_LXC: Final = "lxc"
HYPER_TYPES: Final = (HT_XEN_PVM, HT_XEN_HVM, HT_KVM, HT_FAKE, HT_CHROOT, HT_LXC)

# Disk templates (also Disk.dev_type values).
DT_DISKLESS: Final = "diskless"
DT_PLAIN: Final = "plain"
DT_DRBD8: Final = "drbd"
DT_FILE: Final = "file"
DT_SHARED_FILE: Final = "sharedfile"
DT_BLOCK: Final = "blockdev"
DT_RBD: Final = "rbd"
DT_EXT: Final = "ext"
DT_GLUSTER: Final = "gluster"
DISK_TEMPLATES: Final = (
    DT_DISKLESS,
    DT_PLAIN,
    DT_DRBD8,
    DT_FILE,
    DT_SHARED_FILE,
    DT_BLOCK,
    DT_RBD,
    DT_EXT,
    DT_GLUSTER,
)
DTS_INT_MIRROR: Final = frozenset({DT_DRBD8})
DTS_EXT_MIRROR: Final = frozenset({DT_SHARED_FILE, DT_BLOCK, DT_RBD, DT_EXT, DT_GLUSTER})
DTS_MIRRORED: Final = DTS_INT_MIRROR | DTS_EXT_MIRROR
DTS_FILEBASED: Final = frozenset({DT_FILE, DT_SHARED_FILE, DT_GLUSTER})

# Instance admin states.
ADMINST_UP: Final = "up"
ADMINST_DOWN: Final = "down"
ADMINST_OFFLINE: Final = "offline"
ADMINST_ALL: Final = frozenset({ADMINST_UP, ADMINST_DOWN, ADMINST_OFFLINE})
ADMIN_SOURCE: Final = "admin"
USER_SOURCE: Final = "user"

# Node group allocation policies.
ALLOC_POLICY_PREFERRED: Final = "preferred"
ALLOC_POLICY_LAST_RESORT: Final = "last_resort"
ALLOC_POLICY_UNALLOCABLE: Final = "unallocable"
VALID_ALLOC_POLICIES: Final = (
    ALLOC_POLICY_PREFERRED,
    ALLOC_POLICY_LAST_RESORT,
    ALLOC_POLICY_UNALLOCABLE,
)

# NIC modes.
NIC_MODE_BRIDGED: Final = "bridged"
NIC_MODE_ROUTED: Final = "routed"
NIC_MODE_OVS: Final = "openvswitch"
NIC_VALID_MODES: Final = frozenset({NIC_MODE_BRIDGED, NIC_MODE_ROUTED, NIC_MODE_OVS})

# Disk access modes.
DISK_RDWR: Final = "rw"
DISK_RDONLY: Final = "ro"

# Address families as stored in the cluster object.
IP4_FAMILY: Final = 2
IP6_FAMILY: Final = 10

DEFAULT_CANDIDATE_POOL_SIZE: Final = 10
DEFAULT_MAX_RUNNING_JOBS: Final = 20
DEFAULT_MAX_TRACKED_JOBS: Final = 25
DEFAULT_MAC_PREFIX: Final = "aa:00:00"
DEFAULT_BRIDGE: Final = "xen-br0"

# Files whose content may be uploaded to a node with upload_file: names relative to the
# data dir (or absolute system paths); see Paths.upload_whitelist().
SSCONF_MAX_SIZE: Final = 128 * 1024

# --- Configuration objects: built-in parameter defaults (added with ganeti/objects.py) ---
# Objects store overrides only; these are the bottom of every "fill" chain.

FIRST_DRBD_PORT: Final = 11000
LAST_DRBD_PORT: Final = 14999
DRBD_META_SIZE: Final = 128
VALID_DISK_MODES: Final = frozenset({DISK_RDWR, DISK_RDONLY})
VALID_ADMIN_SOURCES: Final = frozenset({ADMIN_SOURCE, USER_SOURCE})
VALID_IP_FAMILIES: Final = frozenset({IP4_FAMILY, IP6_FAMILY})
PP_DEFAULT: Final = "default"

# Backend parameters.
BE_MINMEM: Final = "minmem"
BE_MAXMEM: Final = "maxmem"
BE_MEMORY: Final = "memory"  # legacy alias of maxmem
BE_VCPUS: Final = "vcpus"
BE_AUTO_BALANCE: Final = "auto_balance"
BE_ALWAYS_FAILOVER: Final = "always_failover"
BE_SPINDLE_USE: Final = "spindle_use"
BEC_DEFAULTS: Final[dict[str, object]] = {
    BE_MINMEM: 128,
    BE_MAXMEM: 128,
    BE_VCPUS: 1,
    BE_AUTO_BALANCE: True,
    BE_ALWAYS_FAILOVER: False,
    BE_SPINDLE_USE: 1,
}

# Node parameters.
ND_OOB_PROGRAM: Final = "oob_program"
ND_SPINDLE_COUNT: Final = "spindle_count"
ND_EXCLUSIVE_STORAGE: Final = "exclusive_storage"
ND_OVS: Final = "ovs"
ND_OVS_NAME: Final = "ovs_name"
ND_OVS_LINK: Final = "ovs_link"
ND_SSH_PORT: Final = "ssh_port"
ND_CPU_SPEED: Final = "cpu_speed"
NDC_DEFAULTS: Final[dict[str, object]] = {
    ND_OOB_PROGRAM: "",
    ND_SPINDLE_COUNT: 1,
    ND_EXCLUSIVE_STORAGE: False,
    ND_OVS: False,
    ND_OVS_NAME: "switch1",
    ND_OVS_LINK: "",
    ND_SSH_PORT: 22,
    ND_CPU_SPEED: 1.0,
}

# NIC parameters.
NIC_MODE: Final = "mode"
NIC_LINK: Final = "link"
NIC_VLAN: Final = "vlan"
NICC_DEFAULTS: Final[dict[str, object]] = {
    NIC_MODE: NIC_MODE_BRIDGED,
    NIC_LINK: DEFAULT_BRIDGE,
    NIC_VLAN: "",
}

# Hypervisor parameters; keys in HVC_GLOBALS can only be set cluster-wide.
HV_MIGRATION_PORT: Final = "migration_port"
HV_MIGRATION_BANDWIDTH: Final = "migration_bandwidth"
HV_MIGRATION_MODE: Final = "migration_mode"
HV_XEN_CMD: Final = "xen_cmd"
HVC_GLOBALS: Final = frozenset(
    {HV_MIGRATION_PORT, HV_MIGRATION_BANDWIDTH, HV_MIGRATION_MODE, HV_XEN_CMD}
)
HT_MIGRATION_LIVE: Final = "live"
HT_MIGRATION_NONLIVE: Final = "non-live"

_XEN_COMMON: Final[dict[str, object]] = {
    "cpu_mask": "all",
    "cpu_cap": 0,
    "cpu_weight": 256,
    "reboot_behavior": "reboot",
    "vif_script": "",
    "cpuid": "",
    "soundhw": "",
    HV_MIGRATION_PORT: 8002,
    HV_XEN_CMD: "xl",
}
HVC_DEFAULTS: Final[dict[str, dict[str, object]]] = {
    HT_KVM: {
        "kernel_path": "",
        "initrd_path": "",
        "kernel_args": "ro",
        "root_path": "/dev/vda1",
        "acpi": True,
        "serial_console": True,
        "serial_speed": 38400,
        "vnc_bind_address": "",
        "vnc_tls": False,
        "vnc_password_file": "",
        "spice_bind": "",
        "boot_order": "disk",
        "cdrom_image_path": "",
        "nic_type": "paravirtual",
        "disk_type": "paravirtual",
        "disk_cache": "default",
        "disk_aio": "threads",
        "security_model": "none",
        "security_domain": "",
        "kvm_flag": "",
        "vhost_net": False,
        "virtio_net_queues": 1,
        "use_chroot": False,
        "use_localtime": False,
        "cpu_type": "",
        "cpu_mask": "all",
        "cpu_cores": 0,
        "cpu_threads": 0,
        "cpu_sockets": 0,
        "mem_path": "",
        "machine_version": "",
        "kvm_extra": "",
        "keymap": "",
        "usb_mouse": "",
        "reboot_behavior": "reboot",
        "user_shutdown": False,
        "migration_downtime": 30,
        HV_MIGRATION_PORT: 8102,
        HV_MIGRATION_BANDWIDTH: 32,
        HV_MIGRATION_MODE: HT_MIGRATION_LIVE,
    },
    HT_XEN_PVM: {
        **_XEN_COMMON,
        "kernel_path": "/boot/vmlinuz-xenU",
        "initrd_path": "",
        "kernel_args": "ro",
        "root_path": "/dev/xvda1",
        "use_bootloader": False,
        "bootloader_path": "",
        "bootloader_args": "",
        "blockdev_prefix": "sd",
        HV_MIGRATION_MODE: HT_MIGRATION_LIVE,
    },
    HT_XEN_HVM: {
        **_XEN_COMMON,
        "kernel_path": "/usr/lib/xen/boot/hvmloader",
        "device_model": "/usr/lib/xen/bin/qemu-dm",
        "boot_order": "cd",
        "cdrom_image_path": "",
        "nic_type": "rtl8139",
        "disk_type": "paravirtual",
        "vnc_bind_address": "0.0.0.0",
        "vnc_password_file": "",
        "acpi": True,
        "pae": True,
        "use_localtime": False,
        "blockdev_prefix": "hd",
        HV_MIGRATION_MODE: HT_MIGRATION_NONLIVE,
    },
    HT_LXC: {
        "cpu_mask": "",
        "lxc_cgroup_use": "",
        "lxc_devices": "c 1:3 rw,c 1:5 rw,c 1:7 rw,c 1:8 rw,c 1:9 rw,c 5:0 rw,c 5:1 rw,"
        "c 5:2 rw,c 136:* rw",
        "lxc_drop_capabilities": "mac_override,sys_boot,sys_module,sys_time,sys_admin",
        "lxc_extra_cgroups": "",
        "lxc_extra_config": "",
        "lxc_num_ttys": 6,
        "lxc_startup_timeout": 30,
        "reboot_behavior": "reboot",
    },
    HT_FAKE: {
        HV_MIGRATION_MODE: HT_MIGRATION_LIVE,
    },
    HT_CHROOT: {
        "init_script": "/ganeti-chroot",
    },
}

# Disk parameters per template.
DISK_DT_DEFAULTS: Final[dict[str, dict[str, object]]] = {
    DT_PLAIN: {"stripes": 1},
    DT_DRBD8: {
        "resync-rate": 61440,
        "data-stripes": 1,
        "meta-stripes": 1,
        "disk-barriers": "n",
        "meta-barriers": False,
        "metavg": "xenvg",
        "disk-custom": "",
        "net-custom": "",
        "protocol": "C",
        "dynamic-resync": False,
        "c-plan-ahead": 20,
        "c-fill-target": 0,
        "c-delay-target": 1,
        "c-max-rate": 61440,
        "c-min-rate": 4096,
    },
    DT_DISKLESS: {},
    DT_FILE: {},
    DT_SHARED_FILE: {},
    DT_BLOCK: {},
    DT_RBD: {"pool": "rbd", "access": "kernelspace"},
    DT_EXT: {"access": "kernelspace"},
    DT_GLUSTER: {
        "host": "127.0.0.1",
        "port": 24007,
        "volume": "gv0",
        "access": "kernelspace",
    },
}

# Instance policy (keys spelt with dashes, as in config.data).
ISPEC_MEM_SIZE: Final = "memory-size"
ISPEC_CPU_COUNT: Final = "cpu-count"
ISPEC_DISK_COUNT: Final = "disk-count"
ISPEC_DISK_SIZE: Final = "disk-size"
ISPEC_NIC_COUNT: Final = "nic-count"
ISPEC_SPINDLE_USE: Final = "spindle-use"
ISPECS_PARAMETERS: Final = (
    ISPEC_MEM_SIZE,
    ISPEC_CPU_COUNT,
    ISPEC_DISK_COUNT,
    ISPEC_DISK_SIZE,
    ISPEC_NIC_COUNT,
    ISPEC_SPINDLE_USE,
)
ISPECS_MINMAX: Final = "minmax"
ISPECS_MIN: Final = "min"
ISPECS_MAX: Final = "max"
ISPECS_STD: Final = "std"
IPOLICY_DTS: Final = "disk-templates"
IPOLICY_VCPU_RATIO: Final = "vcpu-ratio"
IPOLICY_SPINDLE_RATIO: Final = "spindle-ratio"
IPOLICY_ALL_KEYS: Final = frozenset(
    {ISPECS_MINMAX, ISPECS_STD, IPOLICY_DTS, IPOLICY_VCPU_RATIO, IPOLICY_SPINDLE_RATIO}
)
_ISPEC_MIN: Final[dict[str, int]] = {
    ISPEC_MEM_SIZE: 128,
    ISPEC_CPU_COUNT: 1,
    ISPEC_DISK_COUNT: 1,
    ISPEC_DISK_SIZE: 1024,
    ISPEC_NIC_COUNT: 1,
    ISPEC_SPINDLE_USE: 1,
}
_ISPEC_MAX: Final[dict[str, int]] = {
    ISPEC_MEM_SIZE: 32768,
    ISPEC_CPU_COUNT: 8,
    ISPEC_DISK_COUNT: 16,
    ISPEC_DISK_SIZE: 1024 * 1024,
    ISPEC_NIC_COUNT: 8,
    ISPEC_SPINDLE_USE: 12,
}
IPOLICY_DEFAULTS: Final[dict[str, object]] = {
    ISPECS_MINMAX: [{ISPECS_MIN: dict(_ISPEC_MIN), ISPECS_MAX: dict(_ISPEC_MAX)}],
    ISPECS_STD: dict(_ISPEC_MIN),
    IPOLICY_DTS: list(DISK_TEMPLATES),
    IPOLICY_VCPU_RATIO: 4.0,
    IPOLICY_SPINDLE_RATIO: 32.0,
}

DEFAULT_NODEGROUP_NAME: Final = "default"
DEFAULT_COMPRESSION_TOOLS: Final = ("gzip", "gzip-fast", "gzip-slow")

# --- Job and opcode priorities, opcode parameter enumerations (added with ganeti/opcodes) ---

# Lower number = more important. Clients may only submit OP_PRIO_SUBMIT_VALID; the
# processor raises a waiting opcode's priority towards OP_PRIO_HIGHEST over time.
OP_PRIO_HIGHEST: Final = -20
OP_PRIO_HIGH: Final = -10
OP_PRIO_NORMAL: Final = 0
OP_PRIO_LOW: Final = 10
OP_PRIO_LOWEST: Final = 19
OP_PRIO_DEFAULT: Final = OP_PRIO_NORMAL
OP_PRIO_SUBMIT_VALID: Final = frozenset({OP_PRIO_HIGH, OP_PRIO_NORMAL, OP_PRIO_LOW})

# Final job/opcode statuses a dependency may name in ``depends``.
JOB_STATUS_SUCCESS: Final = "success"
JOB_STATUS_ERROR: Final = "error"
JOB_STATUS_CANCELED: Final = "canceled"
JOBS_FINALIZED_DEP: Final = frozenset({JOB_STATUS_SUCCESS, JOB_STATUS_ERROR, JOB_STATUS_CANCELED})

DEFAULT_SHUTDOWN_TIMEOUT: Final = 120
OOB_TIMEOUT: Final = 60
OOB_POWER_DELAY: Final = 2.0

INSTANCE_CREATE: Final = "create"
INSTANCE_IMPORT: Final = "import"
INSTANCE_REMOTE_IMPORT: Final = "remote-import"
INSTANCE_CREATE_MODES: Final = (INSTANCE_CREATE, INSTANCE_IMPORT, INSTANCE_REMOTE_IMPORT)

REPLACE_DISK_PRI: Final = "replace_on_primary"
REPLACE_DISK_SEC: Final = "replace_on_secondary"
REPLACE_DISK_CHG: Final = "replace_new_secondary"
REPLACE_DISK_AUTO: Final = "replace_auto"
REPLACE_MODES: Final = (REPLACE_DISK_PRI, REPLACE_DISK_SEC, REPLACE_DISK_CHG, REPLACE_DISK_AUTO)

INSTANCE_REBOOT_SOFT: Final = "soft"
INSTANCE_REBOOT_HARD: Final = "hard"
INSTANCE_REBOOT_FULL: Final = "full"
REBOOT_TYPES: Final = (INSTANCE_REBOOT_SOFT, INSTANCE_REBOOT_HARD, INSTANCE_REBOOT_FULL)

HT_MIGRATION_MODES: Final = (HT_MIGRATION_LIVE, HT_MIGRATION_NONLIVE)

NODE_EVAC_PRI: Final = "primary-only"
NODE_EVAC_SEC: Final = "secondary-only"
NODE_EVAC_ALL: Final = "all"
NODE_EVAC_MODES: Final = (NODE_EVAC_PRI, NODE_EVAC_SEC, NODE_EVAC_ALL)

TAG_CLUSTER: Final = "cluster"
TAG_NODE: Final = "node"
TAG_INSTANCE: Final = "instance"
TAG_NODEGROUP: Final = "nodegroup"
TAG_NETWORK: Final = "network"
VALID_TAG_TYPES: Final = (TAG_CLUSTER, TAG_NODE, TAG_INSTANCE, TAG_NODEGROUP, TAG_NETWORK)

ST_LVM_VG: Final = "lvm-vg"
ST_LVM_PV: Final = "lvm-pv"
ST_FILE: Final = "file"
ST_SHARED_FILE: Final = "sharedfile"
ST_GLUSTER: Final = "gluster"
ST_RBD: Final = "rbd"
ST_EXT: Final = "ext"
ST_BLOCK: Final = "blockdev"
ST_DISKLESS: Final = "diskless"
STORAGE_TYPES: Final = (
    ST_LVM_VG,
    ST_LVM_PV,
    ST_FILE,
    ST_SHARED_FILE,
    ST_GLUSTER,
    ST_RBD,
    ST_EXT,
    ST_BLOCK,
    ST_DISKLESS,
)

EXPORT_MODE_LOCAL: Final = "local"
EXPORT_MODE_REMOTE: Final = "remote"
EXPORT_MODES: Final = (EXPORT_MODE_LOCAL, EXPORT_MODE_REMOTE)

FD_LOOP: Final = "loop"
FD_BLKTAP: Final = "blktap"
FD_BLKTAP2: Final = "blktap2"
FILE_DRIVERS: Final = (FD_LOOP, FD_BLKTAP, FD_BLKTAP2)

IALLOCATOR_DIR_IN: Final = "in"
IALLOCATOR_DIR_OUT: Final = "out"
IALLOCATOR_DIRECTIONS: Final = (IALLOCATOR_DIR_IN, IALLOCATOR_DIR_OUT)
IALLOCATOR_MODE_ALLOC: Final = "allocate"
IALLOCATOR_MODE_MULTI_ALLOC: Final = "multi-allocate"
IALLOCATOR_MODE_RELOC: Final = "relocate"
IALLOCATOR_MODE_CHG_GROUP: Final = "change-group"
IALLOCATOR_MODE_NODE_EVAC: Final = "node-evacuate"
IALLOCATOR_MODES: Final = (
    IALLOCATOR_MODE_ALLOC,
    IALLOCATOR_MODE_MULTI_ALLOC,
    IALLOCATOR_MODE_RELOC,
    IALLOCATOR_MODE_CHG_GROUP,
    IALLOCATOR_MODE_NODE_EVAC,
)

OOB_POWER_ON: Final = "power-on"
OOB_POWER_OFF: Final = "power-off"
OOB_POWER_CYCLE: Final = "power-cycle"
OOB_POWER_STATUS: Final = "power-status"
OOB_HEALTH: Final = "health"
OOB_COMMANDS: Final = (OOB_POWER_ON, OOB_POWER_OFF, OOB_POWER_CYCLE, OOB_POWER_STATUS, OOB_HEALTH)

# Resources understood by the query engine (OP_QUERY "what", LUXI Query).
QR_CLUSTER: Final = "cluster"
QR_INSTANCE: Final = "instance"
QR_NODE: Final = "node"
QR_LOCK: Final = "lock"
QR_GROUP: Final = "group"
QR_OS: Final = "os"
QR_JOB: Final = "job"
QR_EXPORT: Final = "export"
QR_EXTSTORAGE: Final = "extstorage"
QR_NETWORK: Final = "network"
QR_FILTER: Final = "filter"
QR_VIA_OP: Final = (
    QR_CLUSTER,
    QR_INSTANCE,
    QR_NODE,
    QR_GROUP,
    QR_OS,
    QR_EXPORT,
    QR_EXTSTORAGE,
    QR_NETWORK,
)
QR_VIA_LUXI: Final = (*QR_VIA_OP, QR_LOCK, QR_JOB, QR_FILTER)

VERIFY_NPLUSONE_MEM: Final = "nplusone_mem"
VERIFY_OPTIONAL_CHECKS: Final = frozenset({VERIFY_NPLUSONE_MEM})

SSHK_RSA: Final = "rsa"
SSHK_DSA: Final = "dsa"
SSHK_ECDSA: Final = "ecdsa"
SSHK_ALL: Final = (SSHK_RSA, SSHK_DSA, SSHK_ECDSA)

IEC_NONE: Final = "none"
DDM_ADD: Final = "add"
DDM_REMOVE: Final = "remove"
DDM_MODIFY: Final = "modify"
DDM_ATTACH: Final = "attach"
DDM_DETACH: Final = "detach"
DDMS_VALUES: Final = (DDM_ADD, DDM_REMOVE, DDM_MODIFY, DDM_ATTACH, DDM_DETACH)

# --- Query engine (ganeti/query): field kinds, per-value result statuses, limits ---
QFT_UNKNOWN: Final = "unknown"
QFT_TEXT: Final = "text"
QFT_BOOL: Final = "bool"
QFT_NUMBER: Final = "number"
QFT_FLOAT: Final = "float"
QFT_UNIT: Final = "unit"  # a size in MiB
QFT_TIMESTAMP: Final = "timestamp"
QFT_OTHER: Final = "other"
QFT_ALL: Final = frozenset(
    {QFT_UNKNOWN, QFT_TEXT, QFT_BOOL, QFT_NUMBER, QFT_FLOAT, QFT_UNIT, QFT_TIMESTAMP, QFT_OTHER}
)

RS_NORMAL: Final = 0  # value present
RS_UNKNOWN: Final = 1  # no such field
RS_NODATA: Final = 2  # live data not collected or the node did not answer
RS_UNAVAIL: Final = 3  # the field makes no sense for this item
RS_OFFLINE: Final = 4  # the item's node is offline
RS_ALL: Final = frozenset({RS_NORMAL, RS_UNKNOWN, RS_NODATA, RS_UNAVAIL, RS_OFFLINE})

# Instance run states reported by the ``status`` field.
INSTST_RUNNING: Final = "running"
INSTST_ADMINDOWN: Final = "ADMIN_down"
INSTST_ADMINOFFLINE: Final = "ADMIN_offline"
INSTST_USERDOWN: Final = "USER_down"
INSTST_ERRORDOWN: Final = "ERROR_down"
INSTST_ERRORUP: Final = "ERROR_up"
INSTST_NODEDOWN: Final = "ERROR_nodedown"
INSTST_NODEOFFLINE: Final = "ERROR_nodeoffline"
INSTST_WRONGNODE: Final = "ERROR_wrongnode"
INSTST_ALL: Final = frozenset(
    {
        INSTST_RUNNING,
        INSTST_ADMINDOWN,
        INSTST_ADMINOFFLINE,
        INSTST_USERDOWN,
        INSTST_ERRORDOWN,
        INSTST_ERRORUP,
        INSTST_NODEDOWN,
        INSTST_NODEOFFLINE,
        INSTST_WRONGNODE,
    }
)

# Per-index query fields (disk.size/N, nic.mac/N) exist for indexes below these.
MAX_NICS: Final = 8
MAX_DISKS: Final = 16
EXPORT_VERSION: Final = 0
