"""Every exception the domain and the services define has an answer in the
HTTP error table (kuledger.http.errors.KUCOIN_ERRORS), found through its MRO
as the edge finds it; none falls through to a generic 500000."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import kuledger.domain
import kuledger.services
from kuledger.domain.errors import LedgerError
from kuledger.http.errors import lookup
from kuledger.services.ratelimit import LimiterUnavailable

# Raised inside the edge and answered there, never by the table.
ANSWERED_BEFORE_THE_TABLE = {
    # RateLimitPolicy.charge admits the request (fail-open) or raises
    # LimiterDown, so Redis's error text never reaches a client.
    LimiterUnavailable,
}


def _modules(package: ModuleType) -> list[ModuleType]:
    names = [package.__name__] + [
        info.name
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    ]
    return [importlib.import_module(name) for name in names]


def _exceptions() -> list[type[Exception]]:
    found = {
        cls
        for package in (kuledger.domain, kuledger.services)
        for module in _modules(package)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == module.__name__
    }
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


EXCEPTIONS = _exceptions()


def test_the_walk_finds_the_domain_and_service_errors():
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"LedgerError", "InvalidInput", "BatchError", "ImportRejected"} <= names
    assert set(EXCEPTIONS) >= ANSWERED_BEFORE_THE_TABLE


@pytest.mark.parametrize(
    "cls",
    [cls for cls in EXCEPTIONS if cls not in ANSWERED_BEFORE_THE_TABLE],
    ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
)
def test_every_exception_has_an_entry_in_the_error_table(cls):
    assert lookup(cls) is not None, (
        f"{cls.__module__}.{cls.__qualname__} has no entry in KUCOIN_ERRORS "
        "(kuledger/http/errors.py): add one for it or for a base class"
    )


def test_a_class_outside_the_table_is_reported():
    class Stray(Exception):
        pass

    assert lookup(Stray) is None
    assert lookup(type("Derived", (LedgerError,), {})) is not None
