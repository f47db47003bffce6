"""Partner contracts from ``contracts/`` for the adapters: paths and JSON Schema validators.

Rules:
- Contracts are read from disk (``TTHC_CONTRACTS_DIR`` overrides the packaged directory),
  never from the network; ``$ref`` may only point at files inside ``contracts/``.
- OpenAPI 3.0 component schemas and JSON Schema files are checked with one draft-7
  validator (the contracts keep to the subset both share).
- :func:`violations` describes each error by JSON path and rule only, never by the
  offending value (which may be personal data).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7


def contracts_dir() -> Path:
    """The ``contracts/`` directory."""
    override = os.environ.get("TTHC_CONTRACTS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "contracts"


def contract_path(relative_path: str) -> Path:
    return contracts_dir() / relative_path


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    return json.loads(text)


@lru_cache(maxsize=64)
def _retrieve(uri: str) -> Resource[Any]:
    if not uri.startswith("file://"):
        raise ValueError(f"contracts may only reference local files, not {uri}")
    path = Path(uri.removeprefix("file://")).resolve()
    if contracts_dir().resolve() not in path.parents:
        raise ValueError(f"contract reference {uri} leaves contracts/")
    return Resource.from_contents(_load(path), default_specification=DRAFT7)


@lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    return Registry(retrieve=_retrieve)  # type: ignore[call-arg]


@lru_cache(maxsize=128)
def validator(relative_path: str, pointer: str = "") -> Draft7Validator:
    """A draft-7 validator for the schema at ``pointer`` inside a contract file."""
    ref = contract_path(relative_path).resolve().as_uri() + ("#" + pointer if pointer else "")
    return Draft7Validator({"$ref": ref}, registry=_registry())


def violations(schema: Draft7Validator, instance: Any, limit: int = 3) -> list[str]:
    """Up to ``limit`` errors as ``"$.path: rule"`` (no values), most specific first."""
    errors = sorted(schema.iter_errors(instance), key=lambda err: list(err.absolute_path))
    described: list[str] = []
    for error in errors[:limit]:
        if error.context:  # oneOf/anyOf: name the branch error that went deepest
            error = max(error.context, key=lambda branch: len(branch.absolute_path))
        detail = str(error.validator)
        if error.validator == "required":
            detail = "missing " + error.message.split(" is a required")[0]
        described.append(f"{error.json_path}: {detail}")
    return described
