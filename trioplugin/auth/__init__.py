"""Authentication: bearer tokens, API keys and mutual TLS, alone or composed, on every call kind.

A client interceptor adds the caller's credentials to each call; a server
interceptor checks them before anything else of the call runs and sets an
:class:`AuthContext` that the handler (and what it starts) reads with
:func:`get_auth_context`. The names follow connect-plugin-go's (see
``docs/guides/auth.md``).
"""

from .._util import publish_module_names as _publish_module_names
from ._compose import RequireAuth, compose_auth_client, compose_auth_server, require_auth
from ._context import AuthContext, auth_context, get_auth_context
from ._header import (
    DEFAULT_MAX_CREDENTIAL_SIZE,
    APIKeyAuth,
    SecretSource,
    TokenAuth,
    Validation,
    Validator,
)
from ._mtls import FilePath, IdentityExtractor, MTLSAuth, default_identity
from ._plain_http import InsecureCredentialsWarning
from ._provider import AuthProvider, ClientAuthInterceptor, ServerAuthInterceptor
from ._secrets import static_secrets

__all__ = [
    "DEFAULT_MAX_CREDENTIAL_SIZE",
    "APIKeyAuth",
    "AuthContext",
    "AuthProvider",
    "ClientAuthInterceptor",
    "FilePath",
    "IdentityExtractor",
    "InsecureCredentialsWarning",
    "MTLSAuth",
    "RequireAuth",
    "SecretSource",
    "ServerAuthInterceptor",
    "TokenAuth",
    "Validation",
    "Validator",
    "auth_context",
    "compose_auth_client",
    "compose_auth_server",
    "default_identity",
    "get_auth_context",
    "require_auth",
    "static_secrets",
]

_publish_module_names(__name__, globals())
