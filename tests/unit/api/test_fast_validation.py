"""The compiled fast path for request bodies: sound against jsonschema, which decides.

Rule under test: the fast validator accepts a body only if connexion's
``Draft4RequestValidator`` (with the draft-4 format checker) accepts it, and the public
validator's verdict is always jsonschema's. Bodies are drawn with schemathesis from the
served contract (schemathesis 4 generates with its own engine; ``hypothesis_jsonschema`` is
no longer installed with it) and then broken on purpose: a key dropped, an unknown key, a
null, a value of the wrong type, a string that breaks a pattern, a format or a length, an
array past its bounds. The schemas checked are the ones connexion hands the validator:
refs resolved at spec load, the spec's ``components`` attached.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fastjsonschema
import pytest
import schemathesis
from connexion.json_schema import Draft4RequestValidator
from connexion.spec import Specification
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from schemathesis.generation.modes import GenerationMode

from gateway.api import fast_validation
from gateway.api.app import HTTP_METHODS
from gateway.api.fast_validation import UnsupportedSchema, compile_fast, fast_accepts, fast_schema
from gateway.api.spec import load_served_spec
from gateway.api.validation import FieldReportingBodyValidator, RequestInvalid
from gateway.demo import _spec_examples

warnings.filterwarnings("ignore", category=DeprecationWarning)

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
MUTATIONS_PER_BODY = 4


# ---- the schemas, as connexion serves them ------------------------------------------------


@dataclass(frozen=True)
class BodyOperation:
    path: str
    method: str
    schema: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def body_operations(document: dict[str, Any]) -> list[BodyOperation]:
    """Every ``application/json`` request-body schema, as connexion's operation returns it
    (``with_definitions`` attaches the spec's ``components`` to the schema)."""
    resolved = Specification.load(document)
    found = []
    for path, item in resolved["paths"].items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            content = (operation or {}).get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema:
                schema = {**schema, "components": resolved.get("components", {})}
                found.append(BodyOperation(path, method, schema))
    return found


def openapi_with_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "fast path", "version": "1"},
        "paths": {
            "/things": {
                "post": {
                    "operationId": "things",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": schema}},
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }


# Everything the contract does not exercise in its bodies, in one schema: nullable places
# (type, enum, none), readOnly/writeOnly, a pattern with ``$``, multipleOf, uniqueItems.
FEATURES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "status"],
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$", "example": "AB123"},
        "status": {"type": "string", "enum": ["open", "closed"], "nullable": True},
        "note": {"type": "string", "maxLength": 8, "nullable": True, "x-origin": "city"},
        "legacy": {"type": "integer", "x-nullable": True, "deprecated": True},
        "anything": {"nullable": True, "enum": ["a", 1]},
        "when": {"type": "string", "format": "date-time", "nullable": True},
        "site": {"type": "string", "format": "uri", "xml": {"name": "Site"}},
        "id": {"type": "string", "readOnly": True},
        "secret": {"type": "string", "writeOnly": True},
        "amount": {"type": "integer", "minimum": 0, "multipleOf": 1000},
        "rate": {"type": "number", "multipleOf": 0.01, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 3},
        "party": {
            "discriminator": {"propertyName": "kind"},
            "oneOf": [
                {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": ["p"]}}},
                {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": ["o"]}}},
            ],
        },
    },
    "externalDocs": {"url": "https://example.org/"},
}

OPERATIONS = body_operations(load_served_spec())
FEATURE_DOCUMENT = openapi_with_body(FEATURES)
FEATURE_OPERATIONS = body_operations(FEATURE_DOCUMENT)
GENERATORS = {
    id(OPERATIONS): schemathesis.openapi.from_dict(load_served_spec()),
    id(FEATURE_OPERATIONS): schemathesis.openapi.from_dict(FEATURE_DOCUMENT),
}


def _jsonschema_accepts(schema: dict[str, Any], body: Any) -> bool:
    validator = Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    return not any(True for _ in validator.iter_errors(body))


def _public_accepts(schema: dict[str, Any], body: Any) -> bool:
    # nullable: a null body goes to the schema (otherwise it is refused before any schema)
    validator = FieldReportingBodyValidator(
        schema=schema, required=True, nullable=True, encoding="utf-8", strict_validation=True
    )
    try:
        validator._validate(body)
    except RequestInvalid as error:
        assert error.errors, "a refusal names its fields"
        return False
    return True


def check_agreement(schema: dict[str, Any], body: Any) -> tuple[bool, bool]:
    """(jsonschema's verdict, the fast path's) after asserting the rule."""
    expected = _jsonschema_accepts(schema, body)
    fast = fast_accepts(schema, body)
    assert expected or not fast, f"fast path accepted a body jsonschema refuses: {body!r}"
    assert _public_accepts(schema, body) == expected, f"public verdict differs on {body!r}"
    return expected, fast


# ---- mutations ----------------------------------------------------------------------------

Location = tuple[str | int, ...]
_UNICODE_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_JUNK: list[Any] = [None, 0, -1, 7.5, True, False, "", "x", [], {}, ["x"], {"x": 1}]
_STRING_EDITS: list[Callable[[str], str]] = [
    lambda s: s + "\n",  # Python's `$` matches before a final newline
    lambda s: s + " ",
    lambda s: " " + s,
    lambda s: s[:-1],
    lambda s: s + (s[-1:] or "0"),
    lambda s: s * 40,
    lambda s: "",
    lambda s: "\n",
    lambda s: s.translate(_UNICODE_DIGITS),  # `\d` takes these, `[0-9]` does not
    lambda s: s.swapcase(),
    lambda s: "2024-11-20T08:30:00+07:00",
    lambda s: "2024-02-30T08:30:00Z",
    lambda s: "2024-11-20 08:30:00",
]
_NUMBER_EDITS: list[Callable[[float], float]] = [
    lambda n: n + 1,
    lambda n: n - 1,
    lambda n: -n - 1,
    lambda n: n + 0.5,
    lambda n: float(n),
    lambda n: 10**15,
    lambda n: 1e308,
]


def _nodes(value: Any, where: Location = ()) -> Iterator[tuple[Location, Any]]:
    yield where, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _nodes(child, (*where, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _nodes(child, (*where, index))


def _replaced(body: Any, where: Location, new: Any) -> Any:
    if not where:
        return new
    changed = copy.deepcopy(body)
    parent = changed
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = new
    return changed


def mutate(data: st.DataObject, body: Any) -> Any:
    """``body`` broken in one place (or, when the chosen kind finds no place, replaced)."""
    nodes = list(_nodes(body))
    kind = data.draw(
        st.sampled_from(["drop", "unknown", "null", "junk", "string", "number", "array"])
    )
    if kind in {"drop", "unknown"}:
        objects = [(w, v) for w, v in nodes if isinstance(v, dict) and (v or kind == "unknown")]
        if objects:
            where, node = data.draw(st.sampled_from(objects))
            changed = dict(node)
            if kind == "drop":
                del changed[data.draw(st.sampled_from(sorted(changed)))]
            else:
                changed["zzUnknownField"] = data.draw(st.sampled_from(_JUNK))
            return _replaced(body, where, changed)
    if kind == "null":
        inner = [w for w, _ in nodes if w]
        if inner:
            return _replaced(body, data.draw(st.sampled_from(inner)), None)
    if kind == "string":
        strings = [(w, v) for w, v in nodes if isinstance(v, str)]
        if strings:
            where, value = data.draw(st.sampled_from(strings))
            return _replaced(body, where, data.draw(st.sampled_from(_STRING_EDITS))(value))
    if kind == "number":
        numbers = [
            (w, v) for w, v in nodes if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if numbers:
            where, value = data.draw(st.sampled_from(numbers))
            return _replaced(body, where, data.draw(st.sampled_from(_NUMBER_EDITS))(value))
    if kind == "array":
        arrays = [(w, v) for w, v in nodes if isinstance(v, list)]
        if arrays:
            where, value = data.draw(st.sampled_from(arrays))
            grown = value * 12 if value else [data.draw(st.sampled_from(_JUNK))]
            return _replaced(body, where, data.draw(st.sampled_from([[], grown, value[:1] * 2])))
    where = data.draw(st.sampled_from([w for w, _ in nodes]))
    junk = data.draw(st.sampled_from(_JUNK[1:] if not where else _JUNK))  # root None: "required"
    return _replaced(body, where, junk)


# ---- differential property tests ----------------------------------------------------------


def _differential(
    operations: list[BodyOperation], operation: BodyOperation, *, valid_take_fast_path: bool
) -> None:
    generator = GENERATORS[id(operations)][operation.path][operation.method.upper()]
    refused_valid: list[Any] = []

    @SETTINGS
    @given(case=generator.as_strategy(GenerationMode.POSITIVE), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        expected, fast = check_agreement(operation.schema, case.body)
        if expected and not fast:
            refused_valid.append(case.body)
        for _ in range(MUTATIONS_PER_BODY):
            check_agreement(operation.schema, mutate(data, case.body))

    run()
    # Not a soundness matter but the point of the fast path: valid bodies take it.
    assert not (valid_take_fast_path and refused_valid), (
        f"valid bodies sent to the slow path: {refused_valid[:3]!r}"
    )


def test_every_json_body_of_the_contract_is_checked_and_compiles() -> None:
    assert len(OPERATIONS) >= 10
    assert {"/v1/dossiers", "/v1/payments", "/v1/callbacks/portal/dossiers"} <= {
        operation.path for operation in OPERATIONS
    }
    for operation in OPERATIONS:
        assert compile_fast(operation.schema) is not None, operation


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_contract_bodies_fast_path_is_sound(operation: BodyOperation) -> None:
    _differential(OPERATIONS, operation, valid_take_fast_path=True)


@pytest.mark.parametrize("operation", FEATURE_OPERATIONS, ids=str)
def test_openapi_features_fast_path_is_sound(operation: BodyOperation) -> None:
    # `rate` has a fractional multipleOf: numbers there are left to jsonschema
    _differential(FEATURE_OPERATIONS, operation, valid_take_fast_path=False)


@SETTINGS
@given(data=st.data())
def test_schemathesis_negative_dossiers_are_judged_by_jsonschema(data: st.DataObject) -> None:
    dossier = next(op for op in OPERATIONS if op.path == "/v1/dossiers")
    generator = GENERATORS[id(OPERATIONS)][dossier.path]["POST"]
    case = data.draw(generator.as_strategy(GenerationMode.NEGATIVE))
    check_agreement(dossier.schema, case.body)


def test_the_contract_examples_take_the_fast_path() -> None:
    by_path = {operation.path: operation for operation in OPERATIONS}
    examples = _spec_examples()
    for name, path in [
        ("dossier", "/v1/dossiers"),
        ("progress", "/v1/dossiers/{dossierCode}/progress"),
        ("payment", "/v1/payments"),
    ]:
        assert check_agreement(by_path[path].schema, examples[name]) == (True, True), name


# ---- the translation, keyword by keyword --------------------------------------------------


def _verdicts(schema: dict[str, Any], body: Any) -> tuple[bool, bool]:
    return check_agreement(schema, body)


@pytest.mark.parametrize(
    ("schema", "body", "accepted"),
    [
        ({"type": "string", "nullable": True}, None, True),
        ({"type": "string"}, None, False),
        ({"type": "string", "nullable": False}, None, False),
        ({"type": "string", "x-nullable": True}, None, True),
        ({"type": "string", "x-nullable": "true"}, None, False),  # connexion: `is True`
        ({"type": ["string", "integer"], "nullable": True}, None, True),
        ({"type": "string", "enum": ["A", "B"], "nullable": True}, None, True),
        ({"type": "string", "enum": ["A", "B"], "nullable": True}, "C", False),
        ({"type": "string", "enum": ["A", "B"]}, None, False),
        ({"enum": ["A"], "nullable": True}, None, True),
        ({"enum": ["A"], "x-nullable": True}, None, True),
        ({"nullable": True, "allOf": [{"type": "string"}]}, None, False),  # type/enum only
        ({"type": "string", "nullable": True, "minLength": 2}, None, True),
    ],
)
def test_nullable_lets_null_through_type_and_enum_only(
    schema: dict[str, Any], body: Any, accepted: bool
) -> None:
    assert _verdicts(schema, body) == (accepted, accepted)


def test_nullable_translation() -> None:
    translated = fast_schema({"type": "string", "enum": ["A"], "nullable": True}).definition
    assert translated["type"] == ["string", "null"]
    assert translated["enum"] == ["A", None]


def _formats_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            yield node["format"]
        for child in node.values():
            yield from _formats_in(child)
    elif isinstance(node, list):
        for child in node:
            yield from _formats_in(child)


# A value every reading of the format takes, and one that breaks it.
FORMAT_CASES = {
    "date-time": ("2024-11-20T08:30:00+07:00", "2024-11-20 08:30:00"),
    "uri": ("https://motcua.hanoi.gov.vn/files/1", "not a uri"),
    "uri-reference": ("/files/1", "\\\\ not a reference"),
    "byte": ("aGVsbG8=", "not base64!"),
    "binary": ("anything", "\x00"),
}


def test_every_format_of_the_contract_has_a_case() -> None:
    used = set(_formats_in(load_served_spec()))
    assert "date-time" in used
    assert used <= set(FORMAT_CASES), used - set(FORMAT_CASES)


@pytest.mark.parametrize("name", sorted(FORMAT_CASES))
def test_formats_the_contract_uses(name: str) -> None:
    valid, invalid = FORMAT_CASES[name]
    schema = {"type": "string", "format": name}
    assert _verdicts(schema, valid) == (True, True)
    expected, fast = _verdicts(schema, invalid)
    checked = name in Draft4Validator.FORMAT_CHECKER.checkers
    # A format jsonschema checks is checked by its own function; one it does not, by neither.
    assert (expected, fast) == ((False, False) if checked else (True, True))


def test_date_time_is_checked_by_jsonschema_in_this_environment() -> None:
    assert "date-time" in Draft4Validator.FORMAT_CHECKER.checkers
    for value in ("2024-02-30T08:30:00Z", "2024-11-20T24:00:00Z", "2024-11-20T08:30:00"):
        assert _verdicts({"type": "string", "format": "date-time"}, value) == (False, False)


@pytest.mark.parametrize("name", sorted(Draft4Validator.FORMAT_CHECKER.checkers))
def test_draft4_format_checks_pass_non_strings(name: str) -> None:
    """The fast path runs format checks on strings only, as fastjsonschema does."""
    for value in (1, 1.5, None, True, [], {}, ["x"], {"a": 1}):
        assert Draft4Validator.FORMAT_CHECKER.conforms(value, name)


def test_pattern_is_read_as_python_re_search_reads_it() -> None:
    schema = {"type": "string", "pattern": "^[0-9]{3}$"}
    assert _verdicts(schema, "123\n") == (True, True)  # fastjsonschema's own: refused
    assert _verdicts(schema, "1234") == (False, False)
    assert _verdicts({"type": "string", "pattern": "[$]"}, "a$") == (True, True)
    assert _verdicts({"type": "string", "pattern": "^a(?!b$)"}, "ab\n") == (False, False)


def test_pattern_and_format_on_one_schema() -> None:
    schema = {"type": "string", "pattern": "^2024", "format": "date-time"}
    assert _verdicts(schema, "2024-11-20T08:30:00Z") == (True, True)
    assert _verdicts(schema, "2025-11-20T08:30:00Z") == (False, False)
    assert _verdicts(schema, "2024-11-20") == (False, False)


def test_openapi_only_keywords_are_dropped() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "readOnly": True},
            "secret": {"type": "string", "writeOnly": True},
            "x-not-a-keyword": {"type": "integer"},
        },
        "discriminator": {"propertyName": "id"},
        "example": {"id": 1},
        "xml": {"name": "x"},
        "externalDocs": {"url": "https://example.org/"},
        "deprecated": True,
        "x-extension": {"type": "integer"},
        "components": {"schemas": {"A": {"type": "string"}}},
    }
    definition = fast_schema(schema).definition
    assert set(definition) == {"$schema", "type", "additionalProperties", "properties"}
    assert set(definition["properties"]) == {"id", "secret", "x-not-a-keyword"}
    assert "readOnly" not in definition["properties"]["id"]
    # connexion's request validator takes readOnly and writeOnly properties in a request
    assert _verdicts(schema, {"id": "1", "secret": "s", "x-not-a-keyword": 2}) == (True, True)
    assert _verdicts(schema, {"x-not-a-keyword": "2"}) == (False, False)


def test_fast_schema_leaves_its_input_alone() -> None:
    for operation in [*OPERATIONS, *FEATURE_OPERATIONS]:
        before = copy.deepcopy(operation.schema)
        translated = fast_schema(operation.schema)
        _scribble(translated.definition)
        assert operation.schema == before


def _scribble(node: Any) -> None:
    if isinstance(node, dict):
        for child in list(node.values()):
            _scribble(child)
        node["scribbled"] = True
    elif isinstance(node, list):
        for child in node:
            _scribble(child)
        node.append("scribbled")


@pytest.mark.parametrize(
    ("schema", "body", "jsonschema", "fast"),
    [
        ({"type": "integer", "multipleOf": 1000}, 75000, True, True),
        ({"type": "integer", "multipleOf": 1000}, 75500, False, False),
        ({"type": "number", "multipleOf": 1000}, 75000.0, True, False),  # stricter: floats
        ({"type": "number", "multipleOf": 0.01}, 0.07, False, False),  # float arithmetic
        ({"type": "number", "multipleOf": 0.5}, 1.5, True, False),
        ({"multipleOf": 3}, "not a number", True, True),
        ({"multipleOf": 3}, True, True, True),
    ],
)
def test_multiple_of_is_left_to_jsonschema_except_exact_integers(
    schema: dict[str, Any], body: Any, jsonschema: bool, fast: bool
) -> None:
    assert _verdicts(schema, body) == (jsonschema, fast)


# What the translation copies as it is: fastjsonschema's draft-04 code must read it as
# jsonschema does (these pin the library behaviour the soundness argument relies on).
PASS_THROUGH = [
    ({"enum": [1, 2]}, True),
    ({"enum": [1, 2]}, 1.0),
    ({"enum": [0]}, False),
    ({"enum": [True]}, 1),
    ({"enum": ["1"]}, 1),
    ({"enum": [None]}, 0),
    ({"enum": [{"a": 1}]}, {"a": True}),
    ({"enum": [[1]]}, [True]),
    ({"type": "integer"}, True),
    ({"type": "integer"}, 1.0),
    ({"type": "number"}, False),
    ({"type": "object"}, []),
    ({"type": "array"}, {}),
    ({"minimum": 1, "exclusiveMinimum": True}, 1),
    ({"maximum": 1, "exclusiveMaximum": True}, 1),
    ({"maximum": 1}, True),
    ({"maxLength": 2}, "ab"),
    ({"maxLength": 2}, "đấ"),
    ({"minLength": 2}, "😀"),
    ({"maxItems": 1}, [1, 2]),
    ({"minProperties": 1}, {}),
    ({"uniqueItems": True}, [1, True]),
    ({"uniqueItems": True}, [1, 1.0]),
    ({"uniqueItems": True}, [{"a": [1]}, {"a": [1.0]}]),
    ({"uniqueItems": True}, [[0], [False]]),
    ({"required": ["a"]}, []),
    ({"required": ["a"]}, {"b": 1}),
    ({"dependencies": {"a": ["b"]}}, {"a": 1}),
    ({"dependencies": {"a": {"required": ["c"]}}}, {"a": 1, "c": 2}),
    ({"patternProperties": {"^x-": {"type": "integer"}}}, {"x-a": "1", "y": "1"}),
    ({"items": [{"type": "string"}], "additionalItems": False}, ["a", 1]),
    ({"additionalItems": False}, ["a", 1]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 1),
    ({"anyOf": [{"type": "integer"}, {"minimum": 0}]}, -1.5),
    ({"not": {}}, 1),
    ({"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}, {"a": "x", "b": "y"}),
    ({"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}, {"a": "x", "b": 1}),
    (
        {"properties": {"a-b": {"type": "integer"}, "ab": {"type": "string"}}},
        {"a-b": "x", "ab": "x"},
    ),
    ({"properties": {"a-b": {"type": "integer"}, "ab": {"type": "string"}}}, {"a-b": 1, "ab": "x"}),
    (
        {"properties": {'q"{x}\\': {"type": "integer"}}, "additionalProperties": False},
        {'q"{x}\\': 1},
    ),
    ({"properties": {"Số": {"type": "integer"}}, "additionalProperties": False}, {"Số": "1"}),
]


@pytest.mark.parametrize(("schema", "body"), PASS_THROUGH)
def test_pass_through_keywords_read_alike(schema: dict[str, Any], body: Any) -> None:
    assert compile_fast(schema) is not None
    expected, fast = _verdicts(schema, body)
    assert fast == expected


# ---- fallback and caching -----------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        # a $ref connexion left (it resolves them at load): jsonschema follows it
        {"$ref": "#/definitions/code", "definitions": {"code": {"type": "string"}}},
        {"type": "string", "$schema": "http://json-schema.org/draft-07/schema#"},
        {"type": "object", "properties": {"a": True}},
        {"type": "object", "properties": {200: {"type": "string"}}},
        {"patternProperties": {"^a": {}}, "additionalProperties": False},
    ],
)
def test_untranslatable_schemas_are_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedSchema):
        fast_schema(schema)
    assert compile_fast(schema) is None


def test_a_schema_fastjsonschema_cannot_compile_falls_back_to_jsonschema() -> None:
    schema = {"type": "object", "required": ["a", "a"], "properties": {"a": {"type": "string"}}}
    fast_schema(schema)  # translates...
    with pytest.raises(fastjsonschema.JsonSchemaDefinitionException):
        fastjsonschema.compile(fast_schema(schema).definition)
    assert compile_fast(schema) is None  # ...but does not compile: jsonschema alone
    assert _verdicts(schema, {"a": "x"}) == (True, False)
    assert not _public_accepts(schema, {"a": 1})
    assert not _public_accepts(schema, {})


def test_a_ref_schema_is_validated_by_jsonschema_alone() -> None:
    schema = {"$ref": "#/definitions/code", "definitions": {"code": {"type": "string"}}}
    assert _verdicts(schema, "x") == (True, False)
    assert _verdicts(schema, 1) == (False, False)


def test_a_fast_validator_that_fails_defers_to_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        def check(body: Any) -> Any:
            raise ZeroDivisionError

        return check

    monkeypatch.setattr(fastjsonschema, "compile", broken)
    schema = {"type": "string"}
    assert _verdicts(schema, "x") == (True, False)
    assert _verdicts(schema, 1) == (False, False)


def test_the_fast_validator_is_compiled_once_per_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[dict[str, Any]] = []
    real_compile = fastjsonschema.compile

    def counting(definition: dict[str, Any], **kwargs: Any) -> Any:
        if set(definition.get("properties", {})) == {"a"}:  # ours, not another thread's
            compiled.append(definition)
        return real_compile(definition, **kwargs)

    monkeypatch.setattr(fastjsonschema, "compile", counting)
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}}
    other = copy.deepcopy(schema)
    for body in ({"a": "x1"}, {"a": "y"}, {"a": "x2"}):
        for _ in range(3):  # connexion builds a validator object per request
            _public_accepts(schema, body)
    assert len(compiled) == 1
    assert fast_accepts(schema, {"a": "x"}) and not fast_accepts(schema, {"a": "y"})
    _public_accepts(other, {"a": "x"})  # an equal but distinct schema object: its own entry
    assert len(compiled) == 2
    assert fast_validation._FAST_CHECKS[id(schema)][0] is schema
