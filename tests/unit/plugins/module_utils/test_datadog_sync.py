# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engine tests against the project's fake API, running in-process on a free loopback port."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import DatadogClient
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_resource import PlanError, SpecError
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_sync import ApplyError, Engine, summarise

from ansible_collections.ddpoc.observability.tests.unit.plugins.module_utils.fake_server import RunningFake

MONITOR = {
    "key": "lab-my-metric",
    "name": "my_metric is high on lab",
    "type": "metric alert",
    "query": "avg(last_5m):avg:my_metric{host:lab} > 800",
    "message": "{{#is_alert}}{{value}} on {{host.ip}}{{/is_alert}} @ops@example.com",
    "options": {"thresholds": {"critical": 800, "warning": 500}, "notify_no_data": True, "no_data_timeframe": 10},
}
DASHBOARD = {
    "key": "lab-timeboard",
    "title": "my_metric",
    "layout_type": "ordered",
    "widgets": [{"definition": {"type": "timeseries", "requests": [{"q": "my_metric{host:lab}"}]}}],
}
DOWNTIME = {
    "key": "lab-weekend",
    "scope": "host:lab",
    "monitor_identifier": {"monitor_tags": ["*"]},
    "schedule": {"timezone": "Europe/Paris", "recurrences": [
        {"rrule": "FREQ=WEEKLY;BYDAY=SA", "duration": "2d", "start": "2031-01-04T00:00:00"}]},
}


@pytest.fixture
def fake():
    running = RunningFake()
    yield running
    running.stop()


def engine_for(fake, check_mode=False, retry_timeout=5.0, request_timeout=5.0):
    client = DatadogClient(fake.url, "fake-api-key", "fake-app-key", retry_timeout=retry_timeout,
                           request_timeout=request_timeout, max_backoff=0.2)
    return Engine(client, check_mode=check_mode, parallel=2)


def declared(monitors=(), dashboards=(), downtimes=()):
    return {"monitors": [copy.deepcopy(m) for m in monitors], "dashboards": [copy.deepcopy(d) for d in dashboards],
            "downtimes": [copy.deepcopy(d) for d in downtimes]}


def run(engine, declared_set, prune=False):
    actions = engine.plan(declared_set, prune)
    engine.apply(actions)
    return summarise(actions, engine.check_mode)


def actions_of(rows):
    return [(r["kind"], r["key"], r["action"]) for r in rows]


def test_check_apply_check_apply(fake):
    full = declared([MONITOR], [DASHBOARD], [DOWNTIME])
    rows, diff, counts, changed = run(engine_for(fake, check_mode=True), full)
    assert changed
    assert counts["created"] == 3
    assert fake.counters()["writes"] == 0
    assert fake.counters()["validates"] == 1

    rows, diff, counts, changed = run(engine_for(fake), full)
    assert counts["created"] == 3
    assert fake.counters()["monitors"] == 1

    fake.clear_requests()
    rows, diff, counts, changed = run(engine_for(fake, check_mode=True), full)
    assert not changed
    rows, diff, counts, changed = run(engine_for(fake), full)
    assert not changed
    assert counts["unchanged"] == 3
    assert fake.counters()["writes"] == 0


def test_no_change_run_reads_only_listings_and_dashboards(fake):
    full = declared([MONITOR], [DASHBOARD], [DOWNTIME])
    run(engine_for(fake), full)
    fake.clear_requests()
    run(engine_for(fake), full)
    paths = sorted((r["method"], r["path"]) for r in fake.requests())
    dashboard_id = list(fake.app.store.dashboards)[0]
    assert paths == sorted([("GET", "/api/v1/dashboard"), ("GET", "/api/v1/dashboard/" + dashboard_id),
                            ("GET", "/api/v1/monitor"), ("GET", "/api/v2/downtime")])


def test_lost_create_response_makes_no_duplicate(fake):
    for kind, entry in (("monitors", MONITOR), ("dashboards", DASHBOARD), ("downtimes", DOWNTIME)):
        path = {"monitors": "^/api/v1/monitor$", "dashboards": "^/api/v1/dashboard$",
                "downtimes": "^/api/v2/downtime$"}[kind]
        fake.faults({"kind": "lost", "method": "POST", "path": path, "count": 1})
        rows, diff, counts, changed = run(engine_for(fake), {kind: [copy.deepcopy(entry)]})
        assert rows[0]["action"] == "created"
        assert rows[0]["recovered"] is True
        assert rows[0]["id"] is not None
    assert fake.counters()["monitors"] == 1
    assert fake.counters()["dashboards"] == 1
    assert fake.counters()["downtimes"] == 1


def test_create_after_gateway_error_not_applied(fake):
    fake.faults({"kind": "status", "status": 502, "method": "POST", "path": "^/api/v1/monitor$", "count": 1})
    rows, diff, counts, changed = run(engine_for(fake), declared([MONITOR]))
    assert rows[0]["action"] == "created"
    assert fake.counters()["monitors"] == 1


def test_rate_limited_create_retried(fake):
    fake.faults({"kind": "status", "status": 429, "reset": 1, "method": "POST", "path": "^/api/v1/monitor$",
                 "count": 2})
    rows, diff, counts, changed = run(engine_for(fake), declared([MONITOR]))
    assert rows[0]["action"] == "created"
    assert fake.counters()["monitors"] == 1


def test_retries_exhausted_names_resource(fake):
    fake.faults({"kind": "status", "status": 503, "method": "PUT", "count": -1})
    run(engine_for(fake), declared([MONITOR]))
    changed_monitor = dict(MONITOR, name="renamed")
    with pytest.raises(ApplyError) as info:
        run(engine_for(fake, retry_timeout=1.0), declared([changed_monitor]))
    message = str(info.value)
    assert "monitor 'lab-my-metric'" in message
    assert "HTTP 503" in message
    assert "gave up" in message


def test_prune_never_deletes_unmarked(fake):
    store = fake.app.store
    unmarked_monitor = store.create_monitor(dict(MONITOR, tags=["team:ui"]))
    unmarked_dashboard = store.create_dashboard({"title": "UI", "layout_type": "ordered", "widgets": []})
    other = dict(MONITOR, key="old-monitor", name="old")
    run(engine_for(fake), declared([MONITOR, other], [DASHBOARD]))
    rows, diff, counts, changed = run(engine_for(fake), declared([MONITOR]), prune=True)
    assert ("monitor", "old-monitor", "deleted") in actions_of(rows)
    assert ("dashboard", "lab-timeboard", "deleted") in actions_of(rows)
    assert unmarked_monitor["id"] in store.monitors
    assert unmarked_dashboard["id"] in store.dashboards
    assert len(store.monitors) == 2


def test_prune_limited_to_listed_types(fake):
    run(engine_for(fake), declared([MONITOR], [DASHBOARD]))
    rows, diff, counts, changed = run(engine_for(fake), declared(), prune=["monitors"])
    assert actions_of(rows) == [("monitor", "lab-my-metric", "deleted")]
    assert len(fake.app.store.dashboards) == 1


def test_duplicate_marker_fails_listing_ids(fake):
    run(engine_for(fake), declared([MONITOR]))
    engine = engine_for(fake)
    body = engine.types["monitors"].build(copy.deepcopy(MONITOR))
    second = fake.app.store.create_monitor(body)
    with pytest.raises(PlanError) as info:
        engine.plan(declared([MONITOR]))
    assert str(second["id"]) in str(info.value)
    assert "2 live objects" in str(info.value)


def test_same_title_not_adopted_without_opt_in(fake):
    fake.app.store.create_dashboard({"title": "my_metric", "layout_type": "ordered", "widgets": []})
    rows, diff, counts, changed = run(engine_for(fake), declared(dashboards=[DASHBOARD]))
    assert rows[0]["action"] == "created"
    assert len(fake.app.store.dashboards) == 2


def test_adopt_by_name_fails_on_two_matches(fake):
    fake.app.store.create_dashboard({"title": "my_metric", "layout_type": "ordered", "widgets": []})
    fake.app.store.create_dashboard({"title": "my_metric", "layout_type": "ordered", "widgets": []})
    with pytest.raises(PlanError) as info:
        engine_for(fake).plan(declared(dashboards=[dict(DASHBOARD, adopt_by_name=True)]))
    assert "2 unmarked objects" in str(info.value)


def test_adopt_by_name_writes_marker(fake):
    existing = fake.app.store.create_monitor(dict(MONITOR))
    rows, diff, counts, changed = run(engine_for(fake), declared([dict(MONITOR, adopt_by_name=True)]))
    assert rows[0]["action"] == "updated"
    assert rows[0]["id"] == existing["id"]
    assert "ansible-id:lab-my-metric" in fake.app.store.monitors[existing["id"]]["tags"]


def test_invalid_monitor_fails_before_any_write(fake):
    bad = dict(MONITOR, key="bad", query="avg(last_5m):avg:my_metric{host:lab} >")
    with pytest.raises(SpecError) as info:
        run(engine_for(fake), declared([MONITOR, bad], [DASHBOARD]))
    assert "monitor 'bad'" in str(info.value)
    assert fake.counters()["writes"] == 0


def test_threshold_mismatch_rejected_locally(fake):
    bad = dict(MONITOR, options={"thresholds": {"critical": 900}})
    with pytest.raises(SpecError) as info:
        engine_for(fake).plan(declared([bad]))
    assert "differs from the threshold 800" in str(info.value)
    assert fake.counters()["total"] == 0


@pytest.mark.parametrize("change", [
    {"recurrences": [{"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "type": "rrule", "duration": "2d",
                      "start": "2031-01-04T00:00:00"}]},
    {"recurrences": [{"rrule": "FREQ=WEEKLY;BYDAY=SA", "duration": "2 days", "start": "2031-01-04T00:00:00"}]},
    {"recurrences": [{"rrule": "FREQ=MONTHLY;BYDAY=SA;BYSETPOS=1", "duration": "2d",
                      "start": "2031-01-04T00:00:00"}]},
    {"recurrences": [{"rrule": "FREQ=WEEKLY;BYDAY=SA", "duration": "2d", "start": "2031-01-04T00:00:00"}] * 6},
])
def test_invalid_downtime_sends_nothing(fake, change):
    bad = copy.deepcopy(DOWNTIME)
    bad["schedule"].update(change)
    with pytest.raises(SpecError) as info:
        run(engine_for(fake), declared(downtimes=[bad]))
    assert "downtime 'lab-weekend'" in str(info.value)
    assert fake.counters()["total"] == 0


def test_v1_style_downtime_rejected(fake):
    bad = {"key": "v1", "scope": "host:lab", "monitor_identifier": {"monitor_tags": ["*"]},
           "rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "type": "weeks", "schedule": {"start": None}}
    with pytest.raises(SpecError) as info:
        run(engine_for(fake), declared(downtimes=[bad]))
    assert "rrule is not a v2 downtime field" in str(info.value)
    assert fake.counters()["total"] == 0


def test_write_paths_per_resource_type(fake):
    run(engine_for(fake), declared([MONITOR], [DASHBOARD], [DOWNTIME]))
    store = fake.app.store
    monitor_id = str(list(store.monitors)[0])
    dashboard_id = list(store.dashboards)[0]
    downtime_id = list(store.downtimes)[0]
    changed = declared([dict(MONITOR, name="my_metric is very high on lab")],
                       [dict(DASHBOARD, title="my_metric, renamed")],
                       [dict(DOWNTIME, notify_end_types=["canceled", "expired"])])

    fake.clear_requests()
    run(engine_for(fake, check_mode=True), changed)
    validates = [(r["method"], r["path"]) for r in fake.requests() if r["path"].endswith("/validate")]
    assert validates == [("POST", "/api/v1/monitor/%s/validate" % monitor_id)]

    fake.clear_requests()
    run(engine_for(fake), changed)
    run(engine_for(fake), declared(), prune=True)
    writes = sorted((r["method"], r["path"]) for r in fake.requests()
                    if r["method"] != "GET" and not r["path"].endswith("/validate"))
    assert writes == sorted([
        ("PUT", "/api/v1/monitor/" + monitor_id),
        ("PUT", "/api/v1/dashboard/" + dashboard_id),
        ("PATCH", "/api/v2/downtime/" + downtime_id),
        ("DELETE", "/api/v1/monitor/" + monitor_id),
        ("DELETE", "/api/v1/dashboard/" + dashboard_id),
        ("DELETE", "/api/v2/downtime/" + downtime_id),
    ])


def test_downtime_update_patches_changed_fields_only(fake):
    run(engine_for(fake), declared(downtimes=[DOWNTIME]))
    fake.clear_requests()
    changed = dict(DOWNTIME, notify_end_types=["canceled", "expired"])
    rows, diff, counts, is_changed = run(engine_for(fake), declared(downtimes=[changed]))
    assert rows[0]["changed_fields"] == ["notify_end_types"]
    patch = [r for r in fake.requests() if r["method"] == "PATCH"][0]
    assert sorted(patch["body"]["data"]["attributes"]) == ["notify_end_types"]


def test_downtime_request_shape_matches_v2(fake):
    run(engine_for(fake), declared(downtimes=[DOWNTIME]))
    post = [r for r in fake.requests() if r["method"] == "POST"][0]
    data = post["body"]["data"]
    assert data["type"] == "downtime"
    attributes = data["attributes"]
    assert attributes["display_timezone"] == "Europe/Paris"
    assert attributes["schedule"]["timezone"] == "Europe/Paris"
    assert sorted(attributes["schedule"]["recurrences"][0]) == ["duration", "rrule", "start"]
    assert attributes["message"].endswith("[ansible-id:lab-weekend]")


def test_cancelled_downtime_recreated(fake):
    rows = run(engine_for(fake), declared(downtimes=[DOWNTIME]))[0]
    fake.app.store.cancel_downtime(rows[0]["id"])
    rows = run(engine_for(fake), declared(downtimes=[DOWNTIME]))[0]
    assert rows[0]["action"] == "created"


def test_past_start_fails_unless_rebased(fake):
    past = copy.deepcopy(DOWNTIME)
    past["schedule"]["recurrences"][0]["start"] = "2020-01-04T00:00:00"
    with pytest.raises(SpecError) as info:
        run(engine_for(fake), declared(downtimes=[past]))
    assert "in the past" in str(info.value)
    rows = run(engine_for(fake), declared(downtimes=[dict(past, rebase_past_start=True)]))[0]
    assert rows[0]["action"] == "created"


def test_export_round_trip_is_unchanged(fake):
    ui_monitor = fake.app.store.create_monitor(dict(MONITOR, tags=["team:ui"]))
    run(engine_for(fake), declared([dict(MONITOR, key="marked")], [DASHBOARD], [DOWNTIME]))
    exported = engine_for(fake).export(["dashboards", "monitors", "downtimes"])
    keys = sorted(m["key"] for m in exported["monitors"])
    assert "marked" in keys
    adopted = [m for m in exported["monitors"] if m.get("id") == ui_monitor["id"]][0]
    rows = run(engine_for(fake), exported)[0]
    assert ("monitor", adopted["key"], "updated") in actions_of(rows)
    assert ("monitor", "marked", "unchanged") in actions_of(rows)
    assert ("dashboard", "lab-timeboard", "unchanged") in actions_of(rows)
    assert ("downtime", "lab-weekend", "unchanged") in actions_of(rows)


def test_missing_keys_get_403(fake):
    client = DatadogClient(fake.url, None, None, retry_timeout=1)
    with pytest.raises(Exception) as info:
        Engine(client).plan(declared([MONITOR]))
    assert "HTTP 403" in str(info.value)
    assert "monitors_read" in str(info.value)


def test_declared_key_twice_rejected(fake):
    with pytest.raises(SpecError) as info:
        engine_for(fake).plan(declared([MONITOR, MONITOR]))
    assert "declared twice" in str(info.value)


def test_rebased_downtime_stays_unchanged(fake):
    past = copy.deepcopy(DOWNTIME)
    past["schedule"]["recurrences"][0]["start"] = "2021-01-02T00:00:00"
    past["rebase_past_start"] = True
    rows = run(engine_for(fake), declared(downtimes=[past]))[0]
    assert rows[0]["action"] == "created"
    stored = list(fake.app.store.downtimes.values())[0]["attributes"]["schedule"]["recurrences"][0]["start"]
    assert stored > "2021-01-02T00:00:00"
    rows = run(engine_for(fake), declared(downtimes=[past]))[0]
    assert rows[0]["action"] == "unchanged"


def test_dashboard_public_link_lifecycle(fake):
    shared = dict(DASHBOARD, shared=True)
    rows = run(engine_for(fake, check_mode=True), declared(dashboards=[shared]))[0]
    assert rows[0]["action"] == "created"
    assert fake.counters()["writes"] == 0

    rows = run(engine_for(fake), declared(dashboards=[shared]))[0]
    assert rows[0]["public_url"].startswith(fake.url + "/sb/")
    assert len(fake.app.store.shares) == 1

    rows = run(engine_for(fake), declared(dashboards=[shared]))[0]
    assert rows[0]["action"] == "unchanged"
    assert rows[0]["public_url"].startswith(fake.url + "/sb/")

    rows = run(engine_for(fake), declared(dashboards=[DASHBOARD]))[0]
    assert rows[0]["action"] == "unchanged"
    assert len(fake.app.store.shares) == 1

    rows = run(engine_for(fake), declared(dashboards=[dict(DASHBOARD, shared=False)]))[0]
    assert rows[0]["action"] == "updated"
    assert fake.app.store.shares == {}
    description = list(fake.app.store.dashboards.values())[0]["description"]
    assert "ansible-share" not in description
    assert description.endswith("[ansible-id:lab-timeboard]")


def test_lost_public_link_recreated(fake):
    shared = dict(DASHBOARD, shared=True)
    run(engine_for(fake), declared(dashboards=[shared]))
    fake.app.store.shares.clear()
    rows = run(engine_for(fake), declared(dashboards=[shared]))[0]
    assert rows[0]["action"] == "updated"
    assert "shared" in rows[0]["changed_fields"]
    assert len(fake.app.store.shares) == 1
    token = list(fake.app.store.shares)[0]
    assert "[ansible-share:%s]" % token in list(fake.app.store.dashboards.values())[0]["description"]
