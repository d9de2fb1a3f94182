"""Automations: create (or update), list, show, pause, resume, delete, and their firings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from legato.schemas.automations import AutomationRecord, AutomationSpec, FiringRecord
from legato.server.dependencies import StoreDep
from legato.store.automations import AutomationExists

router = APIRouter(tags=["automations"])

Reference = Annotated[
    str,
    Path(
        min_length=1,
        max_length=255,
        description="The automation's name (which may hold '/') or id.",
    ),
]


@router.post("/automations", status_code=201)
def create_automation(
    store: StoreDep,
    spec: AutomationSpec,
    update: Annotated[
        bool, Query(description="Update the automation of that name if there is one.")
    ] = False,
) -> AutomationRecord:
    """Store an automation. Its trigger is checked first: one that would match every
    event, or an automation that would fire itself again and again, is refused (422).
    Updating keeps what its unchanged triggers have counted."""
    try:
        record, _ = store.automations.save(spec, replace=update)
    except AutomationExists as exc:
        raise HTTPException(409, detail=str(exc)) from None
    store.events.poke()
    return record


@router.get("/automations")
def read_automations(store: StoreDep) -> list[AutomationRecord]:
    return store.automations.read_all()


@router.get("/automations/{reference:path}/firings")
def read_firings(
    store: StoreDep,
    reference: Reference,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> list[FiringRecord]:
    """The newest firings, each with what its actions did (status, attempts, error,
    result: e.g. the id of the run it made)."""
    return store.automations.firings(reference, limit=limit)


@router.get("/automations/{reference:path}")
def read_automation(store: StoreDep, reference: Reference) -> AutomationRecord:
    return store.automations.read(reference)


@router.post("/automations/{reference:path}/pause")
def pause_automation(store: StoreDep, reference: Reference) -> AutomationRecord:
    """It stops evaluating; what it counted is forgotten (a resume starts afresh)."""
    return store.automations.set_enabled(reference, False)


@router.post("/automations/{reference:path}/resume")
def resume_automation(store: StoreDep, reference: Reference) -> AutomationRecord:
    record = store.automations.set_enabled(reference, True)
    store.events.poke()
    return record


@router.delete("/automations/{reference:path}", status_code=204)
def delete_automation(store: StoreDep, reference: Reference) -> None:
    store.automations.delete(reference)
