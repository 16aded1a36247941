# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Datadog HTTP client of the collection: sites, keys, retries and errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
import json
import random
import socket
import threading
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlencode, quote
from ansible.module_utils.urls import Request, open_url
from ansible.module_utils.basic import env_fallback

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_sites import (
    SITE_API_URLS,
    site_error,
)

# 429 is retried for every method because the server rejected the request before acting on it.
# 408 and the gateway errors are retried only for idempotent calls, because the request may have
# been applied.
RATE_LIMITED = 429
TRANSIENT_STATUSES = (408, 502, 503, 504)
IDEMPOTENT_METHODS = ("GET", "PUT", "DELETE", "PATCH", "HEAD")

MISSING_SCOPE_HINTS = {
    "/api/v1/dashboard": "dashboards_read (reads) or dashboards_write (writes)",
    "/api/v1/monitor": "monitors_read (reads) or monitors_write (writes and validate)",
    "/api/v2/downtime": "monitors_downtime",
    "/api/v1/graph": "an application key (no special scope)",
}


def auth_argument_spec():
    """Return the connection options shared by every Datadog module."""
    return dict(
        api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["DD_API_KEY"])),
        app_key=dict(
            type="str", no_log=True, aliases=["application_key"],
            fallback=(env_fallback, ["DD_APP_KEY"]),
        ),
        site=dict(type="str", default="datadoghq.com", fallback=(env_fallback, ["DD_SITE"])),
        api_url=dict(type="str"),
        validate_certs=dict(type="bool", default=True),
        request_timeout=dict(type="float", default=30.0),
        retry_timeout=dict(type="float", default=120.0),
    )


class DatadogAPIError(Exception):
    """A failed Datadog API call, described without any key or header."""

    def __init__(self, method, path, status=None, errors=None, reason=None, resource=None):
        self.method = method
        self.path = path
        self.status = status
        self.errors = list(errors or [])
        self.reason = reason
        self.resource = resource
        super(DatadogAPIError, self).__init__(self.describe())

    @property
    def transient(self):
        """True when the request may succeed if sent again (timeouts, 408, 429, 5xx gateways)."""
        return self.status is None or self.status == RATE_LIMITED or self.status in TRANSIENT_STATUSES

    def describe(self):
        parts = []
        if self.resource:
            parts.append("%s: " % self.resource)
        status = "HTTP %s" % self.status if self.status is not None else "no response"
        parts.append("%s %s failed with %s" % (self.method, self.path, status))
        if self.errors:
            parts.append(": %s" % "; ".join(str(e) for e in self.errors))
        if self.reason:
            parts.append(" (%s)" % self.reason)
        if self.status == 403:
            hint = scope_hint(self.path)
            parts.append(
                ". Check that both keys are set and valid for this site and that the application key "
                "has the scope %s" % hint
            )
        return "".join(parts)


def scope_hint(path):
    for prefix, hint in MISSING_SCOPE_HINTS.items():
        if path.startswith(prefix):
            return hint
    return "the request needs"


def resolve_base_url(site, api_url):
    """Return the API base URL for an explicit api_url or a site name, or raise ValueError."""
    if api_url:
        if not (api_url.startswith("http://") or api_url.startswith("https://")):
            raise ValueError(
                "invalid api_url %r: give a full URL such as http://127.0.0.1:19080" % api_url
            )
        return api_url.rstrip("/")
    message = site_error(site)
    if message:
        raise ValueError(message)
    return SITE_API_URLS[site]


def shared_context_opener(validate_certs):
    """Return an open_url-like function that builds its TLS context once, or None if unsupported.

    open_url creates a new SSL context, loading the CA bundle, for every request. That cost about
    25 ms of CPU per call on a 2-core Debian 12 machine, which serialises parallel requests.
    Request.open in ansible-core 2.19 accepts a prebuilt context; 2.16 does not, so there the
    client falls back to open_url.
    """
    try:
        from ansible.module_utils.urls import make_context
    except ImportError:
        return None
    if "context" not in inspect.signature(Request.open).parameters:
        return None
    request = Request(context=make_context(validate_certs=validate_certs))

    def opener(url, method, **kwargs):
        return request.open(method, url, **kwargs)

    return opener


class DatadogClient:
    """Send JSON requests to the Datadog API with retries, pacing and per-request timeouts.

    Keys go only into request headers. Every call is counted in ``calls`` so modules can
    report how many requests a run made.
    """

    def __init__(self, base_url, api_key=None, app_key=None, validate_certs=True,
                 request_timeout=30.0, retry_timeout=120.0, max_backoff=10.0,
                 opener=None, sleep=time.sleep, clock=time.time):
        self.base_url = base_url
        self._api_key = api_key
        self._app_key = app_key
        self.validate_certs = validate_certs
        self.request_timeout = request_timeout
        self.retry_timeout = retry_timeout
        self.max_backoff = max_backoff
        self._open = opener or shared_context_opener(validate_certs) or open_url
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self.calls = 0
        self.retries = 0
        self.calls_by_method = {}

    def _headers(self, has_body):
        headers = {"Accept": "application/json"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["DD-API-KEY"] = self._api_key
        if self._app_key:
            headers["DD-APPLICATION-KEY"] = self._app_key
        return headers

    def _count(self, method):
        with self._lock:
            self.calls += 1
            self.calls_by_method[method] = self.calls_by_method.get(method, 0) + 1

    def _wait_for_window(self):
        # Pace requests: after a response reported an exhausted rate-limit window,
        # every thread waits for the reset instead of collecting a 429.
        with self._lock:
            delay = self._paused_until - self._clock()
        if delay > 0:
            self._sleep(delay)

    def _note_rate_limit(self, headers):
        remaining = _header_number(headers, "X-RateLimit-Remaining")
        reset = _header_number(headers, "X-RateLimit-Reset")
        if remaining is not None and remaining <= 0 and reset is not None:
            with self._lock:
                self._paused_until = max(self._paused_until, self._clock() + reset)

    def _backoff(self, attempt, headers, status):
        if status == RATE_LIMITED:
            reset = _header_number(headers, "X-RateLimit-Reset")
            if reset is not None:
                return max(0.0, reset) + random.uniform(0, 0.25)
        base = min(self.max_backoff, 0.5 * (2 ** attempt))
        return base / 2 + random.uniform(0, base / 2)

    def request(self, method, path, query=None, body=None, idempotent=None, resource=None,
                expected_missing=False):
        """Send one API call and return its decoded JSON body (None for an empty body).

        ``idempotent`` overrides the method's default retry policy: a POST that writes
        nothing (monitor validate) may be retried after a timeout, a create may not.
        With ``expected_missing`` a 404 returns None instead of raising.
        """
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.base_url + path
        if query:
            url += "?" + urlencode(sorted(query.items()))
        data = json.dumps(body, sort_keys=True) if body is not None else None
        deadline = self._clock() + self.retry_timeout
        attempt = 0
        while True:
            self._wait_for_window()
            self._count(method)
            try:
                response = self._open(
                    url, data=data, method=method, headers=self._headers(data is not None),
                    timeout=self.request_timeout, validate_certs=self.validate_certs,
                    follow_redirects="safe",
                )
                headers = response.headers
                raw = response.read()
                self._note_rate_limit(headers)
                return _decode(raw)
            except HTTPError as exc:
                headers = exc.headers
                raw = _read_error_body(exc)
                self._note_rate_limit(headers)
                if exc.code == 404 and expected_missing:
                    return None
                error = DatadogAPIError(method, path, exc.code, _errors_from(raw), resource=resource)
                retryable = exc.code == RATE_LIMITED or (idempotent and exc.code in TRANSIENT_STATUSES)
            except (URLError, socket.timeout, ConnectionError, OSError) as exc:
                headers = None
                reason = getattr(exc, "reason", None) or exc.__class__.__name__
                if isinstance(exc, socket.timeout) or "timed out" in str(reason):
                    reason = "timed out after %s s" % self.request_timeout
                error = DatadogAPIError(method, path, None, reason=str(reason), resource=resource)
                retryable = idempotent
            if not retryable:
                raise error
            delay = self._backoff(attempt, headers, error.status)
            if self._clock() + delay > deadline:
                error.reason = ((error.reason + "; ") if error.reason else "") + (
                    "gave up after %d attempts within retry_timeout=%s s" % (attempt + 1, self.retry_timeout)
                )
                raise DatadogAPIError(error.method, error.path, error.status, error.errors,
                                      error.reason, resource)
            attempt += 1
            with self._lock:
                self.retries += 1
            self._sleep(delay)

    def stats(self):
        return dict(calls=self.calls, retries=self.retries, by_method=dict(self.calls_by_method))


def quote_id(value):
    return quote(str(value), safe="")


def _header_number(headers, name):
    if headers is None:
        return None
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _read_error_body(exc):
    try:
        return exc.read()
    except Exception:  # the error body is optional; the status is enough to report
        return b""


def _decode(raw):
    if not raw:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if not raw.strip():
        return None
    return json.loads(raw)


def _errors_from(raw):
    try:
        data = _decode(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return [text[:300]] if text else []
    if isinstance(data, dict) and isinstance(data.get("errors"), list):
        return data["errors"]
    return []


def client_from_module(module):
    """Build a client from module parameters, failing the module on bad site or missing keys."""
    params = module.params
    try:
        base_url = resolve_base_url(params["site"], params.get("api_url"))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    missing = [name for name, env in (("api_key", "DD_API_KEY"), ("app_key", "DD_APP_KEY"))
               if not params.get(name)]
    if missing:
        module.fail_json(msg="missing Datadog credentials: set %s (or the environment variables "
                         "DD_API_KEY / DD_APP_KEY)" % " and ".join(missing))
    for name in ("request_timeout", "retry_timeout"):
        if params[name] <= 0:
            module.fail_json(msg="invalid %s=%s: give a number of seconds above 0" % (name, params[name]))
    return DatadogClient(
        base_url, params["api_key"], params["app_key"], params["validate_certs"],
        params["request_timeout"], params["retry_timeout"],
    )
