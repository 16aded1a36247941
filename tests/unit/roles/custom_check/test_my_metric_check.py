# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the custom_check role's shipped check, source validator and name deny-list.

The check and the validator run under datadog-checks-base 38.7.0 in a throwaway virtual environment,
/tmp/ddpoc-checks-base-py<major><minor>, built on first use with pip. If it cannot be built, these
tests fail with pip's output; they are never skipped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import json
import os
import shlex
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.ddpoc.observability.plugins.filter.datadog_agent import datadog_custom_check_name

ROLE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "custom_check"))
TEMPLATE_PATH = os.path.join(ROLE_DIR, "templates", "my_metric.py.j2")
ROLE_VARS_PATH = os.path.join(ROLE_DIR, "vars", "main.yml")
WHEEL_CACHE = os.path.abspath(os.path.join(ROLE_DIR, "..", "..", "tests", "standins", ".cache", "wheels"))
MANAGED_LINE = "{{ ansible_managed | ansible.builtin.comment }}"

VENV_DIR = "/tmp/ddpoc-checks-base-py%d%d" % sys.version_info[:2]
# datadog-checks-base 38.7.0 pins certifi in its [deps] extra to a release missing from PyPI,
# so the extra's packages are installed without pins.
REQUIREMENTS = [
    "datadog-checks-base==38.7.0", "binary", "cachetools", "certifi", "cryptography", "jellyfish", "lazy-loader",
    "prometheus-client", "protobuf", "pydantic", "python-dateutil", "pyyaml", "requests-toolbelt",
    "requests-unixsocket2", "requests", "simplejson", "urllib3", "wrapt",
]

# Runs under the throwaway environment: loads the check, runs it RUNS times against the stub
# aggregator and prints the submitted metrics and any error as JSON.
RUNNER = r'''
import importlib.machinery, importlib.util, json, sys
from datadog_checks.base import AgentCheck
from datadog_checks.base.stubs import aggregator

loader = importlib.machinery.SourceFileLoader("my_metric", sys.argv[1])
spec = importlib.util.spec_from_loader("my_metric", loader)
module = importlib.util.module_from_spec(spec)
loader.exec_module(module)
check_class = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, AgentCheck) and value is not AgentCheck][0]
types = {number: name for name, number in aggregator.METRIC_ENUM_MAP.items()}
runs = []
for _ in range(int(sys.argv[2])):
    aggregator.reset()
    instance = {"min_collection_interval": 45, "tags": ["team:observability"]}
    check = check_class("my_metric", {}, [instance])
    error = check.run()
    metrics = [{"name": stub.name, "type": types[stub.type], "value": stub.value, "tags": sorted(stub.tags)}
               for name in aggregator.metric_names for stub in aggregator.metrics(name)]
    runs.append({"error": error, "metrics": metrics})
print(json.dumps(runs))
'''

BROKEN_SOURCES = {
    "dict_in_list": "from datadog_checks.base import AgentCheck\n"
                    "class C(AgentCheck):\n"
                    "    def check(self, instance):\n"
                    "        self.gauge('my_metric', 1, tags=['env':'poc'])\n",
    "python2_print": "from datadog_checks.base import AgentCheck\n"
                     "class C(AgentCheck):\n"
                     "    def check(self, instance):\n"
                     "        print 'x'\n",
    "agent5_import": "from checks import AgentCheck\n"
                     "class C(AgentCheck):\n"
                     "    def check(self, instance):\n"
                     "        self.gauge('my_metric', 1)\n",
    "no_check_class": "from datadog_checks.base import AgentCheck\n"
                      "def check():\n"
                      "    return 1\n",
}


def build_venv():
    """Create the throwaway environment once; return its python, or fail with pip's output."""
    python = os.path.join(VENV_DIR, "bin", "python")
    marker = os.path.join(VENV_DIR, "requirements.txt")
    expected_requirements = "\n".join(REQUIREMENTS) + "\n"
    with open(VENV_DIR + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(marker):
            with open(marker) as handle:
                if handle.read() == expected_requirements:
                    return python
        commands = [[sys.executable, "-m", "venv", "--clear", VENV_DIR]]
        install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if os.path.isdir(WHEEL_CACHE):
            install += ["--find-links", WHEEL_CACHE]
        commands.append(install + REQUIREMENTS)
        for command in commands:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                pytest.fail(
                    "NOT RUN: could not build the datadog-checks-base environment in %s with %s:\n%s%s"
                    % (VENV_DIR, " ".join(command), result.stdout[-2000:], result.stderr[-2000:])
                )
        with open(marker, "w") as handle:
            handle.write(expected_requirements)
    return python


@pytest.fixture(scope="module")
def checks_python():
    return build_venv()


@pytest.fixture(scope="module")
def check_source(tmp_path_factory):
    """Write the shipped template without its ansible_managed line, the only Jinja in it."""
    with open(TEMPLATE_PATH) as handle:
        lines = handle.read().splitlines(True)
    assert lines[0].strip() == MANAGED_LINE
    body = "".join(lines[1:])
    assert "{{" not in body
    assert "{%" not in body
    path = tmp_path_factory.mktemp("check") / "my_metric.py"
    path.write_text(body)
    return str(path)


@pytest.fixture(scope="module")
def role_vars():
    with open(ROLE_VARS_PATH) as handle:
        return yaml.safe_load(handle)


def validator_command(role_vars, python, path):
    """Return the role's source validator as argv, with the agent's Python replaced by PYTHON."""
    template = " ".join(role_vars["_custom_check_validate_source"].split())
    command = template.replace("{{ _custom_check_python }}", python).replace("%s", path)
    assert "{{" not in command
    return shlex.split(command)


def test_my_metric_gauge_in_range(checks_python, check_source):
    result = subprocess.run([checks_python, "-c", RUNNER, check_source, "50"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert len(runs) == 50
    for run in runs:
        assert run["error"] == ""
        assert len(run["metrics"]) == 1
        metric = run["metrics"][0]
        assert metric["name"] == "my_metric"
        assert metric["type"] == "gauge"
        assert 0 <= metric["value"] <= 1000
        assert metric["tags"] == ["team:observability"]


def test_my_metric_values_vary(checks_python, check_source):
    result = subprocess.run([checks_python, "-c", RUNNER, check_source, "20"],
                            capture_output=True, text=True, check=False)
    values = {run["metrics"][0]["value"] for run in json.loads(result.stdout)}
    # 20 draws from 1001 values are all equal with probability 1001 ** -19.
    assert len(values) > 1


def test_validator_accepts_shipped(role_vars, checks_python, check_source):
    result = subprocess.run(validator_command(role_vars, checks_python, check_source),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("kind", sorted(BROKEN_SOURCES))
def test_validator_rejects_broken(role_vars, checks_python, tmp_path, kind):
    path = tmp_path / "candidate"
    path.write_text(BROKEN_SOURCES[kind])
    result = subprocess.run(validator_command(role_vars, checks_python, str(path)),
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0


@pytest.mark.parametrize("name", ["mysql", "http", "system", "datadog", "requests", "disk", "yaml", "postgres"])
def test_deny_list_rejects(role_vars, name):
    with pytest.raises(AnsibleFilterError, match="custom_%s" % name):
        datadog_custom_check_name(name, role_vars["_custom_check_denied_names"])


def test_deny_list_accepts_default(role_vars):
    assert datadog_custom_check_name("my_metric", role_vars["_custom_check_denied_names"]) == "my_metric"


def test_deny_list_covers_embedded(role_vars, checks_python):
    """Every importable top-level module of the embedded packages is a denied name."""
    script = (
        "import json, pkgutil, sysconfig; "
        "print(json.dumps(sorted(module.name for module in pkgutil.iter_modules([sysconfig.get_paths()['purelib']]))))"
    )
    result = subprocess.run([checks_python, "-c", script], capture_output=True, text=True, check=True)
    names = json.loads(result.stdout)
    candidates = [name for name in names if name.isidentifier() and not name.startswith("_") and name.islower()]
    assert candidates
    missing = []
    for name in candidates:
        try:
            datadog_custom_check_name(name, role_vars["_custom_check_denied_names"])
        except AnsibleFilterError:
            continue
        missing.append(name)
    assert missing == []
