"""``GET /api/health``: the server is up and answering.

It runs on the event loop (``async``, no I/O, the version read once), so it answers
while every worker thread is busy with other requests: a readiness probe sees a
server that is slow, not one that is down.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]
    version: str


@router.get("/health")
async def health() -> Health:
    from legato.server.app import server_version

    return Health(status="ok", version=server_version())
