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
