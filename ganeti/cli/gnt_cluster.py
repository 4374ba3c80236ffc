"""gnt-cluster: cluster-wide operations (init, queue and watcher control for now)."""

from __future__ import annotations

import argparse
import socket
import time

from ganeti import bootstrap, constants
from ganeti.cli import base


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
    return p


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-cluster", build, argv)
