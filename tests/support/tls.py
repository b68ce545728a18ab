"""Throwaway TLS material for loopback test servers (Azurite, the Batch emulator).

Azure SDK clients refuse bearer tokens over plain http, so tests that use a token credential
need https. :func:`tls_material` makes (once per directory) a self-signed CA and a server
certificate for ``127.0.0.1`` / ``localhost`` signed by it, and writes ``ca.pem`` (the bundle
a client trusts: pass it as ``connection_verify=`` or ``REQUESTS_CA_BUNDLE``), ``server.pem``
and ``server-key.pem``. Nothing here is a secret: the key is generated for a test run and
trusted by nobody else.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import cache_dir, cache_lock


@dataclass(frozen=True)
class TlsMaterial:
    ca_bundle: Path
    cert: Path
    key: Path


def tls_material(directory: Path | None = None) -> TlsMaterial:
    """The CA bundle, server certificate and key in ``directory`` (default: the test cache)."""
    folder = directory or cache_dir("tls")
    material = TlsMaterial(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    with cache_lock("tls-" + hashlib.sha256(str(folder).encode()).hexdigest()[:16]):
        if not all(path.exists() for path in (material.ca_bundle, material.cert, material.key)):
            _write_material(material)
    return material


def _write_material(material: TlsMaterial) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "superbatch test CA")])

    def certificate(
        subject: x509.Name, public_key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        """A builder for a certificate of ``subject`` issued by the CA, valid for the run."""
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from)
            .not_valid_after(valid_to)
        )

    ca_cert = (
        certificate(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    server_cert = (
        certificate(server_name, server_key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    material.key.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    material.cert.write_bytes(server_cert.public_bytes(pem))
    material.ca_bundle.write_bytes(ca_cert.public_bytes(pem))
