"""gnt-cluster: cluster-wide operations.

init, info, verify, verify-disks, modify, rename, destroy, queue and watcher control, and the tag
commands (add-tags, remove-tags, list-tags, search-tags).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from typing import Any

from ganeti import bootstrap, constants
from ganeti.cli import base, verify_disks
from ganeti.cli.gnt_group import (
    add_ipolicy_opts,
    format_nested,
    ipolicy_from_opts,
    parse_keyval,
    parse_targeted,
)
from ganeti.cli.tags import add_tag_commands, run_op


def cmd_init(opts: argparse.Namespace) -> int:
    paths = base.paths_from_env()
    node_name = opts.node_name or socket.getfqdn()
    node_ip = opts.primary_ip
    if node_ip is None:
        try:
            node_ip = socket.gethostbyname(node_name)
        except OSError:
            raise base.UsageError(
                f"cannot resolve {node_name}; give its address with --primary-ip"
            ) from None
    hypervisors = tuple(h for h in opts.enabled_hypervisors.split(",") if h)
    unknown = [h for h in hypervisors if h not in constants.HYPER_TYPES]
    if unknown:
        raise base.UsageError(f"unknown hypervisor(s): {', '.join(unknown)}")
    templates = tuple(t for t in opts.enabled_disk_templates.split(",") if t)
    params = bootstrap.InitParams(
        cluster_name=opts.cluster_name,
        node_name=node_name,
        node_ip=node_ip,
        master_ip=opts.master_ip or node_ip,
        master_netdev=opts.master_netdev,
        secondary_ip=opts.secondary_ip,
        enabled_hypervisors=hypervisors,
        enabled_disk_templates=templates,
        file_storage_dir=opts.file_storage_dir,
        max_running_jobs=opts.max_running_jobs,
    )
    config = bootstrap.init_cluster(paths, params)
    print(f"Cluster {config.cluster.cluster_name} initialised with master {node_name}.")
    print("Start the node daemon and the master daemon on this node (ganeti.target).")
    return base.EXIT_SUCCESS


def cmd_queue(opts: argparse.Namespace) -> int:
    with base.get_client() as client:
        if opts.action == "drain":
            client.call("SetDrainFlag", True)
        elif opts.action == "undrain":
            client.call("SetDrainFlag", False)
        else:
            [drained] = client.call("QueryConfigValues", ["drain_flag"])
            print(f"The drain flag is {'set' if drained else 'unset'}")
    return base.EXIT_SUCCESS


def cmd_watcher(opts: argparse.Namespace) -> int:
    with base.get_client() as client:
        if opts.action == "pause":
            if opts.duration is None:
                raise base.UsageError("watcher pause needs a duration, e.g. 1h")
            until = time.time() + base.parse_age(opts.duration)
            client.call("SetWatcherPause", until)
            print(f"The watcher is paused until {time.ctime(until)}.")
        elif opts.action == "continue":
            client.call("SetWatcherPause", None)
            print("The watcher is no longer paused.")
        else:
            [until] = client.call("QueryConfigValues", ["watcher_pause"])
            if until and until > time.time():
                print(f"The watcher is paused until {time.ctime(until)}.")
            else:
                print("The watcher is not paused.")
    return base.EXIT_SUCCESS


# --- info -------------------------------------------------------------------------------


def _yes_no(value: Any) -> str:
    return str(bool(value))


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return str(value)


def _time(value: Any) -> str:
    if not isinstance(value, int | float):
        return "(unknown)"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def format_info(info: dict[str, Any]) -> list[str]:
    """``gnt-cluster info`` lines from a QueryClusterInfo result (Ganeti's layout)."""
    arch = info.get("architecture") or ["?", "?"]
    lines = [
        f"Cluster name: {info.get('name')}",
        f"Cluster UUID: {info.get('uuid')}",
        "",
        f"Creation time: {_time(info.get('ctime'))}",
        f"Modification time: {_time(info.get('mtime'))}",
        "",
        f"Master node: {info.get('master')}",
        "",
        f"Architecture (this node): {arch[0]} ({arch[1]})",
        "",
        f"Tags: {_text(sorted(info.get('tags') or []))}",
        f"Default hypervisor: {info.get('default_hypervisor')}",
        f"Enabled hypervisors: {_text(info.get('enabled_hypervisors'))}",
        "",
        "Hypervisor parameters:",
        *format_nested(info.get("hvparams") or {}, 1),
        "",
        "OS-specific hypervisor parameters:",
        *format_nested(info.get("os_hvp") or {}, 1),
        "",
        "OS parameters:",
        *format_nested(info.get("osparams") or {}, 1),
        "",
        f"Hidden OSes: {_text(info.get('hidden_os'))}",
        f"Blacklisted OSes: {_text(info.get('blacklisted_os'))}",
        "",
        "Cluster parameters:",
    ]
    uid_pool = info.get("uid_pool") or []
    params = [
        ("candidate pool size", info.get("candidate_pool_size")),
        ("maximal number of jobs running simultaneously", info.get("max_running_jobs")),
        ("maximal number of jobs tracked in the job queue", info.get("max_tracked_jobs")),
        ("mac prefix", info.get("mac_prefix")),
        ("master netdev", info.get("master_netdev")),
        ("master netmask", info.get("master_netmask")),
        (
            "use external master IP address setup script",
            _yes_no(info.get("use_external_mip_script")),
        ),
        ("lvm volume group", _text(info.get("volume_group_name"))),
        ("lvm reserved volumes", _text(info.get("reserved_lvs"))),
        ("drbd usermode helper", _text(info.get("drbd_usermode_helper"))),
        ("file storage path", info.get("file_storage_dir")),
        ("shared file storage path", info.get("shared_file_storage_dir")),
        ("gluster storage path", info.get("gluster_storage_dir")),
        ("maintenance of node health", _yes_no(info.get("maintain_node_health"))),
        (
            "uid pool",
            ", ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in uid_pool) or "(none)",
        ),
        ("default instance allocator", info.get("default_iallocator") or ""),
        ("default instance allocator parameters", info.get("default_iallocator_params") or {}),
        ("primary ip version", info.get("primary_ip_version")),
        ("preallocation wipe disks", _yes_no(info.get("prealloc_wipe_disks"))),
        ("enabled disk templates", _text(info.get("enabled_disk_templates"))),
        ("install image", info.get("install_image") or ""),
        ("instance communication network", info.get("instance_communication_network") or ""),
        ("zeroing image", info.get("zeroing_image") or ""),
        ("compression tools", _text(info.get("compression_tools"))),
        ("enabled user shutdown", _yes_no(info.get("enabled_user_shutdown"))),
    ]
    lines.extend(f"  {name}: {value}" for name, value in params)
    lines += [
        "",
        "Default node parameters:",
        *format_nested(info.get("ndparams") or {}, 1),
        "",
        "Default instance parameters:",
        *format_nested(info.get("beparams") or {}, 1),
        "",
        "Default nic parameters:",
        *format_nested(info.get("nicparams") or {}, 1),
        "",
        "Default disk parameters:",
        *format_nested(info.get("diskparams") or {}, 1),
        "",
        "Instance policy - limits for instances:",
        *format_nested(info.get("ipolicy") or {}, 1),
        "",
        "Data collectors:",
        *format_nested(
            {
                name: {
                    "active": active,
                    "interval": (info.get("data_collector_interval") or {}).get(name),
                }
                for name, active in (info.get("enabled_data_collectors") or {}).items()
            },
            1,
        ),
    ]
    return lines


def cmd_info(opts: argparse.Namespace) -> int:
    with base.get_client() as client:
        info = client.call("QueryClusterInfo")
    for line in format_info(info):
        print(line)
    return base.EXIT_SUCCESS


# --- verify -------------------------------------------------------------------------------


def cmd_verify(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_CLUSTER_VERIFY",
        "verbose": opts.verbose,
        "error_codes": opts.error_codes,
        "debug_simulate_errors": opts.debug_simulate_errors,
        "ignore_errors": opts.ignore_errors,
        "skip_checks": [constants.VERIFY_NPLUSONE_MEM] if opts.no_nplus1_mem else [],
    }
    if opts.nodegroup:
        op["group_name"] = opts.nodegroup
    op = base.apply_common_op_opts(op, opts)
    with base.get_client() as client:
        job_id = client.submit_job([op])
        if opts.submit:
            print(f"JobID: {job_id}")
            return base.EXIT_SUCCESS
        [result] = base.wait_job(client, job_id)
        # The config job and one job per group (as Ganeti); each returns a bool.  A
        # master of the previous release answered in one job with an "ok" verdict.
        children = result.get("jobs", []) if isinstance(result, dict) else []
        verdict = bool(result.get("ok", True)) if isinstance(result, dict) else bool(result)
        outcomes = base.follow_jobs(client, children, announce=True)
    ok = verdict and all(r is not None and all(bool(x) for x in r) for r in outcomes)
    return base.EXIT_SUCCESS if ok else base.EXIT_FAILURE


# --- modify -------------------------------------------------------------------------------


def _bool_arg(text: str) -> bool:
    low = text.lower()
    if low in ("yes", "true", "y", "1", "on"):
        return True
    if low in ("no", "false", "n", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, not {text!r}")


def _os_mods(text: str, what: str) -> list[list[str]]:
    mods = []
    for item in text.split(","):
        if not item.strip():
            continue
        action, sep, name = item.partition(":")
        if not sep or action not in (constants.DDM_ADD, constants.DDM_REMOVE) or not name:
            raise base.UsageError(f"{what}: expected add:OS or remove:OS, not {item!r}")
        mods.append([action, name])
    return mods


def _uid_ranges(text: str) -> list[list[int]]:
    ranges = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        lo, _, hi = item.partition("-")
        try:
            ranges.append([int(lo), int(hi or lo)])
        except ValueError:
            raise base.UsageError(f"invalid uid range {item!r}") from None
    return ranges


def _list_arg(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def modify_op(opts: argparse.Namespace) -> dict[str, Any]:
    """OP_CLUSTER_SET_PARAMS from the modify options (only the given ones)."""
    op: dict[str, Any] = {"OP_ID": "OP_CLUSTER_SET_PARAMS"}
    for attr in (
        "candidate_pool_size",
        "max_running_jobs",
        "max_tracked_jobs",
        "auto_failover_timeout",
        "mac_prefix",
        "file_storage_dir",
        "shared_file_storage_dir",
        "gluster_storage_dir",
        "default_iallocator",
        "maintain_node_health",
        "prealloc_wipe_disks",
        "vg_name",
        "drbd_helper",
        "master_netdev",
        "master_netmask",
        "use_external_mip_script",
        "install_image",
        "zeroing_image",
        "enabled_user_shutdown",
    ):
        value = getattr(opts, attr)
        if value is not None:
            op[attr] = value
    if opts.enabled_hypervisors is not None:
        op["enabled_hypervisors"] = _list_arg(opts.enabled_hypervisors)
    if opts.enabled_disk_templates is not None:
        op["enabled_disk_templates"] = _list_arg(opts.enabled_disk_templates)
    if opts.compression_tools is not None:
        op["compression_tools"] = _list_arg(opts.compression_tools)
    if opts.reserved_lvs is not None:
        op["reserved_lvs"] = _list_arg(opts.reserved_lvs)
    if opts.hidden_os is not None:
        op["hidden_os"] = _os_mods(opts.hidden_os, "--hidden-os")
    if opts.blacklisted_os is not None:
        op["blacklisted_os"] = _os_mods(opts.blacklisted_os, "--blacklisted-os")
    for attr in ("uid_pool", "add_uids", "remove_uids"):
        value = getattr(opts, attr)
        if value is not None:
            op[attr] = _uid_ranges(value)
    if opts.hypervisor_parameters:
        op["hvparams"] = parse_targeted(opts.hypervisor_parameters, "hypervisor parameter")
    if opts.backend_parameters is not None:
        op["beparams"] = parse_keyval(opts.backend_parameters, "backend parameter")
    if opts.nic_parameters is not None:
        op["nicparams"] = parse_keyval(opts.nic_parameters, "NIC parameter")
    if opts.node_parameters is not None:
        op["ndparams"] = parse_keyval(opts.node_parameters, "node parameter")
    if opts.disk_parameters:
        op["diskparams"] = parse_targeted(opts.disk_parameters, "disk parameter")
    ipolicy = ipolicy_from_opts(opts)
    if ipolicy is not None:
        op["ipolicy"] = ipolicy
    if len(op) == 1:
        raise base.UsageError("Please give at least one of the parameters.")
    return base.apply_common_op_opts(op, opts)


def cmd_modify(opts: argparse.Namespace) -> int:
    return base.submit_or_wait([modify_op(opts)], opts)


# --- rename / destroy ---------------------------------------------------------------------


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} y/[n]: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_rename(opts: argparse.Namespace) -> int:
    if not opts.force and not _confirm(f"This will rename the cluster to '{opts.name}'. Continue?"):
        raise base.UsageError("Not renaming the cluster (use --force to skip the question)")
    op = base.apply_common_op_opts({"OP_ID": "OP_CLUSTER_RENAME", "name": opts.name}, opts)
    if opts.submit:
        return base.submit_or_wait([op], opts)
    new_name = run_op(op, opts)
    print(f"Cluster renamed to {new_name}.")
    return base.EXIT_SUCCESS


def cmd_destroy(opts: argparse.Namespace) -> int:
    if not opts.yes_do_it:
        print(
            "Destroying a cluster is irreversible. If you really want to destroy this "
            "cluster, supply the --yes-do-it option.",
            file=sys.stderr,
        )
        return base.EXIT_FAILURE
    master = run_op({"OP_ID": "OP_CLUSTER_DESTROY"}, opts)
    print(f"Cluster destroyed; the master node {master} leaves the cluster and stops.")
    return base.EXIT_SUCCESS


def _add_modify_opts(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--candidate-pool-size", type=int, default=None, help="number of master candidates")
    a("--max-running-jobs", type=int, default=None, help="jobs running at the same time")
    a("--max-tracked-jobs", type=int, default=None, help="jobs tracked in memory")
    a(
        "--auto-failover-timeout",
        type=float,
        default=None,
        help="seconds the master may be unreachable before a candidate takes over "
        "automatically (a majority of nodes must agree); 0 disables (the default)",
    )
    a("--enabled-hypervisors", default=None, help="comma-separated, the first is the default")
    a("-H", "--hypervisor-parameters", action="append", default=[], metavar="HV:PARAMS")
    a("-B", "--backend-parameters", default=None, metavar="PARAMS")
    a("-N", "--nic-parameters", default=None, metavar="PARAMS")
    a("--node-parameters", default=None, metavar="PARAMS")
    a("-D", "--disk-parameters", action="append", default=[], metavar="TEMPLATE:PARAMS")
    add_ipolicy_opts(p)
    a("--mac-prefix", default=None, help="prefix of generated MACs, e.g. aa:00:00")
    a("--file-storage-dir", default=None)
    a("--shared-file-storage-dir", default=None)
    a("--gluster-storage-dir", default=None)
    a("-I", "--default-iallocator", default=None, help="default allocator ('' for none)")
    a("--reserved-lvs", default=None, help="comma-separated regexps of LVs to ignore")
    a("--hidden-os", default=None, help="add:OS,remove:OS,...")
    a("--blacklisted-os", default=None, help="add:OS,remove:OS,...")
    a("--maintain-node-health", type=_bool_arg, default=None, metavar="yes|no")
    a("--prealloc-wipe-disks", type=_bool_arg, default=None, metavar="yes|no")
    a("-g", "--vg-name", dest="vg_name", default=None, help="volume group ('' disables LVM)")
    a("--drbd-usermode-helper", dest="drbd_helper", default=None)
    a("--master-netdev", default=None)
    a("--master-netmask", type=int, default=None)
    a("--use-external-mip-script", type=_bool_arg, default=None, metavar="yes|no")
    a("--enabled-disk-templates", default=None, help="comma-separated")
    a("--uid-pool", default=None, help="user-id ranges, e.g. 1000-1999,3000")
    a("--add-uids", default=None)
    a("--remove-uids", default=None)
    a("--install-image", default=None)
    a("--zeroing-image", default=None)
    a("--compression-tools", default=None, help="comma-separated, must include gzip")
    a("--user-shutdown", dest="enabled_user_shutdown", type=_bool_arg, default=None)


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-cluster", description="Cluster administration.")
    sub = p.add_subparsers(metavar="COMMAND")
    init = sub.add_parser("init", help="create a new cluster with this node as master")
    init.add_argument("cluster_name", metavar="CLUSTER_NAME")
    init.add_argument("--node-name", default=None, help="this node's name (default: FQDN)")
    init.add_argument("--primary-ip", default=None, help="this node's primary IP")
    init.add_argument("--master-ip", default=None, help="master IP (default: the primary IP)")
    init.add_argument("-s", "--secondary-ip", default=None, help="secondary (replication) IP")
    init.add_argument("--master-netdev", default="lo", help="interface for the master IP")
    init.add_argument(
        "--enabled-hypervisors", default=constants.HT_FAKE, help="comma-separated list"
    )
    init.add_argument(
        "--enabled-disk-templates", default="file,diskless", help="comma-separated list"
    )
    init.add_argument("--file-storage-dir", default="/srv/ganeti/file-storage")
    init.add_argument("--max-running-jobs", type=int, default=constants.DEFAULT_MAX_RUNNING_JOBS)
    init.set_defaults(func=cmd_init)

    queue = sub.add_parser("queue", help="drain, undrain or show the job queue")
    queue.add_argument("action", choices=["drain", "undrain", "info"])
    queue.set_defaults(func=cmd_queue)
    watcher = sub.add_parser("watcher", help="pause, continue or show the watcher")
    watcher.add_argument("action", choices=["pause", "continue", "info"])
    watcher.add_argument("duration", nargs="?", default=None, help="for pause: e.g. 30m, 1h")
    watcher.set_defaults(func=cmd_watcher)

    info = sub.add_parser("info", help="show the cluster configuration")
    info.add_argument("--roman", action="store_true", help="ignored (Ganeti compatibility)")
    info.set_defaults(func=cmd_info)

    verify = sub.add_parser("verify", help="check the configuration and the nodes")
    verify.add_argument("--verbose", "-v", action="store_true")
    verify.add_argument(
        "--error-codes", action="store_true", help="machine-readable ERROR:CODE:type:item:msg"
    )
    verify.add_argument(
        "-I",
        "--ignore-errors",
        action="append",
        default=[],
        metavar="ECODE",
        help="report this error code as a warning (repeatable)",
    )
    verify.add_argument("--debug-simulate-errors", action="store_true")
    verify.add_argument("--no-nplus1-mem", action="store_true", help="skip the N+1 check")
    verify.add_argument(
        "-g", "--node-group", dest="nodegroup", default=None, help="only this group"
    )
    base.add_submit_opts(verify)
    verify.set_defaults(func=cmd_verify)
    verify_disks.add_parser(sub)

    modify = sub.add_parser("modify", help="change cluster parameters")
    _add_modify_opts(modify)
    base.add_submit_opts(modify)
    modify.set_defaults(func=cmd_modify)

    rename = sub.add_parser("rename", help="rename the cluster")
    rename.add_argument("name", metavar="NEW_NAME")
    rename.add_argument("-f", "--force", action="store_true", help="don't ask")
    base.add_submit_opts(rename)
    rename.set_defaults(func=cmd_rename)

    destroy = sub.add_parser("destroy", help="destroy the cluster (only the master left)")
    destroy.add_argument("--yes-do-it", action="store_true", help="really destroy it")
    destroy.set_defaults(func=cmd_destroy)

    failover = sub.add_parser(
        "master-failover", help="make this node (a master candidate) the master"
    )
    failover.add_argument(
        "--no-voting",
        action="store_true",
        help="don't ask the other nodes (needs --yes-do-it; for clusters without a majority)",
    )
    failover.add_argument("--yes-do-it", action="store_true", help="confirm --no-voting")
    failover.add_argument(
        "--force", action="store_true", help="take over even with an older configuration"
    )
    failover.add_argument(
        "--noded-port",
        type=int,
        default=int(os.environ.get("GANETI_NODED_PORT", constants.DEFAULT_NODED_PORT)),
        help="port of the node daemons (default $GANETI_NODED_PORT or 1811)",
    )
    failover.set_defaults(func=cmd_master_failover)

    redist = sub.add_parser("redist-conf", help="push config, ssconf and cluster files again")
    base.add_submit_opts(redist)
    redist.set_defaults(func=cmd_redist_conf)

    renew = sub.add_parser("renew-crypto", help="renew certificates and keys")
    renew.add_argument("--new-node-certificates", action="store_true")
    renew.add_argument("--new-rapi-certificate", action="store_true")
    renew.add_argument("--new-confd-hmac-key", action="store_true")
    renew.add_argument("--new-cluster-domain-secret", action="store_true")
    renew.add_argument("--new-cluster-certificate", action="store_true")
    renew.add_argument("-f", "--force", action="store_true", help="don't ask for confirmation")
    base.add_submit_opts(renew)
    renew.set_defaults(func=cmd_renew_crypto)

    add_tag_commands(sub, "cluster", search=True)
    return p


def cmd_redist_conf(opts: argparse.Namespace) -> int:
    op = base.apply_common_op_opts({"OP_ID": "OP_CLUSTER_REDIST_CONF"}, opts)
    return base.submit_or_wait([op], opts)


def cmd_renew_crypto(opts: argparse.Namespace) -> int:
    from ganeti import tls

    if opts.new_cluster_certificate:
        raise base.UsageError(
            "--new-cluster-certificate is not supported yet: every node would need the new "
            "cluster certificate at the same moment; renew node certificates instead"
        )
    if not (
        opts.new_node_certificates
        or opts.new_rapi_certificate
        or opts.new_confd_hmac_key
        or opts.new_cluster_domain_secret
    ):
        raise base.UsageError("nothing to renew; see gnt-cluster renew-crypto --help")
    paths = base.paths_from_env()
    ops: list[dict[str, Any]] = []
    if opts.new_rapi_certificate or opts.new_confd_hmac_key or opts.new_cluster_domain_secret:
        # Written here on the master, then distributed by redist-conf.
        if opts.new_rapi_certificate:
            name = paths.ssconf("cluster_name").read_text().strip()
            ip = paths.ssconf("master_ip").read_text().strip()
            tls.create_server_certificate([name, ip]).save(paths.rapi_pem, 0o400)
            print("New RAPI certificate written; restart ganeti-rapi to use it")
        if opts.new_confd_hmac_key:
            tls.write_secret_file(paths.hmac_key, tls.generate_hmac_key(), 0o400)
            print("New confd HMAC key written")
        if opts.new_cluster_domain_secret:
            tls.write_secret_file(paths.cluster_domain_secret, tls.generate_hmac_key(), 0o400)
            print("New cluster domain secret written")
        ops.append({"OP_ID": "OP_CLUSTER_REDIST_CONF"})
    if opts.new_node_certificates:
        ops.insert(0, {"OP_ID": "OP_CLUSTER_RENEW_CRYPTO", "node_certificates": True})
    return base.submit_or_wait([base.apply_common_op_opts(op, opts) for op in ops], opts)


def cmd_master_failover(opts: argparse.Namespace) -> int:
    from ganeti.daemon import run_with_reactor
    from ganeti.masterd.failover import FailoverOptions, make_rpc, master_failover

    if opts.no_voting and not opts.yes_do_it:
        raise base.UsageError(
            "--no-voting needs --yes-do-it: with a running old master this splits the cluster"
        )
    paths = base.paths_from_env()
    fopts = FailoverOptions(no_voting=opts.no_voting, force=opts.force, port=opts.noded_port)

    async def go(reactor: Any) -> None:
        rpc = make_rpc(paths, reactor, opts.noded_port)
        old = await master_failover(paths, rpc, reactor, fopts)
        print(f"Master role moved from {old}; the master daemon starts on this node.")

    run_with_reactor(go)
    return base.EXIT_SUCCESS


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-cluster", build, argv)
