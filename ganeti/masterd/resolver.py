"""Node addresses for the RPC client, from the master's in-memory configuration."""

from __future__ import annotations

from collections.abc import Sequence

from zope.interface import implementer

from ganeti import constants, errors
from ganeti.config.writer import ConfigWriter
from ganeti.rpc.client import INodeResolver, RpcTarget


@implementer(INodeResolver)
class ConfigResolver:
    """Resolves node names or UUIDs to their primary IP; offline nodes are flagged."""

    def __init__(self, config: ConfigWriter, port: int = constants.DEFAULT_NODED_PORT) -> None:
        self._config = config
        self.port = port

    def resolve(self, names: Sequence[str]) -> list[RpcTarget]:
        out = []
        for name in names:
            try:
                node = self._config.lookup_node(name)
            except errors.OpPrereqError:
                raise errors.RpcError(f"unknown node {name!r}") from None
            out.append(RpcTarget(node.name, node.primary_ip, self.port, offline=node.offline))
        return out
