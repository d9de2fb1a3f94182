"""Flows: every flow that has run, by name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from legato.schemas import FlowRecord
from legato.server.api.flow_runs import MAX_OFFSET, NO_NUL_PATTERN
from legato.server.dependencies import StoreDep

router = APIRouter(prefix="/flows", tags=["flows"])


@router.get("")
def list_flows(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[FlowRecord]:
    """Flows in name order."""
    return store.read_flows(limit=limit, offset=offset)


@router.get("/{name}")
def read_flow(
    store: StoreDep,
    name: Annotated[str, Path(max_length=255, pattern=NO_NUL_PATTERN)],
) -> FlowRecord:
    """One flow by its name (its runs: ``GET /api/flow_runs?flow_name=...``)."""
    return store.read_flow(name)
