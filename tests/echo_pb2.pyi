from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EchoRequest(_message.Message):
    __slots__ = ("text", "payload", "repeat", "fail_code", "delay_ms", "response_size")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    FAIL_CODE_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SIZE_FIELD_NUMBER: _ClassVar[int]
    text: str
    payload: bytes
    repeat: int
    fail_code: str
    delay_ms: int
    response_size: int
    def __init__(self, text: _Optional[str] = ..., payload: _Optional[bytes] = ..., repeat: _Optional[int] = ..., fail_code: _Optional[str] = ..., delay_ms: _Optional[int] = ..., response_size: _Optional[int] = ...) -> None: ...

class EchoResponse(_message.Message):
    __slots__ = ("text", "payload", "index", "seen")
    class SeenEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SEEN_FIELD_NUMBER: _ClassVar[int]
    text: str
    payload: bytes
    index: int
    seen: _containers.ScalarMap[str, str]
    def __init__(self, text: _Optional[str] = ..., payload: _Optional[bytes] = ..., index: _Optional[int] = ..., seen: _Optional[_Mapping[str, str]] = ...) -> None: ...

class FailureInfo(_message.Message):
    __slots__ = ("reason", "attempt")
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    attempt: int
    def __init__(self, reason: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...
