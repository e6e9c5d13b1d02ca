"""The server over TLS: ALPN picks HTTP/2 or HTTP/1.1, mTLS, and handshakes that fail."""

from __future__ import annotations

import contextlib
import ssl

import httpx
import pytest
import trio
import trio.testing
import trustme

from tests.tls import client_context, mtls_server_context, server_context
from trioplugin.transport import Peer, Server, ServerApp, ServerExchange, ServerLimits, open_server

from ._server_helpers import (
    TIMEOUT,
    echo,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def other_ca() -> trustme.CA:
    return trustme.CA()


def recording_app(peers: list[Peer]) -> ServerApp:
    async def app(exchange: ServerExchange) -> None:
        peers.append(exchange.peer)
        await echo(exchange)

    return app


@pytest.mark.parametrize(("http2", "alpn"), [(True, "h2"), (False, "http/1.1")])
async def test_alpn_chooses_the_protocol(ca: trustme.CA, http2: bool, alpn: str) -> None:
    peers: list[Peer] = []
    context = server_context(ca)
    async with (
        open_server(recording_app(peers), ssl_context=context) as server,
        httpx.AsyncClient(verify=client_context(ca), http2=http2) as client,
    ):
        assert server.url.startswith("https://127.0.0.1:")
        response = await client.post(server.url + "/x", content=b"secret")
        assert (response.status_code, response.content) == (200, b"secret")
        assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    (peer,) = peers
    assert peer.http_version == ("2" if http2 else "1.1")
    assert peer.tls is not None
    assert peer.tls.alpn_protocol == alpn
    assert peer.tls.version is not None
    assert peer.tls.version.startswith("TLSv1.")
    assert peer.tls.cipher
    assert peer.tls.peer_certificate is None  # no client certificate was asked for


async def test_mtls_hands_the_verified_client_certificate_to_the_app(ca: trustme.CA) -> None:
    peers: list[Peer] = []
    async with (
        open_server(recording_app(peers), ssl_context=mtls_server_context(ca)) as server,
        httpx.AsyncClient(verify=client_context(ca, cert_from=ca), http2=True) as client,
    ):
        response = await client.post(server.url, content=b"hi")
        assert response.content == b"hi"
    (peer,) = peers
    assert peer.tls is not None
    certificate = peer.tls.peer_certificate
    assert certificate is not None
    assert ("DNS", "plugin-host.example") in certificate["subjectAltName"]
    assert peer.tls.peer_certificate_der
    assert ssl.DER_cert_to_PEM_cert(peer.tls.peer_certificate_der).startswith("-----BEGIN")


async def raw_tls_attempt(server: Server, context: ssl.SSLContext) -> bool:
    """Try a handshake and one request on a raw TLS stream; whether a response came back."""
    tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
    stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1")
    try:
        await stream.do_handshake()
        await stream.send_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        return bool(await stream.receive_some())
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    finally:
        await trio.aclose_forcefully(stream)


async def assert_serves(server: Server, ca: trustme.CA) -> None:
    context = client_context(ca, cert_from=ca)
    async with httpx.AsyncClient(verify=context) as client:
        assert (await client.post(server.url, content=b"ok")).content == b"ok"


async def test_client_without_certificate_is_refused_and_the_server_goes_on(
    ca: trustme.CA,
) -> None:
    async with open_server(echo, ssl_context=mtls_server_context(ca)) as server:
        with trio.fail_after(TIMEOUT):
            assert not await raw_tls_attempt(server, client_context(ca))
            await assert_serves(server, ca)
        assert server.statistics().tls_handshake_failures == 1


async def test_client_certificate_from_another_ca_is_refused(
    ca: trustme.CA, other_ca: trustme.CA
) -> None:
    async with open_server(echo, ssl_context=mtls_server_context(ca)) as server:
        with trio.fail_after(TIMEOUT):
            assert not await raw_tls_attempt(server, client_context(ca, cert_from=other_ca))
            await assert_serves(server, ca)
        assert server.statistics().tls_handshake_failures == 1


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 64, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
)
async def test_plaintext_or_garbage_on_the_tls_port(ca: trustme.CA, garbage: bytes) -> None:
    async with open_server(echo, ssl_context=mtls_server_context(ca)) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        with trio.fail_after(TIMEOUT):
            try:
                await stream.send_all(garbage)
                while await stream.receive_some():
                    pass
            except trio.BrokenResourceError:
                pass
            await assert_serves(server, ca)
        await stream.aclose()
        assert server.statistics().tls_handshake_failures == 1


async def test_slow_handshake_times_out(
    ca: trustme.CA, autojump_clock: trio.testing.MockClock
) -> None:
    limits = ServerLimits(header_read_timeout=3)
    async with open_server(echo, ssl_context=server_context(ca), limits=limits) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        start = trio.current_time()
        with trio.fail_after(TIMEOUT):
            assert await stream.receive_some() == b""  # closed, without a word
        assert 3 <= trio.current_time() - start < 4
        stats = server.statistics()
        assert stats.connections_closed_timeout == 1
        assert stats.open_connections == 0
        await stream.aclose()


async def refused_client(server: Server, ca: trustme.CA) -> trio.SSLStream[trio.SocketStream]:
    """A TLS 1.3 client without a certificate, its handshake done: the server judges it later."""
    tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
    context = client_context(ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1")
    await stream.do_handshake()
    return stream


async def test_a_refused_client_reads_the_alert_that_says_why(ca: trustme.CA) -> None:
    # trio's SSLStream leaves the alert unsent; the server sends it, then reads
    # on until the client closes, so that the client's writes draw no reset
    # and its first read gets the alert.
    async with open_server(echo, ssl_context=mtls_server_context(ca)) as server:
        stream = await refused_client(server, ca)
        with trio.fail_after(TIMEOUT):
            for _ in range(3):  # a request written in pieces, as a streamed body is
                await stream.send_all(b"POST / HTTP/1.1\r\nhost: x\r\n" + b"x-pad: y\r\n" * 500)
                await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BrokenResourceError) as caught:
                await stream.receive_some()
        await trio.aclose_forcefully(stream)
    assert isinstance(caught.value.__cause__, ssl.SSLError)
    assert caught.value.__cause__.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert server.statistics().tls_handshake_failures == 1


async def test_the_server_lingers_a_second_at_most(
    ca: trustme.CA, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_server(echo, ssl_context=mtls_server_context(ca)) as server:
        stream = await refused_client(server, ca)  # and it never reads, nor closes
        start = trio.current_time()
        await trio.sleep(0.5)
        assert server.statistics().open_connections == 1
        await trio.sleep(1.0)
        assert server.statistics().open_connections == 0
        assert server.statistics().tls_handshake_failures == 1
        with pytest.raises(trio.BrokenResourceError):
            await stream.receive_some()
        assert trio.current_time() - start < 2
        await trio.aclose_forcefully(stream)


async def test_the_server_lingers_for_so_many_bytes_at_most(
    ca: trustme.CA, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_server(echo, ssl_context=mtls_server_context(ca)) as server:
        tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
        stream = trio.SSLStream(tcp, client_context(ca), server_hostname="127.0.0.1")
        await stream.do_handshake()
        start = trio.current_time()
        with contextlib.suppress(trio.BrokenResourceError):
            for _ in range(40):  # 320 KiB of "request", past LINGER_BYTES
                await tcp.send_all(b"\x17\x03\x03\x20\x00" + bytes(8192))
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().open_connections == 0
        assert trio.current_time() - start < 0.5  # it did not wait for the grace to end
        await trio.aclose_forcefully(stream)
