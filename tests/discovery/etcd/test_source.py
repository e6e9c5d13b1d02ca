"""EtcdSource against a real etcd: resolve, watch, the value format, invalid values, clusters."""

from __future__ import annotations

import logging

import pytest
import trio

from tests.discovery.etcd._server import EtcdServer, endpoint_value, next_answer
from trioplugin.discovery import DiscoverySource, ServiceEndpoint
from trioplugin.discovery.etcd import EtcdSource
from trioplugin.protocol import Code, ConnectError


def test_it_is_a_discovery_source(etcd_server: EtcdServer) -> None:
    source = EtcdSource("/services/kv/", endpoints=[etcd_server.url])
    assert isinstance(source, DiscoverySource)
    assert source.prefix == "/services/kv/"
    assert source.endpoints == (etcd_server.url,)
    assert repr(source) == f"EtcdSource('/services/kv/', endpoints=['{etcd_server.url}'])"


async def test_resolve_reads_every_key_under_the_prefix_and_nothing_else(
    etcd_server: EtcdServer, prefix: str
) -> None:
    etcd_server.put(prefix + "b", endpoint_value("http://10.0.0.8:8080", priority=1, weight=5))
    etcd_server.put(prefix + "a", endpoint_value("http://10.0.0.7:8080"))
    etcd_server.put(prefix.rstrip("/") + "2/c", endpoint_value("http://10.0.0.9:1"))  # a sibling
    etcd_server.put(prefix.rstrip("/"), endpoint_value("http://10.0.0.9:2"))  # the prefix's parent
    source = etcd_server.source(prefix)
    assert await source.resolve() == (
        ServiceEndpoint("http://10.0.0.7:8080"),
        ServiceEndpoint("http://10.0.0.8:8080", priority=1, weight=5),
    )


async def test_resolve_with_nothing_registered_is_empty(
    etcd_server: EtcdServer, prefix: str
) -> None:
    assert await etcd_server.source(prefix).resolve() == ()


async def test_one_url_under_two_keys_is_one_endpoint(etcd_server: EtcdServer, prefix: str) -> None:
    etcd_server.put(prefix + "a", endpoint_value("http://10.0.0.7:8080", weight=3))
    etcd_server.put(prefix + "b", endpoint_value("http://10.0.0.7:8080", weight=9))
    answer = await etcd_server.source(prefix).resolve()
    assert answer == (ServiceEndpoint("http://10.0.0.7:8080", weight=3),)  # the first key's


INVALID = [
    ("not-json", b"http://10.0.0.7:8080", "not JSON"),
    ("not-utf8", b"\xff\xfe", "not JSON"),
    ("a-list", b'["http://10.0.0.7:8080"]', "not a JSON object but list"),
    ("no-url", b'{"host": "10.0.0.7"}', 'no "url"'),
    ("url-not-a-string", b'{"url": 7}', '"url" is not a string'),
    ("bad-url", b'{"url": "ftp://10.0.0.7"}', "ftp"),
    ("bad-priority", b'{"url": "http://10.0.0.7:1", "priority": -1}', "priority"),
    ("bool-weight", b'{"url": "http://10.0.0.7:1", "weight": true}', "weight"),
]


async def test_invalid_values_are_skipped_with_a_warning(
    etcd_server: EtcdServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value, _ in INVALID:
        etcd_server.put(prefix + name, value)
    etcd_server.put(prefix + "good", endpoint_value("http://10.0.0.1:80", extra="ignored"))
    with caplog.at_level(logging.WARNING, logger="trioplugin.discovery"):
        answer = await etcd_server.source(prefix).resolve()
    assert answer == (ServiceEndpoint("http://10.0.0.1:80"),)
    messages = [r.getMessage() for r in caplog.records if r.name == "trioplugin.discovery"]
    assert len(messages) == len(INVALID)
    for name, _, reason in INVALID:
        [message] = [m for m in messages if repr(prefix + name) in m]
        assert reason in message, message


async def test_watch_sends_the_set_then_each_change(etcd_server: EtcdServer, prefix: str) -> None:
    etcd_server.put(prefix + "a", endpoint_value("http://10.0.0.7:8080"))
    source = etcd_server.source(prefix)
    async with source.watch() as answers:
        assert await next_answer(answers) == (ServiceEndpoint("http://10.0.0.7:8080"),)
        etcd_server.put(prefix + "b", endpoint_value("http://10.0.0.8:8080"))
        assert [e.url for e in await next_answer(answers)] == [
            "http://10.0.0.7:8080",
            "http://10.0.0.8:8080",
        ]
        etcd_server.put(prefix + "a", endpoint_value("http://10.0.0.7:8080", priority=2))
        assert (await next_answer(answers))[0] == ServiceEndpoint("http://10.0.0.7:8080", 2)
        etcd_server.delete(prefix + "a")
        assert await next_answer(answers) == (ServiceEndpoint("http://10.0.0.8:8080"),)


async def test_watch_sends_only_changed_sets_and_survives_invalid_values(
    etcd_server: EtcdServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = etcd_server.source(prefix)
    async with source.watch() as answers:
        assert await next_answer(answers) == ()
        with caplog.at_level(logging.WARNING, logger="trioplugin.discovery"):
            etcd_server.put(prefix + "bad", "garbage")  # skipped: the set did not change
            etcd_server.put(prefix.rstrip("/") + "-other/x", endpoint_value("http://10.0.0.9:1"))
            etcd_server.put(prefix + "a", endpoint_value("http://10.0.0.7:8080"))
            assert await next_answer(answers) == (ServiceEndpoint("http://10.0.0.7:8080"),)
            # A valid value replacing an invalid one adds the endpoint; deleting one that
            # was invalid changes nothing that is sent.
            etcd_server.put(prefix + "bad", endpoint_value("http://10.0.0.8:8080"))
            assert len(await next_answer(answers)) == 2
            etcd_server.put(prefix + "bad", "garbage again")
            assert await next_answer(answers) == (ServiceEndpoint("http://10.0.0.7:8080"),)
            etcd_server.delete(prefix + "bad")
            etcd_server.delete(prefix + "a")
            assert await next_answer(answers) == ()
    warned = [r.getMessage() for r in caplog.records if r.name == "trioplugin.discovery"]
    assert len(warned) == 2
    assert all(repr(prefix + "bad") in message for message in warned)


async def test_two_watches_of_one_prefix_see_the_same_sets(
    etcd_server: EtcdServer, prefix: str
) -> None:
    source = etcd_server.source(prefix)
    other = etcd_server.source(prefix)
    async with source.watch() as first, other.watch() as second:
        assert await next_answer(first) == await next_answer(second) == ()
        etcd_server.put(prefix + "a", endpoint_value("http://10.0.0.7:8080"))
        assert await next_answer(first) == await next_answer(second)


async def test_a_dead_member_hands_over_to_the_next(
    etcd_server: EtcdServer, prefix: str, refused_url: str
) -> None:
    etcd_server.put(prefix + "a", endpoint_value("http://10.0.0.7:8080"))
    source = EtcdSource(prefix, endpoints=[refused_url, etcd_server.url])
    assert len(await source.resolve()) == 1
    async with source.watch() as answers:
        assert len(await next_answer(answers)) == 1
        etcd_server.delete(prefix + "a")
        assert await next_answer(answers) == ()


async def test_resolve_without_etcd_is_unavailable_naming_every_member(
    refused_url: str,
) -> None:
    other = refused_url.replace("127.0.0.1", "localhost")
    with pytest.raises(ConnectError) as caught:
        await EtcdSource("/p/", endpoints=[refused_url, other]).resolve()
    assert caught.value.code is Code.UNAVAILABLE
    assert "etcd range of b'/p/' failed" in caught.value.message
    assert refused_url in caught.value.message
    assert other in caught.value.message


async def test_a_watch_without_etcd_waits_and_leaves_at_once(
    refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="trioplugin.discovery"):
        async with EtcdSource("/p/", endpoints=[refused_url]).watch() as answers:
            with trio.move_on_after(0.5):
                await answers.receive()
                pytest.fail("an answer without etcd")
    assert any(
        "etcd watch of '/p/' failed, keeping nothing yet" in r.getMessage() for r in caplog.records
    )


async def test_closing_the_channel_ends_the_watch(etcd_server: EtcdServer, prefix: str) -> None:
    async with etcd_server.source(prefix).watch() as answers:
        await next_answer(answers)
        await answers.aclose()
        etcd_server.put(prefix + "a", endpoint_value("http://10.0.0.7:8080"))
    # Left at once: the watching task found nobody to send to, or was cancelled.


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("",), {}, ValueError, "prefix must not be empty"),
        ((b"/p/",), {}, TypeError, "prefix must be a str, not bytes"),
        (("/p/",), {"endpoints": "http://127.0.0.1:2379"}, TypeError, "not one URL"),
        (("/p/",), {"endpoints": []}, ValueError, "at least one etcd URL"),
        (("/p/",), {"endpoints": ["127.0.0.1:2379"]}, ValueError, "http:// or https://"),
        (("/p/",), {"endpoints": [2379]}, TypeError, "must be a str"),
    ],
)
def test_bad_arguments(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        EtcdSource(*args, **kwargs)  # type: ignore[arg-type]


async def test_an_error_in_the_watch_block_comes_out_as_raised(
    etcd_server: EtcdServer, prefix: str
) -> None:
    with pytest.raises(KeyError, match="mine"):
        async with etcd_server.source(prefix).watch() as answers:
            await next_answer(answers)
            raise KeyError("mine")
