# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import socket

import pytest

from ansible.module_utils.six.moves.urllib.error import HTTPError

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import (
    DatadogAPIError,
    DatadogClient,
    resolve_base_url,
)

API_KEY = "0123456789abcdef-api-secret"
APP_KEY = "fedcba9876543210-app-secret"


class Response:
    def __init__(self, body, headers=None):
        self._body = json.dumps(body).encode() if body is not None else b""
        self.headers = headers or {}

    def read(self):
        return self._body


def http_error(status, errors=None, headers=None):
    body = json.dumps({"errors": errors or []}).encode()
    return HTTPError("http://x/y", status, "error", headers or {}, io.BytesIO(body))


class ScriptedOpener:
    """Return or raise the scripted outcomes in order and record every call."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append(dict(url=url, **kwargs))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(outcomes, retry_timeout=60.0):
    opener = ScriptedOpener(outcomes)
    clock = Clock()
    client = DatadogClient("https://api.datadoghq.eu", API_KEY, APP_KEY, retry_timeout=retry_timeout,
                           opener=opener, sleep=clock.sleep, clock=clock.time)
    return client, opener, clock


@pytest.mark.parametrize("site, url", [
    ("datadoghq.eu", "https://api.datadoghq.eu"),
    ("datadoghq.com", "https://api.datadoghq.com"),
    ("us5.datadoghq.com", "https://api.us5.datadoghq.com"),
    ("ddog-gov.com", "https://api.ddog-gov.com"),
])
def test_site_maps_to_api_url(site, url):
    assert resolve_base_url(site, None) == url


@pytest.mark.parametrize("site", ["eu", "app.datadoghq.eu", "https://datadoghq.eu", "datadoghq.de", ""])
def test_site_short_forms_rejected(site):
    with pytest.raises(ValueError) as info:
        resolve_base_url(site, None)
    assert "datadoghq.eu" in str(info.value)


def test_api_url_overrides_site():
    assert resolve_base_url("eu", "http://127.0.0.1:19180/") == "http://127.0.0.1:19180"


def test_api_url_without_scheme_rejected():
    with pytest.raises(ValueError):
        resolve_base_url("datadoghq.eu", "127.0.0.1:19180")


def test_keys_only_in_headers():
    client, opener, clock = make_client([Response({"ok": True})])
    assert client.request("GET", "/api/v1/monitor", query={"page": 0}) == {"ok": True}
    call = opener.calls[0]
    assert call["url"] == "https://api.datadoghq.eu/api/v1/monitor?page=0"
    assert call["headers"]["DD-API-KEY"] == API_KEY
    assert call["headers"]["DD-APPLICATION-KEY"] == APP_KEY
    assert API_KEY not in call["url"]


def test_429_waits_for_reset_header():
    client, opener, clock = make_client([
        http_error(429, ["Rate limit of 100 requests in 10 seconds reached"], {"X-RateLimit-Reset": "7"}),
        Response([]),
    ])
    assert client.request("POST", "/api/v1/monitor", body={}) == []
    assert len(clock.sleeps) == 1
    assert 7 <= clock.sleeps[0] <= 7.25
    assert client.stats()["retries"] == 1


@pytest.mark.parametrize("status", [408, 502, 503, 504])
def test_transient_status_retried_for_get(status):
    client, opener, clock = make_client([http_error(status), http_error(status), Response({"a": 1})])
    assert client.request("GET", "/api/v1/dashboard/abc") == {"a": 1}
    assert len(opener.calls) == 3
    assert clock.sleeps[0] <= clock.sleeps[1] + 0.5


def test_backoff_is_bounded():
    client, opener, clock = make_client([http_error(503)] * 40 + [Response({})], retry_timeout=1000)
    client.request("GET", "/api/v1/monitor")
    assert max(clock.sleeps) <= client.max_backoff


def test_create_not_resent_after_gateway_error():
    client, opener, clock = make_client([http_error(502), Response({})])
    with pytest.raises(DatadogAPIError) as info:
        client.request("POST", "/api/v1/monitor", body={"name": "x"}, idempotent=False)
    assert info.value.status == 502
    assert info.value.transient
    assert len(opener.calls) == 1


def test_timeout_retried_when_idempotent():
    client, opener, clock = make_client([socket.timeout("timed out"), Response({})])
    assert client.request("POST", "/api/v1/monitor/validate", body={}, idempotent=True) == {}
    assert len(opener.calls) == 2


def test_gives_up_within_retry_timeout():
    client, opener, clock = make_client([http_error(503)] * 100, retry_timeout=5)
    with pytest.raises(DatadogAPIError) as info:
        client.request("GET", "/api/v1/monitor", resource="monitor listing")
    message = str(info.value)
    assert "monitor listing" in message
    assert "HTTP 503" in message
    assert "retry_timeout=5" in message
    assert clock.now - 1000.0 <= 5


def test_error_carries_api_errors_not_keys():
    client, opener, clock = make_client([
        http_error(400, ["The value provided for parameter 'query' is invalid: bad"]),
    ])
    with pytest.raises(DatadogAPIError) as info:
        client.request("POST", "/api/v1/monitor/validate", body={}, resource="monitor 'cpu'")
    message = str(info.value)
    assert "POST /api/v1/monitor/validate" in message
    assert "HTTP 400" in message
    assert "parameter 'query' is invalid" in message
    assert "monitor 'cpu'" in message
    assert API_KEY not in message
    assert APP_KEY not in message


def test_403_names_missing_scope():
    client, opener, clock = make_client([http_error(403, ["Forbidden"])])
    with pytest.raises(DatadogAPIError) as info:
        client.request("DELETE", "/api/v2/downtime/abc")
    assert "monitors_downtime" in str(info.value)


def test_404_returns_none_when_expected():
    client, opener, clock = make_client([http_error(404, ["Monitor not found"])])
    assert client.request("GET", "/api/v1/monitor/1", expected_missing=True) is None


def test_exhausted_window_paces_next_request():
    client, opener, clock = make_client([
        Response({}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"}),
        Response({}),
    ])
    client.request("GET", "/api/v1/monitor")
    client.request("GET", "/api/v1/monitor")
    assert clock.sleeps == [3.0]


def test_empty_body_returns_none():
    client, opener, clock = make_client([Response(None)])
    assert client.request("DELETE", "/api/v2/downtime/abc") is None
