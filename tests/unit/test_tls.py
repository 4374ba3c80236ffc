"""Cluster key material: generation, digests, signatures."""

from __future__ import annotations

import hashlib
import os
import uuid

from cryptography.hazmat.primitives import serialization
from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors, tls


class KeyMaterialTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.ca = tls.create_cluster_certificate("cluster.example.com")
        self.node_uuid = str(uuid.uuid4())
        self.node = tls.create_node_certificate(self.ca, "node1.example.com", self.node_uuid)

    def test_node_certificate_fields(self) -> None:
        cert = self.node.cert
        self.assertEqual(cert.subject.rfc4514_string(), "CN=node1.example.com")
        self.assertEqual(cert.serial_number, uuid.UUID(self.node_uuid).int)
        self.assertEqual(cert.issuer, self.ca.cert.subject)

    def test_signed_by(self) -> None:
        other = tls.create_cluster_certificate("other")
        self.assertTrue(tls.verify_signed_by(self.node.cert, self.ca.cert))
        self.assertFalse(tls.verify_signed_by(self.node.cert, other.cert))

    def test_digest_format(self) -> None:
        # Computed independently: SHA-1 over the DER encoding, upper-case, colon separated.
        der = self.ca.cert.public_bytes(serialization.Encoding.DER)
        expected = ":".join(f"{b:02X}" for b in hashlib.sha1(der).digest())
        self.assertEqual(tls.cert_digest(self.ca.cert), expected)
        self.assertEqual(len(expected), 59)

    def test_pem_roundtrip_and_mode(self) -> None:
        path = self.mktemp()
        from pathlib import Path

        self.ca.save(Path(path))
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o440)
        loaded = tls.KeyPair.load(Path(path))
        self.assertEqual(loaded.cert, self.ca.cert)

    def test_load_garbage(self) -> None:
        from pathlib import Path

        path = Path(self.mktemp())
        path.write_bytes(b"not a certificate")
        exc = self.assertRaises(errors.CertificateError, tls.KeyPair.load, path)
        self.assertIn(str(path), str(exc))
        missing = self.assertRaises(errors.CertificateError, tls.KeyPair.load, path.with_name("x"))
        self.assertIn("cannot read", str(missing))

    def test_hmac_key(self) -> None:
        key = tls.generate_hmac_key()
        self.assertTrue(key.endswith(b"\n"))
        self.assertEqual(len(key), 41)
        int(key.strip(), 16)
        self.assertNotEqual(key, tls.generate_hmac_key())

    def test_rsa_and_server_cert(self) -> None:
        pair = tls.create_server_certificate(["127.0.0.1", "rapi.example.com"], key_type="rsa")
        self.assertIn(b"BEGIN RSA PRIVATE KEY", pair.to_pem())

    def test_expiry(self) -> None:
        days = tls.days_until_expiry(self.ca.cert)
        self.assertGreater(days, 365 * 4)
