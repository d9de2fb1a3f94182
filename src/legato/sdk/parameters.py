"""Flow parameters: checked against the function's type hints (pydantic) before the body runs.

A wrong value fails the flow run at once, with a message naming the parameter,
instead of failing somewhere deep in the body.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from legato.errors import ParameterValidationError


class ParameterModel:
    """A pydantic model built once per flow from its signature."""

    def __init__(self, fn: Callable[..., Any], flow_name: str):
        self.flow_name = flow_name
        self.signature = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception:
            hints = {}
        fields: dict[str, Any] = {}
        self.varargs: str | None = None
        self.varkw: str | None = None
        for name, param in self.signature.parameters.items():
            annotation = hints.get(name, Any)
            if param.kind is param.VAR_POSITIONAL:
                self.varargs = name
                fields[name] = (tuple[annotation, ...], ())  # type: ignore[valid-type]
                continue
            if param.kind is param.VAR_KEYWORD:
                self.varkw = name
                fields[name] = (dict[str, annotation], {})  # type: ignore[valid-type]
                continue
            default = ... if param.default is param.empty else param.default
            fields[name] = (annotation, default)
        self.model: type[BaseModel] = create_model(
            f"{flow_name}_parameters",
            __config__=ConfigDict(arbitrary_types_allowed=True, extra="forbid"),
            **fields,
        )

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ParameterValidationError(
                f"flow {self.flow_name!r} was called with parameters that do not fit its "
                f"signature {self.signature}: {exc}"
            ) from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def validate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The parameters as the body will receive them (coerced by their type hints)."""
        raw = self.bind(args, kwargs)
        try:
            model = self.model.model_validate(raw)
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False):
                where = ".".join(str(part) for part in error["loc"]) or "parameters"
                got = error.get("input")
                shown = repr(got)
                if len(shown) > 80:
                    shown = shown[:77] + "..."
                problems.append(f"parameter {where!r}: {error['msg']} (got {shown})")
            raise ParameterValidationError(
                f"flow {self.flow_name!r} cannot run with these parameters: " + "; ".join(problems)
            ) from None
        return {name: getattr(model, name) for name in raw}

    def to_call(self, parameters: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Split validated parameters back into positional and keyword arguments."""
        bound = inspect.BoundArguments(self.signature, dict(parameters))
        return bound.args, bound.kwargs


def jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON-compatible values for storage (repr() for what JSON cannot hold)."""
    from pydantic_core import to_jsonable_python

    try:
        value = to_jsonable_python(parameters, fallback=repr)
        json.dumps(value)
        return value  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        return {name: repr(value) for name, value in parameters.items()}
