"""The options of an endpoint actor: how many calls it queues and runs at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from .._checks import check_int

DEFAULT_INBOX_CAPACITY: Final = 256
"""Calls that may wait for admission before callers are held back."""

DEFAULT_MAX_IN_FLIGHT: Final = 128
"""Admitted calls that may run at once on one endpoint."""


@final
@dataclass(frozen=True, slots=True)
class ActorOptions:
    """How an endpoint's actor admits calls; given to the plugin nursery or to ``connect``.

    Example::

        async with trioplugin.open_plugin_nursery(actor=ActorOptions(max_in_flight=16)) as host:
            ...

    Checked when made: a wrong value fails there, naming the field.
    """

    inbox_capacity: int = DEFAULT_INBOX_CAPACITY
    """Calls that may wait for admission; a caller beyond them waits to queue its call
    (backpressure), cancellable and bounded by its deadline. 0: callers hand
    their calls over one at a time."""

    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    """Admitted calls that may run at once; the others wait in the inbox, in order."""

    def __post_init__(self) -> None:
        check_int(self, "inbox_capacity", 0)
        check_int(self, "max_in_flight", 1)
