# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the flask_apm role: pinned package sets per Python and trace intake checks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError


# Tested package sets. The Python range of a row comes from the Requires-Python metadata of every
# pinned release. Python 3.6 needs ddtrace 1.x with protobuf < 4 and cattrs < 1.1, because newer
# releases of both dropped 3.6 and make the tracer crash there.
# NOTE: each set was installed and served a traced request on Python 3.6.15, 3.8.18 and 3.11.7 only;
# 3.9, 3.10, 3.12 and 3.13 rely on the packages' metadata.
PACKAGE_SETS = (
    {
        "python_min": (3, 6),
        "python_max": (3, 6),
        "pip": "21.3.1",
        "ddtrace": "1.20.19",
        "packages": (
            ("Flask", "2.0.3"),
            ("Werkzeug", "2.0.3"),
            ("Jinja2", "3.0.3"),
            ("itsdangerous", "2.0.1"),
            ("click", "8.0.4"),
            ("MarkupSafe", "2.0.1"),
            ("gunicorn", "21.2.0"),
            ("protobuf", "3.19.6"),
            ("cattrs", "1.0.0"),
            ("attrs", "22.2.0"),
            ("bytecode", "0.13.0"),
        ),
    },
    {
        "python_min": (3, 8),
        "python_max": (3, 8),
        "pip": "24.2",
        "ddtrace": "3.19.9",
        "packages": (
            ("Flask", "3.0.3"),
            ("Werkzeug", "3.0.6"),
            ("gunicorn", "23.0.0"),
            ("bytecode", "0.16.2"),
            ("wrapt", "2.0.1"),
            ("envier", "0.6.1"),
        ),
    },
    {
        "python_min": (3, 9),
        "python_max": (3, 13),
        "pip": "25.3",
        "ddtrace": "4.16.0",
        "packages": (
            ("Flask", "3.1.3"),
            ("Werkzeug", "3.1.9"),
            ("gunicorn", "23.0.0"),
            ("bytecode", "0.19.1"),
            ("wrapt", "2.5.2"),
            ("envier", "0.6.1"),
        ),
    },
)

# Python versions accepted for each ddtrace major series. The lower bounds come from Requires-Python
# (1.20.19: >=2.7, 2.21.12: >=3.7, 3.19.9: >=3.8, 4.16.0: >=3.9,<3.15).
# NOTE: the upper bounds of series 1 to 3 are estimates and were not installed.
DDTRACE_PYTHON_RANGES = {
    1: ((3, 6), (3, 12)),
    2: ((3, 7), (3, 13)),
    3: ((3, 8), (3, 13)),
    4: ((3, 9), (3, 14)),
}

# Datadog Agent ports that are not the trace intake. 5001 is the agent's HTTPS command
# API: a tracer sending plain HTTP there fills the agent log with TLS handshake errors.
AGENT_NON_TRACE_PORTS = {
    5000: "the agent's expvar port",
    5001: "the agent's HTTPS command API port",
    5002: "the agent's GUI port",
    5012: "the trace-agent's debug port",
    8125: "the DogStatsD port (UDP metrics)",
}

URL_SCHEMES = ("http", "https", "unix", "tcp", "udp")
HOSTNAME_PATTERN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
IPV4_PATTERN = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)(\.\d+)?([a-z0-9.+-]*)$")


def _parse_python_version(value):
    match = re.match(r"^\s*(\d+)\.(\d+)", str(value))
    if not match:
        raise AnsibleFilterError(
            "invalid Python version %r: expected MAJOR.MINOR such as '3.11'" % (value,)
        )
    return int(match.group(1)), int(match.group(2))


def _format_version(version):
    return "%d.%d" % version


def _find_package_set(python):
    for row in PACKAGE_SETS:
        if row["python_min"] <= python <= row["python_max"]:
            return row
    supported = ", ".join(
        _format_version(row["python_min"])
        if row["python_min"] == row["python_max"]
        else "%s-%s" % (_format_version(row["python_min"]), _format_version(row["python_max"]))
        for row in PACKAGE_SETS
    )
    raise AnsibleFilterError(
        "no tested Flask/gunicorn/ddtrace set for Python %s (supported: %s). "
        "Set flask_apm_python to a supported interpreter, for example python3.8 on Ubuntu 18.04"
        % (_format_version(python), supported)
    )


def _check_ddtrace_version(ddtrace_version, python):
    match = VERSION_PATTERN.match(ddtrace_version)
    if not match:
        raise AnsibleFilterError(
            "invalid flask_apm_ddtrace_version %r: expected a release such as '4.16.0'" % (ddtrace_version,)
        )
    major = int(match.group(1))
    if major not in DDTRACE_PYTHON_RANGES:
        raise AnsibleFilterError(
            "flask_apm_ddtrace_version %s is not supported by this role: use a 1.x to 4.x release"
            % ddtrace_version
        )
    lowest, highest = DDTRACE_PYTHON_RANGES[major]
    if not lowest <= python <= highest:
        raise AnsibleFilterError(
            "flask_apm_ddtrace_version %s does not support Python %s (ddtrace %d.x supports %s to %s): "
            "leave flask_apm_ddtrace_version empty to use the tested release for this Python"
            % (ddtrace_version, _format_version(python), major, _format_version(lowest), _format_version(highest))
        )


def flask_apm_requirements(python_version, ddtrace_version=""):
    """Return the pinned requirement lines for PYTHON_VERSION, or raise when no set fits."""
    python = _parse_python_version(python_version)
    row = _find_package_set(python)
    ddtrace_version = (ddtrace_version or "").strip()
    if ddtrace_version:
        _check_ddtrace_version(ddtrace_version, python)
    else:
        ddtrace_version = row["ddtrace"]
    requirements = ["ddtrace==%s" % ddtrace_version]
    requirements.extend("%s==%s" % package for package in row["packages"])
    return requirements


def flask_apm_pip_version(python_version):
    """Return the pip release that the role installs into the virtual environment."""
    return _find_package_set(_parse_python_version(python_version))["pip"]


def _check_port(port, field, app_port):
    if port == app_port:
        raise AnsibleFilterError(
            "invalid %s: port %d is the Flask service's own port (flask_apm_port), not the trace intake; "
            "use the trace-agent port, normally 8126" % (field, port)
        )
    if port in AGENT_NON_TRACE_PORTS:
        raise AnsibleFilterError(
            "invalid %s: port %d is %s, not the trace intake; use the trace-agent port, normally 8126"
            % (field, port, AGENT_NON_TRACE_PORTS[port])
        )


def _check_host(host, field):
    if not host:
        raise AnsibleFilterError("invalid %s: the host is missing; use for example 127.0.0.1" % field)
    if "://" in host or host.lower() in URL_SCHEMES:
        raise AnsibleFilterError(
            "invalid %s %r: a host value must not contain a URL scheme; "
            "give the bare host such as 127.0.0.1" % (field, host)
        )
    if host.startswith("[") and host.endswith("]"):
        return
    if ":" in host:
        raise AnsibleFilterError(
            "invalid %s %r: a host value must not contain a port; set the port separately" % (field, host)
        )
    if IPV4_PATTERN.match(host):
        if any(int(part) > 255 for part in host.split(".")):
            raise AnsibleFilterError("invalid %s %r: not an IPv4 address" % (field, host))
        return
    if not HOSTNAME_PATTERN.match(host):
        raise AnsibleFilterError("invalid %s %r: not a host name or IP address" % (field, host))


def flask_apm_trace_agent_url(url, app_port, field="flask_apm_trace_agent_url"):
    """Return URL when it points a tracer at a trace intake, or raise with the fix."""
    if not isinstance(url, str) or not url.strip():
        raise AnsibleFilterError("invalid %s: the URL is empty; use http://127.0.0.1:8126" % field)
    url = url.strip()

    if "://" in url.partition("://")[2]:
        raise AnsibleFilterError(
            "invalid %s %r: the host part contains a second URL scheme; use http://HOST:PORT such as "
            "http://127.0.0.1:8126" % (field, url)
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        raise AnsibleFilterError(
            "invalid %s %r: the trace intake speaks plain HTTP, not HTTPS; use http://HOST:8126" % (field, url)
        )
    if scheme == "unix":
        if not parts.path.startswith("/") or parts.netloc:
            raise AnsibleFilterError(
                "invalid %s %r: a Unix socket URL needs an absolute path, such as "
                "unix:///var/run/datadog/apm.socket" % (field, url)
            )
        return url

    if scheme != "http":
        raise AnsibleFilterError(
            "invalid %s %r: use an http:// URL such as http://127.0.0.1:8126, or unix:///PATH" % (field, url)
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise AnsibleFilterError(
            "invalid %s %r: remove credentials, query and fragment; use http://HOST:PORT" % (field, url)
        )
    if parts.path not in ("", "/"):
        raise AnsibleFilterError(
            "invalid %s %r: the URL must not have a path; use http://HOST:PORT" % (field, url)
        )

    host = parts.hostname or ""
    if parts.netloc.startswith("["):
        host = "[%s]" % host
    _check_host(host, field)

    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        raise AnsibleFilterError(
            "invalid %s %r: the port is missing; add the trace-agent port, normally :8126" % (field, url)
        )
    if not 1 <= port <= 65535:
        raise AnsibleFilterError("invalid %s %r: the port must be 1-65535" % (field, url))
    _check_port(port, field, int(app_port))
    return url


def flask_apm_tracer_env_errors(env, app_port, field="flask_apm_extra_env"):
    """Return a list of messages for tracer variables in ENV that would lose traces."""
    errors = []
    if not isinstance(env, dict):
        return ["%s must be a mapping of variable names to values" % field]
    for name, value in env.items():
        text = str(value).strip()
        if name == "DD_TRACE_ENABLED" and text.lower() in ("false", "0", "no", "off", "n", "f"):
            errors.append("%s sets DD_TRACE_ENABLED=%s, which turns tracing off; remove it" % (field, text))
        elif name in ("FLASK_DEBUG", "FLASK_ENV") and text.lower() in ("1", "true", "yes", "on", "development"):
            errors.append(
                "%s sets %s=%s: debug mode and its reloader stop traces; remove it" % (field, name, text)
            )
        elif name in ("DD_TRACE_AGENT_URL", "DD_SERVICE", "DD_ENV", "DD_VERSION", "DD_LOGS_INJECTION"):
            errors.append("%s sets %s: use the matching flask_apm_* variable instead" % (field, name))
        elif name == "DD_AGENT_HOST":
            try:
                _check_host(text, "DD_AGENT_HOST in %s" % field)
            except AnsibleFilterError as exc:
                errors.append(str(exc))
        elif name == "DD_TRACE_AGENT_PORT":
            if not text.isdigit():
                errors.append("invalid DD_TRACE_AGENT_PORT %r in %s: use a port number" % (text, field))
                continue
            try:
                _check_port(int(text), "DD_TRACE_AGENT_PORT in %s" % field, int(app_port))
            except AnsibleFilterError as exc:
                errors.append(str(exc))
    return errors


class FilterModule(object):
    """Filters of the flask_apm role."""

    def filters(self):
        return {
            "flask_apm_requirements": flask_apm_requirements,
            "flask_apm_pip_version": flask_apm_pip_version,
            "flask_apm_trace_agent_url": flask_apm_trace_agent_url,
            "flask_apm_tracer_env_errors": flask_apm_tracer_env_errors,
        }
