"""legato.schemas.json_schema: the rules run parameters are checked with, in process."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field

from legato import flow
from legato.errors import ParameterSchemaError
from legato.schemas.json_schema import MAX_VALIDATION_STEPS, check_schema, parameter_errors


def _messages(schema: dict[str, Any], value: Any) -> list[str]:
    return [error.message for error in parameter_errors(schema, value)]


@pytest.mark.parametrize(
    ("items", "unique"),
    [
        ([1, 1.0], False),
        ([True, 1], True),
        ([{"a": [1, 2]}, {"a": [1, 2]}], False),
        ([{"a": 1, "b": 2}, {"b": 2, "a": 1}], False),
        ([{"a": 1}, {"a": 2}], True),
        ([[1, 2], [2, 1]], True),
        ([None, False, 0, ""], True),
    ],
)
def test_unique_items_follow_json_schema_equality_when_checked_by_hashing(
    items: list[Any], unique: bool
) -> None:
    assert (_messages({"uniqueItems": True}, items) == []) is unique


def test_unique_items_of_many_objects_are_checked_when_no_pair_is_equal() -> None:
    items = [{"n": n} for n in range(100_000)]

    assert _messages({"type": "array", "uniqueItems": True}, items) == []
    assert _messages({"type": "array", "uniqueItems": True}, [*items, {"n": 5}]) == [
        "has non-unique elements ({'n': 5} is repeated)"
    ]


def test_checking_stops_with_a_clear_error_when_it_takes_too_many_steps() -> None:
    schema = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10**9}}

    with pytest.raises(ParameterSchemaError, match="took more than"):
        parameter_errors(schema, list(range(MAX_VALIDATION_STEPS // 2)))


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "https://example.invalid/schema.json"},
        {"$id": "https://example.invalid/root.json", "$ref": "other.json"},
    ],
)
def test_remote_reference_stored_before_checks_is_refused_when_parameters_are_checked(
    schema: dict[str, Any],
) -> None:
    with pytest.raises(ParameterSchemaError, match="does not fetch remote schemas"):
        parameter_errors(schema, {})


def test_pattern_stored_before_checks_is_refused_when_re2_cannot_compile_it() -> None:
    with pytest.raises(ParameterSchemaError, match="RE2 syntax"):
        parameter_errors({"pattern": "(a)\\1"}, "aa")


def test_schema_of_a_pydantic_model_passes_when_checked() -> None:
    from typing import Literal

    from pydantic import BaseModel

    class Item(BaseModel):
        sku: Annotated[str, Field(pattern=r"^[A-Z]{3}-\d+$")]
        kind: Literal["a", "b"] = "a"
        children: list[Item] = []

    class Parameters(BaseModel):
        items: list[Item]
        by_name: dict[str, Item] = {}
        when: str | None = None

    schema = Parameters.model_json_schema()
    check_schema(schema)

    assert _messages(schema, {"items": [{"sku": "ABC-1", "children": [{"sku": "x"}]}]}) == [
        "'x' does not match '^[A-Z]{3}-\\\\d+$'"
    ]


BACKTRACKING = "^(a+)+$"
HOSTILE_KEY = "a" * 40 + "!"


@pytest.mark.parametrize(
    "schema",
    [
        {"patternProperties": {BACKTRACKING: {}}, "additionalProperties": False},
        {"patternProperties": {BACKTRACKING: {}}, "unevaluatedProperties": False},
        {"allOf": [{"patternProperties": {BACKTRACKING: {}}}], "unevaluatedProperties": False},
        {"propertyNames": {"pattern": BACKTRACKING}},
    ],
    ids=["additional", "unevaluated", "unevaluated-in-allOf", "property-names"],
)
def test_backtracking_pattern_on_keys_is_matched_by_re2_when_keys_are_checked(
    schema: dict[str, Any],
) -> None:
    check_schema(schema)

    assert len(_messages(schema, {HOSTILE_KEY: 1})) == 1
    assert _messages(schema, {"a" * 40: 1}) == []


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        (
            {
                "properties": {"a": {}},
                "patternProperties": {"^x": {}},
                "additionalProperties": False,
            },
            {"a": 1, "xy": 2, "z": 3},
        ),
        (
            {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}},
            {"a": "s", "b": "t", "c": 1},
        ),
        ({"properties": {"a": {}}, "unevaluatedProperties": False}, {"a": 1, "b": 2}),
        (
            {
                "allOf": [{"properties": {"a": {}}}],
                "anyOf": [{"patternProperties": {"^b": {}}}, {"required": ["zz"]}],
                "if": {"required": ["c"]},
                "then": {"properties": {"c": {}}},
                "else": {"properties": {"d": {}}},
                "dependentSchemas": {"e": {"properties": {"f": {}}}},
                "$defs": {"g": {"properties": {"g": {}}}},
                "$ref": "#/$defs/g",
                "unevaluatedProperties": {"type": "string"},
            },
            {"a": 1, "b1": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": "ok"},
        ),
        (
            {
                "unevaluatedProperties": {"type": "string"},
                "additionalProperties": {"type": "integer"},
            },
            {"x": 1},
        ),
    ],
)
def test_re2_keywords_agree_with_jsonschema_when_patterns_are_plain(
    schema: dict[str, Any], value: Any
) -> None:
    import jsonschema

    expected = sorted(
        (list(e.path), e.validator)
        for e in jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    found = sorted((list(e.path), e.validator) for e in parameter_errors(schema, value))

    assert found == expected


@flow
def plain_pattern(name: Annotated[str, Field(pattern="^[a-z]+$")]) -> str:
    return name


@flow
def lookahead_pattern(name: Annotated[str, Field(pattern="^(?!tmp)")]) -> str:
    return name


def test_flow_schema_is_left_out_when_its_pattern_needs_lookaround() -> None:
    from legato.workers.deploy import parameter_schema

    schema = parameter_schema(plain_pattern)
    assert schema is not None and schema["properties"]["name"]["pattern"] == "^[a-z]+$"
    assert parameter_schema(lookahead_pattern) is None
