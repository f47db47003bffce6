"""JSON Schemas of the queue message bodies (contracts/messages/): valid, one per type, examples pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from gateway_spec import CONTRACTS, load_document
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from gateway.domain.messages import MessageType

MESSAGES = CONTRACTS / "messages"


def _retrieve(uri: str) -> Resource[Any]:
    path = Path(uri.removeprefix("file://")).resolve()
    assert CONTRACTS in path.parents, uri
    return Resource.from_contents(load_document(path), default_specification=DRAFT7)


def validator(message_type: str) -> Draft7Validator:
    path = MESSAGES / f"{message_type}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    registry: Registry[Any] = Registry(retrieve=_retrieve)  # type: ignore[call-arg]
    return Draft7Validator(
        {"$ref": path.as_uri()}, registry=registry, format_checker=FormatChecker()
    )


def test_one_schema_per_message_type() -> None:
    names = {p.name.removesuffix(".schema.json") for p in MESSAGES.glob("*.schema.json")}
    assert names == {t.value for t in MessageType}


@pytest.mark.parametrize("message_type", [t.value for t in MessageType])
def test_examples_validate_and_a_broken_one_does_not(message_type: str) -> None:
    check = validator(message_type)
    schema = json.loads((MESSAGES / f"{message_type}.schema.json").read_text(encoding="utf-8"))
    assert schema["examples"]
    for example in schema["examples"]:
        errors = [e.message for e in check.iter_errors(example)]
        assert not errors, errors
        broken = copy.deepcopy(example) | {"unexpected": True}
        assert any("unexpected" in e.message for e in check.iter_errors(broken))
        for field in schema["required"]:
            missing = {k: v for k, v in example.items() if k != field}
            assert list(check.iter_errors(missing)), f"{message_type} without {field} passed"


def test_dossier_record_in_messages_is_the_portal_contract() -> None:
    check = validator("portal.dossier.sync")
    example = json.loads((MESSAGES / "portal.dossier.sync.schema.json").read_text())["examples"][0]
    wrong = copy.deepcopy(example)
    wrong["record"]["TrangThaiHoSo"] = "11"
    wrong["record"]["MaHoSo"] = "H26-1"
    messages = [e.message for e in check.iter_errors(wrong)]
    assert len(messages) == 2, messages
