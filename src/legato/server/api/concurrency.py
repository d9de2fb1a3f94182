"""Tag concurrency limits, and the leases task runs take on their slots.

``PUT /concurrency_limits`` creates or changes a limit (``limit`` at least 1: a
zero would block every tagged task forever; delete the limit instead).
``GET /concurrency_limits/tags`` is the one read a flow run makes before its
tagged tasks; only tasks carrying one of those tags call the lease endpoints.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from legato.schemas.concurrency import (
    NO_NUL,
    ConcurrencyLimitRecord,
    ConcurrencyLimitSpec,
    LeaseAnswer,
    LeaseRelease,
    LeaseRenewal,
    LeaseRequest,
)
from legato.server.dependencies import StoreDep

router = APIRouter(prefix="/concurrency_limits", tags=["concurrency limits"])

TagPath = Annotated[
    str, Path(min_length=1, max_length=255, pattern=NO_NUL, description="A task tag.")
]


class Released(BaseModel):
    released: int
    """Leases given back."""


@router.get("")
def read_concurrency_limits(store: StoreDep) -> list[ConcurrencyLimitRecord]:
    """Every tag limit, with the task runs holding its slots now."""
    return store.read_concurrency_limits()


@router.put("")
def set_concurrency_limit(store: StoreDep, spec: ConcurrencyLimitSpec) -> ConcurrencyLimitRecord:
    """Create the limit of ``tag`` or change it; slots already held are kept."""
    return store.set_concurrency_limit(spec.tag, spec.limit)


@router.get("/tags")
def read_limited_tags(store: StoreDep) -> list[str]:
    return store.read_limited_tags()


@router.post("/leases")
def acquire_slots(store: StoreDep, request: LeaseRequest) -> LeaseAnswer:
    """One slot of each limited tag for the task run until ``ttl`` seconds from now, or
    none (``blocked`` names the full tags). Asking again for held slots renews them."""
    return store.acquire_concurrency_slots(
        request.tags, request.task_run_id, request.flow_run_id, request.holder, request.ttl
    )


@router.post("/leases/renew")
def renew_slots(store: StoreDep, request: LeaseRenewal) -> list[str]:
    """The task runs whose leases were still live, now extended by ``ttl``."""
    return store.renew_concurrency_slots(request.task_run_ids, request.ttl)


@router.post("/leases/release")
def release_slots(store: StoreDep, request: LeaseRelease) -> Released:
    return Released(released=store.release_concurrency_slots(request.task_run_ids))


@router.get("/{tag:path}")
def read_concurrency_limit(store: StoreDep, tag: TagPath) -> ConcurrencyLimitRecord:
    return store.read_concurrency_limit(tag)


@router.delete("/{tag:path}", status_code=204)
def delete_concurrency_limit(store: StoreDep, tag: TagPath) -> None:
    """Remove the limit (and its leases): tasks with the tag run freely again."""
    store.delete_concurrency_limit(tag)
