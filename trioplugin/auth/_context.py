"""Who a call is from: the auth context a server's auth interceptor sets for its handler."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, final

_CURRENT: Final[contextvars.ContextVar[AuthContext | None]] = contextvars.ContextVar(
    "trioplugin_auth_context", default=None
)


@final
@dataclass(frozen=True, slots=True)
class AuthContext:
    """The authenticated caller of one call, as the provider that authenticated it says.

    A server's auth interceptor sets it for the rest of the call (later
    interceptors, the handler, and tasks the handler starts), where
    :func:`get_auth_context` reads it.
    """

    identity: str
    """Who the caller is: a user, a service account, a certificate's name."""

    provider: str
    """Which provider authenticated it: ``"token"``, ``"api_key"``, ``"mtls"``, or your own."""

    claims: Mapping[str, Any] = field(default_factory=dict)
    """What else the provider vouches for (kept as a read-only mapping)."""

    def __post_init__(self) -> None:
        if not isinstance(self.identity, str) or not self.identity:
            raise ValueError("AuthContext.identity must be a non-empty str")
        if not isinstance(self.provider, str) or not self.provider:
            raise ValueError("AuthContext.provider must be a non-empty str")
        object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))


def get_auth_context() -> AuthContext | None:
    """The auth context of the call this code runs for, or None if it was not authenticated."""
    return _CURRENT.get()


@contextmanager
def auth_context(context: AuthContext) -> Iterator[AuthContext]:
    """Make ``context`` the auth context inside the block (and of tasks started in it).

    What a server auth interceptor does around the rest of the call; tests
    and in-process callers use it too. On leaving, the previous context (or
    none) is back, so nothing passes from one call to the next.

    Raises:
        TypeError: ``context`` is not an :class:`AuthContext`.
    """
    if not isinstance(context, AuthContext):
        raise TypeError(f"auth_context takes an AuthContext, not {type(context).__name__}")
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
