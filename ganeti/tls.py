"""Cluster key material and TLS context factories.

The trust model follows Ganeti: one cluster certificate (``server.pem``: certificate and
key in one file, the same on every node) is both the node daemons' server certificate and
the CA that signs each node's client certificate (``client.pem``, CN = node name, serial =
node UUID).  Node daemons require a client certificate that chains to the cluster
certificate; clients verify the server against the same certificate and do not check
host names (every node presents the one cluster certificate).

We generate ECDSA P-256 keys by default: key generation and handshakes are much cheaper
than RSA-2048, which matters when a master fans out to hundreds of nodes.
"""

from __future__ import annotations

import datetime
import os
import secrets
import uuid as uuidlib
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from OpenSSL import crypto
from twisted.internet import ssl

from ganeti import errors

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

DEFAULT_VALIDITY_DAYS = 5 * 365
# Ganeti writes 40 hex digits; the file content including its newline is the HMAC key.
HMAC_KEY_HEX_BYTES = 20


@attrs.frozen
class KeyPair:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def to_pem(self) -> bytes:
        """Certificate and unencrypted key in one PEM document, as Ganeti stores them."""
        key_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return self.cert.public_bytes(serialization.Encoding.PEM) + key_pem

    @classmethod
    def from_pem(cls, data: bytes, *, what: str = "certificate") -> KeyPair:
        try:
            cert = x509.load_pem_x509_certificate(data)
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise errors.CertificateError(f"cannot load {what}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise errors.CertificateError(f"{what}: unsupported key type {type(key).__name__}")
        return cls(cert, key)

    @classmethod
    def load(cls, path: Path) -> KeyPair:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise errors.CertificateError(f"cannot read {path}: {exc.strerror}") from exc
        return cls.from_pem(data, what=str(path))

    def save(self, path: Path, mode: int = 0o440) -> None:
        write_secret_file(Path(path), self.to_pem(), mode)


def _new_key(key_type: str) -> PrivateKey:
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise errors.ProgrammerError(f"unknown key type {key_type!r}")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    # Back-date a little so that nodes with slightly skewed clocks accept the certificate.
    return now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)


def create_cluster_certificate(
    cluster_name: str, *, days: int = DEFAULT_VALIDITY_DAYS, key_type: str = "ecdsa"
) -> KeyPair:
    """A self-signed certificate that is the noded server certificate and the cluster CA."""
    key = _new_key(key_type)
    not_before, not_after = _validity(days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cluster_name))
        .issuer_name(_name(cluster_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert, key)


def create_node_certificate(
    ca: KeyPair,
    node_name: str,
    node_uuid: str,
    *,
    days: int = DEFAULT_VALIDITY_DAYS,
    key_type: str = "ecdsa",
) -> KeyPair:
    """A node's client certificate: CN = node name, serial = node UUID, signed by ``ca``."""
    key = _new_key(key_type)
    not_before, not_after = _validity(days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(node_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(uuidlib.UUID(node_uuid).int)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return KeyPair(cert, key)


def create_server_certificate(
    hostnames: list[str], *, days: int = DEFAULT_VALIDITY_DAYS, key_type: str = "ecdsa"
) -> KeyPair:
    """A self-signed certificate with subjectAltNames, e.g. for RAPI (``rapi.pem``)."""
    import ipaddress

    key = _new_key(key_type)
    not_before, not_after = _validity(days)
    sans: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostnames[0]))
        .issuer_name(_name(hostnames[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert, key)


def cert_digest(cert: x509.Certificate) -> str:
    """SHA-1 of the DER certificate as ``AB:CD:...``, the form ssconf and config store."""
    raw = cert.fingerprint(hashes.SHA1())
    return ":".join(f"{b:02X}" for b in raw)


def verify_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True if ``cert`` was issued and signed by ``ca``."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def days_until_expiry(cert: x509.Certificate, now: datetime.datetime | None = None) -> float:
    now = now or datetime.datetime.now(datetime.UTC)
    return (cert.not_valid_after_utc - now).total_seconds() / 86400.0


def generate_hmac_key() -> bytes:
    """Content of ``hmac.key``: hex digits and a newline (the newline is part of the key)."""
    return (secrets.token_hex(HMAC_KEY_HEX_BYTES) + "\n").encode("ascii")


def write_secret_file(path: Path, data: bytes, mode: int = 0o400) -> None:
    """Write ``data`` atomically with ``mode`` (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --- Twisted context factories -------------------------------------------------------


def _openssl_pair(pair: KeyPair) -> tuple[crypto.PKey, crypto.X509]:
    return crypto.PKey.from_cryptography_key(pair.key), crypto.X509.from_cryptography(pair.cert)


def server_context_factory(server: KeyPair, ca: x509.Certificate) -> ssl.CertificateOptions:
    """Server side of node RPC: present ``server``, require a client cert signed by ``ca``.

    A client without a certificate, or with one from another CA, fails the handshake.
    """
    pkey, cert = _openssl_pair(server)
    return ssl.CertificateOptions(
        privateKey=pkey,
        certificate=cert,
        verify=True,
        requireCertificate=True,
        caCerts=[crypto.X509.from_cryptography(ca)],
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
    )


def client_context_factory(client: KeyPair | None, ca: x509.Certificate) -> ssl.CertificateOptions:
    """Client side of node RPC: verify the server chain against ``ca``, no host name check."""
    kwargs: dict[str, object] = {}
    if client is not None:
        pkey, cert = _openssl_pair(client)
        kwargs = {"privateKey": pkey, "certificate": cert}
    return ssl.CertificateOptions(
        verify=True,
        caCerts=[crypto.X509.from_cryptography(ca)],
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
        **kwargs,  # type: ignore[arg-type]
    )


def peer_certificate(transport: object) -> x509.Certificate | None:
    """The verified peer certificate of a TLS transport, or None."""
    get = getattr(transport, "getPeerCertificate", None)
    if get is None:
        return None
    try:
        peer = get()
    except Exception:
        return None
    if peer is None:
        return None
    result: x509.Certificate = peer.to_cryptography()
    return result
