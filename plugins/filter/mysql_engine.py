# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engine decisions of the mysql role for MySQL and MariaDB, and the Datadog mysql check config.

The role calls these filters after it has read the server version. The privilege names, the
statement that sets the connection limit, the authentication plugin and the performance_schema
handling are chosen here, in one place that unit tests cover per version.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

ENGINES = ("mysql", "mariadb")
CONNECTION_METHODS = ("socket", "tcp")

# Host part of the datadog account for each connection method. A client that connects through
# the socket is 'user'@'localhost', and one that connects to 127.0.0.1 over TCP is 'user'@'127.0.0.1'.
ACCOUNT_HOSTS = {"socket": "localhost", "tcp": "127.0.0.1"}
TCP_HOST = "127.0.0.1"

INTEGRATION_OPTIONS = (
    "replication",
    "galera_cluster",
    "extra_status_metrics",
    "extra_innodb_metrics",
    "extra_performance_metrics",
    "schema_size_metrics",
    "disable_innodb_metrics",
)

PERFORMANCE_SCHEMA_TABLES = "performance_schema.*"

_VERSION_PATTERN = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(version):
    """Parse the leading 'major.minor[.patch]' of a server version string into a tuple of three ints.

    Accepts the output of SELECT VERSION(), such as '10.11.6-MariaDB-0+deb12u1' or
    '5.7.42-0ubuntu0.18.04.1-log'.
    """
    if not isinstance(version, string_types):
        raise AnsibleFilterError("invalid MySQL server version %r: expected a string such as '8.0.35'" % (version,))
    match = _VERSION_PATTERN.match(version)
    if match is None:
        raise AnsibleFilterError("invalid MySQL server version %r: expected a string such as '8.0.35'" % (version,))
    return tuple(int(part or 0) for part in match.groups())


def normalize_engine(engine):
    """Return 'mysql' or 'mariadb' for an engine name such as 'MySQL' from community.mysql.mysql_info."""
    name = str(engine).strip().lower()
    if name not in ENGINES:
        raise AnsibleFilterError("invalid MySQL engine %r: expected one of %s" % (engine, ", ".join(ENGINES)))
    return name


def replication_privileges(engine, version):
    """Return the global privileges that let the account read binary log and replica status.

    MariaDB 10.5.2 renamed REPLICATION CLIENT to BINLOG MONITOR (the old name is still accepted
    but SHOW GRANTS prints the new one), and from 10.5.9 SHOW REPLICA STATUS needs the separate
    SLAVE MONITOR privilege. Between 10.5.2 and 10.5.8 replica status needs REPLICATION SLAVE ADMIN,
    which also allows stopping replication, so the role does not grant it.
    """
    version = parse_version(version) if isinstance(version, string_types) else tuple(version)
    if normalize_engine(engine) == "mariadb":
        if version >= (10, 5, 9):
            return ["BINLOG MONITOR", "SLAVE MONITOR"]
        if version >= (10, 5, 2):
            return ["BINLOG MONITOR"]
    return ["REPLICATION CLIENT"]


def datadog_privileges(engine, version):
    """Return the datadog account's privileges as {'db.table': [privilege, ...]}, both lists sorted."""
    global_privileges = sorted(["PROCESS"] + replication_privileges(engine, version))
    return {"*.*": global_privileges, PERFORMANCE_SCHEMA_TABLES: ["SELECT"]}


def resource_limit_statement(engine, version):
    """Return the statement that sets MAX_USER_CONNECTIONS on this server: 'ALTER USER' or 'GRANT'.

    MySQL accepts resource limits in ALTER USER from 5.7.6 and MariaDB from 10.2.0. Older servers
    take them only in GRANT ... WITH, which MySQL 8.0 rejects as a syntax error.
    """
    version = parse_version(version)
    if normalize_engine(engine) == "mariadb":
        return "ALTER USER" if version >= (10, 2, 0) else "GRANT"
    return "ALTER USER" if version >= (5, 7, 6) else "GRANT"


def authentication_plugin(engine, version):
    """Return the authentication plugin of the datadog account, or None where the server cannot use one.

    community.mysql.mysql_user creates a password account with mysql_native_password. PyMySQL,
    which the Datadog check uses, logs in with it over a socket or plain TCP alike. MySQL 8.4
    no longer loads that plugin by default, so the role stops there instead of creating an
    account that cannot log in.
    """
    version = parse_version(version)
    if normalize_engine(engine) == "mysql" and version >= (8, 4, 0):
        return None
    return "mysql_native_password"


def is_on(value):
    """Return True for a server variable value that means on: ON, 1 or TRUE in any case."""
    return str(value).strip().upper() in ("ON", "1", "TRUE")


def performance_schema_needs_config(engine, current_value):
    """Return True when performance_schema must be switched on in a server config file.

    MariaDB ships with performance_schema off. MySQL has it on by default since 5.6.6, so a
    MySQL server only gets the config file when someone switched it off.
    """
    if normalize_engine(engine) == "mariadb":
        return True
    return not is_on(current_value)


def engine_errors(engine, version, replication):
    """Return a list of messages, one for each reason the role cannot set up this server."""
    errors = []
    name = normalize_engine(engine)
    numbers = parse_version(version)
    label = "%s %s" % ("MariaDB" if name == "mariadb" else "MySQL", ".".join(str(n) for n in numbers))
    if resource_limit_statement(name, version) != "ALTER USER":
        errors.append(
            "%s cannot set MAX_USER_CONNECTIONS with ALTER USER (MySQL 5.7.6 or MariaDB 10.2 is the minimum); "
            "upgrade the server" % label
        )
    if authentication_plugin(name, version) is None:
        errors.append(
            "%s does not load mysql_native_password by default, and community.mysql.mysql_user creates "
            "password accounts with it; use MySQL 8.0 or MariaDB" % label
        )
    if replication and name == "mariadb" and (10, 5, 2) <= numbers < (10, 5, 9):
        errors.append(
            "%s shows replica status only with REPLICATION SLAVE ADMIN, which also allows stopping "
            "replication; upgrade to MariaDB 10.5.9 or later, or set mysql_integration_replication to false" % label
        )
    return errors


def to_mysql_user_priv(privileges):
    """Convert {'db.table': [privilege, ...]} into the priv mapping of community.mysql.mysql_user."""
    return dict((target, ",".join(names)) for target, names in privileges.items())


def mysql_engine_plan(server, replication=False):
    """Collect every engine decision for one server.

    SERVER is the result of community.mysql.mysql_info with the version and settings filters, or any
    mapping with 'server_engine' and 'version.full' (or a plain 'version' string). Without
    settings, a MySQL server is treated as having performance_schema off.
    """
    if not isinstance(server, dict):
        raise AnsibleFilterError("invalid mysql_engine_plan input %r: pass the registered result of community.mysql.mysql_info" % (server,))
    engine = normalize_engine(server.get("server_engine", ""))
    version = server.get("version")
    if isinstance(version, dict):
        version = version.get("full")
    numbers = parse_version(version)
    errors = engine_errors(engine, version, replication)
    privileges = {} if errors else datadog_privileges(engine, numbers)
    settings = server.get("settings") or {}
    return {
        "engine": engine,
        "version": ".".join(str(n) for n in numbers),
        "errors": errors,
        "privileges": privileges,
        "priv": to_mysql_user_priv(privileges),
        "resource_limit_statement": resource_limit_statement(engine, version),
        "authentication_plugin": authentication_plugin(engine, version),
        "performance_schema_config": performance_schema_needs_config(engine, settings.get("performance_schema", "")),
        "performance_schema_on": is_on(settings.get("performance_schema", "")),
        "service": "mariadb" if engine == "mariadb" else "mysql",
    }


def mysql_account_host(connection):
    """Return the host part of the datadog account for a connection method ('socket' or 'tcp')."""
    if connection not in ACCOUNT_HOSTS:
        raise AnsibleFilterError(
            "invalid mysql_datadog_connection %r: use 'socket' or 'tcp'" % (connection,)
        )
    return ACCOUNT_HOSTS[connection]


def mysql_integration_config(connection, user, password, socket_path="", port=3306, options=None, tags=None):
    """Build the Datadog mysql check config (conf.d/mysql.d/conf.yaml) as data.

    The connection method decides both the keys here and the account host part, so the check always
    logs in as the account the role created.
    """
    mysql_account_host(connection)
    if not isinstance(password, string_types) or not password:
        raise AnsibleFilterError("the datadog account password is missing: set mysql_datadog_password or leave it empty to generate one")
    instance = {}
    if connection == "socket":
        if not socket_path:
            raise AnsibleFilterError("mysql_socket is empty: set it to the server's socket path, for example /run/mysqld/mysqld.sock")
        instance["sock"] = socket_path
    else:
        instance["host"] = TCP_HOST
        instance["port"] = int(port)
    instance["username"] = user
    # The current integration reads 'password' and ignores the old 'pass' key.
    instance["password"] = password
    instance["options"] = dict((name, bool((options or {}).get(name, False))) for name in INTEGRATION_OPTIONS)
    if tags:
        instance["tags"] = list(tags)
    return {"init_config": {}, "instances": [instance]}


def parse_grants(lines):
    """Parse SHOW GRANTS rows into {'db.table': set of privileges}, without quotes around names.

    USAGE is dropped because it means "no privilege". A row with WITH GRANT OPTION adds 'GRANT OPTION'.
    """
    grants = {}
    pattern = re.compile(r"^GRANT (.+?) ON (\S+) TO ")
    for line in lines:
        match = pattern.match(line)
        if match is None:
            continue
        target = match.group(2).replace("`", "")
        names = set(name.strip().upper() for name in match.group(1).split(","))
        names.discard("USAGE")
        if "WITH GRANT OPTION" in line:
            names.add("GRANT OPTION")
        if names:
            grants.setdefault(target, set()).update(names)
    return grants


def grant_differences(actual, expected):
    """Compare parsed grants with the intended privileges and return one message per difference."""
    differences = []
    intended = dict((target, set(names)) for target, names in expected.items())
    for target in sorted(set(actual) | set(intended)):
        missing = intended.get(target, set()) - actual.get(target, set())
        extra = actual.get(target, set()) - intended.get(target, set())
        if missing:
            differences.append("missing on %s: %s" % (target, ", ".join(sorted(missing))))
        if extra:
            differences.append("not intended on %s: %s" % (target, ", ".join(sorted(extra))))
    return differences


class FilterModule(object):
    """MySQL engine decision filters."""

    def filters(self):
        return {
            "mysql_engine_plan": mysql_engine_plan,
            "mysql_account_host": mysql_account_host,
            "mysql_integration_config": mysql_integration_config,
        }
