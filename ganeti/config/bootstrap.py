"""A fresh configuration for a new cluster (what ``gnt-cluster init`` writes first)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from ganeti import constants, errors
from ganeti.objects import Cluster, ConfigData, Node, NodeGroup, fill_dict, new_uuid


def bootstrap_config(
    *,
    cluster_name: str,
    master_name: str,
    master_ip: str,
    node_ip: str,
    now: float,
    master_netdev: str = "eth0",
    master_netmask: int | None = None,
    secondary_ip: str | None = None,
    enabled_hypervisors: Sequence[str] = (constants.HT_KVM,),
    enabled_disk_templates: Sequence[str] = (
        constants.DT_DRBD8,
        constants.DT_PLAIN,
        constants.DT_FILE,
        constants.DT_DISKLESS,
    ),
    file_storage_dir: str = "/srv/ganeti/file-storage",
    shared_file_storage_dir: str = "/srv/ganeti/shared-file-storage",
    gluster_storage_dir: str = "/var/run/ganeti/gluster",
    volume_group_name: str | None = "xenvg",
    mac_prefix: str = constants.DEFAULT_MAC_PREFIX,
    candidate_pool_size: int = constants.DEFAULT_CANDIDATE_POOL_SIZE,
    default_bridge: str = constants.DEFAULT_BRIDGE,
) -> ConfigData:
    """A valid one-node cluster: the master in group ``default``, defaults filled in.

    Cluster-level parameter dicts hold complete defaults (as Ganeti writes them), so an
    operator sees every value with ``gnt-cluster info``.
    """
    try:
        family = (
            constants.IP4_FAMILY
            if ipaddress.ip_address(master_ip).version == 4
            else constants.IP6_FAMILY
        )
    except ValueError as exc:
        raise errors.OpPrereqError(f"invalid master IP {master_ip!r}") from exc
    if master_netmask is None:
        master_netmask = 32 if family == constants.IP4_FAMILY else 128
    for hv in enabled_hypervisors:
        if hv not in constants.HYPER_TYPES:
            raise errors.OpPrereqError(f"unknown hypervisor {hv!r}")
    group = NodeGroup(uuid=new_uuid(), name=constants.DEFAULT_NODEGROUP_NAME, ctime=now, mtime=now)
    master = Node(
        uuid=new_uuid(),
        name=master_name,
        primary_ip=node_ip,
        secondary_ip=secondary_ip or node_ip,
        group=group.uuid,
        master_candidate=True,
        master_capable=True,
        vm_capable=True,
        ctime=now,
        mtime=now,
    )
    cluster = Cluster(
        cluster_name=cluster_name,
        uuid=new_uuid(),
        ctime=now,
        mtime=now,
        master_node=master.uuid,
        master_ip=master_ip,
        master_netdev=master_netdev,
        master_netmask=master_netmask,
        primary_ip_family=family,
        mac_prefix=mac_prefix,
        volume_group_name=volume_group_name,
        file_storage_dir=file_storage_dir,
        shared_file_storage_dir=shared_file_storage_dir,
        gluster_storage_dir=gluster_storage_dir,
        enabled_hypervisors=list(enabled_hypervisors),
        enabled_disk_templates=list(enabled_disk_templates),
        hvparams={hv: fill_dict(constants.HVC_DEFAULTS[hv], {}) for hv in enabled_hypervisors},
        beparams={constants.PP_DEFAULT: fill_dict(constants.BEC_DEFAULTS, {})},
        nicparams={
            constants.PP_DEFAULT: fill_dict(
                constants.NICC_DEFAULTS, {constants.NIC_LINK: default_bridge}
            )
        },
        ndparams=fill_dict(constants.NDC_DEFAULTS, {}),
        diskparams={dt: fill_dict(p, {}) for dt, p in constants.DISK_DT_DEFAULTS.items()},
        ipolicy=fill_dict(constants.IPOLICY_DEFAULTS, {}),
        candidate_pool_size=candidate_pool_size,
    )
    config = ConfigData(
        cluster=cluster,
        ctime=now,
        mtime=now,
        nodes={master.uuid: master},
        nodegroups={group.uuid: group},
    )
    problems = config.verify()
    if problems:
        raise errors.OpPrereqError("invalid bootstrap parameters: " + "; ".join(problems))
    return config
