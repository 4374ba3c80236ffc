"""kvm, xen-pvm, xen-hvm and lxc through libvirt.

Domains are *transient* (``createXML``): Ganeti's configuration is the only definition of
an instance, so a stopped instance leaves nothing behind in libvirt.  Every libvirt call
blocks, so each one runs through the injected ``run_in_thread``; waits between polls use
the injected clock.  Only domains carrying our metadata element are reported.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from ganeti import constants as C
from ganeti import errors
from ganeti.hypervisor import domxml, params, routed
from ganeti.hypervisor.interface import (
    DISK_LOCAL,
    DISK_SHARED,
    MIGRATION_ACTIVE,
    MIGRATION_COMPLETED,
    MIGRATION_NONE,
    REBOOT_HARD,
    REBOOT_SOFT,
    STATE_CRASHED,
    STATE_PAUSED,
    STATE_RUNNING,
    STATE_SHUTDOWN,
    IHypervisor,
    InstanceInfo,
    InstanceSpec,
    RunInThread,
)

log = Logger()

STOP_POLL_INTERVAL = 1.0
# kvm hvparam: the longest pause (ms) a live migration may take for its last copy.
MIGRATION_DOWNTIME = "migration_downtime"

try:  # pragma: no cover - depends on the host
    import libvirt as _libvirt

    # libvirt prints every error to stderr unless a handler is registered.
    _libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
except ImportError:  # pragma: no cover
    _libvirt = None


def libvirt_available() -> bool:
    return _libvirt is not None


def _lv() -> Any:
    if _libvirt is None:
        raise errors.HypervisorError("libvirt-python is not installed on this node")
    return _libvirt


# virDomainState -> our runtime state.
_STATES = {
    0: STATE_RUNNING,  # NOSTATE
    1: STATE_RUNNING,  # RUNNING
    2: STATE_RUNNING,  # BLOCKED
    3: STATE_PAUSED,  # PAUSED
    4: STATE_SHUTDOWN,  # SHUTDOWN (in progress)
    5: STATE_SHUTDOWN,  # SHUTOFF
    6: STATE_CRASHED,  # CRASHED
    7: STATE_PAUSED,  # PMSUSPENDED
}

Opener = Callable[[str], Any]


@implementer(IHypervisor)
class LibvirtHypervisor:
    """One libvirt-based hypervisor kind; connections are opened per URI and reused."""

    def __init__(
        self,
        name: str,
        run_dir: Path,
        clock: IReactorTime,
        run_in_thread: RunInThread,
        default_uri: str | None = None,
        opener: Opener | None = None,
        ifup_script: str | None = None,
    ) -> None:
        if name not in params.DEFAULT_URIS:
            raise errors.HypervisorError(f"{name} is not a libvirt-based hypervisor")
        self.name = name
        self.run_dir = run_dir
        self.clock = clock
        self._run = run_in_thread
        self.default_uri = default_uri or params.DEFAULT_URIS[name]
        self._opener = opener
        self.ifup_script = ifup_script
        self._conns: dict[str, Any] = {}

    # --- plumbing ---------------------------------------------------------------------

    def uri_for(self, hvparams: Mapping[str, Any]) -> str:
        return str(hvparams.get(params.LIBVIRT_URI) or self.default_uri)

    def console_log(self, name: str) -> Path:
        return self.run_dir / f"{name}.console"

    def _open(self, uri: str) -> Any:
        conn = self._conns.get(uri)
        if conn is not None:
            try:
                if conn.isAlive():
                    return conn
            except Exception:
                pass
        opener = self._opener or _lv().open
        try:
            conn = opener(uri)
        except Exception as exc:
            raise errors.HypervisorError(f"cannot connect to libvirt at {uri}: {exc}") from None
        self._conns[uri] = conn
        return conn

    async def _call(self, what: str, f: Callable[..., Any], *args: Any) -> Any:
        """Run ``f`` in a thread; libvirt errors become HypervisorError."""

        def guarded() -> Any:
            try:
                return f(*args)
            except errors.GanetiError:
                raise
            except Exception as exc:
                if _libvirt is not None and isinstance(exc, _libvirt.libvirtError):
                    raise errors.HypervisorError(f"{what}: {exc}") from None
                raise

        return await self._run(guarded)

    def _lookup(self, uri: str, name: str) -> Any | None:
        """The domain ``name`` if it exists and is ours (blocking)."""
        conn = self._open(uri)
        try:
            dom = conn.lookupByName(name)
        except Exception as exc:
            if _is_no_domain(exc):
                return None
            raise
        return dom if _is_ours(dom) else None

    def _running(self, uri: str, name: str) -> Any | None:
        """The domain ``name`` if it is ours and active (blocking).  A transient domain
        that vanishes between the lookup and the state query (the guest powered itself
        off, e.g. after an ACPI shutdown) counts as not running, not as an error."""
        dom = self._lookup(uri, name)
        if dom is None:
            return None
        try:
            return dom if dom.isActive() else None
        except Exception as exc:
            if _is_no_domain(exc):
                return None
            raise

    # --- IHypervisor ------------------------------------------------------------------

    def validate_params(self, hvparams: Mapping[str, Any]) -> None:
        params.validate(self.name, hvparams)

    def build_xml(self, instance: InstanceSpec) -> str:
        hv = params.fill_defaults(self.name, instance.hvparams)
        spec = InstanceSpec(
            name=instance.name,
            uuid=instance.uuid,
            hypervisor=self.name,
            hvparams=hv,
            beparams=instance.beparams,
            disks=instance.disks,
            nics=instance.nics,
            network_port=instance.network_port,
        )
        scripts: str | dict[int, str] | None = self.ifup_script
        if scripts is None and any(n.mode == "routed" for n in spec.nics):
            # Per-NIC scripts with the NIC's IP and table (see ganeti.hypervisor.routed).
            scripts = routed.write_ifup_scripts(self.run_dir / "nics", spec)
        return domxml.domain_xml(spec, str(self.console_log(instance.name)), scripts)

    async def start(self, instance: InstanceSpec, paused: bool) -> None:
        xml = self.build_xml(instance)
        uri = self.uri_for(instance.hvparams)
        self.run_dir.mkdir(parents=True, exist_ok=True)

        def create() -> None:
            if self._lookup(uri, instance.name) is not None:
                raise errors.HypervisorError(f"instance {instance.name} is already running")
            conn = self._open(uri)
            if not paused:
                conn.createXML(xml, 0)
                return
            try:
                conn.createXML(xml, _lv().VIR_DOMAIN_START_PAUSED)
            except _lv().libvirtError as exc:
                if exc.get_error_code() not in (
                    _lv().VIR_ERR_INVALID_ARG,
                    _lv().VIR_ERR_NO_SUPPORT,
                ):
                    raise
                # Drivers without START_PAUSED: start, then pause at once.
                conn.createXML(xml, 0).suspend()

        await self._call(f"starting {instance.name}", create)
        log.info("{hv}: started {name} via {uri}", hv=self.name, name=instance.name, uri=uri)

    async def stop(self, instance: InstanceSpec, timeout: float, force: bool) -> None:
        uri = self.uri_for(instance.hvparams)
        instance_name = instance.name

        def active() -> bool:
            return self._running(uri, instance_name) is not None

        def soft() -> bool:
            dom = self._running(uri, instance_name)
            if dom is None:
                return False
            try:
                dom.shutdown()
            except Exception as exc:
                if _is_no_domain(exc):  # gone meanwhile: nothing left to stop
                    return False
                raise
            return True

        def hard() -> None:
            dom = self._lookup(uri, instance_name)
            if dom is None:
                return
            try:
                dom.destroy()
            except Exception as exc:
                if not _is_no_domain(exc):
                    raise

        if not force:
            try:
                asked = await self._call(f"shutting down {instance_name}", soft)
            except errors.HypervisorError as exc:
                # Some drivers refuse a guest shutdown; fall through to destroy.
                log.warn("soft shutdown of {name} failed: {exc}", name=instance_name, exc=exc)
                asked = True
            if not asked:
                return
            deadline = self.clock.seconds() + max(0.0, timeout)
            while await self._call(f"polling {instance_name}", active):
                if self.clock.seconds() >= deadline:
                    log.warn(
                        "{name} did not stop within {t}s; destroying", name=instance_name, t=timeout
                    )
                    break
                await task.deferLater(self.clock, STOP_POLL_INTERVAL)
            else:
                return
        await self._call(f"destroying {instance_name}", hard)

    async def reboot(
        self, instance: InstanceSpec, reboot_type: str, shutdown_timeout: float
    ) -> None:
        uri = self.uri_for(instance.hvparams)
        if reboot_type == REBOOT_SOFT:

            def soft() -> None:
                dom = self._lookup(uri, instance.name)
                if dom is None:
                    raise errors.HypervisorError(f"instance {instance.name} is not running")
                dom.reboot(0)

            await self._call(f"rebooting {instance.name}", soft)
        elif reboot_type == REBOOT_HARD:
            await self.stop(instance, shutdown_timeout, True)
            await self.start(instance, False)
        else:
            raise errors.HypervisorError(f"unknown reboot type {reboot_type!r}")

    async def list_instances(self, hvparams: Mapping[str, Any]) -> list[str]:
        return [i.name for i in await self.all_instances_info(hvparams)]

    async def instance_info(self, name: str, hvparams: Mapping[str, Any]) -> InstanceInfo | None:
        uri = self.uri_for(hvparams)

        def info() -> InstanceInfo | None:
            dom = self._running(uri, name)
            if dom is None:
                return None
            try:
                return _domain_info(dom)
            except Exception as exc:
                if _is_no_domain(exc):  # vanished meanwhile
                    return None
                raise

        result: InstanceInfo | None = await self._call(f"querying {name}", info)
        return result

    async def all_instances_info(self, hvparams: Mapping[str, Any]) -> list[InstanceInfo]:
        uri = self.uri_for(hvparams)

        def infos() -> list[InstanceInfo]:
            conn = self._open(uri)
            flags = _lv().VIR_CONNECT_LIST_DOMAINS_ACTIVE
            out = []
            for dom in conn.listAllDomains(flags):
                if _is_ours(dom):
                    try:
                        out.append(_domain_info(dom))
                    except Exception as exc:
                        if not _is_no_domain(exc):  # vanished meanwhile
                            raise
            return sorted(out, key=lambda i: i.name)

        result: list[InstanceInfo] = await self._call("listing domains", infos)
        return result

    async def node_info(self, hvparams: Mapping[str, Any]) -> dict[str, Any]:
        uri = self.uri_for(hvparams)

        def info() -> dict[str, Any]:
            conn = self._open(uri)
            _model, mem_mib, cpus, _mhz, nodes, sockets, _cores, _threads = conn.getInfo()
            free = int(conn.getFreeMemory()) // (1024 * 1024)
            used_by_us = 0
            for dom in conn.listAllDomains(_lv().VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                if _is_ours(dom):
                    used_by_us += int(dom.info()[2]) // 1024
            version = int(conn.getVersion() or 0)
            return {
                "memory_total": int(mem_mib),
                "memory_free": free,
                "memory_dom0": max(0, int(mem_mib) - free - used_by_us),
                "memory_hv": used_by_us,
                "cpu_total": int(cpus),
                "cpu_nodes": int(nodes),
                "cpu_sockets": int(sockets),
                "cpu_dom0": int(cpus),
                "hv_version": [version // 1000000, version // 1000 % 1000, version % 1000],
            }

        result: dict[str, Any] = await self._call("node info", info)
        return result

    def console_info(self, instance: InstanceSpec, node_name: str) -> dict[str, Any]:
        hv = params.fill_defaults(self.name, instance.hvparams)
        port = instance.network_port
        if hv.get("vnc_bind_address") and port:
            return {
                "instance": instance.name,
                "kind": "vnc",
                "host": node_name,
                "port": port,
                "display": port - 5900,
            }
        if hv.get("spice_bind") and port:
            return {"instance": instance.name, "kind": "spice", "host": node_name, "port": port}
        uri = self.uri_for(instance.hvparams)
        if self.name == C.HT_LXC or not hv.get("serial_console", True):
            command = ["virsh", "-c", uri, "console", instance.name]
        else:
            command = ["tail", "-n", "+1", "-f", str(self.console_log(instance.name))]
        return {
            "instance": instance.name,
            "kind": "ssh",
            "host": node_name,
            "user": "root",
            "command": command,
        }

    async def balloon_memory(self, instance: InstanceSpec, memory: int) -> None:
        uri = self.uri_for(instance.hvparams)

        def balloon() -> None:
            dom = self._lookup(uri, instance.name)
            if dom is None:
                raise errors.HypervisorError(f"instance {instance.name} is not running")
            dom.setMemoryFlags(int(memory) * 1024, _lv().VIR_DOMAIN_AFFECT_LIVE)

        await self._call(f"ballooning {instance.name}", balloon)

    # --- migration ----------------------------------------------------------------------

    async def migration_info(self, instance: InstanceSpec) -> str:
        # libvirt carries the definition with the domain; nothing to hand over.
        return ""

    async def accept_instance(self, instance: InstanceSpec, info: str, target: str) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def migration_uri(self, instance: InstanceSpec, target: str) -> str:
        """Destination libvirt URI: hvparam ``libvirt_migration_uri`` with ``{target}``,
        else the source URI's scheme with ``+tcp`` towards ``target``."""
        template = instance.hvparams.get("libvirt_migration_uri")
        if isinstance(template, str) and template:
            return template.format(target=target)
        uri = self.uri_for(instance.hvparams)
        scheme, _, rest = uri.partition("://")
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/system"
        return f"{scheme.split('+')[0]}+tcp://{target}{path.split('?')[0]}"

    def migration_request(
        self, instance: InstanceSpec, target: str, live: bool, copy_disks: Sequence[str] = ()
    ) -> tuple[str, dict[str, Any], int]:
        """What ``migrate`` hands to ``virDomainMigrateToURI3``: the destination
        libvirt URI, the typed parameters and the flags.

        Peer to peer: the source libvirtd talks to the target's libvirtd itself, so the
        migration survives the caller (noded) and needs no client-side connection.  The
        QEMU migration stream (and the NBD stream of copied disks) goes to
        ``tcp://<target>`` (the address the master passes: the target's secondary IP) on
        a port the target's libvirtd picks from its range; without an explicit URI the
        target would offer its host name, which need not resolve to the replication
        network.  ``migration_bandwidth`` (MiB/s) limits the stream.

        ``copy_disks`` (target device names, e.g. ``vda``) are node-local disks copied
        during the migration (``VIR_MIGRATE_NON_SHARED_DISK``); the target must hold a
        file of the same size at the same path.  File disks the cluster declares shared
        (``sharedfile``) are vouched for with ``VIR_MIGRATE_UNSAFE``: libvirt only
        recognises some shared file systems (NFS, GFS2, OCFS2, CephFS, ...) and refuses
        any other directory, however it is shared."""
        lv = _lv()
        hv = params.fill_defaults(self.name, instance.hvparams)
        dest = self.migration_uri(instance, target)
        host = f"[{target}]" if ":" in target and not target.startswith("[") else target
        mig_params: dict[str, Any] = {lv.VIR_MIGRATE_PARAM_URI: f"tcp://{host}"}
        bandwidth = hv.get(C.HV_MIGRATION_BANDWIDTH)
        if isinstance(bandwidth, int) and not isinstance(bandwidth, bool) and bandwidth > 0:
            mig_params[lv.VIR_MIGRATE_PARAM_BANDWIDTH] = bandwidth
        flags = lv.VIR_MIGRATE_PEER2PEER | lv.VIR_MIGRATE_UNDEFINE_SOURCE
        if live:
            flags |= lv.VIR_MIGRATE_LIVE
        if copy_disks:
            flags |= lv.VIR_MIGRATE_NON_SHARED_DISK
            mig_params[lv.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(copy_disks)
        if any(d.storage == DISK_SHARED and d.kind == "file" for d in instance.disks):
            flags |= lv.VIR_MIGRATE_UNSAFE
        return dest, mig_params, flags

    async def migrate(
        self, cluster_name: str, instance: InstanceSpec, target: str, live: bool
    ) -> None:
        uri = self.uri_for(instance.hvparams)
        downtime = params.fill_defaults(self.name, instance.hvparams).get(MIGRATION_DOWNTIME)
        local = {d.path for d in instance.disks if d.storage == DISK_LOCAL}

        def go() -> str:
            dom = self._lookup(uri, instance.name)
            if dom is None:
                raise errors.HypervisorError(f"instance {instance.name} is not running")
            copy = disk_targets(dom.XMLDesc(0), local) if local else []
            if len(copy) != len(local):
                raise errors.HypervisorError(
                    f"instance {instance.name}: not every local disk is attached to the "
                    "running domain; cannot copy its storage"
                )
            dest, mig_params, flags = self.migration_request(instance, target, live, copy)
            if live and isinstance(downtime, int) and not isinstance(downtime, bool):
                if downtime > 0:
                    # The longest pause (ms) QEMU may take to copy the last dirty pages.
                    dom.migrateSetMaxDowntime(downtime, 0)
            dom.migrateToURI3(dest, mig_params, flags)
            return dest

        dest = await self._call(f"migrating {instance.name} to {target}", go)
        log.info("{hv}: migrated {name} to {dest}", hv=self.name, name=instance.name, dest=dest)

    async def finalize_migration_dst(
        self, instance: InstanceSpec, info: str, success: bool
    ) -> None:
        if success and await self.instance_info(instance.name, instance.hvparams) is None:
            raise errors.HypervisorError(f"instance {instance.name} did not arrive here")

    async def finalize_migration_src(
        self, instance: InstanceSpec, success: bool, live: bool
    ) -> None:
        """On success nothing is left here (the transient domain went with the
        migration).  On failure (the master gave up: the target stopped answering, the
        call timed out) a migration libvirt is still running is aborted, so the
        instance stays here; libvirt resumes a paused (non-live) guest itself."""
        if success:
            return
        uri = self.uri_for(instance.hvparams)

        def abort() -> bool:
            dom = self._lookup(uri, instance.name)
            if dom is None:
                return False
            try:
                if int(dom.jobStats().get("type", 0)) == 0:  # VIR_DOMAIN_JOB_NONE
                    return False
                dom.abortJob()
            except Exception as exc:
                if _is_no_domain(exc) or _is_no_job(exc):
                    return False  # finished or gone meanwhile
                raise
            return True

        if await self._call(f"aborting the migration of {instance.name}", abort):
            log.warn("{hv}: aborted the migration of {name}", hv=self.name, name=instance.name)

    async def migration_status(self, instance: InstanceSpec) -> dict[str, Any]:
        uri = self.uri_for(instance.hvparams)

        def status() -> dict[str, Any]:
            dom = self._lookup(uri, instance.name)
            if dom is None:
                return {"status": MIGRATION_COMPLETED}
            try:
                stats = dom.jobStats()
            except Exception:
                return {"status": MIGRATION_NONE}
            if stats.get("type", 0) == 0:
                return {"status": MIGRATION_NONE}
            return {
                "status": MIGRATION_ACTIVE,
                "transferred_ram": stats.get("memory_processed", 0) // (1024 * 1024),
                "total_ram": stats.get("memory_total", 0) // (1024 * 1024),
            }

        result: dict[str, Any] = await self._call(f"migration status of {instance.name}", status)
        return result


def disk_targets(domain_xml: str, paths: set[str]) -> list[str]:
    """Target device names (``vda``...) of the domain's disks whose source is in
    ``paths``, in the domain's order."""
    out = []
    for disk in ET.fromstring(domain_xml).iterfind("./devices/disk"):
        source = disk.find("source")
        target = disk.find("target")
        if source is None or target is None:
            continue
        path = source.get("file") or source.get("dev")
        if path in paths and target.get("dev"):
            out.append(str(target.get("dev")))
    return out


def _is_no_domain(exc: BaseException) -> bool:
    if _libvirt is None or not isinstance(exc, _libvirt.libvirtError):
        return False
    return bool(exc.get_error_code() == _libvirt.VIR_ERR_NO_DOMAIN)


def _is_no_job(exc: BaseException) -> bool:
    if _libvirt is None or not isinstance(exc, _libvirt.libvirtError):
        return False
    return bool(exc.get_error_code() == _libvirt.VIR_ERR_OPERATION_INVALID)


def _is_ours(dom: Any) -> bool:
    try:
        dom.metadata(_lv().VIR_DOMAIN_METADATA_ELEMENT, domxml.METADATA_NS)
    except Exception:
        return False
    return True


def _domain_info(dom: Any) -> InstanceInfo:
    state, _max_kib, mem_kib, vcpus, cpu_ns = dom.info()
    return InstanceInfo(
        name=str(dom.name()),
        state=_STATES.get(int(state), STATE_RUNNING),
        memory=int(mem_kib) // 1024,
        vcpus=int(vcpus),
        time=float(cpu_ns) / 1e9,
    )
