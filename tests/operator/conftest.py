"""`op`: the operator API in process, shared by a module's tests on each engine
(each test makes its own users)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PostgresDatabases
from tests.operator.support import OperatorApi, operator_api
from tests.support.shared import ENGINES, engine_database


@pytest.fixture(scope="module", params=ENGINES)
def op(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[OperatorApi]:
    url, workdir = engine_database(request.param, tmp_path_factory, postgres_databases)
    with operator_api(url, workdir) as running:
        yield running
