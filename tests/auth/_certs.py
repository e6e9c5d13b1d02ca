"""Certificates trustme does not make: URI SANs, a purpose other than client auth, any dates."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH


@dataclass(frozen=True)
class Issued:
    """A leaf certificate and its key, in PEM files (what MTLSAuth takes)."""

    certificate: Path
    private_key: Path
    der: bytes


def issue(
    ca: trustme.CA,
    directory: Path,
    name: str,
    *,
    common_name: str | None = None,
    dns_names: Sequence[str] = (),
    uris: Sequence[str] = (),
    purposes: Sequence[x509.ObjectIdentifier] = (CLIENT_AUTH,),
    valid_days: tuple[int, int] = (-1, 30),
) -> Issued:
    """A certificate ``ca`` signs, with these names, purposes and validity (days from now)."""
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trioplugin tests")]
        + ([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=valid_days[0]))
        .not_valid_after(now + datetime.timedelta(days=valid_days[1]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(purposes)), critical=False)
    )
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri) for uri in uris]
    names += [x509.DNSName(dns) for dns in dns_names]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    cert_path = directory / f"{name}.pem"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_path, key_path, certificate.public_bytes(serialization.Encoding.DER))


def ca_file(ca: trustme.CA, directory: Path, name: str) -> Path:
    """``ca``'s certificate in a PEM file (a CA bundle of one)."""
    path = directory / f"{name}-ca.pem"
    path.write_bytes(ca.cert_pem.bytes())
    return path


def server_files(ca: trustme.CA, directory: Path) -> Issued:
    """A server certificate for 127.0.0.1 and localhost, as trustme issues it."""
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key_path.write_bytes(leaf.private_key_pem.bytes())
    return Issued(cert_path, key_path, b"")
