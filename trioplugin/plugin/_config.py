"""What a host and its plugins agree on before they talk: the magic cookie and the versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

CORE_PROTOCOL_VERSION: Final = 1
"""The version of the handshake itself (the line on stdout and the Handshake call)."""

DEFAULT_MAGIC_COOKIE_KEY: Final = "CONNECT_PLUGIN"
"""connect-plugin-go's default cookie key, so hosts and plugins of both projects agree."""

DEFAULT_MAGIC_COOKIE_VALUE: Final = "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e"
"""connect-plugin-go's default cookie value."""


@final
@dataclass(frozen=True, slots=True)
class HandshakeConfig:
    """The contract an application's host and plugins share; define it once, use it on both sides.

    The magic cookie is not a security measure: it tells a plugin run by
    hand that it was not started by a host, so it can say so plainly
    instead of printing a handshake line at a person. The host puts it in
    the plugin's environment and in its Handshake call.

    ``app_protocol_versions`` are the versions of *your* plugin interface
    this side speaks; host and plugin use the highest one both speak.

    Example::

        KV_PLUGINS = HandshakeConfig(
            magic_cookie_key="KV_PLUGIN",
            magic_cookie_value="9f1c0a63",
            app_protocol_versions=(1, 2),
        )

    Checked when made: a wrong value fails there, naming the field.
    """

    magic_cookie_key: str = DEFAULT_MAGIC_COOKIE_KEY
    """The environment variable (and Handshake field) that carries the cookie."""

    magic_cookie_value: str = DEFAULT_MAGIC_COOKIE_VALUE
    """The cookie's value."""

    app_protocol_versions: tuple[int, ...] = (1,)
    """The app protocol versions spoken, each a positive int."""

    def __post_init__(self) -> None:
        for name in ("magic_cookie_key", "magic_cookie_value"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise TypeError(f"HandshakeConfig.{name} must be a non-empty str, not {value!r}")
        if not self.magic_cookie_key.isascii() or not self.magic_cookie_key.isidentifier():
            raise ValueError(
                "HandshakeConfig.magic_cookie_key must be usable as an environment "
                f"variable name (letters, digits, _), not {self.magic_cookie_key!r}"
            )
        versions = self.app_protocol_versions
        if not isinstance(versions, tuple) or not versions:
            raise TypeError(
                "HandshakeConfig.app_protocol_versions must be a non-empty tuple of ints, "
                f"not {versions!r}"
            )
        for version in versions:
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ValueError(
                    "HandshakeConfig.app_protocol_versions must hold positive ints, "
                    f"not {version!r}"
                )


def listed_versions(versions: tuple[int, ...]) -> str:
    """Versions as an error message lists them: ``1, 2, 3``, lowest first."""
    return ", ".join(str(version) for version in sorted(versions))


def negotiate_version(ours: tuple[int, ...], theirs: tuple[int, ...]) -> int | None:
    """The highest app protocol version both sides speak, or None if there is none."""
    common = set(ours) & set(theirs)
    return max(common) if common else None
