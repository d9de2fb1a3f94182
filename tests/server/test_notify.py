"""Wake-ups across servers: a poke through one store's notifier wakes a claim waiting
on another server over the same PostgreSQL database (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from fixtures.postgres import PostgresServer
from legato.server.notify import PoolNotifier
from legato.store import Store

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.database() as url:
        yield url


def test_a_poke_on_one_server_wakes_a_claim_waiting_on_another(postgres_url: str) -> None:
    first, second = Store(postgres_url), Store(postgres_url)
    waiting, poking = PoolNotifier(first), PoolNotifier(second)

    async def wait_for_poke() -> bool:
        with waiting.subscription("p") as poked, waiting.subscription("other") as unrelated:
            for _ in range(100):  # poke until the listener is connected (it starts lazily)
                poking.poke("p")
                try:
                    await asyncio.wait_for(poked.wait(), 0.2)
                except TimeoutError:
                    continue
                return not unrelated.is_set()
        return False

    try:
        assert asyncio.run(wait_for_poke())
    finally:
        waiting.close()
        poking.close()
        first.close()
        second.close()
