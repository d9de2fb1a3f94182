"""Fuzz every operation of the API with schemathesis, against the server's own OpenAPI.

The server is a real ``legato server start`` process on 127.0.0.1 over a store of
its own (the fuzzer writes runs, states and logs, so it does not share the session's
``served`` store). Each operation gets a bounded, derandomized set of examples, valid
(positive) and invalid (negative); the checks are schemathesis' defaults: no 5xx,
documented status codes, content types and response schemas, invalid data refused.
The store holds an API key, sent with every generated request, so the checks that
requests with no key or a wrong one are refused (401) run too.

The operations are looped over inside one test per generation mode rather than with
``schemathesis.pytest.from_fixture``, whose lazy loader does not run under pytest 9
(it sets ``Function._nodeid``, which pytest 9 removed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from fixtures.postgres import BACKENDS, backend_database
from fixtures.servers import ServerProcess, running_server
from legato.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.fuzz]

MAX_EXAMPLES = 25
"""Examples per operation. The fuzz takes minutes, so it runs in CI only (the ``fuzz``
marker: tests/conftest.py skips it unless CI=true)."""

CHECKED_BEYOND_THE_SCHEMA = {
    "POST /api/events",
    "GET /api/events",
    "POST /api/automations",
    "PUT /api/deployments",
    "POST /api/deployments/{deployment_id}/runs",
    "POST /api/deployments/{deployment_id}/backfill",
    "POST /api/webhooks",
    "PATCH /api/webhooks/{name}",
    "POST /hooks/{slug}",
    "POST /api/notifications",
    "PUT /hooks/{slug}",
}
"""Bodies whose content legato checks past their JSON Schema (a cron expression's fields,
a time zone's name, parameters against the flow's signature, an event's labels and
reserved names, a filter's wildcards, a trigger that would match everything, a
webhook's template; a webhook's URL is a secret no generated slug finds): a
schema-valid body may rightly get 422, so "valid data is accepted" is not checked there;
every other check is."""

LISTS_IN_QUERY = {"GET /api/events"}
"""A query parameter that may repeat (``name=a&name=b``) is a list; sent once, a list of
one. The fuzz sends a "wrong type" string there and expects a refusal that cannot come:
"invalid data is refused" is not checked there (every other check is)."""

NOT_FUZZED = {"GET /api/events/stream"}
"""A live stream answers forever: tests/server/test_server_events.py drives it instead."""

ONLY = os.environ.get("LEGATO_FUZZ_ONLY")
"""Fuzz only the operations whose label holds this text (while working on them)."""


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_home(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str, str | None]]:
    """A folder, an API key stored in the store, and the store's URL if PostgreSQL."""
    folder: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with backend_database(request) as database_url:
        store = Store(database_url or f"sqlite:///{folder / 'home' / 'legato.db'}")
        try:
            _, key = store.create_api_key("fuzzer")
        finally:
            store.close()
        yield folder, key, database_url


@pytest.fixture(scope="module")
def fuzz_server(fuzz_home: tuple[Path, str, str | None]) -> Iterator[ServerProcess]:
    folder, _, database_url = fuzz_home
    with running_server(folder / "home", folder / "server.log", database_url) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(fuzz_server: ServerProcess) -> OpenApiSchema:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/api/openapi.json")
    # A body over the server's cap on request size (LEGATO_SERVER_MAX_REQUEST_BYTES) is
    # refused with 413 before it is read, whatever the schema says of it: invalid data
    # refused, as the check wants.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, key: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        # The generated bearer token is random: swap in the real key. A negative case
        # that leaves the header out is sent without one (and must be refused, 401).
        if case.headers is not None and "Authorization" in case.headers:
            case.headers["Authorization"] = f"Bearer {key}"
        excluded = (
            [positive_data_acceptance] if operation.label in CHECKED_BEYOND_THE_SCHEMA else []
        )
        if operation.label in LISTS_IN_QUERY:
            excluded.append(negative_data_rejection)
        case.call_and_validate(timeout=30, excluded_checks=excluded)

    try:
        check()
    except Unsatisfiable:
        # Nothing to get wrong (GET /api/health takes no input): no negative cases exist.
        if mode is not GenerationMode.NEGATIVE:
            raise


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_to_the_schema(
    api_schema: OpenApiSchema,
    fuzz_server: ServerProcess,
    fuzz_home: tuple[Path, str, str | None],
    mode: GenerationMode,
) -> None:
    failures: list[str] = []
    labels: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.label in NOT_FUZZED or (ONLY and ONLY not in operation.label):
            continue
        labels.append(operation.label)
        try:
            _fuzz(operation, mode, fuzz_home[1])
        except (Exception, BaseExceptionGroup) as exc:  # fuzz them all, report every failure
            failures.append(f"{operation.label}:\n{exc}")
    assert len(labels) >= (1 if ONLY else 10), labels
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + fuzz_server.log()[-5000:]
