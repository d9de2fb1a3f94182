"""The built-in cache key :func:`legato.task_input_hash`: same task + same inputs = same key."""

from __future__ import annotations

import importlib.util
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from legato import task, task_input_hash
from legato.sdk.tasks import Task


@task
def add(x: int, y: int = 0) -> int:
    return x + y


@task
def multiply(x: int, y: int = 0) -> int:
    return x * y


def key(t: Task[..., Any], **parameters: Any) -> str:
    # task_input_hash only reads ``context.task``; the engine passes its TaskRunContext.
    return task_input_hash(SimpleNamespace(task=t), parameters)


class Opaque:
    """Not JSON-serializable; equal by value; its repr hides its value."""

    def __init__(self, value: int):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return "Opaque(...)"


@dataclass
class Point:
    x: int
    y: int


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_key_is_equal_for_equal_inputs() -> None:
    assert key(add, x=1, y=2) == key(add, x=1, y=2)


def test_key_ignores_parameter_order() -> None:
    assert key(add, x=1, y=2) == key(add, y=2, x=1)


def test_key_is_equal_for_equal_nested_inputs() -> None:
    a = {"rows": [1, 2, {"k": "v"}], "when": "2024-01-01"}
    b = {"when": "2024-01-01", "rows": [1, 2, {"k": "v"}]}
    assert key(add, x=a) == key(add, x=b)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"x": 1, "y": 2}, {"x": 2, "y": 1}),
        ({"x": 1, "y": 2}, {"x": 1, "y": 3}),
        ({"x": 1}, {"x": "1"}),
        ({"x": [1, 2]}, {"x": [2, 1]}),
        ({"x": 1}, {"x": 1, "y": 0}),
    ],
)
def test_key_differs_for_different_inputs(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert key(add, **first) != key(add, **second)


def test_key_differs_between_tasks() -> None:
    assert key(add, x=1, y=2) != key(multiply, x=1, y=2)


def test_key_starts_with_task_name() -> None:
    assert key(add, x=1).startswith("add-")


def test_key_differs_when_task_source_differs(tmp_path: Path) -> None:
    """The same file, edited between two runs: same task name, same inputs, new body."""
    body = """
        from legato import task

        @task
        def scale(x):
            return x * {factor}
    """
    path = tmp_path / "cachemod.py"
    path.write_text(textwrap.dedent(body.format(factor=2)))
    old = load_module(path, "cachemod").scale
    old_key = key(old, x=5)
    path.write_text(textwrap.dedent(body.format(factor=300)))  # another size: linecache sees it
    new = load_module(path, "cachemod").scale
    assert old.task_key == new.task_key
    assert old.name == new.name
    assert key(new, x=5) != old_key


def test_key_is_equal_when_task_source_is_the_same(tmp_path: Path) -> None:
    source = "from legato import task\n\n@task\ndef scale(x):\n    return x * 2\n"
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "samemod.py").write_text(source)
    one = load_module(tmp_path / "a" / "samemod.py", "samemod").scale
    two = load_module(tmp_path / "b" / "samemod.py", "samemod").scale
    assert key(one, x=5) == key(two, x=5)


def test_key_works_for_unjsonable_inputs() -> None:
    value = {"when": datetime(2024, 1, 2, tzinfo=UTC), "items": {3, 1, 2}, "p": Point(1, 2)}
    assert isinstance(key(add, x=value), str)
    assert key(add, x=value) == key(add, x=dict(value))


def test_key_is_equal_for_equal_unjsonable_inputs() -> None:
    assert key(add, x=Point(1, 2)) == key(add, x=Point(1, 2))
    assert key(add, x=Opaque(1)) == key(add, x=Opaque(1))


def test_key_differs_for_different_unjsonable_inputs() -> None:
    assert key(add, x=Point(1, 2)) != key(add, x=Point(2, 1))
    assert key(add, x=datetime(2024, 1, 1)) != key(add, x=datetime(2024, 1, 2))


def test_key_differs_for_unjsonable_inputs_with_the_same_repr() -> None:
    """The docstring promises pickled bytes for what JSON cannot hold; a repr is not enough
    (truncated reprs of arrays or frames would make different inputs share a cache entry)."""
    assert repr(Opaque(1)) == repr(Opaque(2))
    assert key(add, x=Opaque(1)) != key(add, x=Opaque(2))


def test_key_works_for_self_referencing_input() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert isinstance(key(add, x=loop), str)
