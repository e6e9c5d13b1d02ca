"""The endpoint actor: one trio task that owns a plugin endpoint and admits its calls."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final

import trio

from ..protocol import Code, ConnectError
from ..resilience import (
    CircuitBreaker,
    CircuitBreakerInterceptor,
    CircuitState,
    RetryInterceptor,
)
from ..rpc import (
    CURRENT_CLOSER,
    BidiStream,
    Client,
    ClientOptions,
    Endpoint,
    Headers,
    InterceptorLike,
    MethodInfo,
    ResponseStream,
    StreamType,
    WaitCloser,
    bind_interceptors,
    detach_interceptors,
    open_transport,
)
from ..transport import ClientTransport
from ._events import ActorState, EventHub, StateChanged
from ._jobs import Job
from ._options import ActorOptions
from ._shared_transports import SharedTransports
from ._stats import ActorStatistics

_log: Final = logging.getLogger("trioplugin.actor")

_HERE_GRACE: Final = 5.0  # seconds a closing actor waits for cancelled calls in callers' tasks


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """How an actor reaches and calls its endpoint."""

    name: str
    url: str
    interceptors: Sequence[InterceptorLike]
    options: ClientOptions
    actor: ActorOptions
    transport: Callable[[], AbstractAsyncContextManager[ClientTransport]] | None = None
    """Opens the transport instead of ``url`` and ``options``, if given."""
    shared: SharedTransports | None = None
    """Where the transport comes from when ``transport`` is None: a share of the one
    the nursery holds for the endpoint's origin (None: a transport of its own)."""
    events: EventHub | None = None
    """Where the actor publishes its events, if not in a hub of its own."""
    after_close: Callable[[], Awaitable[None]] | None = None
    """Awaited by :meth:`EndpointActor.aclose` once the actor has closed."""


class EndpointActor:
    """Owns one plugin endpoint: its transport, its counters and its admission.

    Callers put :class:`Job`s into a bounded inbox (so a full inbox holds
    them back); the actor task admits them one at a time and runs each in
    its own nursery, at most ``max_in_flight`` at once, under the caller's
    deadline and with the caller's contextvars. A unary or client-streaming
    call that would be admitted at once (nothing queued, a slot free) runs
    in its caller's task instead (:meth:`run_here`): same order, same limit,
    no job or task. trio runs one task at a time and the actor's state
    changes only between checkpoints, so it needs no locks.
    """

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self._max_in_flight = config.actor.max_in_flight
        self._send, self._inbox = trio.open_memory_channel[Job](config.actor.inbox_capacity)
        self._state = ActorState.STARTING
        self._events = EventHub() if config.events is None else config.events
        self._closed = trio.Event()
        self._endpoint = Endpoint(
            config.name, config.url, self._events.publish, self.statistics, self.circuit_state
        )
        self._interceptors = bind_interceptors(config.interceptors, self._endpoint)
        self._breaker = next(
            (i.breaker for i in self._interceptors if isinstance(i, CircuitBreakerInterceptor)),
            None,
        )
        first = self._interceptors[0] if self._interceptors else None
        self._gate: CircuitBreaker | None = (
            first.breaker
            if isinstance(first, CircuitBreakerInterceptor) and not first.wait_for_half_open
            else None
        )
        self._scope: trio.CancelScope | None = None
        self._home: trio.Nursery | None = None
        self._client: Client | None = None
        self._here: set[trio.CancelScope] = set()
        self._bare_here = 0  # calls running in callers' tasks without a scope of their own
        self._wait_closer = WaitCloser()  # ends their interceptors' sleeps when we close
        # Our own interceptors wait only in the transport and in interruptible_sleep,
        # both of which closing ends (those that only observe, in call_next alone);
        # anyone else's may wait anywhere: a scope each.
        self._scope_per_call = not all(
            isinstance(i, (CircuitBreakerInterceptor, RetryInterceptor))
            or getattr(i, "_waits_only_in_call_next", False) is True
            for i in self._interceptors
        )
        self._here_left: trio.Event | None = None
        self._transport: ClientTransport | None = None
        self._home_context = contextvars.Context()
        self._slot_freed: trio.Event | None = None
        self._admitting: Job | None = None
        self._waiting = 0  # jobs in the inbox, or being put in (cheaper than statistics())
        self._in_flight = 0
        self._completed = 0
        self._failed = 0
        self._canceled = 0

    @property
    def state(self) -> ActorState:
        """Where the actor is in its life."""
        return self._state

    @property
    def gate(self) -> CircuitBreaker | None:
        """The breaker that may refuse calls before they are queued (see the handle), if any.

        The endpoint's breaker when it is the outermost interceptor and does
        not make callers wait for half-open; None while the actor is not running.
        """
        return self._gate if self._state is ActorState.RUNNING else None

    def count_refusal(self) -> None:
        """Count a call the gate refused in its caller's task (it failed)."""
        self._failed += 1

    @property
    def events(self) -> EventHub:
        """The actor's event fan-out."""
        return self._events

    def circuit_state(self) -> CircuitState | None:
        """The state of the endpoint's breaker (the first, if it has several), or None."""
        return self._breaker.state if self._breaker is not None else None

    def statistics(self) -> ActorStatistics:
        """A snapshot of the actor's counters, with its breaker's and retries' figures."""
        bound = self._interceptors
        breaker = self._breaker
        retries = [i.statistics() for i in bound if isinstance(i, RetryInterceptor)]
        circuit = breaker.statistics() if breaker is not None else None
        return ActorStatistics(
            plugin=self.config.name,
            state=self._state,
            # the inbox, and the call admitted once a slot frees (or the transport is up)
            queued=self._inbox.statistics().current_buffer_used + (self._admitting is not None),
            in_flight=self._in_flight,
            completed=self._completed,
            failed=self._failed,
            canceled=self._canceled,
            retried=sum(retry.retries for retry in retries),
            circuit_state=circuit.state if circuit is not None else None,
            inbox_capacity=self.config.actor.inbox_capacity,
            max_in_flight=self._max_in_flight,
            events_dropped=self._events.dropped,
            circuit=circuit,
            retry=retries[0] if retries else None,
        )

    async def submit(self, job: Job) -> Any:
        """Queue ``job`` (waiting while the inbox is full) and wait for its answer.

        Runs in the caller's task. If the caller is cancelled, so is its call.

        Raises:
            ConnectError: ``unavailable`` if the actor is closed, or the call's error.
        """
        home = self._home
        if home is not None:  # the first call starts the actor's task
            self._home = None
            # In the context connect() ran in, not this caller's (whose vars are per call).
            self._home_context.run(home.start_soon, self.run)
        self._waiting += 1
        queued = False
        try:
            try:
                self._send.send_nowait(job)
            except trio.WouldBlock:
                await self._send.send(job)
            queued = True
            return await job.reply.wait()
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self._closed_error() from None
        except BaseException:
            if not job.reply.answered:  # the caller left: so does its call (an error is an answer)
                job.scope.cancel()
            raise
        finally:
            if not queued:
                self._waiting -= 1  # it never reached the inbox

    def start(self, nursery: trio.Nursery) -> None:
        """Take calls from now on; the actor task will run in ``nursery``.

        The actor is running at once; its task is started by the first call
        (which waits in the inbox until the task takes it), so an endpoint
        that is never called costs no task, and thousands connect quickly.
        """
        self._set_state(ActorState.RUNNING)
        self._home = nursery
        self._home_context = contextvars.copy_context()

    async def run(self) -> None:
        """The actor task: admit calls until closed or cancelled.

        The transport, the client and the calls' nursery are made with the
        first call, so an endpoint that is never called costs its task and
        its inbox only.
        """
        try:
            if self._state is not ActorState.RUNNING:
                self._set_state(ActorState.RUNNING)
            try:
                first = await self._inbox.receive()
            except trio.EndOfChannel:
                return  # closed before its first call
            self._waiting -= 1
            self._admitting = first  # refused by the cleanup below if we are cancelled here
            config = self.config
            if config.transport is not None:
                opened = config.transport()
            elif config.shared is not None:
                opened = config.shared.open(config.url, config.options)
            else:
                opened = open_transport(config.url, config.options)
            async with opened as transport:
                self._transport = transport
                client = Client(
                    transport,
                    config.options,
                    interceptors=self._interceptors,
                    endpoint=self._endpoint,
                )
                try:
                    async with trio.open_nursery() as calls:
                        self._scope = calls.cancel_scope
                        if self._state is not ActorState.RUNNING:
                            calls.cancel_scope.cancel()  # aclose() came while we opened
                        self._admitting = None
                        self._client = client
                        await self._admit_one(client, calls, first)
                        async for job in self._inbox:
                            self._waiting -= 1
                            await self._admit_one(client, calls, job)
                            await self._admit_queued(client, calls)
                finally:
                    self._client = None
                    await self._stop_calls_run_here()
        finally:
            self._finish()

    def _finish(self) -> None:
        self._set_state(ActorState.CLOSING)
        self._send.close()
        self._refuse_queued()
        detach_interceptors(self._interceptors)
        self._set_state(ActorState.CLOSED)
        self._events.close()
        self._closed.set()

    async def aclose(self) -> None:
        """Stop taking calls, refuse the queued ones, cancel those in flight, and wait."""
        if self._home is not None:  # never called: there is no task to stop
            self._home = None
            self._finish()
        if self._state is ActorState.RUNNING:
            self._set_state(ActorState.CLOSING)
            self._send.close()
            if self._scope is not None:
                self._scope.cancel()
        await self._closed.wait()
        if self.config.after_close is not None:
            with trio.CancelScope(shield=True):  # what runs the endpoint must not be left
                await self.config.after_close()

    def can_run_here(self) -> bool:
        """Whether a unary or client-streaming call may run in its caller's task right now.

        Only when it would be admitted at once anyway: the actor is running
        with its client, no call waits in the inbox or for a slot, and a slot
        is free. Such a call then costs no job, no queueing and no task; the
        order and the in-flight limit are what the inbox would give.
        """
        if self._client is None or self._admitting is not None:
            return False
        return not self._waiting and self._in_flight < self._max_in_flight

    async def run_here(
        self, method: MethodInfo[Any, Any], argument: Any, headers: Headers | None
    ) -> Any:
        """Run an admitted unary or client-streaming call in the caller's task.

        Call only when :meth:`can_run_here` said so, with no checkpoint in
        between. Closing the actor ends it (``canceled``, "closed while in
        flight"), as it does the calls its own tasks run. A call whose
        interceptors are ours waits only in the transport (closing it ends the
        wait at once) and in :func:`~trioplugin.rpc.interruptible_sleep` (a
        retry's backoff, which the actor's closer ends): it runs without a
        cancel scope of its own, a large part of this path's cost. Other
        interceptors may wait anywhere: their calls get a scope.
        """
        client = self._client
        assert client is not None
        self._in_flight += 1
        scope: trio.CancelScope | None = None
        if self._scope_per_call:
            scope = trio.CancelScope()
            self._here.add(scope)
        else:
            self._bare_here += 1
        succeeded = left = False
        try:
            if scope is None:
                token = CURRENT_CLOSER.set(self._wait_closer)
                try:
                    response = await self._call(client, method)(method, argument, headers=headers)
                finally:
                    CURRENT_CLOSER.reset(token)
                succeeded = True
                return response
            with scope:
                response = await self._call(client, method)(method, argument, headers=headers)
                succeeded = True
                return response
            raise self._closed_in_flight(method)
        except trio.Cancelled:
            left = True  # the caller gave up
            raise
        except ConnectError as exc:
            if self._wait_closer.closed:  # we are closing: the error is our doing
                raise self._closed_in_flight(method) from exc
            raise
        finally:
            if scope is None:
                self._bare_here -= 1
            else:
                self._here.discard(scope)
            self._in_flight -= 1
            if succeeded:
                self._completed += 1
            else:
                self._failed += 1
                self._canceled += left
            if self._slot_freed is not None:
                self._slot_freed.set()
            if not self._here and not self._bare_here and self._here_left is not None:
                self._here_left.set()

    @staticmethod
    def _call(client: Client, method: MethodInfo[Any, Any]) -> Callable[..., Awaitable[Any]]:
        # The client's method itself, not a coroutine around it: every suspension
        # of a call passes through each coroutine frame between it and the caller.
        if method.stream_type is StreamType.UNARY:
            return client.unary
        return client.client_stream

    def _closed_in_flight(self, method: MethodInfo[Any, Any]) -> ConnectError:
        return ConnectError(
            Code.CANCELED,
            f"plugin {self.config.name!r} closed while {method.procedure} was in flight",
        )

    async def _stop_calls_run_here(self) -> None:
        """End the calls running in their callers' tasks, and wait until they have left."""
        if not self._here and not self._bare_here:
            return
        self._wait_closer.close()
        self._here_left = trio.Event()
        for scope in self._here:
            scope.cancel()
        # Shielded, but bounded: cancelled calls leave at their next checkpoint.
        with trio.CancelScope(shield=True), trio.move_on_after(_HERE_GRACE):
            if self._bare_here and self._transport is not None:
                await self._transport.aclose()  # their exchanges fail at once
            await self._here_left.wait()

    async def _admit_queued(self, client: Client, calls: trio.Nursery) -> None:
        """Admit every call already in the inbox, without a scheduler pass per call.

        Otherwise the inbox drains one call per pass, and callers whose calls
        finish meanwhile find it non-empty and queue too, instead of running
        in their own tasks: under steady load the actor never left that mode.
        """
        while True:
            try:
                job = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return
            self._waiting -= 1
            await self._admit_one(client, calls, job)

    async def _admit_one(self, client: Client, calls: trio.Nursery, job: Job) -> None:
        if job.scope.cancel_called:
            self._canceled += 1  # the caller left before the call was admitted
            return
        self._admitting = job  # refused by run()'s cleanup if we are cancelled here
        while self._in_flight >= self._max_in_flight:
            self._slot_freed = trio.Event()
            await self._slot_freed.wait()
        self._admitting = None
        if job.scope.cancel_called:
            self._canceled += 1  # the caller left while the call waited for a slot
            return
        self._in_flight += 1
        calls.start_soon(self._serve, client, job)

    async def _serve(self, client: Client, job: Job) -> None:
        reply = job.reply
        stream_error: BaseException | None = None
        try:
            for variable, value in job.context.items():
                variable.set(value)
            with job.scope:
                stream_error = await self._perform(client, job)
            if job.scope.cancelled_caught and not reply.answered:
                reply.fail(self._gave_up_error(job))
        except Exception as exc:  # the call's own failure: the caller gets it
            reply.fail(exc)
        finally:
            if not reply.answered:
                reply.fail(
                    ConnectError(
                        Code.CANCELED,
                        f"plugin {self.config.name!r} closed while "
                        f"{job.method.procedure} was in flight",
                    )
                )
            self._count(job, stream_error)
            self._in_flight -= 1
            if self._slot_freed is not None:
                self._slot_freed.set()
            if job.done is not None:
                job.done.set()

    async def _perform(self, client: Client, job: Job) -> BaseException | None:
        """Run the call; for a stream, hand it to the caller and return how it ended."""
        method, reply = job.method, job.reply
        kind = method.stream_type
        if kind is StreamType.UNARY:
            reply.set(await client.unary(method, job.argument, headers=job.headers))
            return None
        if kind is StreamType.CLIENT_STREAM:
            reply.set(await client.client_stream(method, job.argument, headers=job.headers))
            return None
        assert job.finished is not None
        opened: AbstractAsyncContextManager[ResponseStream[Any] | BidiStream[Any, Any]] = (
            client.server_stream(method, job.argument, headers=job.headers)
            if kind is StreamType.SERVER_STREAM
            else client.bidi_stream(method, headers=job.headers)
        )
        async with opened as stream:
            reply.set(stream)
            await job.finished.wait()
            # Taken before leaving the block: leaving cancels a stream still running.
            return stream.error

    def _gave_up_error(self, job: Job) -> ConnectError:
        if trio.current_time() >= job.scope.deadline:
            return ConnectError(
                Code.DEADLINE_EXCEEDED, f"{job.method.procedure} did not finish by its deadline"
            )
        return ConnectError(Code.CANCELED, f"{job.method.procedure} was cancelled by its caller")

    def _count(self, job: Job, stream_error: BaseException | None) -> None:
        if job.reply.error is None and stream_error is None:
            self._completed += 1
        else:
            self._failed += 1
            if job.scope.cancel_called:
                self._canceled += 1

    def _refuse_queued(self) -> None:
        if self._admitting is not None:
            if self._admitting.reply.fail(self._closed_error()):
                self._failed += 1
            self._admitting = None
        while True:
            try:
                job = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            self._waiting -= 1
            if job.reply.fail(self._closed_error()):
                self._failed += 1

    def _closed_error(self) -> ConnectError:
        return ConnectError(Code.UNAVAILABLE, f"plugin {self.config.name!r} is closed")

    def _set_state(self, new: ActorState) -> None:
        old, self._state = self._state, new
        if old is not new:
            self._events.publish(StateChanged(self.config.name, old, new))
