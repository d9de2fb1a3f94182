"""Run ids (:func:`legato.ids.new_id`): UUIDv7 strings that sort by creation time."""

from __future__ import annotations

import time
import uuid

from legato.ids import new_id


def test_new_id_is_a_uuid_v7_string() -> None:
    value = new_id()
    assert isinstance(value, str)
    assert len(value) == 36
    parsed = uuid.UUID(value)
    assert str(parsed) == value  # canonical lower-case form
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_new_id_carries_creation_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    millis = uuid.UUID(value).int >> 80
    assert before <= millis <= after


def test_new_ids_sort_by_creation_time_across_milliseconds() -> None:
    ids = []
    for _ in range(20):
        ids.append(new_id())
        start = time.time_ns() // 1_000_000
        while time.time_ns() // 1_000_000 <= start:  # step into the next millisecond
            time.sleep(0.0005)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_new_id_is_unique_over_many_calls() -> None:
    ids = {new_id() for _ in range(100_000)}
    assert len(ids) == 100_000


def test_new_id_random_bits_vary_within_one_millisecond() -> None:
    ids = [new_id() for _ in range(50)]
    # the 74 random bits must not be constant (they make same-millisecond ids unique)
    assert len({uuid.UUID(i).int & ((1 << 62) - 1) for i in ids}) == 50
