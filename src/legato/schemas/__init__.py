"""Records shared by the store, the orchestrators and the CLI: what a reader gets back.

These are the documented JSON shapes of ``legato runs ... --json`` and of the read
API (``legato.get_client()``). Timestamps are timezone-aware UTC datetimes;
fields are only ever added, never renamed.

The records that travel between a running flow and the store are in their own modules:
:mod:`legato.schemas.task_runs` (a task run's columns, the one list of them),
:mod:`legato.schemas.flow_runs` (a flow run's) and :mod:`legato.schemas.fields` (the
field types both validate with).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legato.schemas.api_keys import ApiKeyRecord
    from legato.schemas.runs import (
        NEXT_CURSOR_HEADER,
        FlowRecord,
        FlowRunFilter,
        FlowRunOrder,
        FlowRunPage,
        FlowRunRecord,
        ListsFlowRuns,
        LogPage,
        LogRecord,
        ReadsLogs,
        StateRecord,
        TaskRunCount,
        TaskRunInput,
        TaskRunPage,
        TaskRunRecord,
        TaskRunSummary,
    )


# Loaded on first use: a flow's process (``import legato``, the engine) reads no record
# of these, and building pydantic models costs a cold start a tenth of a second.
_HOMES = {"ApiKeyRecord": "legato.schemas.api_keys"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in __all__:
        module = importlib.import_module(_HOMES.get(name, "legato.schemas.runs"))
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'legato.schemas' has no attribute {name!r}")


__all__ = [
    "NEXT_CURSOR_HEADER",
    "ApiKeyRecord",
    "FlowRecord",
    "FlowRunFilter",
    "FlowRunOrder",
    "FlowRunPage",
    "FlowRunRecord",
    "ListsFlowRuns",
    "LogPage",
    "LogRecord",
    "ReadsLogs",
    "StateRecord",
    "TaskRunCount",
    "TaskRunInput",
    "TaskRunPage",
    "TaskRunRecord",
    "TaskRunSummary",
]
