"""Concurrency limits (:mod:`legato.orchestration.limits`): room under a limit, per key, and
the tags a task run finds full."""

from __future__ import annotations

import pytest

from legato.orchestration.limits import blocked_tags, room, rooms


@pytest.mark.parametrize(
    ("limit", "active", "expected"),
    [
        (None, 0, None),
        (None, 1000, None),
        (3, 0, 3),
        (3, 2, 1),
        (3, 3, 0),
        (3, 5, 0),  # the limit was lowered below what runs: no room, never negative
        (0, 0, 0),
    ],
)
def test_room_table(limit: int | None, active: int, expected: int | None) -> None:
    assert room(limit, active) == expected


@pytest.mark.parametrize(
    ("limits", "active", "expected"),
    [
        ({}, {"d": 4}, {}),
        ({"d": 2}, {}, {"d": 2}),
        ({"d": 2, "e": 1}, {"d": 1, "e": 1}, {"d": 1, "e": 0}),
        ({"d": 1}, {"d": 3, "x": 9}, {"d": 0}),
    ],
)
def test_rooms_table(
    limits: dict[str, int], active: dict[str, int], expected: dict[str, int]
) -> None:
    assert rooms(limits, active) == expected


@pytest.mark.parametrize(
    ("limits", "active", "held", "expected"),
    [
        ({"db": 1}, {}, set(), []),
        ({"db": 1}, {"db": 1}, set(), ["db"]),
        ({"db": 1}, {"db": 1}, {"db"}, []),  # its own slot: asking again renews it
        ({"db": 2, "api": 1}, {"db": 1, "api": 1}, set(), ["api"]),
        ({"db": 0, "api": 0}, {}, set(), ["api", "db"]),  # sorted
        ({"db": 3}, {"db": 5}, set(), ["db"]),
    ],
)
def test_blocked_tags_table(
    limits: dict[str, int], active: dict[str, int], held: set[str], expected: list[str]
) -> None:
    assert blocked_tags(limits, active, held) == expected
