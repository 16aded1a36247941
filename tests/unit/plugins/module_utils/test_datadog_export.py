# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import yaml

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_export import to_yaml


def test_template_strings_tagged_unsafe():
    exported = {"monitors": [{"key": "cpu", "message": "{{#is_alert}}{{value}}{{/is_alert}}", "name": "cpu"}]}
    text = to_yaml(exported)
    assert "!unsafe" in text
    assert "name: cpu" in text


class UnsafeLoader(yaml.SafeLoader):
    """A YAML loader that reads !unsafe scalars as plain strings, as Ansible's loader keeps their text."""


UnsafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def test_export_loads_back_unchanged():
    message = "{{#is_alert}}\n{{value}} on {{host.ip}}\n{{/is_alert}}"
    text = to_yaml({"monitors": [{"key": "cpu", "message": message}]})
    loaded = yaml.load(text, Loader=UnsafeLoader)
    assert loaded["monitors"][0]["message"] == message


def test_plain_strings_not_tagged():
    text = to_yaml({"dashboards": [{"key": "d", "title": "CPU"}]})
    assert "!unsafe" not in text
    assert yaml.safe_load(text) == {"dashboards": [{"key": "d", "title": "CPU"}]}
