"""A client by the name its service was given: a stub, or a generated typed client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._caller import Caller
from ._service import Service
from ._stub import Stub


def dispense_client(
    caller: Caller,
    services: Mapping[str, Service],
    name: str,
    client_type: type[Any] | None,
    stub: Callable[[Service], Stub],
    *,
    owner: str,
) -> Any:
    """The client of ``services[name]`` through ``caller``: ``stub(service)``, or a ``client_type``.

    ``owner`` names what offers the services in messages (``plugin 'kv'``).

    Raises:
        LookupError: no service is named ``name`` (the message lists those there are).
        TypeError: ``client_type`` is a client for another service.
    """
    try:
        service = services[name]
    except KeyError:
        known = ", ".join(sorted(services)) or "none"
        raise LookupError(f"{owner} has no service named {name!r}; it has: {known}") from None
    if client_type is None:
        return stub(service)
    expected = getattr(client_type, "SERVICE", None)
    if not isinstance(expected, Service) or expected.name != service.name:
        wanted = expected.name if isinstance(expected, Service) else "no service"
        raise TypeError(
            f"{client_type.__qualname__} is a client for {wanted}, but {name!r} on "
            f"{owner} is {service.name}"
        )
    return client_type(caller)
