"""What a worker gets for each run it claims."""

from __future__ import annotations

from pydantic import Field

from legato.schemas.runs import FlowRunRecord


class ClaimedFlowRun(FlowRunRecord):
    """A claimed run and the token of this attempt (see :mod:`legato.store.run_tokens`).

    Only the claimer ever sees the token: the worker hands it to the run's process,
    which proves with it that the run is still its own (and, against a server with
    API keys, uses it as its only credential). Never shown in a repr or a log."""

    token: str = Field(repr=False)
