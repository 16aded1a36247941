# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.ddpoc.observability.plugins.module_utils import datadog_downtime_rules as rules

NOW = datetime.datetime(2030, 1, 2, 12, 0, tzinfo=datetime.timezone.utc)  # a Wednesday


def recurring(*recurrences, timezone="Europe/Paris"):
    return {"timezone": timezone, "recurrences": list(recurrences)}


WEEKDAY_EVENINGS = {"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "duration": "14h", "start": "2030-01-07T19:00:00"}
WEEKEND = {"rrule": "FREQ=WEEKLY;BYDAY=SA", "duration": "2d", "start": "2030-01-05T00:00:00"}


@pytest.mark.parametrize("recurrence", [WEEKDAY_EVENINGS, WEEKEND,
                                        {"rrule": "FREQ=MONTHLY;BYMONTHDAY=1;COUNT=3", "duration": "90m",
                                         "start": "2030-02-01T02:00"}])
def test_valid_recurrences_accepted(recurrence):
    assert rules.schedule_errors(recurring(recurrence), None, check_past=True, now=NOW) == []


@pytest.mark.parametrize("recurrence, expected", [
    (dict(WEEKEND, type="weeks"), "v1 recurrence field"),
    (dict(WEEKEND, rrule="DTSTART:20300105T000000;FREQ=WEEKLY"), "invalid"),
    (dict(WEEKEND, rrule="FREQ=WEEKLY;DTSTART=20300105T000000Z"), "must not contain DTSTART"),
    (dict(WEEKEND, rrule="FREQ=WEEKLY;BYDAY=SA;DURATION=PT48H"), "must not contain DURATION"),
    (dict(WEEKEND, rrule="FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"), "BYSETPOS is not supported"),
    (dict(WEEKEND, rrule="FREQ=HOURLY"), "FREQ=HOURLY is not supported"),
    (dict(WEEKEND, rrule="BYDAY=SA"), "has no FREQ"),
    (dict(WEEKEND, rrule="FREQ=WEEKLY;BYDAY=SAT"), "invalid days SAT"),
    (dict(WEEKEND, duration="14 hours"), "duration '14 hours' is invalid"),
    (dict(WEEKEND, duration="2"), "duration '2' is invalid"),
    (dict(WEEKEND, start="2030-01-05T00:00:00+01:00"), "without offset"),
    (dict(WEEKEND, period=1), "v1 recurrence field"),
])
def test_invalid_recurrence_rejected(recurrence, expected):
    errors = rules.schedule_errors(recurring(recurrence), None, check_past=True, now=NOW)
    assert any(expected in e for e in errors), errors


def test_more_than_five_recurrences_rejected():
    errors = rules.schedule_errors(recurring(*[WEEKEND] * 6), None, check_past=False)
    assert errors == ["schedule.recurrences has 6 items: give 1 to 5"]


def test_no_recurrence_rejected():
    assert rules.schedule_errors(recurring(), None, check_past=False) == ["schedule.recurrences has 0 items: give 1 to 5"]


def test_v1_rrule_at_schedule_level_rejected():
    errors = rules.schedule_errors({"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": None}, None, check_past=False)
    assert any("v1 recurrence field" in e for e in errors)


def test_display_timezone_must_match():
    errors = rules.schedule_errors(recurring(WEEKEND), "UTC", check_past=False)
    assert any("must equal schedule.timezone" in e for e in errors)


def test_unknown_timezone_rejected():
    errors = rules.schedule_errors(recurring(WEEKEND, timezone="Europe/Atlantis"), None, check_past=False)
    assert any("not a known IANA" in e for e in errors)


def test_past_start_rejected():
    errors = rules.schedule_errors(recurring(dict(WEEKEND, start="2029-12-29T00:00:00")), None, True, now=NOW)
    assert any("is in the past" in e for e in errors)


def test_rebase_keeps_weekday_and_time():
    rebased = rules.rebase_start(dict(WEEKEND, start="2029-06-01T00:00:00"), "Europe/Paris", NOW)
    assert rebased["start"] == "2030-01-05T00:00:00"
    assert datetime.datetime.strptime(rebased["start"], "%Y-%m-%dT%H:%M:%S").weekday() == 5


def test_rebase_weekday_rule_picks_next_weekday():
    rebased = rules.rebase_start(dict(WEEKDAY_EVENINGS, start="2029-01-01T19:00:00"), "UTC", NOW)
    assert rebased["start"] == "2030-01-02T19:00:00"


def test_rebase_refuses_interval():
    with pytest.raises(ValueError) as info:
        rules.rebase_start({"rrule": "FREQ=WEEKLY;INTERVAL=2", "duration": "1h", "start": "2020-01-01T00:00:00"},
                           "UTC", NOW)
    assert "INTERVAL=1" in str(info.value)
