"""Durable, atomic replacement of a file: temp file, write, fsync, rename, fsync directory.

The system calls are reached through :class:`FileOps` so that tests can make one of them
fail and check that a crash at that point leaves the previous file intact.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs


@attrs.frozen
class FileOps:
    """The operations :func:`atomic_write` uses; replace single ones in tests."""

    fsync: Callable[[int], None] = os.fsync
    replace: Callable[[str | Path, str | Path], None] = os.replace
    writev: Callable[[int, Sequence[bytes | memoryview]], int] = os.writev


_IOV_MAX = 1024


def _write_all(ops: FileOps, fd: int, chunks: Sequence[bytes]) -> None:
    """Write every chunk, coping with short writes and the iovec limit."""
    pending: list[bytes | memoryview] = [c for c in chunks if c]
    while pending:
        batch = pending[:_IOV_MAX]
        written = ops.writev(fd, batch)
        rest = pending[_IOV_MAX:]
        for i, chunk in enumerate(batch):
            if written >= len(chunk):
                written -= len(chunk)
                continue
            # Short write: keep the unwritten tail of this chunk and everything after it.
            pending = [memoryview(chunk)[written:], *batch[i + 1 :], *rest]
            break
        else:
            pending = rest


def atomic_write(
    path: Path,
    data: bytes | Sequence[bytes],
    mode: int,
    ops: FileOps | None = None,
    *,
    sync_dir: bool = True,
    keep_previous: Path | None = None,
) -> None:
    """Replace ``path`` with ``data`` (bytes or a sequence of chunks) durably and atomically.

    Readers see either the old or the new content, never a mix; after return the new
    content survives a power loss.  On any error the temporary file is removed and the
    old file is untouched.

    With ``keep_previous``, the old file stays hard-linked under that name: the rename
    then frees no blocks, and the caller unlinks the old content later, off the latency
    path (freeing a 30 MB file costs as much as writing it on some file systems).
    """
    ops = ops or FileOps()
    chunks = [data] if isinstance(data, bytes) else data
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    kept = False
    try:
        try:
            os.fchmod(fd, mode)  # the umask must not weaken or widen the mode
            _write_all(ops, fd, chunks)
            ops.fsync(fd)
        finally:
            os.close(fd)
        if keep_previous is not None:
            kept = _link_previous(path, keep_previous)
        ops.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, keep_previous if kept else None):
            if leftover is not None:
                try:
                    os.unlink(leftover)
                except FileNotFoundError:
                    pass
        raise
    if sync_dir:
        fsync_dir(path.parent, ops)


def _link_previous(path: Path, keep: Path) -> bool:
    try:
        os.unlink(keep)
    except FileNotFoundError:
        pass
    try:
        os.link(path, keep)
    except FileNotFoundError:
        return False  # first write: nothing to keep
    return True


def fsync_dir(directory: Path, ops: FileOps | None = None) -> None:
    """Make a rename in ``directory`` durable."""
    ops = ops or FileOps()
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ops.fsync(dfd)
    finally:
        os.close(dfd)
