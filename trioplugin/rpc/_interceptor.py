"""The interceptor protocol: one shape for client and server, unary and streaming."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol, final, runtime_checkable

from ..protocol import Code, ConnectError
from ..transport import StreamClosed
from ._call import Call

_log: Final = logging.getLogger("trioplugin.rpc")

CallNext = Callable[[Call[Any, Any]], Awaitable[None]]
"""Runs the rest of the chain for a call, as one attempt; returns when it has ended."""


@runtime_checkable
class Interceptor(Protocol):
    """Wraps calls, on a client or a server, of every kind.

    ``intercept`` gets the :class:`Call` and ``call_next``; it does its work
    around ``await call_next(call)``, which runs the rest of the chain once
    (one *attempt*) and returns when it has ended (the response is in, or the
    stream is over), or raises its :class:`~trioplugin.protocol.ConnectError`.
    Raising instead of calling ``call_next`` stops the call; calling it again
    starts another attempt (see :class:`Call`). Interceptors given as a list
    run in order, the first outermost. A plain ``async def f(call,
    call_next)`` is an interceptor too.

    Example, a client-side header::

        class AddToken:
            async def intercept(self, call, call_next):
                call.request_headers["authorization"] = "Bearer t0k3n"
                await call_next(call)
    """

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run ``call_next(call)`` with this interceptor's behaviour around it."""
        ...


InterceptorFunction = Callable[[Call[Any, Any], CallNext], Awaitable[None]]
"""An interceptor written as a function: ``async def f(call, call_next) -> None``."""

InterceptorLike = Interceptor | InterceptorFunction
"""What ``interceptors=[...]`` takes: :class:`Interceptor` objects or interceptor functions."""


def intercept_function(interceptor: object) -> InterceptorFunction:
    """The ``(call, call_next)`` coroutine function behind ``interceptor``.

    Raises:
        TypeError: it is neither an object with an ``async def intercept(call,
            call_next)`` method nor an ``async def (call, call_next)`` callable.
    """
    if isinstance(interceptor, type):
        raise TypeError(
            f"{interceptor.__qualname__} is a class; give an instance of it as an interceptor"
        )
    method = getattr(interceptor, "intercept", None)
    if method is not None and _is_async_callable(method):
        return method  # type: ignore[no-any-return]
    if method is None and _is_async_callable(interceptor):
        return interceptor  # type: ignore[return-value]
    what = f"{interceptor!r} ({type(interceptor).__qualname__})"
    if method is not None:
        reason = "its intercept method is not an async def"
    elif callable(interceptor):
        reason = "it is callable but not an async def"
    else:
        reason = "it has no intercept method and is not callable"
    raise TypeError(
        f"{what} is not an interceptor: {reason}. Give an object with "
        "`async def intercept(self, call, call_next)` or an `async def f(call, call_next)`"
    )


def chain(interceptors: Sequence[InterceptorLike], innermost: CallNext) -> CallNext:
    """Compose interceptors around ``innermost``, the first outermost.

    Every ``call_next`` an interceptor gets runs one attempt (see
    :class:`Call`); what the chain raises is always a ConnectError (or a
    cancellation).

    Raises:
        TypeError: an element is not an interceptor (see :func:`intercept_function`).
    """
    functions = [intercept_function(interceptor) for interceptor in interceptors]
    if not functions:
        return _Guard(innermost)
    call_next: CallNext = innermost
    index = len(functions) - 1
    while index >= 0:
        pair = _fusion(interceptors, index - 1) if index else None
        if pair is not None:
            # interceptors[index - 1] runs interceptors[index] in the same frame (see
            # _fusion): every suspension of a call passes through each frame.
            inner = _wrap(interceptors, functions, index, call_next)
            general = _wrap(interceptors, functions, index - 1, inner)
            # With nothing between the pair and the innermost end, a unary call's
            # first attempt needs no fork: the innermost end changes nothing of it.
            first = _Guard(call_next) if call_next is innermost else None
            call_next = pair(_Attempt(call_next), general, first)
            index -= 2
            continue
        call_next = _wrap(interceptors, functions, index, call_next)
        index -= 1
    return _Guard(call_next)


def _wrap(
    interceptors: Sequence[InterceptorLike],
    functions: Sequence[InterceptorFunction],
    index: int,
    call_next: CallNext,
) -> CallNext:
    """Interceptor ``index`` around ``call_next``."""
    # One that calls call_next at most once (ours that say so) needs no attempt
    # of its own: the rest runs on its call, which saves a fork and a commit.
    if getattr(interceptors[index], "_calls_next_once", False) is True:
        return _Bound(functions[index], _Guard(call_next))
    return _Bound(functions[index], _Attempt(call_next))


FusedFactory = Callable[[CallNext, CallNext, CallNext | None], CallNext]
"""The fused pair's call_next, given the attempts' call_next, the pair composed as
usual, and (when the innermost end follows) the innermost end, guarded, which a
first attempt may run on the call itself (see ``Call.may_run_unforked``)."""


def _fusion(interceptors: Sequence[InterceptorLike], index: int) -> FusedFactory | None:
    """How interceptor ``index`` runs together with the next one in one frame, if it can.

    An interceptor of ours may offer ``_fuse(next_interceptor)``: a factory
    of one call_next doing both, which falls back to the general composition
    for what it does not cover. Nobody else's interceptor is fused.
    """
    fuse = getattr(interceptors[index], "_fuse", None)
    if fuse is None:
        return None
    factory: FusedFactory | None = fuse(interceptors[index + 1])
    return factory


def internal_error(call: Call[Any, Any], exc: Exception) -> ConnectError:
    """The ConnectError a failure that is not one becomes (logged on a server).

    The client of a server that went away gives ``canceled``; anything else
    is a bug: ``internal``. A server does not tell its client what the bug
    was, it logs it; a client's message says, as it stays in the process.
    """
    procedure = call.method.procedure
    if isinstance(exc, StreamClosed):
        error = ConnectError(Code.CANCELED, f"the client of {procedure} went away ({exc})")
    elif call.side == "server":
        _log.error("%s failed with an unexpected exception", procedure, exc_info=exc)
        error = ConnectError(Code.INTERNAL, f"{procedure} failed with an internal error")
    else:
        error = ConnectError(
            Code.INTERNAL, f"{procedure} failed in this process: {type(exc).__name__}: {exc}"
        )
    error.__cause__ = exc
    return error


@final
class _Bound:
    """An interceptor function with the ``call_next`` it wraps."""

    __slots__ = ("_call_next", "_function")

    def __init__(self, function: InterceptorFunction, call_next: CallNext) -> None:
        self._function = function
        self._call_next = call_next

    def __call__(self, call: Call[Any, Any]) -> Awaitable[None]:
        return self._function(call, self._call_next)


@final
class _Guard:
    """The chain's entry (and a once-only call_next): a failure not a ConnectError becomes one."""

    __slots__ = ("_run",)

    def __init__(self, run: CallNext) -> None:
        self._run = run

    async def __call__(self, call: Call[Any, Any]) -> None:
        try:
            await self._run(call)
        except ConnectError:
            raise
        except Exception as exc:
            raise internal_error(call, exc) from exc


@final
class _Attempt:
    """A ``call_next``: runs the rest of the chain as one attempt of the call it is given."""

    __slots__ = ("_run",)

    def __init__(self, run: CallNext) -> None:
        self._run = run

    async def __call__(self, call: Call[Any, Any]) -> None:
        attempt = call._fork()
        try:
            await self._run(attempt)
        except ConnectError:
            call._end_attempt(attempt, succeeded=False)
            raise
        except Exception as exc:
            call._end_attempt(attempt, succeeded=False)
            raise internal_error(attempt, exc) from exc
        except BaseException:
            call._end_attempt(attempt, succeeded=False)
            raise
        undelivered = call._end_attempt(attempt, succeeded=True)
        if undelivered is not None:
            await call.responses.send(undelivered)


def _is_async_callable(candidate: object) -> bool:
    if inspect.iscoroutinefunction(candidate):
        return True
    dunder = getattr(type(candidate), "__call__", None)  # noqa: B004 - objects with async __call__
    return dunder is not None and inspect.iscoroutinefunction(dunder)
