"""Flow parameter validation (:mod:`legato.sdk.parameters`): pydantic over the signature."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from legato.errors import LegatoError, ParameterValidationError
from legato.sdk.parameters import ParameterModel, jsonable


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int = 0


class Unhinted:
    pass


def simple(count: int, name: str = "world", ratio: float = 1.0) -> None: ...


def with_varargs(first: int, *rest: int, scale: float = 1.0, **options: str) -> None: ...


def with_models(point: Point, points: list[Point], when: datetime, day: date) -> None: ...


def with_extras(
    color: Color, mode: Literal["fast", "slow"], path: Path, maybe: int | None
) -> None: ...


def positional_only(a: int, /, b: int, *, c: int = 3) -> None: ...


def untyped(a, b=2):  # type: ignore[no-untyped-def]
    ...


def arbitrary(thing: Unhinted) -> None: ...


def validate(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return ParameterModel(fn, "my-flow").validate(args, kwargs)


def error_of(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ParameterValidationError) as info:
        validate(fn, *args, **kwargs)
    return str(info.value)


# -- coercion -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((3,), {}, {"count": 3, "name": "world", "ratio": 1.0}),
        # pydantic's lax mode: numeric strings become numbers, whole floats become ints
        (("3",), {}, {"count": 3, "name": "world", "ratio": 1.0}),
        ((3.0,), {}, {"count": 3, "name": "world", "ratio": 1.0}),
        ((" 7 ",), {"ratio": "2.5"}, {"count": 7, "name": "world", "ratio": 2.5}),
        ((1,), {"ratio": 2}, {"count": 1, "name": "world", "ratio": 2.0}),
        # and booleans are ints in lax mode
        ((True,), {}, {"count": 1, "name": "world", "ratio": 1.0}),
        ((), {"count": 4, "name": "x"}, {"count": 4, "name": "x", "ratio": 1.0}),
    ],
)
def test_parameters_coerced_by_type_hints(
    args: tuple[Any, ...], kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    result = validate(simple, *args, **kwargs)
    assert result == expected
    assert type(result["count"]) is int
    assert type(result["ratio"]) is float


def test_defaults_are_applied() -> None:
    assert validate(simple, 1) == {"count": 1, "name": "world", "ratio": 1.0}


def test_untyped_parameters_pass_through_unchanged() -> None:
    value = object()
    assert validate(untyped, value) == {"a": value, "b": 2}


def test_arbitrary_types_are_checked_by_isinstance() -> None:
    thing = Unhinted()
    assert validate(arbitrary, thing)["thing"] is thing
    message = error_of(arbitrary, "not a thing")
    assert "'thing'" in message


def test_enum_literal_path_optional_coercion() -> None:
    result = validate(with_extras, "red", "fast", "/tmp/x", None)
    assert result == {"color": Color.RED, "mode": "fast", "path": Path("/tmp/x"), "maybe": None}
    assert validate(with_extras, "blue", "slow", "y", "5")["maybe"] == 5


def test_pydantic_models_as_parameters() -> None:
    result = validate(
        with_models,
        {"x": "5"},
        [{"x": 1, "y": 2}, Point(x=3)],
        "2024-01-02T03:04:05Z",
        "2024-02-03",
    )
    assert result["point"] == Point(x=5, y=0)
    assert isinstance(result["point"], Point)
    assert result["points"] == [Point(x=1, y=2), Point(x=3, y=0)]
    assert result["when"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert result["day"] == date(2024, 2, 3)


def test_model_instance_passed_through() -> None:
    point = Point(x=1)
    result = validate(with_models, point, [], datetime(2024, 1, 1), date(2024, 1, 1))
    assert result["point"] == point


# -- errors name the parameter -------------------------------------------------------


def test_wrong_type_names_the_parameter_and_the_flow() -> None:
    message = error_of(simple, "three")
    assert "'my-flow'" in message
    assert "parameter 'count'" in message
    assert "'three'" in message


def test_wrong_type_of_keyword_parameter_names_it() -> None:
    message = error_of(simple, 1, ratio="fast")
    assert "parameter 'ratio'" in message
    assert "count" not in message


def test_fractional_float_for_int_is_refused() -> None:
    assert "parameter 'count'" in error_of(simple, 3.5)


def test_every_wrong_parameter_is_named() -> None:
    message = error_of(simple, "a", name=["not", "a", "string"], ratio="b")
    for name in ("count", "name", "ratio"):
        assert f"parameter {name!r}" in message


def test_missing_parameter_is_named() -> None:
    message = error_of(simple)
    assert "'my-flow'" in message
    assert "'count'" in message
    assert "missing" in message


def test_extra_parameter_is_named() -> None:
    message = error_of(simple, 1, colour="red")
    assert "'colour'" in message


def test_too_many_positional_parameters() -> None:
    message = error_of(simple, 1, "a", 2.0, "extra")
    assert "too many positional" in message


def test_nested_model_field_is_named() -> None:
    message = error_of(with_models, {"x": "five"}, [], datetime(2024, 1, 1), date(2024, 1, 1))
    assert "parameter 'point.x'" in message


def test_list_item_of_model_is_named() -> None:
    message = error_of(with_models, {"x": 1}, [{"x": 1}, {"y": 2}], "2024-01-01", "2024-01-01")
    assert "parameter 'points.1.x'" in message


def test_long_input_is_shortened_in_message() -> None:
    message = error_of(simple, "x" * 500)
    assert "x" * 100 not in message
    assert "..." in message


def test_validation_error_is_a_legato_error_and_a_type_error() -> None:
    with pytest.raises(LegatoError):
        validate(simple, "x")
    with pytest.raises(TypeError):
        validate(simple, "x")


def test_literal_and_enum_errors_name_the_parameter() -> None:
    assert "parameter 'color'" in error_of(with_extras, "green", "fast", "p", None)
    assert "parameter 'mode'" in error_of(with_extras, "red", "medium", "p", None)


# -- *args and **kwargs ------------------------------------------------------------------


def test_varargs_and_varkw_are_validated_and_coerced() -> None:
    result = validate(with_varargs, "1", "2", 3, scale="0.5", color="red")
    assert result == {"first": 1, "rest": (2, 3), "scale": 0.5, "options": {"color": "red"}}


def test_varargs_defaults_to_empty() -> None:
    assert validate(with_varargs, 1) == {"first": 1, "rest": (), "scale": 1.0, "options": {}}


def test_varargs_item_error_names_position() -> None:
    assert "parameter 'rest.1'" in error_of(with_varargs, 1, 2, "x")


def test_varkw_item_error_names_key() -> None:
    assert "parameter 'options.color'" in error_of(with_varargs, 1, color=5)


@pytest.mark.parametrize(
    ("fn", "args", "kwargs"),
    [
        (with_varargs, ("1", "2", 3), {"scale": "0.5", "color": "red"}),
        (positional_only, ("1",), {"b": "2"}),
        (simple, (), {"count": "2", "name": "n"}),
    ],
)
def test_to_call_rebuilds_a_call_with_the_same_meaning(
    fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    model = ParameterModel(fn, "f")
    parameters = model.validate(args, kwargs)
    call_args, call_kwargs = model.to_call(parameters)
    assert model.validate(call_args, call_kwargs) == parameters


def test_to_call_passes_positional_only_positionally() -> None:
    model = ParameterModel(positional_only, "f")
    args, _kwargs = model.to_call(model.validate(("1",), {"b": "2"}))
    assert args[0] == 1


def test_to_call_passes_parameters_before_varargs_positionally() -> None:
    """``first`` must go positionally ahead of ``*rest``, or the call gets it twice."""
    model = ParameterModel(with_varargs, "f")
    parameters = model.validate((1, 2, 3), {"k": "v"})
    assert model.to_call(parameters) == ((1, 2, 3), {"scale": 1.0, "k": "v"})


# -- jsonable ------------------------------------------------------------------------


def test_jsonable_of_json_values_is_identity() -> None:
    parameters = {"a": 1, "b": "x", "c": [1, 2.5, None], "d": {"k": True}}
    assert jsonable(parameters) == parameters


def test_jsonable_of_datetimes_sets_models_and_objects() -> None:
    obj = Unhinted()
    result = jsonable(
        {
            "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "day": date(2024, 1, 2),
            "tags": {3, 1, 2},
            "pair": (1, 2),
            "point": Point(x=1),
            "color": Color.BLUE,
            "path": Path("/tmp/a"),
            "money": Decimal("1.50"),
            "obj": obj,
        }
    )
    json.dumps(result)  # storable as JSON
    assert result["when"] == "2024-01-02T03:04:05Z"
    assert result["day"] == "2024-01-02"
    assert sorted(result["tags"]) == [1, 2, 3]
    assert result["pair"] == [1, 2]
    assert result["point"] == {"x": 1, "y": 0}
    assert result["color"] == "blue"
    assert result["path"] == "/tmp/a"
    assert result["money"] == "1.50"
    assert result["obj"] == repr(obj)


def test_jsonable_of_unserializable_falls_back_per_parameter() -> None:
    loop: list[Any] = []
    loop.append(loop)
    result = jsonable({"loop": loop, "n": 1})
    json.dumps(result)
    assert set(result) == {"loop", "n"}
