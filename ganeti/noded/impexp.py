"""The node procedures of disk transfers: ``import_start``, ``export_start``,
``impexp_status``, ``impexp_abort``, ``impexp_cleanup`` (protocol in
:mod:`ganeti.noded.transfer`).

Sources and destinations are named, never given as free paths:

* ``["raw", disk]``: the disk's device or image file (the storage driver resolves and
  checks the path, e.g. below an allowed file storage directory);
* ``["file", export, file]``: a file in the node's export directory
  (``<export dir>/<export>/<file>``; plain names only);
* ``["script", disk, index]``: the instance OS's ``export`` script (source) or ``import``
  script (destination) for disk ``index`` of the INST_DICT ``instance``, whose disks are
  assembled.

``opts``: ``compress`` (``none``, ``gzip``, ``gzip-fast``, ``gzip-slow``),
``connect_timeout`` seconds, ``magic`` (the token, export_start only), and our
extensions ``listen_address`` (import_start: the address to bind), ``peer_node``
(import_start: the node name the sender's client certificate must carry),
``expected_size`` (bytes; the receiver refuses more and requires exactly that many).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from ganeti import errors, osdef, tls
from ganeti.noded import transfer as tr
from ganeti.noded.blockdev import BlockdevBackend
from ganeti.noded.instargs import parse_disk, parse_instance
from ganeti.noded.osproc import OSBackend
from ganeti.paths import Paths
from ganeti.rpc.server import HandlerError

log = Logger()

MIB = 1024 * 1024
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+:-]*$")
MAX_FINISHED = 200


def plain_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _PLAIN_NAME.match(value) or ".." in value:
        raise HandlerError(f"{what} {value!r} is not a plain file name")
    return value


def _opts(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise HandlerError("opts must be a dict")
    out = dict(value)
    try:
        out["compress"] = tr.check_compression(out.get("compress") or "none")
    except tr.TransferError as exc:
        raise HandlerError(str(exc)) from None
    tmo = out.get("connect_timeout")
    if tmo is None:
        tmo = tr.DEFAULT_CONNECT_TIMEOUT
    if not isinstance(tmo, int | float) or isinstance(tmo, bool) or not 0 < tmo <= 3600:
        raise HandlerError("connect_timeout must be a number of seconds in (0, 3600]")
    out["connect_timeout"] = float(tmo)
    size = out.get("expected_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise HandlerError("expected_size must be a non-negative integer or null")
    for key in ("listen_address", "peer_node"):
        if out.get(key) is not None and not isinstance(out[key], str):
            raise HandlerError(f"{key} must be a string")
    return out


class TransferManager:
    """Every transfer of this node daemon, by name."""

    def __init__(
        self,
        paths: Paths,
        reactor: Any,
        run_in_thread: tr.RunInThread,
        blockdev: BlockdevBackend,
        os_backend: OSBackend,
    ) -> None:
        self.paths = paths
        self.reactor = reactor
        self.run = run_in_thread
        self.blockdev = blockdev
        self.os_backend = os_backend
        self.transfers: dict[str, tr.Transfer] = {}

    def handlers(self) -> Mapping[str, Callable[..., Any]]:
        return {
            "import_start": self.import_start,
            "export_start": self.export_start,
            "impexp_status": self.impexp_status,
            "impexp_abort": self.impexp_abort,
            "impexp_cleanup": self.impexp_cleanup,
        }

    # -- naming sources and sinks --

    def export_file(self, export: Any, name: Any) -> Path:
        return self.paths.export_dir / plain_name(export, "export") / plain_name(name, "file")

    async def _located(self, instance: Any, index: Any) -> tuple[Any, int, Any]:
        args = parse_instance(instance)
        if not isinstance(index, int) or isinstance(index, bool):
            raise HandlerError("disk index must be an integer")
        if not 0 <= index < len(args.disks):
            raise HandlerError(f"instance {args.name} has no disk/{index}")
        return args, index, await self.blockdev.locate(args.disks)

    async def _script_env(
        self, instance: Any, index: Any, kind: str
    ) -> tuple[osdef.OSDefinition, dict[str, str], str]:
        args, idx, located = await self._located(instance, index)
        definition, env = await self.os_backend._environment(args, 0)
        where = located[idx]
        prefix = "EXPORT" if kind == osdef.SCRIPT_EXPORT else "IMPORT"
        env[f"{prefix}_INDEX"] = str(idx)
        env[f"{prefix}_DISK_PATH"] = where.dev_path
        env[f"{prefix}_DEVICE"] = where.dev_path
        if where.uri:
            env[f"{prefix}_DISK_URI"] = where.uri
        return definition, env, args.name

    def _starter(
        self, definition: osdef.OSDefinition, kind: str, env: dict[str, str], name: str, idx: int
    ) -> tr.ScriptStarter:
        runner = self.os_backend.runner
        log_file = runner.log_path(kind, definition.name, name, f"disk{idx}")

        def start(fd: int) -> defer.Deferred[tuple[bool, str]]:
            out_fd = fd if kind == osdef.SCRIPT_EXPORT else None
            in_fd = None if kind == osdef.SCRIPT_EXPORT else fd
            d = runner.run(
                definition,
                kind,
                env,
                log_file,
                osdef.CREATE_TIMEOUT,
                stdin_fd=in_fd,
                stdout_fd=out_fd,
            )
            return d.addCallback(lambda r: (r.ok, "" if r.ok else r.describe()))

        return start

    async def _sink(self, dest: Any, instance: Any, component: str) -> tr.ITransferSink:
        kind, rest = _io_spec(dest)
        if kind == "raw":
            (disk,) = _arity(rest, 1, "raw destination")
            dev = parse_disk(disk)
            driver = self.blockdev.storage.for_device(dev)
            where = await driver.assemble(dev)
            if not where.dev_path:
                raise HandlerError(f"{dev.describe()} has no local path to write to")
            is_file = where.kind == "file"
            capacity = dev.size * MIB if (not is_file or where.format == "raw") else None
            return tr.FileSink(
                where.dev_path, sparse=is_file, capacity=capacity, description=dev.describe()
            )
        if kind == "file":
            export, name = _arity(rest, 2, "file destination")
            path = self.export_file(export, name)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            path.unlink(missing_ok=True)
            return tr.FileSink(path, sparse=True, create=True, description=str(path))
        if kind == "script":
            _disk, index = _arity(rest, 2, "script destination")
            definition, env, name = await self._script_env(instance, index, osdef.SCRIPT_IMPORT)
            start = self._starter(definition, osdef.SCRIPT_IMPORT, env, name, int(index))
            return tr.ScriptSink(start, f"OS {definition.name} import of {name} disk/{index}")
        raise HandlerError(f"unknown destination kind {kind!r}")

    async def _source(self, source: Any, instance: Any, component: str) -> tr.ITransferSource:
        kind, rest = _io_spec(source)
        if kind == "raw":
            (disk,) = _arity(rest, 1, "raw source")
            dev = parse_disk(disk)
            where = await self.blockdev.storage.for_device(dev).assemble(dev)
            if not where.dev_path:
                raise HandlerError(f"{dev.describe()} has no local path to read from")
            return tr.FileSource(where.dev_path, dev.describe())
        if kind == "file":
            export, name = _arity(rest, 2, "file source")
            path = self.export_file(export, name)
            if not path.is_file():
                raise HandlerError(f"export file {export}/{name} does not exist")
            return tr.FileSource(path, f"{export}/{name}")
        if kind == "script":
            _disk, index = _arity(rest, 2, "script source")
            definition, env, name = await self._script_env(instance, index, osdef.SCRIPT_EXPORT)
            start = self._starter(definition, osdef.SCRIPT_EXPORT, env, name, int(index))
            return tr.ScriptSource(start, f"OS {definition.name} export of {name} disk/{index}")
        raise HandlerError(f"unknown source kind {kind!r}")

    # -- bookkeeping --

    def _register(self, t: tr.Transfer) -> None:
        done = [n for n, x in self.transfers.items() if x.done]
        for name in done[: max(0, len(done) - MAX_FINISHED)]:
            del self.transfers[name]
        self.transfers[t.name] = t

    def _new_name(self, kind: str, component: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", component)[:40] or "data"
        return f"{kind}-{safe}-{tr.new_magic()[:12]}"

    def _cluster_pair(self) -> tls.KeyPair:
        try:
            return tls.KeyPair.load(self.paths.server_pem)
        except errors.CertificateError as exc:
            raise HandlerError(str(exc)) from None

    def _client_pair(self) -> tls.KeyPair:
        for path in (self.paths.client_pem, self.paths.server_pem):
            if path.exists():
                return tls.KeyPair.load(path)
        raise HandlerError("this node has no client certificate")

    # -- procedures --

    async def import_start(
        self, opts: Any, instance: Any, component: Any, dest: Any
    ) -> dict[str, Any]:
        o = _opts(opts)
        comp = str(component or "data")
        sink = await self._sink(dest, instance, comp)
        now = self.reactor.seconds()
        t = tr.Transfer(
            name=self._new_name("import", comp),
            kind="import",
            component=comp,
            description=sink.description,
            started=now,
            expected_size=o.get("expected_size"),
            magic=tr.new_magic(),
            peer_node=o.get("peer_node"),
        )
        server = self._cluster_pair()
        holder: dict[str, Any] = {}

        def close_listener() -> None:
            port = holder.pop("port", None)
            timer = holder.pop("timer", None)
            if timer is not None and timer.active():
                timer.cancel()
            if port is not None:
                port.stopListening()

        receiver = tr.Receiver(
            t,
            sink,
            o["compress"],
            self.reactor,
            self.run,
            tls.cert_digest(server.cert),
            close_listener,
        )
        context = tls.server_context_factory(server, server.cert)
        try:
            port = self.reactor.listenSSL(
                0, tr.ReceiveFactory(receiver), context, interface=o.get("listen_address") or ""
            )
        except Exception as exc:
            sink.abort()
            raise HandlerError(f"cannot listen for the transfer: {exc}") from None
        holder["port"] = port
        t.listen_port = port.getHost().port

        def expire() -> None:
            holder.pop("timer", None)
            if not t.connected:
                receiver.fail(f"no sender connected within {o['connect_timeout']:g}s")

        holder["timer"] = self.reactor.callLater(o["connect_timeout"], expire)
        t.stop = receiver.fail
        self._register(t)
        log.info(
            "transfer {name}: waiting on port {port} for {what}",
            name=t.name,
            port=t.listen_port,
            what=sink.description,
        )
        return {"name": t.name, "port": t.listen_port, "magic": t.magic}

    async def export_start(
        self, opts: Any, host: Any, port: Any, instance: Any, component: Any, source: Any
    ) -> str:
        o = _opts(opts)
        magic = o.get("magic")
        if not isinstance(magic, str) or len(magic) < tr.MIN_MAGIC_LENGTH:
            raise HandlerError("opts must carry the transfer token (magic)")
        if not isinstance(host, str) or not host:
            raise HandlerError("host must be a non-empty string")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise HandlerError("port must be a TCP port number")
        comp = str(component or "data")
        src = await self._source(source, instance, comp)
        now = self.reactor.seconds()
        t = tr.Transfer(
            name=self._new_name("export", comp),
            kind="export",
            component=comp,
            description=src.description,
            started=now,
            expected_size=src.expected_size,
        )
        ca = self._cluster_pair().cert
        context = tls.client_context_factory(self._client_pair(), ca)
        done: defer.Deferred[None] = defer.Deferred()

        def make() -> tr.SendProtocol:
            return tr.SendProtocol(t, src, magic, o["compress"], self.reactor, self.run, done)

        factory = tr.SendFactory(make, done)
        connector = self.reactor.connectSSL(
            host, port, factory, context, timeout=int(o["connect_timeout"])
        )

        def stop(message: str) -> None:
            proto = factory.protocol_instance
            if proto is not None:
                proto.abort(message)
            else:
                connector.disconnect()
                src.abort()
                if not done.called:
                    done.errback(tr.TransferError(message))

        t.stop = stop

        def ok(_: object) -> None:
            t.succeed(self.reactor.seconds())
            log.info("transfer {name}: sent {size} bytes", name=t.name, size=t.size)

        def failed(f: Any) -> None:
            src.abort()
            t.fail(tr._describe_failure(f), self.reactor.seconds())
            log.warn("transfer {name} failed: {msg}", name=t.name, msg=t.error_message)

        done.addCallbacks(ok, failed)
        self._register(t)
        return t.name

    def impexp_status(self, names: Any) -> list[dict[str, Any] | None]:
        if not isinstance(names, list):
            raise HandlerError("names must be a list")
        now = self.reactor.seconds()
        out: list[dict[str, Any] | None] = []
        for name in names:
            t = self.transfers.get(name) if isinstance(name, str) else None
            out.append(None if t is None else t.status(now))
        return out

    def impexp_abort(self, name: Any) -> None:
        t = self.transfers.get(name) if isinstance(name, str) else None
        if t is None:
            raise HandlerError(f"no transfer {name!r}")
        if not t.done and t.stop is not None:
            t.stop("aborted by the master")
        t.fail("aborted by the master", self.reactor.seconds())

    def impexp_cleanup(self, name: Any) -> None:
        t = self.transfers.get(name) if isinstance(name, str) else None
        if t is None:
            return
        if not t.done:
            self.impexp_abort(name)
        del self.transfers[name]


def _io_spec(value: Any) -> tuple[str, list[Any]]:
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise HandlerError("a source/destination must be [kind, args...]")
    return value[0], value[1:]


def _arity(rest: list[Any], n: int, what: str) -> list[Any]:
    if len(rest) != n:
        raise HandlerError(f"{what} takes {n} argument(s), got {len(rest)}")
    return rest


def remove_tree_below(base: Path, target: Path) -> None:
    """``rm -r target`` if it lies strictly below ``base`` (symbolic links not followed)."""
    base_r = base.resolve()
    if target.parent.resolve() != base_r:
        raise HandlerError(f"{target} is not directly below {base}")
    import shutil

    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    else:
        os.stat(target)  # raises FileNotFoundError
