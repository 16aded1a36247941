# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that need the real Datadog Agent: `datadog-agent status`, `check` and `configcheck`.

They run where the converge installed Datadog's own package (the Vagrant `default` scenario
with a real API key). The lab host installs a test stand-in package, which labels itself in
its package description, in /usr/share/doc/datadog-agent/README.standin and in `agent version`.
There, and where no agent is installed, every test here is skipped with a reason that starts
with NOT VERIFIED, so a green run never hides that the real agent was not exercised.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

AGENT_BINARY = "/opt/datadog-agent/bin/agent/agent"
STANDIN_README = "/usr/share/doc/datadog-agent/README.standin"
STANDIN_LABEL = "stand-in"


def standin_labels(host):
    """Return the stand-in labels found on the host. An empty list means a real agent build."""
    labels = []
    if host.file(STANDIN_README).exists:
        labels.append(STANDIN_README)
    description = host.run("dpkg-query -W -f '${Description}' datadog-agent")
    if STANDIN_LABEL in description.stdout.lower():
        labels.append("package description")
    version = host.run("%s version", AGENT_BINARY)
    if STANDIN_LABEL in version.stdout.lower():
        labels.append("`agent version` output")
    return labels


@pytest.fixture(scope="module")
def agent(host):
    """Skip, saying so, unless the host runs a real Datadog Agent build."""
    if not host.file(AGENT_BINARY).exists:
        pytest.skip("NOT VERIFIED: %s is missing, so no Datadog Agent is installed on this host" % AGENT_BINARY)
    labels = standin_labels(host)
    if labels:
        pytest.skip(
            "NOT VERIFIED: the installed datadog-agent is the lab's test stand-in (labelled in %s); "
            "`datadog-agent status` and `datadog-agent check` need the real agent, as in the Vagrant scenario"
            % ", ".join(labels)
        )
    return host


def find_metric_points(document, metric_name):
    """Collect the point values of METRIC_NAME anywhere in the JSON output of `agent check --json`."""
    values = []
    if isinstance(document, dict):
        if document.get("metric") == metric_name:
            for point in document.get("points") or []:
                values.append(point[1] if isinstance(point, list) else point.get("value"))
        for value in document.values():
            values.extend(find_metric_points(value, metric_name))
    elif isinstance(document, list):
        for item in document:
            values.extend(find_metric_points(item, metric_name))
    return values


def parse_json_output(stdout):
    """Parse the JSON document printed by `agent check --json`, skipping any log lines before it."""
    for index, line in enumerate(stdout.splitlines()):
        if line.startswith(("[", "{")):
            return json.loads("\n".join(stdout.splitlines()[index:]))
    raise AssertionError("no JSON document in the output of `datadog-agent check --json`:\n%s" % stdout)


def test_agent_status_reports_running_agent(agent):
    with agent.sudo():
        result = agent.run("datadog-agent status")
    assert result.rc == 0, result.stdout + result.stderr
    assert "Agent (v7." in result.stdout


def status_section(text, title):
    """Return one top-level section of `datadog-agent status` as text.

    Top-level titles have a line of '=' above and below them. Subsection titles inside a
    section, such as "Running Checks", are only underlined.
    """
    lines = text.splitlines()

    def is_rule(line):
        return set(line.strip()) == {"="}

    headings = [
        index
        for index in range(1, len(lines) - 1)
        if lines[index].strip() and is_rule(lines[index - 1]) and is_rule(lines[index + 1])
    ]
    for position, index in enumerate(headings):
        if lines[index].strip() == title:
            # The next section starts at the rule above its title.
            end = headings[position + 1] - 1 if position + 1 < len(headings) else len(lines)
            return "\n".join(lines[index + 2:end])
    raise AssertionError("`datadog-agent status` has no %s section:\n%s" % (title, text))


def test_agent_status_lists_checks_without_errors(agent):
    with agent.sudo():
        result = agent.run("datadog-agent status")
    collector = status_section(result.stdout, "Collector")
    assert "my_metric" in collector
    assert "mysql" in collector
    # NOTE: not run against a real agent on the development machines. Agent 7 marks a failing
    # check instance with "[ERROR]" in this section.
    assert "[ERROR]" not in collector, collector


def test_my_metric_check_submits_value(agent):
    with agent.sudo():
        result = agent.run("datadog-agent check my_metric --json")
    assert result.rc == 0, result.stdout + result.stderr
    values = find_metric_points(parse_json_output(result.stdout), "my_metric")
    assert values, "`datadog-agent check my_metric` submitted no my_metric point:\n%s" % result.stdout
    for value in values:
        assert 0 <= value <= 1000


def test_configcheck_uses_role_written_files(agent):
    with agent.sudo():
        result = agent.run("datadog-agent configcheck")
    assert result.rc == 0, result.stdout + result.stderr
    assert "/etc/datadog-agent/conf.d/mysql.d/conf.yaml" in result.stdout
    assert "/etc/datadog-agent/conf.d/my_metric.d/my_metric.yaml" in result.stdout
