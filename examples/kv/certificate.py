"""The certificate the replicas of ``--replicas`` serve TLS with, made by the host for one run.

It stands for what an operator's CA would issue a service: the replicas
present it, and the host trusts it alone (pinned, not the system's CAs).
It names 127.0.0.1, where the replicas listen.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class ServiceCertificate:
    """A certificate and its key in one PEM file (``path``), and the certificate alone."""

    path: Path
    certificate_pem: str

    def client_context(self) -> ssl.SSLContext:
        """The host's side: trust this certificate and nothing else."""
        context = ssl.create_default_context(cadata=self.certificate_pem)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def server_context(path: Path) -> ssl.SSLContext:
    """A replica's side: present the certificate and key in ``path``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(path)
    return context


def make_certificate(directory: Path, common_name: str = "kv") -> ServiceCertificate:
    """A fresh self-signed certificate for 127.0.0.1, its key beside it in ``directory/kv.pem``.

    The file is made readable by its owner only.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks differ a little
        .not_valid_after(now + datetime.timedelta(days=1))
        # A trust anchor as Python 3.13's strict verification wants one: CA, key usage, ids.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = directory / f"{common_name}.pem"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key_pem + certificate_pem)
    return ServiceCertificate(path, certificate_pem)
