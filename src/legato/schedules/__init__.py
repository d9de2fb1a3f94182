"""When runs are due: cron, interval and RRULE schedules in a time zone, as pure values.

Each schedule is a frozen value with ``next_runs(after, count)``, which returns the next
run times strictly after ``after`` (an aware datetime; naive ones are refused), as aware
datetimes in the schedule's zone. Nothing here reads a clock, a store or the network: the
scheduler service decides *when to ask*, these decide *what is due*.

DST policy (checked in America/New_York and Europe/London):

- A wall time a spring-forward change skips (02:30 daily in New York on 2026-03-08) runs
  once, at the first real moment after it: 03:00 local.
- A wall time a fall-back change repeats (01:30 daily in New York on 2026-11-01) runs
  once, at its first occurrence (01:30 EDT).
- Cron jobs with ``*`` in the minute or hour field (``0 * * * *``, ``*/15 * * * *``) run
  for each real hour or minute, as Debian cron does: twice for the repeated hour of a
  fall-back night, never in the skipped hour of a spring-forward night.
- RRULE recurrences are wall-clock throughout, hourly ones too: each wall time once.
- ``Interval`` keeps elapsed time ("every 24 hours" drifts by an hour of wall time across a
  change); ``Cron`` and ``RRule`` keep wall time ("every day at 09:00" stays at 09:00).
"""

from legato.schedules.cron import Cron
from legato.schedules.interval import Interval
from legato.schedules.rrule import RRule
from legato.schedules.stored import Schedule, schedule_from_dict

__all__ = ["Cron", "Interval", "RRule", "Schedule", "schedule_from_dict"]
