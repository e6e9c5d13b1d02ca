"""The Connect server application: routing, validation, deadlines and the wire format."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, final

from ..protocol import (
    Refused,
    ServerCall,
    ServerConfig,
    unknown_procedure,
)
from ..transport import ServerExchange
from ._handlers import handler_for
from ._interceptor import CallNext, InterceptorLike, chain, intercept_function
from ._method import Idempotency, MethodInfo
from ._options import ServerOptions
from ._server_wire import ServerWire, write_output
from ._service import Service


@dataclass(frozen=True, slots=True)
class _Route:
    method: MethodInfo[Any, Any]
    run: CallNext
    allow_get: bool


@final
class ConnectApp:
    """Serves protobuf services over the Connect protocol; the app a transport server runs.

    ``services`` maps each :class:`Service` to the object implementing it: an
    instance with one method per RPC, e.g. ``async def Get(self, request,
    ctx)`` for a unary method, an async generator for a server-streaming one.
    ``options`` (default :class:`ServerOptions`) say which codecs and
    compressions requests may use and how large a message may be (their
    connection fields are the transport server's, and unused here).
    ``interceptors`` wrap every call, the first outermost.

    Raises:
        TypeError: an element of ``interceptors`` is not an interceptor,
            ``options`` is not a :class:`ServerOptions`, or an implementing
            method has the wrong shape.
        ValueError: a method is served twice.
    """

    def __init__(
        self,
        services: Mapping[Service, object] | Iterable[tuple[Service, object]] = (),
        options: ServerOptions | None = None,
        *,
        interceptors: Sequence[InterceptorLike] = (),
    ) -> None:
        if options is None:
            options = ServerOptions()
        elif not isinstance(options, ServerOptions):
            raise TypeError(f"options must be a ServerOptions, not {type(options).__name__}")
        for interceptor in interceptors:
            intercept_function(interceptor)
        self._interceptors = tuple(interceptors)
        self._codecs = {codec.name: codec for codec in options.codecs}
        self._codec_names = tuple(self._codecs)
        self._compressions = tuple(options.compressions)
        self._max_message_size = options.max_message_size
        self._config = ServerConfig(
            codecs=self._codec_names,
            compressions=self._compressions,
            max_message_size=options.max_message_size,
            compress_min_bytes=options.compress_min_bytes,
        )
        self._routes: dict[str, _Route] = {}
        pairs = services.items() if isinstance(services, Mapping) else services
        for service, implementation in pairs:
            self.add_service(service, implementation)

    def add_service(
        self,
        service: Service,
        implementation: object,
        *,
        interceptors: Sequence[InterceptorLike] | None = None,
    ) -> None:
        """Serve ``service`` with ``implementation``.

        ``interceptors``, if given, wrap its calls instead of the app's
        (``()``: none; a plugin's built-in health and control services are
        served so, outside its own authentication).

        Raises:
            ValueError: a method of the service is already served.
            TypeError: an implementing method has the wrong shape, or an
                element of ``interceptors`` is not an interceptor.
        """
        if interceptors is None:
            chosen = self._interceptors
        else:
            for interceptor in interceptors:
                intercept_function(interceptor)
            chosen = tuple(interceptors)
        routes = {}
        for method in service.methods.values():
            if method.procedure in self._routes:
                raise ValueError(f"{method.procedure} is already served")
            routes[method.procedure] = _Route(
                method,
                chain(chosen, handler_for(method, implementation)),
                allow_get=method.idempotency is Idempotency.NO_SIDE_EFFECTS,
            )
        self._routes.update(routes)

    @property
    def procedures(self) -> list[str]:
        """The paths served, e.g. ``["/demo.kv.v1.KVService/Get", ...]``."""
        return list(self._routes)

    async def __call__(self, exchange: ServerExchange) -> None:
        """Serve one HTTP request."""
        route = self._routes.get(exchange.path)
        if route is None:
            await write_output(exchange, unknown_procedure(exchange.path).output)
            return
        state = ServerCall(self._config, route.method.stream_type, allow_get=route.allow_get)
        accepted = state.receive_request_head(exchange.method, exchange.headers, exchange.query)
        if isinstance(accepted, Refused):
            await write_output(exchange, accepted.output)
            return
        wire = ServerWire(exchange, route.method, state, self._codecs[accepted.codec], accepted)
        await wire.run(route.run, max_message_size=self._max_message_size)
