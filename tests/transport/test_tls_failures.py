"""A client's failed TLS handshake names its cause, alike on HTTP/1.1, HTTP/2 and httpx.

Each case runs the real server over TLS and a real client through
``open_client``; the error is a :class:`TLSError` (an UnprocessedError, code
``unavailable``) whose ``reason`` and message say why, and the server's
handler never ran.
"""

from __future__ import annotations

import datetime
import functools
import logging
import pickle
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import trio
import trio.testing
import trustme

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.tls import client_context, mtls_server_context
from trioplugin import ClientOptions, ServerOptions
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import Client, open_client, open_connect_server
from trioplugin.transport import (
    HTTPVersion,
    Server,
    TLSError,
    TLSErrorReason,
    UnprocessedError,
    open_httpx_transport,
)

TIMEOUT = 10  # a guard against hanging, not a synchronisation
UTC = datetime.UTC
PAST = datetime.datetime(2020, 1, 1, tzinfo=UTC)
FUTURE = datetime.datetime(2990, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def other_ca() -> trustme.CA:
    return trustme.CA()


def serving(certificate: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    return context


@dataclass(frozen=True)
class Case:
    """A server and a client that cannot agree, and what the client must say about it."""

    contexts: Callable[[trustme.CA, trustme.CA], tuple[ssl.SSLContext, ssl.SSLContext]]
    reason: TLSErrorReason
    words: str


CASES = {
    "server certificate from an untrusted CA": Case(
        lambda ca, other: (serving(ca.issue_cert("127.0.0.1")), client_context(other)),
        "unknown_ca",
        "the server's certificate is signed by a CA this client does not trust "
        "(certificate verify failed: unable to get local issuer certificate)",
    ),
    "expired server certificate": Case(
        lambda ca, other: (
            serving(
                ca.issue_cert(
                    "127.0.0.1", not_before=PAST, not_after=PAST + datetime.timedelta(days=1)
                )
            ),
            client_context(ca),
        ),
        "expired",
        "the server's certificate has expired (certificate verify failed: certificate has expired)",
    ),
    "server certificate not valid yet": Case(
        lambda ca, other: (
            serving(
                ca.issue_cert(
                    "127.0.0.1", not_before=FUTURE, not_after=FUTURE + datetime.timedelta(days=1)
                )
            ),
            client_context(ca),
        ),
        "expired",
        "the server's certificate is not valid yet "
        "(certificate verify failed: certificate is not yet valid)",
    ),
    "server certificate for another host": Case(
        lambda ca, other: (serving(ca.issue_cert("example.org")), client_context(ca)),
        "hostname_mismatch",
        "the server's certificate is not valid for the host this client asked for "
        "(certificate verify failed: IP address mismatch, "
        "certificate is not valid for '127.0.0.1'.)",
    ),
    "no client certificate where the server requires one": Case(
        lambda ca, other: (mtls_server_context(ca), client_context(ca)),
        "certificate_rejected",
        "the server requires a client certificate and none was presented "
        "(TLSV13_ALERT_CERTIFICATE_REQUIRED)",
    ),
    "client certificate from a CA the server does not trust": Case(
        lambda ca, other: (mtls_server_context(ca), client_context(ca, cert_from=other)),
        "certificate_rejected",
        "the server rejected the client certificate: it is not signed by a CA the server "
        "trusts (TLSV1_ALERT_UNKNOWN_CA)",
    ),
    "no TLS version in common": Case(
        lambda ca, other: (tls12_at_most(serving(ca.issue_cert("127.0.0.1"))), tls13(ca)),
        "protocol",
        "client and server have no TLS version in common (TLSV1_ALERT_PROTOCOL_VERSION)",
    ),
}


def tls12_at_most(context: ssl.SSLContext) -> ssl.SSLContext:
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def tls13(ca: trustme.CA) -> ssl.SSLContext:
    context = client_context(ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


@dataclass
class Served:
    server: Server
    impl: EchoImpl
    client_tls: ssl.SSLContext

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    found: Case = CASES[request.param]
    return found


@pytest.fixture
async def served(case: Case, ca: trustme.CA, other_ca: trustme.CA) -> AsyncIterator[Served]:
    server_tls, client_tls = case.contexts(ca, other_ca)
    impl = EchoImpl()
    async with open_connect_server({ECHO: impl}, ServerOptions(ssl_context=server_tls)) as server:
        yield Served(server, impl, client_tls)


def assert_names_the_cause(error: ConnectError, case: Case, served: Served) -> None:
    assert isinstance(error, TLSError), repr(error)
    assert isinstance(error, UnprocessedError)
    assert error.code is Code.UNAVAILABLE
    assert error.reason == case.reason
    assert error.message == f"TLS handshake with {served.address} failed: {case.words}"
    assert isinstance(error.__cause__, BaseException)
    assert served.impl.calls == 0


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_unary_call_names_the_cause(
    case: Case, served: Served, http_version: HTTPVersion
) -> None:
    options = ClientOptions(http_version=http_version, ssl_context=served.client_tls)
    async with open_client(served.server.url, options) as client:
        with pytest.raises(TLSError) as caught, trio.fail_after(TIMEOUT):
            await client.stub(ECHO).Echo(EchoRequest(text="x"))
    assert_names_the_cause(caught.value, case, served)


async def requests() -> AsyncIterator[EchoRequest]:
    for _ in range(4):
        yield EchoRequest(text="x" * 1000)
        await trio.lowlevel.checkpoint()


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_streamed_request_names_the_cause_too(
    case: Case, served: Served, http_version: HTTPVersion
) -> None:
    # Over TLS 1.3 the client writes its request before the server has judged
    # its certificate; the server's alert must still be what it reads.
    options = ClientOptions(http_version=http_version, ssl_context=served.client_tls)
    async with open_client(served.server.url, options) as client:
        with pytest.raises(TLSError) as caught, trio.fail_after(TIMEOUT):
            await client.stub(ECHO).ClientStream(requests())
    assert_names_the_cause(caught.value, case, served)


@pytest.mark.parametrize("http2", [False, True], ids=["httpx-http1", "httpx-http2"])
async def test_the_httpx_transport_names_the_cause(case: Case, served: Served, http2: bool) -> None:
    async with open_httpx_transport(
        served.server.url, ssl_context=served.client_tls, http1=not http2, http2=http2
    ) as transport:
        client = Client(transport, ClientOptions())
        with pytest.raises(TLSError) as caught, trio.fail_after(TIMEOUT):
            await client.stub(ECHO).Echo(EchoRequest(text="x"))
    assert_names_the_cause(caught.value, case, served)


# -- the cases beside the table ---------------------------------------------------------


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_server_that_does_not_speak_tls(ca: trustme.CA, http_version: HTTPVersion) -> None:
    async with (
        open_connect_server({ECHO: EchoImpl()}) as server,
        open_client(
            server.url.replace("http://", "https://"),
            ClientOptions(http_version=http_version, ssl_context=client_context(ca)),
        ) as client,
    ):
        with pytest.raises(TLSError) as caught, trio.fail_after(TIMEOUT):
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.reason == "protocol"
    assert "does not speak TLS on this port (plain HTTP?) (WRONG_VERSION_NUMBER)" in str(
        caught.value
    )


async def test_a_tls_server_that_does_not_offer_h2_is_a_protocol_failure(ca: trustme.CA) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])  # an HTTP/1.1-only server

    async def hold(stream: trio.SSLStream[trio.SocketStream]) -> None:
        with trio.move_on_after(TIMEOUT):
            await stream.do_handshake()
            await stream.receive_some()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(
            functools.partial(trio.serve_ssl_over_tcp, hold, 0, context, host="127.0.0.1")
        )
        port = listener.transport_listener.socket.getsockname()[1]
        options = ClientOptions(ssl_context=client_context(ca))
        async with open_client(f"https://127.0.0.1:{port}", options) as client:
            with pytest.raises(TLSError) as caught, trio.fail_after(TIMEOUT):
                await client.stub(ECHO).Echo(EchoRequest())
        nursery.cancel_scope.cancel()
    assert caught.value.reason == "protocol"
    assert "does not speak HTTP/2 over TLS" in caught.value.message
    # No protocol in common: OpenSSL's server then picks none (no alert).
    assert "it chose no protocol" in caught.value.message


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_over_tls12_a_missing_client_certificate_is_only_a_handshake_failure(
    ca: trustme.CA, http_version: HTTPVersion
) -> None:
    # TLS 1.2 has no certificate_required alert: OpenSSL sends handshake_failure,
    # which a missing cipher suite sends too. The words say both.
    context = client_context(ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    async with (
        open_connect_server(
            {ECHO: EchoImpl()}, ServerOptions(ssl_context=mtls_server_context(ca))
        ) as server,
        open_client(
            server.url, ClientOptions(http_version=http_version, ssl_context=context)
        ) as client,
    ):
        with pytest.raises(TLSError) as caught, trio.fail_after(TIMEOUT):
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.reason == "protocol"
    assert "no client certificate where it requires one" in caught.value.message
    assert "(SSLV3_ALERT_HANDSHAKE_FAILURE)" in caught.value.message


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_the_server_hears_why_the_client_refused_it(
    ca: trustme.CA,
    other_ca: trustme.CA,
    http_version: HTTPVersion,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trioplugin.server")
    async with (
        open_connect_server(
            {ECHO: EchoImpl()}, ServerOptions(ssl_context=serving(ca.issue_cert("127.0.0.1")))
        ) as server,
        open_client(
            server.url,
            ClientOptions(http_version=http_version, ssl_context=client_context(other_ca)),
        ) as client,
    ):
        with pytest.raises(TLSError), trio.fail_after(TIMEOUT):
            await client.stub(ECHO).Echo(EchoRequest())
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().tls_handshake_failures == 1
    # Our client sends the alert that trio's SSLStream leaves unsent.
    assert "TLSV1_ALERT_UNKNOWN_CA" in caplog.text


async def test_a_server_that_closes_mid_handshake_gives_a_plain_unprocessed_error() -> None:
    async def close_at_once(stream: trio.SocketStream) -> None:
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(
            functools.partial(trio.serve_tcp, close_at_once, 0, host="127.0.0.1")
        )
        port = listener.socket.getsockname()[1]
        async with open_client(f"https://127.0.0.1:{port}") as client:
            with pytest.raises(UnprocessedError) as caught, trio.fail_after(TIMEOUT):
                await client.stub(ECHO).Echo(EchoRequest())
        nursery.cancel_scope.cancel()
    assert not isinstance(caught.value, TLSError)  # no TLS verdict: it may well be retried
    assert "closed the connection during the handshake" in caught.value.message


def test_a_tls_error_copies_and_pickles_with_its_reason() -> None:
    error = TLSError("expired", "TLS handshake with h:1 failed: ...")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, TLSError)
    assert (copy.reason, copy.message, copy.code) == ("expired", error.message, Code.UNAVAILABLE)
    assert repr(copy) == "TLSError('expired', 'TLS handshake with h:1 failed: ...')"
    with pytest.raises(ValueError, match="reason must be one of"):
        TLSError("bad_luck", "x")  # type: ignore[arg-type]
