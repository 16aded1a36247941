# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalisation and comparison of Datadog resources: what a module treats as "no change".

Each ``normalise_*`` function takes an API document (a request body or a response) and returns
the comparable form: read-only and server-filled fields removed, aliases folded, orderings that
the API does not keep sorted, whitespace trimmed. ``changed_fields`` then compares the desired
side against the current side.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import re

DASHBOARD_READ_ONLY = (
    "id", "author_handle", "author_name", "created_at", "modified_at", "url", "is_read_only",
    "deleted_at",
)
# Top-level dashboard fields that the server adds as null or empty when they were not sent.
DASHBOARD_EMPTY_DEFAULTS = ("description", "template_variables", "notify_list", "restricted_roles",
                            "template_variable_presets", "tags")
MONITOR_READ_ONLY = (
    "id", "org_id", "created", "created_at", "modified", "deleted", "creator", "overall_state",
    "overall_state_modified", "multi", "matching_downtimes", "state", "assets", "restriction_policy",
)
DOWNTIME_READ_ONLY = ("created", "modified", "status", "canceled")

MARKER_TAG_OWNER = "managed-by:ansible"
MARKER_TAG_PREFIX = "ansible-id:"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$")
_TEXT_MARKER = re.compile(r"\[ansible-id:([A-Za-z0-9][A-Za-z0-9_.:/-]{0,99})\]\s*$")
# The token of a dashboard's public link, kept on the line before the key marker.
_SHARE_MARKER = re.compile(r"\[ansible-share:([A-Za-z0-9_-]+)\]\s*$")


def key_error(key):
    """Return an error message for an invalid resource key, or None."""
    if isinstance(key, str) and KEY_PATTERN.match(key):
        return None
    return ("invalid key %r: use 1 to 100 characters from letters, digits and _ . : / -, "
            "starting with a letter or digit" % (key,))


def text_marker(key):
    return "[ansible-id:%s]" % key


def key_from_text(text):
    """Return the key of a trailing ``[ansible-id:KEY]`` marker line, or None."""
    if not isinstance(text, str):
        return None
    match = _TEXT_MARKER.search(text)
    return match.group(1) if match else None


def share_token_from_text(text):
    """Return the public-link token stored before the key marker, or None."""
    if not isinstance(text, str):
        return None
    match = _SHARE_MARKER.search(_TEXT_MARKER.sub("", text).rstrip())
    return match.group(1) if match else None


def strip_text_marker(text):
    if not isinstance(text, str):
        return text
    return _SHARE_MARKER.sub("", _TEXT_MARKER.sub("", text).rstrip()).rstrip()


def add_text_marker(text, key, share_token=None):
    base = strip_text_marker(text or "").rstrip()
    lines = ["[ansible-share:%s]" % share_token] if share_token else []
    lines.append(text_marker(key))
    return (base + "\n\n" if base else "") + "\n".join(lines)


def key_from_tags(tags):
    """Return the ansible-id key carried by a monitor's tags, or None."""
    for tag in tags or []:
        if isinstance(tag, str) and tag.startswith(MARKER_TAG_PREFIX):
            return tag[len(MARKER_TAG_PREFIX):]
    return None


def is_empty(value):
    return value is None or value == {} or value == [] or value == ""


def _strip_nested_widget_ids(widgets):
    for widget in widgets or []:
        if not isinstance(widget, dict):
            continue
        widget.pop("id", None)
        definition = widget.get("definition")
        if isinstance(definition, dict) and isinstance(definition.get("widgets"), list):
            _strip_nested_widget_ids(definition["widgets"])


def normalise_dashboard(doc):
    """Return the comparable form of a dashboard: every field the user can set, no read-only ones."""
    result = copy.deepcopy(doc)
    for field in DASHBOARD_READ_ONLY:
        result.pop(field, None)
    for field in DASHBOARD_EMPTY_DEFAULTS:
        if is_empty(result.get(field)):
            result.pop(field, None)
    _strip_nested_widget_ids(result.get("widgets"))
    for field in ("title", "description"):
        if isinstance(result.get(field), str):
            result[field] = result[field].strip()
    if isinstance(result.get("notify_list"), list):
        result["notify_list"] = sorted(result["notify_list"])
    if isinstance(result.get("tags"), list):
        result["tags"] = sorted(result["tags"])
    return result


def dashboard_body(doc):
    """Return the request body for a dashboard: the user document without read-only fields."""
    body = copy.deepcopy(doc)
    for field in DASHBOARD_READ_ONLY:
        body.pop(field, None)
    return body


def _number(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def normalise_monitor(doc):
    """Return the comparable form of a monitor."""
    result = copy.deepcopy(doc)
    for field in MONITOR_READ_ONLY:
        result.pop(field, None)
    if result.get("type") == "metric alert":
        result["type"] = "query alert"
    for field in ("name", "message"):
        if isinstance(result.get(field), str):
            result[field] = result[field].strip()
    if isinstance(result.get("tags"), list):
        result["tags"] = sorted(set(result["tags"]))
    options = result.get("options")
    if isinstance(options, dict):
        for field in ("thresholds", "threshold_windows"):
            if isinstance(options.get(field), dict):
                options[field] = dict((k, _number(v)) for k, v in options[field].items())
        if not options.get("notify_no_data"):
            options.pop("no_data_timeframe", None)
        for field in ("renotify_statuses",):
            if isinstance(options.get(field), list):
                options[field] = sorted(options[field])
    return result


def normalise_downtime(doc):
    """Return the comparable attributes of a v2 downtime (an envelope or its attributes)."""
    attributes = doc
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):
        attributes = doc["data"].get("attributes", {})
    elif isinstance(doc, dict) and isinstance(doc.get("attributes"), dict):
        attributes = doc["attributes"]
    result = copy.deepcopy(attributes)
    for field in DOWNTIME_READ_ONLY:
        result.pop(field, None)
    schedule = result.get("schedule")
    if isinstance(schedule, dict):
        schedule.pop("current_downtime", None)
        # A one-time start of null means "now"; the server stores its own clock value.
        if "recurrences" not in schedule:
            if schedule.get("start") is None:
                schedule.pop("start", None)
            for field in ("start", "end"):
                if isinstance(schedule.get(field), str):
                    schedule[field] = _utc_timestamp(schedule[field])
    if is_empty(result.get("display_timezone")):
        # The server stores an empty or missing display_timezone as UTC.
        result["display_timezone"] = "UTC"
    for field in ("notify_end_states", "notify_end_types"):
        if isinstance(result.get(field), list):
            result[field] = sorted(set(result[field]))
    identifier = result.get("monitor_identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("monitor_tags"), list):
        identifier["monitor_tags"] = sorted(set(identifier["monitor_tags"]))
    if isinstance(result.get("message"), str):
        result["message"] = result["message"].strip()
    return result


def _utc_timestamp(text):
    """Return an ISO-8601 timestamp in UTC with a +00:00 offset, or ``text`` unchanged if unparsable."""
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return text
    if parsed.tzinfo is None:
        return text
    return parsed.astimezone(datetime.timezone.utc).isoformat()


def values_equal(desired, current, subset):
    """Compare two normalised values; with ``subset`` only keys present on the desired side count."""
    if is_empty(desired) and is_empty(current):
        return True
    if isinstance(desired, dict) and isinstance(current, dict):
        keys = set(desired) if subset else set(desired) | set(current)
        return all(values_equal(desired.get(k), current.get(k), subset) for k in keys)
    if isinstance(desired, list) and isinstance(current, list):
        if len(desired) != len(current):
            return False
        return all(values_equal(d, c, subset) for d, c in zip(desired, current))
    if isinstance(desired, bool) or isinstance(current, bool):
        return desired is current
    if isinstance(desired, (int, float)) and isinstance(current, (int, float)):
        return float(desired) == float(current)
    return desired == current


def changed_fields(desired, current, subset):
    """Return the sorted top-level field names whose normalised values differ."""
    keys = set(desired) if subset else set(desired) | set(current)
    return sorted(k for k in keys if not values_equal(desired.get(k), current.get(k), subset))


def project(current, desired):
    """Return ``current`` limited to the keys of ``desired`` (recursively in dicts), for diffs."""
    if isinstance(current, dict) and isinstance(desired, dict):
        return dict((k, project(current.get(k), desired[k])) for k in desired if k in current)
    return current
