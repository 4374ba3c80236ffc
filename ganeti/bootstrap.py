"""Creating a cluster on its first node: configuration, key material, ssconf, queue.

This is what ``gnt-cluster init`` does before any daemon runs.  Everything is written
under one root, so a test or the demo can initialise a cluster in a scratch directory.
"""

from __future__ import annotations

import time
from pathlib import Path

import attrs

from ganeti import constants, errors, tls
from ganeti.config.bootstrap import bootstrap_config
from ganeti.config.ssconf import ssconf_values, write_ssconf_files
from ganeti.config.store import ConfigStore
from ganeti.fileutils import write_file_atomic
from ganeti.objects import ConfigData
from ganeti.paths import Paths


@attrs.frozen
class InitParams:
    cluster_name: str
    node_name: str
    node_ip: str
    master_ip: str
    master_netdev: str = "lo"
    secondary_ip: str | None = None
    enabled_hypervisors: tuple[str, ...] = (constants.HT_FAKE,)
    enabled_disk_templates: tuple[str, ...] = (constants.DT_FILE, constants.DT_DISKLESS)
    file_storage_dir: str = "/srv/ganeti/file-storage"
    shared_file_storage_dir: str = "/srv/ganeti/shared-file-storage"
    volume_group_name: str | None = None
    candidate_pool_size: int = constants.DEFAULT_CANDIDATE_POOL_SIZE
    max_running_jobs: int = constants.DEFAULT_MAX_RUNNING_JOBS


def init_cluster(paths: Paths, params: InitParams, now: float | None = None) -> ConfigData:
    """Write a new one-node cluster below ``paths.root``; refuses to overwrite one."""
    if paths.config_data.exists():
        raise errors.OpPrereqError(
            f"a cluster configuration already exists at {paths.config_data}; "
            "destroy that cluster first",
            errors.ECODE_STATE,
        )
    now = time.time() if now is None else now
    config = bootstrap_config(
        cluster_name=params.cluster_name,
        master_name=params.node_name,
        master_ip=params.master_ip,
        node_ip=params.node_ip,
        secondary_ip=params.secondary_ip,
        now=now,
        master_netdev=params.master_netdev,
        enabled_hypervisors=params.enabled_hypervisors,
        enabled_disk_templates=params.enabled_disk_templates,
        file_storage_dir=params.file_storage_dir,
        shared_file_storage_dir=params.shared_file_storage_dir,
        volume_group_name=params.volume_group_name,
        candidate_pool_size=params.candidate_pool_size,
    )
    config.cluster.max_running_jobs = params.max_running_jobs
    master = config.nodes[config.cluster.master_node]

    paths.ensure_dirs()
    cluster_cert = tls.create_cluster_certificate(params.cluster_name)
    cluster_cert.save(paths.server_pem, 0o400)
    client = tls.create_node_certificate(cluster_cert, master.name, master.uuid)
    client.save(paths.client_pem, 0o400)
    tls.create_server_certificate([params.cluster_name, params.master_ip]).save(
        paths.rapi_pem, 0o400
    )
    tls.write_secret_file(paths.hmac_key, tls.generate_hmac_key(), 0o400)
    tls.write_secret_file(paths.cluster_domain_secret, tls.generate_hmac_key(), 0o400)
    config.cluster.candidate_certs = {master.uuid: tls.cert_digest(client.cert)}

    # The node-local list of allowed storage directories: the administrator may edit it
    # later; it is never distributed by the master.
    _allow_storage_dirs(paths, [params.file_storage_dir, params.shared_file_storage_dir])
    for d in (params.file_storage_dir, params.shared_file_storage_dir):
        paths.from_virtual(d).mkdir(parents=True, exist_ok=True)

    ConfigStore(paths.config_data).save(config)
    write_ssconf_files(paths, ssconf_values(config))
    init_queue(paths)
    write_file_atomic(node_name_file(paths), f"{params.node_name}\n".encode(), mode=0o644)
    return config


def _allow_storage_dirs(paths: Paths, dirs: list[str]) -> None:
    existing: list[str] = []
    if paths.file_storage_paths.exists():
        existing = paths.file_storage_paths.read_text().splitlines()
    lines = existing + [d for d in dirs if d not in existing]
    write_file_atomic(paths.file_storage_paths, ("\n".join(lines) + "\n").encode(), mode=0o644)


def init_queue(paths: Paths) -> None:
    """An empty job queue: version file and serial 0 (idempotent)."""
    paths.queue_dir.mkdir(parents=True, exist_ok=True)
    paths.queue_archive_dir.mkdir(parents=True, exist_ok=True)
    if not paths.queue_version.exists():
        write_file_atomic(
            paths.queue_version, f"{constants.JOB_QUEUE_VERSION}\n".encode(), mode=0o600
        )
    if not paths.queue_serial.exists():
        write_file_atomic(paths.queue_serial, b"0\n", mode=0o600)


def node_name_file(paths: Paths) -> Path:
    """Where a node records its own name (several nodes may share one host name)."""
    return paths.data_dir / "node-name"
