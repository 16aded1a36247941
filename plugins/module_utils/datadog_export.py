# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML rendering of exported resources, ready to paste into inventory variables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False


class _TemplateText(str):
    """A string that Ansible would template, written with the !unsafe tag."""


def _tag_templates(value):
    if isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value):
        return _TemplateText(value)
    if isinstance(value, list):
        return [_tag_templates(v) for v in value]
    if isinstance(value, dict):
        return dict((k, _tag_templates(v)) for k, v in value.items())
    return value


def to_yaml(exported):
    """Return ``exported`` as YAML (JSON when PyYAML is missing, which is also valid YAML)."""
    if not HAS_YAML:
        return json.dumps(exported, indent=2, sort_keys=True)

    class Dumper(yaml.SafeDumper):
        pass

    def represent_template(dumper, data):
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("!unsafe", str(data), style=style)

    Dumper.add_representer(_TemplateText, represent_template)
    return yaml.dump(_tag_templates(exported), Dumper=Dumper, default_flow_style=False, sort_keys=True,
                     allow_unicode=True, width=120)
