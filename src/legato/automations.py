"""Automations from Python, as Prefect users write them::

from legato.automations import Automation, EventTrigger, RunDeployment

Automation(
    name="rerun-models",
    trigger=EventTrigger(expect=["acme.refund.reviewed"]),
    actions=[RunDeployment(deployment="models/daily", parameters={"why": "refund"})],
).create()
"""

from __future__ import annotations

from legato.schemas.automations import (
    AutomationAction,
    AutomationRecord,
    AutomationSpec,
    CallWebhook,
    ChangeFlowRunState,
    CompoundTrigger,
    DeploymentAction,
    EventTrigger,
    FlowRunAction,
    RunDeployment,
    ScheduleAction,
    SendNotification,
    SequenceTrigger,
    WorkPoolAction,
)


class Automation(AutomationSpec):
    """An automation to store: ``create()`` it (``update()`` replaces the one of the same
    name, keeping what its unchanged triggers counted)."""

    def create(self) -> AutomationRecord:
        from legato.orchestrator import get_orchestrator

        return get_orchestrator().save_automation(self)

    def update(self) -> AutomationRecord:
        from legato.orchestrator import get_orchestrator

        return get_orchestrator().save_automation(self, update=True)


__all__ = [
    "Automation",
    "AutomationAction",
    "CallWebhook",
    "ChangeFlowRunState",
    "CompoundTrigger",
    "DeploymentAction",
    "EventTrigger",
    "FlowRunAction",
    "RunDeployment",
    "ScheduleAction",
    "SendNotification",
    "SequenceTrigger",
    "WorkPoolAction",
]
