"""Fields of the ``cluster`` resource: one item, the cluster itself.

Backs LUXI ``QueryClusterInfo`` (every key of RAPI's ``/2/info``, :data:`INFO_KEYS`) and
``QueryConfigValues`` (any of these fields).
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable
from typing import Any

from ganeti import constants as C
from ganeti.objects import Cluster, fill_dict
from ganeti.query.base import NODATA, UNAVAIL, FieldDef, FieldTable, QueryData

Get = Callable[[QueryData, Cluster], Any]


def _master_name(qd: QueryData, cl: Cluster) -> Any:
    node = qd.config.nodes.get(cl.master_node)
    return node.name if node is not None else UNAVAIL


def _hvparams(_qd: QueryData, cl: Cluster) -> dict[str, Any]:
    hvs = list(dict.fromkeys([*cl.enabled_hypervisors, *cl.hvparams]))
    return {hv: cl.fill_hv(hv) for hv in hvs}


@functools.cache
def architecture() -> tuple[str, str]:
    """The master's ``(bits, machine)``, computed once.

    ``platform.architecture()`` runs ``file`` on the interpreter (a fork and exec, about
    1-3 ms): the answer cannot change while the process runs.
    """
    return platform.architecture()[0], platform.machine()


def _architecture(_qd: QueryData, _cl: Cluster) -> list[str]:
    return list(architecture())


def _attr(name: str) -> Get:
    return lambda _qd, cl: getattr(cl, name)


_T, _B, _N, _O, _S = C.QFT_TEXT, C.QFT_BOOL, C.QFT_NUMBER, C.QFT_OTHER, C.QFT_TIMESTAMP

# (name, kind, doc, getter); plain attribute copies use _attr.
# fmt: off
_TABLE: list[tuple[str, str, str, Get]] = [
    ("software_version", _T, "Software version", lambda _qd, _cl: C.RELEASE_VERSION),
    ("protocol_version", _N, "LUXI/RPC protocol version",
     lambda _qd, _cl: C.PROTOCOL_VERSION),
    ("config_version", _N, "Configuration format version", lambda _qd, _cl: C.CONFIG_VERSION),
    ("os_api_version", _N, "Highest OS API version", lambda _qd, _cl: C.OS_API_VERSION),
    ("export_version", _N, "Export format version", lambda _qd, _cl: C.EXPORT_VERSION),
    ("vcs_version", _T, "Version control description of the build",
     lambda _qd, _cl: f"(ganeti) version v{C.RELEASE_VERSION}"),
    ("architecture", _O, "Master's [bits, machine]", _architecture),
    ("name", _T, "Cluster name", _attr("cluster_name")),
    ("master", _T, "Master node name", _master_name),
    ("default_hypervisor", _T, "Default hypervisor", lambda _qd, cl: cl.default_hypervisor),
    ("enabled_hypervisors", _O, "Enabled hypervisors", _attr("enabled_hypervisors")),
    ("hvparams", _O, "Hypervisor parameters (filled)", _hvparams),
    ("os_hvp", _O, "Per-OS hypervisor parameters", _attr("os_hvp")),
    ("beparams", _O, "Backend parameters (filled)",
     lambda _qd, cl: {C.PP_DEFAULT: cl.fill_be()}),
    ("osparams", _O, "OS parameters", _attr("osparams")),
    ("ipolicy", _O, "Instance policy (filled)", lambda _qd, cl: cl.cluster_ipolicy()),
    ("nicparams", _O, "NIC parameters (filled)",
     lambda _qd, cl: {C.PP_DEFAULT: cl.fill_nic({})}),
    ("ndparams", _O, "Node parameters (filled)",
     lambda _qd, cl: fill_dict(C.NDC_DEFAULTS, cl.ndparams)),
    ("diskparams", _O, "Disk parameters per template (filled)",
     lambda _qd, cl: {dt: cl.fill_disk_params(dt) for dt in C.DISK_TEMPLATES}),
    ("candidate_pool_size", _N, "Wanted number of master candidates",
     _attr("candidate_pool_size")),
    ("max_running_jobs", _N, "Maximum number of running jobs", _attr("max_running_jobs")),
    ("max_tracked_jobs", _N, "Maximum number of tracked jobs", _attr("max_tracked_jobs")),
    ("mac_prefix", _T, "MAC address prefix", _attr("mac_prefix")),
    ("master_netdev", _T, "Master network device", _attr("master_netdev")),
    ("master_netmask", _N, "Master IP prefix length", _attr("master_netmask")),
    ("master_ip", _T, "Master IP address", _attr("master_ip")),
    ("use_external_mip_script", _B, "Whether an external master IP script is used",
     _attr("use_external_mip_script")),
    ("volume_group_name", _T, "LVM volume group", _attr("volume_group_name")),
    ("drbd_usermode_helper", _T, "DRBD usermode helper", _attr("drbd_usermode_helper")),
    ("file_storage_dir", _T, "File storage directory", _attr("file_storage_dir")),
    ("shared_file_storage_dir", _T, "Shared file storage directory",
     _attr("shared_file_storage_dir")),
    ("gluster_storage_dir", _T, "Gluster storage directory", _attr("gluster_storage_dir")),
    ("maintain_node_health", _B, "Whether node health is maintained",
     _attr("maintain_node_health")),
    ("ctime", _S, "Creation timestamp", _attr("ctime")),
    ("mtime", _S, "Modification timestamp", _attr("mtime")),
    ("uuid", _T, "Cluster UUID", _attr("uuid")),
    ("serial_no", _N, "Cluster serial number", _attr("serial_no")),
    ("tags", _O, "Cluster tags (sorted)", lambda _qd, cl: sorted(cl.tags)),
    ("uid_pool", _O, "User-id pool ranges", _attr("uid_pool")),
    ("default_iallocator", _T, "Default instance allocator", _attr("default_iallocator")),
    ("default_iallocator_params", _O, "Default allocator parameters",
     _attr("default_iallocator_params")),
    ("reserved_lvs", _O, "Logical volumes ignored by verify", _attr("reserved_lvs")),
    ("primary_ip_version", _N, "IP version of the primary network (4 or 6)",
     lambda _qd, cl: 6 if cl.primary_ip_family == C.IP6_FAMILY else 4),
    ("prealloc_wipe_disks", _B, "Whether new disks are wiped", _attr("prealloc_wipe_disks")),
    ("hidden_os", _O, "Hidden OS definitions", _attr("hidden_os")),
    ("blacklisted_os", _O, "Blacklisted OS definitions", _attr("blacklisted_os")),
    ("enabled_disk_templates", _O, "Enabled disk templates", _attr("enabled_disk_templates")),
    ("install_image", _T, "Installation image", _attr("install_image")),
    ("instance_communication_network", _T, "Instance communication network",
     _attr("instance_communication_network")),
    ("zeroing_image", _T, "Disk zeroing image", _attr("zeroing_image")),
    ("compression_tools", _O, "Allowed compression tools", _attr("compression_tools")),
    ("enabled_user_shutdown", _B, "Whether user shutdown is enabled",
     _attr("enabled_user_shutdown")),
    ("enabled_data_collectors", _O, "Data collector name -> active",
     lambda _qd, cl: {k: bool(v.get("active", True)) for k, v in cl.data_collectors.items()}),
    ("data_collector_interval", _O, "Data collector name -> interval (microseconds)",
     lambda _qd, cl: {k: v.get("interval") for k, v in cl.data_collectors.items()}),
    ("modify_etc_hosts", _B, "Whether /etc/hosts is maintained", _attr("modify_etc_hosts")),
    ("modify_ssh_setup", _B, "Whether the SSH setup is maintained", _attr("modify_ssh_setup")),
    ("ssh_key_type", _T, "SSH key type", _attr("ssh_key_type")),
    ("ssh_key_bits", _N, "SSH key size", _attr("ssh_key_bits")),
    ("drain_flag", _B, "Whether the job queue is drained",
     lambda qd, _cl: NODATA if qd.ctx.drain_flag is None else qd.ctx.drain_flag),
    ("watcher_pause", _S, "Time the watcher is paused until (null: not paused)",
     lambda qd, _cl: qd.ctx.watcher_pause),
]
# fmt: on

# Keys of RAPI's /2/info, in its order (spec §1.6).
INFO_KEYS: tuple[str, ...] = tuple(
    name
    for name, *_ in _TABLE
    if name not in ("master_ip", "serial_no", "modify_etc_hosts", "drain_flag", "watcher_pause")
)

FIELDS = FieldTable(
    (FieldDef(name, name, kind, doc, getter) for name, kind, doc, getter in _TABLE),
    aliases={"cluster_name": "name", "master_node": "master"},
)

# Fields derived from the configuration alone (the row cache reuses them while the
# cluster object and its serial are unchanged; node renames and master changes bump it).
CONFIG_FIELDS: frozenset[str] = frozenset(FIELDS) - {"drain_flag", "watcher_pause"}


def row_deps(_qd: QueryData, _cl: Cluster) -> tuple[()]:
    return ()
