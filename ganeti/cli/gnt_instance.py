"""gnt-instance: create, control, change, inspect and remove instances.

Options follow Ganeti's: ``add -t TEMPLATE -n NODE[:SNODE] -o OS --disk N:size=1G
--net N:mode=bridged,link=br0 -B maxmem=512 -H key=val -O key=val --no-install
--no-start -I ALLOCATOR NAME``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ganeti import constants as C
from ganeti.cli import base
from ganeti.cli.node_moves import add_change_group_command
from ganeti.cli.tags import add_tag_commands

DEFAULT_FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram"]


# --- option parsing -----------------------------------------------------------------


def _value(text: str) -> Any:
    if text.isdigit():
        return int(text)
    lowered = text.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    return text


def key_values(text: str) -> dict[str, Any]:
    """``a=1,b=x`` into a dict (numbers and yes/no converted); ``no_a`` means a=False."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not key:
            raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
        if not sep:
            if key.startswith("no_"):
                out[key[3:]] = False
            elif key.startswith("-"):
                out[key[1:]] = None
            else:
                out[key] = True
            continue
        out[key] = _value(value)
    return out


def hv_params(text: str) -> tuple[str | None, dict[str, Any]]:
    """``-H [hypervisor:]key=val,...``."""
    hv, sep, rest = text.partition(":")
    if sep and "=" not in hv:
        return hv, key_values(rest)
    return None, key_values(text)


def indexed(text: str) -> tuple[str, dict[str, Any]]:
    """``--disk 0:size=1G`` / ``--net add:mode=routed`` / ``--disk 1:remove``."""
    ident, sep, rest = text.partition(":")
    if not sep:
        return ident, {}
    return ident, key_values(rest)


def _size_value(params: dict[str, Any]) -> dict[str, Any]:
    if "size" in params:
        params["size"] = (
            str(params["size"]) if not isinstance(params["size"], int) else params["size"]
        )
    return params


def _ordered(items: list[tuple[str, dict[str, Any]]], what: str) -> list[dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for ident, params in items:
        try:
            idx = int(ident)
        except ValueError:
            raise base.UsageError(f"--{what} needs an index, e.g. --{what} 0:...") from None
        out[idx] = params
    if sorted(out) != list(range(len(out))):
        raise base.UsageError(f"--{what} indices must be 0, 1, 2, ...")
    return [out[i] for i in range(len(out))]


def modifications(items: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
    """``add:...``, ``remove``, ``N:remove``, ``N:add,...``, ``N:key=val`` into
    ``[action, index, params]``."""
    out: list[list[Any]] = []
    for ident, params in items:
        if ident in ("add", "remove"):
            params.pop("remove", None)
            out.append([ident, -1, _size_value(params)])
            continue
        try:
            idx: Any = int(ident)
        except ValueError:
            idx = ident  # by name
        if params.pop("remove", False) is True:
            out.append(["remove", idx, {}])
        elif params.pop("add", False) is True:
            out.append(["add", idx, _size_value(params)])
        else:
            out.append(["modify", idx, params])
    return out


# --- commands -----------------------------------------------------------------------


def cmd_add(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_INSTANCE_CREATE",
        "instance_name": opts.instance,
        "mode": "create",
        "disk_template": opts.disk_template,
        "os_type": opts.os,
        "no_install": opts.no_install,
        "start": not opts.no_start,
        "name_check": opts.name_check,
        "ip_check": opts.ip_check,
        "ignore_ipolicy": opts.ignore_ipolicy,
        "wait_for_sync": opts.wait_for_sync,
    }
    if not opts.os and not opts.no_install:
        raise base.UsageError("give an OS with -o (or --no-install)")
    if opts.os is None:
        op["os_type"] = "noop"
    if opts.node:
        pnode, _, snode = opts.node.partition(":")
        op["pnode"] = pnode
        if snode:
            op["snode"] = snode
    if opts.iallocator:
        op["iallocator"] = opts.iallocator
    if opts.disk and opts.os_size:
        raise base.UsageError("use either --disk or -s/--os-size")
    if opts.os_size:
        disks = [{"size": opts.os_size}]
    else:
        disks = [_size_value(d) for d in _ordered(opts.disk, "disk")]
    if opts.disk_template == "diskless":
        if disks:
            raise base.UsageError("diskless instances take no --disk")
    elif not disks:
        raise base.UsageError("give the disks with --disk N:size=SIZE (or -s SIZE)")
    op["disks"] = disks
    op["nics"] = [] if opts.no_nics else (_ordered(opts.net, "net") or [{}])
    if opts.beparams:
        op["beparams"] = opts.beparams
    if opts.hvparams:
        hv, params = opts.hvparams
        if hv:
            op["hypervisor"] = hv
        op["hvparams"] = params
    if opts.hypervisor:
        op["hypervisor"] = opts.hypervisor
    if opts.osparams:
        op["osparams"] = opts.osparams
    if opts.file_storage_dir:
        op["file_storage_dir"] = opts.file_storage_dir
    if opts.file_driver:
        op["file_driver"] = opts.file_driver
    if opts.tags:
        op["tags"] = [t for t in opts.tags.split(",") if t]
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def _each(opts: argparse.Namespace, make: Any) -> int:
    """One job per instance; submitted together, then followed in order."""
    with base.get_client() as client:
        jobs = []
        for name in opts.instances:
            jobs.append((name, client.submit_job([base.apply_common_op_opts(make(name), opts)])))
        if getattr(opts, "submit", False):
            for _name, job_id in jobs:
                print(f"JobID: {job_id}")
            return base.EXIT_SUCCESS
        failed = 0
        for name, job_id in jobs:
            try:
                base.wait_job(client, job_id)
            except Exception as exc:  # report every instance, fail at the end
                if len(jobs) == 1:
                    raise
                print(f"{name}: {base.format_error(exc)}")
                failed += 1
    return base.EXIT_FAILURE if failed else base.EXIT_SUCCESS


def cmd_remove(opts: argparse.Namespace) -> int:
    op = {
        "OP_ID": "OP_INSTANCE_REMOVE",
        "instance_name": opts.instance,
        "ignore_failures": opts.ignore_failures,
        "shutdown_timeout": opts.shutdown_timeout,
    }
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_startup(opts: argparse.Namespace) -> int:
    def make(name: str) -> dict[str, Any]:
        op: dict[str, Any] = {
            "OP_ID": "OP_INSTANCE_STARTUP",
            "instance_name": name,
            "force": opts.force,
            "no_remember": opts.no_remember,
            "ignore_offline_nodes": opts.ignore_offline,
            "startup_paused": opts.paused,
        }
        if opts.hvparams:
            op["hvparams"] = opts.hvparams[1]
        if opts.beparams:
            op["beparams"] = opts.beparams
        return op

    return _each(opts, make)


def cmd_shutdown(opts: argparse.Namespace) -> int:
    def make(name: str) -> dict[str, Any]:
        op: dict[str, Any] = {
            "OP_ID": "OP_INSTANCE_SHUTDOWN",
            "instance_name": name,
            "timeout": opts.timeout,
            "no_remember": opts.no_remember,
            "ignore_offline_nodes": opts.ignore_offline,
        }
        if opts.admin_state_source:
            op["admin_state_source"] = opts.admin_state_source
        return op

    return _each(opts, make)


def cmd_reboot(opts: argparse.Namespace) -> int:
    return _each(
        opts,
        lambda name: {
            "OP_ID": "OP_INSTANCE_REBOOT",
            "instance_name": name,
            "reboot_type": opts.reboot_type,
            "shutdown_timeout": opts.shutdown_timeout,
            "ignore_secondaries": opts.ignore_secondaries,
        },
    )


def cmd_reinstall(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {"OP_ID": "OP_INSTANCE_REINSTALL", "instance_name": opts.instance}
    if opts.os:
        op["os_type"] = opts.os
    if opts.osparams:
        op["osparams"] = opts.osparams
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_rename(opts: argparse.Namespace) -> int:
    op = {
        "OP_ID": "OP_INSTANCE_RENAME",
        "instance_name": opts.instance,
        "new_name": opts.new_name,
        "name_check": opts.name_check,
        "ip_check": opts.ip_check,
    }
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        if opts.submit:
            print(f"JobID: {job_id}")
            return base.EXIT_SUCCESS
        [new_name] = base.wait_job(client, job_id)
    print(f"Instance '{opts.instance}' renamed to '{new_name}'")
    return base.EXIT_SUCCESS


def cmd_modify(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": opts.instance}
    if opts.beparams:
        op["beparams"] = opts.beparams
    if opts.hvparams:
        op["hvparams"] = opts.hvparams[1]
    if opts.osparams:
        op["osparams"] = opts.osparams
    if opts.os:
        op["os_name"] = opts.os
    if opts.net:
        op["nics"] = modifications(opts.net)
    if opts.disk:
        op["disks"] = modifications(opts.disk)
    if opts.runtime_memory is not None:
        op["runtime_mem"] = opts.runtime_memory
    if opts.offline is not None:
        op["offline"] = opts.offline
    if len(op) == 2:
        raise base.UsageError("nothing to change; see gnt-instance modify --help")
    op["force"] = opts.force
    op["ignore_ipolicy"] = opts.ignore_ipolicy
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        if opts.submit:
            print(f"JobID: {job_id}")
            return base.EXIT_SUCCESS
        [changes] = base.wait_job(client, job_id)
    if changes:
        print(f"Modified instance {opts.instance}")
        for key, value in changes:
            print(f" - {key} -> {value}")
        print("Please don't forget that most parameters take effect only at the next (re)start")
        print("of the instance initiated by ganeti; restarting from within the instance will")
        print("not be enough.")
    return base.EXIT_SUCCESS


def _size(text: str) -> int:
    mult = {"m": 1, "g": 1024, "t": 1024 * 1024}
    t = text.strip().lower()
    try:
        if t and t[-1] in mult:
            return int(float(t[:-1]) * mult[t[-1]])
        return int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}; use MiB or e.g. 2G") from None


def cmd_grow_disk(opts: argparse.Namespace) -> int:
    op = {
        "OP_ID": "OP_INSTANCE_GROW_DISK",
        "instance_name": opts.instance,
        "disk": opts.disk,
        "amount": opts.amount,
        "absolute": opts.absolute,
        "wait_for_sync": not opts.no_wait_for_sync,
        "ignore_ipolicy": opts.ignore_ipolicy,
    }
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_activate_disks(opts: argparse.Namespace) -> int:
    op = {
        "OP_ID": "OP_INSTANCE_ACTIVATE_DISKS",
        "instance_name": opts.instance,
        "ignore_size": opts.ignore_size,
    }
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        if opts.submit:
            print(f"JobID: {job_id}")
            return base.EXIT_SUCCESS
        [disks] = base.wait_job(client, job_id)
    for node, iv_name, path in disks:
        print(f"{node}:{iv_name}:{path}")
    return base.EXIT_SUCCESS


def cmd_deactivate_disks(opts: argparse.Namespace) -> int:
    op = {
        "OP_ID": "OP_INSTANCE_DEACTIVATE_DISKS",
        "instance_name": opts.instance,
        "force": opts.force,
    }
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_recreate_disks(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {"OP_ID": "OP_INSTANCE_RECREATE_DISKS", "instance_name": opts.instance}
    disks: list[Any] = []
    for ident, params in opts.disk:
        try:
            idx = int(ident)
        except ValueError:
            raise base.UsageError("--disk needs an index: --disk N[:size=SIZE]") from None
        disks.append([idx, _size_value(params)] if params else idx)
    if disks:
        if all(isinstance(d, int) for d in disks):
            op["disks"] = disks
        else:
            op["disks"] = [d if isinstance(d, list) else [d, {}] for d in disks]
    if opts.node:
        op["nodes"] = [n for n in opts.node.split(":") if n]
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_migrate(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_INSTANCE_MIGRATE",
        "instance_name": opts.instance,
        "cleanup": opts.cleanup,
        "allow_failover": opts.allow_failover,
        "ignore_ipolicy": opts.ignore_ipolicy,
        "ignore_hvversions": opts.ignore_hvversions,
        "allow_runtime_changes": not opts.no_runtime_changes,
    }
    if opts.storage_copy:
        op["storage_copy"] = True
    if opts.non_live:
        op["mode"] = "non-live"
    elif opts.migration_mode:
        op["mode"] = opts.migration_mode
    if opts.node:
        op["target_node"] = opts.node
    if opts.iallocator:
        op["iallocator"] = opts.iallocator
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_replace_disks(opts: argparse.Namespace) -> int:
    if opts.new_secondary or opts.iallocator:
        mode = C.REPLACE_DISK_CHG
    elif opts.on_primary:
        mode = C.REPLACE_DISK_PRI
    elif opts.on_secondary:
        mode = C.REPLACE_DISK_SEC
    elif opts.auto:
        mode = C.REPLACE_DISK_AUTO
    else:
        raise base.UsageError("give one of -p, -s, -n NODE, -I ALLOCATOR or -a")
    op: dict[str, Any] = {
        "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
        "instance_name": opts.instance,
        "mode": mode,
        "early_release": opts.early_release,
        "ignore_ipolicy": opts.ignore_ipolicy,
    }
    if opts.disks:
        try:
            op["disks"] = [int(d) for d in opts.disks.split(",") if d]
        except ValueError:
            raise base.UsageError("--disks takes disk indexes, e.g. --disks 0,2") from None
    if opts.new_secondary:
        op["remote_node"] = opts.new_secondary
    if opts.iallocator:
        op["iallocator"] = opts.iallocator
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_failover(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_INSTANCE_FAILOVER",
        "instance_name": opts.instance,
        "ignore_consistency": opts.ignore_consistency,
        "shutdown_timeout": opts.shutdown_timeout,
        "ignore_ipolicy": opts.ignore_ipolicy,
    }
    if opts.node:
        op["target_node"] = opts.node
    if opts.iallocator:
        op["iallocator"] = opts.iallocator
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_move(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_INSTANCE_MOVE",
        "instance_name": opts.instance,
        "target_node": opts.node,
        "shutdown_timeout": opts.shutdown_timeout,
        "ignore_consistency": opts.ignore_consistency,
        "ignore_ipolicy": opts.ignore_ipolicy,
        "compress": opts.compress,
    }
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_list(opts: argparse.Namespace) -> int:
    fields = base.select_fields(opts.output, DEFAULT_FIELDS)
    qfilter = base.parse_qfilter(opts.qfilter)
    if opts.instances:
        names = ["|", *(["=", "name", n] for n in opts.instances)]
        qfilter = ["&", qfilter, names] if qfilter else names
    with base.get_client() as client:
        result = client.query("instance", fields, qfilter)
    return base.print_query_table(result, opts)


def _fmt_params(title: str, actual: dict[str, Any], custom: dict[str, Any]) -> list[str]:
    lines = [f"    {title}:"]
    for key in sorted(actual):
        value = actual[key]
        shown = value if key in custom else f"default ({value})"
        lines.append(f"      {key}: {shown}")
    return lines


def cmd_info(opts: argparse.Namespace) -> int:
    op = {
        "OP_ID": "OP_INSTANCE_QUERY_DATA",
        "instances": opts.instances,
        "static": opts.static,
        "use_locking": False,
    }
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        [data] = base.wait_job(client, job_id, feedback=lambda _line: None)
    for name in sorted(data):
        info = data[name]
        run = info["run_state"] if info["run_state"] is not None else "(static data only)"
        print(f"Instance name: {info['name']}")
        print(f"UUID: {info['uuid']}")
        print(f"Serial number: {info['serial_no']}")
        print(f"Creation time: {base.format_value(info['ctime'], 'timestamp', None)}")
        print(f"Modification time: {base.format_value(info['mtime'], 'timestamp', None)}")
        print(f"State: configured to be {info['config_state']}", end="")
        if info["admin_state_source"] == "user":
            print(" (by the user)", end="")
        print(f", actual state is {run}")
        print("  Nodes:")
        print(f"    - primary: {info['pnode']}")
        print(f"    - secondaries: {', '.join(info['snodes']) or ''}")
        print(f"  Operating system: {info['os']}")
        print(f"  Disk template: {info['disk_template']}")
        print(f"  Hypervisor: {info['hypervisor']}")
        if info["oper_ram"] is not None:
            print(f"  Running memory: {info['oper_ram']}M, vCPUs: {info['oper_vcpus']}")
        for line in _fmt_params("Hypervisor parameters", info["hv_actual"], info["hv_instance"]):
            print(line)
        for line in _fmt_params("Back-end parameters", info["be_actual"], info["be_instance"]):
            print(line)
        if info["os_actual"]:
            for line in _fmt_params("OS parameters", info["os_actual"], info["os_instance"]):
                print(line)
        print("  NICs:")
        for idx, nic in enumerate(info["nics"]):
            nic_name, uuid, mac, ip, mode, link, vlan, network, _ = nic
            print(f"    - nic/{idx}: ")
            print(f"      MAC: {mac}")
            print(f"      IP: {ip}")
            print(f"      mode: {mode}")
            print(f"      link: {link}")
            if vlan:
                print(f"      vlan: {vlan}")
            print(f"      network: {network}")
            print(f"      UUID: {uuid}")
            print(f"      name: {nic_name}")
        print("  Disks:")
        for disk in info["disks"]:
            print(
                f"    - {disk['iv_name']}: {disk['dev_type']}, "
                f"size {base.format_unit(disk['size'], 'h')}"
            )
            print(f"      access mode: {disk['mode']}")
            if disk["logical_id"]:
                print(f"      logical_id: {':'.join(str(x) for x in disk['logical_id'])}")
            status = disk["pstatus"]
            if status is None and info["run_state"] is not None:
                print("      on primary: (missing)")
            elif status is not None:
                print(f"      on primary: {describe_dev_status(status)}")
            if disk.get("sstatus") is not None:
                print(f"      on secondary: {describe_dev_status(disk['sstatus'])}")
            print(f"      UUID: {disk['uuid']}")
            print(f"      name: {disk['name']}")
        if info["tags"]:
            print(f"  Tags: {', '.join(info['tags'])}")
    return base.EXIT_SUCCESS


def describe_dev_status(status: dict[str, Any]) -> str:
    """``/dev/drbd0 (147:0) 45.20% done, degraded, local disk unknown``, as Ganeti's info."""
    text = str(status.get("dev_path"))
    if status.get("major") is None:
        return text
    text += f" ({status['major']}:{status.get('minor')})"
    pct = status.get("sync_percent")
    parts = ["in sync" if pct is None else f"{float(pct):.2f}% done"]
    if status.get("is_degraded"):
        parts.append("degraded")
    parts.append(f"local disk {status.get('ldisk_status')}")
    return f"{text} {', '.join(parts)}"


def describe_console(name: str, console: dict[str, Any]) -> str:
    kind = console.get("kind")
    if kind == "ssh":
        command = " ".join(str(c) for c in console.get("command") or [])
        host = console.get("host")
        user = console.get("user") or "root"
        return f"Connect to the console of {name} with: ssh -t {user}@{host} {command}".rstrip()
    if kind == "vnc":
        return (
            f"Instance {name} has VNC listening on {console.get('host')}:{console.get('port')} "
            f"(display {console.get('display')})"
        )
    if kind == "spice":
        return f"Instance {name} has SPICE listening on {console.get('host')}:{console.get('port')}"
    if kind == "message":
        return str(console.get("message"))
    return f"Console of {name}: {console}"


def cmd_console(opts: argparse.Namespace) -> int:
    op = {"OP_ID": "OP_INSTANCE_CONSOLE", "instance_name": opts.instance}
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        [console] = base.wait_job(client, job_id, feedback=lambda _line: None)
    if opts.show_cmd and console.get("kind") == "ssh":
        print(
            " ".join(
                [
                    "ssh",
                    "-t",
                    f"{console.get('user') or 'root'}@{console.get('host')}",
                    *[str(c) for c in console.get("command") or []],
                ]
            )
        )
    else:
        print(describe_console(opts.instance, console))
    return base.EXIT_SUCCESS


# --- parser -----------------------------------------------------------------------------


def _param_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-B",
        "--backend-parameters",
        dest="beparams",
        type=key_values,
        default=None,
        metavar="K=V,...",
        help="backend parameters (maxmem, minmem, vcpus, ...)",
    )
    p.add_argument(
        "-H",
        "--hypervisor-parameters",
        dest="hvparams",
        type=hv_params,
        default=None,
        metavar="[HV:]K=V,...",
        help="hypervisor parameters",
    )


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-instance", description="Manage instances.")
    sub = p.add_subparsers(metavar="COMMAND")

    add = sub.add_parser("add", help="create an instance")
    add.add_argument("instance", metavar="INSTANCE")
    add.add_argument(
        "-t",
        "--disk-template",
        default=None,
        help="diskless, file, sharedfile, plain or drbd (drbd: -n PNODE:SNODE)",
    )
    add.add_argument("-n", "--node", default=None, metavar="NODE[:SNODE]")
    add.add_argument("-I", "--iallocator", default=None, help="allocator (default: built-in)")
    add.add_argument("-o", "--os-type", dest="os", default=None, metavar="OS[+VARIANT]")
    add.add_argument(
        "--disk",
        action="append",
        type=indexed,
        default=[],
        metavar="N:size=SIZE[,mode=rw|ro,name=NAME,vg=VG]",
    )
    add.add_argument("-s", "--os-size", default=None, help="size of the only disk")
    add.add_argument(
        "--net",
        action="append",
        type=indexed,
        default=[],
        metavar="N:[mac=MAC,ip=IP,mode=M,link=L,name=NAME,network=NET]",
    )
    add.add_argument("--no-nics", action="store_true", help="create the instance without NICs")
    _param_opts(add)
    add.add_argument("--hypervisor", default=None)
    add.add_argument(
        "-O", "--os-parameters", dest="osparams", type=key_values, default=None, metavar="K=V,..."
    )
    add.add_argument("--no-install", action="store_true", help="don't run the OS create script")
    add.add_argument("--no-start", action="store_true", help="don't start the instance")
    add.add_argument(
        "--no-wait-for-sync",
        dest="wait_for_sync",
        action="store_false",
        help="drbd: don't wait for the new mirrors to synchronise",
    )
    add.add_argument("--no-name-check", dest="name_check", action="store_false")
    add.add_argument("--no-ip-check", dest="ip_check", action="store_false")
    add.add_argument("--ignore-ipolicy", action="store_true")
    add.add_argument("--file-storage-dir", default=None, help="subdirectory for file disks")
    add.add_argument("--file-driver", default=None, choices=["loop", "blktap", "blktap2"])
    add.add_argument("--tags", default=None, metavar="TAG,...")
    base.add_submit_opts(add)
    add.set_defaults(func=cmd_add)

    rm = sub.add_parser("remove", help="remove an instance and its disks")
    rm.add_argument("instance", metavar="INSTANCE")
    rm.add_argument("-f", "--force", action="store_true", help="don't ask (never asks)")
    rm.add_argument("--ignore-failures", action="store_true")
    rm.add_argument("--shutdown-timeout", type=int, default=120)
    base.add_submit_opts(rm)
    rm.set_defaults(func=cmd_remove)

    for name, func, helptext in (
        ("startup", cmd_startup, "start instances"),
        ("start", cmd_startup, "start instances (alias of startup)"),
    ):
        st = sub.add_parser(name, help=helptext)
        st.add_argument("instances", nargs="+", metavar="INSTANCE")
        st.add_argument("-f", "--force", action="store_true")
        st.add_argument("--no-remember", action="store_true")
        st.add_argument("--ignore-offline", action="store_true")
        st.add_argument("--paused", action="store_true")
        _param_opts(st)
        base.add_submit_opts(st)
        st.set_defaults(func=func)

    for name in ("shutdown", "stop"):
        sh = sub.add_parser(name, help="stop instances")
        sh.add_argument("instances", nargs="+", metavar="INSTANCE")
        sh.add_argument("--timeout", type=int, default=120, help="seconds before a hard stop")
        sh.add_argument("--no-remember", action="store_true")
        sh.add_argument("--ignore-offline", action="store_true")
        sh.add_argument("--admin-state-source", choices=["admin", "user"], default=None)
        base.add_submit_opts(sh)
        sh.set_defaults(func=cmd_shutdown)

    rb = sub.add_parser("reboot", help="reboot instances")
    rb.add_argument("instances", nargs="+", metavar="INSTANCE")
    rb.add_argument(
        "-t", "--type", dest="reboot_type", default="soft", choices=["soft", "hard", "full"]
    )
    rb.add_argument("--shutdown-timeout", type=int, default=120)
    rb.add_argument("--ignore-secondaries", action="store_true")
    base.add_submit_opts(rb)
    rb.set_defaults(func=cmd_reboot)

    ri = sub.add_parser("reinstall", help="reinstall the OS of a stopped instance")
    ri.add_argument("instance", metavar="INSTANCE")
    ri.add_argument("-o", "--os-type", dest="os", default=None)
    ri.add_argument("-O", "--os-parameters", dest="osparams", type=key_values, default=None)
    ri.add_argument("-f", "--force", action="store_true", help="don't ask (never asks)")
    base.add_submit_opts(ri)
    ri.set_defaults(func=cmd_reinstall)

    rn = sub.add_parser("rename", help="rename a stopped instance")
    rn.add_argument("instance", metavar="INSTANCE")
    rn.add_argument("new_name", metavar="NEW_NAME")
    rn.add_argument("--no-name-check", dest="name_check", action="store_false")
    rn.add_argument("--no-ip-check", dest="ip_check", action="store_false")
    base.add_submit_opts(rn)
    rn.set_defaults(func=cmd_rename)

    md = sub.add_parser("modify", help="change an instance's parameters, NICs or disks")
    md.add_argument("instance", metavar="INSTANCE")
    _param_opts(md)
    md.add_argument("-O", "--os-parameters", dest="osparams", type=key_values, default=None)
    md.add_argument("-o", "--os-type", dest="os", default=None)
    md.add_argument(
        "--net", action="append", type=indexed, default=[], metavar="add:PARAMS|N:remove|N:PARAMS"
    )
    md.add_argument(
        "--disk",
        action="append",
        type=indexed,
        default=[],
        metavar="add:size=SIZE|N:remove|N:name=NAME",
    )
    md.add_argument("-m", "--runtime-memory", type=_size, default=None)
    md.add_argument("--offline", dest="offline", action="store_const", const=True, default=None)
    md.add_argument("--online", dest="offline", action="store_const", const=False)
    md.add_argument("-f", "--force", action="store_true")
    md.add_argument("--ignore-ipolicy", action="store_true")
    base.add_submit_opts(md)
    md.set_defaults(func=cmd_modify)

    gd = sub.add_parser("grow-disk", help="grow a disk of an instance")
    gd.add_argument("instance", metavar="INSTANCE")
    gd.add_argument("disk", type=int, metavar="DISK")
    gd.add_argument("amount", type=_size, metavar="AMOUNT")
    gd.add_argument("--absolute", action="store_true", help="AMOUNT is the new size")
    gd.add_argument("--no-wait-for-sync", action="store_true")
    gd.add_argument("--ignore-ipolicy", action="store_true")
    base.add_submit_opts(gd)
    gd.set_defaults(func=cmd_grow_disk)

    ad = sub.add_parser("activate-disks", help="assemble the disks of an instance")
    ad.add_argument("instance", metavar="INSTANCE")
    ad.add_argument("--ignore-size", action="store_true")
    base.add_submit_opts(ad)
    ad.set_defaults(func=cmd_activate_disks)

    dd = sub.add_parser("deactivate-disks", help="shut down the disks of a stopped instance")
    dd.add_argument("instance", metavar="INSTANCE")
    dd.add_argument("-f", "--force", action="store_true", help="even if the instance runs")
    base.add_submit_opts(dd)
    dd.set_defaults(func=cmd_deactivate_disks)

    rd = sub.add_parser("recreate-disks", help="make the disks of a stopped instance anew")
    rd.add_argument("instance", metavar="INSTANCE")
    rd.add_argument("--disk", action="append", type=indexed, default=[], metavar="N[:size=SIZE]")
    rd.add_argument("-n", "--node", default=None, metavar="NODE", help="move the disks there")
    base.add_submit_opts(rd)
    rd.set_defaults(func=cmd_recreate_disks)

    mg = sub.add_parser("migrate", help="move a running instance to another node (live)")
    mg.add_argument("instance", metavar="INSTANCE")
    mg.add_argument("-n", "--target-node", dest="node", default=None, metavar="NODE")
    mg.add_argument("-I", "--iallocator", default=None, help="allocator choosing the target")
    mg.add_argument("--cleanup", action="store_true", help="recover from a failed migration")
    mg.add_argument("--non-live", action="store_true", help="pause the instance while moving")
    mg.add_argument("--migration-mode", choices=["live", "non-live"], default=None)
    mg.add_argument(
        "--allow-failover", action="store_true", help="fail over if it cannot be migrated"
    )
    mg.add_argument("--no-runtime-changes", action="store_true", help="never balloon memory")
    mg.add_argument("--ignore-ipolicy", action="store_true")
    mg.add_argument("--ignore-hvversions", action="store_true")
    mg.add_argument(
        "--storage-copy",
        action="store_true",
        help="copy node-local ('file') disks to the target during the migration",
    )
    mg.add_argument("-f", "--force", action="store_true", help="don't ask (never asks)")
    base.add_submit_opts(mg)
    mg.set_defaults(func=cmd_migrate)

    rp = sub.add_parser("replace-disks", help="rebuild one side of a drbd instance's disks")
    rp.add_argument("instance", metavar="INSTANCE")
    mode = rp.add_mutually_exclusive_group()
    mode.add_argument(
        "-p", "--on-primary", action="store_true", help="new volumes on the primary node"
    )
    mode.add_argument(
        "-s", "--on-secondary", action="store_true", help="new volumes on the secondary node"
    )
    mode.add_argument(
        "-n", "--new-secondary", default=None, metavar="NODE", help="move the secondary to NODE"
    )
    mode.add_argument(
        "-I", "--iallocator", default=None, help="allocator choosing the new secondary"
    )
    mode.add_argument(
        "-a", "--auto", action="store_true", help="replace the disks found faulty, on either node"
    )
    rp.add_argument("--disks", default=None, metavar="IDX,...", help="only these disks (-p/-s)")
    rp.add_argument(
        "--early-release", action="store_true", help="remove old storage before the resync ends"
    )
    rp.add_argument("--ignore-ipolicy", action="store_true")
    base.add_submit_opts(rp)
    rp.set_defaults(func=cmd_replace_disks)

    fo = sub.add_parser("failover", help="stop an instance and start it on another node")
    fo.add_argument("instance", metavar="INSTANCE")
    fo.add_argument("-n", "--target-node", dest="node", default=None, metavar="NODE")
    fo.add_argument("-I", "--iallocator", default=None, help="allocator choosing the target")
    fo.add_argument(
        "--ignore-consistency", action="store_true", help="proceed even if the primary is dead"
    )
    fo.add_argument("--shutdown-timeout", type=int, default=120)
    fo.add_argument("--ignore-ipolicy", action="store_true")
    fo.add_argument("-f", "--force", action="store_true", help="don't ask (never asks)")
    base.add_submit_opts(fo)
    fo.set_defaults(func=cmd_failover)

    mv = sub.add_parser("move", help="move an instance to another node, copying its disks")
    mv.add_argument("instance", metavar="INSTANCE")
    mv.add_argument("-n", "--target-node", dest="node", required=True, metavar="NODE")
    mv.add_argument("--shutdown-timeout", type=int, default=120)
    mv.add_argument(
        "--ignore-consistency",
        action="store_true",
        help="proceed if the instance cannot be stopped",
    )
    mv.add_argument("--ignore-ipolicy", action="store_true")
    mv.add_argument(
        "--compress",
        default="none",
        choices=["none", "gzip", "gzip-fast", "gzip-slow"],
        help="compress the disk data on the wire",
    )
    mv.add_argument("-f", "--force", action="store_true", help="don't ask (never asks)")
    base.add_submit_opts(mv)
    mv.set_defaults(func=cmd_move)

    info = sub.add_parser("info", help="show instance details")
    info.add_argument("instances", nargs="*", metavar="INSTANCE")
    info.add_argument("-s", "--static", action="store_true", help="configuration data only")
    info.set_defaults(func=cmd_info)

    ls = sub.add_parser("list", help="list instances")
    base.add_list_opts(ls, DEFAULT_FIELDS)
    ls.add_argument("instances", nargs="*", metavar="INSTANCE")
    ls.set_defaults(func=cmd_list)

    con = sub.add_parser("console", help="show how to reach an instance's console")
    con.add_argument("instance", metavar="INSTANCE")
    con.add_argument("--show-cmd", action="store_true", help="print only the command (ssh)")
    con.set_defaults(func=cmd_console)

    add_change_group_command(sub)
    add_tag_commands(sub, "instance")
    return p


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-instance", build, argv)
