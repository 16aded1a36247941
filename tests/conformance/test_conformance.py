# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check normalisation and the fake API against recorded real Datadog traffic."""

import json
import re
import threading
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import server as fakeapi
from cassettes import resource_of
from ansible_collections.ddpoc.observability.plugins.module_utils import datadog_compare as cmp

WRITE = ("POST", "PUT", "PATCH")


def _desired_and_actual(kind, request, response):
    if kind == "monitor":
        return cmp.normalise_monitor(request), cmp.normalise_monitor(response), True
    if kind == "dashboard":
        return cmp.normalise_dashboard(cmp.dashboard_body(request)), cmp.normalise_dashboard(response), False
    return cmp.normalise_downtime(request), cmp.normalise_downtime(response), True


def _object_id(kind, path, response):
    if isinstance(response, dict):
        if kind == "downtime" and isinstance(response.get("data"), dict):
            return response["data"].get("id")
        if "id" in response:
            return str(response["id"])
    match = re.match(r"^/api/v[12]/(?:dashboard|monitor|downtime)/([^/]+)$", path)
    return match.group(1) if match else None


def test_recorded_responses_normalise_to_no_change(recordings):
    checked = 0
    for name, exchanges in recordings.items():
        last_sent = {}
        for exchange in exchanges:
            kind = resource_of(exchange["path"])
            if kind is None or exchange["path"].endswith("/validate") or exchange["status"] >= 300:
                continue
            response = exchange["response"]
            if exchange["method"] in WRITE and isinstance(exchange["request"], dict):
                object_id = _object_id(kind, exchange["path"], response)
                sent = dict(last_sent.get(object_id, {})) if exchange["method"] == "PATCH" else {}
                if kind == "downtime" and exchange["method"] == "PATCH":
                    attributes = dict(sent.get("data", {}).get("attributes", {}))
                    attributes.update(exchange["request"]["data"]["attributes"])
                    sent = {"data": {"attributes": attributes}}
                else:
                    sent = exchange["request"]
                last_sent[object_id] = sent
            elif exchange["method"] == "GET" and isinstance(response, dict):
                object_id = _object_id(kind, exchange["path"], response)
                sent = last_sent.get(object_id)
                if sent is None:
                    continue
            else:
                continue
            desired, actual, subset = _desired_and_actual(kind, sent, response)
            fields = cmp.changed_fields(desired, actual, subset)
            assert fields == [], "%s: %s %s normalises to a change in %s" % (
                name, exchange["method"], exchange["path"], fields)
            checked += 1
    assert checked >= 20, "only %d recorded pairs were compared" % checked


def test_repeated_reads_normalise_identically(recordings):
    for name, exchanges in recordings.items():
        reads = {}
        for exchange in exchanges:
            kind = resource_of(exchange["path"])
            if exchange["method"] in WRITE + ("DELETE",):
                reads.pop(exchange["path"], None)
            if kind and exchange["method"] == "GET" and exchange["status"] == 200 \
                    and re.match(r"^/api/v[12]/\w+/[^/]+$", exchange["path"]):
                normalise = {"monitor": cmp.normalise_monitor, "dashboard": cmp.normalise_dashboard,
                             "downtime": cmp.normalise_downtime}[kind]
                reads.setdefault(exchange["path"], []).append(normalise(exchange["response"]))
            for path, documents in reads.items():
                for document in documents[1:]:
                    assert cmp.changed_fields(documents[0], document, False) == [], "%s: %s" % (name, path)


class Fake:
    def __init__(self):
        self.server = fakeapi.make_server("127.0.0.1", 0)
        self.url = self.server.app.base_url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def send(self, method, path, query, body):
        url = self.url + path + ("?" + query if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = Request(url, data=data, method=method, headers={
            "Content-Type": "application/json", "DD-API-KEY": "fake", "DD-APPLICATION-KEY": "fake"})
        try:
            with urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _replay(exchanges):
    """Replay recorded exchanges on a fresh fake, rewriting recorded ids to the fake's ids."""
    fake = Fake()
    ids = {}
    pairs = []
    try:
        for exchange in exchanges:
            if resource_of(exchange["path"]) is None and not exchange["path"].startswith("/api/v1/graph"):
                continue
            path = exchange["path"]
            for recorded, ours in ids.items():
                path = path.replace("/" + recorded, "/" + ours)
            body = exchange["request"]
            if isinstance(body, dict):
                text = json.dumps(body)
                for recorded, ours in ids.items():
                    text = text.replace('"%s"' % recorded, '"%s"' % ours)
                body = json.loads(text)
            status, response = fake.send(exchange["method"], path, exchange["query"], body)
            kind = resource_of(exchange["path"])
            recorded_id = _object_id(kind, exchange["path"], exchange["response"])
            our_id = _object_id(kind, path, response)
            if exchange["method"] == "POST" and recorded_id and our_id and recorded_id not in ids:
                ids[recorded_id] = our_id
            pairs.append((exchange, status, response))
    finally:
        fake.stop()
    return pairs


def test_fake_accepts_recorded_requests(recordings):
    for name, exchanges in recordings.items():
        for exchange, status, response in _replay(exchanges):
            assert status // 100 == exchange["status"] // 100, "%s: %s %s recorded %s, fake %s: %s" % (
                name, exchange["method"], exchange["path"], exchange["status"], status, response)


def _shape(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "null"


def _compare_keys(name, where, recorded, ours, errors):
    if not isinstance(recorded, dict) or not isinstance(ours, dict):
        return
    missing = sorted(set(recorded) - set(ours))
    if missing:
        errors.append("%s: %s lacks %s" % (name, where, missing))
    for key in set(recorded) & set(ours):
        if recorded[key] is not None and ours[key] is not None and _shape(recorded[key]) != _shape(ours[key]):
            errors.append("%s: %s.%s is %s, recorded %s" % (name, where, key, _shape(ours[key]),
                                                            _shape(recorded[key])))


def test_fake_responses_have_recorded_shape(recordings):
    errors = []
    compared = 0
    for name, exchanges in recordings.items():
        for exchange, status, response in _replay(exchanges):
            recorded = exchange["response"]
            where = "%s %s" % (exchange["method"], exchange["path"])
            if exchange["status"] == 204:
                if response is not None:
                    errors.append("%s: %s must answer an empty body" % (name, where))
                continue
            if isinstance(recorded, list):
                if not isinstance(response, list):
                    errors.append("%s: %s must answer a list" % (name, where))
                elif recorded and response:
                    _compare_keys(name, where + "[0]", recorded[0], response[0], errors)
                continue
            _compare_keys(name, where, recorded, response, errors)
            if isinstance(recorded, dict) and isinstance(recorded.get("data"), dict) \
                    and isinstance((response or {}).get("data"), dict):
                _compare_keys(name, where + " data", recorded["data"], response["data"], errors)
                _compare_keys(name, where + " data.attributes", recorded["data"].get("attributes"),
                              response["data"].get("attributes"), errors)
            compared += 1
    assert errors == []
    assert compared >= 20
