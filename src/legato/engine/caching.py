"""Cache keys: which earlier result a task run may reuse instead of running.

``cache_key_fn(context, parameters) -> str | None`` decides; ``None`` means "do not
cache this call". :func:`task_input_hash` is the built-in policy: the task's source
code and its inputs, so editing the task or changing an input is a miss.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from typing import Any


def _stable_bytes(value: Any) -> bytes:
    try:
        return json.dumps(value, sort_keys=True).encode()
    except (TypeError, ValueError):
        import cloudpickle

        return bytes(cloudpickle.dumps(value))


_source_hashes: dict[Callable[..., Any], str] = {}


def source_hash(fn: Callable[..., Any]) -> str:
    """A hash of a function's source (its bytecode when the source is not available)."""
    cached = _source_hashes.get(fn)
    if cached is None:
        try:
            text = inspect.getsource(fn).encode()
        except (OSError, TypeError):
            text = getattr(fn, "__code__", fn).__repr__().encode()
            code = getattr(fn, "__code__", None)
            if code is not None:
                text += code.co_code
        cached = hashlib.sha256(text).hexdigest()[:16]
        _source_hashes[fn] = cached
    return cached


def task_input_hash(context: Any, parameters: dict[str, Any]) -> str:
    """Built-in cache key: task name + task source + inputs.

    Use as ``@task(cache_key_fn=task_input_hash)``. Inputs are hashed as JSON where
    they can be, by their pickled bytes otherwise (never by ``repr``, which is
    shortened for large values and may hold memory addresses).
    """
    task = context.task
    digest = hashlib.sha256()
    digest.update(getattr(task.fn, "__qualname__", task.name).encode())
    digest.update(source_hash(task.fn).encode())
    digest.update(_stable_bytes(parameters))
    return f"{task.name}-{digest.hexdigest()[:32]}"
