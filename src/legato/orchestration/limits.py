"""Concurrency limits: how many more runs may start under a limit that some already hold.

Three kinds of limit, one arithmetic: a work pool's and a deployment's limit count
their active flow runs (Pending, Running, Cancelling), a tag's limit counts the live
leases of task runs carrying the tag. What is active is the lease: a run that ends or
crashes gives its slot back by leaving those states (a lease by expiring or being
released).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def room(limit: int | None, active: int) -> int | None:
    """How many more may start under ``limit`` with ``active`` holding slots (never
    below 0); None when there is no limit."""
    return None if limit is None else max(0, limit - active)


def rooms(limits: Mapping[str, int], active: Mapping[str, int]) -> dict[str, int]:
    """:func:`room` of each limited key (a deployment id), counting ``active`` (a key
    missing from it holds nothing)."""
    return {key: max(0, limit - active.get(key, 0)) for key, limit in limits.items()}


def blocked_tags(
    limits: Mapping[str, int], active: Mapping[str, int], held: Collection[str]
) -> list[str]:
    """The limited tags (sorted) that have no slot for a task run holding ``held``
    already: a slot it holds is its own (asking again renews it), any other needs room."""
    return [tag for tag in sorted(limits) if tag not in held and active.get(tag, 0) >= limits[tag]]
