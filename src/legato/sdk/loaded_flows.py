"""The flows this process has defined or called, found again by their entrypoint.

``legato.retry_flow_run(id)`` runs a stored run again with its flow. Importing the
flow's file again to get it would run the file's top level a second time (a script
with no ``if __name__ == "__main__":`` guard, which may be what called the retry) and
cannot reach a flow defined inside a function. So every flow made (``@flow``,
``with_options``) or called here is remembered, and a retry in this process uses the
flow object it finds here; only a flow not found is imported from its entrypoint.

Flows are kept by their function's code object: a flow defined again and again (in a
loop, in a function called many times) takes one place, the one made or called last.
"""

from __future__ import annotations

import threading
from types import CodeType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legato.sdk.flows import Flow

_flows: dict[CodeType, Flow[Any, Any]] = {}
_lock = threading.Lock()


def remember_flow(flow: Flow[Any, Any]) -> None:
    """Keep ``flow`` as its function's latest flow (made or called last)."""
    code = getattr(flow.fn, "__code__", None)
    if not isinstance(code, CodeType):
        return  # a callable object: it has no entrypoint to look it up by anyway
    with _lock:
        if _flows.get(code) is not flow:
            _flows.pop(code, None)
            _flows[code] = flow


def find_loaded_flow(entrypoint: str, flow_name: str) -> Flow[Any, Any] | None:
    """The flow named ``flow_name`` at ``entrypoint`` that this process made or called
    last; None when it has none (then the caller imports it)."""
    with _lock:
        flows = list(_flows.values())
    for loaded in flows[::-1]:
        if loaded.name == flow_name and loaded.entrypoint == entrypoint:
            return loaded
    return None
