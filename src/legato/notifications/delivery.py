"""Delivering one message to one channel: every try recorded, failures never raised.

:func:`deliver` is what the automation executor calls, synchronously, from its service
thread: it writes a ``pending`` delivery, tries, waits (:class:`RetryPolicy`) and tries
again while the failure may pass, writes each attempt as it ends, and returns the
delivery ``sent`` or ``failed``. Nothing that goes wrong while sending (the receiver, the
network, a key that cannot read the channel's secrets, a bug in a sender) escapes: it
is the delivery's ``last_error``, so a notification never changes the run it is about.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from legato.errors import LegatoError, ObjectNotFound
from legato.notifications.channels import open_channel
from legato.notifications.messages import flow_run_id_of, message_for_event
from legato.notifications.retries import DEFAULT_POLICY, RetryPolicy
from legato.notifications.senders import DEFAULT_TIMEOUT, Outcome, timed
from legato.schemas.notifications import AttemptOutcome, AttemptRecord, DeliveryRecord, Message

if TYPE_CHECKING:
    from legato.schemas.events import EventRecord
    from legato.secrets_box import SecretBox
    from legato.store import Store

logger = logging.getLogger("legato.notifications")


def deliver(
    store: Store,
    channel_name: str,
    message: Message,
    *,
    box: SecretBox | Callable[[], SecretBox],
    automation_id: str | None = None,
    firing_id: str | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryRecord:
    """Send ``message`` to the channel named ``channel_name``; the delivery as stored.

    ``box``: the secret box, or a function making it (a key that cannot be loaded is then
    a failed delivery saying why, not an exception). Raises only ObjectNotFound (no
    channel has that name: there is nowhere to record a delivery) and StoreError (the
    store cannot be written). The worst case takes ``policy.attempts`` tries of up to
    ``timeout`` seconds each plus the waits between them.
    """
    channel = store.notifications.read_channel(channel_name)
    notes = store.notifications
    delivery = notes.start_delivery(
        channel,
        message.subject,
        message.text(),
        automation_id=automation_id,
        firing_id=firing_id,
    )
    try:
        config = open_channel(channel, box if not callable(box) else box())
    except LegatoError as exc:
        logger.warning("notification to channel %r not sent: %s", channel.name, exc)
        return notes.record_attempts(delivery.id, [], status="failed", last_error=str(exc))
    attempts: list[AttemptRecord] = []
    number = 0
    while True:
        number += 1
        at = datetime.now(UTC)
        try:
            outcome, took = timed(config, message, timeout)
        except Exception as exc:  # a sender's bug must not escape into the caller
            logger.exception("notification sender for channel %r failed", channel.name)
            outcome, took = (
                Outcome(False, False, error=f"internal error: {type(exc).__name__}"),
                0.0,
            )
        delay = policy.delay_after(number) if outcome.retryable else None
        verdict: AttemptOutcome = (
            "sent" if outcome.sent else ("retry" if delay is not None else "failed")
        )
        attempts.append(
            AttemptRecord(
                at=at,
                outcome=verdict,
                status_code=outcome.status_code,
                error=outcome.error,
                duration=round(took, 4),
            )
        )
        if outcome.sent:
            logger.info("notification sent to channel %r (attempt %d)", channel.name, number)
            return notes.record_attempts(
                delivery.id, attempts, status="sent", last_error=outcome.error
            )
        if delay is None:
            logger.warning(
                "notification to channel %r failed after %d attempt(s): %s",
                channel.name,
                number,
                outcome.error,
            )
            return notes.record_attempts(
                delivery.id, attempts, status="failed", last_error=outcome.error
            )
        notes.record_attempts(delivery.id, attempts, status="pending", last_error=outcome.error)
        sleep(delay)


def event_message(store: Store, event: EventRecord, public_url: str | None) -> Message:
    """:func:`~legato.notifications.messages.message_for_event`, with the flow run it is
    about read from the store (for its duration) when it is there."""
    run = None
    flow_run_id = flow_run_id_of(event)
    if flow_run_id is not None and event.resource_id.startswith("legato.flow-run."):
        try:
            run = store.read_flow_run(flow_run_id)
        except ObjectNotFound:
            run = None
    return message_for_event(event, public_url, run=run)
