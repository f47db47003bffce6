"""Helpers to read the gateway contract and validate data against it.

Rules: the OpenAPI document is loaded from ``contracts/gateway/openapi.yaml`` as is;
``$ref`` into other contract files (the portal's record schemas) resolve through a
``referencing`` registry that reads files under ``contracts/`` only; schemas are checked
with the OpenAPI 3.0 dialect (``nullable``) and its format checker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[3]
CONTRACTS = ROOT / "contracts"
SPEC_PATH = CONTRACTS / "gateway" / "openapi.yaml"
SPEC_URI = SPEC_PATH.as_uri()
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yaml", ".yml"}:
        return yaml.safe_load(text)
    return json.loads(text)


@cache
def spec() -> dict[str, Any]:
    document = load_document(SPEC_PATH)
    assert isinstance(document, dict)
    return document


def _retrieve(uri: str) -> Resource[Any]:
    if not uri.startswith("file://"):
        raise LookupError(f"only contract files may be referenced, not {uri}")
    path = Path(uri.removeprefix("file://")).resolve()
    if CONTRACTS not in path.parents:
        raise LookupError(f"{uri} is outside contracts/")
    return Resource.from_contents(load_document(path), default_specification=DRAFT7)


@cache
def registry() -> Registry[Any]:
    resource = Resource.from_contents(spec(), default_specification=DRAFT7)
    return Registry(retrieve=_retrieve).with_resource(SPEC_URI, resource)  # type: ignore[call-arg]


def validator_for(pointer: str) -> OAS30Validator:
    """A validator for the schema at a JSON pointer inside the spec (``/components/...``)."""
    return OAS30Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=registry(),
        format_checker=oas30_format_checker,
    )


def errors_for(pointer: str, instance: Any) -> list[ValidationError]:
    return list(validator_for(pointer).iter_errors(instance))


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve_local(node: Any) -> Any:
    """Follow a local ``#/...`` $ref (components of this spec) to its target."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return node
        target: Any = spec()
        for token in ref[2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def examples_with_schemas() -> Iterator[tuple[str, str, Any]]:
    """Every (where, schema pointer, example value) pair in the document.

    Covers media types and parameters (``example`` and ``examples``), headers, and the
    ``example`` keyword of schemas under ``components/schemas``.
    """

    def walk(node: Any, pointer: str) -> Iterator[tuple[str, str, Any]]:
        if isinstance(node, dict):
            if "schema" in node and isinstance(node["schema"], dict):
                schema_pointer = f"{pointer}/schema"
                if "example" in node:
                    yield pointer, schema_pointer, node["example"]
                for name, example in (node.get("examples") or {}).items():
                    example = resolve_local(example)
                    yield f"{pointer}/examples/{name}", schema_pointer, example["value"]
            for key, value in node.items():
                if key in {"example", "examples"}:
                    continue
                yield from walk(value, f"{pointer}/{escape(str(key))}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{pointer}/{index}")

    yield from walk(spec()["paths"], "/paths")
    for kind in ("parameters", "headers", "responses", "requestBodies"):
        yield from walk(spec()["components"].get(kind, {}), f"/components/{kind}")
    for name, schema in spec()["components"]["schemas"].items():
        if isinstance(schema, dict) and "example" in schema:
            pointer = f"/components/schemas/{escape(name)}"
            yield pointer, pointer, schema["example"]
