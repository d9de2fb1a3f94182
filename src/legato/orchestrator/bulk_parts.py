"""``POST /api/bulk`` bodies that a server takes: valid UTF-8, and under its body limit.

The client's sender encodes each batch once. These pure functions handle the two
ways a body could be refused, so that neither costs a run its records:

- text that is not valid Unicode (a lone surrogate, from a file name that is not
  UTF-8) is replaced by U+FFFD, only when encoding finds it;
- a body over the server's limit is split: task runs (each with its states and
  edges) and log lines are spread over several bodies, each its own batch; a single
  text too large on its own (a log line of megabytes, a huge state message) is
  truncated, saying so in the text: ``... [truncated: 12,345,678 characters]``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from legato.ids import new_id
from legato.text import clean_text

Payload = dict[str, Any]
Part = tuple[Payload, bytes]

_LISTS = ("task_runs", "updates", "states", "inputs", "logs")
_TRUNCATED = "... [truncated: {:,} characters]"
_NOTE = re.compile(r"\.\.\. \[truncated: ([0-9,]+) characters\]\Z")


def encode(payload: Payload) -> bytes:
    """The JSON body of ``payload`` (encoded once: a resend sends the same bytes)."""
    text = json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
    )
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: in JSON text, only ever inside a string
        return clean_text(text).encode()


def encode_batch(payload: Payload) -> bytes:
    """:func:`encode` for a batch the engine built (strings, numbers, None, lists and
    dicts of them), written by pydantic-core's serializer: about eight times quicker
    than the json module for a batch of a thousand task runs, and the sender holds the
    interpreter lock meanwhile (the json module's C encoder does not let it go either:
    13 ms for such a batch, during which an async flow's event loop stood still).

    What the json module would refuse or must clean goes through :func:`encode`, which
    does exactly that: a text that is not valid Unicode (pydantic-core raises), and a
    NaN or infinite number (pydantic-core writes them; the text ``NaN`` or
    ``Infinity`` anywhere in the body sends it down that path)."""
    try:
        body = to_json(payload)
    except PydanticSerializationError:
        return encode(payload)
    if b"NaN" in body or b"Infinity" in body:
        return encode(payload)
    return body


def fit(payload: Payload, limit: int, body: bytes | None = None) -> list[Part]:
    """``payload`` as bodies of at most ``limit`` bytes, in order (one, if it fits).

    Each part is a batch of its own (a new batch id) holding whole task runs: a
    state travels with its task run's row, as the server requires."""
    body = encode_batch(payload) if body is None else body
    if len(body) <= limit:
        return [(payload, body)]
    halves = split(payload)
    if halves is None:
        return [_shortened(payload, limit, body)]
    return [part for half in halves for part in fit(half, limit)]


def _units(payload: Payload) -> list[Payload]:
    """The smallest payloads ``payload`` can be cut into: a task run with its states and
    edges; an edge or state of no task run here; a log line."""
    by_run: dict[str, Payload] = {}
    units: list[Payload] = []
    for key in ("task_runs", "updates"):
        for row in payload.get(key, ()):
            run_unit: Payload = {key: [row]}
            by_run[row["id"]] = run_unit
            units.append(run_unit)
    for key in ("states", "inputs"):
        for item in payload.get(key, ()):
            found = by_run.get(item["task_run_id"])
            if found is None:
                units.append({key: [item]})
            else:
                found.setdefault(key, []).append(item)
    units.extend({"logs": [line]} for line in payload.get("logs", ()))
    return units


def _joined(units: list[Payload]) -> Payload:
    joined: Payload = {"batch_id": new_id(), **{key: [] for key in _LISTS}}
    for unit in units:
        for key, items in unit.items():
            joined[key].extend(items)
    return joined


def split(payload: Payload) -> tuple[Payload, Payload] | None:
    """``payload`` in two halves (each a batch of its own), or None for one record."""
    units = _units(payload)
    if len(units) < 2:
        return None
    middle = len(units) // 2
    return _joined(units[:middle]), _joined(units[middle:])


def _texts(payload: Payload) -> list[tuple[dict[str, Any], str]]:
    """The free-text fields of a payload: (the dict holding it, its key)."""
    found: list[tuple[dict[str, Any], str]] = []
    for line in payload.get("logs", ()):
        found.append((line, "message"))
    for key in ("task_runs", "updates"):
        found.extend((row, "state_message") for row in payload.get(key, ()))
    found.extend((state, "message") for state in payload.get("states", ()))
    return [(holder, key) for holder, key in found if isinstance(holder.get(key), str)]


def truncated(text: str, keep: int) -> str:
    """The first ``keep`` characters of ``text``, saying how many were cut (counted
    from the original, if ``text`` was truncated before)."""
    kept, cut = _split_note(text)
    keep = min(keep, len(kept))
    return kept[:keep] + _TRUNCATED.format(len(kept) - keep + cut)


def _split_note(text: str) -> tuple[str, int]:
    """``text`` without a truncation note, and the characters the note says were cut."""
    found = _NOTE.search(text)
    if found is None:
        return text, 0
    return text[: found.start()], int(found.group(1).replace(",", ""))


def _shortened(payload: Payload, limit: int, body: bytes) -> Part:
    """One record too large on its own: truncate its longest texts until it fits (or
    no text is left to cut: then it is sent as it is, and the server's answer says why)."""
    texts = _texts(payload)
    while len(body) > limit and texts:
        holder, key = max(texts, key=lambda t: len(_split_note(t[0][t[1]])[0]))
        kept = len(_split_note(holder[key])[0])
        if kept == 0:
            break
        excess = len(body) - limit + 64  # a margin for the note
        # Each character is at least one byte: cutting the excess from this text fits
        # the body, if the text is that long; else halve it and look again (another
        # text, such as the same message in the task run's row and its state, may
        # hold the rest).
        holder[key] = truncated(holder[key], kept - excess if kept > excess else kept // 2)
        body = encode_batch(payload)
    return payload, body


def describe(payload: Payload) -> tuple[str | None, str]:
    """The flow run of a one-record payload (None: not known) and how people name it."""
    for key in ("task_runs", "updates"):
        for row in payload.get(key, ()):
            return row.get("flow_run_id"), f"task run {row.get('id')} ({row.get('name')!r})"
    for line in payload.get("logs", ()):
        text = str(line.get("message", ""))
        shown = text if len(text) <= 60 else text[:57] + "..."
        return line.get("flow_run_id"), f"a log line ({shown!r})"
    for key in ("states", "inputs"):
        for item in payload.get(key, ()):
            return None, f"a {key[:-1]} of task run {item.get('task_run_id')}"
    return None, "an empty batch"
