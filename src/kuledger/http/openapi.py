"""GET /openapi.json: built from the endpoint table, so it cannot drift from it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kuledger import __version__
from kuledger.http.errors import KUCOIN_ERRORS
from kuledger.http.routing import Endpoint

_AUTH_HEADERS = ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"code": {"type": "string", "enum": ["200000"]}, "data": data},
        "required": ["code", "data"],
    }


ERROR = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "pattern": "^[0-9]{6}$"},
        "msg": {"type": "string"},
    },
    "required": ["code", "msg"],
}


def openapi_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e)
    codes = sorted(
        {code for _, code in KUCOIN_ERRORS.values()}
        | {"404000", "405000", "429000", "500000"}
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "kuledger",
            "version": __version__,
            "description": "A KuCoin-compatible account ledger. Errors come as "
            '{"code","msg"}; codes used: ' + ", ".join(codes),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                name: {"type": "apiKey", "in": "header", "name": name}
                for name in _AUTH_HEADERS
            },
        },
    }


def _operation(e: Endpoint) -> dict[str, Any]:
    error = {
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        }
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "success, or a business error (code other than 200000)",
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _envelope(e.response),
                            {"$ref": "#/components/schemas/Error"},
                        ]
                    }
                }
            },
        },
        "404": {"description": "unknown path (404000)", **error},
        "429": {"description": "rate limited (429000)", **error},
        "500": {"description": "internal error (500000)", **error},
    }
    if e.method in ("POST", "PUT"):
        responses["413"] = {"description": "body over 64 KiB (413000)", **error}
        responses["415"] = {"description": "body not JSON (415000)", **error}
    if e.signed:
        responses["400"] = {
            "description": "auth headers missing or stale (400001/400002)",
            **error,
        }
        responses["401"] = {
            "description": "unknown key, bad passphrase or signature",
            **error,
        }
        responses["403"] = {
            "description": "IP not whitelisted or permission missing",
            **error,
        }
    op: dict[str, Any] = {
        "summary": e.summary,
        "operationId": e.handler.__name__,
        "parameters": list(e.params),
        "responses": responses,
        "x-api-rate-limit-pool": e.pool,
        "x-api-rate-limit-weight": e.weight,
        "x-api-permission": e.permission.value if e.permission else "Public",
    }
    if e.kucoin_doc:
        op["externalDocs"] = {"url": e.kucoin_doc}
    if e.signed:
        op["security"] = [{name: [] for name in _AUTH_HEADERS}]
    return op
