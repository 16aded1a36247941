# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource types (dashboard, monitor, downtime) and the engine that plans and applies a declared set.

The engine lists each resource type once, finds every declared resource by its ownership
marker (or an explicit id), compares normalised documents, validates monitors, and only then
writes. Check mode stops after the plan, so it sends no write request.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import (
    DatadogAPIError,
    quote_id,
)
from ansible_collections.ddpoc.observability.plugins.module_utils import datadog_compare as cmp
from ansible_collections.ddpoc.observability.plugins.module_utils import datadog_downtime_rules as rules

PAGE_SIZE = 100
SPEC_CONTROL_FIELDS = ("key", "id", "state", "adopt_by_name", "rebase_past_start", "definition", "shared")
_DUPLICATE_DOWNTIME = re.compile(r"duplicate of one or more existing downtimes: \[['\"]?([0-9a-fA-F-]+)")


class SpecError(Exception):
    """A declared resource is invalid; raised before any request is sent."""


class PlanError(Exception):
    """The current state makes the plan unsafe (for example two objects carry one key)."""


def rewrite_brackets(value):
    """Return ``value`` with ``[[`` and ``]]`` turned into ``{{`` and ``}}`` (strings only, recursively)."""
    if isinstance(value, str):
        return value.replace("[[", "{{").replace("]]", "}}")
    if isinstance(value, list):
        return [rewrite_brackets(v) for v in value]
    if isinstance(value, dict):
        return dict((k, rewrite_brackets(v)) for k, v in value.items())
    return value


def _api_fields(spec):
    return dict((k, v) for k, v in spec.items() if k not in SPEC_CONTROL_FIELDS and v is not None)


class ResourceType:
    """Base class of a Datadog resource type: listing, lookup, request bodies and writes."""

    kind = None
    # API path of the collection, for example /api/v1/monitor. An object is at <path>/<id>.
    collection_path = None
    title_field = None
    subset_compare = True
    needs_read = False

    def __init__(self, client):
        self.client = client

    def object_path(self, object_id):
        return "%s/%s" % (self.collection_path, quote_id(object_id))

    def get(self, object_id):
        return self.client.request("GET", self.object_path(object_id), expected_missing=True,
                                   resource="%s %s" % (self.kind, object_id))

    def create(self, body, label):
        return self.client.request("POST", self.collection_path, body=body, idempotent=False, resource=label)

    def update(self, object_id, body, current, label):
        return self.client.request("PUT", self.object_path(object_id), body=body, resource=label)

    def delete(self, object_id, label):
        self.client.request("DELETE", self.object_path(object_id), expected_missing=True, resource=label)

    def prepare_current(self, current, spec):
        """Return the current object as it should be compared with ``spec``'s body."""
        return current

    def label(self, spec_or_key):
        key = spec_or_key.get("key") if isinstance(spec_or_key, dict) else spec_or_key
        return "%s %r" % (self.kind, key)


class MonitorType(ResourceType):
    kind = "monitor"
    collection_path = "/api/v1/monitor"
    title_field = "name"

    def list_objects(self, keys=None, include_unmarked=False):
        if include_unmarked:
            query = {}
        elif keys is not None and len(keys) == 1:
            query = {"monitor_tags": cmp.MARKER_TAG_PREFIX + keys[0]}
        else:
            query = {"monitor_tags": cmp.MARKER_TAG_OWNER}
        # Without the page parameter the API returns every matching monitor in one response,
        # so one call is a complete listing.
        objects = self.client.request("GET", self.collection_path, query=query, resource="monitor listing")
        if not isinstance(objects, list):
            raise PlanError("GET /api/v1/monitor returned %s instead of a list of monitors; refusing to "
                            "plan from an unreadable listing" % type(objects).__name__)
        return objects

    @staticmethod
    def object_id(obj):
        return obj.get("id")

    @staticmethod
    def marker_key(obj):
        if cmp.MARKER_TAG_OWNER not in (obj.get("tags") or []):
            return None
        return cmp.key_from_tags(obj.get("tags"))

    @staticmethod
    def title(obj):
        return obj.get("name")

    def build(self, spec):
        body = _api_fields(spec)
        for field in ("type", "query"):
            if not body.get(field):
                raise SpecError("%s: %s is missing; a monitor needs type and query" % (self.label(spec), field))
        if not body.get("name"):
            raise SpecError("%s: name is missing" % self.label(spec))
        tags = [t for t in (body.get("tags") or []) if not str(t).startswith(cmp.MARKER_TAG_PREFIX)
                and t != cmp.MARKER_TAG_OWNER]
        body["tags"] = sorted(set(tags)) + [cmp.MARKER_TAG_OWNER, cmp.MARKER_TAG_PREFIX + spec["key"]]
        for field in ("name", "message"):
            if isinstance(body.get(field), str):
                body[field] = body[field].strip()
        _check_thresholds(self.label(spec), body)
        return body

    @staticmethod
    def normalise(doc):
        return cmp.normalise_monitor(doc)

    def read(self, obj):
        return obj

    def validate(self, body, object_id, label):
        base = self.collection_path if object_id is None else self.object_path(object_id)
        self.client.request("POST", base + "/validate", body=body, idempotent=True, resource="%s (validate)" % label)

    def find_after_lost_create(self, key):
        return [m for m in self.list_objects(keys=[key]) if self.marker_key(m) == key]

    def export(self, obj):
        entry = cmp.normalise_monitor(obj)
        for field in ("restricted_roles", "priority"):
            if entry.get(field) is None:
                entry.pop(field, None)
        key = self.marker_key(obj)
        entry["tags"] = [t for t in entry.get("tags", []) if t != cmp.MARKER_TAG_OWNER
                         and not t.startswith(cmp.MARKER_TAG_PREFIX)]
        return _export_entry(key, obj, self.title(obj), entry)


def _check_thresholds(label, body):
    options = body.get("options") or {}
    thresholds = options.get("thresholds") or {}
    query = body.get("query") or ""
    match = re.search(r"(>=|<=|>|<)\s*(-?[0-9.]+)\s*$", query)
    critical = thresholds.get("critical")
    if match and critical is not None:
        try:
            in_query = float(match.group(2))
        except ValueError:
            return
        if float(critical) != in_query:
            raise SpecError("%s: options.thresholds.critical %s differs from the threshold %s in the query; "
                            "make them equal" % (label, critical, match.group(2)))
        warning = thresholds.get("warning")
        if warning is not None:
            above = match.group(1) in (">", ">=")
            if (above and float(warning) > float(critical)) or (not above and float(warning) < float(critical)):
                raise SpecError("%s: options.thresholds.warning %s is on the wrong side of critical %s for a "
                                "'%s' query" % (label, warning, critical, match.group(1)))


class DashboardType(ResourceType):
    kind = "dashboard"
    collection_path = "/api/v1/dashboard"
    title_field = "title"
    subset_compare = False
    needs_read = True

    def list_objects(self, keys=None, include_unmarked=False):
        objects = []
        start = 0
        while True:
            data = self.client.request("GET", self.collection_path, query={"count": PAGE_SIZE, "start": start},
                                       resource="dashboard listing")
            if not isinstance(data, dict) or not isinstance(data.get("dashboards"), list):
                raise PlanError("GET /api/v1/dashboard returned no dashboards list; refusing to plan from an "
                                "unreadable listing")
            batch = data["dashboards"]
            objects.extend(d for d in batch if include_unmarked or self.marker_key(d))
            if len(batch) < PAGE_SIZE:
                return objects
            start += PAGE_SIZE

    @staticmethod
    def object_id(obj):
        return obj.get("id")

    @staticmethod
    def marker_key(obj):
        return cmp.key_from_text(obj.get("description"))

    @staticmethod
    def title(obj):
        return obj.get("title")

    def build(self, spec):
        definition = spec.get("definition")
        if isinstance(definition, str):
            try:
                definition = json.loads(definition)
            except ValueError as exc:
                raise SpecError("%s: definition is not valid JSON (%s); paste the dashboard JSON exported "
                                "from the UI unchanged" % (self.label(spec), exc))
        body = cmp.dashboard_body(definition or {})
        body.update(_api_fields(spec))
        if spec.get("shared") is not None and not isinstance(spec["shared"], bool):
            raise SpecError("%s: shared must be true or false, got %r" % (self.label(spec), spec["shared"]))
        for field in ("title", "layout_type"):
            if not body.get(field):
                raise SpecError("%s: %s is missing" % (self.label(spec), field))
        if body["layout_type"] not in ("ordered", "free"):
            raise SpecError("%s: layout_type %r is invalid: use ordered or free" % (self.label(spec), body["layout_type"]))
        if not isinstance(body.get("widgets"), list):
            raise SpecError("%s: widgets is missing: give a list of widgets" % self.label(spec))
        if body["layout_type"] == "free":
            missing = [i for i, w in enumerate(body["widgets"]) if not isinstance(w, dict) or "layout" not in w]
            if missing:
                raise SpecError("%s: widgets %s have no layout; every widget of a free layout needs "
                                "layout {x, y, width, height}" % (self.label(spec), missing))
        tags = body.get("tags") or []
        bad = [t for t in tags if not str(t).startswith("team:")]
        if bad or len(tags) > 5:
            raise SpecError("%s: dashboard tags accept only up to 5 team:<name> tags, got %s"
                            % (self.label(spec), tags))
        body["description"] = cmp.add_text_marker(body.get("description"), spec["key"])
        return body

    @staticmethod
    def normalise(doc):
        return cmp.normalise_dashboard(doc)

    def read(self, obj):
        full = self.get(obj["id"])
        if full is None:
            raise PlanError("dashboard %s was listed but is gone; run again" % obj["id"])
        return full

    def validate(self, body, object_id, label):
        return None

    def share_step(self, spec, current):
        """Return the public-link change that ``spec.shared`` needs, as a dict.

        ``step`` is "share", "unshare" or None. ``keep`` is the token that stays in the description,
        ``old`` the token to delete. Without ``shared`` in the entry, an existing link is kept.
        """
        token = cmp.share_token_from_text((current or {}).get("description"))
        share_requested = spec.get("shared")
        result = dict(step=None, keep=None, old=None, public_url=None)
        if share_requested is None:
            result["keep"] = token
        elif share_requested and token:
            shared = self.client.request("GET", "/api/v1/dashboard/public/%s" % quote_id(token),
                                         expected_missing=True, resource="%s (public link)" % self.label(spec))
            if shared is None:
                result["step"] = "share"
            else:
                result.update(keep=token, public_url=shared.get("public_url"))
        elif share_requested:
            result["step"] = "share"
        elif token:
            result.update(step="unshare", old=token)
        return result

    def share(self, dashboard_id, layout_type, label):
        body = {"dashboard_id": dashboard_id, "share_type": "open", "global_time": {"live_span": "1h"},
                "dashboard_type": "custom_timeboard" if layout_type == "ordered" else "custom_screenboard"}
        return self.client.request("POST", "/api/v1/dashboard/public", body=body, idempotent=False,
                                   resource="%s (public link)" % label)

    def unshare(self, token, label):
        self.client.request("DELETE", "/api/v1/dashboard/public/%s" % quote_id(token), expected_missing=True,
                            resource="%s (public link)" % label)

    def find_after_lost_create(self, key):
        return [d for d in self.list_objects() if self.marker_key(d) == key]

    def export(self, obj):
        full = self.get(obj["id"]) or obj
        entry = cmp.normalise_dashboard(full)
        key = self.marker_key(full)
        if cmp.share_token_from_text(full.get("description")):
            entry["shared"] = True
        if key:
            description = cmp.strip_text_marker(entry.get("description"))
            if description:
                entry["description"] = description
            else:
                entry.pop("description", None)
        return _export_entry(key, obj, self.title(obj), entry)


class DowntimeType(ResourceType):
    kind = "downtime"
    collection_path = "/api/v2/downtime"
    title_field = "scope"

    def list_objects(self, keys=None, include_unmarked=False):
        objects = []
        offset = 0
        total = None
        while True:
            data = self.client.request("GET", self.collection_path,
                                       query={"page[offset]": offset, "page[limit]": PAGE_SIZE},
                                       resource="downtime listing")
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise PlanError("GET /api/v2/downtime returned no data list; refusing to plan from an "
                                "unreadable listing")
            batch = data["data"]
            total = ((data.get("meta") or {}).get("page") or {}).get("total_filtered_count", total)
            for item in batch:
                status = (item.get("attributes") or {}).get("status")
                if status in ("canceled", "ended"):
                    continue
                if include_unmarked or self.marker_key(item):
                    objects.append(item)
            offset += len(batch)
            if len(batch) < PAGE_SIZE or (total is not None and offset >= total):
                if total is not None and offset < total:
                    raise PlanError("downtime listing stopped at %d of %d items; refusing to plan from a "
                                    "truncated listing" % (offset, total))
                return objects

    @staticmethod
    def object_id(obj):
        return obj.get("id")

    @staticmethod
    def marker_key(obj):
        return cmp.key_from_text((obj.get("attributes") or {}).get("message"))

    @staticmethod
    def title(obj):
        return (obj.get("attributes") or {}).get("scope")

    def build(self, spec, now=None):
        label = self.label(spec)
        body = _api_fields(spec)
        errors = []
        for field in ("type", "rrule", "recurrence", "start", "end", "timezone"):
            if field in body:
                errors.append("%s is not a v2 downtime field: put times in schedule ({start, end} or "
                              "{timezone, recurrences: [{rrule, duration, start}]})" % field)
        if not body.get("scope"):
            errors.append("scope is missing: give a query such as host:web-1")
        identifier = body.get("monitor_identifier")
        if not isinstance(identifier, dict) or len(identifier) != 1 or not (
                "monitor_id" in identifier or "monitor_tags" in identifier):
            errors.append("monitor_identifier must be {monitor_id: N} or {monitor_tags: [...]} "
                          "(use monitor_tags: ['*'] for every monitor in the scope)")
        schedule = body.get("schedule")
        recurring = isinstance(schedule, dict) and "recurrences" in schedule
        if recurring and not body.get("display_timezone"):
            body["display_timezone"] = schedule.get("timezone")
        if recurring and spec.get("rebase_past_start") and rules.timezone_known(schedule.get("timezone") or ""):
            schedule = copy.deepcopy(schedule)
            try:
                schedule["recurrences"] = [rules.rebase_start(r, schedule["timezone"], now)
                                           if isinstance(r, dict) and r.get("start") and r.get("rrule") else r
                                           for r in schedule["recurrences"]]
            except (ValueError, KeyError) as exc:
                errors.append(str(exc))
            body["schedule"] = schedule
        errors.extend(rules.schedule_errors(schedule, body.get("display_timezone"), check_past=False, now=now))
        errors.extend(rules.list_choice_errors(body.get("notify_end_states"), rules.NOTIFY_END_STATES,
                                               "notify_end_states"))
        errors.extend(rules.list_choice_errors(body.get("notify_end_types"), rules.NOTIFY_END_TYPES,
                                               "notify_end_types"))
        if errors:
            raise SpecError("%s is invalid: %s" % (label, "; ".join(errors)))
        body["message"] = cmp.add_text_marker(body.get("message"), spec["key"])
        return body

    def prepare_current(self, current, spec, now=None):
        # With rebase_past_start the desired starts move forward over time. Moving the current
        # starts the same way lets an unchanged cadence compare equal, so nothing is updated weekly.
        if not spec.get("rebase_past_start"):
            return current
        current = copy.deepcopy(current)
        schedule = (current.get("attributes") or {}).get("schedule") or {}
        timezone = schedule.get("timezone")
        if "recurrences" not in schedule or not rules.timezone_known(timezone or ""):
            return current
        rebased = []
        for recurrence in schedule["recurrences"]:
            try:
                rebased.append(rules.rebase_start(recurrence, timezone, now))
            except (ValueError, KeyError):
                rebased.append(recurrence)
        schedule["recurrences"] = rebased
        return current

    def past_start_errors(self, body, now=None):
        schedule = body.get("schedule") or {}
        if "recurrences" not in schedule:
            return []
        return rules.schedule_errors(schedule, body.get("display_timezone"), check_past=True, now=now)

    @staticmethod
    def normalise(doc):
        return cmp.normalise_downtime(doc)

    def read(self, obj):
        return obj

    def get(self, object_id):
        data = ResourceType.get(self, object_id)
        return data.get("data") if isinstance(data, dict) else None

    def validate(self, body, object_id, label):
        return None

    def create(self, body, label):
        envelope = {"data": {"type": "downtime", "attributes": body}}
        try:
            data = self.client.request("POST", self.collection_path, body=envelope, idempotent=False, resource=label)
        except DatadogAPIError as exc:
            match = _DUPLICATE_DOWNTIME.search(" ".join(str(e) for e in exc.errors))
            if exc.status == 400 and match:
                existing = self.get(match.group(1))
                if existing and self.marker_key(existing) == cmp.key_from_text(body.get("message")):
                    return existing
            raise
        return data.get("data") if isinstance(data, dict) else data

    def update(self, object_id, body, current, label):
        desired = cmp.normalise_downtime(body)
        actual = cmp.normalise_downtime(current)
        fields = cmp.changed_fields(desired, actual, subset=True)
        if "schedule" in fields or "display_timezone" in fields:
            fields = sorted(set(fields) | {"schedule", "display_timezone"} & set(body))
        attributes = dict((f, body[f]) for f in fields if f in body)
        envelope = {"data": {"id": object_id, "type": "downtime", "attributes": attributes}}
        data = self.client.request("PATCH", self.object_path(object_id), body=envelope, resource=label)
        return data.get("data") if isinstance(data, dict) else data

    def find_after_lost_create(self, key):
        return [d for d in self.list_objects() if self.marker_key(d) == key]

    def export(self, obj):
        entry = cmp.normalise_downtime(obj)
        key = self.marker_key(obj)
        if key:
            message = cmp.strip_text_marker(entry.get("message"))
            if message:
                entry["message"] = message
            else:
                entry.pop("message", None)
        return _export_entry(key, obj, self.title(obj), entry)


def _export_entry(key, obj, title, entry):
    result = {}
    if key:
        result["key"] = key
    else:
        slug = re.sub(r"[^a-z0-9]+", "-", (title or "resource").lower()).strip("-")[:60] or "resource"
        result["key"] = "%s-%s" % (slug, obj.get("id"))
        # An unmarked object is adopted by id on the first run, which then writes the marker.
        result["id"] = obj.get("id")
    result.update(entry)
    return result


RESOURCE_TYPES = (("dashboards", DashboardType), ("monitors", MonitorType), ("downtimes", DowntimeType))
