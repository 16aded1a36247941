# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the mysql role on a converged host.

The datadog account is used exactly as /etc/datadog-agent/conf.d/mysql.d/conf.yaml describes it:
a script run by the host's Python as the dd-agent user reads that file, connects with PyMySQL
and runs the statements the Datadog mysql check runs. Grants are compared with the privileges
that the role's engine decisions (plugins/filter/mysql_engine.py) intend for the server version.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import importlib.util
import json
import os

import pytest

from inventory_groups import skip_unless_in_group

CONF_PATH = "/etc/datadog-agent/conf.d/mysql.d/conf.yaml"
AGENT_USER = "dd-agent"
ENGINE_MODULE_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "plugins", "filter", "mysql_engine.py"
)

# MySQL and MariaDB error numbers that mean "permission denied" rather than "not applicable here".
PERMISSION_ERRORS = {
    1044: "access denied to database",
    1045: "access denied (login)",
    1142: "command denied on table",
    1143: "command denied on column",
    1227: "privilege missing for this operation",
    1370: "command denied on routine",
}

# Runs on the target. Reads conf.yaml, connects with exactly its parameters and prints one JSON
# document with the result of each statement.
PROBE_SCRIPT = r'''
import json, sys
import pymysql, yaml

with open(sys.argv[1]) as handle:
    config = yaml.safe_load(handle)
instance = config["instances"][0]
params = {"user": instance["username"], "password": instance["password"], "connect_timeout": 10}
if "sock" in instance:
    params["unix_socket"] = instance["sock"]
else:
    params["host"] = instance["host"]
    params["port"] = int(instance.get("port", 3306))
result = {"instance_keys": sorted(instance), "statements": {}}
connection = pymysql.connect(**params)
cursor = connection.cursor()
cursor.execute("SELECT VERSION(), CURRENT_USER()")
result["version"], result["current_user"] = cursor.fetchone()
cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
result["grants"] = [row[0] for row in cursor.fetchall()]
for statement in json.loads(sys.argv[2]):
    try:
        cursor.execute(statement)
        rows = cursor.fetchall()
        result["statements"][statement] = {"ok": True, "rows": len(rows)}
    except pymysql.MySQLError as error:
        code = error.args[0] if error.args else None
        result["statements"][statement] = {"ok": False, "errno": code, "error": str(error)}
print(json.dumps(result))
'''


def load_engine_module():
    spec = importlib.util.spec_from_file_location("mysql_engine", ENGINE_MODULE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ENGINE = load_engine_module()


@pytest.fixture(autouse=True)
def only_mysql_servers(host):
    skip_unless_in_group(host, "mysql_servers")


def run_as_root(host, command, *args):
    """Run a command as root, through sudo when the connection user is someone else."""
    if host.user().name == "root":
        return host.run(command, *args)
    with host.sudo():
        return host.run(command, *args)


def target_python(host):
    """Return the interpreter Ansible uses on the host, or /usr/bin/python3 when it is not known."""
    try:
        variables = host.ansible.get_variables()
    except RuntimeError:  # testinfra's ansible module exists only with the ansible backend
        variables = {}
    interpreter = variables.get("ansible_python_interpreter", "")
    if not interpreter or interpreter.startswith("auto"):
        return "/usr/bin/python3"
    return interpreter


def integration_statements(version_text, engine):
    """Return the statements the Datadog mysql check runs with every option of the role enabled."""
    version = ENGINE.parse_version(version_text)
    if engine == "mariadb":
        replica_status = "SHOW REPLICA STATUS" if version >= (10, 5, 1) else "SHOW SLAVE STATUS"
    else:
        replica_status = "SHOW REPLICA STATUS" if version >= (8, 0, 22) else "SHOW SLAVE STATUS"
    return [
        "SHOW GLOBAL STATUS",
        "SHOW GLOBAL VARIABLES",
        replica_status,
        "SHOW MASTER STATUS",
        "SHOW BINARY LOGS",
        "SHOW ENGINE INNODB STATUS",
        "SELECT * FROM information_schema.PROCESSLIST",
        "SELECT * FROM performance_schema.threads LIMIT 10",
        "SELECT * FROM performance_schema.setup_consumers",
        "SELECT schema_name, SUM(count_star), AVG(avg_timer_wait)"
        " FROM performance_schema.events_statements_summary_by_digest"
        " WHERE schema_name IS NOT NULL GROUP BY schema_name",
        "SELECT * FROM performance_schema.events_statements_current LIMIT 10",
        "SELECT * FROM performance_schema.table_io_waits_summary_by_index_usage LIMIT 10",
        "SELECT table_schema, SUM(data_length + index_length)"
        " FROM information_schema.tables GROUP BY table_schema",
        "SELECT engine FROM information_schema.ENGINES WHERE engine = 'InnoDB' AND support IN ('DEFAULT', 'YES')",
    ]


def run_probe(host, statements):
    """Run PROBE_SCRIPT on the host as the agent user and return its parsed output."""
    encoded = base64.b64encode(PROBE_SCRIPT.encode("utf-8")).decode("ascii")
    loader = "import base64, sys; exec(base64.b64decode(sys.argv.pop(1)))"
    command = run_as_root(
        host,
        "runuser -u %s -- %s -c %s %s %s %s"
        % (
            AGENT_USER,
            target_python(host),
            _quote(loader),
            encoded,
            CONF_PATH,
            _quote(json.dumps(statements)),
        )
    )
    assert command.rc == 0, "probe failed (rc %d): %s" % (command.rc, command.stderr)
    return json.loads(command.stdout)


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def server_engine(version_text):
    return "mariadb" if "mariadb" in version_text.lower() else "mysql"


def permission_errors(probe):
    """Return 'statement: error' for each statement that failed for lack of a privilege."""
    failures = []
    for statement, outcome in sorted(probe["statements"].items()):
        if not outcome["ok"] and outcome["errno"] in PERMISSION_ERRORS:
            failures.append("%s: %s" % (statement, outcome["error"]))
    return failures


def grant_problems(probe):
    """Compare the account's SHOW GRANTS output with the privileges the role intends."""
    engine = server_engine(probe["version"])
    expected = ENGINE.datadog_privileges(engine, ENGINE.parse_version(probe["version"]))
    return ENGINE.grant_differences(ENGINE.parse_grants(probe["grants"]), expected)


def root_sql(host, statement):
    """Run one statement as root over the server socket and return its stripped output."""
    command = run_as_root(host, "mysql --batch --skip-column-names -e %s", statement)
    assert command.rc == 0, "%s failed: %s" % (statement, command.stderr)
    return command.stdout.strip()


@pytest.fixture(scope="module")
def probe(host):
    first = run_probe(host, [])
    return run_probe(host, integration_statements(first["version"], server_engine(first["version"])))


def test_pymysql_imports_in_target_python(host):
    command = host.run("%s -c 'import pymysql'", target_python(host))
    assert command.rc == 0, command.stderr


def test_conf_yaml_owner_and_mode(host):
    conf = host.file(CONF_PATH)
    assert conf.user == AGENT_USER
    assert conf.group == AGENT_USER
    assert conf.mode == 0o640


def test_conf_yaml_uses_password_key(probe):
    assert "password" in probe["instance_keys"]
    assert "pass" not in probe["instance_keys"]


def test_account_host_matches_connection(probe):
    user, account_host = probe["current_user"].rsplit("@", 1)
    assert user == "datadog"
    if "sock" in probe["instance_keys"]:
        assert account_host == "localhost"
        assert "host" not in probe["instance_keys"]
    else:
        assert account_host == "127.0.0.1"


def test_integration_statements_have_permission(probe):
    assert len(probe["statements"]) >= 10
    assert permission_errors(probe) == []


def test_integration_statements_succeed(probe):
    # 1381: SHOW BINARY LOGS on a server without binary logging, which the check tolerates.
    failed = dict(
        (statement, outcome)
        for statement, outcome in probe["statements"].items()
        if not outcome["ok"] and not (statement == "SHOW BINARY LOGS" and outcome["errno"] == 1381)
    )
    assert failed == {}


def test_performance_schema_readable(probe):
    assert probe["statements"]["SELECT * FROM performance_schema.setup_consumers"]["rows"] > 0


def test_innodb_status_needs_no_extra_grant(probe):
    outcome = probe["statements"]["SHOW ENGINE INNODB STATUS"]
    assert outcome["ok"], outcome


def test_performance_schema_is_on(host):
    assert root_sql(host, "SELECT @@GLOBAL.performance_schema") == "1"


def test_grants_are_exactly_intended(probe):
    assert grant_problems(probe) == []


def test_max_user_connections_is_five(host, probe):
    account_host = probe["current_user"].rsplit("@", 1)[1]
    value = root_sql(
        host, "SELECT max_user_connections FROM mysql.user WHERE user = 'datadog' AND host = '%s'" % account_host
    )
    assert value == "5"


def test_no_other_datadog_account(host, probe):
    account_host = probe["current_user"].rsplit("@", 1)[1]
    hosts = root_sql(host, "SELECT host FROM mysql.user WHERE user = 'datadog'").split()
    assert hosts == [account_host]


def test_verify_reports_missing_process(host, probe):
    """Revoke PROCESS for a moment: the grant comparison and the InnoDB status probe must both fail."""
    account_host = probe["current_user"].rsplit("@", 1)[1]
    account = "'datadog'@'%s'" % account_host
    root_sql(host, "REVOKE PROCESS ON *.* FROM %s" % account)
    try:
        lacking = run_probe(host, ["SHOW ENGINE INNODB STATUS"])
    finally:
        root_sql(host, "GRANT PROCESS ON *.* TO %s" % account)
    assert grant_problems(lacking) == ["missing on *.*: PROCESS"]
    outcome = lacking["statements"]["SHOW ENGINE INNODB STATUS"]
    assert not outcome["ok"]
    assert outcome["errno"] in PERMISSION_ERRORS
    assert grant_problems(run_probe(host, [])) == []
