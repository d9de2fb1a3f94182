"""``GET /api/health``: the server is up and answering."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]
    version: str


@router.get("/health")
def health() -> Health:
    from legato.server.app import server_version

    return Health(status="ok", version=server_version())
