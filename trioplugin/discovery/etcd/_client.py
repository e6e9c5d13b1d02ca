"""A small client of etcd's v3 JSON API (its gRPC gateway), on httpx over trio.

Why not a client library: python-etcd3 is gRPC with blocking calls (threads
under trio) and has not been maintained for years; aetcd runs on asyncio
only. etcd serves every v3 call we need as JSON on its client port too
(``POST /v3/kv/range``, ``/v3/kv/put``, ``/v3/lease/grant``,
``/v3/lease/keepalive``, ``/v3/lease/revoke``, and ``/v3/watch`` as a
streaming response of one JSON object per line; ``/v3/`` since etcd 3.4,
``/v3beta/`` before). httpx is already a dependency and streams responses
on trio, so this takes nothing new. Keys and values are base64 in the JSON,
int64 fields decimal strings.

Several endpoints make a cluster: a call goes to the endpoint that answered
last, and on a connection failure or a 5xx to the next, until every one has
failed (then ``ConnectError(Code.UNAVAILABLE)`` naming each failure). An
error etcd itself answers (a lease not found) is :class:`EtcdError`.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, final

import httpx
import trio

from ...protocol import Code, ConnectError
from ...transport import check_base_url

REQUEST_TIMEOUT: Final = 5.0
"""Bound of one unary call to one endpoint (connect, send, answer), in seconds."""

_CONNECT_TIMEOUT: Final = 2.0
"""Bound of one TCP connect, so a dead member hands over to the next one soon."""

_KEEPALIVE_OPTIONS: Final = [
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    *(
        [
            (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 15),
            (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 5),
            (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3),
        ]
        if hasattr(socket, "TCP_KEEPIDLE")
        else []
    ),
]
"""TCP keepalive: a watch idles for as long as nothing changes, so a member that
vanished without a FIN (a pulled cable, a frozen VM) is found by the kernel's
probes, about 30 s after the last byte, instead of never."""


def check_endpoints(endpoints: Sequence[str]) -> tuple[str, ...]:
    """``endpoints`` as a tuple of base URLs, each checked.

    Raises:
        TypeError: one URL given as a string, or a URL that is not a str.
        ValueError: no endpoint, or a URL that is not http(s)://host[:port].
    """
    if isinstance(endpoints, str):
        raise TypeError("endpoints must be a list of etcd URLs, not one URL")
    urls = tuple(endpoints)
    if not urls:
        raise ValueError("endpoints must name at least one etcd URL")
    for url in urls:
        check_base_url(url)
    return tuple(url.rstrip("/") for url in urls)


def check_prefix(prefix: str) -> bytes:
    """``prefix`` as the key bytes it stands for.

    Raises:
        TypeError: it is not a str.
        ValueError: it is empty (the whole keyspace is nobody's prefix).
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    if not prefix:
        raise ValueError("prefix must not be empty (it would be every key in etcd)")
    return prefix.encode()


def range_end(prefix: bytes) -> bytes:
    """The end of the key range of ``prefix``: the prefix with its last byte plus one."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"  # etcd's "every key from key on"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def b64(data: bytes) -> str:
    """``data`` as the JSON API writes bytes."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any) -> bytes:
    """Bytes from the JSON API (an absent field is empty)."""
    if not text:
        return b""
    return base64.b64decode(text)


def as_int(value: Any) -> int:
    """An int64 field from the JSON API: a decimal string, absent when 0."""
    return int(value) if value else 0


@final
class EtcdError(Exception):
    """etcd answered a call with an error (gRPC code and message), not a failure to reach it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"etcd: {message} (gRPC code {code})")
        self.code = code
        self.message = message

    @property
    def not_found(self) -> bool:
        """Whether it says that what was asked for does not exist (a lease expired)."""
        return self.code == 5


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key as etcd holds it."""

    key: bytes
    value: bytes
    mod_revision: int
    lease: int


def key_value(record: dict[str, Any]) -> KeyValue:
    """A ``kv`` record of the JSON API as a :class:`KeyValue`."""
    return KeyValue(
        key=unb64(record.get("key")),
        value=unb64(record.get("value")),
        mod_revision=as_int(record.get("mod_revision")),
        lease=as_int(record.get("lease")),
    )


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change of a watched key: ``value`` is None for a deletion."""

    key: bytes
    value: bytes | None
    mod_revision: int


@final
class Compacted(Exception):
    """etcd cancelled a watch because its start revision was compacted away."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"revisions before {compact_revision} are compacted")
        self.compact_revision = compact_revision


def _unavailable(what: str, failures: list[str]) -> ConnectError:
    return ConnectError(Code.UNAVAILABLE, f"etcd {what} failed: " + "; ".join(failures))


def _describe(url: str, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{url}: {text}"


def _error_of(body: Any) -> EtcdError | None:
    """The error a gateway response carries, if it carries one."""
    if not isinstance(body, dict) or "error" not in body:
        return None
    error = body["error"]
    if isinstance(error, dict):  # a streaming call's error: {"grpc_code", "http_code", "message"}
        return EtcdError(int(error.get("grpc_code", 2)), str(error.get("message", error)))
    return EtcdError(int(body.get("code", 2)), str(body.get("message", error)))


@final
class EtcdClient:
    """The calls the etcd discovery makes, over one ``httpx.AsyncClient``; use ``async with``."""

    def __init__(self, endpoints: Sequence[str]) -> None:
        self._endpoints = tuple(endpoints)
        self._current = 0  # the endpoint that answered last
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(socket_options=_KEEPALIVE_OPTIONS),
            timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=_CONNECT_TIMEOUT),
            trust_env=False,  # a proxy from the environment has no business between us and etcd
        )

    async def __aenter__(self) -> EtcdClient:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.__aexit__(kind, exc, tb)

    def _order(self) -> list[int]:
        count = len(self._endpoints)
        return [(self._current + step) % count for step in range(count)]

    async def call(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        """POST ``body`` to ``/v3/<path>`` at the first endpoint that answers; its JSON answer.

        Raises:
            EtcdError: etcd answered with an error.
            ConnectError: ``unavailable``, when no endpoint answered (each failure named).
        """
        failures = []
        for index in self._order():
            url = self._endpoints[index]
            try:
                with trio.fail_after(REQUEST_TIMEOUT):
                    response = await self._client.post(f"{url}/v3/{path}", json=body)
                    answer = response.json() if response.content else {}
            except (httpx.HTTPError, trio.TooSlowError, ValueError) as exc:
                failures.append(_describe(url, exc))
                continue
            error = _error_of(answer)
            if response.status_code >= 500 and (error is None or error.code in (14, 4)):
                # unavailable or deadline exceeded: no leader here, perhaps another member has one
                failures.append(f"{url}: HTTP {response.status_code} {error or ''}".rstrip())
                continue
            self._current = index
            if error is not None:
                raise error
            if response.status_code != 200 or not isinstance(answer, dict):
                raise EtcdError(2, f"HTTP {response.status_code} from {url}: {answer!r}")
            return answer
        raise _unavailable(what, failures)

    async def range(self, prefix: bytes) -> tuple[int, list[KeyValue]]:
        """The revision and every key under ``prefix``, sorted by key."""
        body = {"key": b64(prefix), "range_end": b64(range_end(prefix))}
        answer = await self.call("kv/range", body, f"range of {prefix!r}")
        try:
            revision = as_int(answer["header"]["revision"])
            found = [key_value(record) for record in answer.get("kvs", [])]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConnectError(Code.UNAVAILABLE, f"etcd sent an unreadable range: {exc!r}") from exc
        return revision, sorted(found, key=lambda kv: kv.key)

    async def put(self, key: bytes, value: bytes, lease: int) -> None:
        """Set ``key`` to ``value``, attached to ``lease``."""
        body = {"key": b64(key), "value": b64(value), "lease": str(lease)}
        await self.call("kv/put", body, f"put of {key!r}")

    async def grant(self, ttl: int) -> tuple[int, int]:
        """A new lease: its ID and the TTL etcd granted (at least its minimum, 2 s)."""
        answer = await self.call("lease/grant", {"TTL": str(ttl)}, "lease grant")
        return as_int(answer.get("ID")), as_int(answer.get("TTL"))

    async def keepalive(self, lease: int) -> int:
        """Renew ``lease``; the TTL it has now, 0 if etcd no longer knows it."""
        answer = await self.call("lease/keepalive", {"ID": str(lease)}, "lease keepalive")
        return as_int(answer.get("result", {}).get("TTL"))

    async def revoke(self, lease: int) -> None:
        """End ``lease`` and delete its keys (a lease already gone is not an error)."""
        try:
            await self.call("lease/revoke", {"ID": str(lease)}, "lease revoke")
        except EtcdError as error:
            if not error.not_found:
                raise

    @asynccontextmanager
    async def watch(self, prefix: bytes, start_revision: int) -> AsyncIterator[WatchStream]:
        """The changes under ``prefix`` from ``start_revision`` on, once etcd confirmed the watch.

        Raises:
            Compacted: the start revision is compacted already (etcd confirms
                such a watch and cancels it at once, so this usually comes from
                the first :meth:`WatchStream.next_events`).
            ConnectError: ``unavailable``, when no endpoint opened the watch.
        """
        body = {
            "create_request": {
                "key": b64(prefix),
                "range_end": b64(range_end(prefix)),
                "start_revision": str(start_revision),
            }
        }
        failures = []
        for index in self._order():
            url = self._endpoints[index]
            try:
                stream = await self._open_watch(url, body)
            except _WatchNotOpened as exc:
                failures.append(str(exc))
                continue
            self._current = index
            try:
                yield stream
            finally:
                with trio.CancelScope(shield=True):
                    await stream.aclose()
            return
        raise _unavailable(f"watch of {prefix!r}", failures)

    async def _open_watch(self, url: str, body: dict[str, Any]) -> WatchStream:
        """The watch stream at ``url``, once its ``created`` line came."""
        timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=_CONNECT_TIMEOUT, read=None)
        request = self._client.build_request("POST", f"{url}/v3/watch", json=body, timeout=timeout)
        try:
            with trio.fail_after(REQUEST_TIMEOUT):
                response = await self._client.send(request, stream=True)
        except (httpx.HTTPError, trio.TooSlowError) as exc:
            raise _WatchNotOpened(_describe(url, exc)) from exc
        stream = WatchStream(url, response)
        try:
            with trio.fail_after(REQUEST_TIMEOUT):
                if response.status_code != 200:
                    await response.aread()
                    raise ConnectError(
                        Code.UNAVAILABLE, f"HTTP {response.status_code}: {response.text[:200]}"
                    )
                first = await stream.next_result()
            if not first.get("created"):
                raise ConnectError(Code.UNAVAILABLE, f"the watch was not created: {first!r}")
            _check_canceled(first)
        except (ConnectError, trio.TooSlowError) as exc:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            raise _WatchNotOpened(_describe(url, exc)) from exc
        except BaseException:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            raise
        return stream


class _WatchNotOpened(Exception):
    pass


def _check_canceled(result: dict[str, Any]) -> None:
    if not result.get("canceled"):
        return
    compact_revision = as_int(result.get("compact_revision"))
    if compact_revision:
        raise Compacted(compact_revision)
    reason = result.get("cancel_reason") or "no reason given"
    raise ConnectError(Code.UNAVAILABLE, f"etcd cancelled the watch: {reason}")


@final
class WatchStream:
    """One open watch: its events, batch by batch, as the lines of the response come."""

    def __init__(self, url: str, response: httpx.Response) -> None:
        self._url = url
        self._response = response
        self._lines = response.aiter_lines()

    async def aclose(self) -> None:
        """Close the response (and so the connection under it)."""
        await self._response.aclose()

    async def next_result(self) -> dict[str, Any]:
        """The next line's ``result``.

        Raises:
            ConnectError: ``unavailable``: the stream broke, ended, or carried an error.
        """
        try:
            while True:
                line = await self._lines.__anext__()
                if line.strip():
                    break
            message = json.loads(line)
        except StopAsyncIteration:
            raise ConnectError(
                Code.UNAVAILABLE, f"the watch stream from {self._url} ended"
            ) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise ConnectError(
                Code.UNAVAILABLE, f"the watch stream broke: {_describe(self._url, exc)}"
            ) from exc
        error = _error_of(message)
        if error is not None:
            raise ConnectError(Code.UNAVAILABLE, f"the watch stream from {self._url}: {error}")
        result = message.get("result") if isinstance(message, dict) else None
        if not isinstance(result, dict):
            raise ConnectError(Code.UNAVAILABLE, f"{self._url} sent {line[:200]!r} on a watch")
        return result

    async def next_events(self) -> list[WatchEvent]:
        """The next batch of changes (one revision's); progress notifications are skipped.

        Raises:
            Compacted: etcd cancelled the watch for compaction.
            ConnectError: ``unavailable``: the stream broke, ended, or was cancelled.
        """
        while True:
            result = await self.next_result()
            _check_canceled(result)
            try:
                events = self._events(result)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ConnectError(
                    Code.UNAVAILABLE, f"{self._url} sent an unreadable watch event: {exc!r}"
                ) from exc
            if events:
                return events

    @staticmethod
    def _events(result: dict[str, Any]) -> list[WatchEvent]:
        return [
            WatchEvent(
                key=kv.key,
                value=None if event.get("type") == "DELETE" else kv.value,
                mod_revision=kv.mod_revision,
            )
            for event in result.get("events", [])
            for kv in [key_value(event.get("kv", {}))]
        ]
