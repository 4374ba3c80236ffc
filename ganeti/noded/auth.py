"""Who may call a node daemon.

The TLS layer already refused any client whose certificate is not signed by the cluster
certificate.  On top of that, as in Ganeti, only master candidates may call: the SHA-1
digest of the client certificate must be listed in ssconf ``master_candidates_certs``.
While that list is empty (bootstrap), only the cluster certificate itself is accepted.
"""

from __future__ import annotations

from pathlib import Path

from twisted.web.iweb import IRequest

from ganeti import tls
from ganeti.paths import Paths


def parse_candidate_certs(text: str) -> set[str]:
    """Digests from ``<node_uuid>=<digest>`` lines."""
    out = set()
    for line in text.splitlines():
        _, sep, digest = line.strip().partition("=")
        if sep and digest:
            out.add(digest.strip().upper())
    return out


class CandidateCertCheck:
    """An ``Authorizer`` for NodeRpcResource; re-reads ssconf only when it changes."""

    def __init__(self, paths: Paths, cluster_cert_digest: str) -> None:
        self._file: Path = paths.ssconf("master_candidates_certs")
        self._cluster_digest = cluster_cert_digest
        self._stamp: tuple[int, int] | None = None
        self._allowed: set[str] = {cluster_cert_digest}

    def allowed(self) -> set[str]:
        try:
            st = self._file.stat()
        except FileNotFoundError:
            self._stamp = None
            self._allowed = {self._cluster_digest}
            return self._allowed
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            digests = parse_candidate_certs(self._file.read_text())
            self._allowed = digests or {self._cluster_digest}
            self._stamp = stamp
        return self._allowed

    def __call__(self, request: IRequest) -> str | None:
        cert = tls.peer_certificate(getattr(request, "transport", None))
        if cert is None:
            return "no client certificate"
        digest = tls.cert_digest(cert)
        if digest not in self.allowed():
            return f"client certificate {digest} does not belong to a master candidate"
        return None
