"""The rules of events, pure (room 9 of the design): what a stored state change becomes
as an event (:mod:`~legato.event_rules.state_events`), what a ``*`` pattern matches
(:mod:`~legato.event_rules.patterns`), when an automation's trigger fires
(:mod:`~legato.event_rules.triggers`), and how a webhook's template makes an HTTP request an event
(:mod:`~legato.event_rules.webhooks`).

Storing and reading events is :mod:`legato.store.events`; the API, the live stream and
the services that evaluate automations and prune events are in :mod:`legato.server`; what user code calls
is :mod:`legato.events` (``emit_event``).
"""
