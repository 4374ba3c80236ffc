"""Tag logical units: ``OP_TAGS_GET``, ``OP_TAGS_SET``, ``OP_TAGS_DEL``, ``OP_TAGS_SEARCH``.

Tags live on the cluster, nodes, node groups, instances and networks (``kind`` =
``cluster|node|nodegroup|instance|network``; every kind but the cluster needs ``name``).
A tag is 1 to 128 characters out of letters, digits and ``_ . + * / : @ -``; an object
carries at most 4096 tags.  Changing tags locks the tagged object exclusively (the
cluster object is protected by the shared BGL plus the config writer, which applies
changes one at a time); reading takes a shared lock only with ``use_locking``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ganeti import constants, errors
from ganeti.cmdlib.base import Feedback, LogicalUnit, register
from ganeti.locking import LEVEL_INSTANCE, LEVEL_NETWORK, LEVEL_NODE, LEVEL_NODEGROUP

MAX_TAG_LEN = 128
MAX_TAGS_PER_OBJ = 4096
_TAG_RE = re.compile(r"^[\w.+*/:@-]+$")

_LEVEL_OF_KIND = {
    constants.TAG_NODE: LEVEL_NODE,
    constants.TAG_INSTANCE: LEVEL_INSTANCE,
    constants.TAG_NODEGROUP: LEVEL_NODEGROUP,
    constants.TAG_NETWORK: LEVEL_NETWORK,
}


def check_tag(tag: object) -> str:
    """Return ``tag`` if it is a valid tag, else raise ``OpPrereqError`` (wrong_input)."""
    if not isinstance(tag, str):
        raise errors.OpPrereqError(f"Invalid tag type (not a string): {tag!r}", errors.ECODE_INVAL)
    if len(tag) > MAX_TAG_LEN:
        raise errors.OpPrereqError(
            f"Tag too long (>{MAX_TAG_LEN} characters): {tag[:20]}...", errors.ECODE_INVAL
        )
    if not tag:
        raise errors.OpPrereqError("Tags cannot be empty", errors.ECODE_INVAL)
    if not _TAG_RE.match(tag):
        raise errors.OpPrereqError(f"Tag contains invalid characters: {tag!r}", errors.ECODE_INVAL)
    return tag


def check_tags(tags: Iterable[object]) -> set[str]:
    """Validate every tag (see :func:`check_tag`); the set of them."""
    return {check_tag(tag) for tag in tags}


def check_tag_count(current: Iterable[str], added: Iterable[str], what: str) -> None:
    total = len(set(current) | set(added))
    if total > MAX_TAGS_PER_OBJ:
        raise errors.OpPrereqError(
            f"Too many tags on {what} ({total}, at most {MAX_TAGS_PER_OBJ} allowed)",
            errors.ECODE_INVAL,
        )


class _TagsLU(LogicalUnit):
    """Resolves ``kind``/``name`` to the tagged object and locks it."""

    REQ_BGL = False
    LOCK_SHARED = False

    def expand_names(self) -> None:
        kind = self.op.kind
        self.target_uuid: str | None = None
        if kind == constants.TAG_CLUSTER:
            return
        name = self.op.name
        if not name:
            raise errors.OpPrereqError(
                f"Tag kind {kind!r} needs the name of the object", errors.ECODE_INVAL
            )
        self.target_uuid = self._lookup(kind, name).uuid
        if self._want_lock():
            level = _LEVEL_OF_KIND[kind]
            self.needed_locks[level] = [self.target_uuid]
            self.share_locks[level] = self.LOCK_SHARED

    def _want_lock(self) -> bool:
        return True

    def _lookup(self, kind: str, name: str) -> Any:
        cfg = self.cfg
        if kind == constants.TAG_NODE:
            return cfg.lookup_node(name)
        if kind == constants.TAG_INSTANCE:
            return cfg.lookup_instance(name)
        if kind == constants.TAG_NODEGROUP:
            return cfg.lookup_group(name)
        if kind == constants.TAG_NETWORK:
            return cfg.lookup_network(name)
        raise errors.OpPrereqError(f"Unknown tag kind {kind!r}", errors.ECODE_INVAL)

    def target(self) -> Any:
        if self.target_uuid is None:
            return self.cfg.get_cluster()
        # Looked up again: the object may have been replaced (update) since expand_names.
        return self._lookup(self.op.kind, self.target_uuid)

    def describe(self) -> str:
        if self.op.kind == constants.TAG_CLUSTER:
            return "the cluster"
        return f"{self.op.kind} {self.target().name}"


@register
class LUTagsGet(_TagsLU):
    """The sorted tags of one object."""

    OP_ID = "OP_TAGS_GET"
    LOCK_SHARED = True

    def _want_lock(self) -> bool:
        return bool(self.op.use_locking)

    async def exec(self, feedback: Feedback) -> Any:
        return sorted(self.target().tags)


@register
class LUTagsSet(_TagsLU):
    """Add tags to one object (already present tags are fine)."""

    OP_ID = "OP_TAGS_SET"

    def check_prereq(self) -> None:
        self.tags = check_tags(self.op.tags)
        check_tag_count(self.target().tags, self.tags, self.describe())

    async def exec(self, feedback: Feedback) -> Any:
        self.cfg.add_tags(self.op.kind, self.target_uuid, sorted(self.tags))
        await self.cfg.flush()
        return None


@register
class LUTagsDel(_TagsLU):
    """Remove tags from one object; every tag must be present."""

    OP_ID = "OP_TAGS_DEL"

    def check_prereq(self) -> None:
        self.tags = check_tags(self.op.tags)
        missing = self.tags - set(self.target().tags)
        if missing:
            raise errors.OpPrereqError(
                f"Tag(s) {', '.join(repr(t) for t in sorted(missing))} not found",
                errors.ECODE_NOENT,
            )

    async def exec(self, feedback: Feedback) -> Any:
        self.cfg.remove_tags(self.op.kind, self.target_uuid, sorted(self.tags))
        await self.cfg.flush()
        return None


@register
class LUTagsSearch(LogicalUnit):
    """Every ``[path, tag]`` whose tag matches the regular expression ``pattern``.

    Paths are ``/cluster``, ``/instances/<name>``, ``/nodes/<name>``,
    ``/nodegroup/<name>`` and ``/networks/<name>``, in that order, names sorted.
    """

    OP_ID = "OP_TAGS_SEARCH"
    REQ_BGL = False

    def check_prereq(self) -> None:
        try:
            self.regex = re.compile(self.op.pattern)
        except re.error as exc:
            raise errors.OpPrereqError(
                f"Invalid search pattern {self.op.pattern!r}: {exc}", errors.ECODE_INVAL
            ) from None

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        sources: list[tuple[str, Any]] = [("/cluster", cfg.get_cluster())]
        sections: list[tuple[str, list[Any]]] = [
            ("/instances/", cfg.get_instances()),
            ("/nodes/", cfg.get_nodes()),
            ("/nodegroup/", cfg.get_groups()),
            ("/networks/", cfg.get_networks()),
        ]
        for prefix, objs in sections:
            sources.extend((prefix + o.name, o) for o in sorted(objs, key=lambda o: o.name))
        return [
            [path, tag]
            for path, obj in sources
            for tag in sorted(obj.tags)
            if self.regex.search(tag)
        ]
