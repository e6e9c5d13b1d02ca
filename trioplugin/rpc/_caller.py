"""What stubs call through: a Client, or anything else that makes the four kinds of call."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, final

from ..protocol import Metadata
from ._method import MethodInfo, Req, Res
from ._streams import BidiStream, ResponseStream

Headers = Metadata | Mapping[str, str] | Iterable[tuple[str, str]]
"""Request metadata as callers may give it."""


@final
@dataclass(frozen=True, slots=True)
class UnaryResponse(Generic[Res]):
    """A unary (or client-streaming) call's response with its metadata."""

    message: Res
    """The response message."""
    headers: Metadata
    """The response headers."""
    trailers: Metadata
    """The response trailers."""


class Caller(Protocol):
    """Makes calls of the four kinds: a :class:`Client` does, and so does a plugin handle.

    Stubs (:class:`Stub` and the generated typed clients) call through one.
    """

    async def unary(
        self, method: MethodInfo[Req, Res], request: Req, *, headers: Headers | None = None
    ) -> UnaryResponse[Res]:
        """Make a unary call."""
        ...

    async def client_stream(
        self,
        method: MethodInfo[Req, Res],
        requests: Iterable[Req] | AsyncIterable[Req],
        *,
        headers: Headers | None = None,
    ) -> UnaryResponse[Res]:
        """Make a client-streaming call."""
        ...

    def server_stream(
        self, method: MethodInfo[Req, Res], request: Req, *, headers: Headers | None = None
    ) -> AbstractAsyncContextManager[ResponseStream[Res]]:
        """Make a server-streaming call (use it with ``async with``)."""
        ...

    def bidi_stream(
        self, method: MethodInfo[Req, Res], *, headers: Headers | None = None
    ) -> AbstractAsyncContextManager[BidiStream[Req, Res]]:
        """Make a bidi-streaming call (use it with ``async with``)."""
        ...
