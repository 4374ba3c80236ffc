"""Encodings used inside RPC arguments.

File contents travel as ``[encoding, data]``: ``[0, text]`` below 512 bytes, otherwise
``[1, base64(zlib(data, 3))]``, as Ganeti's node RPC does.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

from ganeti import constants, errors


def compress(data: bytes | str) -> list[Any]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) < constants.RPC_COMPRESS_THRESHOLD:
        try:
            return [constants.RPC_ENCODING_NONE, raw.decode("utf-8")]
        except UnicodeDecodeError:
            pass
    packed = base64.b64encode(zlib.compress(raw, 3)).decode("ascii")
    return [constants.RPC_ENCODING_ZLIB_BASE64, packed]


def decompress(value: Any) -> bytes:
    """Decode ``[encoding, data]``; raises RpcError on anything malformed."""
    if not (isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[1], str)):
        raise errors.RpcError("encoded data must be a list [encoding, string]")
    enc, data = value
    if enc == constants.RPC_ENCODING_NONE:
        return data.encode("utf-8")
    if enc == constants.RPC_ENCODING_ZLIB_BASE64:
        try:
            return zlib.decompress(base64.b64decode(data, validate=True))
        except (binascii.Error, zlib.error) as exc:
            raise errors.RpcError(f"cannot decode compressed data: {exc}") from exc
    raise errors.RpcError(f"unknown data encoding {enc!r}")
