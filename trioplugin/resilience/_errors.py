"""The errors the resilience layer raises itself: an open circuit, an attempt out of time."""

from __future__ import annotations

import math
from typing import Final, Literal, TypeAlias, final

from ..protocol import Code, ConnectError

RejectionReason: TypeAlias = Literal["open", "half_open", "forced"]
"""Why a breaker refused a call: open, half-open with every probe slot taken, or forced open."""

_REASONS: Final[frozenset[str]] = frozenset({"open", "half_open", "forced"})


@final
class CircuitOpenError(ConnectError):
    """Raised instead of calling when the circuit is open: code UNAVAILABLE, never sent to a server.

    The message starts with "circuit", so it reads differently from an
    ``unavailable`` that a server or the network produced, and the default
    failure and retry rules never count or retry it.

    Attributes:
        retry_after: Seconds until the breaker will admit a probe: 0 when it
            is half-open (a slot frees as soon as a probe ends), ``math.inf``
            when it is forced open.
        breaker_name: The name of the breaker that refused the call.
        reason: ``"open"``, ``"half_open"`` or ``"forced"``.
        last_failure: The last failure the breaker counted before it refused
            (what opened the circuit, as a rule), or None; the message names
            its code and message, so "circuit open" says why.

    Raises:
        ValueError: ``retry_after`` is negative or NaN, or ``reason`` is unknown.
    """

    retry_after: float
    breaker_name: str
    reason: RejectionReason
    last_failure: ConnectError | None

    def __init__(
        self,
        name: str,
        retry_after: float,
        *,
        reason: RejectionReason = "open",
        last_failure: ConnectError | None = None,
    ) -> None:
        if reason not in _REASONS:
            raise ValueError(f"reason must be 'open', 'half_open' or 'forced', not {reason!r}")
        if not retry_after >= 0:
            raise ValueError(f"retry_after must be seconds >= 0, not {retry_after!r}")
        self.retry_after = retry_after
        self.breaker_name = name
        self.reason = reason
        self.last_failure = last_failure
        self._text: str | None = None
        super().__init__(Code.UNAVAILABLE)

    @property
    def message(self) -> str:
        """The error's message, written when first read (a refusal is often never read)."""
        if self._text is None:
            self._text = _message(self.breaker_name, self.retry_after, self.reason)
            if self.last_failure is not None:
                last = self.last_failure
                self._text += f" (last failure: {last.code.value}: {last.message})"
        return self._text

    @message.setter
    def message(self, text: str) -> None:
        self._text = text or None

    def __reduce__(self) -> tuple[object, ...]:
        # The inherited reduction would call __init__ with (code, message).
        return (_rebuild, (self.breaker_name, self.retry_after, self.reason, self.last_failure))

    def __repr__(self) -> str:
        return (
            f"CircuitOpenError({self.breaker_name!r}, {self.retry_after!r}, reason={self.reason!r})"
        )


def _rebuild(
    name: str,
    retry_after: float,
    reason: RejectionReason,
    last_failure: ConnectError | None = None,
) -> CircuitOpenError:
    return CircuitOpenError(name, retry_after, reason=reason, last_failure=last_failure)


def _message(name: str, retry_after: float, reason: RejectionReason) -> str:
    where = f" for {name!r}" if name else ""
    if reason == "forced":
        return f"circuit forced open{where}: calls are refused until it is reset"
    if reason == "half_open":
        return f"circuit half-open{where}: a probe is already in flight"
    if math.isinf(retry_after):
        return f"circuit open{where}: calls are refused"
    shown = f"{retry_after:.1f}" if retry_after >= 0.1 else f"{retry_after:.3f}"
    return f"circuit open{where}: calls are refused for {shown} s more"


@final
class AttemptTimeoutError(ConnectError):
    """One attempt ran out of its ``attempt_timeout`` (code ``deadline_exceeded``).

    A failure of that attempt, retried like a ``deadline_exceeded`` the
    server sent — unlike the caller's own deadline, which ends the call.
    """

    def __init__(self, procedure: str, attempt: int, timeout: float) -> None:
        super().__init__(
            Code.DEADLINE_EXCEEDED,
            f"attempt {attempt} of {procedure} did not finish within its attempt "
            f"timeout of {timeout:g} s",
        )
        self.attempt = attempt
        """The number of the attempt that timed out."""
        self.timeout = timeout
        """The attempt timeout, in seconds."""


def timed_out_remotely(error: ConnectError) -> bool:
    """Whether a ``deadline_exceeded`` is the plugin's slowness, not the caller's lack of time.

    It is when the server sent it, or when one attempt ran out of its own
    timeout; a deadline that passed in this process before the call could
    even be sent is the caller's.
    """
    return error.wire or isinstance(error, AttemptTimeoutError)
