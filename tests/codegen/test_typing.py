"""mypy --strict accepts the generated types used right, and flags them used wrong.

One mypy run (cold cache in a tmp dir, ~10 s) checks three files: a snippet
that uses the echo stubs correctly, one whose every ``# error`` line misuses
them, and the kitchen-sink module generated from tests/codegen/protos.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.codegen.conftest import REPO

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

_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")


@pytest.fixture(scope="module")
def mypy_errors(
    tmp_path_factory: pytest.TempPathFactory, sink: Path
) -> tuple[dict[str, list[int]], str]:
    """The lines mypy reports errors on, by module (``good``, ``bad``, ``sink``), and its report."""
    api = pytest.importorskip("mypy.api")
    tmp = tmp_path_factory.mktemp("mypy")
    snippets = tmp / "snippets"
    snippets.mkdir()
    (snippets / "good.py").write_text(GOOD)
    (snippets / "bad.py").write_text(BAD)
    config = tmp / "mypy.ini"
    # Modules we only import (trioplugin, and protoc's .pyi stubs) are checked
    # elsewhere: report errors in the three files under test only.
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
            *("-m", "good", "-m", "bad", "-m", "sink.v1.sink_trioplugin"),
        ]
    )
    assert not stderr, stderr
    errors: dict[str, list[int]] = {"good": [], "bad": [], "sink": []}
    for line in stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            errors[Path(match["file"]).stem.removesuffix("_trioplugin")].append(int(match["line"]))
    assert sum(map(len, errors.values())) == stdout.count(": error:"), stdout
    return errors, stdout


def test_correct_use_type_checks(mypy_errors: tuple[dict[str, list[int]], str]) -> None:
    errors, report = mypy_errors
    assert errors["good"] == [], report


def test_every_misuse_is_an_error(mypy_errors: tuple[dict[str, list[int]], str]) -> None:
    errors, report = mypy_errors
    expected = [n for n, line in enumerate(BAD.splitlines(), 1) if line.endswith("# error")]
    assert len(expected) == 11
    assert sorted(set(errors["bad"])) == expected, report


def test_the_kitchen_sink_module_type_checks(
    mypy_errors: tuple[dict[str, list[int]], str],
) -> None:
    errors, report = mypy_errors
    assert errors["sink"] == [], report
