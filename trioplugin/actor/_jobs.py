"""A call on its way through an actor, and the one answer it gets."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, final

import trio

from ..rpc import Headers, MethodInfo

T = TypeVar("T")


@final
class Reply(Generic[T]):
    """A one-shot answer: a value or an error, set once; later attempts are ignored."""

    __slots__ = ("_error", "_event", "_value", "answered")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self.answered = False

    def set(self, value: T) -> bool:
        """Answer with a value; False if the reply was answered already."""
        if self.answered:
            return False
        self.answered = True
        self._value = value
        self._event.set()
        return True

    def fail(self, error: BaseException) -> bool:
        """Answer with an error; False if the reply was answered already."""
        if self.answered:
            return False
        self.answered = True
        self._error = error
        self._event.set()
        return True

    @property
    def error(self) -> BaseException | None:
        """The error answered, if any."""
        return self._error

    async def wait(self) -> T:
        """The value, once answered (or raise the error)."""
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


@dataclass(slots=True, eq=False)
class Job:
    """One call handed to an actor: what to call, under which deadline and context."""

    method: MethodInfo[Any, Any]
    argument: Any
    """The request (unary, server-streaming), the requests (client-streaming) or None."""
    headers: Headers | None
    context: contextvars.Context
    """The caller's contextvars, set again in the task that runs the call."""
    scope: trio.CancelScope
    """Carries the caller's deadline; the caller cancels it when it gives up."""
    reply: Reply[Any] = field(default_factory=Reply)
    finished: trio.Event | None = None
    """For streaming calls: set when the caller leaves its ``async with`` block."""
    done: trio.Event | None = None
    """For streaming calls: set by the actor once the call's task has ended."""
