# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests: real ansible-playbook runs of the Datadog modules and role against the fake API.

Run from the repository root: ``.venv/bin/python -m pytest tests/integration``.
Each test starts ``tests/fakeapi/server.py`` on a free loopback port.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from urllib.request import Request, urlopen

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOK_BIN = shutil.which("ansible-playbook", path=os.path.dirname(sys.executable)) or shutil.which(
    "ansible-playbook")
# The lab inventory's group_vars/all reach the implicit localhost, as in `make lab`.
LAB_INVENTORY = os.path.join(ROOT, "inventories", "lab")
LAB_VAULT_PASSWORD = os.path.join(ROOT, "tests", "lab", "vault-password")


class FakeProcess:
    """The fake API started through its command line, on a port chosen by the kernel."""

    def __init__(self, *arguments):
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "fakeapi", "server.py"), "--host", "127.0.0.1",
             "--port", "0"] + list(arguments),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, "fake API did not start: %r" % line
        self.url = match.group(1)

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def counters(self):
        return self.control("GET", "/_fake/counters")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def fake():
    running = FakeProcess()
    yield running
    running.stop()


def four_step_tasks(module, arguments):
    """Return tasks for check -> apply -> check -> apply, each asserted, plus write counters."""
    tasks = []
    steps = (("check", True, True), ("apply", False, True), ("recheck", True, False), ("reapply", False, False))
    for label, check_mode, expect_changed in steps:
        tasks.append({"name": "Run %s (%s)" % (module, label), module: arguments, "check_mode": check_mode,
                      "register": "__%s" % label})
        tasks.append({"name": "Assert %s result" % label, "ansible.builtin.assert": {"that": [
            "__%s.changed == %s" % (label, expect_changed),
            "__%s.action == '%s'" % (label, "created" if expect_changed else "unchanged"),
        ]}})
        if label == "check":
            tasks.append({"name": "Assert the check run wrote nothing", "ansible.builtin.assert": {"that": [
                "(lookup('ansible.builtin.url', '%s', split_lines=false) | from_json).writes == 0"
                % "{{ fake_url }}/_fake/counters"]}})
    return tasks


def test_monitor_four_steps(tmp_path, fake):
    arguments = {
        "key": "it-monitor", "name": "my_metric high", "type": "metric alert",
        "query": "avg(last_5m):avg:my_metric{host:lab} > 800",
        "notification_message": "[[#is_alert]]{{value}} on [[host.ip]][[/is_alert]] @ops@example.com",
        "rewrite_brackets": True,
        "options": {"thresholds": {"critical": 800, "warning": 500}, "notify_no_data": True, "no_data_timeframe": 10},
    }
    # The [[ ]] form needs no !unsafe; only the {{value}} part is marked unsafe by the writer below.
    _write_unsafe_and_run(tmp_path, fake, four_step_tasks("ddpoc.observability.datadog_monitor", arguments))
    state = fake.control("GET", "/_fake/state")
    assert len(state["monitors"]) == 1
    assert state["monitors"][0]["message"] == "{{#is_alert}}{{value}} on {{host.ip}}{{/is_alert}} @ops@example.com"
    assert fake.counters()["validates"] >= 2


def _write_unsafe_and_run(tmp_path, fake, tasks):
    # Mark every string containing {{ as !unsafe, the way inventory data carries Datadog templates.
    class Dumper(yaml.SafeDumper):
        pass

    class Unsafe(str):
        pass

    def represent(dumper, data):
        return dumper.represent_scalar("!unsafe", str(data))

    Dumper.add_representer(Unsafe, represent)

    def mark(value):
        if isinstance(value, str) and "{{value}}" in value:
            return Unsafe(value)
        if isinstance(value, dict):
            return dict((k, mark(v)) for k, v in value.items())
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    playbook = [{
        "name": "Exercise the Datadog modules",
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"fake_url": fake.url},
        "module_defaults": {"group/ddpoc.observability.datadog": {
            "api_url": fake.url, "api_key": "fake-api-key", "app_key": "fake-app-key", "retry_timeout": 10}},
        "tasks": mark(tasks),
    }]
    path = tmp_path / "play.yml"
    path.write_text(yaml.dump(playbook, Dumper=Dumper, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([PLAYBOOK_BIN, str(path)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-6000:]
    return result


def test_monitor_message_unsafe_reaches_api(tmp_path, fake):
    arguments = {
        "key": "it-unsafe", "name": "my_metric high", "type": "query alert",
        "query": "avg(last_5m):avg:my_metric{host:lab} > 800",
        "notification_message": "{{#is_alert}}{{value}} on {{host.ip}}{{/is_alert}}",
    }
    _write_unsafe_and_run(tmp_path, fake, four_step_tasks("ddpoc.observability.datadog_monitor", arguments))
    state = fake.control("GET", "/_fake/state")
    assert state["monitors"][0]["message"] == "{{#is_alert}}{{value}} on {{host.ip}}{{/is_alert}}"


def test_dashboard_four_steps(tmp_path, fake):
    arguments = {
        "key": "it-dashboard", "title": "my_metric", "layout_type": "ordered",
        "widgets": [{"definition": {"type": "timeseries", "requests": [
            {"q": "anomalies(avg:mysql.performance.cpu_time{host:lab}, 'basic', 2)"}]}}],
    }
    _write_unsafe_and_run(tmp_path, fake, four_step_tasks("ddpoc.observability.datadog_dashboard", arguments))
    state = fake.control("GET", "/_fake/state")
    dashboard = list(state["dashboards"].values())[0]
    assert dashboard["widgets"][0]["definition"]["requests"][0]["q"] == \
        "anomalies(avg:mysql.performance.cpu_time{host:lab}, 'basic', 2)"


def test_free_layout_ui_export_accepted(tmp_path, fake):
    exported = {
        "id": "abc-def-ghi", "title": "Exported", "layout_type": "free", "author_handle": "someone@example.com",
        "url": "/dashboard/abc-def-ghi/exported", "created_at": "2024-01-01T00:00:00+00:00",
        "modified_at": "2024-01-01T00:00:00+00:00", "is_read_only": False, "description": "",
        "widgets": [{"id": 123, "definition": {"type": "note", "content": "hello"},
                     "layout": {"x": 0, "y": 0, "width": 2, "height": 2}}],
    }
    arguments = {"key": "it-exported", "definition": json.dumps(exported)}
    _write_unsafe_and_run(tmp_path, fake, four_step_tasks("ddpoc.observability.datadog_dashboard", arguments))


def test_downtime_four_steps(tmp_path, fake):
    arguments = {
        "key": "it-downtime", "scope": "host:lab", "monitor_identifier": {"monitor_tags": ["*"]},
        "schedule": {"timezone": "Europe/Paris", "recurrences": [
            {"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "duration": "14h", "start": "2031-01-06T19:00:00"}]},
    }
    _write_unsafe_and_run(tmp_path, fake, four_step_tasks("ddpoc.observability.datadog_downtime", arguments))


def test_invalid_downtime_fails_without_requests(tmp_path, fake):
    tasks = [{"name": "Send a v1-style recurrence", "ddpoc.observability.datadog_downtime": {
        "key": "it-bad", "scope": "host:lab", "monitor_identifier": {"monitor_tags": ["*"]},
        "schedule": {"timezone": "UTC", "recurrences": [
            {"type": "weeks", "rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "duration": "2 days", "start": "2031-01-04T00:00"}]}},
        "register": "__bad", "ignore_errors": True},
        {"name": "Assert the failure names the fields", "ansible.builtin.assert": {"that": [
            "__bad.failed",
            "'v1 recurrence field' in __bad.msg",
            "'duration' in __bad.msg",
            "__bad.api_calls.calls == 0"]}}]
    _write_unsafe_and_run(tmp_path, fake, tasks)
    assert fake.counters()["total"] == 0


def test_graph_snapshot_returns_url(tmp_path, fake):
    tasks = [{"name": "Take a snapshot", "ddpoc.observability.datadog_graph_snapshot": {
        "metric_query": "avg:my_metric{host:lab}", "title": "my_metric"}, "register": "__snap"},
        {"name": "Assert the URL", "ansible.builtin.assert": {"that": [
            "__snap.snapshot_url.startswith('%s/_fake/snapshot/')" % fake.url, "not __snap.changed"]}}]
    _write_unsafe_and_run(tmp_path, fake, tasks)


def test_invalid_site_fails_before_request(tmp_path, fake):
    tasks = [{"name": "Use a short site name", "ddpoc.observability.datadog_monitor": {
        "key": "x", "name": "x", "type": "query alert", "query": "avg(last_5m):avg:x{*} > 1",
        "api_url": None, "site": "eu"}, "register": "__site", "ignore_errors": True},
        {"name": "Assert the site error", "ansible.builtin.assert": {"that": [
            "__site.failed", "'datadoghq.eu' in __site.msg"]}}]
    _write_unsafe_and_run(tmp_path, fake, tasks)
    assert fake.counters()["total"] == 0


def role_play(tmp_path, fake, check=False, diff=False, extra=None):
    playbook = textwrap.dedent("""\
        - name: Apply the lab's Datadog resources
          hosts: localhost
          connection: local
          gather_facts: false
          roles:
            - role: ddpoc.observability.datadog_resources
        """)
    path = tmp_path / "role.yml"
    path.write_text(playbook)
    args = [PLAYBOOK_BIN, str(path), "-i", LAB_INVENTORY, "--vault-password-file", LAB_VAULT_PASSWORD, "-e", json.dumps({
        "datadog_resources_api_url": fake.url, "datadog_resources_api_key": "fake-api-key",
        "datadog_resources_app_key": "fake-app-key"})]
    if extra:
        args += ["-e", json.dumps(extra)]
    if check:
        args.append("--check")
    if diff:
        args.append("--diff")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


def recap_changed(output):
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


def test_role_applies_lab_inventory(tmp_path, fake):
    output = role_play(tmp_path, fake, check=True, diff=True)
    assert recap_changed(output) == 1
    assert fake.counters()["writes"] == 0
    assert "fake-app-key" not in output
    assert "fake-api-key" not in output

    output = role_play(tmp_path, fake)
    assert recap_changed(output) == 1
    state = fake.control("GET", "/_fake/state")
    assert len(state["dashboards"]) == 2
    assert len(state["monitors"]) == 1
    assert len(state["downtimes"]) == 2

    monitor = state["monitors"][0]
    assert monitor["query"] == "avg(last_5m):avg:my_metric{host:lab} > 800"
    assert "{{#is_alert}}my_metric is {{value}}" in monitor["message"]
    assert "(IP {{host.ip}})" in monitor["message"]
    assert "{{#is_warning}}" in monitor["message"]
    assert "{{#is_no_data}}" in monitor["message"]
    assert "@ops-team@example.com" in monitor["message"]
    assert monitor["options"]["thresholds"] == {"critical": 800.0, "warning": 500.0}
    assert monitor["options"]["no_data_timeframe"] == 10

    timeboard = [d for d in state["dashboards"].values() if d["title"] == "my_metric on lab"][0]
    queries = [w["definition"]["requests"][0]["q"] for w in timeboard["widgets"]]
    assert queries == ["my_metric{host:lab}", "anomalies(avg:mysql.performance.cpu_time{host:lab}, 'basic', 2)",
                       "sum:my_metric{host:lab}.rollup(sum, 3600)"]

    rules = sorted((d["attributes"]["schedule"]["recurrences"][0]["rrule"],
                    d["attributes"]["schedule"]["recurrences"][0]["duration"]) for d in state["downtimes"])
    assert rules == [("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "14h"), ("FREQ=WEEKLY;BYDAY=SA", "2d")]

    fake.control("DELETE", "/_fake/requests")
    output = role_play(tmp_path, fake, check=True)
    assert recap_changed(output) == 0
    output = role_play(tmp_path, fake)
    assert recap_changed(output) == 0
    counters = fake.counters()
    assert counters["writes"] == 0
    assert counters["validates"] == 0


SYNC_MONITOR = {"key": "it-sync", "name": "sync monitor", "type": "query alert",
                "query": "avg(last_5m):avg:my_metric{host:lab} > 800"}


def test_sync_lost_create_makes_no_duplicate(tmp_path, fake):
    fake.control("POST", "/_fake/faults", {"rules": [
        {"kind": "lost", "method": "POST", "path": "^/api/v1/monitor$", "count": 1}]})
    tasks = [{"name": "Sync one monitor", "ddpoc.observability.datadog_resources": {"monitors": [SYNC_MONITOR]},
              "register": "__sync"},
             {"name": "Assert it was recovered", "ansible.builtin.assert": {"that": [
                 "__sync.results[0].action == 'created'", "__sync.results[0].recovered"]}}]
    _write_unsafe_and_run(tmp_path, fake, tasks)
    assert fake.counters()["monitors"] == 1


def test_sync_retries_exhausted_names_resource(tmp_path, fake):
    renamed = dict(SYNC_MONITOR, name="renamed monitor")
    tasks = [{"name": "Create the monitor", "ddpoc.observability.datadog_resources": {"monitors": [SYNC_MONITOR]}},
             {"name": "Make every update fail", "ansible.builtin.uri": {
                 "url": fake.url + "/_fake/faults", "method": "POST", "body_format": "json",
                 "body": {"rules": [{"kind": "status", "status": 503, "method": "PUT", "count": -1}]}}},
             {"name": "Rename the monitor", "ddpoc.observability.datadog_resources": {
                 "monitors": [renamed], "retry_timeout": 2}, "register": "__sync", "ignore_errors": True},
             {"name": "Assert the failure", "ansible.builtin.assert": {"that": [
                 "__sync.failed", "\"monitor 'it-sync'\" in __sync.msg", "'HTTP 503' in __sync.msg",
                 "'gave up' in __sync.msg", "__sync.results[0].action == 'updated'"]}}]
    _write_unsafe_and_run(tmp_path, fake, tasks)
    state = fake.control("GET", "/_fake/state")
    assert state["monitors"][0]["name"] == "sync monitor"


def test_export_ui_made_monitor(tmp_path, fake):
    ui_monitor = {"name": "made in the UI", "type": "query alert", "query": "avg(last_5m):avg:ui{*} > 5",
                  "message": "{{#is_alert}}ui at {{value}}{{/is_alert}}"}
    tasks = [{"name": "Create a monitor the way the UI does", "ansible.builtin.uri": {
        "url": fake.url + "/api/v1/monitor", "method": "POST", "body_format": "json", "body": ui_monitor,
        "headers": {"DD-API-KEY": "fake-api-key", "DD-APPLICATION-KEY": "fake-app-key"}}},
        {"name": "Export unmarked resources", "ddpoc.observability.datadog_resources": {
            "state": "export", "export_only_unmarked": True}, "register": "__export"},
        {"name": "Assert the export", "ansible.builtin.assert": {"that": [
            "__export.exported.monitors | length == 1",
            "__export.exported.monitors[0].id is number",
            "__export.exported.monitors[0].key.startswith('made-in-the-ui-')",
            "'!unsafe' in __export.exported_yaml",
            "not __export.changed"]}}]
    _write_unsafe_and_run(tmp_path, fake, tasks)


def test_export_yaml_loads_in_ansible():
    sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
    from ansible.parsing.yaml.loader import AnsibleLoader
    from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_export import to_yaml

    message = "{{#is_alert}}\n{{value}} on {{host.ip}}\n{{/is_alert}}"
    loaded = AnsibleLoader(to_yaml({"monitors": [{"key": "cpu", "message": message}]})).get_single_data()
    assert str(loaded["monitors"][0]["message"]) == message


def test_role_shares_dashboards_by_public_link(tmp_path, fake):
    share = {"datadog_resources_share_dashboards": True}
    output = role_play(tmp_path, fake, extra=share)
    assert recap_changed(output) == 1
    state = fake.control("GET", "/_fake/state")
    assert len(state["shares"]) == 2
    assert output.count(fake.url + "/sb/") >= 2

    output = role_play(tmp_path, fake, extra=share)
    assert recap_changed(output) == 0

    output = role_play(tmp_path, fake)
    assert recap_changed(output) == 1
    assert fake.control("GET", "/_fake/state")["shares"] == {}
