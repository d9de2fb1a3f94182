"""API keys in the store: made once, kept only as hashes, found by the key itself."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from legato.errors import LegatoError, ObjectNotFound
from legato.store import Store
from legato.store.tables import api_keys


def test_a_new_store_has_no_keys(store: Store) -> None:
    assert not store.has_api_keys()
    assert store.list_api_keys() == []


def test_created_key_is_stored_only_as_its_hash(store: Store) -> None:
    record, key = store.create_api_key("ci", read_only=True)
    assert key.startswith("lgk_") and len(key) > 40
    assert record.name == "ci" and record.read_only and record.last_used is None
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr(dict(rows[0]))
    assert store.has_api_keys()
    assert store.list_api_keys() == [record]


def test_find_api_key_compares_hashes(store: Store) -> None:
    record, key = store.create_api_key("writer")
    other, other_key = store.create_api_key("reader", read_only=True)
    assert store.find_api_key(key) == record
    assert store.find_api_key(other_key) == other
    assert store.find_api_key(key + "x") is None
    assert store.find_api_key("") is None
    assert store.find_api_key(hashlib.sha256(key.encode()).hexdigest()) is None


def test_every_key_is_different(store: Store) -> None:
    keys = {store.create_api_key(f"k{i}")[1] for i in range(5)}
    assert len(keys) == 5


def test_duplicate_name_is_refused_clearly(store: Store) -> None:
    store.create_api_key("ci")
    with pytest.raises(LegatoError, match="already exists"):
        store.create_api_key("ci", read_only=True)
    assert [r.name for r in store.list_api_keys()] == ["ci"]
    assert not store.list_api_keys()[0].read_only


def test_delete_api_key(store: Store) -> None:
    _, key = store.create_api_key("ci")
    store.create_api_key("other")
    store.delete_api_key("ci")
    assert store.find_api_key(key) is None
    assert [r.name for r in store.list_api_keys()] == ["other"]
    with pytest.raises(ObjectNotFound, match="no API key named 'ci'"):
        store.delete_api_key("ci")
    store.delete_api_key("other")
    assert not store.has_api_keys()


def test_touch_api_key_records_last_use(store: Store) -> None:
    record, key = store.create_api_key("ci")
    store.touch_api_key(record.id, 1_700_000_000.5)
    found = store.find_api_key(key)
    assert found is not None and found.last_used is not None
    assert found.last_used.timestamp() == 1_700_000_000.5
