# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the custom_check role on a converged host.

On the lab host, the stub agent package's `agent check my_metric --json` runs the check once through
datadog-checks-base. The real agent's JSON has another shape, so the metric test requires the stub
and fails on other hosts. The last tests run the role with broken checks and with taken names, and
check that nothing on the host changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

import pytest
import yaml

from playbook_runner import run_playbook

AGENT_BINARY = "/opt/datadog-agent/bin/agent/agent"
PYTHON = "/opt/datadog-agent/embedded/bin/python"
CHECK_PATH = "/etc/datadog-agent/checks.d/my_metric.py"
CHECK_CONFIG_PATH = "/etc/datadog-agent/conf.d/my_metric.d/my_metric.yaml"
STANDIN_README = "/usr/share/doc/datadog-agent/README.standin"

CHECK_PLAYBOOK = """
- name: Converge custom_check with test input
  hosts: {host}
  gather_facts: false
  roles:
    - role: ddpoc.observability.custom_check
      vars:
        custom_check_checks: {checks}
"""

BROKEN_SOURCES = {
    "dict_in_list": (
        "from datadog_checks.base import AgentCheck\n\n"
        "class MyMetricCheck(AgentCheck):\n"
        "    def check(self, instance):\n"
        "        self.gauge('my_metric', 1, tags=['env':'poc'])\n"
    ),
    "python2_print": (
        "from datadog_checks.base import AgentCheck\n\n"
        "class MyMetricCheck(AgentCheck):\n"
        "    def check(self, instance):\n"
        "        print 'my_metric'\n"
    ),
    "agent5_import": (
        "from checks import AgentCheck\n\n"
        "class MyMetricCheck(AgentCheck):\n"
        "    def check(self, instance):\n"
        "        self.gauge('my_metric', 1)\n"
    ),
}


def run_check_playbook(host, checks):
    return run_playbook(host, CHECK_PLAYBOOK.format(host="{host}", checks=json.dumps(checks)))


def agent_state(host):
    """Return what must not change when a run fails: file checksums and the agent's main PID."""
    return {
        "source": host.file(CHECK_PATH).sha256sum,
        "config": host.file(CHECK_CONFIG_PATH).sha256sum,
        "pid": host.check_output("systemctl show --property=MainPID --value datadog-agent"),
    }


@pytest.fixture(scope="module")
def check_result(host):
    if not host.file(STANDIN_README).exists:
        pytest.fail("the metric test reads the stub agent's `agent check --json` output; this host has another agent")
    result = host.run("%s check my_metric --json", AGENT_BINARY)
    assert result.rc == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_check_source_file(host):
    source = host.file(CHECK_PATH)
    assert source.user == "dd-agent"
    assert source.group == "dd-agent"
    assert source.contains("from datadog_checks.base import AgentCheck")


def test_check_source_compiles(host):
    assert host.run("%s -m py_compile %s", PYTHON, CHECK_PATH).rc == 0


def test_check_config_owner_mode(host):
    config_file = host.file(CHECK_CONFIG_PATH)
    assert config_file.user == "dd-agent"
    assert config_file.group == "dd-agent"
    assert config_file.mode == 0o640


def test_check_interval_on_instance(host):
    config = yaml.safe_load(host.file(CHECK_CONFIG_PATH).content_string)
    instances = config["instances"]
    assert isinstance(instances, list)
    assert instances
    for instance in instances:
        interval = instance["min_collection_interval"]
        # bool is a subclass of int, and YAML reads an unquoted yes or true as a bool.
        assert isinstance(interval, int)
        assert not isinstance(interval, bool)
        assert interval == 45
    assert "min_collection_interval" not in (config.get("init_config") or {})


def test_check_emits_my_metric(check_result):
    assert check_result["errors"] == []
    metrics = [metric for metric in check_result["metrics"] if metric["metric"] == "my_metric"]
    assert len(metrics) == 1
    assert metrics[0]["type"] == "gauge"
    assert 0 <= metrics[0]["value"] <= 1000


def test_configcheck_lists_file(host):
    output = host.check_output("%s configcheck", AGENT_BINARY)
    assert "=== my_metric check ===" in output
    assert "Configuration source: file:%s" % CHECK_CONFIG_PATH in output


def test_awkward_values_round_trip(host):
    """Instance values with YAML-significant characters survive rendering; state absent removes the check."""
    name = "custom_round_trip"
    instance = {
        "min_collection_interval": 30,
        "password": "p:ss#w@rd",
        "prefix": "*start",
        "quote": "it's \"quoted\"",
        "tags": ["team:observability"],
    }
    definition = {"name": name, "template": "my_metric.py.j2", "init_config": {"service": "a: b"},
                  "instances": [instance]}
    config_path = "/etc/datadog-agent/conf.d/%s.d/%s.yaml" % (name, name)

    present = run_check_playbook(host, [definition])
    assert present.returncode == 0, present.stdout[-3000:]
    config = yaml.safe_load(host.file(config_path).content_string)
    absent = run_check_playbook(host, [{"name": name, "state": "absent"}])

    assert config["instances"] == [instance]
    assert config["init_config"] == {"service": "a: b"}
    assert absent.returncode == 0, absent.stdout[-3000:]
    assert not host.file(config_path).exists
    assert not host.file("/etc/datadog-agent/conf.d/%s.d" % name).exists
    assert not host.file("/etc/datadog-agent/checks.d/%s.py" % name).exists


@pytest.mark.parametrize("kind", sorted(BROKEN_SOURCES))
def test_broken_check_rejected(host, kind):
    before = agent_state(host)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(BROKEN_SOURCES[kind])
        source = handle.name
    try:
        result = run_check_playbook(
            host, [{"name": "my_metric", "source": source, "instances": [{"min_collection_interval": 45}]}]
        )
    finally:
        os.remove(source)
    assert result.returncode != 0, "the role accepted a broken check (%s)" % kind
    assert "Copy the check source of my_metric" in result.stdout
    assert agent_state(host) == before


@pytest.mark.parametrize("name", ["mysql", "requests", "disk", "http"])
def test_taken_name_rejected(host, name):
    before = agent_state(host)
    result = run_check_playbook(host, [{"name": name, "template": "my_metric.py.j2", "instances": [{}]}])
    assert result.returncode != 0
    assert "invalid custom check name '%s'" % name in result.stdout
    assert "custom_%s" % name in result.stdout
    assert not host.file("/etc/datadog-agent/checks.d/%s.py" % name).exists
    assert not host.file("/etc/datadog-agent/conf.d/%s.d/%s.yaml" % (name, name)).exists
    assert agent_state(host) == before
