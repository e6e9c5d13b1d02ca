"""Several providers at once, and refusing calls nobody authenticated."""

from __future__ import annotations

from typing import Any, Final, final

from ..protocol import Code, ConnectError
from ..rpc import Call, CallNext
from ._context import AuthContext, get_auth_context
from ._provider import AuthProvider, ClientAuthInterceptor, ServerAuthInterceptor


def compose_auth_client(*providers: AuthProvider) -> ClientAuthInterceptor:
    """One client interceptor that adds every provider's credentials to each call.

    Raises:
        TypeError: an argument is not an :class:`AuthProvider`.
        ValueError: no provider was given.
    """
    return ClientAuthInterceptor(_checked(providers, "compose_auth_client"))


def compose_auth_server(*providers: AuthProvider) -> ServerAuthInterceptor:
    """One server interceptor that tries the providers in order; the first that authenticates wins.

    A provider that refuses with ``unauthenticated`` (no credential of its
    kind, or a wrong one) lets the next one try; one that refuses with
    another code (``permission_denied``: a caller known but not allowed)
    ends the call. When every provider refuses, the call fails with
    ``unauthenticated`` and each one's reason. The credentials are checked
    before the rest of the chain runs, so the handler runs once, and an
    error it raises is never taken for an auth failure.

    Raises:
        TypeError: an argument is not an :class:`AuthProvider`.
        ValueError: no provider was given.
    """
    checked = _checked(providers, "compose_auth_server")

    async def authenticate(call: Call[Any, Any]) -> AuthContext:
        reasons = []
        for provider in checked:
            try:
                return await provider.authenticate(call)
            except ConnectError as refused:
                if refused.code is not Code.UNAUTHENTICATED:
                    raise
                reasons.append(f"{provider.name}: {refused.message}")
        raise ConnectError(Code.UNAUTHENTICATED, "not authenticated (" + "; ".join(reasons) + ")")

    return ServerAuthInterceptor(authenticate, ", ".join(p.name for p in checked))


def _checked(providers: tuple[object, ...], where: str) -> tuple[AuthProvider, ...]:
    if not providers:
        raise ValueError(f"{where} needs at least one provider")
    for provider in providers:
        if not isinstance(provider, AuthProvider):
            raise TypeError(
                f"{where} takes auth providers (TokenAuth, APIKeyAuth, MTLSAuth, ...), "
                f"not {type(provider).__name__}"
            )
    return providers  # type: ignore[return-value]


@final
class RequireAuth:
    """A server interceptor that refuses calls without an auth context (``unauthenticated``).

    Put it after the auth interceptors (which set the context) and before
    what must only run for authenticated callers. Client calls pass through.
    """

    __slots__ = ()
    _calls_next_once: Final = True

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Refuse the call unless an auth interceptor authenticated it."""
        if not call.is_client and get_auth_context() is None:
            raise ConnectError(Code.UNAUTHENTICATED, "authentication required")
        await call_next(call)

    def __repr__(self) -> str:
        return "<RequireAuth>"


def require_auth() -> RequireAuth:
    """A server interceptor that refuses calls no auth interceptor authenticated."""
    return RequireAuth()
