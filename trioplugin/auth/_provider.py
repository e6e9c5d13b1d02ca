"""What an auth provider is, and the interceptors every provider gets from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, final, runtime_checkable

from ..rpc import Call, CallNext, Endpoint
from ._context import AuthContext, auth_context
from ._plain_http import PlainHTTPWarner

Authenticate = Callable[[Call[Any, Any]], Awaitable[AuthContext]]
"""Checks a server call's credentials: its auth context, or a ConnectError."""


@runtime_checkable
class AuthProvider(Protocol):
    """One way of proving who a caller is: a bearer token, an API key, a client certificate.

    The client side adds the caller's credentials to a call
    (:meth:`add_credentials`); the server side checks them
    (:meth:`authenticate`). :meth:`client_interceptor` and
    :meth:`server_interceptor` wrap those for one provider;
    :func:`~trioplugin.auth.compose_auth_client` and
    :func:`~trioplugin.auth.compose_auth_server` for several.
    """

    @property
    def name(self) -> str:
        """The provider's name, as :attr:`AuthContext.provider` says it."""
        ...

    @property
    def sends_secret(self) -> bool:
        """Whether the credentials travel in headers (and so are exposed over plain HTTP)."""
        ...

    async def add_credentials(self, call: Call[Any, Any]) -> None:
        """Put this caller's credentials on a client call (its request headers)."""
        ...

    async def authenticate(self, call: Call[Any, Any]) -> AuthContext:
        """Check a server call's credentials and say who it is from.

        Raises:
            ConnectError: ``unauthenticated`` when the credentials are
                missing or wrong (the message says which, never the secret);
                ``permission_denied`` when they are good but not allowed.
        """
        ...

    def client_interceptor(self) -> ClientAuthInterceptor:
        """An interceptor that adds this provider's credentials to every client call."""
        ...

    def server_interceptor(self) -> ServerAuthInterceptor:
        """An interceptor that authenticates every server call, or refuses it."""
        ...


@final
class ClientAuthInterceptor:
    """Adds credentials to every call a client makes; per endpoint, so it can warn once.

    Made by a provider's ``client_interceptor()`` or by
    :func:`~trioplugin.auth.compose_auth_client`. Server calls pass through.
    """

    __slots__ = ("_providers", "_warner", "endpoint")
    _calls_next_once: Final = True  # see rpc's chain: it then needs no attempt of its own

    def __init__(self, providers: tuple[AuthProvider, ...], endpoint: Endpoint | None = None):
        self._providers = providers
        self.endpoint = endpoint
        secret = [provider.name for provider in providers if provider.sends_secret]
        self._warner = PlainHTTPWarner(endpoint, secret) if endpoint is not None else None

    def for_endpoint(self, endpoint: Endpoint) -> ClientAuthInterceptor:
        """A copy for calls to ``endpoint``, which warns once if it would expose a secret."""
        return ClientAuthInterceptor(self._providers, endpoint)

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Add every provider's credentials, then run the call."""
        if call.is_client:
            if self._warner is not None:
                self._warner.check()
            for provider in self._providers:
                await provider.add_credentials(call)
        await call_next(call)

    def __repr__(self) -> str:
        names = ", ".join(provider.name for provider in self._providers)
        return f"<ClientAuthInterceptor {names}>"


@final
class ServerAuthInterceptor:
    """Authenticates every call a server serves, then runs it with its auth context.

    Made by a provider's ``server_interceptor()`` (one provider) or by
    :func:`~trioplugin.auth.compose_auth_server` (the first of several that
    authenticates wins). The credentials are checked before the rest of the
    chain runs, once: the handler runs at most once, and whatever it raises
    is its own error, never taken for an auth failure. Client calls pass
    through.
    """

    __slots__ = ("_authenticate", "_names")
    _calls_next_once: Final = True

    def __init__(self, authenticate: Authenticate, names: str) -> None:
        self._authenticate = authenticate
        self._names = names

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Refuse the call, or run it with the caller's auth context set."""
        if call.is_client:
            await call_next(call)
            return
        context: AuthContext = await self._authenticate(call)
        with auth_context(context):
            await call_next(call)

    def __repr__(self) -> str:
        return f"<ServerAuthInterceptor {self._names}>"
