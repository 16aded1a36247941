# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local fake of the Datadog HTTP API for tests and benchmarks (standard library only).

It serves the dashboard, monitor, downtime (v2) and graph snapshot endpoints that the
ddpoc.observability modules use, with the real server's visible behaviour: read-only and
server-filled fields, ``metric alert`` stored as ``query alert``, paging, rate-limit headers,
403 without keys. Test-only control endpoints under ``/_fake/`` inject faults and expose
request counters; they need no keys. It listens only on the address given, normally 127.0.0.1.
"""

import argparse
import copy
import datetime
import json
import logging
import random
import re
import string
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOG = logging.getLogger("fakeapi")

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MONITOR_TYPES = (
    "composite", "event alert", "log alert", "metric alert", "process alert", "query alert", "rum alert",
    "service check", "synthetics alert", "trace-analytics alert", "slo alert", "event-v2 alert",
    "audit alert", "ci-pipelines alert", "ci-tests alert", "error-tracking alert", "database-monitoring alert",
)
NO_OPERATOR_TYPES = ("composite", "service check", "synthetics alert", "slo alert")
MONITOR_OPTION_DEFAULTS = {"notify_no_data": False, "notify_audit": False, "new_host_delay": 300,
                           "include_tags": True, "silenced": {}}
QUERY_THRESHOLD = re.compile(r"^\s*\w+\([^)]*\)\s*:.+?(>=|<=|>|<)\s*(-?[0-9.]+)\s*$")
RRULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST")
DURATION = re.compile(r"^[0-9]+[mhdw]$")
USER_ID = "3ad549bf-0000-4000-8000-000000000001"


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class ApiError(Exception):
    def __init__(self, status, *errors):
        super().__init__(status)
        self.status = status
        self.errors = list(errors)


class Faults:
    """Fault rules set through POST /_fake/faults; each rule fires for matching API requests."""

    def __init__(self):
        self.rules = []

    def set(self, rules):
        self.rules = []
        for rule in rules:
            rule = dict(rule)
            rule.setdefault("count", 1)
            rule.setdefault("skip", 0)
            if rule.get("kind") not in ("status", "lost", "delay"):
                raise ApiError(400, "fault kind must be status, lost or delay")
            self.rules.append(rule)

    def match(self, method, path):
        for rule in self.rules:
            if rule.get("method") and rule["method"] != method:
                continue
            if rule.get("path") and not re.search(rule["path"], path):
                continue
            if rule["count"] == 0:
                continue
            if rule["skip"] > 0:
                rule["skip"] -= 1
                continue
            if rule["count"] > 0:
                rule["count"] -= 1
            return rule
        return None


class RateLimiter:
    """Fixed-window limit over all API requests, reported in X-RateLimit-* headers."""

    def __init__(self, limit=None, period=10):
        self.limit = limit
        self.period = period
        self.window_start = time.time()
        self.used = 0

    def take(self):
        """Count one request; return (allowed, headers)."""
        current = time.time()
        if current - self.window_start >= self.period:
            self.window_start = current - (current - self.window_start) % self.period
            self.used = 0
        reset = max(1, int(round(self.window_start + self.period - current)))
        limit = self.limit if self.limit else 100000
        self.used += 1
        allowed = self.used <= limit
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Period": str(self.period),
            "X-RateLimit-Remaining": str(max(0, limit - self.used)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Name": "fake_api",
        }
        return allowed, headers


class Store:
    """All objects of the fake organisation, guarded by one lock."""

    def __init__(self, path=None):
        self.lock = threading.RLock()
        self.path = path
        self.reset()
        if path:
            try:
                with open(path) as handle:
                    data = json.load(handle)
                self.dashboards = data.get("dashboards", {})
                self.monitors = dict((int(k), v) for k, v in data.get("monitors", {}).items())
                self.downtimes = data.get("downtimes", {})
                self.next_monitor_id = max([1000] + list(self.monitors)) + 1
            except FileNotFoundError:
                pass

    def reset(self):
        self.dashboards = {}
        self.monitors = {}
        self.downtimes = {}
        self.shares = {}
        self.next_monitor_id = 1001

    def save(self):
        if not self.path:
            return
        with open(self.path, "w") as handle:
            json.dump({"dashboards": self.dashboards, "monitors": self.monitors, "downtimes": self.downtimes},
                      handle)

    # Dashboards --------------------------------------------------------------------------

    def _dashboard_id(self):
        while True:
            alphabet = string.ascii_lowercase + string.digits
            parts = ["".join(random.choice(alphabet) for position in range(3)) for part in range(3)]
            candidate = "-".join(parts)
            if candidate not in self.dashboards:
                return candidate

    @staticmethod
    def _check_dashboard(body):
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON body")
        for field in ("title", "layout_type", "widgets"):
            if field not in body:
                raise ApiError(400, "Invalid payload: '%s' is a required property" % field)
        if body["layout_type"] not in ("ordered", "free"):
            raise ApiError(400, "Invalid payload: layout_type must be ordered or free")
        if not isinstance(body["widgets"], list):
            raise ApiError(400, "Invalid payload: widgets must be an array")
        if body["layout_type"] == "free" and any("layout" not in w for w in body["widgets"]):
            raise ApiError(400, "Invalid payload: widgets of a free layout require a layout")
        tags = body.get("tags") or []
        if len(tags) > 5 or any(not str(t).startswith("team:") for t in tags):
            raise ApiError(400, "Invalid payload: dashboard tags must be team:<name> tags, at most 5")

    @staticmethod
    def _assign_widget_ids(widgets):
        for widget in widgets:
            if isinstance(widget, dict):
                widget.setdefault("id", random.randint(10 ** 14, 10 ** 16 - 1))
                definition = widget.get("definition") or {}
                if isinstance(definition.get("widgets"), list):
                    Store._assign_widget_ids(definition["widgets"])

    def _store_dashboard(self, dashboard_id, body, created_at):
        doc = copy.deepcopy(body)
        for field in ("id", "author_handle", "author_name", "created_at", "modified_at", "url"):
            doc.pop(field, None)
        self._assign_widget_ids(doc["widgets"])
        slug = re.sub(r"[^a-z0-9]+", "-", doc["title"].lower()).strip("-")
        doc.update(id=dashboard_id, author_handle="fake-user@example.com", author_name="Fake User",
                   created_at=created_at, modified_at=now_iso(), url="/dashboard/%s/%s" % (dashboard_id, slug))
        for field in ("description", "template_variables", "notify_list"):
            doc.setdefault(field, None)
        doc.setdefault("is_read_only", False)
        doc.setdefault("restricted_roles", [])
        self.dashboards[dashboard_id] = doc
        return doc

    def create_dashboard(self, body):
        self._check_dashboard(body)
        return self._store_dashboard(self._dashboard_id(), body, now_iso())

    def get_dashboard(self, dashboard_id):
        if dashboard_id not in self.dashboards:
            raise ApiError(404, "Dashboard with ID %s not found" % dashboard_id)
        return self.dashboards[dashboard_id]

    def update_dashboard(self, dashboard_id, body):
        current = self.get_dashboard(dashboard_id)
        self._check_dashboard(body)
        return self._store_dashboard(dashboard_id, body, current["created_at"])

    def delete_dashboard(self, dashboard_id):
        self.get_dashboard(dashboard_id)
        del self.dashboards[dashboard_id]
        return {"deleted_dashboard_id": dashboard_id}

    def share_dashboard(self, body, base_url):
        if not isinstance(body, dict) or body.get("dashboard_id") not in self.dashboards:
            raise ApiError(404, "Dashboard with ID %s not found" % (body or {}).get("dashboard_id"))
        if body.get("dashboard_type") not in ("custom_timeboard", "custom_screenboard"):
            raise ApiError(400, "Invalid payload: dashboard_type must be custom_timeboard or custom_screenboard")
        token = uuid.uuid4().hex
        shared = copy.deepcopy(body)
        shared.update(token=token, public_url="%s/sb/%s" % (base_url, token), created=now_iso(),
                      author={"handle": "fake-user@example.com", "name": "Fake User"})
        shared.setdefault("share_type", "open")
        self.shares[token] = shared
        return shared

    def get_share(self, token):
        if token not in self.shares:
            raise ApiError(404, "Shared dashboard %s not found" % token)
        return self.shares[token]

    def delete_share(self, token):
        self.get_share(token)
        del self.shares[token]
        return {"deleted_public_dashboard_token": token}

    def list_dashboards(self, query):
        count = int(query.get("count", 100))
        start = int(query.get("start", 0))
        fields = ("id", "title", "description", "layout_type", "url", "is_read_only", "author_handle",
                  "created_at", "modified_at")
        rows = [dict((f, d.get(f)) for f in fields) for d in self.dashboards.values()]
        for row in rows:
            row["deleted_at"] = None
        return {"dashboards": rows[start:start + count]}

    # Monitors ----------------------------------------------------------------------------

    @staticmethod
    def check_monitor(body):
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON body")
        if body.get("type") not in MONITOR_TYPES:
            raise ApiError(400, "Invalid monitor type: %r" % body.get("type"))
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ApiError(400, "The value provided for parameter 'query' is invalid: empty query")
        options = body.get("options") or {}
        thresholds = options.get("thresholds") or {}
        if body["type"] not in NO_OPERATOR_TYPES and not re.search(r"(>=|<=|>|<)\s*-?[0-9.]+\s*$", query):
            raise ApiError(400, "The value provided for parameter 'query' is invalid: invalid operator specified: ")
        if body["type"] in ("metric alert", "query alert"):
            match = QUERY_THRESHOLD.match(query)
            if not match:
                raise ApiError(400, "The value provided for parameter 'query' is invalid: invalid metric query")
            if "critical" in thresholds and float(thresholds["critical"]) != float(match.group(2)):
                raise ApiError(400, "Alert threshold (%s) does not match that used in the query (%s)."
                               % (thresholds["critical"], match.group(2)))
            warning = thresholds.get("warning")
            if warning is not None and "critical" in thresholds:
                above = match.group(1) in (">", ">=")
                if (above and float(warning) > float(thresholds["critical"])) or \
                        (not above and float(warning) < float(thresholds["critical"])):
                    raise ApiError(400, "Warning threshold (%s) must be less than the alert threshold (%s)."
                                   % (warning, thresholds["critical"]))
        tags = body.get("tags") or []
        if not isinstance(tags, list):
            raise ApiError(400, "Invalid payload: tags must be an array")

    def _store_monitor(self, monitor_id, body, previous=None):
        doc = copy.deepcopy(previous) if previous else {}
        for field, value in body.items():
            if field in ("id", "org_id", "created", "created_at", "modified", "creator", "overall_state",
                         "overall_state_modified", "multi", "deleted"):
                continue
            doc[field] = copy.deepcopy(value)
        if doc.get("type") == "metric alert":
            doc["type"] = "query alert"
        for field in ("name", "message"):
            doc[field] = (doc.get(field) or "").strip()
        options = dict(MONITOR_OPTION_DEFAULTS)
        options.update(copy.deepcopy(body.get("options") or (previous or {}).get("options") or {}))
        if isinstance(options.get("thresholds"), dict):
            if not options["thresholds"]:
                del options["thresholds"]
            else:
                thresholds = options["thresholds"].items()
                options["thresholds"] = dict((k, float(v) if v is not None else None) for k, v in thresholds)
        doc["options"] = options
        created = (previous or {}).get("created") or now_iso()
        doc.update(
            id=monitor_id, org_id=321813, tags=doc.get("tags") or [], priority=doc.get("priority"),
            restricted_roles=doc.get("restricted_roles"), multi=" by " in doc["query"],
            created=created, created_at=(previous or {}).get("created_at") or int(time.time() * 1000),
            modified=now_iso(), deleted=None, overall_state="No Data", overall_state_modified=None,
            assets=[], restriction_policy=None,
            creator={"name": "Fake User", "handle": "fake-user@example.com", "email": "fake-user@example.com",
                     "id": 1445416},
        )
        self.monitors[monitor_id] = doc
        return doc

    def create_monitor(self, body):
        self.check_monitor(body)
        monitor_id = self.next_monitor_id
        self.next_monitor_id += 1
        return self._store_monitor(monitor_id, body)

    def get_monitor(self, monitor_id):
        try:
            return self.monitors[int(monitor_id)]
        except (KeyError, ValueError):
            raise ApiError(404, "Monitor not found")

    def update_monitor(self, monitor_id, body):
        current = self.get_monitor(monitor_id)
        merged = dict(current)
        merged.update(body)
        self.check_monitor(merged)
        return self._store_monitor(current["id"], body, current)

    def delete_monitor(self, monitor_id):
        current = self.get_monitor(monitor_id)
        del self.monitors[current["id"]]
        return {"deleted_monitor_id": current["id"]}

    def list_monitors(self, query):
        rows = list(self.monitors.values())
        if query.get("name"):
            rows = [m for m in rows if query["name"].lower() in m["name"].lower()]
        if query.get("monitor_tags"):
            required_tags = [t.strip() for t in query["monitor_tags"].split(",") if t.strip()]
            rows = [m for m in rows if all(t in m.get("tags", []) for t in required_tags)]
        if "page" in query:
            size = int(query.get("page_size", 100))
            page = int(query["page"])
            rows = rows[page * size:(page + 1) * size]
        return rows

    def search_monitors(self, query):
        rows = list(self.monitors.values())
        text = query.get("query", "")
        for tag in re.findall(r'tag:"([^"]+)"', text):
            rows = [m for m in rows if tag in m.get("tags", [])]
        per_page = int(query.get("per_page", 30))
        page = int(query.get("page", 0))
        selected = rows[page * per_page:(page + 1) * per_page]
        return {
            "monitors": [dict(id=m["id"], name=m["name"], status=m["overall_state"], tags=m.get("tags", []),
                              query=m["query"], type=m["type"], creator=m["creator"],
                              classification="metric", metrics=[], notifications=[], org_id=m["org_id"],
                              last_triggered_ts=None, overall_state_modified=None, scopes=[],
                              quality_issues=[]) for m in selected],
            "metadata": {"page": page, "page_count": (len(rows) + per_page - 1) // per_page,
                         "per_page": per_page, "total_count": len(rows)},
            "counts": {"status": [], "type": [], "tag": [], "muted": []},
        }

    # Downtimes ---------------------------------------------------------------------------

    @staticmethod
    def check_downtime(attributes, partial=False):
        if not isinstance(attributes, dict):
            raise ApiError(400, "Invalid payload: data.attributes is required")
        if not partial:
            if not attributes.get("scope"):
                raise ApiError(400, "Invalid payload: 'scope' is a required property")
            if not isinstance(attributes.get("monitor_identifier"), dict):
                raise ApiError(400, "Invalid payload: 'monitor_identifier' is a required property")
        schedule = attributes.get("schedule")
        if schedule is None:
            return
        if "recurrences" in schedule:
            recurrences = schedule["recurrences"]
            if not isinstance(recurrences, list) or not 1 <= len(recurrences) <= 5:
                raise ApiError(400, "recurrences must contain between 1 and 5 items")
            for recurrence in recurrences:
                if "type" in recurrence or "period" in recurrence:
                    raise ApiError(400, "Invalid recurrence type")
                rrule = recurrence.get("rrule") or ""
                for part in rrule.split(";"):
                    name = part.split("=", 1)[0].upper()
                    if name not in RRULE_PARTS:
                        raise ApiError(400, "Invalid rrule: unsupported part %s" % name)
                if not DURATION.match(str(recurrence.get("duration", ""))):
                    raise ApiError(400, "Invalid duration %r" % recurrence.get("duration"))
                start = recurrence.get("start")
                if start and start < datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S") and not partial:
                    raise ApiError(400, "Scheduled downtime start cannot be in the past")
            display = attributes.get("display_timezone", "UTC")
            if schedule.get("timezone", "UTC") != display:
                raise ApiError(400, "timezone must match display_timezone")

    @staticmethod
    def _current_downtime(schedule):
        if "recurrences" in schedule:
            start = schedule["recurrences"][0].get("start") or now_iso()[:19]
            return {"start": start + "+00:00", "end": start + "+00:00"}
        return None

    def _downtime_doc(self, downtime_id, attributes, previous=None):
        doc = copy.deepcopy(previous) if previous else {
            "type": "downtime", "id": downtime_id,
            "attributes": {"display_timezone": "UTC", "notify_end_states": ["alert", "no data", "warn"],
                           "notify_end_types": ["expired"], "mute_first_recovery_notification": False,
                           "message": None, "canceled": None, "created": now_iso()},
            "relationships": {"created_by": {"data": {"type": "users", "id": USER_ID}},
                              "monitor": {"data": None}},
        }
        attrs = doc["attributes"]
        for field, value in attributes.items():
            if field in ("created", "modified", "status", "canceled"):
                continue
            attrs[field] = copy.deepcopy(value)
        schedule = attrs.get("schedule") or {"start": None, "end": None}
        if "recurrences" not in schedule and schedule.get("start") is None:
            schedule["start"] = now_iso()
        current = self._current_downtime(schedule)
        if current:
            schedule["current_downtime"] = current
        attrs["schedule"] = schedule
        if not attrs.get("display_timezone"):
            attrs["display_timezone"] = "UTC"
        attrs["modified"] = now_iso()
        attrs["status"] = attrs.get("status") if attrs.get("canceled") else "scheduled"
        if attrs.get("notify_end_states"):
            states = list(attrs["notify_end_states"])
            random.shuffle(states)  # the real API returns this set in varying order
            attrs["notify_end_states"] = states
        identifier = attrs.get("monitor_identifier") or {}
        if "monitor_id" in identifier:
            doc["relationships"]["monitor"]["data"] = {"type": "monitors", "id": str(identifier["monitor_id"])}
        return doc

    def _duplicate_of(self, attributes):
        def comparable(attrs):
            fields = ("scope", "monitor_identifier", "message", "schedule")
            return json.dumps(dict((k, attrs.get(k)) for k in fields), sort_keys=True)
        target = comparable(attributes)
        for downtime_id, doc in self.downtimes.items():
            attrs = dict(doc["attributes"])
            schedule = dict(attrs.get("schedule") or {})
            schedule.pop("current_downtime", None)
            attrs["schedule"] = schedule
            if attrs.get("status") not in ("canceled", "ended") and comparable(attrs) == target:
                return downtime_id
        return None

    @staticmethod
    def _envelope_attributes(body, downtime_id=None):
        data = (body or {}).get("data")
        if not isinstance(data, dict) or data.get("type") != "downtime":
            raise ApiError(400, "Invalid payload: data.type must be downtime")
        if downtime_id is not None and data.get("id") not in (None, "", downtime_id):
            raise ApiError(400, "Invalid payload: data.id does not match the URL")
        return data.get("attributes")

    def create_downtime(self, body):
        attributes = self._envelope_attributes(body)
        self.check_downtime(attributes)
        duplicate = self._duplicate_of(attributes)
        if duplicate:
            raise ApiError(400, "Downtime is a duplicate of one or more existing downtimes: ['%s']" % duplicate)
        downtime_id = str(uuid.uuid4())
        self.downtimes[downtime_id] = self._downtime_doc(downtime_id, attributes)
        return self._downtime_response(downtime_id, include=True)

    def _downtime_response(self, downtime_id, include=False):
        response = {"data": self.downtimes[downtime_id]}
        if include:
            response["included"] = [{"type": "users", "id": USER_ID, "attributes": {
                "name": "Fake User", "handle": "fake-user@example.com", "email": "fake-user@example.com",
                "created_at": "2020-01-01T00:00:00+00:00", "status": "Active", "disabled": False}}]
        return response

    def get_downtime(self, downtime_id):
        if downtime_id not in self.downtimes:
            raise ApiError(404, "downtime not found")
        return self._downtime_response(downtime_id)

    def update_downtime(self, downtime_id, body):
        self.get_downtime(downtime_id)
        attributes = self._envelope_attributes(body, downtime_id) or {}
        merged = dict(self.downtimes[downtime_id]["attributes"])
        merged.update(attributes)
        self.check_downtime(dict(merged, schedule=attributes.get("schedule", merged.get("schedule"))),
                            partial="schedule" not in attributes)
        self.downtimes[downtime_id] = self._downtime_doc(downtime_id, attributes, self.downtimes[downtime_id])
        return self._downtime_response(downtime_id, include=True)

    def cancel_downtime(self, downtime_id):
        self.get_downtime(downtime_id)
        attrs = self.downtimes[downtime_id]["attributes"]
        if not attrs.get("canceled"):
            attrs["canceled"] = now_iso()
            attrs["status"] = "canceled"

    def list_downtimes(self, query):
        rows = list(self.downtimes.values())
        if query.get("current_only") == "true":
            rows = [d for d in rows if d["attributes"].get("status") == "active"]
        offset = int(query.get("page[offset]", 0))
        limit = int(query.get("page[limit]", 30))
        return {"data": rows[offset:offset + limit], "meta": {"page": {"total_filtered_count": len(rows)}}}


class Handler(BaseHTTPRequestHandler):
    server_version = "FakeDatadog/1.0"

    def log_message(self, fmt, *args):
        LOG.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status, payload, headers=None):
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "Invalid JSON body")

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method):
        parts = urlsplit(self.path)
        path = parts.path
        query = dict((k, v[-1]) for k, v in parse_qs(parts.query).items())
        app = self.server.app
        if path.startswith("/_fake/"):
            try:
                status, payload = app.control(method, path, query, self._body())
            except ApiError as exc:
                status, payload = exc.status, {"errors": exc.errors}
            self._send(status, payload)
            return
        try:
            body = self._body()
        except ApiError as exc:
            body, status, payload = None, exc.status, {"errors": exc.errors}
            app.record(method, path, query, None, status, None)
            self._send(status, payload)
            return
        if app.latency:
            time.sleep(app.latency)
        with app.store.lock:
            allowed, headers = app.limiter.take()
            fault = app.faults.match(method, path)
        if not allowed:
            app.record(method, path, query, body, 429, "rate-limit")
            self._send(429, {"errors": ["Rate limit of %d requests in %d seconds reached"
                                        % (app.limiter.limit, app.limiter.period)]}, headers)
            return
        if fault and fault["kind"] == "delay":
            time.sleep(float(fault.get("seconds", 5)))
        if fault and fault["kind"] == "status":
            status = int(fault.get("status", 503))
            fault_headers = dict(headers)
            if status == 429:
                fault_headers["X-RateLimit-Remaining"] = "0"
                fault_headers["X-RateLimit-Reset"] = str(fault.get("reset", 1))
            app.record(method, path, query, body, status, "status")
            self._send(status, {"errors": [fault.get("message", "injected fault")]}, fault_headers)
            return
        if not (self.headers.get("DD-API-KEY") and self.headers.get("DD-APPLICATION-KEY")):
            app.record(method, path, query, body, 403, None)
            self._send(403, {"errors": ["Forbidden"]}, headers)
            return
        try:
            with app.store.lock:
                status, payload = app.route(method, path, query, body)
                if method in WRITE_METHODS and status < 300:
                    app.store.save()
        except ApiError as exc:
            status, payload = exc.status, {"errors": exc.errors}
        except Exception as exc:  # report a fake bug as a 500 instead of dropping the connection
            LOG.exception("internal error on %s %s", method, path)
            status, payload = 500, {"errors": ["fake API internal error: %s" % exc]}
        if fault and fault["kind"] == "lost":
            # The write happened, but the client never sees the response.
            app.record(method, path, query, body, status, "lost")
            self.close_connection = True
            return
        app.record(method, path, query, body, status, None)
        self._send(status, payload, headers)


class FakeApp:
    def __init__(self, state=None, log=None, latency_ms=0, rate_limit=None, period=10):
        self.store = Store(state)
        self.faults = Faults()
        self.limiter = RateLimiter(rate_limit, period)
        self.latency = latency_ms / 1000.0
        self.log_path = log
        self.requests = []
        self.base_url = None
        self.snapshots = 0

    def record(self, method, path, query, body, status, fault):
        entry = {"method": method, "path": path, "query": query, "status": status, "fault": fault,
                 "body": body, "time": time.time()}
        with self.store.lock:
            self.requests.append(entry)
        if self.log_path:
            with open(self.log_path, "a") as handle:
                handle.write(json.dumps(entry) + "\n")

    def counters(self):
        with self.store.lock:
            entries = list(self.requests)
        by_method = {}
        writes = 0
        for entry in entries:
            by_method[entry["method"]] = by_method.get(entry["method"], 0) + 1
            if entry["method"] in WRITE_METHODS and not entry["path"].endswith("/validate"):
                writes += 1
        return {"total": len(entries), "by_method": by_method, "writes": writes,
                "validates": sum(1 for e in entries if e["path"].endswith("/validate")),
                "status_429": sum(1 for e in entries if e["status"] == 429),
                "dashboards": len(self.store.dashboards), "monitors": len(self.store.monitors),
                "downtimes": len(self.store.downtimes)}

    def control(self, method, path, query, body):
        if path == "/_fake/faults" and method == "POST":
            self.faults.set((body or {}).get("rules", []))
            return 200, {"rules": self.faults.rules}
        if path == "/_fake/faults" and method == "GET":
            return 200, {"rules": self.faults.rules}
        if path == "/_fake/requests" and method == "GET":
            return 200, {"requests": self.requests}
        if path == "/_fake/requests" and method == "DELETE":
            self.requests = []
            return 200, {}
        if path == "/_fake/counters" and method == "GET":
            return 200, self.counters()
        if path == "/_fake/reset" and method == "POST":
            with self.store.lock:
                self.store.reset()
                self.store.save()
                self.faults.set([])
                self.requests = []
            return 200, {}
        if path == "/_fake/state" and method == "GET":
            return 200, {"dashboards": self.store.dashboards, "monitors": list(self.store.monitors.values()),
                         "downtimes": list(self.store.downtimes.values()), "shares": self.store.shares}
        if path == "/_fake/ratelimit" and method == "POST":
            self.limiter = RateLimiter((body or {}).get("limit"), (body or {}).get("period", 10))
            return 200, {}
        raise ApiError(404, "unknown control endpoint %s %s" % (method, path))

    def route(self, method, path, query, body):
        store = self.store
        segments = [s for s in path.split("/") if s]
        if segments[:4] == ["api", "v1", "dashboard", "public"]:
            rest = segments[4:]
            if not rest and method == "POST":
                return 200, store.share_dashboard(body, self.base_url)
            if len(rest) == 1 and method == "GET":
                return 200, store.get_share(rest[0])
            if len(rest) == 1 and method == "DELETE":
                return 200, store.delete_share(rest[0])
        if segments[:3] == ["api", "v1", "dashboard"]:
            rest = segments[3:]
            if not rest and method == "GET":
                return 200, store.list_dashboards(query)
            if not rest and method == "POST":
                return 200, store.create_dashboard(body)
            if len(rest) == 1 and method == "GET":
                return 200, store.get_dashboard(rest[0])
            if len(rest) == 1 and method == "PUT":
                return 200, store.update_dashboard(rest[0], body)
            if len(rest) == 1 and method == "DELETE":
                return 200, store.delete_dashboard(rest[0])
        if segments[:3] == ["api", "v1", "monitor"]:
            rest = segments[3:]
            if not rest and method == "GET":
                return 200, store.list_monitors(query)
            if not rest and method == "POST":
                return 200, store.create_monitor(body)
            if rest == ["validate"] and method == "POST":
                store.check_monitor(body)
                return 200, {}
            if rest == ["search"] and method == "GET":
                return 200, store.search_monitors(query)
            if len(rest) == 2 and rest[1] == "validate" and method == "POST":
                store.get_monitor(rest[0])
                store.check_monitor(body)
                return 200, {}
            if len(rest) == 1 and method == "GET":
                return 200, store.get_monitor(rest[0])
            if len(rest) == 1 and method == "PUT":
                return 200, store.update_monitor(rest[0], body)
            if len(rest) == 1 and method == "DELETE":
                return 200, store.delete_monitor(rest[0])
        if segments[:3] == ["api", "v2", "downtime"]:
            rest = segments[3:]
            if not rest and method == "GET":
                return 200, store.list_downtimes(query)
            if not rest and method == "POST":
                return 200, store.create_downtime(body)
            if len(rest) == 1 and method == "GET":
                return 200, store.get_downtime(rest[0])
            if len(rest) == 1 and method == "PATCH":
                return 200, store.update_downtime(rest[0], body)
            if len(rest) == 1 and method == "DELETE":
                store.cancel_downtime(rest[0])
                return 204, None
        if segments == ["api", "v1", "graph", "snapshot"] and method == "GET":
            if "start" not in query or "end" not in query:
                raise ApiError(400, "start and end are required")
            if "metric_query" not in query and "graph_def" not in query:
                raise ApiError(400, "metric_query or graph_def is required")
            self.snapshots += 1
            answer = {"snapshot_url": "%s/_fake/snapshot/%d.png" % (self.base_url, self.snapshots)}
            for field in ("metric_query", "graph_def"):
                if field in query:
                    answer[field] = query[field]
            return 200, answer
        raise ApiError(404, "Not found: %s %s" % (method, path))


def make_server(host="127.0.0.1", port=0, **options):
    """Create a server (port 0 picks a free port); the caller runs serve_forever()."""
    app = FakeApp(**options)
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.app = app
    app.base_url = "http://%s:%d" % (host, server.server_address[1])
    return server


def parse_rate_limit(text):
    if not text:
        return None, 10
    match = re.match(r"^(\d+)/(\d+)s?$", text)
    if not match:
        raise argparse.ArgumentTypeError("--rate-limit takes N/PERIOD, for example 100/10 for 100 requests "
                                         "per 10 seconds")
    return int(match.group(1)), int(match.group(2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (printed on start)")
    parser.add_argument("--state", help="JSON file that keeps the objects between restarts")
    parser.add_argument("--log", help="file that receives one JSON line per API request (no keys)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every API request, in ms")
    parser.add_argument("--rate-limit", help="N/PERIOD: at most N API requests per PERIOD seconds, then 429")
    args = parser.parse_args()
    limit, period = parse_rate_limit(args.rate_limit)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = make_server(args.host, args.port, state=args.state, log=args.log, latency_ms=args.latency_ms,
                         rate_limit=limit, period=period)
    LOG.info("listening on %s", server.app.base_url)
    print("listening on %s" % server.app.base_url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        LOG.info("stopped")


if __name__ == "__main__":
    main()
