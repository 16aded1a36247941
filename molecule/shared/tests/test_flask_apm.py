# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the flask_apm role on a converged host.

Settings come from environment variables so the same tests run against the lab defaults and
against a converge with other values:

- DDPOC_TEST_AGENT_URL: ddapm-test-agent as seen from the controller (default http://127.0.0.1:8126).
- DDPOC_FLASK_APM_UNIT: systemd unit name without .service (default flask-apm).
- DDPOC_FLASK_APM_DD_SERVICE: expected DD_SERVICE; default: the value in the rendered unit.
- DDPOC_FLASK_APM_WORKER_CLASS: expected gunicorn worker class (default sync, the role default).

The tests request the app from inside the target with its python3. The service then sends traces to
the DD_TRACE_AGENT_URL of its unit. In the lab that is the test agent on the controller, because the
lab host shares the controller's network namespace.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time
import urllib.request
import uuid

import pytest

from inventory_groups import skip_unless_in_group

TEST_AGENT_URL = os.environ.get("DDPOC_TEST_AGENT_URL", "http://127.0.0.1:8126").rstrip("/")
UNIT = os.environ.get("DDPOC_FLASK_APM_UNIT", "flask-apm")
UNIT_PATH = "/etc/systemd/system/%s.service" % UNIT
WORKER_CLASS = os.environ.get("DDPOC_FLASK_APM_WORKER_CLASS", "sync")
MAX_EXPOSURE = 3.0
TRACE_DEADLINE_SECONDS = 20
AGENT_UNITS = ("datadog-agent.service", "datadog-agent-trace.service")

ENDPOINTS = {
    "/": "Entrypoint to the Application",
    "/api/apm": "Getting APM Started",
    "/api/trace": "Posting Traces",
}

# Runs on the target: GET each path on the local port and print status and body as JSON.
REQUEST_SCRIPT = r"""
import json, sys, urllib.request
port = int(sys.argv[1])
result = {}
for path in sys.argv[2:]:
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as response:
        result[path] = [response.status, response.read().decode("utf-8")]
print(json.dumps(result))
"""


@pytest.fixture(autouse=True)
def only_flask_apm_hosts(host):
    skip_unless_in_group(host, "flask_apm_hosts")


@pytest.fixture(scope="module")
def unit_text(host):
    unit_file = host.file(UNIT_PATH)
    assert unit_file.exists, "%s is missing: the flask_apm role has not run on this host" % UNIT_PATH
    return unit_file.content_string


@pytest.fixture(scope="module")
def unit_env(unit_text):
    env = {}
    for match in re.finditer(r'^Environment="?([A-Za-z_][A-Za-z0-9_]*)=(.*?)"?$', unit_text, re.M):
        env[match.group(1)] = match.group(2)
    return env


@pytest.fixture(scope="module")
def exec_start_words(unit_text):
    """Return the words of the unit's ExecStart command, with line continuations joined."""
    exec_start = unit_text.split("ExecStart=", 1)[1].split("\nExec", 1)[0]
    return exec_start.replace("\\\n", " ").split()


@pytest.fixture(scope="module")
def app_port(unit_text):
    match = re.search(r"--bind \S*:(\d+)", unit_text)
    assert match, "no --bind HOST:PORT in %s" % UNIT_PATH
    return int(match.group(1))


def unit_lines(unit_text, key):
    return [line.split("=", 1)[1] for line in unit_text.splitlines() if line.startswith(key + "=")]


def request_endpoints(host, port):
    command = host.run("python3 -c %s %s" + " %s" * len(ENDPOINTS), REQUEST_SCRIPT, str(port), *ENDPOINTS)
    assert command.rc == 0, command.stderr
    return json.loads(command.stdout)


def read_test_agent(path):
    with urllib.request.urlopen(TEST_AGENT_URL + path, timeout=10) as response:
        return response.read().decode("utf-8")


def test_service_running_enabled(host):
    service = host.service(UNIT)
    assert service.is_running
    assert service.is_enabled


def test_endpoints_return_text(host, app_port):
    results = request_endpoints(host, app_port)
    for path, text in ENDPOINTS.items():
        status, body = results[path]
        assert status == 200, path
        assert body == text, path


def test_service_runs_as_own_user(host, unit_text):
    users = unit_lines(unit_text, "User")
    assert len(users) == 1
    user = host.user(users[0])
    assert user.exists
    assert user.uid < 1000, "the service user must be a system user"
    assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
    main_pid = host.check_output("systemctl show -p MainPID --value %s", UNIT)
    assert main_pid != "0"
    owner = host.check_output("ps -o user= -p %s", main_pid)
    assert owner == users[0]
    workers = host.check_output("ps -o user= --ppid %s", main_pid).split()
    assert workers, "gunicorn started no worker"
    assert set(workers) == {users[0]}


def test_unit_ordered_after_agent(unit_text):
    after = " ".join(unit_lines(unit_text, "After")).split()
    wants = " ".join(unit_lines(unit_text, "Wants")).split()
    for agent_unit in AGENT_UNITS:
        assert agent_unit in after
        assert agent_unit in wants


def test_unit_tracer_environment(unit_env):
    for name in ("DD_SERVICE", "DD_ENV", "DD_VERSION", "DD_TRACE_AGENT_URL"):
        assert unit_env.get(name), "%s missing from the unit" % name
    assert unit_env["DD_LOGS_INJECTION"] == "true"
    assert unit_env.get("DD_TRACE_ENABLED", "true").lower() not in ("false", "0", "no", "off")
    assert "FLASK_DEBUG" not in unit_env
    url = unit_env["DD_TRACE_AGENT_URL"]
    assert url.startswith("http://") or url.startswith("unix:///")
    assert not re.search(r":(5000|5001|5002|5012|8125)$", url.rstrip("/"))
    expected = os.environ.get("DDPOC_FLASK_APM_DD_SERVICE")
    if expected:
        assert unit_env["DD_SERVICE"] == expected


def test_trace_intake_listening(host, unit_env):
    url = unit_env["DD_TRACE_AGENT_URL"]
    if url.startswith("unix://"):
        assert host.socket(url).is_listening
        return
    match = re.match(r"^http://([^/]+):(\d+)/?$", url)
    assert match, url
    address = match.group(1).strip("[]")
    if address == "localhost":
        address = "127.0.0.1"
    assert host.socket("tcp://%s:%s" % (address, match.group(2))).is_listening


def test_unit_runs_gunicorn_under_ddtrace(exec_start_words, app_port):
    words = exec_start_words
    assert words[0].endswith("/bin/ddtrace-run")
    assert words[1].endswith("/bin/gunicorn")
    for forbidden in ("--reload", "flask", "--debug"):
        assert forbidden not in words[2:-1]
    assert "--bind" in words
    assert words[words.index("--bind") + 1].endswith(":%d" % app_port)


def test_unit_worker_class(exec_start_words):
    words = exec_start_words
    assert words[words.index("--worker-class") + 1] == WORKER_CLASS
    # gunicorn 23 runs a sync worker class as gthread when --threads is above 1.
    assert ("--threads" in words) == (WORKER_CLASS == "gthread")
    assert ("--keep-alive" in words) == (WORKER_CLASS == "gthread")


def test_gunicorn_logged_worker_class(host):
    lines = host.check_output(
        "journalctl --no-pager -o cat -u %s.service | grep 'Using worker:' || true", UNIT).splitlines()
    assert lines, "gunicorn logged no 'Using worker:' line to the journal"
    assert lines[-1].strip().endswith("Using worker: %s" % WORKER_CLASS), lines[-1]


def test_unit_restarts_on_failure(unit_text):
    assert unit_lines(unit_text, "Restart") == ["on-failure"]


def test_systemd_security_exposure(host):
    output = host.check_output("systemd-analyze security --no-pager %s.service", UNIT)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", output)
    assert match, output[-500:]
    exposure = float(match.group(1))
    print("systemd-analyze security %s.service: exposure %.1f" % (UNIT, exposure))
    assert exposure <= MAX_EXPOSURE


def test_tracer_enabled_info(host, unit_text, unit_env, exec_start_words):
    venv_bin = exec_start_words[0].rsplit("/", 1)[0]
    user = unit_lines(unit_text, "User")[0]
    assignments = " ".join("%s=%s" % item for item in sorted(unit_env.items()))
    command = host.run("runuser -u %s -- env %s %s/ddtrace-run --info" % (user, assignments, venv_bin))
    assert command.rc == 0, command.stderr
    assert "Tracer enabled: True" in command.stdout
    assert "Writing traces to: %s" % unit_env["DD_TRACE_AGENT_URL"] in command.stdout


def test_traces_reach_agent(host, app_port, unit_env):
    if not TEST_AGENT_URL:
        pytest.skip("DDPOC_TEST_AGENT_URL is empty: no ddapm-test-agent to read traces from")
    token = "flask-apm-%s" % uuid.uuid4().hex
    # The session opens after the service is up, so readiness probes do not count.
    read_test_agent("/test/session/start?test_session_token=%s" % token)
    # Spans of earlier tests' requests can still be flushed into this session (the tracer
    # writes about once a second), so only spans that start after this point count.
    # The target's own clock stamps the spans, so the point is read there.
    requests_started_ns = int(host.check_output("date +%s%N"))
    request_endpoints(host, app_port)
    expected_resources = {"GET %s" % path for path in ENDPOINTS}
    service = os.environ.get("DDPOC_FLASK_APM_DD_SERVICE") or unit_env["DD_SERVICE"]

    roots = []
    deadline = time.monotonic() + TRACE_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        traces = json.loads(read_test_agent("/test/session/traces?test_session_token=%s" % token))
        roots = [
            span
            for trace in traces
            for span in trace
            if not span.get("parent_id") and span.get("service") == service
            and span.get("start", 0) >= requests_started_ns
        ]
        if expected_resources <= {span.get("resource") for span in roots}:
            break
        time.sleep(0.5)

    by_resource = {}
    for span in roots:
        by_resource.setdefault(span.get("resource"), []).append(span)
    assert set(by_resource) == expected_resources, "root spans of %s: %s" % (service, sorted(by_resource))
    for resource, spans in by_resource.items():
        assert len(spans) == 1, resource
        span = spans[0]
        assert span["name"] == "flask.request"
        assert span["meta"]["http.status_code"] == "200"
        assert span["meta"].get("env") == unit_env["DD_ENV"]
        assert span["meta"].get("version") == unit_env["DD_VERSION"]
