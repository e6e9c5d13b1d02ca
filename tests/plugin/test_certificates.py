"""Automatic mTLS: each side trusts exactly the other's one-time certificate."""

from __future__ import annotations

import ssl

import pytest
import trio

from trioplugin.plugin._certificates import (
    Identity,
    client_context,
    make_identity,
    server_context,
)

HOST = make_identity("host")
PLUGIN = make_identity("plugin")


async def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str:
    """Run a TLS handshake over loopback; the server's view of the client's CN, or the error."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    seen: list[str] = []
    done = trio.Event()

    async def serve_one(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, server, server_side=True)
        try:
            await tls.do_handshake()
            subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
            seen.append(subject["commonName"])
        except trio.BrokenResourceError as exc:
            seen.append(f"refused: {exc.__cause__}")
        done.set()
        await tls.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, serve_one, listeners)
        tls = trio.SSLStream(
            await trio.open_tcp_stream("127.0.0.1", port), client, server_hostname="127.0.0.1"
        )
        try:
            await tls.do_handshake()
            await tls.receive_some(1)  # the server's close, or its alert
        except trio.BrokenResourceError as exc:
            seen.append(f"client refused: {exc.__cause__}")
            done.set()
        finally:
            await tls.transport_stream.aclose()
        with trio.fail_after(5):
            await done.wait()
        nursery.cancel_scope.cancel()
    return seen[0]


async def test_host_and_plugin_trust_each_other() -> None:
    view = await handshake(
        server_context(PLUGIN, HOST.certificate_pem), client_context(HOST, PLUGIN.certificate_der)
    )
    assert view == "host"


async def test_a_host_pinning_another_certificate_refuses_the_plugin() -> None:
    impostor = make_identity("plugin")
    view = await handshake(
        server_context(impostor, HOST.certificate_pem),
        client_context(HOST, PLUGIN.certificate_der),
    )
    assert "certificate verify failed" in view


async def test_a_plugin_refuses_a_client_with_another_certificate() -> None:
    stranger = make_identity("host")
    view = await handshake(
        server_context(PLUGIN, HOST.certificate_pem),
        client_context(stranger, PLUGIN.certificate_der),
    )
    assert view.startswith("refused")


def test_identities_are_fresh_and_keep_their_key_out_of_reprs() -> None:
    again = make_identity("host")
    assert again.certificate_der != HOST.certificate_der
    assert "PRIVATE" not in repr(again)
    assert isinstance(again, Identity)


@pytest.mark.parametrize("identity", [HOST, PLUGIN])
def test_the_certificate_names_loopback(identity: Identity) -> None:
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(identity.certificate_der)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
