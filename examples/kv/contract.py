"""What the key-value host and its plugin share: the handshake, and where the secrets go."""

from __future__ import annotations

from typing import Final

from trioplugin import HandshakeConfig

KV_PLUGINS: Final = HandshakeConfig(
    magic_cookie_key="TRIOPLUGIN_KV_PLUGIN",
    magic_cookie_value="b7d1e5a0-kv-plugin-please",
    app_protocol_versions=(1,),
)
"""The handshake: a plugin run by hand, without this cookie, says it wants a host."""

TOKEN_VARIABLE: Final = "KV_PLUGIN_TOKEN"
"""The environment variable that hands the plugin the one bearer token it accepts."""

DATA_FILE_VARIABLE: Final = "KV_DATA_FILE"
"""The environment variable naming the file the plugin keeps its data in (in memory if unset)."""

HOST_IDENTITY: Final = "kv-host"
"""Who the plugin's handlers see as the caller of a call with the token."""

OBSERVE_VARIABLE: Final = "KV_OBSERVE"
"""Set (to 1) by a host run with ``--observe``: the plugin then traces the calls it serves."""
