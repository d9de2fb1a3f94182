"""Bad input and refused proposals: JSON errors with a message, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import legato
from fixtures.served import Served
from legato import flow, get_run_context

UNKNOWN_ID = "0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"/api/flow_runs/{UNKNOWN_ID}", "no flow run with id"),
        (f"/api/flow_runs/{UNKNOWN_ID}/task_runs", "no flow run with id"),
        (f"/api/flow_runs/{UNKNOWN_ID}/state_history", "no flow run with id"),
        (f"/api/flow_runs/{UNKNOWN_ID}/logs", "no flow run with id"),
        (f"/api/task_runs/{UNKNOWN_ID}", "no task run with id"),
        (f"/api/task_runs/{UNKNOWN_ID}/state_history", "no task run with id"),
        (f"/api/task_runs/{UNKNOWN_ID}/logs", "no task run with id"),
    ],
)
def test_unknown_id_is_404_with_message(api: httpx.Client, path: str, message: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": f"{message} {UNKNOWN_ID!r}"}


def test_task_run_id_is_not_a_flow_run_id(api: httpx.Client, served: Served) -> None:
    task_run = api.get(f"/api/flow_runs/{served.recorded.pipeline_id}/task_runs").json()[0]
    assert api.get(f"/api/flow_runs/{task_run['id']}").status_code == 404
    assert api.get(f"/api/flow_runs/{task_run['id']}/state_history").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/flow_runs/not-a-uuid",
        "/api/flow_runs/not-a-uuid/task_runs",
        "/api/flow_runs/12345/logs",
        "/api/task_runs/xyz",
        "/api/task_runs/0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9/state_history",
    ],
)
def test_malformed_id_is_422_naming_the_parameter(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 422
    body = response.json()
    assert "must be a UUID" in body["detail"]
    assert body["errors"][0]["loc"][0] == "path"
    assert body["errors"][0]["loc"][1] in {"flow_run_id", "task_run_id"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**70}, "offset"),
        ({"parent_flow_run_id": "nope"}, "parent_flow_run_id"),
        ({"flow_name": "nul\x00"}, "flow_name"),
    ],
)
def test_bad_list_parameter_is_422(
    api: httpx.Client, params: dict[str, object], field: str
) -> None:
    response = api.get("/api/flow_runs", params=params)
    assert response.status_code == 422
    assert f"query parameter '{field}'" in response.json()["detail"]


def test_unknown_state_filter_is_422_listing_the_states(api: httpx.Client) -> None:
    response = api.get("/api/flow_runs", params={"state": "Exploded"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("query parameter 'state': unknown state 'Exploded'")
    assert "TimedOut" in detail and "FAILED" in detail


def test_bad_log_filters_are_422(api: httpx.Client, served: Served) -> None:
    path = f"/api/flow_runs/{served.recorded.pipeline_id}/logs"
    assert api.get(path, params={"task_run_id": "nope"}).status_code == 422
    assert api.get(path, params={"limit": 0}).status_code == 422


def test_leaving_a_terminal_state_is_409_and_changes_nothing(
    api: httpx.Client, served: Served
) -> None:
    run_id = served.recorded.pipeline_id
    before = api.get(f"/api/flow_runs/{run_id}").json()
    history_before = api.get(f"/api/flow_runs/{run_id}/state_history").json()
    response = api.post(
        f"/api/flow_runs/{run_id}/state", json={"type": "RUNNING", "name": "Running"}
    )
    assert response.status_code == 409
    assert "terminal" in response.json()["detail"]
    assert "Completed" in response.json()["detail"]
    assert api.get(f"/api/flow_runs/{run_id}").json() == before
    assert api.get(f"/api/flow_runs/{run_id}/state_history").json() == history_before
    stored = legato.get_client().read_flow_run(run_id)
    assert (stored.state.type, stored.state.name) == ("COMPLETED", "Completed")


def test_proposing_for_an_unknown_run_is_404(api: httpx.Client) -> None:
    response = api.post(
        f"/api/flow_runs/{UNKNOWN_ID}/state", json={"type": "CANCELLED", "name": "Cancelled"}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": f"no flow run with id {UNKNOWN_ID!r}"}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"type": "RUNNING", "name": "Running", "colour": "red"}, "body field 'colour'"),
        ({"type": "RUNNING", "name": "Completed"}, "has type COMPLETED, not RUNNING"),
        ({"type": "RUNNING", "name": "Sprinting"}, "unknown state name 'Sprinting'"),
        ({"type": "SPRINTING", "name": "Running"}, "body field 'type'"),
        ({"name": "Running"}, "body field 'type': Field required"),
        ({"type": "RUNNING", "name": "Running", "message": 5}, "body field 'message'"),
        ({"type": "RUNNING", "name": "Running", "message": "a\x00b"}, "body field 'message'"),
        ([1, 2], "body"),
    ],
)
def test_bad_state_body_is_422_naming_the_field(
    api: httpx.Client, served: Served, body: object, says: str
) -> None:
    response = api.post(f"/api/flow_runs/{served.recorded.pipeline_id}/state", json=body)
    assert response.status_code == 422
    assert says in response.json()["detail"]


def test_body_that_is_not_json_is_422(api: httpx.Client, served: Served) -> None:
    response = api.post(
        f"/api/flow_runs/{served.recorded.pipeline_id}/state",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body")


def test_oversized_body_is_413(api: httpx.Client, served: Served) -> None:
    big = "x" * (11 * 1024 * 1024)
    response = api.post(
        f"/api/flow_runs/{served.recorded.pipeline_id}/state",
        json={"type": "RUNNING", "name": "Running", "message": big},
    )
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_body_over_the_request_cap_is_413_outside_batches(
    api: httpx.Client, served: Served
) -> None:
    """Bodies other than batches are checked whole on the event loop: they get a smaller
    cap (512 KiB), named in the answer; a batch of that size is still taken."""
    response = api.post(
        f"/api/flow_runs/{served.recorded.pipeline_id}/state",
        json={"type": "RUNNING", "name": "Running", "message": "x" * (600 * 1024)},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "request body too large: the limit is 524288 bytes"
    assert response.headers["x-legato-max-body-bytes"] == "524288"

    batch = api.post(
        "/api/bulk",
        content=b" " * (600 * 1024) + b"{}",
        headers={"content-type": "application/json"},
    )
    assert batch.status_code == 200, batch.text


def test_oversized_chunked_body_is_413(api: httpx.Client, served: Served) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    response = api.post(
        f"/api/flow_runs/{served.recorded.pipeline_id}/state",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


def test_accepted_proposal_is_stored(api: httpx.Client, served: Served) -> None:
    """A flow pauses itself through the API; the engine then completes it."""
    answers: list[httpx.Response] = []

    @flow
    def pauses_itself() -> None:
        run_id = get_run_context().flow_run_id
        answers.append(
            api.post(
                f"/api/flow_runs/{run_id}/state",
                json={"type": "PAUSED", "name": "Paused", "message": "by the API"},
            )
        )

    pauses_itself()
    assert answers[0].status_code == 200
    run = answers[0].json()
    assert (run["state"]["name"], run["state"]["message"]) == ("Paused", "by the API")
    history = api.get(f"/api/flow_runs/{run['id']}/state_history").json()
    assert [state["name"] for state in history] == ["Pending", "Running", "Paused", "Completed"]


def test_health_answers_ok_with_version(api: httpx.Client) -> None:
    assert api.get("/api/health").json() == {"status": "ok", "version": legato.__version__}


def test_openapi_lists_every_path(api: httpx.Client) -> None:
    spec = api.get("/api/openapi.json").json()
    assert set(spec["paths"]) == {
        "/api/health",
        "/api/flow_runs",
        "/api/flow_runs/{flow_run_id}",
        "/api/flow_runs/{flow_run_id}/task_runs",
        "/api/flow_runs/{flow_run_id}/task_runs/summary",
        "/api/flow_runs/{flow_run_id}/task_runs/state_histories",
        "/api/flow_runs/{flow_run_id}/state_history",
        "/api/flow_runs/{flow_run_id}/logs",
        "/api/flow_runs/{flow_run_id}/state",
        "/api/task_runs",
        "/api/task_runs/resolve_id",
        "/api/task_runs/{task_run_id}",
        "/api/task_runs/{task_run_id}/state_history",
        "/api/task_runs/{task_run_id}/logs",
        "/api/bulk",
        "/api/orchestrator/flow_runs",
        "/api/orchestrator/flow_runs/{flow_run_id}/state",
        "/api/orchestrator/flow_runs/{flow_run_id}/attempt",
        "/api/orchestrator/flow_runs/{flow_run_id}/row",
        "/api/orchestrator/flow_runs/{flow_run_id}/task_runs_by_key",
        "/api/orchestrator/flow_runs/{flow_run_id}/task_state_histories",
        "/api/orchestrator/cached_result",
        "/api/orchestrator/resolve_flow_run_id",
        "/api/flows",
        "/api/flows/{name}",
        "/api/deployments",
        "/api/deployments/lookup",
        "/api/deployments/{deployment_id}",
        "/api/deployments/{deployment_id}/backfill",
        "/api/deployments/{deployment_id}/pause",
        "/api/deployments/{deployment_id}/resume",
        "/api/deployments/{deployment_id}/runs",
        "/api/deployments/{deployment_id}/schedules/{schedule}/pause",
        "/api/deployments/{deployment_id}/schedules/{schedule}/resume",
        "/api/work_pools/{pool}/claim",
        "/api/workers/heartbeat",
        "/api/workers/held_states",
        "/api/workers/announce",
        "/api/flow_runs/{flow_run_id}/crash",
        "/api/work_pools",
        "/api/work_pools/{pool}/concurrency_limit",
        "/api/work_pools/{pool}/pause",
        "/api/work_pools/{pool}/resume",
        "/api/concurrency_limits",
        "/api/concurrency_limits/tags",
        "/api/concurrency_limits/leases",
        "/api/concurrency_limits/leases/renew",
        "/api/concurrency_limits/leases/release",
        "/api/concurrency_limits/{tag}",
        "/api/events",
        "/api/automations",
        "/api/automations/{reference}",
        "/api/automations/{reference}/firings",
        "/api/automations/{reference}/pause",
        "/api/automations/{reference}/resume",
        "/api/events/stream",
        "/api/webhooks",
        "/api/webhooks/{name}",
        "/api/webhooks/{name}/rotate",
        "/hooks/{slug}",
        "/api/notifications",
        "/api/notifications/{name}",
        "/api/notifications/{name}/test",
        "/api/notifications/{name}/deliveries",
    }
    post = spec["paths"]["/api/flow_runs/{flow_run_id}/state"]["post"]
    assert {"200", "404", "409", "413", "422"} <= set(post["responses"])


def test_docs_page_is_served(api: httpx.Client) -> None:
    response = api.get("/api/docs")
    assert response.status_code == 200
    assert "/api/openapi.json" in response.text


def test_unknown_path_is_json_404(api: httpx.Client) -> None:
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
