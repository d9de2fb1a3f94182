"""An automation: a trigger that watches events, and the actions it takes when it fires.

The shape is Prefect's, so a Prefect user's YAML reads the same here::

    name: rerun-the-model
    trigger:
      type: event
      match: {legato.resource.id: "acme.refund.*"}
      expect: [acme.refund.reviewed]
      posture: Reactive
      threshold: 1
      within: 0
    actions:
      - type: run-deployment
        deployment: models/daily
        parameters: {refund: "{{ event.resource['legato.resource.id'] }}"}

A trigger that would match every event, a window or threshold out of range, a
parameter template that does not parse, or an action that could fire its own trigger
again and again, is refused here with a message that says which and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from legato.schemas.events import EVENT_NAME_PATTERN, MAX_LABEL_VALUE, RESOURCE_ID

MAX_WITHIN = 366 * 24 * 3600.0
MAX_THRESHOLD = 100_000
MAX_PATTERNS = 50
MAX_TRIGGERS = 20
MAX_ACTIONS = 20

LabelPatterns = dict[str, str | list[str]]
"""Labels to match: each value a pattern (``*`` wildcards) or a list of them (any)."""


def _check_patterns(value: LabelPatterns, what: str) -> LabelPatterns:
    if len(value) > MAX_PATTERNS:
        raise ValueError(f"{what} has {len(value)} labels; at most {MAX_PATTERNS} are allowed")
    for key, patterns in value.items():
        listed = [patterns] if isinstance(patterns, str) else patterns
        if not listed or len(listed) > MAX_PATTERNS:
            raise ValueError(f"{what}[{key!r}] needs 1 to {MAX_PATTERNS} patterns")
        for pattern in listed:
            if not pattern or len(pattern) > MAX_LABEL_VALUE:
                raise ValueError(
                    f"{what}[{key!r}] has a pattern of {len(pattern)} characters; "
                    f"1 to {MAX_LABEL_VALUE} are allowed"
                )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _content_id(model: BaseModel) -> str:
    """An id made of what a trigger says (its children's ids included): the same trigger
    written again gets the same id, so re-applying an automation keeps what it counted."""
    import hashlib
    import json

    text = json.dumps(model.model_dump(mode="json", exclude={"id"}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Trigger(_Strict):
    @model_validator(mode="after")
    def _identified(self) -> Any:
        if not getattr(self, "id", ""):
            object.__setattr__(self, "id", _content_id(self))
        return self


class EventTrigger(_Trigger):
    """Fires on events that match. ``Reactive``: when ``threshold`` matching ``expect``
    events arrive within ``within`` seconds. ``Proactive``: when fewer than
    ``threshold`` arrive within ``within`` seconds of an ``after`` event (or, with no
    ``after``, of the automation's start and of each window since). ``for_each`` counts
    each value of those labels on its own (each flow run, each deployment)."""

    type: Literal["event"] = "event"
    id: Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")] = ""
    match: LabelPatterns = {}
    match_related: LabelPatterns | list[LabelPatterns] = {}
    after: Annotated[list[str], Field(max_length=MAX_PATTERNS)] = []
    expect: Annotated[list[str], Field(max_length=MAX_PATTERNS)] = []
    for_each: Annotated[list[str], Field(max_length=10)] = []
    posture: Literal["Reactive", "Proactive"] = "Reactive"
    threshold: Annotated[int, Field(ge=1, le=MAX_THRESHOLD, strict=True)] = 1
    within: Annotated[float, Field(ge=0, le=MAX_WITHIN, strict=True)] = 0.0

    @field_validator("match")
    @classmethod
    def _match(cls, value: LabelPatterns) -> LabelPatterns:
        return _check_patterns(value, "match")

    @field_validator("match_related")
    @classmethod
    def _match_related(cls, value: LabelPatterns | list[LabelPatterns]) -> Any:
        for one in value if isinstance(value, list) else [value]:
            _check_patterns(one, "match_related")
        return value

    @field_validator("after", "expect")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        import re

        for name in value:
            if not re.fullmatch(EVENT_NAME_PATTERN, name) or len(name) > MAX_LABEL_VALUE:
                raise ValueError(
                    f"{name[:80]!r} is not an event name or pattern (letters, digits and "
                    ". _ - : / *, at most 1024 characters)"
                )
        return value

    @model_validator(mode="after")
    def _check(self) -> EventTrigger:
        if self.posture == "Proactive" and self.within <= 0:
            raise ValueError(
                "a Proactive trigger needs 'within' (seconds to wait for the expected "
                "events), e.g. within: 1800"
            )
        if self.posture == "Reactive" and self.threshold > 1 and self.within <= 0:
            raise ValueError(
                f"a Reactive trigger with threshold {self.threshold} needs 'within' (the "
                "seconds the events must arrive in)"
            )
        if not self.expect and not self.after and not _narrows(self.match):
            raise ValueError(
                "this trigger would match every event: name the events it expects "
                "(expect: [legato.flow-run.Failed]) or the resources it watches "
                "(match: {legato.resource.id: legato.flow-run.*})"
            )
        return self


def _narrows(match: LabelPatterns) -> bool:
    """Whether ``match`` keeps fewer than all events (a label pattern that is not '*')."""
    for patterns in match.values():
        listed = [patterns] if isinstance(patterns, str) else patterns
        if all(pattern.strip("*") for pattern in listed):
            return True
    return False


class CompoundTrigger(_Trigger):
    """Fires when ``require`` of its triggers (``any``, ``all`` or a number) have fired
    within ``within`` seconds of each other."""

    type: Literal["compound"] = "compound"
    id: Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")] = ""
    triggers: Annotated[list[AnyTrigger], Field(min_length=1, max_length=MAX_TRIGGERS)]
    require: Literal["any", "all"] | Annotated[int, Field(ge=1)] = "all"
    within: Annotated[float, Field(ge=0, le=MAX_WITHIN, strict=True)] = 0.0

    @model_validator(mode="after")
    def _check(self) -> CompoundTrigger:
        if isinstance(self.require, int) and self.require > len(self.triggers):
            raise ValueError(
                f"require is {self.require} but the compound trigger has only "
                f"{len(self.triggers)} triggers"
            )
        return self


class SequenceTrigger(_Trigger):
    """Fires when its triggers fire in the order listed, all within ``within`` seconds."""

    type: Literal["sequence"] = "sequence"
    id: Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")] = ""
    triggers: Annotated[list[AnyTrigger], Field(min_length=1, max_length=MAX_TRIGGERS)]
    within: Annotated[float, Field(ge=0, le=MAX_WITHIN, strict=True)] = 0.0


def _trigger_type(value: Any) -> str | None:
    """A trigger's ``type``; ``event`` when a mapping leaves it out."""
    if isinstance(value, dict):
        kind = value.get("type", "event")
        return kind if isinstance(kind, str) else None
    return getattr(value, "type", None)


AnyTrigger = Annotated[
    Annotated[EventTrigger, Tag("event")]
    | Annotated[CompoundTrigger, Tag("compound")]
    | Annotated[SequenceTrigger, Tag("sequence")],
    Discriminator(_trigger_type),
]
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()


# -- actions ---------------------------------------------------------------------------


class RunDeployment(_Strict):
    """Run a deployment (``flow/name`` or id; none: the deployment the event is about),
    with parameters rendered from the event: a template that is one expression
    (``"{{ event.payload.count }}"``) keeps its JSON type."""

    type: Literal["run-deployment"] = "run-deployment"
    deployment: str | None = None
    parameters: dict[str, Any] = {}


class FlowRunAction(_Strict):
    """Act on a flow run: the one the event is about, or ``flow_run`` (an id)."""

    type: Literal["cancel-flow-run", "suspend-flow-run", "resume-flow-run"]
    flow_run: str | None = None


class ChangeFlowRunState(_Strict):
    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    flow_run: str | None = None
    state: Literal["COMPLETED", "FAILED", "CANCELLED", "CRASHED", "SCHEDULED"]
    name: str | None = None
    message: str | None = None


class DeploymentAction(_Strict):
    """Pause or resume a deployment (the event's, or ``deployment``)."""

    type: Literal["pause-deployment", "resume-deployment"]
    deployment: str | None = None


class ScheduleAction(_Strict):
    """Pause or resume one schedule of a deployment (by id or position, 1 first)."""

    type: Literal["pause-schedule", "resume-schedule"]
    deployment: str | None = None
    schedule: str


class WorkPoolAction(_Strict):
    type: Literal["pause-work-pool", "resume-work-pool"]
    work_pool: str | None = None


class AutomationAction(_Strict):
    """Pause or resume an automation (this one, or ``automation`` by name)."""

    type: Literal["pause-automation", "resume-automation"]
    automation: str | None = None


class CallWebhook(_Strict):
    """POST the rendered ``body`` (JSON) to ``url``."""

    type: Literal["call-webhook"] = "call-webhook"
    url: str
    body: dict[str, Any] | str = {}
    headers: dict[str, str] = {}


class SendNotification(_Strict):
    """Send a message to a notification channel (``legato notification create``)."""

    type: Literal["send-notification"] = "send-notification"
    channel: str
    subject: str | None = None
    body: str | None = None


AnyAction = Annotated[
    RunDeployment
    | FlowRunAction
    | ChangeFlowRunState
    | DeploymentAction
    | ScheduleAction
    | WorkPoolAction
    | AutomationAction
    | CallWebhook
    | SendNotification,
    Field(discriminator="type"),
]


class AutomationSpec(_Strict):
    """What a user writes: ``legato automation create -f``, ``Automation(...)``, the API."""

    name: Annotated[str, Field(min_length=1, max_length=255)]
    description: str = ""
    enabled: bool = True
    trigger: AnyTrigger
    actions: Annotated[list[AnyAction], Field(max_length=MAX_ACTIONS)] = []
    actions_on_trigger: Annotated[list[AnyAction], Field(max_length=MAX_ACTIONS)] = []
    actions_on_resolve: Annotated[list[AnyAction], Field(max_length=MAX_ACTIONS)] = []
    cooldown: Annotated[float, Field(ge=0, le=MAX_WITHIN, strict=True)] = 0.0
    """Seconds after a firing in which the automation does not fire again (the firings
    it skips are counted in the next)."""

    @model_validator(mode="after")
    def _check(self) -> AutomationSpec:
        if not (self.actions or self.actions_on_trigger or self.actions_on_resolve):
            raise ValueError(
                "an automation needs at least one action (actions: [...]); "
                "to only watch events, use 'legato events tail'"
            )
        problem = _loop_problem(self)
        if problem:
            raise ValueError(problem)
        from legato.event_rules.templates import TemplateProblem, check_template

        for number, action in enumerate(
            (*self.actions, *self.actions_on_trigger, *self.actions_on_resolve), 1
        ):
            try:
                check_template(action.model_dump(exclude={"type"}), f"action {number}")
            except TemplateProblem as exc:
                raise ValueError(f"a template does not parse: {exc}") from None
        return self


_RUN_STATES = ("Scheduled", "Pending", "Running", "Completed", "Failed", "Crashed", "Cancelled")


def _loop_problem(spec: AutomationSpec) -> str | None:
    """Why ``spec`` could fire itself again and again, if it could: it runs a deployment
    and reacts to flow-run states of any deployment (each run it starts fires it again)."""
    from legato.event_rules.patterns import matches

    runs = [
        a
        for a in (*spec.actions, *spec.actions_on_trigger, *spec.actions_on_resolve)
        if isinstance(a, RunDeployment)
    ]
    if not runs:
        return None
    stack: list[Any] = [spec.trigger]
    while stack:
        trigger = stack.pop()
        if not isinstance(trigger, EventTrigger):
            stack.extend(trigger.triggers)
            continue
        if trigger.posture != "Reactive":
            continue
        names = [f"legato.flow-run.{state}" for state in _RUN_STATES]
        hears_runs = not trigger.expect or any(
            matches(pattern, name) for pattern in trigger.expect for name in names
        )
        related = trigger.match_related
        narrowed = any(
            _narrows(one) for one in (related if isinstance(related, list) else [related])
        )
        own_runs = any(
            str(p).startswith("legato.flow-run.") and p.strip("*") != "legato.flow-run."
            for p in _patterns(trigger.match.get(RESOURCE_ID, []))
        )
        if hears_runs and not narrowed and not own_runs:
            return (
                "this automation runs a deployment and fires on flow-run states of any "
                "deployment, so each run it starts would fire it again: narrow the trigger "
                "to what it watches, e.g. match_related: {legato.resource.role: deployment, "
                "legato.resource.name: etl/nightly}"
            )
    return None


def _patterns(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class ActionRecord(BaseModel):
    """What became of one action of a firing."""

    position: int
    type: str
    status: Literal["pending", "running", "done", "failed"]
    attempts: int
    error: str | None = None
    result: dict[str, Any] | None = None
    finished: datetime | None = None


class FiringRecord(BaseModel):
    """A trigger fired (``triggered``), went back to normal (``resolved``), or fired in
    its automation's cooldown (``suppressed``: no action; counted in the next firing)."""

    id: str
    kind: Literal["triggered", "resolved", "suppressed"]
    at: datetime
    late: bool = False
    key: str = ""
    event_ids: list[str] = []
    suppressed: int = 0
    """For a triggered firing: how many were suppressed since the one before."""
    actions: list[ActionRecord] = []


class AutomationRecord(BaseModel):
    """A stored automation."""

    id: str
    spec: AutomationSpec
    created: datetime
    updated: datetime
    last_fired: datetime | None = None


__all__ = [
    "RESOURCE_ID",
    "AnyAction",
    "AnyTrigger",
    "AutomationRecord",
    "AutomationSpec",
    "CompoundTrigger",
    "EventTrigger",
    "SequenceTrigger",
]
