"""A request's query parameters as Fields (domain/fields.py); a parameter
given twice is refused, since the client's signature and our reading could
disagree about which counts."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from kuledger.domain.errors import InvalidInput
from kuledger.domain.fields import QUERY, Fields


def query_fields(params: QueryParams) -> Fields:
    items = params.multi_items()
    if len(items) != len(params):  # some name given twice: find the first
        seen: set[str] = set()
        for name, _ in items:
            if name in seen:
                raise InvalidInput(name, f"{name} is given more than once")
            seen.add(name)
    # A dict: QueryParams.get of an absent name raises a KeyError inside.
    return Fields(dict(items), QUERY)
