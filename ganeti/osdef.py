"""OS definitions, API version 20: discovery, environment, running the scripts.

An OS is a directory ``<search dir>/<name>/`` holding ``ganeti_api_version``, the scripts
``create``, ``import``, ``export``, ``rename`` (and ``verify`` for API 20), and optionally
``variants.list`` and ``parameters.list``.  The first search directory holding the name
wins.  Scripts run with a clean environment built here, the OS directory as working
directory, stdout and stderr captured to a log file, a timeout, and they can be cancelled.
Processes are spawned on an injected ``IReactorProcess``; nothing here imports a reactor.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ganeti import constants as C
from ganeti import errors
from ganeti.hypervisor.interface import InstanceSpec

log = Logger()

SAFE_PATH = "/usr/local/sbin:/sbin:/usr/sbin:/usr/local/bin:/usr/bin:/bin"
API_VERSION_FILE = "ganeti_api_version"
VARIANTS_FILE = "variants.list"
PARAMETERS_FILE = "parameters.list"
SCRIPT_CREATE = "create"
SCRIPT_IMPORT = "import"
SCRIPT_EXPORT = "export"
SCRIPT_RENAME = "rename"
SCRIPT_VERIFY = "verify"
REQUIRED_SCRIPTS = (SCRIPT_CREATE, SCRIPT_IMPORT, SCRIPT_EXPORT, SCRIPT_RENAME)
TAIL_LINES = 20
KILL_GRACE = 5.0

# Timeouts (seconds) per kind of run.
CREATE_TIMEOUT = float(C.RPC_TMO_1DAY)
RENAME_TIMEOUT = float(C.RPC_TMO_SLOW)
VERIFY_TIMEOUT = 60.0

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class OSDefinitionError(errors.GanetiError):
    """An OS definition is missing or invalid, or one of its scripts failed."""


def split_name(name: str) -> tuple[str, str]:
    """``debootstrap+bookworm`` -> (``debootstrap``, ``bookworm``); no variant -> ''."""
    base, _, variant = name.partition("+")
    return base, variant


@attrs.frozen
class OSDefinition:
    name: str
    path: Path
    api_versions: tuple[int, ...]
    variants: tuple[str, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()
    scripts: Mapping[str, Path] = attrs.field(factory=dict)
    trusted: bool = True

    @property
    def api_version(self) -> int:
        """The highest API version both the OS and we understand."""
        return max(set(self.api_versions) & C.OS_API_VERSIONS)

    def script(self, kind: str) -> Path:
        try:
            return self.scripts[kind]
        except KeyError:
            raise OSDefinitionError(f"OS {self.name} has no {kind} script") from None

    def pick_variant(self, variant: str, force: bool = False) -> str:
        """Check ``variant`` (empty: the first listed one) against variants.list."""
        if self.api_version < 15 or not self.variants:
            if variant and not force and self.api_version >= 15:
                raise OSDefinitionError(f"OS {self.name} does not support variants")
            return variant
        if not variant:
            return self.variants[0]
        if variant not in self.variants and not force:
            raise OSDefinitionError(
                f"OS {self.name} has no variant {variant!r} (has: {', '.join(self.variants)})"
            )
        return variant

    def diagnose_entry(self) -> list[Any]:
        return [
            self.name,
            str(self.path),
            True,
            "",
            list(self.variants),
            [list(p) for p in self.parameters],
            sorted(self.api_versions, reverse=True),
            self.trusted,
        ]


def _list_file(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise OSDefinitionError(f"cannot read {path.name}: {exc.strerror}") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def read_os(name: str, directory: Path) -> OSDefinition:
    """Load and check the OS in ``directory``; raises OSDefinitionError saying why not."""
    if not directory.is_dir():
        raise OSDefinitionError(f"{directory} is not a directory")
    try:
        versions = tuple(int(v) for v in _list_file(directory / API_VERSION_FILE))
    except ValueError:
        raise OSDefinitionError(f"{API_VERSION_FILE} holds something other than numbers") from None
    if not (directory / API_VERSION_FILE).exists():
        raise OSDefinitionError(f"{API_VERSION_FILE} is missing")
    if not set(versions) & C.OS_API_VERSIONS:
        raise OSDefinitionError(
            f"API versions {list(versions)} not supported (we support {sorted(C.OS_API_VERSIONS)})"
        )
    api = max(set(versions) & C.OS_API_VERSIONS)
    wanted = list(REQUIRED_SCRIPTS)
    if api >= 20:
        wanted.append(SCRIPT_VERIFY)
    scripts: dict[str, Path] = {}
    for kind in wanted:
        path = directory / kind
        if (
            kind == SCRIPT_CREATE
            and not path.exists()
            and (directory / "create_untrusted").exists()
        ):
            raise OSDefinitionError("untrusted OS definitions (create_untrusted) are not supported")
        if not path.is_file():
            raise OSDefinitionError(f"script {kind} is missing or not a regular file")
        if not os.access(path, os.X_OK):
            raise OSDefinitionError(f"script {kind} is not executable")
        scripts[kind] = path
    variants: tuple[str, ...] = ()
    if api >= 15:
        variants = tuple(_list_file(directory / VARIANTS_FILE))
    parameters: list[tuple[str, str]] = []
    if api >= 20:
        for line in _list_file(directory / PARAMETERS_FILE):
            pname, _, doc = line.partition(" ")
            parameters.append((pname, doc.strip()))
    return OSDefinition(name, directory, versions, variants, tuple(parameters), scripts)


def find_os(search_path: Sequence[Path], name: str) -> OSDefinition:
    """The OS ``name`` (a ``+variant`` suffix is ignored) from the first directory that has it."""
    base, _ = split_name(name)
    if not _NAME_RE.match(base):
        raise OSDefinitionError(f"invalid OS name {name!r}")
    for directory in search_path:
        candidate = directory / base
        if candidate.is_dir():
            return read_os(base, candidate)
    raise OSDefinitionError(f"OS {base!r} not found in the search path")


def diagnose(search_path: Sequence[Path]) -> list[list[Any]]:
    """``os_diagnose`` entries for every OS directory (invalid ones with their reason)."""
    seen: set[str] = set()
    out: list[list[Any]] = []
    for directory in search_path:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if name in seen or not _NAME_RE.match(name):
                continue
            path = directory / name
            if not path.is_dir():
                continue
            seen.add(name)
            try:
                out.append(read_os(name, path).diagnose_entry())
            except OSDefinitionError as exc:
                out.append([name, str(path), False, str(exc), [], [], [], True])
    return out


# --- environment -------------------------------------------------------------------


@attrs.frozen
class OSInstance:
    """What the OS scripts learn about an instance (besides the hypervisor spec)."""

    spec: InstanceSpec
    os: str  # as stored: name or name+variant
    osparams: Mapping[str, Any] = attrs.field(factory=dict)
    primary_node: str = ""
    secondary_nodes: tuple[str, ...] = ()
    ctime: float = 0.0
    mtime: float = 0.0
    # Per NIC (same order as spec.nics): the network object dict, or None.
    netinfo: tuple[Mapping[str, Any] | None, ...] = ()


def _osp_name(key: str) -> str:
    return "OSP_" + re.sub(r"[^A-Za-z0-9_]", "_", key).upper()


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    return str(value)


def core_environment(
    osdef: OSDefinition, variant: str, osparams: Mapping[str, Any], debug: int
) -> dict[str, str]:
    """The part of the environment every script gets (verify gets only this)."""
    env = {
        "PATH": SAFE_PATH,
        "OS_API_VERSION": str(osdef.api_version),
        "OS_NAME": osdef.name,
        "DEBUG_LEVEL": str(max(0, min(int(debug), 1))),
    }
    if osdef.api_version >= 15:
        env["OS_VARIANT"] = variant
    if osdef.api_version >= 20:
        for key, value in osparams.items():
            env[_osp_name(key)] = _env_value(value)
    return env


def instance_environment(
    osdef: OSDefinition, inst: OSInstance, debug: int, force_variant: bool = False
) -> dict[str, str]:
    """The documented environment for create/import/export/rename."""
    _, variant = split_name(inst.os)
    variant = osdef.pick_variant(variant, force_variant)
    spec = inst.spec
    env = core_environment(osdef, variant, inst.osparams, debug)
    env.update(
        {
            "INSTANCE_NAME": spec.name,
            "INSTANCE_UUID": spec.uuid,
            "INSTANCE_OS": inst.os,
            "INSTANCE_PRIMARY_NODE": inst.primary_node,
            "INSTANCE_SECONDARY_NODES": " ".join(inst.secondary_nodes),
            "INSTANCE_CTIME": _env_value(inst.ctime),
            "INSTANCE_MTIME": _env_value(inst.mtime),
            "HYPERVISOR": spec.hypervisor,
            "DISK_COUNT": str(len(spec.disks)),
            "NIC_COUNT": str(len(spec.nics)),
        }
    )
    hv = spec.hvparams
    for idx, disk in enumerate(spec.disks):
        p = f"DISK_{idx}_"
        env[p + "PATH"] = disk.path
        if disk.uri:
            env[p + "URI"] = disk.uri
        env[p + "ACCESS"] = disk.mode
        env[p + "UUID"] = disk.uuid
        if disk.name:
            env[p + "NAME"] = disk.name
        env[p + "SIZE"] = str(disk.size)
        if hv.get("disk_type"):
            env[p + "FRONTEND_TYPE"] = str(hv["disk_type"])
        env[p + "BACKEND_TYPE"] = "block" if disk.kind == "block" else "file:loop"
        # Our extension: the image format of file disks (raw or qcow2).
        if disk.kind != "block":
            env[p + "FORMAT"] = disk.format
    for idx, nic in enumerate(spec.nics):
        p = f"NIC_{idx}_"
        env[p + "MAC"] = nic.mac
        env[p + "UUID"] = nic.uuid
        if nic.name:
            env[p + "NAME"] = nic.name
        if nic.ip:
            env[p + "IP"] = nic.ip
        env[p + "MODE"] = nic.mode
        env[p + "LINK"] = nic.link
        if nic.vlan:
            env[p + "VLAN"] = nic.vlan
        if nic.mode == C.NIC_MODE_BRIDGED:
            env[p + "BRIDGE"] = nic.link
        if hv.get("nic_type"):
            env[p + "FRONTEND_TYPE"] = str(hv["nic_type"])
        net = inst.netinfo[idx] if idx < len(inst.netinfo) else None
        if net:
            for key, field in (
                ("NAME", "name"),
                ("UUID", "uuid"),
                ("SUBNET", "network"),
                ("GATEWAY", "gateway"),
                ("SUBNET6", "network6"),
                ("GATEWAY6", "gateway6"),
                ("MAC_PREFIX", "mac_prefix"),
            ):
                if net.get(field):
                    env[f"{p}NETWORK_{key}"] = str(net[field])
            if net.get("tags"):
                env[p + "NETWORK_TAGS"] = " ".join(sorted(net["tags"]))
    for key, value in spec.beparams.items():
        env[f"INSTANCE_BE_{key}"] = _env_value(value)
    for key, value in hv.items():
        env[f"INSTANCE_HV_{key}"] = _env_value(value)
    return env


def check_parameters(osdef: OSDefinition, params: Mapping[str, Any]) -> None:
    """Every parameter must be declared in parameters.list."""
    known = {p for p, _ in osdef.parameters}
    unknown = sorted(set(params) - known)
    if unknown:
        raise OSDefinitionError(
            f"OS {osdef.name} does not accept parameter(s) {', '.join(unknown)}"
        )


# --- running scripts --------------------------------------------------------------------


@attrs.frozen
class ScriptResult:
    script: str
    exit_code: int
    log_file: Path
    tail: tuple[str, ...] = ()
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        why = "timed out" if self.timed_out else f"exit code {self.exit_code}"
        tail = "\n".join(self.tail[-TAIL_LINES:])
        return f"OS script {self.script} failed ({why}); log {self.log_file}; last lines:\n{tail}"


class _ScriptProtocol(protocol.ProcessProtocol):
    def __init__(self, logfile: Any, done: defer.Deferred[int], keep_stdin: bool) -> None:
        self.logfile = logfile
        self.done = done
        self.keep_stdin = keep_stdin
        self.tail: list[str] = []
        self._partial = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        if not self.keep_stdin:
            self.transport.closeStdin()

    def _data(self, data: bytes) -> None:
        self.logfile.write(data)
        self.logfile.flush()
        chunk = self._partial + data
        *lines, self._partial = chunk.split(b"\n")
        for line in lines:
            self.tail.append(line.decode("utf-8", "replace"))
        if len(self.tail) > TAIL_LINES * 2:
            del self.tail[:-TAIL_LINES]

    def outReceived(self, data: bytes) -> None:
        self._data(data)

    def errReceived(self, data: bytes) -> None:
        self._data(data)

    def processEnded(self, reason: Failure) -> None:
        if self._partial:
            self.tail.append(self._partial.decode("utf-8", "replace"))
        code = 0
        if isinstance(reason.value, error.ProcessTerminated):
            v = reason.value
            code = v.exitCode if v.exitCode is not None else -(v.signal or 1)
        self.logfile.close()
        if not self.done.called:
            self.done.callback(code)


class OSScriptRunner:
    """Runs OS scripts on an injected reactor (``IReactorProcess`` + ``IReactorTime``)."""

    def __init__(self, reactor: Any, log_dir: Path) -> None:
        self._process: IReactorProcess = reactor
        self._clock: IReactorTime = reactor
        self.log_dir = log_dir

    def log_path(self, kind: str, os_name: str, instance: str, component: str = "") -> Path:
        stamp = time.strftime("%Y-%m-%d_%H_%M_%S", time.gmtime(self._clock.seconds()))
        parts = [kind, split_name(os_name)[0], instance, *([component] if component else [])]
        safe = "-".join(re.sub(r"[^A-Za-z0-9._+]", "_", p) for p in parts)
        return self.log_dir / f"{safe}-{stamp}.log"

    def run(
        self,
        osdef: OSDefinition,
        kind: str,
        env: Mapping[str, str],
        log_file: Path,
        timeout: float | None,
        args: Sequence[str] = (),
        stdin_path: Path | None = None,
        stdout_path: Path | None = None,
        stdin_fd: int | None = None,
        stdout_fd: int | None = None,
    ) -> defer.Deferred[ScriptResult]:
        """Run script ``kind``; the result says how it ended (it never errbacks on a
        failed script; cancelling the Deferred kills the process).

        ``stdin_fd``/``stdout_fd`` hand the child an open descriptor (e.g. one end of a
        pipe) as its stdin/stdout; the caller keeps and closes its own copy."""
        script = osdef.script(kind)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        logfile = open(log_file, "ab")
        opened: list[int] = []
        child_fds: dict[int, Any] = {0: "w", 1: "r", 2: "r"}
        try:
            if stdin_path is not None:
                fd = os.open(stdin_path, os.O_RDONLY)
                opened.append(fd)
                child_fds[0] = fd
            if stdout_path is not None:
                fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                opened.append(fd)
                child_fds[1] = fd
        except OSError as exc:
            for fd in opened:
                os.close(fd)
            logfile.close()
            raise OSDefinitionError(f"cannot open stream for {kind}: {exc}") from None
        if stdin_fd is not None:
            child_fds[0] = stdin_fd
        if stdout_fd is not None:
            child_fds[1] = stdout_fd

        ended: defer.Deferred[int] = defer.Deferred()
        proto = _ScriptProtocol(
            logfile, ended, keep_stdin=stdin_path is not None or stdin_fd is not None
        )
        state = {"timed_out": False, "cancelled": False}
        transport: list[Any] = []

        def signal_child(sig: int) -> None:
            for t in transport:
                try:
                    t.signalProcess(sig)
                except (error.ProcessExitedAlready, OSError):
                    pass

        def stop_child() -> None:
            signal_child(signal.SIGTERM)
            kill = self._clock.callLater(KILL_GRACE, signal_child, signal.SIGKILL)
            ended.addBoth(_cancel_call, kill)

        def on_timeout() -> None:
            state["timed_out"] = True
            log.warn("OS script {s} timed out after {t}s", s=str(script), t=timeout)
            stop_child()

        def cancel(_: defer.Deferred[ScriptResult]) -> None:
            state["cancelled"] = True
            stop_child()

        result: defer.Deferred[ScriptResult] = defer.Deferred(cancel)
        try:
            t = self._process.spawnProcess(
                proto,
                str(script),
                [str(script), *args],
                env=dict(env),
                path=str(osdef.path),
                childFDs=child_fds,
            )
        except OSError as exc:
            logfile.close()
            raise OSDefinitionError(f"cannot run {script}: {exc}") from None
        finally:
            for fd in opened:
                os.close(fd)
        transport.append(t)
        timer = self._clock.callLater(timeout, on_timeout) if timeout is not None else None

        def finished(code: int) -> None:
            if timer is not None and timer.active():
                timer.cancel()
            if state["cancelled"]:
                return
            result.callback(
                ScriptResult(kind, code, log_file, tuple(proto.tail), state["timed_out"])
            )

        ended.addCallback(finished)
        return result


def _cancel_call(value: Any, call: Any) -> Any:
    if call.active():
        call.cancel()
    return value
