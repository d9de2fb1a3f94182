"""Values rendered from an event: the parameters of a triggered run, a webhook's body,
a notification's text.

Templates are Jinja2 in its immutable sandbox (no attribute of Python's internals, no
changing what they read). A string that is one expression and nothing else
(``"{{ event.payload.count }}"``) gives that expression's value with its type - a
number stays a number, a list a list - so parameters reach a flow as the flow declares
them; any other string renders to text. Dicts and lists are rendered value by value.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expression>.*?)\}\}\s*$", re.DOTALL)
MAX_RENDERED = 256 * 1024


class TemplateProblem(ValueError):
    """A template that does not parse, or fails on the values it was given."""


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    environment.filters["tojson"] = lambda value: json.dumps(value)
    return environment


def check_template(value: Any, where: str = "template") -> None:
    """Raise TemplateProblem naming the first string in ``value`` that does not parse."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return
        try:
            _environment().parse(value)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            at = f" (line {line})" if line else ""
            raise TemplateProblem(f"{where}{at}: {exc}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_template(item, f"{where}.{key}")
    elif isinstance(value, list):
        for number, item in enumerate(value):
            check_template(item, f"{where}[{number}]")


def render(value: Any, context: dict[str, Any], where: str = "template") -> Any:
    """``value`` with every template in it rendered against ``context``."""
    if isinstance(value, dict):
        return {key: render(item, context, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context, f"{where}[{n}]") for n, item in enumerate(value)]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    try:
        whole = ONE_EXPRESSION.match(value)
        if (
            whole
            and "{{" not in whole.group("expression")
            and "}}" not in whole.group("expression")
        ):
            result = _environment().compile_expression(
                whole.group("expression"), undefined_to_none=False
            )(**context)
            return _plain(result, where)
        text = _environment().from_string(value).render(**context)
    except TemplateProblem:
        raise
    except TemplateError as exc:
        raise TemplateProblem(f"{where}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateProblem(f"{where}: {type(exc).__name__}: {exc}") from None
    if len(text) > MAX_RENDERED:
        raise TemplateProblem(f"{where} rendered to {len(text)} characters; at most {MAX_RENDERED}")
    return text


def _plain(value: Any, where: str) -> Any:
    """A rendered expression's value as JSON data (TemplateProblem if it is not)."""
    if isinstance(value, Undefined):
        try:
            str(value)
        except UndefinedError as exc:
            raise TemplateProblem(f"{where}: {exc}") from None
        raise TemplateProblem(f"{where}: the expression has no value")
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        raise TemplateProblem(
            f"{where}: the expression gave a {type(value).__name__}, which is not JSON data"
        ) from None
    if len(text) > MAX_RENDERED:
        raise TemplateProblem(f"{where} rendered to {len(text)} characters; at most {MAX_RENDERED}")
    return json.loads(text)
