"""LUXI messages and framing, with no I/O.

A message is a JSON document followed by the byte 0x03 (ETX).  Requests are
``{"method": M, "args": [...], "version": N}``; replies ``{"success": bool, "result": R,
"version": N}``, where a failed call's result is an encoded exception
``[ClassName, [args...]]`` as Ganeti encodes them.
"""

from __future__ import annotations

from typing import Any

import attrs

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

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete message (without ETX).

        Raises FramingError when a message grows beyond the size limit.
        """
        self._buffer += data
        messages = []
        while True:
            idx = self._buffer.find(ETX)
            if idx < 0:
                break
            messages.append(bytes(self._buffer[:idx]))
            del self._buffer[: idx + 1]
        if len(self._buffer) > self._max:
            self._buffer.clear()
            raise FramingError(f"message larger than {self._max} bytes")
        return messages

    @property
    def pending(self) -> int:
        return len(self._buffer)


def frame(message: Any) -> bytes:
    """Encode one message, ETX-terminated."""
    data = serializer.dump_json(message).encode("utf-8")
    if ETX in data:
        # Cannot happen with json.dumps (control characters are escaped); be sure anyway.
        raise errors.ProgrammerError("ETX inside a LUXI message")
    return data + ETX


def encode_request(method: str, args: list[Any]) -> bytes:
    return frame({KEY_METHOD: method, KEY_ARGS: args, KEY_VERSION: LUXI_VERSION})


def parse_request(raw: bytes) -> Request:
    """Decode a request; raises LuxiError with a message suited to the reply."""
    try:
        msg = serializer.load_json(raw, what="LUXI request")
    except errors.GanetiError as exc:
        raise errors.LuxiError(str(exc)) from None
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
    try:
        msg = serializer.load_json(raw, what="LUXI reply")
    except errors.GanetiError as exc:
        raise errors.LuxiError(str(exc)) from None
    if not isinstance(msg, dict) or KEY_SUCCESS not in msg or KEY_RESULT not in msg:
        raise errors.LuxiError("malformed LUXI reply")
    if msg[KEY_SUCCESS]:
        return msg[KEY_RESULT]
    raise decode_exception(msg[KEY_RESULT])
