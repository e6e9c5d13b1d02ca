"""Automatic mTLS between a host and the plugins it launches: one-time identities.

For each launch the host makes a self-signed client certificate and hands
it to the plugin in its environment; the plugin makes its own server
certificate and prints it in its handshake line. Each side then trusts
exactly the other's certificate (pinned, not a CA's word), so nothing else
on the machine can call the plugin or pose as it. The keys never leave
the process that made them (nor touch the disk beyond the moment the
standard ``ssl`` module needs a file to load a key from).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY: Final = datetime.timedelta(days=30)
"""How long a one-time certificate is valid (a launch that runs longer renews on restart)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A one-time certificate and its key, both PEM."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)

    @property
    def certificate_der(self) -> bytes:
        """The certificate, DER (as the handshake line carries it)."""
        return ssl.PEM_cert_to_DER_cert(self.certificate_pem)


def make_identity(common_name: str) -> Identity:
    """A fresh self-signed certificate for 127.0.0.1 and localhost, EC P-256."""
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
        .not_valid_after(now + VALIDITY)
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
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


def server_context(identity: Identity, client_certificate_pem: str) -> ssl.SSLContext:
    """The plugin's side: present ``identity``, accept only the host's certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_identity(context, identity)
    context.load_verify_locations(cadata=client_certificate_pem)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(identity: Identity, server_certificate_der: bytes) -> ssl.SSLContext:
    """The host's side: present ``identity``, trust only the plugin's pinned certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=server_certificate_der)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_identity(context, identity)
    return context


def _load_identity(context: ssl.SSLContext, identity: Identity) -> None:
    # ssl loads keys from files only: a private directory, gone right after.
    with tempfile.TemporaryDirectory(prefix="trioplugin-") as directory:
        path = os.path.join(directory, "identity.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(identity.private_key_pem + identity.certificate_pem)
        context.load_cert_chain(path)
