"""PeerCertificate: the verified peer certificate's fields, read in a real handler over mTLS."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from tests.tls import client_context, mtls_server_context, server_context
from trioplugin import ClientOptions, PeerCertificate, ServerOptions
from trioplugin.rpc import HandlerContext, open_client, open_connect_server
from trioplugin.transport import (
    ClientTransport,
    HTTPVersion,
    Peer,
    ServerExchange,
    TLSInfo,
    open_http1_transport,
    open_http2_transport,
    open_server,
)

UTC = datetime.UTC
NOT_BEFORE = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
NOT_AFTER = datetime.datetime(2100, 6, 7, 8, 9, 10, tzinfo=UTC)
SERIAL = 0x1234ABCD5678


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    cert_file: Path
    key_file: Path

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def client_context(self, ca: trustme.CA) -> ssl.SSLContext:
        context = client_context(ca)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def issue_client_certificate(ca: trustme.CA, directory: Path) -> Issued:
    """A client certificate with every kind of SAN (trustme cannot make URI SANs)."""
    ca_certificate = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc."),
            x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
        ]
    )
    names: list[x509.GeneralName] = [
        x509.DNSName("alice.example"),
        x509.UniformResourceIdentifier("spiffe://example.org/ns/default/sa/alice"),
        x509.RFC822Name("alice@example.org"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.7")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.DNSName("alt.example"),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(SERIAL)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = directory / "client.pem"
    key_file = directory / "client.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(certificate, cert_file, key_file)


class PeerRecorder(EchoImpl):
    """The echo service, keeping the peer each call came from."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[Peer | None] = []

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        self.peers.append(ctx.peer)
        return await super().Echo(request, ctx)


async def call_recorded(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext, http_version: HTTPVersion
) -> TLSInfo:
    """One call to a recording server; the TLS session its handler saw."""
    recorder = PeerRecorder()
    async with (
        open_connect_server({ECHO: recorder}, ServerOptions(ssl_context=server_tls)) as server,
        open_client(
            server.url, ClientOptions(http_version=http_version, ssl_context=client_tls)
        ) as client,
    ):
        await client.stub(ECHO).Echo(EchoRequest(text="who am i"))
    (peer,) = recorder.peers
    assert peer is not None
    assert peer.http_version == http_version
    assert peer.tls is not None
    return peer.tls


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_handler_reads_the_verified_client_certificate(
    ca: trustme.CA, tmp_path: Path, http_version: HTTPVersion
) -> None:
    issued = issue_client_certificate(ca, tmp_path)
    tls = await call_recorded(mtls_server_context(ca), issued.client_context(ca), http_version)
    certificate = tls.certificate
    assert certificate is not None
    assert tls.certificate is certificate  # built once
    assert certificate.subject == (
        ("countryName", "US"),
        ("organizationName", "Example, Inc."),
        ("commonName", "alice"),
    )
    assert certificate.common_name == "alice"
    assert certificate.dns_names == ("alice.example", "alt.example")
    assert certificate.uri_names == ("spiffe://example.org/ns/default/sa/alice",)
    assert certificate.email_names == ("alice@example.org",)
    assert certificate.ip_addresses == ("10.0.0.7", "2001:db8::1")
    assert certificate.serial_number == "1234ABCD5678"
    assert certificate.not_before == NOT_BEFORE
    assert certificate.not_after == NOT_AFTER
    assert certificate.not_before.tzinfo is not None
    assert certificate.sha256_fingerprint == issued.certificate.fingerprint(hashes.SHA256()).hex()
    assert certificate.sha256_fingerprint == hashlib.sha256(issued.der).hexdigest()
    # RFC 4514, most specific first, as cryptography writes it.
    assert certificate.subject_text == "CN=alice,O=Example\\, Inc.,C=US"
    assert certificate.subject_text == issued.certificate.subject.rfc4514_string()
    assert certificate.issuer_text == issued.certificate.issuer.rfc4514_string()
    assert dict(certificate.issuer)["organizationName"].startswith("trustme")


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_no_certificate_when_the_server_asks_for_none(
    ca: trustme.CA, tmp_path: Path, http_version: HTTPVersion
) -> None:
    issued = issue_client_certificate(ca, tmp_path)
    tls = await call_recorded(server_context(ca), issued.client_context(ca), http_version)
    assert tls.peer_certificate is None
    assert tls.certificate is None


async def empty(exchange: ServerExchange) -> None:
    await exchange.send_response(200, [], b"")


@pytest.mark.parametrize(
    "opener", [open_http1_transport, open_http2_transport], ids=["http1", "http2"]
)
async def test_the_client_reads_the_server_certificate(
    ca: trustme.CA, opener: Callable[..., AbstractAsyncContextManager[ClientTransport]]
) -> None:
    async with (
        open_server(empty, ssl_context=server_context(ca)) as server,
        opener(server.url, ssl_context=client_context(ca)) as transport,
        transport.exchange("POST", "/", [], body=b"") as exchange,
    ):
        assert (await exchange.receive_head())[0] == 200
        peer = exchange.peer
    assert peer is not None and peer.tls is not None
    certificate = peer.tls.certificate
    assert certificate is not None
    # trustme's server certificate: no common name, the names it was issued for.
    assert certificate.common_name is None
    assert certificate.dns_names == ("localhost",)
    assert certificate.ip_addresses == ("127.0.0.1",)
    assert (certificate.uri_names, certificate.email_names) == ((), ())
    ca_certificate = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    assert certificate.issuer_text == ca_certificate.subject.rfc4514_string()
    assert peer.tls.peer_certificate_der is not None
    assert (
        certificate.sha256_fingerprint == hashlib.sha256(peer.tls.peer_certificate_der).hexdigest()
    )


# -- from_ssl on dicts as getpeercert() gives them --------------------------------------

DECODED: dict[str, Any] = {
    "subject": (
        (("domainComponent", "org"),),
        (("domainComponent", "example"),),
        (("organizationalUnitName", "Ops"), ("userId", "u1")),  # one multi-valued RDN
        (("commonName", "first"),),
        (("commonName", "#last, +1 "),),
        (("emailAddress", "ops@example.org"),),
    ),
    "issuer": ((("commonName", "Example CA"),),),
    "version": 3,
    "serialNumber": "01",
    "notBefore": "Jan  1 00:00:00 2000 GMT",
    "notAfter": "Feb 29 23:59:59 2032 GMT",
    "subjectAltName": (
        ("DNS", "a.example"),
        ("IP Address", "0:0:0:0:0:0:0:1"),
        ("IP Address", "192.0.2.1"),
        ("URI", "urn:example:a"),
        ("email", "a@example.org"),
        ("DirName", ((("commonName", "x"),),)),
        ("othername", "<unsupported>"),
    ),
}


def test_from_ssl_flattens_names_and_writes_rfc4514() -> None:
    certificate = PeerCertificate.from_ssl(DECODED, b"der bytes")
    assert certificate.subject[2:4] == (("organizationalUnitName", "Ops"), ("userId", "u1"))
    assert certificate.common_name == "#last, +1 "  # the last one: the most specific
    assert certificate.subject_text == (
        r"emailAddress=ops@example.org,CN=\#last\, \+1\ ,CN=first,UID=u1,OU=Ops,DC=example,DC=org"
    )
    assert certificate.issuer_text == "CN=Example CA"
    assert certificate.dns_names == ("a.example",)
    assert certificate.ip_addresses == ("::1", "192.0.2.1")
    assert certificate.uri_names == ("urn:example:a",)
    assert certificate.email_names == ("a@example.org",)
    assert certificate.serial_number == "01"
    assert certificate.not_before == datetime.datetime(2000, 1, 1, tzinfo=UTC)
    assert certificate.not_after == datetime.datetime(2032, 2, 29, 23, 59, 59, tzinfo=UTC)
    assert certificate.sha256_fingerprint == hashlib.sha256(b"der bytes").hexdigest()


def test_from_ssl_without_der_or_sans() -> None:
    decoded = {key: value for key, value in DECODED.items() if key != "subjectAltName"}
    certificate = PeerCertificate.from_ssl(decoded, None)
    assert certificate.sha256_fingerprint == ""
    assert certificate.dns_names == certificate.ip_addresses == ()


@pytest.mark.parametrize("missing", ["subject", "issuer", "serialNumber", "notBefore", "notAfter"])
def test_from_ssl_refuses_what_is_no_decoded_certificate(missing: str) -> None:
    decoded = {key: value for key, value in DECODED.items() if key != missing}
    with pytest.raises(ValueError, match=missing):
        PeerCertificate.from_ssl(decoded, None)


def test_from_ssl_refuses_a_date_in_another_form() -> None:
    with pytest.raises(ValueError, match="2030-01-01"):
        PeerCertificate.from_ssl({**DECODED, "notAfter": "2030-01-01T00:00:00Z"}, None)


def test_tls_info_has_no_certificate_without_a_verified_one() -> None:
    info = TLSInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2", None, b"unverified der")
    assert info.certificate is None
    verified = TLSInfo("TLSv1.3", None, None, DECODED, b"der")
    assert verified.certificate == PeerCertificate.from_ssl(DECODED, b"der")
    assert verified == TLSInfo("TLSv1.3", None, None, DECODED, b"der")  # the cache is no field
    assert "PeerCertificate" not in repr(verified)
