"""What a node does on the master's behalf: the RPC procedure implementations.

The node daemon is the trusted party.  Every procedure here has a fixed, bounded effect:
files are written only at whitelisted paths or below the queue directory, ssconf only
for known keys, and nothing runs a command or writes a path the caller chooses freely.
A subverted master can therefore disrupt the cluster's VMs but cannot take the node over.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ganeti import constants, errors, tls
from ganeti.bootstrap import node_name_file
from ganeti.config.ssconf import check_ssconf_values, write_ssconf_files
from ganeti.fileutils import write_file_atomic
from ganeti.noded import hostinfo
from ganeti.paths import SSCONF_KEYS, Paths
from ganeti.rpc.encoding import decompress
from ganeti.rpc.server import HandlerError

log = Logger()

QUEUE_LOCK_TIMEOUT = 10.0
_QUEUE_LOCK_POLL = 0.05


def _as_str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise HandlerError(f"{what} must be a non-empty string")
    return value


class NodeBackend:
    """Procedure implementations for one node root."""

    def __init__(
        self,
        paths: Paths,
        clock: IReactorTime,
        shutdown: Callable[[], None] = lambda: None,
        noded_port: int | None = None,
    ) -> None:
        self.noded_port = noded_port
        self.paths = paths
        self.clock = clock
        self._shutdown = shutdown

    def handlers(self) -> Mapping[str, Callable[..., Any]]:
        return {
            "version": self.version,
            "node_info": self.node_info,
            "master_node_name": self.master_node_name,
            "test_delay": self.test_delay,
            "node_leave_cluster": self.node_leave_cluster,
            "upload_file": self.upload_file,
            "write_ssconf_files": self.write_ssconf_files,
            "jobqueue_update": self.jobqueue_update,
            "jobqueue_rename": self.jobqueue_rename,
            "jobqueue_purge": self.jobqueue_purge,
            "jobqueue_set_drain_flag": self.jobqueue_set_drain_flag,
            "set_watcher_pause": self.set_watcher_pause,
            "get_watcher_pause": self.get_watcher_pause,
            "node_crypto_tokens": self.node_crypto_tokens,
            "node_demote_from_mc": self.node_demote_from_mc,
            "node_config_serial": self.node_config_serial,
            "node_stop_master": self.node_stop_master,
            "node_start_master_daemons": self.node_start_master_daemons,
            "node_master_reachable": self.node_master_reachable,
        }

    # --- node and cluster -----------------------------------------------------------

    def version(self) -> int:
        return constants.PROTOCOL_VERSION

    def node_info(self, storage_units: Any, hv_specs: Any) -> list[Any]:
        if not isinstance(storage_units, list) or not isinstance(hv_specs, list):
            raise HandlerError("storage_units and hv_specs must be lists")
        storage = [self._storage_info(unit) for unit in storage_units]
        hvs = []
        for spec in hv_specs:
            if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str)):
                raise HandlerError(f"bad hypervisor spec {spec!r}, expected [name, hvparams]")
            if spec[0] not in constants.HYPER_TYPES:
                raise HandlerError(f"unknown hypervisor {spec[0]!r}")
            hvs.append(hostinfo.memory_and_cpu())
        return [hostinfo.boot_id(self.paths), storage, hvs]

    def _storage_info(self, unit: Any) -> dict[str, Any]:
        if not (isinstance(unit, list) and len(unit) == 3 and isinstance(unit[0], str)):
            raise HandlerError(f"bad storage unit {unit!r}, expected [type, key, params]")
        kind, key, _params = unit
        if kind in (constants.DT_FILE, constants.DT_SHARED_FILE):
            path = self._allowed_storage_dir(_as_str(key, "file storage dir"))
            return {"type": kind, "name": key, **hostinfo.fs_space(path)}
        raise HandlerError(f"storage type {kind!r} is not supported on this node")

    def _allowed_storage_dir(self, virtual: str) -> Path:
        try:
            path = self.paths.from_virtual(virtual)
        except ValueError as exc:
            raise HandlerError(str(exc)) from None
        allowed = read_allowed_storage_paths(self.paths)
        if not any(path == a or a in path.parents for a in allowed):
            raise HandlerError(
                f"path {virtual} is not below an allowed file storage directory "
                f"(listed in {self.paths.virtual_path(self.paths.file_storage_paths)})"
            )
        return path

    def master_node_name(self) -> str:
        try:
            return self.paths.ssconf("master_node").read_text().strip()
        except FileNotFoundError:
            raise HandlerError("this node has no ssconf master_node: not in a cluster") from None

    async def test_delay(self, duration: Any) -> bool:
        if not isinstance(duration, int | float) or duration < 0:
            raise HandlerError("duration must be a non-negative number")
        await task.deferLater(self.clock, float(duration))
        return True

    def node_leave_cluster(self, modify_ssh_setup: Any) -> None:
        """Forget the cluster: remove its files from this node, then stop the daemon."""
        p = self.paths
        victims = [
            p.config_data,
            p.server_pem,
            p.client_pem,
            p.rapi_pem,
            p.hmac_key,
            p.cluster_domain_secret,
            p.known_hosts,
            p.rapi_users,
            p.spice_pem,
            p.spice_ca_pem,
            *(p.ssconf(k) for k in SSCONF_KEYS),
        ]
        for path in victims:
            path.unlink(missing_ok=True)
        shutil.rmtree(p.queue_dir, ignore_errors=True)
        log.info("left the cluster; stopping")
        # Let the reply go out before the process stops.
        self.clock.callLater(0.5, self._shutdown)

    def set_watcher_pause(self, until: Any) -> None:
        """Pause this node's watcher until a Unix time; None lifts the pause."""
        if until is None:
            self.paths.watcher_pause.unlink(missing_ok=True)
            return
        if not isinstance(until, int | float) or isinstance(until, bool):
            raise HandlerError("until must be a Unix timestamp or null")
        write_file_atomic(self.paths.watcher_pause, f"{int(until)}\n".encode(), mode=0o644)

    def get_watcher_pause(self) -> int | None:
        try:
            return int(self.paths.watcher_pause.read_text().strip())
        except (OSError, ValueError):
            return None

    # --- membership ---------------------------------------------------------------------

    def _own_name(self) -> str | None:
        try:
            return node_name_file(self.paths).read_text().strip() or None
        except FileNotFoundError:
            return None

    def node_crypto_tokens(self, requests: Any) -> list[list[Any]]:
        """``[[kind, action, options]]`` → ``[[kind, digest]]`` for kind "ssl".

        "create" makes a new client certificate for this node, signed with the cluster
        certificate this node holds (options: node_name, node_uuid); "get" reports the
        digest of the current one.
        """
        if not isinstance(requests, list):
            raise HandlerError("requests must be a list of [kind, action, options]")
        out: list[list[Any]] = []
        for req in requests:
            if not (isinstance(req, list) and len(req) == 3 and req[0] == "ssl"):
                raise HandlerError(f"unsupported crypto token request {req!r}")
            _kind, action, options = req
            if action == "get":
                pair = tls.KeyPair.load(self.paths.client_pem)
            elif action == "create":
                if not isinstance(options, dict):
                    raise HandlerError("create needs options {node_name, node_uuid}")
                name = _as_str(options.get("node_name"), "node_name")
                node_uuid = _as_str(options.get("node_uuid"), "node_uuid")
                try:
                    ca = tls.KeyPair.load(self.paths.server_pem)
                    pair = tls.create_node_certificate(ca, name, node_uuid)
                except (errors.CertificateError, ValueError) as exc:
                    raise HandlerError(f"cannot create the node certificate: {exc}") from None
                if self.paths.client_pem.exists():
                    # Kept so the master can still reach nodes that missed the renewal.
                    os.replace(self.paths.client_pem, self.paths.client_previous_pem)
                pair.save(self.paths.client_pem, 0o400)
                write_file_atomic(node_name_file(self.paths), f"{name}\n".encode(), mode=0o644)
            else:
                raise HandlerError(f"unknown crypto token action {action!r}")
            out.append(["ssl", tls.cert_digest(pair.cert)])
        return out

    def node_demote_from_mc(self) -> None:
        """No longer a master candidate: drop the configuration replica."""
        master = _read_ssconf_value(self.paths, "master_node")
        if master is not None and master == self._own_name():
            raise HandlerError("this node is the master and cannot be demoted")
        self.paths.config_data.unlink(missing_ok=True)

    def node_config_serial(self) -> int | None:
        """Serial number of this node's config.data replica (None without one).

        Not in Ganeti: a failover candidate compares serials to refuse a stale takeover.
        """
        try:
            data = self.paths.config_data.read_bytes()
        except FileNotFoundError:
            return None
        try:
            serial = orjson.loads(data).get("serial_no")
        except (orjson.JSONDecodeError, AttributeError):
            raise HandlerError(f"{self.paths.config_data} is not valid JSON") from None
        return int(serial) if isinstance(serial, int) else None

    def node_stop_master(self) -> bool:
        """Stop a master daemon running on this node (if any); True if one was stopped."""
        pid = _read_pid(self.paths.masterd_pid)
        if pid is None or not _is_masterd(pid, self.paths):
            return False
        os.kill(pid, signal.SIGTERM)
        return True

    async def node_master_reachable(self) -> bool:
        """Whether this node can reach the master's node daemon (automatic failover)."""
        from ganeti.masterd.failover import make_rpc
        from ganeti.noded.autofailover import master_reachable

        port = self.noded_port or constants.DEFAULT_NODED_PORT
        return await master_reachable(self.paths, make_rpc(self.paths, self.clock, port), port)

    def node_start_master_daemons(self, no_voting: Any) -> int:
        """Start the master daemon on this node; returns its pid."""
        pid = _read_pid(self.paths.masterd_pid)
        if pid is not None and _is_masterd(pid, self.paths):
            return pid
        return self._start_masterd(bool(no_voting))

    def _start_masterd(self, no_voting: bool) -> int:
        cmd = [sys.executable, "-m", "ganeti.masterd.tap", "--root", str(self.paths.root)]
        port = self.noded_port
        if port is not None:
            cmd += ["--noded-port", str(port)]
        if no_voting:
            cmd += ["--no-voting", "--yes-do-it"]
        log_path = self.paths.daemon_log("master-daemon")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return proc.pid

    # --- files ------------------------------------------------------------------------

    def upload_file(
        self, file_name: Any, data: Any, mode: Any, uid: Any, gid: Any, atime: Any, mtime: Any
    ) -> None:
        virtual = _as_str(file_name, "file name")
        try:
            path = self.paths.from_virtual(virtual)
        except ValueError as exc:
            raise HandlerError(str(exc)) from None
        if path not in self.paths.upload_whitelist():
            raise HandlerError(f"refusing to write {virtual}: not in the upload whitelist")
        if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise HandlerError("mode must be an integer permission mode")
        content = decompress(data)
        uid_num = _lookup_id(uid, pwd.getpwnam, "user")
        gid_num = _lookup_id(gid, grp.getgrnam, "group")
        times = None
        if atime is not None and mtime is not None:
            if not isinstance(atime, int | float) or not isinstance(mtime, int | float):
                raise HandlerError("atime and mtime must be numbers")
            times = (float(atime), float(mtime))
        write_file_atomic(path, content, mode=mode, uid=uid_num, gid=gid_num, times=times)

    def write_ssconf_files(self, values: Any) -> None:
        """Replace ssconf files; values are strings or lists of lines (one item per line)."""
        if not isinstance(values, dict):
            raise HandlerError("ssconf values must be a dict")
        normalised: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, list):
                value = "".join(f"{line}\n" for line in value)
            elif isinstance(value, str) and value and not value.endswith("\n"):
                value += "\n"
            normalised[key] = value
        try:
            check_ssconf_values(normalised)
        except errors.SsconfError as exc:
            raise HandlerError(str(exc)) from None
        with _flock(self.paths.ssconf_lock):
            write_ssconf_files(self.paths, normalised)

    # --- job queue replication -------------------------------------------------------

    def _queue_path(self, virtual: Any) -> Path:
        name = _as_str(virtual, "queue file name")
        try:
            path = self.paths.from_virtual(name)
        except ValueError as exc:
            raise HandlerError(str(exc)) from None
        if self.paths.queue_dir not in path.parents:
            raise HandlerError(f"{name} is not below the job queue directory")
        return path

    async def jobqueue_update(self, file_name: Any, content: Any) -> None:
        path = self._queue_path(file_name)
        data = decompress(content)
        async with QueueLock(self.paths.queue_lock, self.clock):
            write_file_atomic(path, data, mode=0o600)

    async def jobqueue_rename(self, rename: Any) -> None:
        if not isinstance(rename, list):
            raise HandlerError("rename must be a list of [old, new] pairs")
        pairs = []
        for item in rename:
            if not (isinstance(item, list) and len(item) == 2):
                raise HandlerError(f"bad rename entry {item!r}")
            pairs.append((self._queue_path(item[0]), self._queue_path(item[1])))
        async with QueueLock(self.paths.queue_lock, self.clock):
            for old, new in pairs:
                new.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(old, new)
                except FileNotFoundError:
                    # A candidate that missed the job file has nothing to archive.
                    log.warn("queue rename: {old} does not exist", old=str(old))

    async def jobqueue_purge(self) -> None:
        async with QueueLock(self.paths.queue_lock, self.clock):
            for entry in self.paths.queue_dir.iterdir():
                if entry.name == "lock":
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    async def jobqueue_set_drain_flag(self, flag: Any) -> None:
        if not isinstance(flag, bool):
            raise HandlerError("drain flag must be a boolean")
        async with QueueLock(self.paths.queue_lock, self.clock):
            if flag:
                write_file_atomic(self.paths.queue_drain, b"", mode=0o600)
            else:
                self.paths.queue_drain.unlink(missing_ok=True)


def _read_ssconf_value(paths: Paths, key: str) -> str | None:
    try:
        return paths.ssconf(key).read_text().strip() or None
    except FileNotFoundError:
        return None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_masterd(pid: int, paths: Paths) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"masterd" in cmdline and str(paths.root).encode() in cmdline


def _lookup_id(name: Any, lookup: Callable[[str], Any], what: str) -> int | None:
    """Numeric id for an owner name; None leaves ownership alone.

    Only root may give files away; an unprivileged node daemon (tests, the demo) keeps
    its own ownership.
    """
    if name in (None, ""):
        return None
    if not isinstance(name, str):
        raise HandlerError(f"{what} must be a name")
    try:
        num: int = lookup(name)[2]
    except KeyError:
        raise HandlerError(f"unknown {what} {name!r}") from None
    if os.geteuid() != 0:
        return None
    return num


def read_allowed_storage_paths(paths: Paths) -> list[Path]:
    """Directories listed in the node-local file-storage-paths file (never uploadable)."""
    try:
        lines = paths.file_storage_paths.read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#") and line.startswith("/"):
            out.append(paths.from_virtual(os.path.normpath(line)))
    return out


class _flock:
    """A blocking exclusive flock, for short critical sections (ssconf writes)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)


class QueueLock:
    """The queue lock file, polled without blocking the reactor, 10 s timeout.

    The master daemon on the same node holds it while it writes queue files itself.
    """

    def __init__(self, path: Path, clock: IReactorTime, timeout: float = QUEUE_LOCK_TIMEOUT):
        self._path = path
        self._clock = clock
        self._timeout = timeout
        self._fd = -1

    async def __aenter__(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = self._clock.seconds() + self._timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if self._clock.seconds() >= deadline:
                os.close(fd)
                raise errors.JobQueueError(f"could not lock {self._path} within {self._timeout}s")
            await task.deferLater(self._clock, _QUEUE_LOCK_POLL)
        self._fd = fd

    async def __aexit__(self, *exc: object) -> None:
        os.close(self._fd)
