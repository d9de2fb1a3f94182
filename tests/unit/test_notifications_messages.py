"""The message an event becomes, and what Slack and Teams are sent for it (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from legato.notifications import message_for_event
from legato.notifications.bodies import slack_payload, teams_payload
from legato.schemas.events import EventRecord
from legato.schemas.notifications import Message
from legato.schemas.runs import FlowRunRecord, StateRecord
from legato.states import StateType

RUN_ID = "0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e"
TASK_ID = "0192f6c4-8a1e-7d3b-9c2f-000000000042"
WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
FLOW = {
    "legato.resource.id": "legato.flow.f1",
    "legato.resource.role": "flow",
    "legato.resource.name": "etl",
}


def _event(name: str, resource: dict[str, str], related: list[dict[str, str]]) -> EventRecord:
    return EventRecord(
        cursor="1",
        id=uuid.uuid4(),
        event=name,
        occurred=WHEN,
        received=WHEN,
        resource=resource,
        related=related,
    )


FAILED = _event(
    "legato.flow-run.Failed",
    {
        "legato.resource.id": f"legato.flow-run.{RUN_ID}",
        "legato.resource.name": "brave-otter",
        "legato.state-type": "FAILED",
        "legato.state-name": "Failed",
        "legato.state-message": "boom",
    },
    [FLOW],
)


@pytest.mark.parametrize(
    ("event", "public_url", "expected"),
    [
        (
            FAILED,
            "https://legato.example.com",
            Message(
                subject="etl/brave-otter: Failed",
                body="The flow run etl/brave-otter is Failed.\nboom",
                flow="etl",
                run="brave-otter",
                run_id=RUN_ID,
                state="Failed",
                message="boom",
                link=f"https://legato.example.com/api/flow_runs/{RUN_ID}",
            ),
        ),
        (  # no public URL: no link
            FAILED,
            None,
            Message(
                subject="etl/brave-otter: Failed",
                body="The flow run etl/brave-otter is Failed.\nboom",
                flow="etl",
                run="brave-otter",
                run_id=RUN_ID,
                state="Failed",
                message="boom",
            ),
        ),
        (  # a task run links to its flow run
            _event(
                "legato.task-run.Failed",
                {
                    "legato.resource.id": f"legato.task-run.{TASK_ID}",
                    "legato.resource.name": "load-0",
                    "legato.state-name": "Failed",
                },
                [
                    {
                        "legato.resource.id": f"legato.flow-run.{RUN_ID}",
                        "legato.resource.role": "flow-run",
                    },
                    FLOW,
                ],
            ),
            "https://l.example/",
            Message(
                subject="etl/load-0: Failed",
                body="The task run etl/load-0 is Failed.",
                flow="etl",
                run="load-0",
                run_id=TASK_ID,
                state="Failed",
                link=f"https://l.example/api/flow_runs/{RUN_ID}",
            ),
        ),
        (  # any other event: its name and resource
            _event("acme.refund.reviewed", {"legato.resource.id": "acme.refund.7"}, []),
            "https://l.example",
            Message(
                subject="legato event acme.refund.reviewed",
                body="acme.refund.reviewed about acme.refund.7 at 2026-12-01 09:30:00 UTC",
            ),
        ),
    ],
)
def test_message_for_event(event: EventRecord, public_url: str | None, expected: Message) -> None:
    assert message_for_event(event, public_url) == expected


def test_duration_comes_from_the_run() -> None:
    run = FlowRunRecord.model_validate(
        {
            "id": RUN_ID,
            "name": "brave-otter",
            "flow_name": "etl",
            "state": StateRecord(type=StateType.FAILED, name="Failed", timestamp=WHEN).model_dump(),
            "run_count": 1,
            "parameters": {},
            "tags": [],
            "created": WHEN - timedelta(hours=1),
            "start_time": WHEN - timedelta(minutes=3, seconds=4),
            "end_time": WHEN,
        }
    )
    message = message_for_event(FAILED, None, run=run)
    assert message.duration == 184.0
    assert ("Duration", "3m 04s") in message.facts()


def test_slack_text_is_escaped() -> None:
    payload = slack_payload(Message(subject="a <b> & c", body="<!channel>"))
    assert payload["blocks"][0]["text"]["text"] == "*a &lt;b&gt; &amp; c*\n&lt;!channel&gt;"


def test_teams_card_of_a_completed_run_is_green_and_has_no_empty_parts() -> None:
    card = teams_payload(Message(subject="done", state="Completed"))["attachments"][0]["content"]
    title, facts = card["body"]
    assert (title["text"], title["color"]) == ("done", "Good")
    assert facts == {"type": "FactSet", "facts": [{"title": "State", "value": "Completed"}]}
    assert "actions" not in card
