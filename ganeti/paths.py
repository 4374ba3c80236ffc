"""Every file location, derived from one root directory.

A production node uses the root ``/``.  Tests, the demo and several nodes sharing one
machine each get their own root, so nothing in the package may build a path by hand:
it asks a :class:`Paths`.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

ROOT_ENV = "GANETI_ROOT"

# ssconf keys a node accepts (the list is closed, as in Ganeti).
SSCONF_KEYS: tuple[str, ...] = (
    "cluster_name",
    "cluster_tags",
    "enabled_user_shutdown",
    "file_storage_dir",
    "shared_file_storage_dir",
    "gluster_storage_dir",
    "hypervisor_list",
    "hvparams_kvm",
    "hvparams_xen-pvm",
    "hvparams_xen-hvm",
    "hvparams_lxc",
    "hvparams_fake",
    "hvparams_chroot",
    "instance_list",
    "maintain_node_health",
    "master_candidates",
    "master_candidates_ips",
    "master_candidates_certs",
    "master_ip",
    "master_netdev",
    "master_netmask",
    "master_node",
    "networks",
    "nodegroups",
    "node_list",
    "node_primary_ips",
    "node_secondary_ips",
    "node_vm_capable",
    "offline_nodes",
    "online_nodes",
    "primary_ip_family",
    "release_version",
    "ssh_ports",
    "uid_pool",
)


def default_root() -> Path:
    """The root from ``GANETI_ROOT``, else ``/``."""
    return Path(os.environ.get(ROOT_ENV) or "/")


@attrs.frozen
class Paths:
    """Locations below ``root``; attribute names follow Ganeti's pathutils where they exist."""

    root: Path = attrs.field(converter=Path, factory=default_root)

    # Top-level directories.
    @property
    def data_dir(self) -> Path:
        return self.root / "var/lib/ganeti"

    @property
    def run_dir(self) -> Path:
        return self.root / "var/run/ganeti"

    @property
    def log_dir(self) -> Path:
        return self.root / "var/log/ganeti"

    @property
    def conf_dir(self) -> Path:
        return self.root / "etc/ganeti"

    @property
    def lock_dir(self) -> Path:
        return self.root / "var/lock"

    @property
    def socket_dir(self) -> Path:
        return self.run_dir / "socket"

    # Configuration and ssconf.
    @property
    def config_data(self) -> Path:
        return self.data_dir / "config.data"

    def ssconf(self, key: str) -> Path:
        return self.data_dir / f"ssconf_{key}"

    @property
    def ssconf_lock(self) -> Path:
        return self.lock_dir / "ganeti-ssconf.lock"

    # Key material.
    @property
    def server_pem(self) -> Path:
        return self.data_dir / "server.pem"

    @property
    def client_pem(self) -> Path:
        return self.data_dir / "client.pem"

    @property
    def client_previous_pem(self) -> Path:
        """The client certificate replaced by the last renewal (see renew-crypto)."""
        return self.data_dir / "client-previous.pem"

    @property
    def rapi_pem(self) -> Path:
        return self.data_dir / "rapi.pem"

    @property
    def spice_pem(self) -> Path:
        return self.data_dir / "spice.pem"

    @property
    def spice_ca_pem(self) -> Path:
        return self.data_dir / "spice-ca.pem"

    @property
    def hmac_key(self) -> Path:
        return self.data_dir / "hmac.key"

    @property
    def cluster_domain_secret(self) -> Path:
        return self.data_dir / "cluster-domain-secret"

    @property
    def known_hosts(self) -> Path:
        return self.data_dir / "known_hosts"

    @property
    def rapi_users(self) -> Path:
        return self.data_dir / "rapi/users"

    @property
    def vnc_password(self) -> Path:
        return self.conf_dir / "vnc-cluster-password"

    @property
    def etc_hosts(self) -> Path:
        return self.root / "etc/hosts"

    # Job queue.
    @property
    def queue_dir(self) -> Path:
        return self.data_dir / "queue"

    @property
    def queue_archive_dir(self) -> Path:
        return self.queue_dir / "archive"

    @property
    def queue_serial(self) -> Path:
        return self.queue_dir / "serial"

    @property
    def queue_version(self) -> Path:
        return self.queue_dir / "version"

    @property
    def queue_drain(self) -> Path:
        return self.queue_dir / "drain"

    @property
    def queue_lock(self) -> Path:
        return self.queue_dir / "lock"

    def job_file(self, job_id: int) -> Path:
        return self.queue_dir / f"job-{job_id}"

    def archived_job_file(self, job_id: int) -> Path:
        return self.queue_archive_dir / str(job_id // 10000) / f"job-{job_id}"

    # Sockets.
    @property
    def luxi_socket(self) -> Path:
        return self.run_dir / "master.sock"

    @property
    def masterd_pid(self) -> Path:
        return self.run_dir / "ganeti-masterd.pid"

    # Watcher and node-local state.
    @property
    def watcher_pause(self) -> Path:
        return self.data_dir / "watcher.pause"

    @property
    def instance_status(self) -> Path:
        return self.data_dir / "instance-status"

    @property
    def boot_id(self) -> Path:
        """A node's boot id; outside a real root this is the kernel's."""
        return Path("/proc/sys/kernel/random/boot_id")

    # Storage and OS.
    @property
    def file_storage_paths(self) -> Path:
        """Node-local list of directories file storage may use; never uploadable."""
        return self.conf_dir / "file-storage-paths"

    @property
    def default_file_storage_dir(self) -> Path:
        return self.root / "srv/ganeti/file-storage"

    @property
    def default_shared_file_storage_dir(self) -> Path:
        return self.root / "srv/ganeti/shared-file-storage"

    @property
    def export_dir(self) -> Path:
        return self.root / "srv/ganeti/export"

    @property
    def os_search_path(self) -> list[Path]:
        return [self.root / "srv/ganeti/os", self.root / "usr/share/ganeti/os"]

    @property
    def hooks_dir(self) -> Path:
        return self.conf_dir / "hooks"

    @property
    def os_log_dir(self) -> Path:
        return self.log_dir / "os"

    # Daemon logs.
    def daemon_log(self, daemon: str) -> Path:
        return self.log_dir / f"{daemon}.log"

    # Upload whitelist (spec: config.data, /etc/hosts, known_hosts, vnc password, rapi.pem,
    # spice certificates, rapi users, hmac.key, cluster-domain-secret).
    def upload_whitelist(self) -> frozenset[Path]:
        return frozenset(
            {
                self.config_data,
                self.etc_hosts,
                self.known_hosts,
                self.vnc_password,
                self.rapi_pem,
                self.spice_pem,
                self.spice_ca_pem,
                self.rapi_users,
                self.hmac_key,
                self.cluster_domain_secret,
            }
        )

    def virtual_path(self, path: Path) -> str:
        """The root-independent form of ``path`` used on the wire (``/var/lib/...``)."""
        rel = Path(path).relative_to(self.root)
        return "/" + rel.as_posix()

    def from_virtual(self, virtual: str) -> Path:
        """Map a wire path (``/var/lib/ganeti/...``) below this root.

        Raises ValueError for relative paths and for any ``..`` component, so a peer can
        never name a file outside the tree by traversal.
        """
        if not virtual.startswith("/"):
            raise ValueError(f"path {virtual!r} is not absolute")
        parts = virtual.split("/")
        if any(p in ("..", ".") for p in parts):
            raise ValueError(f"path {virtual!r} contains '.' or '..' components")
        return self.root / virtual.lstrip("/")

    def ensure_dirs(self) -> None:
        """Create the directory tree a node needs (idempotent)."""
        for d, mode in (
            (self.data_dir, 0o755),
            (self.data_dir / "rapi", 0o750),
            (self.run_dir, 0o775),
            (self.socket_dir, 0o750),
            (self.log_dir, 0o750),
            (self.os_log_dir, 0o750),
            (self.conf_dir, 0o755),
            (self.lock_dir, 0o755),
            (self.queue_dir, 0o700),
            (self.queue_archive_dir, 0o700),
        ):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, mode)
