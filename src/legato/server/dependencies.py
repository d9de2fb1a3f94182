"""What routes receive by injection: the store the app was built with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from legato.schemas.fields import UUID_PATTERN as UUID_PATTERN
from legato.states import STATE_NAMES, StateType
from legato.store import Store


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


STATE_FILTER_PATTERN = (
    "^(?:"
    + "|".join(_any_case(w) for w in sorted({*(t.value for t in StateType), *STATE_NAMES}))
    + ")$"
)
"""A state type or name in any case, spelled out so the OpenAPI schema says exactly what
is accepted (JSON Schema patterns have no case-insensitive flag)."""


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]
FlowRunId = Annotated[str, Path(pattern=UUID_PATTERN, description="A flow run id (UUID).")]
TaskRunId = Annotated[str, Path(pattern=UUID_PATTERN, description="A task run id (UUID).")]
