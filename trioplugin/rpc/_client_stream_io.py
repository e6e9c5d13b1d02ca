"""A client call's response read message by message, and a stream's exchange used in place.

:class:`ResponseReader` is the one reading loop: the wire's task runs it for
calls whose responses are relayed, and :class:`DirectStreamIO` runs it in
the caller's own task for streams handed over by :func:`._stream_link.direct_link`.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn, final

import trio

from ..protocol import NEED_DATA, ClientCall, Code, Codec, ConnectError, EndOfResponse
from ..transport import ClientExchange
from ._call import Call
from ._stream_link import DirectRoute, StreamOver

END: Final = object()
"""What :meth:`ResponseReader.next` returns once the response has ended cleanly."""


@final
class ResponseReader:
    """Reads a call's response off its exchange: headers, messages, then the end."""

    __slots__ = ("_call", "_decode", "_exchange", "_headed", "_output_type", "_state")

    def __init__(
        self, call: Call[Any, Any], state: ClientCall, exchange: ClientExchange, codec: Codec
    ) -> None:
        self._call = call
        self._state = state
        self._exchange = exchange
        self._decode = codec.decode
        self._output_type = call.method.output_type
        self._headed = False

    async def next(self) -> Any:
        """The next response message, or :data:`END`.

        Raises:
            ConnectError: the call failed (the server's error, or the response
                broke the protocol: ``internal``).
        """
        call, state = self._call, self._state
        if not self._headed:
            status, raw_headers = await self._exchange.receive_head()
            self._headed = True
            call.response_headers.extend(state.receive_response_head(status, raw_headers))
        while True:
            event = state.next_event()
            if event is NEED_DATA:
                chunk = await self._exchange.receive_data()
                if chunk:
                    state.receive_data(chunk)
                else:
                    state.receive_end()
                continue
            if isinstance(event, EndOfResponse):
                call.response_trailers.extend(event.trailers)
                if event.error is not None:
                    await _raise_received(event.error)
                return END
            try:
                return self._decode(event.data, self._output_type)
            except ConnectError as exc:  # a malformed response is the server's fault
                raise ConnectError(
                    Code.INTERNAL, f"invalid response: {exc.message}", metadata=exc.metadata
                ) from exc


@final
class _Turn:
    """One task at a time (for a stream's sends, or its receives); no yield when uncontended."""

    __slots__ = ("_lot", "busy")

    def __init__(self) -> None:
        self.busy = False
        self._lot: trio.lowlevel.ParkingLot | None = None

    async def take(self) -> None:
        while self.busy:
            if self._lot is None:
                self._lot = trio.lowlevel.ParkingLot()
            await self._lot.park()
        self.busy = True

    def give_back(self) -> None:
        self.busy = False
        if self._lot is not None:
            self._lot.unpark()


@final
class DirectStreamIO:
    """A streaming call's exchange, written and read by the caller's tasks.

    The wire's task waits in :meth:`wait` until the caller has read the end
    of the response (or its reading failed), then ends the call as the
    relaying wire would: with the response's error, else a send's.
    """

    __slots__ = (
        "_encode",
        "_ended",
        "_error",
        "_exchange",
        "_reader",
        "_readers",
        "_receiving",
        "_send_closed",
        "_send_error",
        "_sending",
        "_sinks",
        "_state",
    )

    def __init__(
        self,
        call: Call[Any, Any],
        state: ClientCall,
        exchange: ClientExchange,
        codec: Codec,
        route: DirectRoute,
    ) -> None:
        self._reader = ResponseReader(call, state, exchange, codec)
        self._sinks = route.sinks
        self._readers = route.readers
        self._state = state
        self._exchange = exchange
        self._encode = codec.encode
        self._ended = trio.Event()
        self._error: BaseException | None = None
        self._send_error: BaseException | None = None
        self._send_closed = False
        self._sending = _Turn()
        self._receiving = _Turn()

    async def send(self, message: Any) -> None:
        """Write one request message (waits for flow-control window).

        A send cancelled after part of the message went out resets the
        stream (the server never sees half a message).

        Raises:
            trio.ClosedResourceError: :meth:`close_send` was called already.
            ConnectError: the stream failed, or the message cannot be sent.
        """
        await self._sending.take()
        try:
            if self._send_closed:
                raise trio.ClosedResourceError("close_send() was called already")
            for reader in self._readers:  # as if each attempt's replay recorder had read it
                reader.sent_in_place(message)
            try:
                await self._exchange.send_data(self._state.send_message(self._encode(message)))
            except Exception as exc:
                if self._send_error is None:
                    self._send_error = exc
                raise
        finally:
            self._sending.give_back()

    async def close_send(self) -> None:
        """End the request stream (a failure shows in the response); twice does nothing."""
        await self._sending.take()
        try:
            if self._send_closed or self._ended.is_set():
                await trio.lowlevel.checkpoint()
                return
            self._send_closed = True
            for reader in self._readers:
                reader.ended_in_place()
            self._state.end_request()
            try:
                await self._exchange.end_request()
            except ConnectError as exc:
                if self._send_error is None:
                    self._send_error = exc
        finally:
            self._sending.give_back()

    async def receive(self) -> Any:
        """The next response message.

        Raises:
            StreamOver: the response has ended (cleanly or not: see :meth:`wait`).
        """
        await self._receiving.take()
        try:
            if self._ended.is_set():
                await trio.lowlevel.checkpoint()
                raise StreamOver
            try:
                message = await self._reader.next()
            except Exception as exc:
                self._end(exc)
                raise StreamOver from None
            if message is END:
                self._end(None)
                raise StreamOver
            for sink in self._sinks:  # as if it had passed each attempt's response stream
                sink.count()
            return message
        finally:
            self._receiving.give_back()

    def _end(self, error: BaseException | None) -> None:
        self._error = error
        self._ended.set()

    async def wait(self) -> None:
        """Until the caller has read the end; then raise how the call failed, if it did."""
        await self._ended.wait()
        if self._error is not None:
            raise self._error
        if self._send_error is not None:
            raise self._send_error


async def _raise_received(error: ConnectError) -> NoReturn:
    """Raise a server's error, unless it only says the caller's own deadline has passed."""
    if error.code is Code.DEADLINE_EXCEEDED and trio.current_effective_deadline() <= (
        trio.current_time()
    ):
        # The caller's scope is the authority on its deadline: it reports it.
        await deadline_passed()
    raise error


async def deadline_passed() -> NoReturn:
    """Wait for the cancel scope whose deadline has passed to cancel this task."""
    await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover
