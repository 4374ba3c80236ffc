"""Reading and writing ``config.data``.

Loading is strict: an unreadable, corrupt, truncated, wrong-version or non-validating file
raises :class:`~ganeti.errors.ConfigurationError` naming the file, never an empty cluster.

Writing assembles the file from per-object JSON fragments cached by object identity and
``serial_no`` (:class:`ConfigSerializer`), so a commit re-encodes only what changed; the
bytes then go through :func:`~ganeti.config.atomic.atomic_write`.

Loading hands the serialiser a head start: each object whose parsed dict is exactly what
:meth:`~ganeti.objects.ConfigObject.to_dict` gives back (true for every file this code
wrote) gets its fragment encoded straight from that dict, so the first commit after a
start does not have to encode 100,000 objects.

JSON goes through ``orjson`` (several times faster than the standard library both ways).
"""

from __future__ import annotations

import gc
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson

from ganeti import constants, errors
from ganeti.config.atomic import FileOps, atomic_write
from ganeti.objects import OBJECT_SECTIONS, ConfigData, ConfigObject

CONFIG_FILE_MODE = 0o640

_SORT_KEYS = orjson.OPT_SORT_KEYS

# A fragment: the object it encodes, its serial_no then, and b'"<uuid>":{...}'.
Fragment = tuple[ConfigObject, int, bytes]
# Fragments encoded while loading, per section, until a serialiser adopts them.
_SEEDS: weakref.WeakKeyDictionary[ConfigData, dict[str, dict[str, Fragment]]] = (
    weakref.WeakKeyDictionary()
)


def _encode(value: Any) -> bytes:
    """Compact JSON with sorted keys (UTF-8; JSON's own escapes for control characters)."""
    return orjson.dumps(value, option=_SORT_KEYS)


def _fragment(uuid: str, value: Any) -> bytes:
    return orjson.dumps(uuid) + b":" + orjson.dumps(value, option=_SORT_KEYS)


# From this many objects on, a loaded config is moved out of the cyclic GC's reach.
_FREEZE_OBJECTS = 10000


@contextmanager
def _gc_paused() -> Iterator[list[int]]:
    """Keep the cyclic GC from scanning the heap over and over while ~10^6 containers are
    created: it would run hundreds of times and double the load time.

    Merely pausing it would only defer the work: the first collections afterwards would
    walk every new container (a quarter of a second at 20,000 instances, in the master's
    first jobs).  So when the body reports (in the yielded list) that it built a large
    config, that config is moved to the GC's permanent generation (``gc.freeze``): it
    lives as long as the process and its records form no reference cycles, so
    refcounting alone frees whatever a later change replaces.
    """
    enabled = gc.isenabled()
    built = [0]
    gc.disable()
    try:
        yield built
    finally:
        if built[0] >= _FREEZE_OBJECTS:
            gc.freeze()
        if enabled:
            gc.enable()


def verify_error(message: str, problems: list[str], limit: int = 20) -> errors.ConfigVerifyError:
    """A ConfigVerifyError whose text lists at most ``limit`` problems (``.errors`` has all)."""
    shown = problems[:limit]
    if len(problems) > limit:
        shown = [*shown, f"... and {len(problems) - limit} more"]
    err = errors.ConfigVerifyError(message, shown)
    err.errors = list(problems)
    return err


def split_version(version: int) -> tuple[int, int, int]:
    return version // 1000000, (version // 10000) % 100, version % 10000


def check_version(version: object, source: str) -> None:
    """Accept the same major.minor as ours; the revision may differ."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise errors.ConfigurationError(f"{source}: missing or invalid 'version' {version!r}")
    if split_version(version)[:2] != (constants.CONFIG_MAJOR, constants.CONFIG_MINOR):
        major, minor, rev = split_version(version)
        raise errors.ConfigVersionMismatch(
            f"{source}: configuration version {major}.{minor}.{rev} is not supported "
            f"(this code reads {constants.CONFIG_MAJOR}.{constants.CONFIG_MINOR}.x)"
        )


def parse_config(data: bytes | str, source: str, *, verify: bool = True) -> ConfigData:
    """Parse and validate the bytes of a ``config.data`` read from ``source``."""
    if not data:
        raise errors.ConfigurationError(f"{source}: file is empty")
    with _gc_paused() as built:
        try:
            raw = orjson.loads(data)
        except ValueError as exc:  # orjson.JSONDecodeError, also for invalid UTF-8
            raise errors.ConfigurationError(
                f"{source}: not valid JSON (corrupt or truncated): {exc}"
            ) from exc
        if not isinstance(raw, dict):
            raise errors.ConfigurationError(f"{source}: top level is not a JSON object")
        check_version(raw.get("version"), source)
        canonical: dict[str, list[str]] = {}
        try:
            config = ConfigData.from_dict(raw, canonical=canonical)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise errors.ConfigurationError(f"{source}: malformed configuration: {exc!r}") from exc
        if verify:
            problems = config.verify()
            if problems:
                raise verify_error(f"{source} does not validate", problems)
        _SEEDS[config] = _seed_fragments(config, raw, canonical)
        built[0] = sum(len(getattr(config, s)) for s in OBJECT_SECTIONS)
        del raw  # its containers are garbage now: keep them out of the frozen generation
    return config


def _seed_fragments(
    config: ConfigData, raw: dict[str, Any], canonical: dict[str, list[str]]
) -> dict[str, dict[str, Fragment]]:
    """Fragments for the canonical objects, encoded from their parsed dicts."""
    seeds: dict[str, dict[str, Fragment]] = {}
    for section, uuids in canonical.items():
        objs: dict[str, Any] = getattr(config, section)
        dicts = raw[section]
        seeds[section] = {u: (objs[u], objs[u].serial_no, _fragment(u, dicts[u])) for u in uuids}
    return seeds


def load_config(path: Path, *, verify: bool = True) -> ConfigData:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise errors.ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_config(data, str(path), verify=verify)


_CHUNK = 256  # objects per cached chunk of a section


@attrs.define
class _Section:
    """Cached encoding of one object section, in chunks of up to _CHUNK objects."""

    fragments: dict[str, Fragment] = attrs.field(factory=dict)
    members: list[list[str]] = attrs.field(factory=list)  # UUIDs per chunk, in file order
    encoded: list[bytes | None] = attrs.field(factory=list)  # None = must re-join
    where: dict[str, int] = attrs.field(factory=dict)  # UUID -> chunk index
    ready: bool = False


class ConfigSerializer:
    """Renders a ConfigData to the bytes of ``config.data``, re-encoding only changed objects.

    A fragment is reused while the stored object is the same Python object with the same
    ``serial_no``; the writer bumps serials and replaces objects on update, so fragments
    never go stale.  ``render(config)`` without hints checks every object (safe for any
    caller); ``render(config, changed=...)`` trusts the hints and touches only the chunks
    holding those objects, so a commit costs little more than the write itself.
    """

    def __init__(self) -> None:
        self._sections: dict[str, _Section] = {s: _Section() for s in OBJECT_SECTIONS}

    def render(self, config: ConfigData, changed: Iterable[str] | None = None) -> Sequence[bytes]:
        """The file as a list of chunks (write them with writev; join for one bytes)."""
        changed_set = None if changed is None else set(changed)
        head = {
            "cluster": config.cluster.to_dict(),
            "ctime": config.ctime,
            "filters": config.filters,
            "mtime": config.mtime,
            "serial_no": config.serial_no,
            "version": config.version,
            **{k: v for k, v in config.extra.items() if k not in OBJECT_SECTIONS},
        }
        parts: dict[str, bytes] = {k: _encode(v) for k, v in head.items()}
        chunks: list[bytes] = []
        keys = sorted([*parts, *OBJECT_SECTIONS])
        for i, key in enumerate(keys):
            chunks.append(("{" if i == 0 else ",").encode() + _encode(key) + b":")
            if key in parts:
                chunks.append(parts[key])
            else:
                chunks.append(b"{")
                chunks.extend(self._render_section(config, key, changed_set))
                chunks.append(b"}")
        chunks.append(b"}\n")
        return chunks

    def _render_section(
        self, config: ConfigData, name: str, changed: set[str] | None
    ) -> list[bytes]:
        section = self._sections[name]
        objs: dict[str, ConfigObject] = getattr(config, name)
        if not section.ready:
            seeds = _SEEDS.get(config)
            if seeds is not None:
                # Encoded while loading; _rebuild still checks identity and serial.
                section.fragments.update(seeds.pop(name, {}))
                if not seeds:
                    del _SEEDS[config]
        if changed is None or not section.ready:
            self._rebuild(section, objs)
        else:
            self._apply(section, objs, changed)
            if len(section.fragments) != len(objs):  # incomplete hints: start over
                self._rebuild(section, objs)
        out: list[bytes] = []
        frags = section.fragments
        for idx, encoded in enumerate(section.encoded):
            if encoded is None:
                encoded = b",".join([frags[u][2] for u in section.members[idx]])
                section.encoded[idx] = encoded
            if encoded:
                if out:
                    out.append(b",")
                out.append(encoded)
        return out

    def _rebuild(self, section: _Section, objs: dict[str, ConfigObject]) -> None:
        frags = section.fragments
        for uuid, obj in objs.items():
            self._refresh(frags, uuid, obj)
        for stale in frags.keys() - objs.keys():
            del frags[stale]
        order = list(objs)
        section.members = [order[i : i + _CHUNK] for i in range(0, len(order), _CHUNK)]
        section.encoded = [None] * len(section.members)
        section.where = {u: i // _CHUNK for i, u in enumerate(order)}
        section.ready = True

    def _apply(self, section: _Section, objs: dict[str, ConfigObject], changed: set[str]) -> None:
        frags = section.fragments
        for uuid in changed:
            idx = section.where.get(uuid)
            obj = objs.get(uuid)
            if obj is not None:
                self._refresh(frags, uuid, obj)
                if idx is None:  # new object: append, as the dict does
                    if not section.members or len(section.members[-1]) >= _CHUNK:
                        section.members.append([])
                        section.encoded.append(None)
                    idx = len(section.members) - 1
                    section.members[idx].append(uuid)
                    section.where[uuid] = idx
                section.encoded[idx] = None
            elif idx is not None:  # removed
                section.members[idx].remove(uuid)
                del section.where[uuid]
                del frags[uuid]
                section.encoded[idx] = None

    @staticmethod
    def _refresh(frags: dict[str, Fragment], uuid: str, obj: ConfigObject) -> None:
        cached = frags.get(uuid)
        serial: int = getattr(obj, "serial_no", 0)
        if cached is None or cached[0] is not obj or cached[1] != serial:
            frags[uuid] = (obj, serial, _fragment(uuid, obj.to_dict()))

    def render_bytes(self, config: ConfigData) -> bytes:
        return b"".join(self.render(config))

    def prime(self, config: ConfigData) -> None:
        """Fill the cache for ``config`` now (at start-up) rather than in the first commit."""
        self.render(config)


@attrs.define
class ConfigStore:
    """Where and how the master persists its config: path, file operations, serialiser."""

    path: Path
    ops: FileOps = attrs.field(factory=FileOps)
    serializer: ConfigSerializer = attrs.field(factory=ConfigSerializer)
    writes: int = 0

    def load(self) -> ConfigData:
        return load_config(self.path)

    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    @property
    def previous_path(self) -> Path:
        """Where the replaced content waits to be freed (see :meth:`release_previous`)."""
        return self.path.with_name(f".{self.path.name}.previous")

    def persist(self, chunks: Sequence[bytes]) -> None:
        """Blocking: durably replace the file with ``chunks``."""
        with self._lock:
            atomic_write(
                self.path, chunks, CONFIG_FILE_MODE, self.ops, keep_previous=self.previous_path
            )
            self.writes += 1

    def release_previous(self) -> None:
        """Blocking: free the replaced content; called after callers were told."""
        with self._lock:
            try:
                os.unlink(self.previous_path)
            except FileNotFoundError:
                pass

    def save(self, config: ConfigData) -> None:
        """Validate fully and write; used by bootstrap and tools, not the group-commit path."""
        problems = config.verify()
        if problems:
            raise verify_error(f"refusing to write {self.path}", problems)
        self.persist(self.serializer.render(config))
