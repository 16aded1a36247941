# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local validation of v2 downtime schedules, run before any request is sent.

The API accepts only part of RFC 5545 in a recurrence ``rrule`` and rejects v1-style
recurrences (``type: weeks``, ``period``) with "Invalid recurrence type".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

DURATION_PATTERN = re.compile(r"^[0-9]+[mhdw]$")
LOCAL_START_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")
ALLOWED_RRULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST")
FORBIDDEN_RRULE_PARTS = ("DTSTART", "DTEND", "DURATION")
ALLOWED_FREQ = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
V1_RECURRENCE_FIELDS = ("type", "period", "week_days", "until_date", "until_occurrences")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_RECURRENCES = 5
NOTIFY_END_STATES = ("alert", "warn", "no data")
NOTIFY_END_TYPES = ("canceled", "expired")


def rrule_errors(rrule, where):
    errors = []
    if not isinstance(rrule, str) or not rrule.strip():
        return ["%s.rrule is missing: give an RFC 5545 rule such as FREQ=WEEKLY;BYDAY=MO,TU" % where]
    if rrule.upper().startswith("RRULE:"):
        errors.append("%s.rrule must not start with 'RRULE:': give only the rule parts" % where)
        rrule = rrule[6:]
    parts = {}
    for item in rrule.split(";"):
        name, sep, value = item.partition("=")
        name = name.strip().upper()
        if not sep or not value:
            errors.append("%s.rrule part %r is invalid: write NAME=VALUE" % (where, item))
            continue
        parts[name] = value.strip().upper()
    for name in parts:
        if name in FORBIDDEN_RRULE_PARTS:
            errors.append("%s.rrule must not contain %s: set the first occurrence in %s.start and the "
                          "length in %s.duration" % (where, name, where, where))
        elif name not in ALLOWED_RRULE_PARTS:
            errors.append("%s.rrule part %s is not supported by Datadog: use only %s"
                          % (where, name, ", ".join(ALLOWED_RRULE_PARTS)))
    freq = parts.get("FREQ")
    if freq is None:
        errors.append("%s.rrule has no FREQ: add for example FREQ=WEEKLY" % where)
    elif freq not in ALLOWED_FREQ:
        errors.append("%s.rrule FREQ=%s is not supported: use one of %s" % (where, freq, ", ".join(ALLOWED_FREQ)))
    if "BYDAY" in parts and freq in ("DAILY", "WEEKLY"):
        bad = [d for d in parts["BYDAY"].split(",") if d not in WEEKDAYS]
        if bad:
            errors.append("%s.rrule BYDAY has invalid days %s: use %s" % (where, ",".join(bad), ",".join(WEEKDAYS)))
    if "INTERVAL" in parts and not parts["INTERVAL"].isdigit():
        errors.append("%s.rrule INTERVAL=%s is invalid: give a whole number" % (where, parts["INTERVAL"]))
    return errors


def schedule_errors(schedule, display_timezone, check_past, now=None):
    """Return every problem of a downtime ``schedule`` (empty list when it is valid)."""
    errors = []
    if not isinstance(schedule, dict):
        return ["schedule is missing: give {start, end} for a one-time downtime or "
                "{timezone, recurrences: [{rrule, duration, start}]} for a recurring one"]
    for field in V1_RECURRENCE_FIELDS + ("rrule",):
        if field in schedule:
            errors.append("schedule.%s is a v1 recurrence field: put recurrences in schedule.recurrences "
                          "as {rrule, duration, start} items" % field)
    if "recurrences" not in schedule:
        unknown = sorted(set(schedule) - {"start", "end"} - set(V1_RECURRENCE_FIELDS) - {"rrule"})
        if unknown:
            errors.append("schedule has unknown fields %s: a one-time schedule takes only start and end"
                          % ", ".join(unknown))
        return errors
    recurrences = schedule.get("recurrences")
    timezone = schedule.get("timezone")
    if not isinstance(timezone, str) or not timezone:
        errors.append("schedule.timezone is missing: give an IANA name such as Europe/Paris")
    elif not timezone_known(timezone):
        errors.append("schedule.timezone %r is not a known IANA time zone name" % timezone)
    if display_timezone is not None and timezone and display_timezone != timezone:
        errors.append("display_timezone %r must equal schedule.timezone %r for a recurring downtime: "
                      "leave display_timezone unset or make them equal" % (display_timezone, timezone))
    if not isinstance(recurrences, list) or not 1 <= len(recurrences) <= MAX_RECURRENCES:
        count = len(recurrences) if isinstance(recurrences, list) else 0
        errors.append("schedule.recurrences has %d items: give 1 to %d" % (count, MAX_RECURRENCES))
        return errors
    for index, recurrence in enumerate(recurrences):
        where = "schedule.recurrences[%d]" % index
        if not isinstance(recurrence, dict):
            errors.append("%s must be a mapping with rrule, duration and start" % where)
            continue
        for field in V1_RECURRENCE_FIELDS:
            if field in recurrence:
                errors.append("%s.%s is a v1 recurrence field: the v2 API takes only rrule, duration and "
                              "start" % (where, field))
        unknown = sorted(set(recurrence) - {"rrule", "duration", "start"} - set(V1_RECURRENCE_FIELDS))
        if unknown:
            errors.append("%s has unknown fields %s: use only rrule, duration and start" % (where, ", ".join(unknown)))
        errors.extend(rrule_errors(recurrence.get("rrule"), where))
        duration = recurrence.get("duration")
        if not isinstance(duration, str) or not DURATION_PATTERN.match(duration):
            errors.append("%s.duration %r is invalid: give a whole number followed by m, h, d or w "
                          "(for example 14h or 2d)" % (where, duration))
        start = recurrence.get("start")
        if start is not None:
            if not isinstance(start, str) or not LOCAL_START_PATTERN.match(start):
                errors.append("%s.start %r is invalid: give a local date-time without offset such as "
                              "2030-01-07T19:00:00, read in schedule.timezone" % (where, start))
            elif check_past and timezone_known(timezone or "") and is_past(start, timezone, now):
                errors.append("%s.start %s is in the past in %s: Datadog refuses past starts on create and "
                              "update; give a future start or set rebase_past_start: true"
                              % (where, start, timezone))
    return errors


def timezone_known(name):
    if name == "UTC":
        return True
    try:
        import zoneinfo
    except ImportError:  # Python < 3.9: accept the name and let the API check it
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local_now(timezone, now=None):
    """Return the naive local time in ``timezone`` for ``now`` (an aware datetime, default: the clock)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        import zoneinfo
        return now.astimezone(zoneinfo.ZoneInfo(timezone)).replace(tzinfo=None)
    except ImportError:
        return now.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def parse_local(start):
    fmt = "%Y-%m-%dT%H:%M:%S" if start.count(":") == 2 else "%Y-%m-%dT%H:%M"
    return datetime.datetime.strptime(start, fmt)


def is_past(start, timezone, now=None):
    return parse_local(start) <= local_now(timezone, now)


def rebase_start(recurrence, timezone, now=None):
    """Return the recurrence with ``start`` moved to its next occurrence after now.

    Supported for daily and weekly rules with INTERVAL=1 (optionally with BYDAY), where moving
    the anchor keeps the cadence. Raise ValueError for other rules.
    """
    start = parse_local(recurrence["start"])
    current = local_now(timezone, now)
    if start > current:
        return recurrence
    parts = dict(p.split("=", 1) for p in recurrence["rrule"].upper().split(";") if "=" in p)
    if parts.get("INTERVAL", "1") != "1" or parts.get("FREQ") not in ("DAILY", "WEEKLY") \
            or "COUNT" in parts or "UNTIL" in parts:
        raise ValueError("cannot rebase start %s of rrule %s: only DAILY or WEEKLY rules with INTERVAL=1 and "
                         "no COUNT/UNTIL can be moved without changing their cadence; give a future start"
                         % (recurrence["start"], recurrence["rrule"]))
    if "BYDAY" in parts:
        days = set(WEEKDAYS.index(d) for d in parts["BYDAY"].split(","))
    elif parts["FREQ"] == "WEEKLY":
        days = {start.weekday()}
    else:
        days = set(range(7))
    candidate = start
    while candidate <= current or candidate.weekday() not in days:
        candidate += datetime.timedelta(days=1)
    rebased = dict(recurrence)
    rebased["start"] = candidate.strftime("%Y-%m-%dT%H:%M:%S")
    return rebased


def list_choice_errors(values, allowed, field):
    if values is None:
        return []
    if not isinstance(values, list):
        return ["%s must be a list, a subset of %s" % (field, ", ".join(allowed))]
    bad = [v for v in values if v not in allowed]
    if bad:
        return ["%s has invalid values %s: use a subset of %s" % (field, ", ".join(map(str, bad)), ", ".join(allowed))]
    return []
