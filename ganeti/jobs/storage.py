"""The job queue on disk: job files, the id serial, the version and drain files, archive.

Layout (all under ``Paths.queue_dir``)::

    job-<id>                        one JSON job file per live job (mode 0640)
    archive/<id // 10000>/job-<id>  archived jobs (directories 0750)
    serial                          last allocated job id, followed by a newline
    version                         queue format version ("1")
    drain                           exists => new submissions are refused

Writes are atomic (temporary file, fsync, rename) and every changed file is handed to an
:class:`IQueueReplicator` afterwards, so that master candidates hold a copy.  The default
replicator does nothing; replication to candidates plugs in here.

Everything in this module blocks on the file system; the queue calls it from the
reactor thread in batches (one batch per tick), which keeps the cost of a trivial job at
about two small durable writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import Interface, implementer

from ganeti import errors, serializer
from ganeti.fileutils import fsync_dir, sync_filesystem
from ganeti.jobs.model import QueuedJob
from ganeti.paths import Paths

log = Logger()

QUEUE_VERSION = 1
JOB_FILE_MODE = 0o640
ARCHIVE_DIR_MODE = 0o750
_JOB_PREFIX = "job-"


class IQueueReplicator(Interface):
    """Copies queue changes to the master candidates (implemented by membership)."""

    def update(path: Path, content: bytes) -> Deferred[None]:
        """``path`` (under the queue dir) now holds ``content``."""

    def rename(pairs: Sequence[tuple[Path, Path]]) -> Deferred[None]:
        """Each ``(old, new)`` path was renamed (archiving)."""


@implementer(IQueueReplicator)
class NullReplicator:
    """Replicates nothing: single-node clusters and tests."""

    def update(self, path: Path, content: bytes) -> Deferred[None]:
        return succeed(None)

    def rename(self, pairs: Sequence[tuple[Path, Path]]) -> Deferred[None]:
        return succeed(None)


def encode_job(job: QueuedJob) -> bytes:
    return serializer.dump_json(job.to_dict()).encode("utf-8")


def decode_job(data: bytes, *, what: str, archived: bool = False) -> QueuedJob:
    try:
        parsed = serializer.load_json(data, what=what)
    except errors.GanetiError as exc:
        raise errors.JobQueueError(str(exc)) from exc
    try:
        return QueuedJob.from_dict(parsed, archived=archived)
    except errors.JobQueueError as exc:
        raise errors.JobQueueError(f"{what}: {exc}") from exc


def _write_temp(path: Path, data: bytes, mode: int, *, sync: bool) -> Path:
    """Write ``data`` next to ``path`` (not yet renamed); fdatasync it when ``sync``."""
    tmp = path.with_name(f".{path.name}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        if sync:
            os.fdatasync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


# Above this many files a batch is made durable with one syncfs instead of one
# fdatasync per file (each of which waits for its own journal commit).
_SYNCFS_THRESHOLD = 8


class JobStorage:
    """Blocking access to the queue directory."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.writes = 0  # number of files written, for tests and benchmarks

    # -- setup ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the directories and the version file; refuse an unknown version."""
        qdir = self.paths.queue_dir
        qdir.mkdir(parents=True, exist_ok=True)
        self.paths.queue_archive_dir.mkdir(parents=True, exist_ok=True)
        vfile = self.paths.queue_version
        if vfile.exists():
            text = vfile.read_text().strip()
            if text != str(QUEUE_VERSION):
                raise errors.JobQueueError(
                    f"{vfile}: unsupported job queue version {text!r} (expected {QUEUE_VERSION})"
                )
        else:
            self.write_batch([(vfile, f"{QUEUE_VERSION}\n".encode(), 0o640)])

    def read_serial(self) -> int:
        """The last allocated id (0 for a new queue)."""
        path = self.paths.queue_serial
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return 0
        try:
            value = int(text)
        except ValueError:
            raise errors.JobQueueError(f"{path}: not a job serial: {text!r}") from None
        if value < 0:
            raise errors.JobQueueError(f"{path}: negative job serial {value}")
        return value

    def serial_content(self, serial: int) -> bytes:
        return f"{serial}\n".encode()

    # -- drain flag -------------------------------------------------------------------------

    def is_drained(self) -> bool:
        return self.paths.queue_drain.exists()

    def set_drained(self, drained: bool) -> None:
        path = self.paths.queue_drain
        if drained:
            self.write_batch([(path, b"", 0o640)])
        elif path.exists():
            path.unlink()
            fsync_dir(path.parent)

    # -- job files --------------------------------------------------------------------------

    def write_batch(self, files: Sequence[tuple[Path, bytes, int]]) -> None:
        """Durably replace every ``(path, content, mode)``; one directory fsync per dir."""
        dirs: set[Path] = set()
        batched = len(files) > _SYNCFS_THRESHOLD
        temps = []
        for path, content, mode in files:
            temps.append((_write_temp(path, content, mode, sync=not batched), path))
            dirs.add(path.parent)
            self.writes += 1
        if batched:
            sync_filesystem(self.paths.queue_dir)
        for tmp, path in temps:
            os.replace(tmp, path)
        for d in dirs:
            fsync_dir(d)

    def job_ids_on_disk(self) -> list[int]:
        ids = []
        for entry in os.scandir(self.paths.queue_dir):
            name = entry.name
            if name.startswith(_JOB_PREFIX) and name[len(_JOB_PREFIX) :].isdigit():
                ids.append(int(name[len(_JOB_PREFIX) :]))
        return sorted(ids)

    def load_job(self, job_id: int) -> QueuedJob:
        path = self.paths.job_file(job_id)
        job = decode_job(path.read_bytes(), what=str(path))
        if job.id != job_id:
            raise errors.JobQueueError(f"{path}: contains job {job.id}, not {job_id}")
        return job

    def load_archived(self, job_id: int) -> QueuedJob | None:
        path = self.paths.archived_job_file(job_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return decode_job(data, what=str(path), archived=True)

    def archived_ids(self) -> Iterator[int]:
        root = self.paths.queue_archive_dir
        if not root.is_dir():
            return
        for sub in sorted(os.scandir(root), key=lambda e: e.name):
            if not sub.is_dir():
                continue
            for entry in os.scandir(sub.path):
                name = entry.name
                if name.startswith(_JOB_PREFIX) and name[len(_JOB_PREFIX) :].isdigit():
                    yield int(name[len(_JOB_PREFIX) :])

    def archive(self, job_ids: Sequence[int]) -> list[tuple[Path, Path]]:
        """Move job files into the archive; returns the renames done."""
        pairs: list[tuple[Path, Path]] = []
        dirs: set[Path] = set()
        for job_id in job_ids:
            old = self.paths.job_file(job_id)
            new = self.paths.archived_job_file(job_id)
            if not new.parent.is_dir():
                new.parent.mkdir(mode=ARCHIVE_DIR_MODE, parents=True, exist_ok=True)
                dirs.add(new.parent.parent)
            os.replace(old, new)
            pairs.append((old, new))
            dirs.add(old.parent)
            dirs.add(new.parent)
        for d in dirs:
            fsync_dir(d)
        return pairs
