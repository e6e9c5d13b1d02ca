"""Our handshake and health messages, byte for byte, at connect-plugin-go's field numbers.

Each expected encoding is written out by hand from the protobuf wire
format (a tag is ``field << 3 | wire type``; 0 varint, 2 length-delimited)
and from connect-plugin-go's ``proto/plugin/v1`` numbering, so a renumbered
field fails here even if both our sides still agree with each other.
"""

from __future__ import annotations

from trioplugin.plugin.protos.connectplugin.health.v1.health_pb2 import (
    SERVING_STATUS_NOT_SERVING,
    SERVING_STATUS_SERVICE_UNKNOWN,
    SERVING_STATUS_SERVING,
    HealthCheckRequest,
    HealthCheckResponse,
)
from trioplugin.plugin.protos.connectplugin.v1.control_pb2 import (
    HEALTH_STATE_DEGRADED,
    GetHealthResponse,
    ShutdownRequest,
    ShutdownResponse,
)
from trioplugin.plugin.protos.connectplugin.v1.handshake_pb2 import (
    HandshakeRequest,
    HandshakeResponse,
)


def varint_field(number: int, value: int) -> bytes:
    assert number < 16 and value < 128  # one-byte tags and values keep the vectors readable
    return bytes([number << 3 | 0, value])


def text_field(number: int, value: bytes) -> bytes:
    assert number < 16 and len(value) < 128
    return bytes([number << 3 | 2, len(value)]) + value


def test_a_handshake_request_at_connect_plugin_gos_numbers() -> None:
    message = HandshakeRequest(
        core_protocol_version=1,
        app_protocol_version=2,
        magic_cookie_key="K",
        magic_cookie_value="V",
        requested_plugins=["kv"],
        self_id="h",
        self_version="1",
    )
    expected = (
        varint_field(1, 1)
        + varint_field(2, 2)
        + text_field(3, b"K")
        + text_field(4, b"V")
        + text_field(5, b"kv")
        + text_field(10, b"h")
        + text_field(11, b"1")
    )
    assert message.SerializeToString(deterministic=True) == expected
    assert HandshakeRequest.FromString(expected) == message


def test_the_version_list_is_our_field_100_packed() -> None:
    message = HandshakeRequest(app_protocol_versions=[1, 3])
    # field 100, wire type 2: tag 802 as a varint is a2 06; then length 2, values 1 and 3
    assert message.SerializeToString() == bytes([0xA2, 0x06, 2, 1, 3])


def test_the_client_metadata_map_is_field_6_of_key_value_entries() -> None:
    message = HandshakeRequest(client_metadata={"a": "b"})
    entry = text_field(1, b"a") + text_field(2, b"b")
    assert message.SerializeToString() == text_field(6, entry)


def test_a_handshake_response_at_connect_plugin_gos_numbers() -> None:
    message = HandshakeResponse(core_protocol_version=1, app_protocol_version=1, runtime_id="r")
    message.plugins.add(name="kv", version="1", service_path="/kv.v1.KV/")
    message.server_metadata["v"] = "1"
    plugin = text_field(1, b"kv") + text_field(2, b"1") + text_field(3, b"/kv.v1.KV/")
    expected = (
        varint_field(1, 1)
        + varint_field(2, 1)
        + text_field(3, plugin)
        + text_field(4, text_field(1, b"v") + text_field(2, b"1"))
        + text_field(10, b"r")
    )
    assert message.SerializeToString(deterministic=True) == expected
    assert HandshakeResponse.FromString(expected) == message


def test_health_messages_at_connect_plugin_gos_numbers_and_enum_values() -> None:
    assert HealthCheckRequest(service="kv").SerializeToString() == text_field(1, b"kv")
    assert (SERVING_STATUS_SERVING, SERVING_STATUS_NOT_SERVING, SERVING_STATUS_SERVICE_UNKNOWN) == (
        1,
        2,
        3,
    )
    assert HealthCheckResponse(status=SERVING_STATUS_NOT_SERVING).SerializeToString() == (
        varint_field(1, 2)
    )
    # degraded is ours: field 100, varint (tag 800 is a0 06); a Go host skips it
    degraded = HealthCheckResponse(status=SERVING_STATUS_SERVING, degraded=True)
    assert degraded.SerializeToString() == varint_field(1, 1) + bytes([0xA0, 0x06, 1])


def test_control_messages_at_connect_plugin_gos_numbers() -> None:
    health = GetHealthResponse(state=HEALTH_STATE_DEGRADED, reason="r")
    assert health.SerializeToString() == varint_field(1, 2) + text_field(2, b"r")
    shutdown = ShutdownRequest(grace_period_seconds=5, reason="x")
    assert shutdown.SerializeToString() == varint_field(1, 5) + text_field(2, b"x")
    assert ShutdownResponse(acknowledged=True).SerializeToString() == varint_field(1, 1)
