# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.ddpoc.observability.plugins.filter.flask_apm_checks import (
    PACKAGE_SETS,
    flask_apm_pip_version,
    flask_apm_requirements,
    flask_apm_trace_agent_url,
    flask_apm_tracer_env_errors,
)


def _pins(requirements):
    return dict(line.split("==") for line in requirements)


def test_requirements_debian12_python():
    pins = _pins(flask_apm_requirements("3.11.2"))
    assert pins["ddtrace"] == "4.16.0"
    assert pins["Flask"] == "3.1.3"
    assert pins["gunicorn"] == "23.0.0"


def test_requirements_pin_every_package():
    for row in PACKAGE_SETS:
        for line in flask_apm_requirements("%d.%d" % row["python_min"]):
            name, separator, version = line.partition("==")
            assert separator == "=="
            assert name
            assert version


def test_requirements_bionic_python36():
    pins = _pins(flask_apm_requirements("3.6.9"))
    assert pins["ddtrace"].startswith("1.")
    # protobuf 4 and cattrs 1.1+ dropped Python 3.6 and break the tracer there.
    assert int(pins["protobuf"].split(".")[0]) < 4
    assert pins["cattrs"] == "1.0.0"
    assert pins["Flask"] == "2.0.3"
    assert pins["gunicorn"] == "21.2.0"
    assert flask_apm_pip_version("3.6") == "21.3.1"


def test_requirements_python38():
    pins = _pins(flask_apm_requirements("3.8"))
    assert pins["ddtrace"] == "3.19.9"
    assert pins["Flask"] == "3.0.3"


@pytest.mark.parametrize("python", ["2.7", "3.5", "3.7", "3.14", "4.0"])
def test_requirements_reject_untested_python(python):
    with pytest.raises(AnsibleFilterError, match="no tested Flask/gunicorn/ddtrace set for Python"):
        flask_apm_requirements(python)


@pytest.mark.parametrize("python", ["", "three", None])
def test_requirements_reject_invalid_python(python):
    with pytest.raises(AnsibleFilterError, match="invalid Python version"):
        flask_apm_requirements(python)


@pytest.mark.parametrize(
    "python, ddtrace",
    [("3.6", "2.21.12"), ("3.6", "4.16.0"), ("3.8", "4.16.0"), ("3.13", "1.20.19"), ("3.6", "0.61.5")],
)
def test_requirements_reject_unsupported_ddtrace(python, ddtrace):
    with pytest.raises(AnsibleFilterError, match="flask_apm_ddtrace_version"):
        flask_apm_requirements(python, ddtrace)


def test_requirements_accept_supported_ddtrace_override():
    pins = _pins(flask_apm_requirements("3.11", "3.19.9"))
    assert pins["ddtrace"] == "3.19.9"
    pins = _pins(flask_apm_requirements("3.6", "1.20.18"))
    assert pins["ddtrace"] == "1.20.18"
    assert pins["protobuf"] == "3.19.6"


def test_requirements_reject_malformed_ddtrace():
    with pytest.raises(AnsibleFilterError, match="invalid flask_apm_ddtrace_version"):
        flask_apm_requirements("3.11", "latest")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8126",
        "http://localhost:8126/",
        "http://datadog-agent.internal:8126",
        "http://[::1]:8126",
        "http://127.0.0.1:18127",
        "unix:///var/run/datadog/apm.socket",
    ],
)
def test_trace_url_accepted(url):
    assert flask_apm_trace_agent_url(url, 5050) == url


@pytest.mark.parametrize(
    "url, app_port, message",
    [
        ("https://localhost:8126", 5050, "plain HTTP, not HTTPS"),
        ("HTTPS://127.0.0.1:8126", 5050, "plain HTTP, not HTTPS"),
        ("http://127.0.0.1:5001", 5050, "HTTPS command API"),
        ("http://localhost:5000", 5050, "expvar"),
        ("http://127.0.0.1:5050", 5050, "Flask service's own port"),
        ("http://127.0.0.1:5150", 5150, "Flask service's own port"),
        ("http://http://127.0.0.1:8126", 5050, "second URL scheme"),
        ("http://https://127.0.0.1:8126", 5050, "second URL scheme"),
        ("http://http:8126", 5050, "URL scheme"),
        ("http://127.0.0.1", 5050, "port is missing"),
        ("http://127.0.0.1:99999", 5050, "1-65535"),
        ("127.0.0.1:8126", 5050, "http://"),
        ("tcp://127.0.0.1:8126", 5050, "http://"),
        ("http://127.0.0.1:8126/v0.4/traces", 5050, "must not have a path"),
        ("http://user:secret@127.0.0.1:8126", 5050, "remove credentials"),
        ("unix://var/run/apm.socket", 5050, "absolute path"),
        ("", 5050, "empty"),
        ("http://bad_host!:8126", 5050, "not a host name"),
        ("http://300.1.1.1:8126", 5050, "not an IPv4 address"),
    ],
)
def test_trace_url_rejected(url, app_port, message):
    with pytest.raises(AnsibleFilterError) as error:
        flask_apm_trace_agent_url(url, app_port)
    assert message in str(error.value)
    assert "flask_apm_trace_agent_url" in str(error.value)


def test_tracer_env_accepts_role_defaults():
    defaults_path = os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "..", "roles", "flask_apm", "defaults", "main.yml"
    )
    with open(defaults_path) as handle:
        defaults = yaml.safe_load(handle)
    settings = defaults["flask_apm_tracer_settings"]
    assert settings["DD_TRACE_FUTURES_ENABLED"] == "false"
    assert flask_apm_tracer_env_errors(settings, defaults["flask_apm_port"], "flask_apm_tracer_settings") == []
    assert flask_apm_tracer_env_errors(defaults["flask_apm_extra_env"], defaults["flask_apm_port"]) == []


def test_tracer_env_accepts_tuning_variables():
    env = {"DD_TRACE_SAMPLE_RATE": "1.0", "DD_AGENT_HOST": "127.0.0.1", "DD_TRACE_AGENT_PORT": "8126"}
    assert flask_apm_tracer_env_errors(env, 5050) == []


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DD_TRACE_ENABLED": "false"}, "turns tracing off"),
        ({"DD_TRACE_ENABLED": "0"}, "turns tracing off"),
        ({"DD_TRACE_ENABLED": False}, "turns tracing off"),
        ({"FLASK_DEBUG": "1"}, "debug mode"),
        ({"FLASK_ENV": "development"}, "debug mode"),
        ({"DD_AGENT_HOST": "http://127.0.0.1"}, "URL scheme"),
        ({"DD_AGENT_HOST": "localhost:8126"}, "must not contain a port"),
        ({"DD_TRACE_AGENT_PORT": "5001"}, "HTTPS command API"),
        ({"DD_TRACE_AGENT_PORT": 5050}, "own port"),
        ({"DD_TRACE_AGENT_PORT": "eighty"}, "use a port number"),
        ({"DD_TRACE_AGENT_URL": "http://127.0.0.1:8126"}, "flask_apm_* variable"),
        ({"DD_SERVICE": "other"}, "flask_apm_* variable"),
    ],
)
def test_tracer_env_rejects_trace_breaking_values(env, message):
    errors = flask_apm_tracer_env_errors(env, 5050)
    assert len(errors) == 1
    assert message in errors[0]


def test_tracer_env_rejects_non_mapping():
    assert flask_apm_tracer_env_errors(["DD_TRACE_ENABLED=false"], 5050) != []
