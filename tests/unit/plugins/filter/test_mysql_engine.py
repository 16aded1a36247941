# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import jinja2
import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import comment, to_nice_yaml
from ansible_collections.ddpoc.observability.plugins.filter.mysql_engine import (
    authentication_plugin,
    datadog_privileges,
    engine_errors,
    grant_differences,
    mysql_account_host,
    mysql_engine_plan,
    mysql_integration_config,
    parse_grants,
    parse_version,
    performance_schema_needs_config,
    resource_limit_statement,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("10.11.6-MariaDB-0+deb12u1", (10, 11, 6)),
        ("5.7.42-0ubuntu0.18.04.1-log", (5, 7, 42)),
        ("8.0.35-0ubuntu0.22.04.1", (8, 0, 35)),
        ("11.4", (11, 4, 0)),
    ],
)
def test_parse_version_server_strings(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["", "MariaDB", None, "v8.0"])
def test_parse_version_rejects_garbage(text):
    with pytest.raises(AnsibleFilterError, match="invalid MySQL server version"):
        parse_version(text)


@pytest.mark.parametrize(
    "engine, version, expected",
    [
        ("mysql", "5.7.42", ["PROCESS", "REPLICATION CLIENT"]),
        ("mysql", "8.0.35", ["PROCESS", "REPLICATION CLIENT"]),
        ("MySQL", "8.0.0", ["PROCESS", "REPLICATION CLIENT"]),
        ("mariadb", "10.1.48", ["PROCESS", "REPLICATION CLIENT"]),
        ("mariadb", "10.3.39", ["PROCESS", "REPLICATION CLIENT"]),
        ("mariadb", "10.4.34", ["PROCESS", "REPLICATION CLIENT"]),
        ("mariadb", "10.5.1", ["PROCESS", "REPLICATION CLIENT"]),
        ("mariadb", "10.5.2", ["BINLOG MONITOR", "PROCESS"]),
        ("mariadb", "10.5.8", ["BINLOG MONITOR", "PROCESS"]),
        ("mariadb", "10.5.9", ["BINLOG MONITOR", "PROCESS", "SLAVE MONITOR"]),
        ("MariaDB", "10.6.18", ["BINLOG MONITOR", "PROCESS", "SLAVE MONITOR"]),
        ("mariadb", "10.11.6-MariaDB-0+deb12u1", ["BINLOG MONITOR", "PROCESS", "SLAVE MONITOR"]),
        ("mariadb", "11.4.2", ["BINLOG MONITOR", "PROCESS", "SLAVE MONITOR"]),
    ],
)
def test_global_privileges_per_version(engine, version, expected):
    privileges = datadog_privileges(engine, parse_version(version))
    assert privileges["*.*"] == expected
    assert privileges["performance_schema.*"] == ["SELECT"]
    assert sorted(privileges) == ["*.*", "performance_schema.*"]


@pytest.mark.parametrize(
    "engine, version, expected",
    [
        ("mysql", "5.6.51", "GRANT"),
        ("mysql", "5.7.5", "GRANT"),
        ("mysql", "5.7.6", "ALTER USER"),
        ("mysql", "5.7.42", "ALTER USER"),
        ("mysql", "8.0.35", "ALTER USER"),
        ("mariadb", "10.1.48", "GRANT"),
        ("mariadb", "10.2.0", "ALTER USER"),
        ("mariadb", "10.11.6", "ALTER USER"),
    ],
)
def test_resource_limit_statement_per_version(engine, version, expected):
    assert resource_limit_statement(engine, version) == expected


@pytest.mark.parametrize(
    "engine, version, expected",
    [
        ("mysql", "5.7.42", "mysql_native_password"),
        ("mysql", "8.0.35", "mysql_native_password"),
        ("mysql", "8.4.0", None),
        ("mysql", "9.1.0", None),
        ("mariadb", "10.11.6", "mysql_native_password"),
    ],
)
def test_authentication_plugin_per_version(engine, version, expected):
    assert authentication_plugin(engine, version) == expected


@pytest.mark.parametrize(
    "engine, current, expected",
    [
        ("mariadb", "OFF", True),
        ("mariadb", "ON", True),
        ("mysql", "ON", False),
        ("mysql", "1", False),
        ("mysql", "OFF", True),
        ("mysql", "0", True),
    ],
)
def test_performance_schema_config_decision(engine, current, expected):
    assert performance_schema_needs_config(engine, current) is expected


def test_old_servers_rejected_with_reason():
    errors = engine_errors("mysql", "5.6.51", replication=False)
    assert len(errors) == 1
    assert "MySQL 5.6.51" in errors[0]
    assert "upgrade the server" in errors[0]


def test_mysql_84_rejected_for_auth_plugin():
    errors = engine_errors("mysql", "8.4.3", replication=False)
    assert len(errors) == 1
    assert "mysql_native_password" in errors[0]


def test_mariadb_105_replication_gap_rejected():
    assert engine_errors("mariadb", "10.5.4", replication=False) == []
    errors = engine_errors("mariadb", "10.5.4", replication=True)
    assert len(errors) == 1
    assert "mysql_integration_replication" in errors[0]
    assert engine_errors("mariadb", "10.5.9", replication=True) == []


def test_plan_from_mysql_info_result():
    info = {"server_engine": "MariaDB", "version": {"full": "10.11.6-MariaDB-0+deb12u1", "major": 10}}
    plan = mysql_engine_plan(info)
    assert plan["engine"] == "mariadb"
    assert plan["version"] == "10.11.6"
    assert plan["errors"] == []
    assert plan["priv"] == {"*.*": "BINLOG MONITOR,PROCESS,SLAVE MONITOR", "performance_schema.*": "SELECT"}
    assert plan["resource_limit_statement"] == "ALTER USER"
    assert plan["service"] == "mariadb"


def test_plan_reports_runtime_performance_schema():
    server = {"server_engine": "MariaDB", "version": {"full": "10.11.6-MariaDB"}, "settings": {"performance_schema": "OFF"}}
    assert mysql_engine_plan(server)["performance_schema_on"] is False
    server["settings"]["performance_schema"] = "ON"
    assert mysql_engine_plan(server)["performance_schema_on"] is True
    assert mysql_engine_plan(server)["performance_schema_config"] is True


def test_plan_for_bionic_mysql():
    plan = mysql_engine_plan({"server_engine": "MySQL", "version": {"full": "5.7.42-0ubuntu0.18.04.1"}})
    assert plan["priv"] == {"*.*": "PROCESS,REPLICATION CLIENT", "performance_schema.*": "SELECT"}
    assert plan["service"] == "mysql"
    assert plan["errors"] == []


def test_plan_for_unsupported_server_grants_nothing():
    plan = mysql_engine_plan({"server_engine": "MySQL", "version": "5.6.51"})
    assert plan["errors"]
    assert plan["priv"] == {}


def test_plan_rejects_unknown_engine():
    with pytest.raises(AnsibleFilterError, match="invalid MySQL engine 'Percona'"):
        mysql_engine_plan({"server_engine": "Percona", "version": "8.0.35"})


@pytest.mark.parametrize("connection, host", [("socket", "localhost"), ("tcp", "127.0.0.1")])
def test_account_host_follows_connection(connection, host):
    assert mysql_account_host(connection) == host


def test_account_host_rejects_unknown_method():
    with pytest.raises(AnsibleFilterError, match="mysql_datadog_connection 'localhost'"):
        mysql_account_host("localhost")


def _render_text(config):
    """Render the check config the way the role's template does."""
    return to_nice_yaml(config, indent=2, width=160, sort_keys=False)


def _render(config):
    return yaml.safe_load(_render_text(config))


@pytest.mark.parametrize(
    "password",
    ["p:ss#w@rd", "*start", "it's", 'say "hi" & #1', "- dash: colon", "{brace} [list]", "trailing space ", "yes", "0123"],
)
def test_password_round_trips_through_yaml(password):
    text = _render_text(mysql_integration_config("socket", "datadog", password, socket_path="/run/mysqld/mysqld.sock"))
    parsed = yaml.safe_load(text)
    instance = parsed["instances"][0]
    assert instance["password"] == password
    assert isinstance(instance["password"], str)
    assert "pass:" not in text.replace("password:", "")


def test_socket_config_pairs_with_localhost_account():
    parsed = _render(mysql_integration_config("socket", "datadog", "secret", socket_path="/run/mysqld/mysqld.sock"))
    instance = parsed["instances"][0]
    assert instance["sock"] == "/run/mysqld/mysqld.sock"
    assert "host" not in instance
    assert "port" not in instance
    assert mysql_account_host("socket") == "localhost"


def test_tcp_config_pairs_with_loopback_account():
    parsed = _render(mysql_integration_config("tcp", "datadog", "secret", port="3307"))
    instance = parsed["instances"][0]
    assert instance["host"] == "127.0.0.1"
    assert instance["port"] == 3307
    assert "sock" not in instance
    assert instance["host"] == mysql_account_host("tcp")


def test_config_has_every_option_as_bool():
    options = {"replication": True, "schema_size_metrics": 1}
    parsed = _render(mysql_integration_config("tcp", "datadog", "secret", options=options, tags=["team:db"]))
    instance = parsed["instances"][0]
    assert instance["options"]["replication"] is True
    assert instance["options"]["schema_size_metrics"] is True
    assert instance["options"]["galera_cluster"] is False
    assert len(instance["options"]) == 7
    assert instance["tags"] == ["team:db"]
    assert parsed["init_config"] == {}
    assert isinstance(parsed["instances"], list) and len(parsed["instances"]) == 1


def test_config_rejects_empty_password():
    with pytest.raises(AnsibleFilterError, match="password is missing"):
        mysql_integration_config("socket", "datadog", "", socket_path="/run/mysqld/mysqld.sock")


def test_config_rejects_socket_without_path():
    with pytest.raises(AnsibleFilterError, match="mysql_socket is empty"):
        mysql_integration_config("socket", "datadog", "secret", socket_path="")


MARIADB_GRANTS = [
    "GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO `datadog`@`localhost` IDENTIFIED BY PASSWORD '*ABC'"
    " WITH MAX_USER_CONNECTIONS 5",
    "GRANT SELECT ON `performance_schema`.* TO `datadog`@`localhost`",
]


def test_grants_match_intended_set():
    expected = datadog_privileges("mariadb", parse_version("10.11.6"))
    assert grant_differences(parse_grants(MARIADB_GRANTS), expected) == []


def test_missing_process_is_reported():
    lacking = ["GRANT BINLOG MONITOR, SLAVE MONITOR ON *.* TO `datadog`@`localhost`"] + MARIADB_GRANTS[1:]
    expected = datadog_privileges("mariadb", parse_version("10.11.6"))
    assert grant_differences(parse_grants(lacking), expected) == ["missing on *.*: PROCESS"]


def test_missing_performance_schema_is_reported():
    expected = datadog_privileges("mysql", parse_version("8.0.35"))
    grants = parse_grants(["GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'datadog'@'127.0.0.1'"])
    assert grant_differences(grants, expected) == ["missing on performance_schema.*: SELECT"]


def test_broader_grant_is_reported():
    expected = datadog_privileges("mysql", parse_version("5.7.42"))
    grants = parse_grants(
        [
            "GRANT PROCESS, REPLICATION CLIENT, SUPER ON *.* TO 'datadog'@'localhost' WITH GRANT OPTION",
            "GRANT SELECT ON `performance_schema`.* TO 'datadog'@'localhost'",
        ]
    )
    assert grant_differences(grants, expected) == ["not intended on *.*: GRANT OPTION, SUPER"]


def test_usage_only_account_lacks_everything():
    expected = datadog_privileges("mysql", parse_version("8.0.35"))
    grants = parse_grants(["GRANT USAGE ON *.* TO `datadog`@`localhost`"])
    assert grant_differences(grants, expected) == [
        "missing on *.*: PROCESS, REPLICATION CLIENT",
        "missing on performance_schema.*: SELECT",
    ]


TEMPLATE_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "roles", "mysql", "templates", "conf.yaml.j2"
)


def render_role_template(**variables):
    """Render the role's conf.yaml.j2 with Ansible's own filter functions and this collection's filter."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.filters["ansible.builtin.comment"] = comment
    environment.filters["ansible.builtin.to_nice_yaml"] = to_nice_yaml
    environment.filters["ddpoc.observability.mysql_integration_config"] = mysql_integration_config
    with open(TEMPLATE_PATH) as handle:
        template = environment.from_string(handle.read())
    context = {
        "ansible_managed": "Ansible managed",
        "mysql_datadog_connection": "socket",
        "mysql_datadog_user": "datadog",
        "mysql_socket": "/run/mysqld/mysqld.sock",
        "mysql_port": 3306,
        "_mysql_integration_options": {"replication": False, "extra_performance_metrics": True},
        "mysql_integration_tags": [],
    }
    context.update(variables)
    return template.render(**context)


@pytest.mark.parametrize("password", ["p:ss#w@rd", "*start", "it's", "&anchor !tag %percent", 'back\\slash "quoted"'])
def test_role_template_round_trips_password(password):
    text = render_role_template(__mysql_datadog_password=password)
    parsed = yaml.safe_load(text)
    assert text.startswith("#")
    assert parsed["instances"][0]["password"] == password
    assert parsed["instances"][0]["sock"] == "/run/mysqld/mysqld.sock"
    assert parsed["instances"][0]["options"]["extra_performance_metrics"] is True


@pytest.mark.parametrize("connection, key", [("socket", "sock"), ("tcp", "host")])
def test_role_template_connection_keys(connection, key):
    parsed = yaml.safe_load(render_role_template(__mysql_datadog_password="secret", mysql_datadog_connection=connection))
    instance = parsed["instances"][0]
    assert key in instance
    assert "pass" not in instance
    assert instance["password"] == "secret"
    assert instance["username"] == "datadog"
