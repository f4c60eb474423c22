"""KuCoin's own OpenAPI files (vendored in tests/kucoin_openapi): find the
operation kuledger imitates and validate a response against its schema; and a
structural check of an OpenAPI 3 document (kuledger's /openapi.json).

KuCoin's files declare `openapi: 3.0.1` and no `jsonSchemaDialect`. OpenAPI
3.0 schema objects are a subset of JSON Schema of the Draft 5 era, which Draft 7
reads the same way once `nullable` is turned into a type list; OpenAPI 3.1
documents use Draft 2020-12 (or their declared dialect).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator, ValidationError
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "kucoin_openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Operation:
    """One operation of one KuCoin file."""

    file: str
    method: str  # upper case
    path: str
    spec: dict[str, Any]
    document: dict[str, Any]

    @property
    def doc_url(self) -> str:
        return str(self.spec.get("x-api-doc", ""))

    @property
    def domain(self) -> str:
        return str(self.spec.get("x-domain", ""))

    @property
    def pool(self) -> str:
        return str(self.spec.get("x-api-rate-limit-pool", ""))

    @property
    def weight(self) -> int | None:
        weight = self.spec.get("x-api-rate-limit-weight")
        return weight if isinstance(weight, int) else None

    @property
    def permission(self) -> str | None:
        """None for public operations (KuCoin writes "NULL")."""
        value = self.spec.get("x-api-permission")
        return None if value in (None, "NULL") else str(value)

    def response_schema(self, status: str = "200") -> dict[str, Any]:
        content = self.spec["responses"][status]["content"]
        schema: dict[str, Any] = content["application/json"]["schema"]
        return schema


@cache
def documents() -> dict[str, dict[str, Any]]:
    """Every vendored file by name, parsed."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(OPENAPI_DIR.glob("*.json"))
    }


def operations(method: str, path: str) -> list[Operation]:
    """Every operation with this method and path template, in file order."""
    found = []
    for name, document in documents().items():
        spec = document.get("paths", {}).get(path, {}).get(method.lower())
        if spec is not None:
            found.append(Operation(name, method.upper(), path, spec, document))
    return found


def find_operation(
    method: str, path: str, doc_url: str = "", domain: str = "Spot"
) -> Operation | None:
    """The operation kuledger imitates. A path served on both hosts (e.g.
    /api/v1/timestamp) is in two files: the one whose x-api-doc is `doc_url`
    wins, then the one of `domain`, then the first."""
    found = operations(method, path)
    for matches in (
        [op for op in found if doc_url and op.doc_url == doc_url],
        [op for op in found if op.domain == domain],
        found,
    ):
        if matches:
            return matches[0]
    return None


# --- validating a response ---


def validator_class(document: dict[str, Any]) -> type[Validator]:
    """The JSON Schema dialect the document declares, or its version implies."""
    dialect = document.get("jsonSchemaDialect")
    if dialect:
        return validator_for({"$schema": dialect})  # type: ignore[no-any-return]
    if str(document.get("openapi", "")).startswith("3.0"):
        return Draft7Validator  # type: ignore[return-value]
    return Draft202012Validator  # type: ignore[return-value]


def to_json_schema(schema: Any, openapi: str) -> Any:
    """An OpenAPI schema object as plain JSON Schema: in 3.0, `nullable: true`
    adds "null" to `type` (3.1 schemas are JSON Schema already)."""
    if isinstance(schema, list):
        return [to_json_schema(item, openapi) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: to_json_schema(value, openapi) for key, value in schema.items()}
    if openapi.startswith("3.0") and converted.pop("nullable", False) is True:
        kind = converted.get("type")
        if isinstance(kind, str):
            converted["type"] = [kind, "null"]
    return converted


def require_all(schema: Any) -> Any:
    """The schema with every declared property required, at every depth: the
    fields KuCoin documents are the fields its clients read."""
    if isinstance(schema, list):
        return [require_all(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: require_all(value) for key, value in schema.items()}
    properties = strict.get("properties")
    if isinstance(properties, dict) and properties:
        strict["required"] = sorted(set(strict.get("required", [])) | set(properties))
    return strict


def response_errors(
    operation: Operation, body: Any, *, strict: bool = False
) -> list[ValidationError]:
    """Where `body` breaks the operation's 200 schema (sorted by location).
    strict: also every declared property must be present."""
    openapi = str(operation.document.get("openapi", "3.0"))
    schema = to_json_schema(operation.response_schema(), openapi)
    components = to_json_schema(operation.document.get("components", {}), openapi)
    if strict:
        schema, components = require_all(schema), require_all(components)
    root = {**schema, "components": components}  # "#/components/..." resolves
    cls = validator_class(operation.document)
    cls.check_schema(root)
    validator = cls(root, format_checker=cls.FORMAT_CHECKER)
    return sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))


def location(error: ValidationError) -> str:
    """`data[].type`-style location of an error (array indexes as [])."""
    parts = [
        "[]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    ]
    return "".join(parts).lstrip(".") or "(root)"


# --- checking an OpenAPI 3 document's structure ---


def openapi3_problems(document: Any) -> list[str]:
    """What makes `document` not a valid OpenAPI 3.0/3.1 document, as far as
    the features kuledger and KuCoin use go: version, info, paths, operations,
    parameters (path templates declared and required), responses, unique
    operationIds, resolvable $refs, security schemes, and every embedded
    schema valid against its JSON Schema meta-schema."""
    problems: list[str] = []
    if not isinstance(document, dict):
        return ["the document is not a JSON object"]
    version = str(document.get("openapi", ""))
    if not re.fullmatch(r"3\.[01]\.\d+", version):
        problems.append(f"openapi must be 3.0.x or 3.1.x, got {version!r}")
    info = document.get("info")
    if not isinstance(info, dict) or not all(
        isinstance(info.get(k), str) and info.get(k) for k in ("title", "version")
    ):
        problems.append("info must have a title and a version")
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return [*problems, "paths must be an object"]
    schemes = document.get("components", {}).get("securitySchemes", {})
    for name, scheme in schemes.items():
        if scheme.get("type") == "apiKey" and not (
            scheme.get("name") and scheme.get("in") in ("query", "header", "cookie")
        ):
            problems.append(f"security scheme {name}: apiKey needs name and in")
    operation_ids: set[str] = set()
    for path, item in paths.items():
        if not path.startswith("/"):
            problems.append(f"path {path!r} must start with /")
        for method in set(item) & set(HTTP_METHODS):
            where = f"{method.upper()} {path}"
            problems += _operation_problems(
                where, path, item[method], item.get("parameters", []), schemes
            )
            op_id = item[method].get("operationId")
            if op_id is not None and op_id in operation_ids:
                problems.append(f"{where}: operationId {op_id!r} is not unique")
            operation_ids.add(op_id)
    problems += _ref_problems(document)
    problems += _schema_problems(document, version)
    return problems


def _operation_problems(
    where: str,
    path: str,
    operation: dict[str, Any],
    shared: list[dict[str, Any]],
    schemes: dict[str, Any],
) -> list[str]:
    problems = []
    parameters = [*shared, *operation.get("parameters", [])]
    seen = set()
    for p in parameters:
        if "$ref" in p:
            continue
        key = (p.get("name"), p.get("in"))
        if not isinstance(p.get("name"), str) or p.get("in") not in (
            "query",
            "header",
            "path",
            "cookie",
        ):
            problems.append(f"{where}: parameter {p!r} needs a name and a valid in")
        if ("schema" in p) == ("content" in p):
            problems.append(f"{where}: parameter {key} needs schema or content")
        if p.get("in") == "path" and p.get("required") is not True:
            problems.append(f"{where}: path parameter {key} must be required")
        if key in seen:
            problems.append(f"{where}: parameter {key} is declared twice")
        seen.add(key)
    templated = set(_TEMPLATE.findall(path))
    declared = {p.get("name") for p in parameters if p.get("in") == "path"}
    if templated != declared:
        problems.append(f"{where}: path parameters {declared} != template {templated}")
    responses = operation.get("responses")
    if not isinstance(responses, dict) or not responses:
        problems.append(f"{where}: responses must be a non-empty object")
        responses = {}
    for status, response in responses.items():
        if not re.fullmatch(r"[1-5]([0-9]{2}|XX)|default", str(status)):
            problems.append(f"{where}: response key {status!r} is not a status")
        if "$ref" not in response and not isinstance(response.get("description"), str):
            problems.append(f"{where}: response {status} needs a description")
    for requirement in operation.get("security", []):
        for name in requirement:
            if name not in schemes:
                problems.append(f"{where}: security scheme {name!r} is not defined")
    return problems


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _ref_problems(document: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in _walk(document):
        if key != "$ref" or not isinstance(value, str):
            continue
        if not value.startswith("#/"):
            problems.append(f"$ref {value!r} is not local")
            continue
        node: Any = document
        for part in value[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                problems.append(f"$ref {value!r} does not resolve")
                break
            node = node[part]
    return problems


def _schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        yield f"components.schemas.{name}", schema
    for path, item in document.get("paths", {}).items():
        for method in set(item) & set(HTTP_METHODS):
            operation = item[method]
            where = f"{method.upper()} {path}"
            for p in operation.get("parameters", []):
                if "schema" in p:
                    yield f"{where} parameter {p.get('name')}", p["schema"]
            for status, response in operation.get("responses", {}).items():
                for media in response.get("content", {}).values():
                    if "schema" in media:
                        yield f"{where} response {status}", media["schema"]


def _schema_problems(document: dict[str, Any], version: str) -> list[str]:
    cls = validator_class(document)
    problems = []
    for where, schema in _schemas(document):
        try:
            cls.check_schema(to_json_schema(schema, version))
        except SchemaError as exc:
            problems.append(f"{where}: invalid schema: {exc.message}")
    return problems
