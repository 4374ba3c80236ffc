"""Seams between the confd pieces."""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IConfdSource(Interface):
    """The data a confd server answers from: the HMAC key and the current index."""

    key = Attribute("bytes: raw content of hmac.key (None before it could be read)")
    index = Attribute("ConfdIndex of the current config.data, or None without one")


class IResponder(Interface):
    """Turns one request datagram into a reply datagram."""

    def handle(data: bytes, peer: object) -> bytes | None:
        """The reply to send back to ``peer``, or None to drop the datagram silently."""
