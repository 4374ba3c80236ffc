"""The table of node RPC procedures: name, arguments, timeout class.

Both sides use it: the client for timeouts, argument checking and offline handling,
the node daemon to know which names exist.  A procedure listed here but not implemented
by a node daemon yet answers 404 like an unknown one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from ganeti import constants as C

# A timeout is a number of seconds or a function of the call's arguments.
Timeout = int | Callable[[list[object]], float]


@attrs.frozen
class Procedure:
    name: str
    args: tuple[str, ...]
    timeout: Timeout = C.RPC_TMO_NORMAL
    # Offline nodes are contacted only by procedures that say so (version, powercycle).
    offline_ok: bool = False
    doc: str = ""

    def timeout_for(self, args: list[object]) -> float:
        if callable(self.timeout):
            return float(self.timeout(args))
        return float(self.timeout)


def _delay_timeout(args: list[object]) -> float:
    duration = args[0] if args else 0
    return float(duration) + 5.0 if isinstance(duration, int | float) else C.RPC_TMO_URGENT


_U, _F, _N, _S = C.RPC_TMO_URGENT, C.RPC_TMO_FAST, C.RPC_TMO_NORMAL, C.RPC_TMO_SLOW
_4H, _1D = C.RPC_TMO_4HRS, C.RPC_TMO_1DAY

_TABLE: tuple[Procedure, ...] = (
    # Node / cluster.
    Procedure("version", (), _U, offline_ok=True, doc="protocol version number"),
    Procedure("node_info", ("storage_units", "hv_specs"), _U, doc="boot id, storage, hv info"),
    Procedure("master_node_name", (), _U, doc="the node's belief of the master's name"),
    Procedure("test_delay", ("duration",), _delay_timeout, doc="sleep for duration seconds"),
    Procedure("node_leave_cluster", ("modify_ssh_setup",), _N, doc="wipe cluster files, stop"),
    Procedure("node_verify", ("checkdict", "cluster_name", "hvparams"), _N),
    Procedure("node_verify_light", ("checkdict", "cluster_name", "hvparams"), _N),
    Procedure("node_demote_from_mc", (), _F),
    Procedure("node_crypto_tokens", ("requests",), _S),
    # Not in Ganeti: the serial of a node's config replica, compared at failover.
    Procedure("node_config_serial", (), _U),
    # Not in Ganeti: can this node reach the master (automatic failover majority)?
    Procedure("node_master_reachable", (), _U),
    Procedure("node_powercycle", ("hypervisor", "hvparams"), _N, offline_ok=True),
    Procedure("node_start_master_daemons", ("no_voting",), _F),
    Procedure("node_stop_master", (), _F),
    Procedure("node_has_ip_address", ("address",), _U),
    Procedure("get_watcher_pause", (), _U),
    Procedure("set_watcher_pause", ("until",), _U),
    # Replication of config, ssconf and queue.
    Procedure(
        "upload_file",
        ("file_name", "data", "mode", "uid", "gid", "atime", "mtime"),
        _N,
        doc="write a whitelisted file atomically",
    ),
    Procedure("write_ssconf_files", ("values",), _F, doc="replace the ssconf files"),
    Procedure("jobqueue_update", ("file_name", "content"), _U, doc="write a queue file"),
    Procedure("jobqueue_rename", ("rename",), _U, doc="rename queue files (archive)"),
    Procedure("jobqueue_purge", (), _N),
    Procedure("jobqueue_set_drain_flag", ("flag",), _U, doc="create or remove queue/drain"),
    # Instances and hypervisors (implemented by the instances issue).
    Procedure("instance_start", ("instance", "startup_paused", "reason"), _N),
    Procedure("instance_shutdown", ("instance", "timeout", "reason"), _N),
    Procedure("instance_reboot", ("instance", "reboot_type", "shutdown_timeout", "reason"), _N),
    Procedure("instance_info", ("instance", "hname", "hvparams"), _U),
    Procedure("all_instances_info", ("hypervisor_list", "all_hvparams"), _U),
    Procedure("instance_list", ("hypervisor_list", "all_hvparams"), _U),
    Procedure("instance_console_info", ("instance_info",), _U),
    Procedure("instance_os_add", ("instance", "reinstall", "debug"), _1D),
    Procedure("instance_run_rename", ("instance", "old_name", "debug"), _S),
    Procedure("instance_balloon_memory", ("instance", "memory"), _N),
    Procedure("instance_migratable", ("instance",), _N),
    Procedure("migration_info", ("instance",), _N),
    Procedure("accept_instance", ("instance", "info", "target"), _N),
    Procedure("instance_migrate", ("cluster_name", "instance", "target", "live"), _S),
    Procedure("instance_finalize_migration_src", ("instance", "success", "live"), _S),
    Procedure("instance_finalize_migration_dst", ("instance", "info", "success"), _S),
    Procedure("instance_get_migration_status", ("instance",), _S),
    Procedure("hypervisor_validate_params", ("hvname", "hvparams"), _U),
    # Block devices and storage.
    Procedure(
        "blockdev_create",
        ("bdev", "size", "owner", "on_primary", "info", "exclusive_storage"),
        _N,
    ),
    Procedure("blockdev_remove", ("bdev",), _N),
    Procedure("blockdev_assemble", ("disk", "instance", "on_primary", "idx"), _N),
    Procedure("blockdev_shutdown", ("disk",), _N),
    Procedure("blockdev_find", ("disk",), _F),
    Procedure("blockdev_getmirrorstatus", ("disks",), _N),
    Procedure("blockdev_grow", ("cf_bdev", "amount", "dryrun", "backingstore", "es_flag"), _N),
    Procedure("blockdev_rename", ("devlist",), _N),
    Procedure("blockdev_wipe", ("bdev", "offset", "size"), _S),
    Procedure("bdev_sizes", ("devices",), _U),
    Procedure("lv_list", ("vg_name",), _U),
    Procedure("vg_list", (), _U),
    Procedure("storage_list", ("su_name", "su_args", "name", "fields"), _N),
    Procedure("storage_modify", ("su_name", "su_args", "name", "changes"), _N),
    Procedure("storage_execute", ("su_name", "su_args", "name", "op"), _N),
    Procedure("file_storage_dir_create", ("file_storage_dir",), _F),
    Procedure("file_storage_dir_remove", ("file_storage_dir",), _F),
    Procedure("file_storage_dir_rename", ("old_file_storage_dir", "new_file_storage_dir"), _F),
    Procedure("drbd_disconnect_net", ("disks",), _N),
    Procedure("drbd_attach_net", ("disks", "multimaster"), _N),
    Procedure("drbd_wait_sync", ("disks",), _S),
    Procedure("drbd_needs_activation", ("disks",), _N),
    Procedure("blockdev_addchildren", ("bdev", "ndevs"), _N),
    Procedure("blockdev_removechildren", ("bdev", "ndevs"), _N),
    Procedure("blockdev_close", ("instance_name", "disks"), _N),
    # OS, hooks, allocator.
    Procedure("os_diagnose", (), _F),
    Procedure("os_validate", ("required", "name", "checks", "params", "force_variant"), _F),
    Procedure("os_export", ("instance", "override_env"), _F),
    Procedure("hooks_runner", ("hpath", "phase", "env"), _N),
    Procedure("iallocator_runner", ("name", "idata", "default_iallocator_params"), _N),
    # Import/export.
    Procedure("export_list", (), _F),
    Procedure("export_remove", ("export",), _F),
    Procedure("export_info", ("path",), _F),
    Procedure("finalize_export", ("instance", "snap_disks"), _N),
    # Disk transfers between node daemons over TLS (ganeti/noded/transfer.py).
    Procedure("import_start", ("opts", "instance", "component", "dest"), _F),
    Procedure("export_start", ("opts", "host", "port", "instance", "component", "source"), _F),
    Procedure("impexp_status", ("names",), _F),
    Procedure("impexp_abort", ("name",), _F),
    Procedure("impexp_cleanup", ("name",), _F),
)

PROCEDURES: Mapping[str, Procedure] = {p.name: p for p in _TABLE}


def get(name: str) -> Procedure:
    try:
        return PROCEDURES[name]
    except KeyError:
        raise KeyError(f"unknown RPC procedure {name!r}") from None
