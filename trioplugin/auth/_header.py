"""Credentials in a request header: a bearer token (``Authorization``) or an API key."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Final, final

from ..protocol import Code, ConnectError
from ..rpc import Call
from ._context import AuthContext
from ._provider import ClientAuthInterceptor, ServerAuthInterceptor

_log: Final = logging.getLogger("trioplugin.auth")

DEFAULT_MAX_CREDENTIAL_SIZE: Final = 8192
"""The longest credential header value a server reads, in characters."""

Validation = tuple[str, Mapping[str, Any]]
"""What a validator returns: the caller's identity, and the claims it vouches for."""

Validator = Callable[[str], Validation | Awaitable[Validation]]
"""Checks a secret (sync or async): ``(identity, claims)``, or raises.

Raise :class:`~trioplugin.protocol.ConnectError` with ``permission_denied``
for a caller that is known but not allowed (it reaches the client as
raised); anything else it raises refuses the call as ``unauthenticated``.
"""

SecretSource = str | Callable[[], str | Awaitable[str]]
"""A secret, or a callable (sync or async) that returns the current one (to refresh it)."""

_TOKEN68: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token
_VISIBLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")


class _HeaderAuth:
    """A credential carried in one request header (shared by the token and API-key providers)."""

    _header: ClassVar[str]
    _scheme: ClassVar[str | None]
    _what: ClassVar[str]
    _shape: ClassVar[re.Pattern[str]]

    __slots__ = ("_max_size", "_secret", "_validate")

    def __init__(
        self, secret: SecretSource | None, validate: Validator | None, max_size: int
    ) -> None:
        if secret is not None and not (isinstance(secret, str) or callable(secret)):
            raise TypeError(
                f"{type(self).__name__}: the {self._what} must be a str or a callable "
                f"that returns one, not {type(secret).__name__}"
            )
        if isinstance(secret, str):
            self._check_shape(secret, ValueError)
        if validate is not None and not callable(validate):
            raise TypeError(f"{type(self).__name__}: validate must be callable")
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 64:
            raise ValueError(f"{type(self).__name__}: max_size must be an int of at least 64")
        self._secret = secret
        self._validate = validate
        self._max_size = max_size

    name: ClassVar[str]
    sends_secret: ClassVar[bool] = True

    # -- the client side ------------------------------------------------------------------

    def client_interceptor(self) -> ClientAuthInterceptor:
        """An interceptor that sends the credential on every client call.

        Raises:
            ValueError: this provider was made without a secret to send.
        """
        if self._secret is None:
            raise ValueError(f"{type(self).__name__} has no {self._what} to send")
        return ClientAuthInterceptor((self,))

    async def add_credentials(self, call: Call[Any, Any]) -> None:
        """Put the credential in the call's request headers (asking the source for it)."""
        secret = self._secret
        if secret is None:
            raise ConnectError(
                Code.UNAUTHENTICATED, f"{type(self).__name__} has no {self._what} to send"
            )
        if not isinstance(secret, str):
            given = secret()
            secret = await given if inspect.isawaitable(given) else given
            if not isinstance(secret, str):
                raise ConnectError(
                    Code.UNAUTHENTICATED,
                    f"the {self._what} source returned {type(secret).__name__}, not a str",
                )
            self._check_shape(secret, _refused)
        value = f"{self._scheme} {secret}" if self._scheme else secret
        call.request_headers[self._header] = value

    # -- the server side ------------------------------------------------------------------

    def server_interceptor(self) -> ServerAuthInterceptor:
        """An interceptor that authenticates every server call by its credential.

        Raises:
            ValueError: this provider was made without ``validate``.
        """
        if self._validate is None:
            raise ValueError(f"{type(self).__name__} needs validate= to check credentials")
        return ServerAuthInterceptor(self.authenticate, self.name)

    async def authenticate(self, call: Call[Any, Any]) -> AuthContext:
        """Check the call's credential with the validator; its auth context, or a refusal.

        Raises:
            ConnectError: ``unauthenticated`` (missing, malformed, too long,
                or refused by the validator; the message says which and never
                holds the secret), or what the validator raised as a
                ConnectError (``permission_denied``, say).
        """
        validate = self._validate
        if validate is None:
            raise ConnectError(
                Code.UNAUTHENTICATED, f"{type(self).__name__} cannot check credentials"
            )
        secret = self._secret_of(call)
        try:
            result = validate(secret)
            if inspect.isawaitable(result):
                result = await result
        except ConnectError:
            raise
        except Exception as exc:
            # The exception's text may quote the secret: only its type is logged.
            _log.info("the %s validator refused a call with %s", self.name, type(exc).__name__)
            raise _refused(f"the {self._what} was refused") from None
        identity, claims = self._validation(result)
        return AuthContext(identity, self.name, claims)

    def _secret_of(self, call: Call[Any, Any]) -> str:
        header = self._header
        values = call.request_headers.get_all(header)
        if not values:
            raise _refused(f"missing {header} header")
        if len(values) > 1:
            raise _refused(f"{len(values)} {header} headers; send one")
        value = values[0]
        if len(value) > self._max_size:
            raise _refused(
                f"the {header} header is {len(value)} characters, over the limit of "
                f"{self._max_size}"
            )
        if self._scheme is not None:
            scheme, _, value = value.strip().partition(" ")
            if scheme.lower() != self._scheme.lower():
                raise _refused(f"the {header} header does not use the {self._scheme} scheme")
            value = value.strip()
        if not value:
            raise _refused(f"empty {self._what}")
        self._check_shape(value, _refused)
        return value

    def _check_shape(self, secret: str, error: Callable[[str], Exception]) -> None:
        if not self._shape.fullmatch(secret):
            what = "empty" if not secret else "malformed"
            raise error(f"{what} {self._what} (it must be {self._shape_words})")

    _shape_words: ClassVar[str]

    def _validation(self, result: object) -> tuple[str, Mapping[str, Any]]:
        if (
            isinstance(result, tuple)
            and len(result) == 2
            and isinstance(result[0], str)
            and result[0]
            and isinstance(result[1], Mapping)
        ):
            return result[0], result[1]
        _log.error(
            "the %s validator returned %s, not (identity, claims)", self.name, type(result).__name__
        )
        raise ConnectError(Code.INTERNAL, f"the server's {self._what} validator is broken")

    def __repr__(self) -> str:
        sides = [
            side for side, has in (("client", self._secret), ("server", self._validate)) if has
        ]
        return f"<{type(self).__name__} {'+'.join(sides) or 'unusable'}>"


def _refused(message: str) -> ConnectError:
    return ConnectError(Code.UNAUTHENTICATED, message)


@final
class TokenAuth(_HeaderAuth):
    """Bearer tokens: ``Authorization: Bearer <token>`` (connect-plugin-go's TokenAuth).

    Example::

        # The host sends its token:
        auth = TokenAuth(token=os.environ["KV_TOKEN"])
        kv = await host.connect("kv", url, interceptors=[auth.client_interceptor()])

        # The plugin checks it:
        def check(token: str) -> tuple[str, dict[str, str]]:
            if hmac.compare_digest(token, expected):
                return "host", {"role": "admin"}
            raise ValueError("unknown token")

        checked = TokenAuth(validate=check).server_interceptor()
        async with open_connect_server(services, interceptors=[checked]) as server:
            ...

    ``token`` is the token a client sends, or a callable (sync or async)
    asked before every call, so a token can be refreshed. ``validate``
    checks a token on a server (sync or async): ``(identity, claims)``, or
    it raises (see :data:`Validator`); :func:`static_secrets` makes one for
    fixed tokens. A header longer than ``max_size`` characters is refused
    unread. The provider is named ``"token"``.
    """

    name: ClassVar[str] = "token"
    _header: ClassVar[str] = "authorization"
    _scheme: ClassVar[str | None] = "Bearer"
    _what: ClassVar[str] = "bearer token"
    _shape: ClassVar[re.Pattern[str]] = _TOKEN68
    _shape_words: ClassVar[str] = "letters, digits and -._~+/, then any =s"

    __slots__ = ()

    def __init__(
        self,
        token: SecretSource | None = None,
        validate: Validator | None = None,
        *,
        max_size: int = DEFAULT_MAX_CREDENTIAL_SIZE,
    ) -> None:
        super().__init__(token, validate, max_size)


@final
class APIKeyAuth(_HeaderAuth):
    """API-key authentication: ``X-API-Key: <key>`` (connect-plugin-go's APIKeyAuth).

    The same flow as :class:`TokenAuth`, with the key in its own header and
    no scheme; a key is visible ASCII without spaces. The provider is named
    ``"api_key"``.
    """

    name: ClassVar[str] = "api_key"
    _header: ClassVar[str] = "x-api-key"
    _scheme: ClassVar[str | None] = None
    _what: ClassVar[str] = "API key"
    _shape: ClassVar[re.Pattern[str]] = _VISIBLE_ASCII
    _shape_words: ClassVar[str] = "visible ASCII without spaces"

    __slots__ = ()

    def __init__(
        self,
        key: SecretSource | None = None,
        validate: Validator | None = None,
        *,
        max_size: int = DEFAULT_MAX_CREDENTIAL_SIZE,
    ) -> None:
        super().__init__(key, validate, max_size)
