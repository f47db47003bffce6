"""JSON Schema validation against files in ``contracts/`` (OpenAPI YAML or JSON Schema).

Rules:
- A schema is named by a contract file and a JSON pointer, e.g.
  ``json_validator("portal/openapi.yaml", "/components/schemas/LoginRequest")``.
- Relative ``$ref`` between contract files resolve from disk (never the network).
- Contract schemas use the subset shared by OpenAPI 3.0 and JSON Schema draft 7, so one
  validator (draft 7) checks both; ``format`` is checked where jsonschema can.
- Retrieved contract files are cached (parsed once per process).
- :func:`schema_errors` answers human-readable messages naming the JSON path of each error.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from mocks._xml import contracts_dir


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        return yaml.safe_load(text)
    return json.loads(text)


@lru_cache(maxsize=64)
def _retrieve(uri: str) -> Resource[Any]:
    if not uri.startswith("file://"):
        raise ValueError(f"contracts may only reference local files, not {uri}")
    path = Path(uri.removeprefix("file://"))
    root = contracts_dir().resolve()
    if root not in path.resolve().parents:
        raise ValueError(f"contract reference {uri} leaves contracts/")
    return Resource.from_contents(_load(path), default_specification=DRAFT7)


@lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    return Registry(retrieve=_retrieve)  # type: ignore[call-arg]


def contract_uri(relative_path: str) -> str:
    """The ``file://`` URI of a contract file."""
    return (contracts_dir() / relative_path).resolve().as_uri()


def load_contract(relative_path: str) -> Any:
    """Load a contract file (YAML or JSON) as data."""
    return _load(contracts_dir() / relative_path)


@lru_cache(maxsize=256)
def json_validator(relative_path: str, pointer: str = "") -> Draft7Validator:
    """A draft-7 validator for the schema at ``pointer`` inside a contract file."""
    ref = contract_uri(relative_path) + ("#" + pointer if pointer else "")
    validator = Draft7Validator(
        {"$ref": ref},
        registry=_registry(),
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )
    return validator


def schema_errors(validator: Draft7Validator, instance: Any) -> list[str]:
    """Every validation error as ``"$.path: message"``, sorted by path."""
    errors = sorted(validator.iter_errors(instance), key=lambda err: list(err.absolute_path))
    return [f"{err.json_path}: {err.message}" for err in errors]
