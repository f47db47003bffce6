"""The portal's contract files, loaded once, as JSON Schema validators.

The portal's contract lives in ``contracts/portal/`` (the single source of truth shared
with the mock and the tests). This module reads it from disk: the dossier and progress
record schemas and the OpenAPI components of the answers.

Rules:
- Files are read from the ``contracts`` package (or ``TTHC_CONTRACTS_DIR``); a ``$ref``
  may only point to a file under that directory, never to the network.
- Validators are built once per schema (cached) and are thread-safe to use.
- :func:`first_error` answers the error of the deepest, first-sorted path, as
  ``"data[0].NgayHenTra: '2024' does not match ..."``-style text naming the field.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

DOSSIER_SCHEMA = "portal/schemas/dossier-record.schema.json"
PROGRESS_SCHEMA = "portal/schemas/progress-record.schema.json"
OPENAPI = "portal/openapi.yaml"
WSDL = "portal/portal.wsdl"


def contracts_dir() -> Path:
    """The ``contracts/`` directory (``TTHC_CONTRACTS_DIR`` overrides the packaged one)."""
    override = os.environ.get("TTHC_CONTRACTS_DIR")
    if override:
        return Path(override)
    try:
        return Path(str(resources.files("contracts")))
    except ModuleNotFoundError:  # an editable install made before contracts/ was a package
        return Path(__file__).resolve().parents[2] / "contracts"


def contract_path(relative: str) -> Path:
    return contracts_dir() / relative


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        return yaml.safe_load(text)
    return json.loads(text)


@cache
def _retrieve(uri: str) -> Resource[Any]:
    if not uri.startswith("file://"):
        raise ValueError(f"portal contract may only reference local files, not {uri}")
    path = Path(uri.removeprefix("file://")).resolve()
    root = contracts_dir().resolve()
    if root not in path.parents:
        raise ValueError(f"portal contract reference {uri} leaves contracts/")
    return Resource.from_contents(_load(path), default_specification=DRAFT7)


@cache
def _registry() -> Registry[Any]:
    schemas = sorted(contract_path("portal/schemas").glob("*.json"))
    known = [(path.resolve().as_uri(), _retrieve(path.resolve().as_uri())) for path in schemas]
    return Registry(retrieve=_retrieve).with_resources(known).crawl()  # type: ignore[call-arg]


@cache
def validator(relative: str, pointer: str = "") -> Draft7Validator:
    """A draft-7 validator for the schema at ``pointer`` in a contract file."""
    uri = contract_path(relative).resolve().as_uri() + ("#" + pointer if pointer else "")
    return Draft7Validator({"$ref": uri}, registry=_registry())


def _where(error: ValidationError, prefix: str) -> str:
    parts = [prefix] if prefix else []
    for step in error.absolute_path:
        if isinstance(step, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{step}]"]
        else:
            parts.append(str(step))
    return ".".join(parts) or "(root)"


def first_error(checker: Draft7Validator, instance: Any, prefix: str = "") -> tuple[str, str]:
    """``(field path, message)`` of the first error, or ``("", "")`` when valid."""
    errors = sorted(checker.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return "", ""
    error = errors[0]
    # oneOf/anyOf failures: the most specific sub-error names the field better
    while error.context:
        error = sorted(error.context, key=lambda e: -len(e.absolute_path))[0]
    return _where(error, prefix), describe(error)


def describe(error: ValidationError) -> str:
    """What rule failed, without quoting the value (it may be personal data)."""
    if error.validator in ("required", "additionalProperties"):
        return str(error.message)
    rule = repr(error.validator_value)
    if len(rule) > 200:
        rule = rule[:200] + "..."
    return f"fails the contract's {error.validator} {rule}"


def last_field(path: str) -> str:
    """``data[0].TaiLieuNop[1].TenTepDinhKem`` -> ``TenTepDinhKem`` (for ``error.field``)."""
    tail = path.rsplit(".", 1)[-1]
    return tail.split("[", 1)[0]
