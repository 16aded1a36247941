# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ddpoc.observability.plugins.filter.datadog_agent import (
    FilterModule,
    datadog_agent_extra_config,
    datadog_custom_check_name,
    datadog_custom_checks,
    datadog_host_tags,
    datadog_site,
)
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_sites import SITES


# Host tags

def test_tags_list_kept():
    assert datadog_host_tags(["team:observability", "role:db"]) == ["team:observability", "role:db"]


def test_tags_mapping_normalised():
    assert datadog_host_tags({"team": "observability", "tier": 2}) == ["team:observability", "tier:2"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("team: observability", "team:observability"),
        ("  role :db ", "role:db"),
        ("url:http://example.invalid/x", "url:http://example.invalid/x"),
        ("region:eu-west-1", "region:eu-west-1"),
    ],
)
def test_tags_spacing_normalised(raw, expected):
    assert datadog_host_tags([raw]) == [expected]


def test_tags_duplicates_dropped():
    assert datadog_host_tags(["a:1", "b:2", "a: 1"]) == ["a:1", "b:2"]


def test_tags_none_is_empty():
    assert datadog_host_tags(None) == []


@pytest.mark.parametrize(
    "tags, fragment",
    [
        (["poc"], "'poc'"),
        (["team:"], "'team:'"),
        ([":observability"], "':observability'"),
        (["my team:poc"], "'my team'"),
        (["1team:poc"], "'1team'"),
        (["team:proof of concept"], "'proof of concept'"),
        (["team:a,b"], "'a,b'"),
        (["k:" + "v" * 200], "at most 200"),
        ([{"team": "observability"}], "YAML read"),
        ([42], "not int"),
        ([["team:observability"]], "not list"),
        ({"team": True}, "quote it"),
        ({"team": None}, "'team': None"),
        ({"team": ["a", "b"]}, "not list"),
        ({1: "x"}, "key must be a string"),
        ("team:observability,role:db", "use a list"),
        (7, "not int"),
    ],
)
def test_tags_invalid_rejected(tags, fragment):
    with pytest.raises(AnsibleFilterError) as error:
        datadog_host_tags(tags)
    assert fragment in str(error.value)


def test_tags_error_names_tag():
    with pytest.raises(AnsibleFilterError) as error:
        datadog_host_tags(["team:ok", "broken tag"])
    assert "'broken tag'" in str(error.value)


# Site

@pytest.mark.parametrize("site", SITES)
def test_site_known_accepted(site):
    assert datadog_site(site) == site


def test_site_eu_in_list():
    assert datadog_site("datadoghq.eu") == "datadoghq.eu"


@pytest.mark.parametrize(
    "site",
    [
        "eu",
        "EU",
        "us3",
        "https://datadoghq.eu",
        "http://datadoghq.eu",
        "app.datadoghq.eu",
        "api.datadoghq.eu",
        "datadoghq.eu/",
        " datadoghq.eu",
        "DATADOGHQ.EU",
        "datadoghq.co",
        "",
    ],
)
def test_site_invalid_lists_accepted(site):
    with pytest.raises(AnsibleFilterError) as error:
        datadog_site(site)
    message = str(error.value)
    assert repr(site) in message
    assert "datadoghq.eu" in message
    assert "us5.datadoghq.com" in message


@pytest.mark.parametrize("site", [None, 1, ["datadoghq.eu"]])
def test_site_non_string_rejected(site):
    with pytest.raises(AnsibleFilterError, match="must be a string"):
        datadog_site(site)


# Extra datadog.yaml settings

def test_extra_config_passthrough():
    config = {"logs_enabled": True, "apm_config": {"apm_non_local_traffic": False}}
    assert datadog_agent_extra_config(config) is config


def test_extra_config_none_is_empty():
    assert datadog_agent_extra_config(None) == {}


def test_extra_config_apm_enabled_rejected():
    with pytest.raises(AnsibleFilterError) as error:
        datadog_agent_extra_config({"apm_enabled": True})
    assert "'apm_enabled'" in str(error.value)
    assert "apm_config.enabled" in str(error.value)


@pytest.mark.parametrize("key", ["process_agent_enabled", "non_local_traffic"])
def test_extra_config_agent5_rejected(key):
    with pytest.raises(AnsibleFilterError, match="Agent 5"):
        datadog_agent_extra_config({key: True})


@pytest.mark.parametrize(
    "key, variable", [("api_key", "agent_api_key"), ("site", "agent_site"), ("tags", "agent_host_tags")]
)
def test_extra_config_owned_key_rejected(key, variable):
    with pytest.raises(AnsibleFilterError) as error:
        datadog_agent_extra_config({key: "x"})
    assert variable in str(error.value)


def test_extra_config_list_rejected():
    with pytest.raises(AnsibleFilterError, match="must be a mapping"):
        datadog_agent_extra_config(["logs_enabled"])


# Custom check names

@pytest.mark.parametrize("name", ["my_metric", "custom_mysql", "queue2_depth"])
def test_check_name_valid(name):
    assert datadog_custom_check_name(name, ["mysql", "disk"]) == name


@pytest.mark.parametrize("name", ["mysql", "disk", "requests"])
def test_check_name_denied(name):
    with pytest.raises(AnsibleFilterError) as error:
        datadog_custom_check_name(name, ["mysql", "disk", "requests"])
    assert "custom_%s" % name in str(error.value)


@pytest.mark.parametrize("name", ["datadog", "datadog_checks", "json", "http", "random", "socket"])
def test_check_name_builtin_denied(name):
    with pytest.raises(AnsibleFilterError, match="shadow"):
        datadog_custom_check_name(name, [])


@pytest.mark.parametrize(
    "name", ["My_metric", "my-metric", "my metric", "1metric", "_metric", "my_metric.py", "", None, 5, "a" * 65]
)
def test_check_name_format_rejected(name):
    with pytest.raises(AnsibleFilterError, match="invalid custom check name"):
        datadog_custom_check_name(name, [])


# Custom check definitions

def check_definition(**overrides):
    definition = {"name": "my_metric", "template": "my_metric.py.j2", "instances": [{"min_collection_interval": 45}]}
    definition.update(overrides)
    return definition


def test_checks_defaults_filled():
    result = datadog_custom_checks([check_definition()])
    assert result == [{
        "name": "my_metric",
        "state": "present",
        "init_config": {},
        "instances": [{"min_collection_interval": 45}],
        "template": "my_metric.py.j2",
    }]


def test_checks_absent_needs_name_only():
    assert datadog_custom_checks([{"name": "old_metric", "state": "absent"}]) == [
        {"name": "old_metric", "state": "absent"}
    ]


def test_checks_source_kept():
    definition = {"name": "queue_depth", "source": "/srv/checks/queue.py", "instances": [{}]}
    result = datadog_custom_checks([definition])
    assert result[0]["source"] == "/srv/checks/queue.py"


@pytest.mark.parametrize("interval", [1, 45, 3600])
def test_checks_interval_int_accepted(interval):
    result = datadog_custom_checks([check_definition(instances=[{"min_collection_interval": interval}, {}])])
    assert result[0]["instances"][0]["min_collection_interval"] == interval


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"name": "mysql"}, "custom_mysql"),
        ({"name": "requests"}, "custom_requests"),
        ({"name": "My-Metric"}, "invalid custom check name"),
        ({"instances": [{"min_collection_interval": "45"}]}, "without quotes, not '45'"),
        ({"instances": [{"min_collection_interval": 45.5}]}, "whole number"),
        ({"instances": [{"min_collection_interval": True}]}, "whole number"),
        ({"instances": [{"min_collection_interval": 0}]}, "at least 1"),
        ({"instances": []}, "non-empty list"),
        ({"instances": {"min_collection_interval": 45}}, "non-empty list"),
        ({"instances": ["min_collection_interval: 45"]}, "instances[0] must be a mapping"),
        ({"init_config": {"min_collection_interval": 45}}, "set it on each instance"),
        ({"init_config": ["x"]}, "init_config must be a mapping"),
        ({"source": "/tmp/x.py"}, "exactly one of source"),
        ({"state": "enabled"}, "'present' or 'absent'"),
        ({"check_name": "x"}, "unknown keys check_name"),
    ],
)
def test_checks_invalid_rejected(overrides, fragment):
    with pytest.raises(AnsibleFilterError) as error:
        datadog_custom_checks([check_definition(**overrides)], ["mysql", "requests"])
    assert fragment in str(error.value)


def test_checks_without_source_rejected():
    definition = check_definition()
    del definition["template"]
    with pytest.raises(AnsibleFilterError, match="exactly one of source"):
        datadog_custom_checks([definition])


def test_checks_missing_instances_rejected():
    definition = check_definition()
    del definition["instances"]
    with pytest.raises(AnsibleFilterError, match="instances must be a non-empty list"):
        datadog_custom_checks([definition])


def test_checks_duplicate_rejected():
    with pytest.raises(AnsibleFilterError, match="listed twice"):
        datadog_custom_checks([check_definition(), check_definition()])


@pytest.mark.parametrize("checks", [{"name": "my_metric"}, "my_metric", None])
def test_checks_not_list_rejected(checks):
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        datadog_custom_checks(checks)


def test_checks_item_without_name_rejected():
    with pytest.raises(AnsibleFilterError, match="has no name"):
        datadog_custom_checks([{"template": "x.j2", "instances": [{}]}])


def test_filters_registered():
    names = set(FilterModule().filters())
    assert names == {
        "datadog_host_tags",
        "datadog_site",
        "datadog_agent_extra_config",
        "datadog_custom_check_name",
        "datadog_custom_checks",
    }
