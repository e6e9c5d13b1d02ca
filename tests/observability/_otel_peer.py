"""connectrpc instrumented by connectrpc-otel, as a tracing interop peer, in a process of its own.

::

    python -m tests.observability._otel_peer serve
    python -m tests.observability._otel_peer call URL

``serve`` runs ``tests/interop/_connectrpc_peer.py``'s EchoService on
uvicorn (its port is the first line on stdout) until SIGTERM, SIGINT or the
end of stdin; ``call`` makes one unary Echo call to URL with connectrpc's
client. Either way connectrpc-otel is enabled as its users enable it
(``ConnectInstrumentor().instrument(tracer_provider=...)``, which gives
every connectrpc client and application its interceptor), with the
OpenTelemetry SDK's TracerProvider and the global propagator (W3C trace
context and baggage), and every span is printed on stdout as it ends, one
JSON line each: ``{"span": {"name", "kind", "trace_id", "span_id",
"parent_id", "attributes", "status"}}`` (ids in hex, as in ``traceparent``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence

from connectrpc_otel import ConnectInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from pyqwest import Client as HTTPClient
from pyqwest import HTTPTransport, HTTPVersion

from tests.interop import _connectrpc_peer as peer


class PrintingExporter(SpanExporter):
    """Prints each span it is given as one JSON line on stdout."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            context = span.get_span_context()
            assert context is not None
            line = {
                "name": span.name,
                "kind": span.kind.name,
                "trace_id": f"{context.trace_id:032x}",
                "span_id": f"{context.span_id:016x}",
                "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
                "attributes": dict(span.attributes or {}),
                "status": span.status.status_code.name,
            }
            print(json.dumps({"span": line}, sort_keys=True), flush=True)
        return SpanExportResult.SUCCESS


def instrument() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(PrintingExporter()))
    ConnectInstrumentor().instrument(tracer_provider=provider)


async def call(url: str) -> None:
    async with HTTPTransport(http_version=HTTPVersion.HTTP1) as transport:
        result = await peer.Caller(url, HTTPClient(transport)).unary_proto()
    print(json.dumps({"result": result}, sort_keys=True), flush=True)


def main(argv: list[str]) -> None:
    instrument()
    if argv[:1] == ["serve"]:
        asyncio.run(peer.serve())
        return
    if len(argv) != 2 or argv[0] != "call":
        sys.exit("usage: python -m tests.observability._otel_peer serve | call URL")
    asyncio.run(call(argv[1]))
    # See tests/interop/_connectrpc_peer.py: pyqwest's thread can abort a finalizing interpreter.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
