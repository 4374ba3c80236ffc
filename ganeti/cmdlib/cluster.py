"""Cluster-wide logical units that need no node access: ``OP_CLUSTER_QUERY``."""

from __future__ import annotations

import platform
from typing import Any

from ganeti import constants
from ganeti.cmdlib.base import Feedback, LogicalUnit, register


def _architecture() -> list[str]:
    return [platform.architecture()[0], platform.machine()]


@register
class LUClusterQuery(LogicalUnit):
    """Cluster information in the key set of RAPI ``/2/info`` (``gnt-cluster info``)."""

    OP_ID = "OP_CLUSTER_QUERY"
    REQ_BGL = False

    async def exec(self, feedback: Feedback) -> Any:
        cluster = self.cfg.get_cluster()
        master = self.cfg.get_master_node()
        return {
            "software_version": constants.RELEASE_VERSION,
            "protocol_version": constants.PROTOCOL_VERSION,
            "config_version": constants.CONFIG_VERSION,
            "os_api_version": max(constants.OS_API_VERSIONS),
            "export_version": constants.EXPORT_VERSION,
            "vcs_version": constants.RELEASE_VERSION,
            "architecture": _architecture(),
            "name": cluster.cluster_name,
            "master": master.name,
            "default_hypervisor": cluster.default_hypervisor,
            "enabled_hypervisors": list(cluster.enabled_hypervisors),
            "hvparams": {hv: cluster.fill_hv(hv) for hv in cluster.enabled_hypervisors},
            "os_hvp": cluster.os_hvp,
            "beparams": cluster.beparams,
            "osparams": cluster.osparams,
            "ipolicy": cluster.ipolicy,
            "nicparams": cluster.nicparams,
            "ndparams": cluster.ndparams,
            "diskparams": cluster.diskparams,
            "candidate_pool_size": cluster.candidate_pool_size,
            "max_running_jobs": cluster.max_running_jobs,
            "max_tracked_jobs": cluster.max_tracked_jobs,
            "mac_prefix": cluster.mac_prefix,
            "master_netdev": cluster.master_netdev,
            "master_netmask": cluster.master_netmask,
            "use_external_mip_script": cluster.use_external_mip_script,
            "volume_group_name": cluster.volume_group_name,
            "drbd_usermode_helper": cluster.drbd_usermode_helper,
            "file_storage_dir": cluster.file_storage_dir,
            "shared_file_storage_dir": cluster.shared_file_storage_dir,
            "gluster_storage_dir": cluster.gluster_storage_dir,
            "maintain_node_health": cluster.maintain_node_health,
            "ctime": cluster.ctime,
            "mtime": cluster.mtime,
            "uuid": cluster.uuid,
            "tags": sorted(cluster.tags),
            "uid_pool": cluster.uid_pool,
            "default_iallocator": cluster.default_iallocator,
            "default_iallocator_params": cluster.default_iallocator_params,
            "reserved_lvs": cluster.reserved_lvs,
            "primary_ip_version": 6 if cluster.primary_ip_family == constants.IP6_FAMILY else 4,
            "prealloc_wipe_disks": cluster.prealloc_wipe_disks,
            "hidden_os": cluster.hidden_os,
            "blacklisted_os": cluster.blacklisted_os,
            "enabled_disk_templates": list(cluster.enabled_disk_templates),
            "install_image": cluster.install_image,
            "instance_communication_network": cluster.instance_communication_network,
            "zeroing_image": cluster.zeroing_image,
            "compression_tools": cluster.compression_tools,
            "enabled_user_shutdown": cluster.enabled_user_shutdown,
            "enabled_data_collectors": {
                name: bool(params.get("active", True))
                for name, params in cluster.data_collectors.items()
            },
            "data_collector_interval": {
                name: params.get("interval")
                for name, params in cluster.data_collectors.items()
                if "interval" in params
            },
            "modify_ssh_setup": cluster.modify_ssh_setup,
            "ssh_key_type": cluster.ssh_key_type,
            "ssh_key_bits": cluster.ssh_key_bits,
        }
