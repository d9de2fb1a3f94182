"""Notification channels and delivery: Slack, Microsoft Teams, generic JSON webhooks,
email over SMTP and (an optional extra) apprise.

- :mod:`~legato.notifications.channels`: a channel's config split into clear and
  encrypted parts (:mod:`legato.secrets_box` holds the key);
- :mod:`~legato.notifications.bodies`: what each kind is sent (pure);
- :mod:`~legato.notifications.senders`: one try over HTTP, SMTP or apprise;
- :mod:`~legato.notifications.retries`: which failures are retried, and when (pure);
- :mod:`~legato.notifications.delivery`: :func:`deliver`, tries recorded, never raising
  on a failed delivery;
- :mod:`~legato.notifications.messages`: the message an event becomes (pure);
- :mod:`~legato.notifications.service`: :class:`Notifications`, what the API and the
  local orchestrator call.

Below the server and the orchestrators, above the store: it imports neither of them.
"""

from legato.notifications.delivery import deliver, event_message
from legato.notifications.messages import message_for_event
from legato.notifications.retries import DEFAULT_POLICY, RetryPolicy
from legato.notifications.service import Notifications

__all__ = [
    "DEFAULT_POLICY",
    "Notifications",
    "RetryPolicy",
    "deliver",
    "event_message",
    "message_for_event",
]
