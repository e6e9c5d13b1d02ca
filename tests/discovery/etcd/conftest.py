"""A real etcd for the etcd discovery tests: one for the session, or one a test may restart."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.discovery.etcd._server import EtcdServer, running_etcd

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """One etcd shared by the tests that do not stop it (each test uses its own prefix)."""
    with running_etcd(tmp_path_factory.mktemp("etcd") / "data") as server:
        yield server


@pytest.fixture
def own_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    """An etcd of the test's own, started; the test may stop and start it again."""
    with running_etcd(tmp_path / "data") as server:
        yield server


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix no other test uses."""
    return f"/trioplugin-tests/{request.node.name}-{next(_prefixes)}/"
