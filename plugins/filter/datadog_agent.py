# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that validate and normalise Datadog Agent settings before they reach datadog.yaml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import sys

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.six import string_types
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_sites import site_error

# Datadog tag rules: a tag starts with a letter, contains letters, digits, '_', '-', ':', '.', '/',
# and is at most 200 characters long. The intake rewrites other characters to '_', so such tags are
# rejected here instead of changing silently.
TAG_MAX_LENGTH = 200
TAG_KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]*$")
TAG_VALUE_PATTERN = re.compile(r"^[A-Za-z0-9_.\-/:]+$")

# Agent 5 (datadog.conf) settings and their Agent 6/7 datadog.yaml replacements.
AGENT5_KEYS = {
    "apm_enabled": "apm_config.enabled",
    "process_agent_enabled": "process_config.process_collection.enabled",
    "non_local_traffic": "dogstatsd_non_local_traffic and apm_config.apm_non_local_traffic",
    "dd_url_apm": "apm_config.apm_dd_url",
    "listen_port": "nothing: Agent 7 has no forwarder port",
}

# datadog.yaml keys that the agent role sets from its own variables.
ROLE_OWNED_KEYS = {
    "api_key": "agent_api_key",
    "site": "agent_site",
    "tags": "agent_host_tags",
}


# The agent imports a custom check as a top-level module named after its file, so the name must be a
# Python identifier. Lowercase keeps checks.d and conf.d names unambiguous on every filesystem.
CHECK_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
CHECK_NAME_MAX_LENGTH = 64


def _split_tag(tag):
    """Split a tag string into key and value, removing the space after a YAML-style 'key: value'."""
    text = tag.strip()
    if ":" not in text:
        raise AnsibleFilterError(
            "invalid host tag %r: a tag must be written as 'key:value' (for example 'team:observability')" % tag
        )
    key, value = text.split(":", 1)
    return key.strip(), value.strip()


def _format_tag(key, value, original):
    if not key or not value:
        raise AnsibleFilterError(
            "invalid host tag %r: both the key and the value must be non-empty, as in 'team:observability'" % (original,)
        )
    if not TAG_KEY_PATTERN.match(key):
        raise AnsibleFilterError(
            "invalid host tag %r: the key %r must start with a letter and contain only letters, digits, "
            "'_', '-', '.' or '/'" % (original, key)
        )
    if not TAG_VALUE_PATTERN.match(value):
        raise AnsibleFilterError(
            "invalid host tag %r: the value %r may contain only letters, digits, '_', '-', '.', '/' or ':' "
            "(replace spaces with '_')" % (original, value)
        )
    tag = "%s:%s" % (key, value)
    if len(tag) > TAG_MAX_LENGTH:
        raise AnsibleFilterError(
            "invalid host tag %r: it has %d characters, Datadog accepts at most %d" % (original, len(tag), TAG_MAX_LENGTH)
        )
    return tag


def _tags_from_mapping(tags):
    result = []
    for key, value in tags.items():
        original = {key: value}
        if not isinstance(key, string_types):
            raise AnsibleFilterError("invalid host tag %r: the key must be a string" % (original,))
        # bool is a subclass of int, so test it first: YAML turns an unquoted yes/no/true into a bool.
        if isinstance(value, bool) or value is None:
            raise AnsibleFilterError(
                "invalid host tag %r: the value must be a string or a number; quote it, as in %s: \"%s\""
                % (original, key, str(value).lower() if value is not None else "value")
            )
        if not isinstance(value, string_types + (int, float)):
            raise AnsibleFilterError(
                "invalid host tag %r: the value must be a string or a number, not %s; write one tag per key"
                % (original, type(value).__name__)
            )
        result.append(_format_tag(key.strip(), str(value).strip(), original))
    return result


def _tags_from_list(tags):
    result = []
    for tag in tags:
        if isinstance(tag, dict):
            raise AnsibleFilterError(
                "invalid host tag %r: a list item must be a 'key:value' string, but YAML read '- key: value' "
                "as a mapping; write it as - \"key:value\" without the space" % (tag,)
            )
        if not isinstance(tag, string_types):
            raise AnsibleFilterError(
                "invalid host tag %r: a list item must be a 'key:value' string, not %s" % (tag, type(tag).__name__)
            )
        key, value = _split_tag(tag)
        result.append(_format_tag(key, value, tag))
    return result


def datadog_host_tags(tags):
    """Normalise host tags (a list of strings or a mapping) to a list of unique 'key:value' strings."""
    if tags is None:
        return []
    if isinstance(tags, dict):
        normalised = _tags_from_mapping(tags)
    elif is_sequence(tags):
        normalised = _tags_from_list(tags)
    else:
        raise AnsibleFilterError(
            "invalid host tags %r: use a list of 'key:value' strings or a mapping of key to value, not %s"
            % (tags, type(tags).__name__)
        )

    unique = []
    for tag in normalised:
        if tag not in unique:
            unique.append(tag)
    return unique


def datadog_site(site):
    """Return SITE unchanged when it is a known Datadog site name, else raise with the accepted names."""
    if not isinstance(site, string_types):
        raise AnsibleFilterError("invalid Datadog site %r: it must be a string such as 'datadoghq.eu'" % (site,))
    message = site_error(site)
    if message:
        raise AnsibleFilterError(message)
    return site


def datadog_agent_extra_config(config):
    """Return CONFIG unchanged when it contains no Agent 5 keys and no keys owned by role variables."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise AnsibleFilterError(
            "invalid agent_config %r: it must be a mapping of datadog.yaml settings" % (type(config).__name__,)
        )
    for key in config:
        if key in AGENT5_KEYS:
            raise AnsibleFilterError(
                "agent_config contains the Agent 5 setting %r, which Agent 7 ignores; use %s instead"
                % (key, AGENT5_KEYS[key])
            )
        if key in ROLE_OWNED_KEYS:
            raise AnsibleFilterError(
                "agent_config must not set %r: set the role variable %s instead" % (key, ROLE_OWNED_KEYS[key])
            )
    return config


def datadog_custom_check_name(name, denied_names=()):
    """Return NAME when it can name a custom check, else raise with the reason and the fix.

    A custom check that shares its name with an integration bundled with the agent, or with a module
    importable in the agent's embedded Python, is shadowed by it or breaks its imports. DENIED_NAMES lists
    those names, and the Python standard library module names of the running interpreter are added to them.
    """
    if not isinstance(name, string_types) or not CHECK_NAME_PATTERN.match(name):
        raise AnsibleFilterError(
            "invalid custom check name %r: use lowercase letters, digits and underscores, starting with a letter "
            "(for example 'custom_queue_depth')" % (name,)
        )
    if len(name) > CHECK_NAME_MAX_LENGTH:
        raise AnsibleFilterError(
            "invalid custom check name %r: it has %d characters, use at most %d" % (name, len(name), CHECK_NAME_MAX_LENGTH)
        )
    stdlib_names = getattr(sys, "stdlib_module_names", frozenset())
    if name in set(denied_names or ()) or name in stdlib_names or name.startswith("datadog"):
        raise AnsibleFilterError(
            "invalid custom check name %r: an integration bundled with the Datadog Agent or a module in its "
            "embedded Python already uses that name and would shadow the check; prefix it, as in 'custom_%s'"
            % (name, name)
        )
    return name


CHECK_KEYS = ("name", "source", "template", "instances", "init_config", "state")


def _validate_instances(name, instances):
    if not isinstance(instances, list) or not instances:
        raise AnsibleFilterError(
            "custom check %r: instances must be a non-empty list of mappings, as in instances: [{min_collection_interval: 45}]"
            % (name,)
        )
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise AnsibleFilterError(
                "custom check %r: instances[%d] must be a mapping, not %s" % (name, index, type(instance).__name__)
            )
        if "min_collection_interval" not in instance:
            continue
        interval = instance["min_collection_interval"]
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise AnsibleFilterError(
                "custom check %r: instances[%d].min_collection_interval must be a whole number of seconds of at "
                "least 1, written without quotes, not %r" % (name, index, interval)
            )


def _validate_check(check, denied_names):
    if not isinstance(check, dict):
        raise AnsibleFilterError("custom_check_checks items must be mappings, not %s" % (type(check).__name__,))
    if "name" not in check:
        raise AnsibleFilterError("custom_check_checks item %r has no name" % (check,))
    name = datadog_custom_check_name(check["name"], denied_names)

    unknown = sorted(set(check) - set(CHECK_KEYS))
    if unknown:
        raise AnsibleFilterError(
            "custom check %r: unknown keys %s; the accepted keys are %s" % (name, ", ".join(unknown), ", ".join(CHECK_KEYS))
        )
    state = check.get("state", "present")
    if state not in ("present", "absent"):
        raise AnsibleFilterError("custom check %r: state must be 'present' or 'absent', not %r" % (name, state))
    if state == "absent":
        return {"name": name, "state": "absent"}

    if ("source" in check) == ("template" in check):
        raise AnsibleFilterError(
            "custom check %r: set exactly one of source (a Python file copied as is) or template (a Jinja2 template)"
            % (name,)
        )
    init_config = check.get("init_config") or {}
    if not isinstance(init_config, dict):
        raise AnsibleFilterError("custom check %r: init_config must be a mapping" % (name,))
    # Agent 5 read the interval from init_config; Agent 6 and 7 read it only from each instance.
    if "min_collection_interval" in init_config:
        raise AnsibleFilterError(
            "custom check %r: min_collection_interval in init_config is ignored by Agent 7; set it on each instance"
            % (name,)
        )
    _validate_instances(name, check.get("instances"))

    normalised = {"name": name, "state": "present", "init_config": init_config, "instances": check["instances"]}
    for key in ("source", "template"):
        if key in check:
            normalised[key] = check[key]
    return normalised


def datadog_custom_checks(checks, denied_names=()):
    """Validate custom check definitions and return them with init_config and state filled in."""
    if not isinstance(checks, list):
        raise AnsibleFilterError("custom_check_checks must be a list of mappings, not %s" % (type(checks).__name__,))
    result = []
    seen = set()
    for check in checks:
        normalised = _validate_check(check, denied_names)
        if normalised["name"] in seen:
            raise AnsibleFilterError(
                "custom check %r is listed twice in custom_check_checks; keep one entry" % (normalised["name"],)
            )
        seen.add(normalised["name"])
        result.append(normalised)
    return result


class FilterModule(object):
    """Datadog Agent setting filters."""

    def filters(self):
        return {
            "datadog_host_tags": datadog_host_tags,
            "datadog_site": datadog_site,
            "datadog_agent_extra_config": datadog_agent_extra_config,
            "datadog_custom_check_name": datadog_custom_check_name,
            "datadog_custom_checks": datadog_custom_checks,
        }
