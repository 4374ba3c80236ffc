"""LUXI messages and framing, with no I/O.

A message is a JSON document followed by the byte 0x03 (ETX).  Requests are
``{"method": M, "args": [...], "version": N}``; replies ``{"success": bool, "result": R,
"version": N}``, where a failed call's result is an encoded exception
``[ClassName, [args...]]`` as Ganeti encodes them.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import orjson

from ganeti import constants, errors, serializer

ETX = b"\x03"
LUXI_VERSION = constants.PROTOCOL_VERSION
# Larger messages are refused: a runaway or hostile client must not exhaust memory.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024

KEY_METHOD = "method"
KEY_ARGS = "args"
KEY_SUCCESS = "success"
KEY_RESULT = "result"
KEY_VERSION = "version"

# The methods the master answers (Ganeti names).
REQ_SUBMIT_JOB = "SubmitJob"
REQ_SUBMIT_JOB_TO_DRAINED_QUEUE = "SubmitJobToDrainedQueue"
REQ_SUBMIT_MANY_JOBS = "SubmitManyJobs"
REQ_WAIT_FOR_JOB_CHANGE = "WaitForJobChange"
REQ_CANCEL_JOB = "CancelJob"
REQ_ARCHIVE_JOB = "ArchiveJob"
REQ_AUTO_ARCHIVE_JOBS = "AutoArchiveJobs"
REQ_CHANGE_JOB_PRIORITY = "ChangeJobPriority"
REQ_QUERY_JOBS = "QueryJobs"
REQ_QUERY = "Query"
REQ_QUERY_FIELDS = "QueryFields"
REQ_QUERY_NODES = "QueryNodes"
REQ_QUERY_INSTANCES = "QueryInstances"
REQ_QUERY_GROUPS = "QueryGroups"
REQ_QUERY_NETWORKS = "QueryNetworks"
REQ_QUERY_CLUSTER_INFO = "QueryClusterInfo"
REQ_QUERY_CONFIG_VALUES = "QueryConfigValues"
REQ_QUERY_TAGS = "QueryTags"
REQ_SET_DRAIN_FLAG = "SetDrainFlag"
REQ_SET_WATCHER_PAUSE = "SetWatcherPause"


class FramingError(errors.LuxiError):
    """The byte stream is not a valid sequence of LUXI messages."""


@attrs.frozen
class Request:
    method: str
    args: list[Any]
    version: int | None


class Framer:
    """Splits a byte stream into messages; tolerant of split and merged reads."""

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_size
        self._scanned = 0  # bytes of the buffer known to hold no ETX

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete message (without ETX).

        Raises FramingError when a message grows beyond the size limit.
        """
        if not self._buffer:
            # The common case: the chunk holds whole messages (or the start of one).
            idx = data.find(ETX)
            if idx < 0:
                self._buffer += data
                self._scanned = len(data)
                self._check_size()
                return []
            if idx == len(data) - 1:
                return [data[:idx]]
        self._buffer += data
        messages = []
        start = 0
        buf = self._buffer
        pos = self._scanned
        while True:
            idx = buf.find(ETX, pos)
            if idx < 0:
                break
            messages.append(bytes(buf[start:idx]))
            start = pos = idx + 1
        if start:
            del buf[:start]
        # Only the new bytes are searched next time (a large reply arrives in many
        # chunks; rescanning the whole buffer would be quadratic).
        self._scanned = len(buf)
        self._check_size()
        return messages

    def _check_size(self) -> None:
        if len(self._buffer) > self._max:
            self._buffer.clear()
            self._scanned = 0
            raise FramingError(f"message larger than {self._max} bytes")

    @property
    def pending(self) -> int:
        return len(self._buffer)


def dumps(message: Any) -> bytes:
    """Compact JSON (UTF-8) for the wire.

    orjson is several times faster than the standard encoder on large query results;
    what it does not take (integers beyond 64 bits, ...) goes through the standard
    encoder.  Both escape control characters, so ETX never occurs inside a message.
    """
    try:
        return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return serializer.dump_json(message).encode("utf-8")


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside; used around handling one message.

    A decoded query result is thousands of containers and no cycles.  With the collector
    on, the allocation thresholds they cross start collections that walk the daemon's
    whole heap, which cost several times the parse or the query itself.  Handling a
    message with the collector paused lets those objects die (by reference counting)
    before it resumes, so no collection ever walks them.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def loads(raw: bytes, what: str) -> Any:
    """Parse one message; orjson first, the standard parser for what it refuses."""
    with gc_paused():
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.LuxiError(f"cannot parse {what} as JSON: {exc}") from None


def frame(message: Any) -> bytes:
    """Encode one message, ETX-terminated."""
    data = dumps(message)
    if ETX in data:
        # Cannot happen (control characters are escaped); be sure anyway.
        raise errors.ProgrammerError("ETX inside a LUXI message")
    return data + ETX


def encode_request(method: str, args: list[Any]) -> bytes:
    return frame({KEY_METHOD: method, KEY_ARGS: args, KEY_VERSION: LUXI_VERSION})


def parse_request(raw: bytes) -> Request:
    """Decode a request; raises LuxiError with a message suited to the reply."""
    msg = loads(raw, "LUXI request")
    if not isinstance(msg, dict):
        raise errors.LuxiError("LUXI request must be a JSON object")
    method = msg.get(KEY_METHOD)
    args = msg.get(KEY_ARGS, [])
    version = msg.get(KEY_VERSION)
    if not isinstance(method, str) or not method:
        raise errors.LuxiError("LUXI request has no method")
    if not isinstance(args, list):
        # Ganeti clients send a list; accept a JSON null as "no arguments".
        if args is None:
            args = []
        else:
            raise errors.LuxiError("LUXI request args must be a list")
    if version is not None and version != LUXI_VERSION:
        raise errors.LuxiError(f"LUXI version mismatch, server {LUXI_VERSION}, request {version}")
    return Request(method, args, version)


def encode_reply(success: bool, result: Any) -> bytes:
    return frame({KEY_SUCCESS: success, KEY_RESULT: result, KEY_VERSION: LUXI_VERSION})


def encode_exception(exc: BaseException) -> list[Any]:
    """``[ClassName, [args]]``; OpPrereqError keeps its error code as second arg."""
    if isinstance(exc, errors.OpPrereqError):
        return ["OpPrereqError", [str(exc), exc.ecode]]
    if isinstance(exc, errors.GanetiError):
        return [type(exc).__name__, [str(a) if not _jsonable(a) else a for a in exc.args]]
    return ["GenericError", [f"{type(exc).__name__}: {exc}"]]


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | type(None) | list | dict)


def decode_exception(value: Any) -> errors.GanetiError:
    """The exception a failed reply describes, as one of our error classes when known."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], list)
    ):
        name, args = value
        cls = getattr(errors, name, None)
        if name == "OpPrereqError" and args:
            ecode = args[1] if len(args) > 1 else errors.ECODE_INVAL
            return errors.OpPrereqError(str(args[0]), str(ecode))
        if isinstance(cls, type) and issubclass(cls, errors.GanetiError):
            try:
                return cls(*args)
            except TypeError:
                return cls(" ".join(str(a) for a in args))
        return errors.GanetiError(f"{name}: " + " ".join(str(a) for a in args))
    return errors.GanetiError(str(value))


def parse_reply(raw: bytes) -> Any:
    """The result of a reply; raises the encoded error of a failed one."""
    msg = loads(raw, "LUXI reply")
    if not isinstance(msg, dict) or KEY_SUCCESS not in msg or KEY_RESULT not in msg:
        raise errors.LuxiError("malformed LUXI reply")
    if msg[KEY_SUCCESS]:
        return msg[KEY_RESULT]
    raise decode_exception(msg[KEY_RESULT])
