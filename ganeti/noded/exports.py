"""The node's export directory (``/srv/ganeti/export``): ``export_list``,
``export_info``, ``export_remove``, ``finalize_export``.

An export is a directory ``<export dir>/<instance name>`` holding ``config.ini`` (see
:mod:`ganeti.exportmanifest`) and one dump file per disk.  While an export is written it
lives in ``<instance name>.new``; ``finalize_export`` writes the manifest there and
renames it into place (replacing an older export of the same instance).  Only plain names
directly below the export directory are accepted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ganeti import exportmanifest
from ganeti.fileutils import write_file_atomic
from ganeti.noded.impexp import plain_name
from ganeti.paths import Paths
from ganeti.rpc.server import HandlerError

log = Logger()

STAGING_SUFFIX = ".new"


class ExportsBackend:
    def __init__(self, paths: Paths, clock: IReactorTime) -> None:
        self.paths = paths
        self.clock = clock

    def handlers(self) -> Mapping[str, Callable[..., Any]]:
        return {
            "export_list": self.export_list,
            "export_info": self.export_info,
            "export_remove": self.export_remove,
            "finalize_export": self.finalize_export,
        }

    def _dir(self, name: Any) -> Path:
        return self.paths.export_dir / plain_name(name, "export")

    def export_list(self) -> list[str]:
        """Complete exports (with a manifest) on this node, sorted."""
        try:
            entries = sorted(os.listdir(self.paths.export_dir))
        except FileNotFoundError:
            return []
        return [
            e
            for e in entries
            if not e.endswith(STAGING_SUFFIX)
            and (self.paths.export_dir / e / exportmanifest.FILE_NAME).is_file()
        ]

    def export_info(self, path: Any) -> str:
        """The manifest text of an export, named by its name or its directory's wire path."""
        if not isinstance(path, str) or not path:
            raise HandlerError("path must be a non-empty string")
        if path.startswith("/"):
            try:
                real = self.paths.from_virtual(path)
            except ValueError as exc:
                raise HandlerError(str(exc)) from None
            if real.parent != self.paths.export_dir:
                raise HandlerError(f"{path} is not an export below the export directory")
            name = real.name
        else:
            name = path
        manifest = self._dir(name) / exportmanifest.FILE_NAME
        try:
            return manifest.read_text()
        except FileNotFoundError:
            raise HandlerError(f"no export {name!r} on this node") from None

    def export_remove(self, export: Any) -> None:
        target = self._dir(export)
        if not target.exists() and not target.is_symlink():
            raise HandlerError(f"no export {export!r} on this node")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()

    def finalize_export(self, instance: Any, snap_disks: Any) -> None:
        """Write the manifest into ``<name>.new`` and rename it to ``<name>``.

        ``instance`` is an INST_DICT plus ``export_options`` (``source`` node name,
        ``compression``, ``dump_method``); ``snap_disks`` lists per disk
        ``{"dump", "size", "iv_name", "name", "sha256"}`` or false for a disk that was
        not exported (left out of the manifest, as Ganeti does).
        """
        if not isinstance(instance, Mapping) or not isinstance(snap_disks, list):
            raise HandlerError("finalize_export takes an instance dict and a list of disks")
        name = plain_name(instance.get("name"), "instance name")
        options = instance.get("export_options") or {}
        if not isinstance(options, Mapping):
            raise HandlerError("export_options must be a dict")
        staging = self._dir(name + STAGING_SUFFIX)
        if not staging.is_dir():
            raise HandlerError(f"nothing was exported for {name} on this node")
        disks = []
        for idx, entry in enumerate(snap_disks):
            if entry is False or entry is None:
                continue
            if not isinstance(entry, Mapping):
                raise HandlerError(f"disk {idx}: expected a dict or false")
            dump = plain_name(entry.get("dump"), "dump file")
            if not (staging / dump).is_file():
                raise HandlerError(f"disk {idx}: dump file {dump} is missing")
            size = entry.get("size")
            if not isinstance(size, int) or size < 0:
                raise HandlerError(f"disk {idx}: size must be a number of MiB")
            disks.append(
                exportmanifest.ExportDisk(
                    iv_name=str(entry.get("iv_name") or f"disk/{idx}"),
                    dump=dump,
                    size=size,
                    name=entry.get("name") or None,
                    sha256=entry.get("sha256") or None,
                )
            )
        text = exportmanifest.build(
            instance,
            disks,
            source=str(options.get("source") or instance.get("primary_node") or ""),
            timestamp=int(self.clock.seconds()),
            compression=str(options.get("compression") or "none"),
            dump_method=str(options.get("dump_method") or exportmanifest.DUMP_SCRIPT),
        )
        write_file_atomic(staging / exportmanifest.FILE_NAME, text.encode(), mode=0o640)
        final = self._dir(name)
        if final.exists():
            shutil.rmtree(final)
        os.rename(staging, final)
        log.info("export of {name} finalized ({n} disks)", name=name, n=len(disks))
