"""Sending a deployment's ended run back to its pool on the embedded store: the state
door takes it from Failed, Crashed or Cancelled to AwaitingRetry (a rerun), held by no
worker, and the next claim of the pool hands it out again."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import legato
from legato.errors import LegatoError
from legato.orchestration.transitions import check_transition
from legato.schemas.deployments import DeploymentRunRequest
from legato.states import StateType
from legato.workers.cancel import cancel_flow_run
from legato.workers.entrypoints import load_flow
from legato.workers.reruns import retry_on_pool

FLOW = textwrap.dedent(
    """
    from legato import flow


    @flow
    def nightly() -> int:
        return 1


    @flow
    def broken() -> None:
        raise ValueError("broken on purpose")
    """
)


@pytest.mark.parametrize("ended", [StateType.FAILED, StateType.CRASHED, StateType.CANCELLED])
def test_the_rule_lets_an_ended_run_be_scheduled_again_only_as_a_rerun(ended: StateType) -> None:
    assert check_transition(ended, StateType.SCHEDULED, rerun=True).allowed
    assert not check_transition(ended, StateType.SCHEDULED).allowed


def test_a_cancelled_deployment_run_goes_back_to_its_pool(tmp_path: Path) -> None:
    (tmp_path / "nightly.py").write_text(FLOW)
    deployment = load_flow(f"{tmp_path / 'nightly.py'}:nightly").deploy("d", work_pool="p")
    client = legato.get_client()
    run = client.create_deployment_run(deployment.id, DeploymentRunRequest())
    cancel_flow_run(client, run.id)

    record = retry_on_pool(client, run.id)

    assert record.id == run.id
    assert (record.state.type, record.state.name) == (StateType.SCHEDULED, "AwaitingRetry")
    assert record.end_time is None and record.worker_name is None
    history = [state.name for state in client.read_state_history(run.id)]
    assert history == ["Scheduled", "Cancelled", "AwaitingRetry"]
    (claimed,) = client.claim_flow_runs("p", "w", 10)
    assert claimed.id == run.id and claimed.state.name == "Pending"


def test_a_run_of_no_pool_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "nightly.py").write_text(FLOW)
    state = load_flow(f"{tmp_path / 'nightly.py'}:broken")(return_state=True)
    assert state.type is StateType.FAILED and state.run_id is not None
    client = legato.get_client()
    with pytest.raises(LegatoError, match=r"belongs to no work pool.*--here"):
        retry_on_pool(client, state.run_id)
