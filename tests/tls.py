"""TLS material for tests: trustme certificates in server and client SSL contexts."""

from __future__ import annotations

import ssl

import trustme

CLIENT_COMMON_NAME = "plugin-host"
"""The common name of the client certificates these helpers issue."""


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate ``ca`` issued for 127.0.0.1 and localhost."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def mtls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context that requires a client certificate issued by ``ca``."""
    context = server_context(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    return context


def client_context(ca: trustme.CA, *, cert_from: trustme.CA | None = None) -> ssl.SSLContext:
    """A client context trusting ``ca``; with ``cert_from``, presenting a cert that CA issued.

    The client certificate's common name is :data:`CLIENT_COMMON_NAME`.
    """
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if cert_from is not None:
        cert_from.issue_cert("plugin-host.example", common_name=CLIENT_COMMON_NAME).configure_cert(
            context
        )
    return context
