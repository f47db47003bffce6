"""JSON Schemas of the queue message bodies (contracts/messages/): one per type, examples pass.

They point at the single sources: the portal contract's record schemas for ``portal.*``
and the city contract's event schemas for ``city.*``.
"""

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
KEY_FIELD = {
    "portal.dossier.sync": "MaHoSo",
    "portal.dossier.progress": "TrangThai",
    "city.dossier.submitted": "event",
    "city.payment.confirmed": "payment",
    "city.dossier.status_changed": "status",
}


def _retrieve(uri: str) -> Resource[Any]:
    path = Path(uri.removeprefix("file://")).resolve()
    assert CONTRACTS in path.parents, uri
    return Resource.from_contents(load_document(path), default_specification=DRAFT7)


def schema_of(message_type: str) -> dict[str, Any]:
    document = json.loads((MESSAGES / f"{message_type}.schema.json").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def validator(message_type: str) -> Draft7Validator:
    path = MESSAGES / f"{message_type}.schema.json"
    Draft7Validator.check_schema(schema_of(message_type))
    registry: Registry[Any] = Registry(retrieve=_retrieve)  # type: ignore[call-arg]
    return Draft7Validator(
        {"$ref": path.as_uri()}, registry=registry, format_checker=FormatChecker()
    )


def test_one_schema_per_message_type() -> None:
    names = {p.name.removesuffix(".schema.json") for p in MESSAGES.glob("*.schema.json")}
    assert names == {t.value for t in MessageType}


@pytest.mark.parametrize("message_type", [t.value for t in MessageType])
def test_examples_validate_and_broken_ones_do_not(message_type: str) -> None:
    check = validator(message_type)
    examples = schema_of(message_type)["examples"]
    assert examples
    for example in examples:
        errors = [e.message for e in check.iter_errors(example)]
        assert not errors, errors
        assert list(check.iter_errors(copy.deepcopy(example) | {"unexpected": True}))
        missing = {k: v for k, v in example.items() if k != KEY_FIELD[message_type]}
        assert list(check.iter_errors(missing)), f"{message_type} without {KEY_FIELD[message_type]}"


def test_city_events_name_their_type() -> None:
    for message_type in (
        "city.dossier.submitted",
        "city.payment.confirmed",
        "city.dossier.status_changed",
    ):
        example = schema_of(message_type)["examples"][0]
        assert example["event"] == message_type
        wrong = example | {"event": "city.something.else"}
        assert list(validator(message_type).iter_errors(wrong))


def test_dossier_record_in_messages_is_the_portal_contract() -> None:
    check = validator("portal.dossier.sync")
    wrong = copy.deepcopy(schema_of("portal.dossier.sync")["examples"][0])
    wrong["TrangThaiHoSo"] = "11"
    wrong["MaHoSo"] = "H26-1"
    messages = [e.message for e in check.iter_errors(wrong)]
    assert len(messages) == 2, messages
