"""``legato schedule preview``: next run times from the command line, no store needed."""

from __future__ import annotations

import json

import pytest

from fixtures.cli import cli
from fixtures.commands import run_legato

YEAR_1_UTC = "0001-01-01T00:00+00:00"


def test_preview_cron_shows_local_and_utc_times_across_spring_forward() -> None:
    done = run_legato(
        "schedule", "preview", "--cron", "30 2 * * *", "--timezone", "America/New_York",
        "--after", "2026-03-07T12:00", "--count", "2",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "LOCAL (America/New_York)" in lines[0] and "UTC" in lines[0]
    assert lines[1].split() == [
        "1",
        "2026-03-08",
        "03:00:00",
        "EDT",
        "(-0400)",
        "2026-03-08",
        "07:00:00",
    ]
    assert lines[2].split() == [
        "2",
        "2026-03-09",
        "02:30:00",
        "EDT",
        "(-0400)",
        "2026-03-09",
        "06:30:00",
    ]
    assert len(lines) == 3


def test_preview_json_is_a_list_of_iso_times_with_offsets() -> None:
    result = cli(
        "schedule", "preview", "--rrule", "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
        "--timezone", "Europe/London", "--after", "2026-10-24T12:00:00+01:00", "--count", "2", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]


def test_preview_interval_counts_elapsed_seconds() -> None:
    result = cli(
        "schedule", "preview", "--interval", "5400", "--after", "2026-01-01T00:00:00Z", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    times = json.loads(result.stdout)
    assert len(times) == 10
    assert times[:3] == [
        "2026-01-01T01:30:00+00:00",
        "2026-01-01T03:00:00+00:00",
        "2026-01-01T04:30:00+00:00",
    ]


def test_preview_defaults_to_runs_after_now() -> None:
    result = cli("schedule", "preview", "--cron", "@hourly", "--count", "3", "--json")

    assert result.exit_code == 0, result.output
    times = json.loads(result.stdout)
    assert len(times) == 3 and all(time.endswith(":00:00+00:00") for time in times)


def test_preview_of_an_ended_rule_says_so() -> None:
    result = cli(
        "schedule", "preview", "--rrule", "DTSTART:20200101T000000 RRULE:FREQ=DAILY;COUNT=1",
        "--after", "2026-01-01T00:00Z",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "No runs after 2026-01-01T00:00:00+00:00: the schedule has ended." in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cron", "61 * * * *"],
            "error: cron expression '61 * * * *': minute field '61' is out of range 0-59",
        ),
        (
            ["--cron", "@daily", "--timezone", "Europe/Lodnon"],
            "error: unknown time zone 'Europe/Lodnon'; use an IANA name such as Europe/London",
        ),
        ([], "error: give exactly one of --cron, --interval or --rrule (got none)"),
        (
            ["--cron", "@daily", "--interval", "60"],
            "error: give exactly one of --cron, --interval or --rrule (got --cron and --interval)",
        ),
        (["--interval", "soon"], "error: --interval 'soon' is not a number of seconds"),
        (["--interval", "-1"], "error: interval -1.0 must be above 0"),
        (["--rrule", "FREQ=DAYLY"], "error: RRULE 'FREQ=DAYLY' is not valid"),
        (["--cron", "@daily", "--after", "tomorrow"], "error: --after 'tomorrow' is not an ISO"),
        (  # an OverflowError traceback: year 1 in Tokyo is year 0 in UTC
            ["--rrule", "FREQ=DAILY", "--timezone", "Asia/Tokyo", "--after", "0001-01-01T00:00"],
            "error: --after '0001-01-01T00:00' is before year 1; start it at 0001-01-02",
        ),
        (
            ["--rrule", "FREQ=DAILY", "--timezone", "America/New_York", "--after", YEAR_1_UTC],
            "error: --after '0001-01-01T00:00+00:00' is before 0001-01-02T00:00:00+00:00",
        ),
    ],
)
def test_preview_bad_input_is_one_error_line_and_exit_1(args: list[str], message: str) -> None:
    done = run_legato("schedule", "preview", *args)

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(message)
    assert len(done.stderr.splitlines()) == 1


def test_schedule_is_listed_in_help() -> None:
    result = cli("--help")

    assert result.exit_code == 0
    assert "schedule" in result.stdout


def test_preview_count_over_ten_thousand_is_refused() -> None:
    result = cli("schedule", "preview", "--interval", "60", "--count", "100000000")
    assert result.exit_code == 2
    assert "--count" in result.output


def test_preview_takes_an_rrule_set_with_exdate_and_rdate() -> None:
    result = cli(
        "schedule", "preview", "--rrule",
        "DTSTART;TZID=Europe/London:20260302T090000\nRRULE:FREQ=DAILY\n"
        "EXDATE;TZID=Europe/London:20260303T090000\nRDATE:20260303T150000Z",
        "--timezone", "Europe/London", "--after", "2026-03-02T10:00Z", "--count", "3", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        "2026-03-03T15:00:00+00:00",
        "2026-03-04T09:00:00+00:00",
        "2026-03-05T09:00:00+00:00",
    ]
