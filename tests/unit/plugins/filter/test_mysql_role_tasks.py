# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Repository checks of roles/mysql: how its tasks talk to the server and handle the password."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml

ROLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "roles", "mysql")
MYSQL_MODULE_PATTERN = re.compile(r"^community\.mysql\.mysql_")
RAW_SQL_MODULES = ("community.mysql.mysql_query", "ansible.builtin.command", "ansible.builtin.shell", "ansible.builtin.raw")


def load_tasks():
    """Return (file name, task) for every task in the role's tasks and handlers, blocks flattened."""
    found = []
    for folder in ("tasks", "handlers"):
        directory = os.path.join(ROLE_DIR, folder)
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name)) as handle:
                for task in _flatten(yaml.safe_load(handle) or []):
                    found.append(("%s/%s" % (folder, name), task))
    return found


def _flatten(tasks):
    for task in tasks:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _flatten(task.get(key, []))


def _module_name(task):
    for key in task:
        if "." in key:
            return key
    return ""


TASKS = load_tasks()


def test_role_has_tasks():
    names = [_module_name(task) for path, task in TASKS]
    assert "community.mysql.mysql_user" in names
    assert len(TASKS) > 10


def test_no_raw_sql_sets_connection_limit():
    offenders = []
    for path, task in TASKS:
        text = yaml.safe_dump(task)
        if _module_name(task) in RAW_SQL_MODULES and "MAX_USER_CONNECTIONS" in text.upper():
            offenders.append("%s: %s" % (path, task.get("name")))
    assert offenders == []


def test_limit_set_through_resource_limits():
    users = [task for path, task in TASKS if _module_name(task) == "community.mysql.mysql_user" and task[_module_name(task)].get("state") == "present"]
    assert len(users) == 1
    assert "MAX_USER_CONNECTIONS" in users[0]["community.mysql.mysql_user"]["resource_limits"]


def test_no_root_password_anywhere():
    for path, task in TASKS:
        module = _module_name(task)
        if MYSQL_MODULE_PATTERN.match(module):
            arguments = task[module]
            assert "login_password" not in arguments, path
            assert arguments.get("login_user") == "root", path
            assert arguments.get("login_unix_socket") == "{{ mysql_socket }}", path
            assert task.get("become") is True, path


def test_secret_tasks_hide_output_and_diff():
    for path, task in TASKS:
        text = yaml.safe_dump(task)
        if "__mysql_datadog_password" in text or "mysql_datadog_password" in str(task.get("set_fact", "")):
            assert task.get("no_log") is True, "%s: %s" % (path, task.get("name"))
    secret_writers = [task for path, task in TASKS if _module_name(task) in ("community.mysql.mysql_user", "ansible.builtin.template")]
    for task in secret_writers:
        if "conf.yaml" in str(task[_module_name(task)].get("src", "")) or task[_module_name(task)].get("password"):
            assert task.get("no_log") is True
            assert task.get("diff") is False


def test_check_config_notifies_agent_restart():
    templates = [task for path, task in TASKS if _module_name(task) == "ansible.builtin.template" and task["ansible.builtin.template"]["src"] == "conf.yaml.j2"]
    assert len(templates) == 1
    task = templates[0]
    assert task["notify"] == "Restart datadog-agent"
    assert task["ansible.builtin.template"]["mode"] == "0640"
    assert "%s" in task["ansible.builtin.template"]["validate"]


def test_template_built_from_data():
    with open(os.path.join(ROLE_DIR, "templates", "conf.yaml.j2")) as handle:
        lines = [line for line in handle.read().splitlines() if line.strip()]
    assert len(lines) == 2
    assert "ddpoc.observability.mysql_integration_config" in lines[1]
    assert "to_nice_yaml" in lines[1]


def test_meta_depends_on_agent_restart():
    with open(os.path.join(ROLE_DIR, "meta", "main.yml")) as handle:
        meta = yaml.safe_load(handle)
    roles = [entry["role"] if isinstance(entry, dict) else entry for entry in meta["dependencies"]]
    assert roles == ["ddpoc.observability.agent_restart"]


@pytest.mark.parametrize("folder", ["tasks", "handlers"])
def test_every_task_named(folder):
    unnamed = [path for path, task in TASKS if path.startswith(folder) and not task.get("name")]
    assert unnamed == []


def test_argument_specs_match_defaults():
    with open(os.path.join(ROLE_DIR, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    with open(os.path.join(ROLE_DIR, "meta", "argument_specs.yml")) as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    assert sorted(options) == sorted(defaults)
    for name, value in defaults.items():
        assert options[name].get("default") == value, name
        assert "type" in options[name], name
        assert options[name].get("description"), name
