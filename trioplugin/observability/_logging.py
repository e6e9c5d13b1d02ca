"""The logging interceptor: one record per call (and, at DEBUG, per attempt), secrets redacted."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Final, final

from .._util import NoPublicConstructor
from ..resilience import CircuitState
from ..rpc import Call, CallNext, Endpoint
from ._accounting import Counted, Timed, count_streams, outcome, sizes
from ._metrics import RPC_SYSTEM
from ._redact import redacted, sensitive_names

CLIENT_LOGGER: Final = "trioplugin.calls.client"
SERVER_LOGGER: Final = "trioplugin.calls.server"
_SIZE_FIELDS: Final = ("rpc_requests", "rpc_request_bytes", "rpc_responses", "rpc_response_bytes")


@final
class LoggingInterceptor:
    """Logs every call, once, with what an operator asks of it; never a secret.

    Put it first (outermost): its record then covers the whole call, every
    attempt included::

        log = LoggingInterceptor()
        kv = await host.connect("kv", url, interceptors=[log, breaker, retry, log.attempts()])
        async with open_connect_server(services, interceptors=[log]): ...

    One record per call, at ``level`` when it succeeds and ``error_level``
    when it fails (a cancelled call is logged at ``level``, code
    ``canceled``), on the logger ``trioplugin.calls.client`` or
    ``trioplugin.calls.server`` unless ``logger`` is given. Its message
    reads ``client /demo.kv.v1.KVService/Get -> ok in 1.8 ms``; its fields
    are in ``extra`` (so JSON formatters get them as such), all prefixed
    ``rpc_``: ``side``, ``system`` (``connectrpc``), ``service``,
    ``method``, ``procedure``, ``endpoint`` (the name a client's endpoint
    was connected under), ``peer``, ``code`` (``ok`` or the Connect code),
    ``error`` (its message), ``duration_ms``, ``attempts``, ``requests`` and
    ``responses`` (messages), ``request_bytes`` and ``response_bytes``
    (their encoded protobuf size), ``circuit_state`` (the endpoint's breaker
    as the call ended: ``closed``, ``open``, ``half_open``; on a client's
    endpoint with a breaker), and with ``headers=True`` the
    ``request_headers``. Header values named in ``redact`` — and always
    ``authorization``, ``proxy-authorization``, ``x-api-key``, ``cookie``
    and ``set-cookie`` — read ``[redacted]``; message contents are never
    logged.

    :meth:`attempts` gives its companion for the other end of the chain:
    placed after the retry interceptor, it logs each attempt at DEBUG.
    """

    __slots__ = (
        "_circuit_state",
        "_client_logger",
        "_endpoint",
        "_error_level",
        "_headers",
        "_level",
        "_sensitive",
        "_server_logger",
    )
    _waits_only_in_call_next: Final = True  # the actor then needs no cancel scope per call
    _calls_next_once: Final = True  # see rpc's chain: it then needs no attempt of its own

    def __init__(
        self,
        logger: logging.Logger | str | None = None,
        *,
        level: int = logging.INFO,
        error_level: int = logging.WARNING,
        headers: bool = False,
        redact: Iterable[str] = (),
    ) -> None:
        if logger is not None and not isinstance(logger, (logging.Logger, str)):
            raise TypeError(f"logger must be a logging.Logger or its name, not {logger!r}")
        for name, value in (("level", level), ("error_level", error_level)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be a logging level (an int), not {value!r}")
        chosen = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._client_logger = chosen or logging.getLogger(CLIENT_LOGGER)
        self._server_logger = chosen or logging.getLogger(SERVER_LOGGER)
        self._level = level
        self._error_level = error_level
        self._headers = headers
        self._sensitive = sensitive_names(redact)
        self._endpoint: str | None = None
        self._circuit_state: Callable[[], CircuitState | None] | None = None

    def for_endpoint(self, endpoint: Endpoint) -> LoggingInterceptor:
        """A copy whose records name ``endpoint`` (given each endpoint it serves)."""
        bound = LoggingInterceptor.__new__(LoggingInterceptor)
        for name in self.__slots__:
            setattr(bound, name, getattr(self, name))
        bound._endpoint = endpoint.name
        bound._circuit_state = endpoint.circuit_state
        return bound

    def attempts(self) -> AttemptLogger:
        """The companion that logs each attempt at DEBUG; place it after the retry interceptor."""
        return AttemptLogger._create(self)

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run the call; log how it ended."""
        if not self._logger_for(call).isEnabledFor(min(self._level, self._error_level)):
            await call_next(call)  # nothing would be logged: nothing to count
            return
        requests, responses = count_streams(call)
        with Timed(lambda error, seconds: self._log(call, error, seconds, requests, responses)):
            await call_next(call)

    def _logger_for(self, call: Call[Any, Any]) -> logging.Logger:
        return self._client_logger if call.side == "client" else self._server_logger

    def _log(
        self,
        call: Call[Any, Any],
        error: BaseException | None,
        seconds: float,
        requests: Counted | None,
        responses: Counted | None,
    ) -> None:
        logger = self._logger_for(call)
        _, code, message = outcome(error, call)
        level = self._level if code in ("ok", "canceled") else self._error_level
        if not logger.isEnabledFor(level):
            return
        fields = _fields(call, code, message, seconds, self._endpoint)
        counts = sizes(call, requests, responses, ok=error is None)
        fields |= dict(zip(_SIZE_FIELDS, counts, strict=True))
        if self._circuit_state is not None:
            state = self._circuit_state()
            fields["rpc_circuit_state"] = None if state is None else state.value
        if self._headers:
            fields["rpc_request_headers"] = redacted(call.request_headers, self._sensitive)
        text = f"{call.side} {call.method.procedure} -> {code} in {seconds * 1000:.1f} ms"
        if call.attempt > 1:
            text += f" after {call.attempt} attempts"
        if self._endpoint is not None:
            text += f" ({self._endpoint})"
        if message:
            text += f": {message}"
        _emit(logger, level, text, fields)


@final
class AttemptLogger(metaclass=NoPublicConstructor):
    """Logs each attempt of a call at DEBUG; get it from :meth:`LoggingInterceptor.attempts`."""

    __slots__ = ("_parent",)
    _waits_only_in_call_next: Final = True
    _calls_next_once: Final = True

    def __init__(self, parent: LoggingInterceptor) -> None:
        self._parent = parent

    def for_endpoint(self, endpoint: Endpoint) -> AttemptLogger:
        """A copy whose records name ``endpoint``."""
        return AttemptLogger._create(self._parent.for_endpoint(endpoint))

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run one attempt; log how it ended, at DEBUG."""
        parent = self._parent
        logger = parent._logger_for(call)
        if not logger.isEnabledFor(logging.DEBUG):
            await call_next(call)
            return

        def log(error: BaseException | None, seconds: float) -> None:
            _, code, message = outcome(error, call)
            fields = _fields(call, code, message, seconds, parent._endpoint)
            fields["rpc_attempt"] = call.attempt
            text = (
                f"{call.side} attempt {call.attempt} of {call.method.procedure} -> {code} "
                f"in {seconds * 1000:.1f} ms"
            )
            _emit(logger, logging.DEBUG, text, fields)

        with Timed(log):
            await call_next(call)


def _fields(
    call: Call[Any, Any], code: str, message: str, seconds: float, endpoint: str | None
) -> dict[str, Any]:
    method = call.method
    peer = call.peer.address if call.peer is not None else None
    return {
        "rpc_side": call.side,
        "rpc_system": RPC_SYSTEM,
        "rpc_service": method.service_name,
        "rpc_method": method.name,
        "rpc_procedure": method.procedure,
        "rpc_endpoint": endpoint,
        "rpc_peer": f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else peer,
        "rpc_code": code,
        "rpc_error": message or None,
        "rpc_duration_ms": round(seconds * 1000, 3),
        "rpc_attempts": call.attempt,
    }


def _emit(logger: logging.Logger, level: int, text: str, fields: dict[str, Any]) -> None:
    """Log ``text`` with ``fields``, as ``logger.log`` would, without looking up the caller.

    ``logger.log`` walks the stack to find the caller's file and line, which
    would name this module every time: a record made directly saves that
    walk, a good part of what a record costs.
    """
    record = logger.makeRecord(
        logger.name, level, __file__, 0, "%s", (text,), None, "intercept", fields
    )
    logger.handle(record)
