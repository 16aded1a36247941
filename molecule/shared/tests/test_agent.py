# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the agent role on a converged host.

Expected values come from the host's inventory, resolved by Ansible itself (vault included) with a
small playbook that writes them to a controller file readable only by root. The last test changes
the API key to a throwaway value with a `-vvv --diff` run, checks that output for every key, and
restores the inventory key with a second run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import secrets
import tempfile

import pytest
import yaml

from playbook_runner import REPO_DIR, run_playbook

CONFIG_PATH = "/etc/datadog-agent/datadog.yaml"
AGENT_BINARY = "/opt/datadog-agent/bin/agent/agent"
DEFAULT_SITE = "datadoghq.eu"
DEFAULT_VERSION = "7.63.0"
KEY_VARIABLE_PATTERN = r".*(api|app|application)_key$"

# Writes the inventory values the tests compare with, and every variable whose name ends in
# api_key or app_key, to a controller file with mode 0600. no_log keeps the keys out of the output.
EXPECTED_VALUES_PLAYBOOK = """
- name: Export expected agent values
  hosts: {host}
  gather_facts: false
  tasks:
    - name: Write the values to the controller
      ansible.builtin.copy:
        dest: {dest}
        mode: "0600"
        content: "{{{{ values | to_json }}}}"
      delegate_to: localhost
      no_log: true
      vars:
        values:
          site: "{{{{ agent_site | default('{site}') }}}}"
          host_tags: "{{{{ agent_host_tags | default([]) }}}}"
          version: "{{{{ agent_version | default('{version}') }}}}"
          keys: "{{{{ query('ansible.builtin.varnames', '{pattern}') | map('extract', vars) | select('string') | list }}}}"
"""

AGENT_PLAYBOOK = """
- name: Converge the agent role with -vvv and --diff
  hosts: {host}
  roles:
    - role: ddpoc.observability.agent
"""


@pytest.fixture(scope="module")
def expected(host):
    """Inventory values for HOST: site, host_tags, version and keys (secret values)."""
    directory = tempfile.mkdtemp(prefix="ddpoc-agent-test-")
    dest = os.path.join(directory, "expected.json")
    playbook = EXPECTED_VALUES_PLAYBOOK.format(
        host="{host}", dest=dest, site=DEFAULT_SITE, version=DEFAULT_VERSION, pattern=KEY_VARIABLE_PATTERN
    )
    result = run_playbook(host, playbook)
    try:
        assert result.returncode == 0, "reading the inventory failed:\n" + result.stdout[-3000:] + result.stderr[-2000:]
        with open(dest) as handle:
            return json.load(handle)
    finally:
        for path in glob.glob(os.path.join(directory, "*")):
            os.remove(path)
        os.rmdir(directory)


@pytest.fixture(scope="module")
def config(host):
    return yaml.safe_load(host.file(CONFIG_PATH).content_string)


def expected_tags(raw):
    """Write inventory host tags as key:value strings, independently of the role's filter."""
    if isinstance(raw, dict):
        return ["%s:%s" % (key, value) for key, value in raw.items()]
    return [re.sub(r"\s*:\s*", ":", tag.strip(), count=1) for tag in raw]


def test_config_file_owner_mode(host):
    config_file = host.file(CONFIG_PATH)
    assert config_file.user == "dd-agent"
    assert config_file.group == "dd-agent"
    assert config_file.mode == 0o640


def test_config_site(config, expected):
    assert config["site"] == expected["site"]


def test_config_site_is_eu(config):
    assert config["site"] == DEFAULT_SITE


def test_config_tags_key_value_strings(config):
    tags = config["tags"]
    assert isinstance(tags, list)
    assert tags
    for tag in tags:
        assert isinstance(tag, str)
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_.\-/]*:[A-Za-z0-9_.\-/:]+", tag), tag


def test_config_tags_match_inventory(config, expected):
    assert config["tags"] == expected_tags(expected["host_tags"])


def test_config_api_key_present(config):
    # The key is compared outside the assert, so a failure does not print it.
    key_is_valid = bool(re.fullmatch(r"[0-9a-f]{32}", str(config.get("api_key", ""))))
    assert key_is_valid, "api_key in datadog.yaml is missing or not 32 hexadecimal characters"


def test_config_apm_enabled(config):
    assert config["apm_config"]["enabled"] is True


def test_config_no_agent5_apm_key(config):
    assert "apm_enabled" not in config


def test_config_remote_updates_off(config):
    assert config["remote_updates"] is False


def test_service_active_enabled(host):
    service = host.service("datadog-agent")
    assert service.is_running
    assert service.is_enabled


def test_package_pinned_version(host, expected):
    package = host.package("datadog-agent")
    assert package.is_installed
    assert package.version == "1:%s-1" % expected["version"]


def test_package_held(host):
    selection = host.check_output("dpkg --get-selections datadog-agent")
    assert selection.split() == ["datadog-agent", "hold"]


def test_upgrade_keeps_held_version(host):
    """apt upgrade leaves the held agent alone while the repository offers a newer one."""
    policy = host.check_output("apt-cache policy datadog-agent")
    versions = dict(line.strip().split(": ", 1) for line in policy.splitlines() if line.strip().startswith(("Installed", "Candidate")))
    if versions.get("Installed") == versions.get("Candidate"):
        pytest.skip("NOT VERIFIED: the repository offers no newer datadog-agent than %s" % versions.get("Installed"))
    simulation = host.run("apt-get --simulate upgrade")
    assert simulation.rc == 0, simulation.stderr
    assert "Inst datadog-agent " not in simulation.stdout


def test_signing_keys_installed(host):
    assert host.package("datadog-signing-keys").is_installed


def test_agent_version_runs(host):
    assert host.run("%s version", AGENT_BINARY).rc == 0


def test_only_agent_role_includes_datadog_dd():
    """Only roles/agent calls datadog.dd.agent, so datadog.yaml has one owner."""
    callers = []
    for directory in ("roles", "playbooks"):
        for path in glob.glob(os.path.join(REPO_DIR, directory, "**", "*.yml"), recursive=True):
            with open(path) as handle:
                if re.search(r"^\s*(name|role):\s*datadog\.dd\.agent\s*$", handle.read(), re.MULTILINE):
                    callers.append(os.path.relpath(path, REPO_DIR))
    assert callers == ["roles/agent/tasks/install.yml"]


def test_verbose_diff_hides_keys(host, expected):
    """A -vvv --diff run that changes datadog.yaml prints no API or application key."""
    throwaway_key = secrets.token_hex(16)
    changed_run = run_playbook(host, AGENT_PLAYBOOK, "-vvv", "--diff", "-e", "agent_api_key=" + throwaway_key)
    restore_run = run_playbook(host, AGENT_PLAYBOOK, "-vvv", "--diff")
    assert changed_run.returncode == 0, "the run with a throwaway key failed; rerun it by hand to see why"
    assert restore_run.returncode == 0, "restoring the inventory key failed; rerun the converge"
    assert "Render datadog.yaml" in changed_run.stdout

    keys = [throwaway_key] + expected["keys"]
    assert len(keys) >= 2, "no api_key or app_key variable found in the inventory"
    for index, output in enumerate((changed_run.stdout + changed_run.stderr, restore_run.stdout + restore_run.stderr)):
        leaked = [number for number, key in enumerate(keys) if key in output]
        # Only positions are reported, never the keys.
        assert not leaked, "run %d printed secret number(s) %s (0 is the throwaway API key)" % (index, leaked)
