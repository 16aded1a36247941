# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ddpoc.observability.plugins.modules import datadog_resources


class FailedModule(Exception):
    pass


class StubModule:
    """The two AnsibleModule members that prune_setting and declared_set use."""

    def __init__(self, params):
        self.params = params

    def fail_json(self, **kwargs):
        raise FailedModule(kwargs["msg"])


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("yes", True), ("false", False), (["monitors"], ["monitors"]),
])
def test_prune_setting_accepted(value, expected):
    assert datadog_resources.prune_setting(StubModule({"prune": value})) == expected


@pytest.mark.parametrize("value", [["alerts"], "sometimes", 3])
def test_prune_setting_rejected(value):
    with pytest.raises(FailedModule) as info:
        datadog_resources.prune_setting(StubModule({"prune": value}))
    assert "invalid prune" in str(info.value)


def test_brackets_rewritten_in_messages_only():
    params = {
        "rewrite_brackets": True,
        "monitors": [{"key": "m", "name": "[[host.name]] high", "message": "[[#is_alert]]x[[/is_alert]]",
                      "query": "avg(last_5m):avg:m{[[x]]} > 1"}],
        "downtimes": [{"key": "d", "message": "[[value]]", "scope": "host:[[a]]"}],
        "dashboards": [{"key": "b", "title": "[[t]]"}],
    }
    declared = datadog_resources.declared_set(StubModule(params))
    assert declared["monitors"][0]["name"] == "{{host.name}} high"
    assert declared["monitors"][0]["message"] == "{{#is_alert}}x{{/is_alert}}"
    assert declared["monitors"][0]["query"] == "avg(last_5m):avg:m{[[x]]} > 1"
    assert declared["downtimes"][0]["message"] == "{{value}}"
    assert declared["downtimes"][0]["scope"] == "host:[[a]]"
    assert declared["dashboards"][0]["title"] == "[[t]]"
    assert params["monitors"][0]["name"] == "[[host.name]] high"
