"""The operator API's OpenAPI document: valid OpenAPI 3.1, one operation per
endpoint of the table, and what /operator/v1/openapi.json serves."""

from __future__ import annotations

from openapi_spec_validator import validate

from kuledger.http.operator.app import openapi_document, openapi_path
from kuledger.http.operator.endpoints import ENDPOINTS
from tests.operator.support import OperatorApi


def test_the_document_is_valid_openapi_3_1():
    validate(openapi_document())


def test_every_endpoint_is_in_the_document_with_its_scope():
    paths = openapi_document()["paths"]
    for e in ENDPOINTS:
        operation = paths[openapi_path(e.path)][e.method.lower()]
        assert operation["x-scope"] == e.scope.value
        assert operation["security"] == [
            {"operatorToken": []},
            {"clientCertificate": []},
        ]
        assert ("requestBody" in operation) == (e.body is not None)


def test_the_served_document_is_the_built_one(op: OperatorApi):
    served = op.http.get("http://testserver/operator/v1/openapi.json").json()
    assert served == openapi_document()
