# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ddpoc.observability.plugins.module_utils import datadog_compare as cmp

SENT_MONITOR = {
    "name": "my_metric high \n",
    "type": "metric alert",
    "query": "avg(last_5m):avg:my_metric{host:lab} > 800",
    "message": "{{#is_alert}}{{value}}{{/is_alert}}\n",
    "tags": ["b:2", "a:1"],
    "options": {"thresholds": {"critical": 800, "warning": 500}, "notify_no_data": True, "no_data_timeframe": 10},
}

RETURNED_MONITOR = {
    "id": 42, "org_id": 1, "created": "2030-01-01", "created_at": 1, "modified": "x", "deleted": None,
    "creator": {"handle": "x"}, "overall_state": "OK", "multi": False, "restricted_roles": None,
    "priority": None,
    "name": "my_metric high", "type": "query alert", "query": "avg(last_5m):avg:my_metric{host:lab} > 800",
    "message": "{{#is_alert}}{{value}}{{/is_alert}}", "tags": ["a:1", "b:2"],
    "options": {"thresholds": {"critical": 800.0, "warning": 500.0}, "notify_no_data": True,
                "no_data_timeframe": 10, "notify_audit": False, "include_tags": True, "new_host_delay": 300,
                "silenced": {}},
}


def test_monitor_round_trip_unchanged():
    desired = cmp.normalise_monitor(SENT_MONITOR)
    actual = cmp.normalise_monitor(RETURNED_MONITOR)
    assert cmp.changed_fields(desired, actual, subset=True) == []


def test_monitor_threshold_change_detected():
    sent = dict(SENT_MONITOR, options=dict(SENT_MONITOR["options"], thresholds={"critical": 800, "warning": 600}))
    fields = cmp.changed_fields(cmp.normalise_monitor(sent), cmp.normalise_monitor(RETURNED_MONITOR), True)
    assert fields == ["options"]


def test_no_data_timeframe_ignored_without_notify():
    sent = dict(SENT_MONITOR, options={"notify_no_data": False, "no_data_timeframe": 20})
    returned = dict(RETURNED_MONITOR, options={"notify_no_data": False, "no_data_timeframe": 10})
    assert cmp.changed_fields(cmp.normalise_monitor(sent), cmp.normalise_monitor(returned), True) == []


def test_empty_thresholds_equal_missing():
    sent = dict(SENT_MONITOR, options={"thresholds": {}})
    returned = dict(RETURNED_MONITOR, options={"notify_no_data": False})
    assert cmp.changed_fields(cmp.normalise_monitor(sent), cmp.normalise_monitor(returned), True) == []


def test_bool_not_equal_to_number():
    assert not cmp.values_equal(True, 1, subset=True)
    assert cmp.values_equal(2, 2.0, subset=True)


def test_dashboard_ids_and_defaults_ignored():
    sent = {"title": "T", "layout_type": "ordered", "widgets": [
        {"definition": {"type": "group", "widgets": [{"definition": {"type": "note", "content": "x"}}]}}]}
    returned = {"id": "abc-def-ghi", "url": "/dashboard/abc", "author_handle": "a", "author_name": "b",
                "created_at": "t", "modified_at": "t", "is_read_only": False, "description": None,
                "template_variables": None, "notify_list": None, "restricted_roles": [],
                "title": "T", "layout_type": "ordered", "widgets": [
                    {"id": 1, "definition": {"type": "group", "widgets": [
                        {"id": 2, "definition": {"type": "note", "content": "x"}}]}}]}
    assert cmp.changed_fields(cmp.normalise_dashboard(sent), cmp.normalise_dashboard(returned), False) == []


def test_dashboard_widget_order_matters():
    first = {"definition": {"type": "note", "content": "a"}}
    second = {"definition": {"type": "note", "content": "b"}}
    sent = {"title": "T", "layout_type": "ordered", "widgets": [first, second]}
    returned = {"title": "T", "layout_type": "ordered", "widgets": [second, first]}
    assert cmp.changed_fields(cmp.normalise_dashboard(sent), cmp.normalise_dashboard(returned), False) == ["widgets"]


def test_dashboard_removed_widget_field_detected():
    sent = {"title": "T", "layout_type": "ordered", "widgets": [{"definition": {"type": "note"}}]}
    returned = {"title": "T", "layout_type": "ordered", "widgets": [{"definition": {"type": "note", "content": "x"}}]}
    assert cmp.changed_fields(cmp.normalise_dashboard(sent), cmp.normalise_dashboard(returned), False) == ["widgets"]


def test_downtime_states_compared_as_set():
    recurrence = {"rrule": "FREQ=DAILY", "duration": "1h", "start": "2030-01-01T00:00:00"}
    sent = {"scope": "host:lab", "notify_end_states": ["alert", "warn"],
            "schedule": {"timezone": "UTC", "recurrences": [recurrence]}}
    returned = {"data": {"id": "u", "type": "downtime", "attributes": {
        "scope": "host:lab", "notify_end_states": ["warn", "alert"], "status": "scheduled", "created": "x",
        "modified": "y", "canceled": None,
        "schedule": {"timezone": "UTC", "current_downtime": {"start": "a", "end": "b"},
                     "recurrences": [dict(recurrence)]}}}}
    assert cmp.changed_fields(cmp.normalise_downtime(sent), cmp.normalise_downtime(returned), True) == []


def test_downtime_null_start_not_compared():
    sent = {"scope": "host:lab", "schedule": {"start": None, "end": "2030-01-01T00:00:00+00:00"}}
    returned = {"scope": "host:lab", "schedule": {"start": "2029-01-01T00:00:00+00:00",
                                                  "end": "2030-01-01T00:00:00+00:00"}}
    assert cmp.changed_fields(cmp.normalise_downtime(sent), cmp.normalise_downtime(returned), True) == []


def test_text_marker_round_trip():
    text = cmp.add_text_marker("Planned work\n", "poc-weekend")
    assert text == "Planned work\n\n[ansible-id:poc-weekend]"
    assert cmp.key_from_text(text) == "poc-weekend"
    assert cmp.strip_text_marker(text) == "Planned work"
    assert cmp.key_from_text("no marker [ansible-id:x] in the middle") is None


def test_key_validation():
    assert cmp.key_error("poc-my-metric") is None
    assert "invalid key" in cmp.key_error("has space")
    assert "invalid key" in cmp.key_error("")
