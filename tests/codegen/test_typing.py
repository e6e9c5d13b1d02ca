"""mypy --strict accepts the generated types used right, and flags them used wrong.

One mypy run (cold cache in a tmp dir, ~15 s) checks snippets that use the
generated code right (``GOOD`` with the echo service, ``FIELDS`` with the
messages of tests/codegen/protos/sink/v1/fields.proto, which have every kind
of field), snippets whose every ``# error`` line misuses it (``BAD``,
``FIELDS_BAD``), and every module generated from tests/codegen/protos, the
``_pb2.pyi`` stubs too, as a user's mypy reports them when it follows an
import. ``FIELDS`` also runs: what it says about the types holds at run time.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.codegen.conftest import REPO, python_env

GOOD = '''
from __future__ import annotations

from collections.abc import AsyncIterator

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_trioplugin import ECHO_SERVICE, EchoServiceClient, EchoServiceImpl
from trioplugin.rpc import Client, HandlerContext, MessageReceiver, UnaryResponse


class Structural:
    """Fits the protocol without naming it (parameter names may differ)."""

    async def Echo(self, req: EchoRequest, context: HandlerContext) -> EchoResponse:
        return EchoResponse(text=req.text)

    async def Put(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        return EchoResponse()

    async def ServerStream(
        self, request: EchoRequest, ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        yield EchoResponse()

    async def ClientStream(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> EchoResponse:
        return EchoResponse(text=",".join([r.text async for r in requests]))

    async def Bidi(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        async for request in requests:
            yield EchoResponse(text=request.text)


class Nominal(Structural, EchoServiceImpl):
    pass


implementations: list[EchoServiceImpl] = [Structural(), Nominal()]
services = {ECHO_SERVICE: Structural()}


async def requests() -> AsyncIterator[EchoRequest]:
    yield EchoRequest(text="a")


async def use(client: Client) -> None:
    echo = EchoServiceClient(client)
    reply: EchoResponse = await echo.Echo(EchoRequest(text="a"), headers={"x-a": "1"})
    full: UnaryResponse[EchoResponse] = await echo.Put.call(EchoRequest())
    print(reply.text, full.message.text, full.trailers)
    async with echo.ServerStream(EchoRequest(repeat=2)) as responses:
        indexes: list[int] = [response.index async for response in responses]
        print(indexes, responses.headers)
    reply = await echo.ClientStream([EchoRequest()], headers=[("x-b", "2")])
    reply = await echo.ClientStream(requests())
    async with echo.Bidi() as stream:
        await stream.send(EchoRequest(text="b"))
        await stream.close_send()
        reply = await stream.receive()
'''

BAD = """
from __future__ import annotations

from collections.abc import AsyncIterator

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_trioplugin import EchoServiceClient, EchoServiceImpl
from trioplugin.rpc import Client, HandlerContext, MessageReceiver


class WrongRequestType:
    async def Echo(self, request: EchoResponse, ctx: HandlerContext) -> EchoResponse:
        return request

    async def Put(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        return EchoResponse()

    async def ServerStream(  # not a generator: a coroutine returning an iterator
        self, request: EchoRequest, ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        raise NotImplementedError

    async def ClientStream(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> EchoResponse:
        return EchoResponse()

    async def Bidi(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        yield EchoResponse()


class Partial(EchoServiceImpl):
    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        return EchoResponse()


implementation: EchoServiceImpl = WrongRequestType()  # error
partial = Partial()  # error


async def misuse(client: Client) -> None:
    echo = EchoServiceClient(client)
    await echo.Echo(EchoResponse())  # error
    reply: EchoResponse = echo.Echo(EchoRequest())  # error
    print(echo.Put(EchoRequest()).text)  # error
    echo.Put(EchoRequest())  # error
    await echo.Echo(EchoRequest(), header={})  # error
    await echo.Missing(EchoRequest())  # error
    await echo.ClientStream([EchoResponse()])  # error
    async for response in echo.ServerStream(EchoRequest()):  # error
        print(response)
    async with echo.Bidi() as stream:
        await stream.send(EchoResponse())  # error
    print(reply)
"""


FIELDS = '''
"""Messages with every kind of field, built, served, sent and read (run as a script too)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Literal

import trio
from google.protobuf.empty_pb2 import Empty
from google.protobuf.timestamp_pb2 import Timestamp

from sink.v1.common_pb2 import Ping
from sink.v1.fields_pb2 import STATUS_CLOSED, STATUS_OPEN, Batch, Record, Status
from sink.v1.fields_trioplugin import RECORD_SERVICE, RecordServiceClient, RecordServiceImpl
from sink.v1.shared_types_pb2 import Envelope
from trioplugin.rpc import HandlerContext, open_client, open_connect_server


def source(record: Record) -> Literal["path", "origin"] | None:
    return record.WhichOneof("source")


def closed(record: Record) -> bool:
    status: Status.ValueType = record.status
    return status == STATUS_CLOSED


class Store:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def Put(self, request: Batch, ctx: HandlerContext) -> Record:
        self.records.extend(request.records)
        summary = Record(id=",".join(record.id for record in request.records))
        summary.created.CopyFrom(request.at)
        for record in request.records:
            summary.labels.extend(record.labels)
            summary.tags.extend(record.tags)
            summary.history.append(record.status)
            for key, ping in record.pings.items():
                summary.pings[key].n += ping.n
            for key, count in record.counts.items():
                summary.counts[key] = summary.counts.get(key, 0) + count
            summary.kinds.update(record.kinds)
            if source(record) == "origin":
                summary.origin.CopyFrom(record.origin)
        tag = summary.tags.add(name="added")
        tag.inner.text = str(len(summary.tags))
        return summary

    async def Scan(self, request: Empty, ctx: HandlerContext) -> AsyncIterator[Record]:
        for record in self.records:
            yield record


async def main() -> None:
    store: RecordServiceImpl = Store()
    at = Timestamp()
    at.FromDatetime(datetime.datetime(2024, 5, 6, tzinfo=datetime.UTC))
    first = Record(
        id="a",
        ping=Ping(n=1),
        main_tag=Record.Tag(name="main", inner=Envelope.Inner(text="deep")),
        tags=[Record.Tag(name="x"), Record.Tag(name="y")],
        labels=["l1", "l2"],
        history=[STATUS_OPEN, Status.STATUS_CLOSED],
        pings={"p": Ping(n=2)},
        counts={"c": 3},
        kinds={7: Record.KIND_DIR},
        status=STATUS_OPEN,
        kind=Record.Kind.KIND_FILE,
        origin=Ping(n=4),
        size=0,
        data=b"\\x00",
    )
    second = Record(id="b", path="/tmp", counts={"c": 4}, status=Status.Value("STATUS_CLOSED"))
    async with (
        open_connect_server({RECORD_SERVICE: store}) as server,
        open_client(server.url) as client,
    ):
        records = RecordServiceClient(client)
        summary = await records.Put(Batch(records=[first, second], at=at))
        async with records.Scan(Empty()) as stream:
            scanned = [record async for record in stream]
    assert summary.id == "a,b"
    assert [tag.name for tag in summary.tags] == ["x", "y", "added"]
    assert summary.tags[-1].inner.text == "3"
    assert list(summary.labels) == ["l1", "l2"]
    assert [Status.Name(status) for status in summary.history] == ["STATUS_OPEN", "STATUS_CLOSED"]
    assert dict(summary.counts) == {"c": 7}
    assert summary.pings["p"].n == 2
    kind: Record.Kind.ValueType = summary.kinds[7]
    assert Record.Kind.Name(kind) == "KIND_DIR"
    assert source(summary) == "origin" and summary.origin.n == 4
    assert source(second) == "path" and second.path == "/tmp"
    assert source(Record()) is None
    assert summary.created.ToDatetime(datetime.UTC).year == 2024
    assert summary.HasField("created") and not summary.HasField("size")
    assert [record.id for record in scanned] == ["a", "b"]
    assert scanned[0] == first and scanned[0].HasField("size") and scanned[0].size == 0
    assert scanned[0].main_tag.inner.text == "deep" and scanned[0].data == b"\\x00"
    assert closed(scanned[1]) and not closed(scanned[0])
    print("ok")


if __name__ == "__main__":
    trio.run(main)
'''

FIELDS_BAD = """
from __future__ import annotations

from typing import Literal

from sink.v1.common_pb2 import Ping
from sink.v1.fields_pb2 import Record, Status
from sink.v1.fields_trioplugin import RecordServiceClient
from sink.v1.shared_types_pb2 import Envelope
from trioplugin.rpc import Client


async def misuse(client: Client, record: Record) -> None:
    Record(name="x")  # error
    Record(ping=Envelope.Inner())  # error
    Record(tags=[Ping()])  # error
    Record(labels=[1])  # error
    Record(pings={"p": Record.Tag()})  # error
    Record(counts={"c": "3"})  # error
    Record(status=Record.KIND_FILE)  # error
    record.ping = Ping()  # error
    record.labels = ["a"]  # error
    record.tags.append(Ping())  # error
    record.HasField("labels")  # error
    record.HasField("nope")  # error
    record.ClearField("nope")  # error
    record.WhichOneof("path")  # error
    which: Literal["path"] | None = record.WhichOneof("source")  # error
    status: Status.ValueType = record.kind  # error
    count: str = record.counts["c"]  # error
    await RecordServiceClient(client).Put(record)  # error
    print(which, status, count)
"""

SNIPPETS = {"good": GOOD, "bad": BAD, "fields": FIELDS, "fields_bad": FIELDS_BAD}
"""Each snippet by the module name it is checked as."""

_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")

Errors = tuple[dict[str, list[int]], str]
"""The lines mypy reports errors on, by module, and its whole report."""


def generated_modules(root: Path) -> list[str]:
    """Every module generated under ``root``: the ``_trioplugin.py`` ones and the ``.pyi`` stubs."""
    paths = [*root.rglob("*_trioplugin.py"), *root.rglob("*_pb2.pyi")]
    return sorted(".".join(path.relative_to(root).with_suffix("").parts) for path in paths)


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory, sink: Path) -> Errors:
    """One mypy --strict run over the snippets and everything generated from the sink protos."""
    api = pytest.importorskip("mypy.api")
    tmp = tmp_path_factory.mktemp("mypy")
    snippets = tmp / "snippets"
    snippets.mkdir()
    for name, source in SNIPPETS.items():
        (snippets / f"{name}.py").write_text(source)
    generated = generated_modules(sink)
    assert "sink.v1.fields_pb2" in generated and "sink.v1.fields_trioplugin" in generated
    config = tmp / "mypy.ini"
    # trioplugin is checked by the repository's own mypy run: report errors
    # in the modules under test only, which are named on the command line.
    config.write_text(
        "[mypy]\n"
        "strict = True\n"
        "python_version = 3.11\n"
        "follow_imports = silent\n"
        "follow_imports_for_stubs = True\n"
        f"mypy_path = {REPO},{sink},{snippets}\n"
    )
    stdout, stderr, _ = api.run(
        [
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp / "cache"),
            "--no-error-summary",
            "--show-error-codes",
            *(argument for name in [*SNIPPETS, *generated] for argument in ("-m", name)),
        ]
    )
    assert not stderr, stderr
    errors: dict[str, list[int]] = {name: [] for name in [*SNIPPETS, *generated]}
    for line in stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            path = Path(match["file"]).resolve()
            root = snippets if path.is_relative_to(snippets.resolve()) else sink
            module = ".".join(path.relative_to(root.resolve()).with_suffix("").parts)
            errors[module].append(int(match["line"]))
    assert sum(map(len, errors.values())) == stdout.count(": error:"), stdout
    return errors, stdout


@pytest.mark.parametrize("snippet", ["good", "fields"])
def test_correct_use_type_checks(mypy_errors: Errors, snippet: str) -> None:
    errors, report = mypy_errors
    assert errors[snippet] == [], report


@pytest.mark.parametrize(("snippet", "count"), [("bad", 11), ("fields_bad", 18)])
def test_every_misuse_is_an_error(mypy_errors: Errors, snippet: str, count: int) -> None:
    errors, report = mypy_errors
    lines = SNIPPETS[snippet].splitlines()
    expected = [n for n, line in enumerate(lines, 1) if line.endswith("# error")]
    assert len(expected) == count
    assert sorted(set(errors[snippet])) == expected, report


def test_every_generated_module_type_checks(mypy_errors: Errors, sink: Path) -> None:
    errors, report = mypy_errors
    generated = generated_modules(sink)
    assert len(generated) == 7  # 5 stubs, 2 modules of services
    assert {module: errors[module] for module in generated if errors[module]} == {}, report


def test_the_fields_snippet_runs(sink: Path, tmp_path: Path) -> None:
    script = tmp_path / "fields.py"
    script.write_text(FIELDS)
    result = subprocess.run(
        [sys.executable, str(script)],
        env=python_env(REPO, sink),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr
