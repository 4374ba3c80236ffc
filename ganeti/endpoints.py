"""Endpoint strings for TLS servers that need our own context factory.

Twisted's ``ssl:`` endpoint cannot require client certificates signed by a given CA, so
daemons with mutual TLS take a stream endpoint string and wrap it themselves.  ``ssl:``
is accepted as a synonym of ``tcp:``; ``tcp:``, ``unix:`` and ``systemd:`` endpoints are
wrapped too: such a daemon never speaks plain text.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer


@implementer(IStreamServerEndpoint)
class TLSServerEndpoint:
    def __init__(self, inner: IStreamServerEndpoint, context_factory: Any) -> None:
        self._inner = inner
        self._context_factory = context_factory

    def listen(self, protocolFactory: Any) -> Any:
        return self._inner.listen(
            TLSMemoryBIOFactory(self._context_factory, False, protocolFactory)
        )


def tls_server_endpoint(reactor: Any, description: str, context_factory: Any) -> TLSServerEndpoint:
    if description.startswith("ssl:"):
        description = "tcp:" + description[4:]
    return TLSServerEndpoint(serverFromString(reactor, description), context_factory)
