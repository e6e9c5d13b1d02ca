"""A validator for a fixed set of secrets, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ..protocol import Code, ConnectError
from ._header import Validation, Validator


def static_secrets(
    secrets: Mapping[str, str], claims: Mapping[str, Mapping[str, Any]] | None = None
) -> Validator:
    """A validator for known secrets: ``{secret: identity}``, with optional claims per identity.

    Example::

        auth = APIKeyAuth(validate=static_secrets({os.environ["HOST_KEY"]: "host"}))

    A secret given is compared with every known one, each in constant time
    (:func:`hmac.compare_digest` over SHA-256 digests, so neither which
    secret matched nor how long they are shows in the time taken). An
    unknown secret is refused as ``unauthenticated``.

    Raises:
        ValueError: ``secrets`` is empty, or holds an empty secret or identity.
    """
    if not secrets:
        raise ValueError("static_secrets needs at least one secret")
    known: list[tuple[bytes, str]] = []
    for secret, identity in secrets.items():
        if not secret or not identity:
            raise ValueError("static_secrets: secrets and identities must not be empty")
        known.append((_digest(secret), identity))
    per_identity = dict(claims or {})

    def validate(secret: str) -> Validation:
        given = _digest(secret)
        found: str | None = None
        for digest, identity in known:  # every one, even after a match: the same time
            if hmac.compare_digest(given, digest):
                found = identity
        if found is None:
            raise ConnectError(Code.UNAUTHENTICATED, "unknown credential")
        return found, per_identity.get(found, {})

    return validate


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()
