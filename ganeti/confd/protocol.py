"""confd wire format: signed JSON in one UDP datagram.

Pure code: no reactor, no sockets, the current time is passed in by the caller.

A datagram is the four bytes ``plj0`` followed by a JSON object with three string
members: ``msg`` (the JSON text of the inner request or reply), ``salt`` and ``hmac``,
the lower-case hex HMAC-SHA1 of ``salt + msg`` keyed with the raw content of
``hmac.key`` (trailing newline included).

A request's salt is the sender's Unix time in decimal; a receiver drops requests whose
time is more than :data:`MAX_CLOCK_SKEW` seconds away from its own clock.  A reply's
salt is the ``rsalt`` the request asked for, which is how a client pairs replies with
its outstanding requests.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from typing import Any, Final

import attrs
import orjson

from ganeti import errors

MAGIC: Final = b"plj0"
PROTOCOL_VERSION: Final = 1
# Requests whose timestamp is further than this from the receiver's clock are dropped.
MAX_CLOCK_SKEW: Final = 2 * 150
# Largest datagram the server reads; anything longer is dropped unread.
MAX_REQUEST_SIZE: Final = 4096
# Largest reply a client accepts.
MAX_UDP_DATA_SIZE: Final = 61440
# Seconds after which a client forgets an outstanding request.
CLIENT_EXPIRE_TIMEOUT: Final = 10.0


class RequestType(enum.IntEnum):
    PING = 0
    NODE_ROLE_BYNAME = 1
    NODE_PIP_BY_INSTANCE_IP = 2
    CLUSTER_MASTER = 3
    NODE_PIP_LIST = 4
    MC_PIP_LIST = 5
    INSTANCES_IPS_LIST = 6
    NODE_DRBD = 7
    NODE_INSTANCES = 8
    INSTANCE_DISKS = 9
    CONFIG_QUERY = 10
    DATA_COLLECTORS = 11


class ReplyStatus(enum.IntEnum):
    OK = 0
    ERROR = 1
    NOTIMPLEMENTED = 2


class ErrorCode(enum.IntEnum):
    """Numeric ``answer`` of an error reply."""

    UNKNOWN_ENTRY = 0
    INTERNAL = 1
    ARGUMENT = 2


class NodeRole(enum.IntEnum):
    MASTER = 0
    CANDIDATE = 1
    OFFLINE = 2
    DRAINED = 3
    REGULAR = 4


class QueryField:
    """Keys of object-valued queries (digit strings on the wire; plain ``str``)."""

    LINK: Final = "0"
    IP: Final = "1"
    IPLIST: Final = "2"
    FIELDS: Final = "3"


class ClusterMasterField(enum.IntEnum):
    """Values of the ``"3"`` field list of a CLUSTER_MASTER query."""

    NAME = 0
    IP = 1
    MNODE_PIP = 2


# Command-line names of the request types (``node-role-byname`` ...).
TYPE_NAMES: Final[dict[str, RequestType]] = {
    t.name.lower().replace("_", "-"): t for t in RequestType
}


class BadDatagram(errors.GanetiError):
    """A datagram that must be dropped; ``reason`` is a short fixed counter name."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# Drop reasons, in the order a datagram is checked.
DROP_SIZE: Final = "oversized"
DROP_MAGIC: Final = "bad-magic"
DROP_JSON: Final = "bad-json"
DROP_ENVELOPE: Final = "bad-envelope"
DROP_HMAC: Final = "bad-hmac"
DROP_SKEW: Final = "clock-skew"
DROP_PROTOCOL: Final = "bad-protocol"
DROP_TYPE: Final = "unknown-type"
DROP_REQUEST: Final = "bad-request"
DROP_SALT: Final = "unknown-salt"
DROP_REASONS: Final = (
    DROP_SIZE,
    DROP_MAGIC,
    DROP_JSON,
    DROP_ENVELOPE,
    DROP_HMAC,
    DROP_SKEW,
    DROP_PROTOCOL,
    DROP_TYPE,
    DROP_REQUEST,
    DROP_SALT,
)

_TYPE_CODES: Final = frozenset(int(t) for t in RequestType)


@attrs.frozen
class Request:
    type: RequestType
    rsalt: str
    query: Any = None
    protocol: int = PROTOCOL_VERSION

    def to_msg(self) -> str:
        return orjson.dumps(
            {
                "protocol": self.protocol,
                "type": int(self.type),
                "query": self.query,
                "rsalt": self.rsalt,
            }
        ).decode()


@attrs.frozen
class Reply:
    status: ReplyStatus
    answer: Any
    serial: int = 0
    protocol: int = PROTOCOL_VERSION

    def to_msg(self) -> str:
        return orjson.dumps(
            {
                "protocol": self.protocol,
                "status": int(self.status),
                "answer": self.answer,
                "serial": self.serial,
            }
        ).decode()

    @property
    def ok(self) -> bool:
        return self.status == ReplyStatus.OK


# -- signing ---------------------------------------------------------------------------


def sign(key: bytes, salt: str, msg: str) -> str:
    """Lower-case hex HMAC-SHA1 of ``salt + msg`` (UTF-8)."""
    return hmac.new(key, (salt + msg).encode(), hashlib.sha1).hexdigest()


def verify(key: bytes, salt: str, msg: str, digest: str) -> bool:
    return hmac.compare_digest(sign(key, salt, msg), digest)


def pack(key: bytes, msg: str, salt: str) -> bytes:
    """The datagram carrying ``msg`` signed with ``salt``."""
    return MAGIC + orjson.dumps({"msg": msg, "salt": salt, "hmac": sign(key, salt, msg)})


def pack_encoded(key: bytes, msg: str, msg_json: bytes, salt: str) -> bytes:
    """:func:`pack` when the JSON string literal of ``msg`` is already known (servers
    cache it per answer, so a reply costs one HMAC and a concatenation)."""
    digest = sign(key, salt, msg)
    return b"".join(
        (
            MAGIC,
            b'{"msg":',
            msg_json,
            b',"salt":',
            orjson.dumps(salt),
            b',"hmac":"',
            digest.encode(),
            b'"}',
        )
    )


def unpack(key: bytes, data: bytes, max_size: int = MAX_UDP_DATA_SIZE) -> tuple[str, str]:
    """Check magic, envelope and signature; return ``(msg, salt)``."""
    if len(data) > max_size:
        raise BadDatagram(DROP_SIZE, f"{len(data)} bytes")
    if data[:4] != MAGIC:
        raise BadDatagram(DROP_MAGIC, repr(data[:4]))
    try:
        envelope = orjson.loads(data[4:])
    except ValueError as exc:
        raise BadDatagram(DROP_JSON, str(exc)) from None
    if not isinstance(envelope, dict):
        raise BadDatagram(DROP_ENVELOPE, "not an object")
    msg = envelope.get("msg")
    salt = envelope.get("salt")
    digest = envelope.get("hmac")
    if not (isinstance(msg, str) and isinstance(salt, str) and isinstance(digest, str)):
        raise BadDatagram(DROP_ENVELOPE, "msg, salt and hmac must be strings")
    if not verify(key, salt, msg, digest):
        raise BadDatagram(DROP_HMAC)
    return msg, salt


def _inner(msg: str) -> dict[str, Any]:
    try:
        inner = orjson.loads(msg)
    except ValueError as exc:
        raise BadDatagram(DROP_JSON, f"inner message: {exc}") from None
    if not isinstance(inner, dict):
        raise BadDatagram(DROP_REQUEST, "inner message is not an object")
    return inner


def _check_protocol(inner: dict[str, Any]) -> None:
    if inner.get("protocol") != PROTOCOL_VERSION:
        raise BadDatagram(DROP_PROTOCOL, repr(inner.get("protocol")))


# -- requests --------------------------------------------------------------------------


def encode_request(key: bytes, request: Request, now: float) -> bytes:
    return pack(key, request.to_msg(), str(int(now)))


def check_skew(salt: str, now: float, max_skew: float = MAX_CLOCK_SKEW) -> None:
    try:
        sent = float(salt)
    except ValueError:
        raise BadDatagram(DROP_SKEW, f"salt {salt[:32]!r} is not a timestamp") from None
    if not abs(sent - now) <= max_skew:  # also rejects nan
        raise BadDatagram(DROP_SKEW, f"{sent - now:+.0f} s")


def decode_request(
    key: bytes, data: bytes, now: float, max_skew: float = MAX_CLOCK_SKEW
) -> Request:
    """Parse and check a request datagram; raise :class:`BadDatagram` to drop it."""
    msg, salt = unpack(key, data, MAX_REQUEST_SIZE)
    check_skew(salt, now, max_skew)
    inner = _inner(msg)
    _check_protocol(inner)
    code = inner.get("type")
    if type(code) is not int or code not in _TYPE_CODES:
        raise BadDatagram(DROP_TYPE, repr(code)[:32])
    rsalt = inner.get("rsalt")
    if not isinstance(rsalt, str) or not rsalt:
        raise BadDatagram(DROP_REQUEST, "missing rsalt")
    return Request(RequestType(code), rsalt, inner.get("query"))


# -- replies ---------------------------------------------------------------------------


def encode_reply(key: bytes, reply: Reply, rsalt: str) -> bytes:
    return pack(key, reply.to_msg(), rsalt)


def decode_reply(key: bytes, data: bytes) -> tuple[Reply, str]:
    """Parse and check a reply datagram; returns the reply and its salt (the rsalt)."""
    msg, salt = unpack(key, data, MAX_UDP_DATA_SIZE)
    inner = _inner(msg)
    _check_protocol(inner)
    status = inner.get("status")
    serial = inner.get("serial", 0)
    if type(status) is not int or status not in (0, 1, 2) or type(serial) is not int:
        raise BadDatagram(DROP_REQUEST, "reply needs integer status and serial")
    return Reply(ReplyStatus(status), inner.get("answer"), serial), salt
