"""What routes receive by injection: the store the app was built with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from legato.store import Store

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""Run ids are UUID-shaped (see :mod:`legato.ids`); anything else is answered 422."""


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]
FlowRunId = Annotated[str, Path(pattern=UUID_PATTERN, description="A flow run id (UUID).")]
TaskRunId = Annotated[str, Path(pattern=UUID_PATTERN, description="A task run id (UUID).")]
