"""A deployment's parameter schema, checked when stored and used without risk to the server.

The schema comes from whoever can create deployments, and the server checks every run's
parameters against it, so nothing in it may make the server do unbounded or outside
work. Stored schemas are checked by :func:`check_schema` (each problem is named:
a bad keyword value, a reference that cannot be resolved, an invalid pattern, a schema
too large or too deep); parameters are checked by :func:`parameter_errors`, whose
validator:

- resolves only references inside the schema (and the JSON Schema meta-schemas legato
  ships with): a remote ``$ref`` is refused, never fetched;
- matches ``pattern`` and ``patternProperties`` with RE2 (google-re2), whose time is
  linear in the text: ``^(a+)+$`` cannot backtrack. Patterns use RE2's syntax, which
  is ECMA 262's without lookaround and backreferences; such a pattern is refused when
  the schema is stored;
- finds duplicates for ``uniqueItems`` by hashing, not by comparing every pair;
- stops after :data:`MAX_VALIDATION_STEPS` keyword evaluations (a schema that reuses
  one definition many times over could otherwise take exponential time).

``format`` stays an annotation, as jsonschema has it by default (``"format": "regex"``
compiles nothing), except in the schema itself: the patterns a schema holds are
compiled with RE2 when it is stored.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema
import re2
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from legato.errors import ParameterSchemaError

MAX_SCHEMA_BYTES = 256 * 1024
"""Largest parameter schema stored, as compact JSON (a flow with hundreds of parameters
and nested models stays far below it)."""
MAX_SCHEMA_DEPTH = 64
"""Deepest nesting of JSON objects and arrays in a schema."""
MAX_EXPANDED_SIZE = 20_000
"""Most subschemas a schema may have once its references are expanded (recursion, through
properties or items, counted once)."""
MAX_REFERENCE_DEPTH = 100
"""Longest chain of subschemas through references (Python's stack bounds validation)."""
MAX_VALIDATION_STEPS = 500_000
"""Most keyword evaluations spent checking one set of parameters."""
MAX_MESSAGE = 300


class _TooManySteps(Exception):
    pass


_steps: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "legato_schema_steps", default=None
)


def _refuse_remote(uri: str) -> Resource[Any]:
    raise ParameterSchemaError(
        f"the reference {uri!r} points outside the schema: legato does not fetch remote "
        "schemas; put the definition under $defs and refer to it as '#/$defs/NAME'"
    )


REGISTRY: Registry[Any] = Registry(retrieve=_refuse_remote)  # type: ignore[call-arg]
"""Local references only: every URI not inside the schema is refused."""


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else str(exc)
        raise ValueError(reason) from None


def _spend() -> None:
    budget = _steps.get()
    if budget is not None:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooManySteps


def _search(pattern: str, text: str) -> bool:
    _spend()  # patterns x keys can be many searches within one keyword
    try:
        compiled = _compiled(pattern)
    except ValueError as exc:
        raise ParameterSchemaError(_pattern_problem(pattern, str(exc))) from None
    return compiled.search(text) is not None


def _pattern_problem(pattern: str, reason: str) -> str:
    return (
        f"the pattern {_short(pattern)} is not a regular expression legato can match safely "
        f"({reason}); patterns use RE2 syntax: no lookahead, lookbehind or backreferences"
    )


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = _search(pattern, instance)
    except UnicodeEncodeError:
        yield ValidationError(f"{_short(instance)} is not valid text (it has lone surrogates)")
        return
    if not matched:
        yield ValidationError(f"{_short(instance)} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            try:
                matched = _search(pattern, key)
            except UnicodeEncodeError:
                yield ValidationError(f"the key {_short(key)} is not valid text")
                continue
            if matched:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _matches_any(patterns: Any, key: str) -> bool:
    try:
        return any(_search(pattern, key) for pattern in patterns or ())
    except UnicodeEncodeError:
        return False


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """jsonschema's, with RE2 (its own joins patternProperties into one Python regex)."""
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extras = [key for key in instance if key not in properties and not _matches_any(patterns, key)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        shown = ", ".join(repr(extra) for extra in sorted(extras, key=str))
        if patterns:
            yield ValidationError(
                f"{shown} do(es) not match any of the regexes: {', '.join(map(repr, patterns))}"
            )
        else:
            yield ValidationError(f"Additional properties are not allowed ({shown} unexpected)")


def _evaluated_keys(validator: Any, instance: Any, schema: Any) -> set[str]:
    """The keys of ``instance`` that ``schema`` evaluates (what unevaluatedProperties
    leaves out): jsonschema's ``find_evaluated_property_keys_by_schema``, with RE2."""
    if validator.is_type(schema, "boolean"):
        return set()
    keys: set[str] = set()
    for keyword in _REFERENCES:
        reference = schema.get(keyword)
        if reference is not None:
            resolved = validator._resolver.lookup(reference)
            evolved = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
            keys |= _evaluated_keys(evolved, instance, resolved.contents)
    properties = schema.get("properties")
    if validator.is_type(properties, "object"):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        subschema = schema.get(keyword)
        if subschema is not None:
            keys |= {
                key
                for key, value in instance.items()
                if next(validator.descend(value, subschema), None) is None
            }
    if "patternProperties" in schema:
        keys |= {key for key in instance if _matches_any(schema["patternProperties"], key)}
    for key, subschema in schema.get("dependentSchemas", {}).items():
        if key in instance:
            keys |= _evaluated_keys(validator, instance, subschema)
    for keyword in _IN_PLACE_LIST:
        for subschema in schema.get(keyword, []):
            if next(validator.descend(instance, subschema), None) is None:
                keys |= _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys |= _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys |= _evaluated_keys(validator, instance, schema["else"])
    return keys


def _unevaluated_properties(
    validator: Any, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    refused = [
        key
        for key in instance
        if key not in evaluated
        and next(validator.descend(instance[key], unevaluated, path=key, schema_path=key), None)
        is not None
    ]
    if refused:
        shown = ", ".join(repr(key) for key in sorted(refused, key=str))
        if unevaluated is False:
            yield ValidationError(f"Unevaluated properties are not allowed ({shown} unexpected)")
        else:
            yield ValidationError(
                f"Unevaluated properties are not valid under the given schema ({shown})"
            )


def _canonical(value: Any) -> Any:
    """A hashable form in which values equal under JSON Schema are equal (1 == 1.0, but
    True != 1, and objects compare by content)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, Mapping):
        return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("array", tuple(_canonical(item) for item in value))
    return ("other", repr(value))


def _unique_items(
    validator: Any, unique: bool, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for item in instance:
        key = _canonical(item)
        if key in seen:
            yield ValidationError(f"has non-unique elements ({_short(item)} is repeated)")
            return
        seen.add(key)


def _counted(keyword: Callable[..., Any]) -> Callable[..., Any]:
    def evaluate(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        _spend()
        return keyword(validator, value, instance, schema)

    return evaluate


_BASE: Any = jsonschema.Draft202012Validator
_KEYWORDS = {
    **_BASE.VALIDATORS,
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "unevaluatedProperties": _unevaluated_properties,
    "uniqueItems": _unique_items,
}
SafeValidator: Any = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    _BASE, {name: _counted(keyword) for name, keyword in _KEYWORDS.items()}
)
"""Draft 2020-12 with the changes above (local references are given at creation)."""


def _schema_format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("regex", raises=ValueError)
    def is_regex(value: object) -> bool:
        if isinstance(value, str):
            _compiled(value)
        return True

    return checker


_META_VALIDATOR: Any = _BASE(_BASE.META_SCHEMA, format_checker=_schema_format_checker())


# -- checking a schema -----------------------------------------------------------------


def _where(path: Any) -> str:
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in path]
    return "/" + "/".join(parts) if parts else "the top level"


def check_schema(schema: Mapping[str, Any]) -> None:
    """Refuse a schema legato cannot use safely, with a ParameterSchemaError naming the
    problem and where it is (a JSON pointer into the schema)."""
    try:
        text = json.dumps(schema, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterSchemaError(f"the parameter schema is not JSON: {exc}") from None
    if len(text) > MAX_SCHEMA_BYTES:
        raise ParameterSchemaError(
            f"the parameter schema is {len(text):,} bytes of JSON; at most "
            f"{MAX_SCHEMA_BYTES:,} are accepted"
        )
    _check_depth(schema)
    error = best_match(_META_VALIDATOR.iter_errors(schema))
    if error is not None:
        raise ParameterSchemaError(_meta_problem(error))
    _check_references(schema)


def _check_depth(schema: Any) -> None:
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise ParameterSchemaError(
                f"the parameter schema nests objects and arrays more than {MAX_SCHEMA_DEPTH} "
                "deep; use $defs and references for deep structures"
            )
        if isinstance(value, Mapping):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _meta_problem(error: ValidationError) -> str:
    where = _where(error.absolute_path)
    if error.validator == "format" and error.validator_value == "regex":
        reason = str(error.cause) if error.cause else "invalid"
        return f"the parameter schema has a bad pattern at {where}: " + _pattern_problem(
            str(error.instance), reason
        )
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return f"the parameter schema is not a valid JSON Schema (draft 2020-12) at {where}: {message}"


def _unresolvable(reference: str, where: str | None, exc: BaseException) -> str:
    at = f" at {where}" if where else ""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ParameterSchemaError):  # raised by _refuse_remote
            return f"the parameter schema's reference{at}: {cause}"
        cause = cause.__cause__ or cause.__context__
    return (
        f"the parameter schema's reference {reference!r}{at} cannot be resolved: "
        "nothing in the schema has that address (references look like '#/$defs/NAME')"
    )


# Keywords whose value is a subschema, a list of subschemas or a map of subschemas;
# "in place" ones apply to the same instance, the others to a part of it.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LIST = ("allOf", "anyOf", "oneOf")
_IN_PLACE_MAP = ("dependentSchemas",)
_PART_ONE = (
    "additionalProperties",
    "items",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_PART_LIST = ("prefixItems",)
_PART_MAP = ("properties", "patternProperties")
_REFERENCES = ("$ref", "$dynamicRef")


def _children(
    node: Mapping[str, Any], one: tuple[str, ...], many: tuple[str, ...], maps: tuple[str, ...]
) -> Iterator[Any]:
    for keyword in one:
        if keyword in node:
            yield node[keyword]
    for keyword in many:
        yield from node.get(keyword, ())
    for keyword in maps:
        yield from node.get(keyword, {}).values()


class _Walk:
    """References resolved from each subschema, and the schema's size once expanded."""

    def __init__(self, schema: Mapping[str, Any]):
        self.root = schema
        self.resolver = REGISTRY.resolver_with_root(DRAFT202012.create_resource(schema))
        self.size: dict[int, int] = {}
        self.open: dict[int, int] = {}  # subschemas being expanded: parts gone into then

    def resolver_at(self, node: Mapping[str, Any], resolver: Any) -> Any:
        if isinstance(node.get("$id"), str):
            return resolver.in_subresource(DRAFT202012.create_resource(node))
        return resolver

    def targets(
        self, node: Mapping[str, Any], resolver: Any, where: str
    ) -> Iterator[tuple[Any, Any]]:
        for keyword in _REFERENCES:
            reference = node.get(keyword)
            if not isinstance(reference, str):
                continue
            try:
                resolved = resolver.lookup(reference)
            except Unresolvable as exc:
                raise ParameterSchemaError(_unresolvable(reference, where, exc)) from None
            yield resolved.contents, resolved.resolver

    def every_reference(self) -> None:
        """Resolve each reference of every subschema, used or not."""
        stack: list[tuple[Any, Any, tuple[Any, ...]]] = [(self.root, self.resolver, ())]
        while stack:
            node, resolver, path = stack.pop()
            if not isinstance(node, Mapping):
                continue
            resolver = self.resolver_at(node, resolver)
            for _ in self.targets(node, resolver, _where(path)):
                pass
            for keyword, value in node.items():
                if keyword in (*_IN_PLACE_ONE, *_PART_ONE):
                    stack.append((value, resolver, (*path, keyword)))
                elif keyword in (*_IN_PLACE_LIST, *_PART_LIST) and isinstance(value, list):
                    stack.extend(
                        (item, resolver, (*path, keyword, index))
                        for index, item in enumerate(value)
                    )
                elif keyword in (*_IN_PLACE_MAP, *_PART_MAP, "$defs", "definitions") and isinstance(
                    value, Mapping
                ):
                    stack.extend(
                        (item, resolver, (*path, keyword, name)) for name, item in value.items()
                    )

    def expand(self, node: Any, resolver: Any, depth: int, parts: int) -> int:
        """How many subschemas checking one value may visit from ``node`` (memoized)."""
        if not isinstance(node, Mapping):
            return 1
        key = id(node)
        if key in self.open:
            if self.open[key] == parts:  # back here without going into a part
                raise ParameterSchemaError(
                    "the parameter schema refers to itself without going into a property or "
                    "an item (a reference cycle through $ref, allOf, anyOf, oneOf, not or "
                    "if/then/else): checking any value would never end"
                )
            return 1  # a recursive type: bounded by the value's own depth
        if key in self.size:
            return self.size[key]
        if depth > MAX_REFERENCE_DEPTH:
            raise ParameterSchemaError(
                f"the parameter schema's subschemas nest more than {MAX_REFERENCE_DEPTH} deep "
                "through references"
            )
        resolver = self.resolver_at(node, resolver)
        self.open[key] = parts
        total = 1
        try:
            for target, target_resolver in self.targets(node, resolver, "a reference"):
                total += self.expand(target, target_resolver, depth + 1, parts)
            for child in _children(node, _IN_PLACE_ONE, _IN_PLACE_LIST, _IN_PLACE_MAP):
                total += self.expand(child, resolver, depth + 1, parts)
            for child in _children(node, _PART_ONE, _PART_LIST, _PART_MAP):
                total += self.expand(child, resolver, depth + 1, parts + 1)
                if total > MAX_EXPANDED_SIZE:
                    break
        finally:
            del self.open[key]
        if total > MAX_EXPANDED_SIZE:
            raise ParameterSchemaError(
                f"the parameter schema expands to more than {MAX_EXPANDED_SIZE:,} subschemas "
                "once its references are followed (definitions used many times over); "
                "simplify it"
            )
        self.size[key] = total
        return total


def _check_references(schema: Mapping[str, Any]) -> None:
    walk = _Walk(schema)
    walk.every_reference()
    walk.expand(schema, walk.resolver, 0, 0)


# -- checking parameters against a schema ---------------------------------------------


def parameter_errors(
    schema: Mapping[str, Any], parameters: Any, *, limit: int = 50
) -> list[ValidationError]:
    """Up to ``limit`` ways ``parameters`` break ``schema``, in a stable order.

    Raises ParameterSchemaError when the schema itself cannot be used (stored before
    these checks existed) or checking would take more than :data:`MAX_VALIDATION_STEPS`.
    """
    validator = SafeValidator(schema, registry=REGISTRY)
    token = _steps.set([MAX_VALIDATION_STEPS])
    try:
        found = list(itertools.islice(validator.iter_errors(parameters), limit))
    except _TooManySteps:
        raise ParameterSchemaError(
            f"checking these parameters against the parameter schema took more than "
            f"{MAX_VALIDATION_STEPS:,} steps; send smaller parameters or simplify the schema"
        ) from None
    except Unresolvable as exc:
        reference = str(getattr(exc, "ref", "?"))
        raise ParameterSchemaError(_unresolvable(reference, None, exc)) from None
    except RecursionError:
        raise ParameterSchemaError(
            "the parameters nest too deep to be checked against the parameter schema"
        ) from None
    except ParameterSchemaError:
        raise
    except Exception as exc:  # a schema stored before it was checked: keywords misused
        raise ParameterSchemaError(
            f"the parameter schema cannot be used ({type(exc).__name__}: {_short(str(exc))})"
        ) from None
    finally:
        _steps.reset(token)
    return sorted(found, key=lambda problem: [str(part) for part in problem.path])


def warm_up() -> None:
    """Use every part once (the meta-schema's validators, references, RE2), so that a
    server's first deployment request does not pay for it."""
    schema = {
        "type": "object",
        "properties": {"name": {"$ref": "#/$defs/Name"}, "tags": {"uniqueItems": True}},
        "$defs": {"Name": {"type": "string", "pattern": "^[a-z]+$"}},
    }
    check_schema(schema)
    parameter_errors(schema, {"name": "x", "tags": ["a"]})
