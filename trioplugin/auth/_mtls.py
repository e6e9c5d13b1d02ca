"""Mutual TLS: each side proves who it is with a certificate the other side verifies."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Any, ClassVar, final

from ..protocol import Code, ConnectError
from ..rpc import Call
from ..transport import PeerCertificate
from ._context import AuthContext
from ._provider import ClientAuthInterceptor, ServerAuthInterceptor

FilePath = str | os.PathLike[str]
"""A file name: a PEM certificate chain, private key or CA bundle."""

IdentityExtractor = Callable[[PeerCertificate], str]
"""Names the caller from its verified certificate (or raises to refuse it)."""


def default_identity(certificate: PeerCertificate) -> str:
    """Who a client certificate names: its first URI SAN, else its first DNS SAN, else its CN.

    A SPIFFE ID (``spiffe://example.org/host``) is a URI SAN, so workload
    certificates name their workload.

    Raises:
        ConnectError: ``unauthenticated``: the certificate names nobody.
    """
    for names in (certificate.uri_names, certificate.dns_names):
        if names:
            return names[0]
    if certificate.common_name:
        return certificate.common_name
    raise ConnectError(
        Code.UNAUTHENTICATED, "the client certificate names no identity (no URI or DNS SAN, no CN)"
    )


@final
class MTLSAuth:
    """Mutual TLS: the TLS contexts of both sides, and a server interceptor that names the caller.

    ``certificate`` and ``private_key`` are this side's own (a client's
    certificate for a client, the server's for a server), in PEM files;
    ``trusted_cas`` is the CA bundle that the other side's certificate must
    chain to (for a client, None trusts the system's CAs; a server needs
    it). Make one per side::

        # The host:
        host_tls = MTLSAuth(certificate="host.pem", private_key="host.key", trusted_cas="ca.pem")
        options = ClientOptions(ssl_context=host_tls.client_ssl_context())

        # The plugin:
        plugin_tls = MTLSAuth(certificate="plugin.pem", private_key="plugin.key",
                              trusted_cas="clients-ca.pem")
        server_options = ServerOptions(ssl_context=plugin_tls.server_ssl_context())
        interceptors = [plugin_tls.server_interceptor()]

    The server context requires a client certificate and verifies it (TLS
    1.2 at least), so a client without a good one never gets a request
    through. The server interceptor takes the identity from the **verified**
    certificate (``extract_identity``, by default :func:`default_identity`)
    and sets an :class:`~trioplugin.auth.AuthContext` with provider
    ``"mtls"`` and claims ``subject``, ``issuer``, ``sans``,
    ``sha256_fingerprint``, ``serial_number`` and ``not_after``. A call that
    did not come over TLS with a verified client certificate (plain HTTP
    included) is never authenticated.

    Raises:
        TypeError: ``extract_identity`` is not callable.
        ValueError: only one of ``certificate`` and ``private_key`` is given.
    """

    name: ClassVar[str] = "mtls"
    sends_secret: ClassVar[bool] = False

    __slots__ = ("_certificate", "_extract_identity", "_private_key", "_trusted_cas")

    def __init__(
        self,
        *,
        certificate: FilePath | None = None,
        private_key: FilePath | None = None,
        trusted_cas: FilePath | None = None,
        extract_identity: IdentityExtractor | None = None,
    ) -> None:
        if (certificate is None) != (private_key is None):
            raise ValueError("MTLSAuth: give both certificate and private_key, or neither")
        if extract_identity is not None and not callable(extract_identity):
            raise TypeError("MTLSAuth: extract_identity must be callable")
        self._certificate = certificate
        self._private_key = private_key
        self._trusted_cas = trusted_cas
        self._extract_identity = extract_identity or default_identity

    # -- TLS contexts ---------------------------------------------------------------------

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context: this side's certificate, and the server verified against the CAs.

        Hostnames are checked. Give it to ``ClientOptions(ssl_context=...)``.

        Raises:
            ValueError: no certificate was given (a client needs one for mTLS).
            OSError, ssl.SSLError: a file is missing or not PEM.
        """
        if self._certificate is None or self._private_key is None:
            raise ValueError("MTLSAuth.client_ssl_context needs a certificate and private_key")
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self._cafile())
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._certificate, self._private_key)
        return context

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server context that requires a client certificate and verifies it against the CAs.

        Give it to ``ServerOptions(ssl_context=...)``.

        Raises:
            ValueError: no certificate or no ``trusted_cas`` was given.
            OSError, ssl.SSLError: a file is missing or not PEM.
        """
        if self._certificate is None or self._private_key is None:
            raise ValueError("MTLSAuth.server_ssl_context needs a certificate and private_key")
        if self._trusted_cas is None:
            raise ValueError(
                "MTLSAuth.server_ssl_context needs trusted_cas: the CAs of the client certificates"
            )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self._cafile())
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(self._certificate, self._private_key)
        return context

    def _cafile(self) -> str | None:
        return os.fspath(self._trusted_cas) if self._trusted_cas is not None else None

    # -- the provider ---------------------------------------------------------------------

    def client_interceptor(self) -> ClientAuthInterceptor:
        """A client interceptor (adds nothing: the certificate is in the TLS context)."""
        return ClientAuthInterceptor((self,))

    async def add_credentials(self, call: Call[Any, Any]) -> None:
        """Nothing to add: the client's certificate goes in the TLS handshake."""

    def server_interceptor(self) -> ServerAuthInterceptor:
        """An interceptor that authenticates server calls by their verified client certificate."""
        return ServerAuthInterceptor(self.authenticate, self.name)

    async def authenticate(self, call: Call[Any, Any]) -> AuthContext:
        """The caller its verified client certificate names.

        Raises:
            ConnectError: ``unauthenticated``: the call came over plain HTTP,
                or without a verified client certificate, or the certificate
                names nobody (or ``extract_identity`` refused it).
        """
        peer = call.peer
        tls = peer.tls if peer is not None else None
        if tls is None:
            raise ConnectError(Code.UNAUTHENTICATED, "mTLS: the call did not come over TLS")
        certificate = tls.certificate
        if certificate is None:
            raise ConnectError(
                Code.UNAUTHENTICATED, "mTLS: the client presented no verified certificate"
            )
        try:
            identity = self._extract_identity(certificate)
        except ConnectError:
            raise
        except Exception as exc:
            raise ConnectError(
                Code.UNAUTHENTICATED,
                f"mTLS: the client certificate was refused ({type(exc).__name__})",
            ) from None
        if not isinstance(identity, str) or not identity:
            raise ConnectError(Code.UNAUTHENTICATED, "mTLS: the client certificate names nobody")
        return AuthContext(identity, self.name, _claims(certificate))

    def __repr__(self) -> str:
        return f"<MTLSAuth certificate={self._certificate!r} trusted_cas={self._trusted_cas!r}>"


def _claims(certificate: PeerCertificate) -> dict[str, Any]:
    sans = [
        *(f"URI:{name}" for name in certificate.uri_names),
        *(f"DNS:{name}" for name in certificate.dns_names),
        *(f"email:{name}" for name in certificate.email_names),
        *(f"IP:{address}" for address in certificate.ip_addresses),
    ]
    return {
        "subject": certificate.subject_text,
        "issuer": certificate.issuer_text,
        "sans": tuple(sans),
        "sha256_fingerprint": certificate.sha256_fingerprint,
        "serial_number": certificate.serial_number,
        "not_after": certificate.not_after.isoformat(),
    }
