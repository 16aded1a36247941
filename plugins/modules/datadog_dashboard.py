#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: datadog_dashboard
short_description: Manage a Datadog dashboard found by its ownership key
version_added: 0.1.0
description:
  - Creates, updates (full replacement) or deletes one Datadog dashboard (API v1), in V(ordered) or V(free) layout.
  - Dashboard titles are not unique and dashboard tags accept only C(team:*) values, so the module keeps its
    ownership marker as a last line C([ansible-id:<key>]) in the description and finds the dashboard by it.
  - The comparison ignores read-only and server-filled fields (ids, widget ids, author, timestamps, url,
    empty defaults) and keeps widget order significant.
  - Dashboard JSON exported from the Datadog UI can be passed unchanged in O(definition).
extends_documentation_fragment:
  - ddpoc.observability.datadog
  - ddpoc.observability.datadog.attributes
options:
  key:
    description: Ownership key of the dashboard. Required unless O(id) is given.
    type: str
  id:
    description: Id of an existing dashboard, such as V(abc-def-ghi); skips the lookup by key.
    type: str
  state:
    description: Whether the dashboard should exist.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - A whole dashboard document, as a mapping or as JSON text (for example the UI's "Export dashboard JSON").
      - Read-only fields in it (id, url, author, timestamps) are dropped. The other options override its fields.
    type: raw
  title:
    description: Dashboard title.
    type: str
  layout_type:
    description: V(ordered) (the former timeboard) or V(free) (the former screenboard, every widget needs C(layout)).
    type: str
    choices: [ordered, free]
  widgets:
    description: Widgets in display order, as the API takes them.
    type: list
    elements: dict
  description:
    description: Dashboard description (Markdown). The marker line is appended by the module.
    type: str
  template_variables:
    description: Template variables.
    type: list
    elements: dict
  template_variable_presets:
    description: Saved views of template variable values.
    type: list
    elements: dict
  notify_list:
    description: Handles notified when the dashboard changes.
    type: list
    elements: str
  reflow_type:
    description: Reflow type of an ordered layout.
    type: str
    choices: [auto, fixed]
  tags:
    description: Team tags, at most 5, each C(team:<name>).
    type: list
    elements: str
  shared:
    description:
      - V(true) shares the dashboard by public link (open to anyone with the URL, global time 1 hour);
        V(false) deletes that link. When not set, an existing link is left as it is.
      - The link's token is kept in a description line C([ansible-share:<token>]) before the key marker, so
        the next run finds the link again with one read.
    type: bool
  adopt_by_name:
    description:
      - When no dashboard carries the key, adopt the one unmarked dashboard with exactly this title.
      - The module fails, listing the ids, when more than one unmarked dashboard has the title.
    type: bool
    default: false
seealso:
  - module: ddpoc.observability.datadog_resources
author:
  - ddpoc maintainers (@ddpoc)
"""

EXAMPLES = r"""
- name: Manage the my_metric timeboard
  ddpoc.observability.datadog_dashboard:
    key: poc-timeboard
    title: My metric
    layout_type: ordered
    widgets:
      - definition:
          type: timeseries
          title: my_metric
          requests:
            - q: my_metric{host:web-1}
    site: datadoghq.eu

- name: Import a dashboard exported from the UI
  ddpoc.observability.datadog_dashboard:
    key: team-overview
    definition: "{{ lookup('ansible.builtin.file', 'dashboards/overview.json') }}"
"""

RETURN = r"""
action:
  description: What the module did or, in check mode, would do.
  returned: always
  type: str
  sample: unchanged
id:
  description: Dashboard id; null when a dashboard would be created in check mode.
  returned: always
  type: str
  sample: abc-def-ghi
key:
  description: Ownership key of the dashboard.
  returned: always
  type: str
  sample: poc-timeboard
public_url:
  description: URL of the dashboard's public link.
  returned: when O(shared=true)
  type: str
url:
  description: Path of the dashboard in the Datadog app.
  returned: when the dashboard exists
  type: str
  sample: /dashboard/abc-def-ghi/my-metric
changed_fields:
  description: Top-level fields that differ between the current and the desired dashboard.
  returned: always
  type: list
  elements: str
dashboard:
  description: The normalised desired dashboard, as compared; null for O(state=absent).
  returned: always
  type: dict
api_calls:
  description: Number of API requests, retries, and requests per HTTP method.
  returned: always
  type: dict
diff:
  description: Normalised before and after documents, keyed by C(dashboard/<key>).
  returned: in diff mode, when something changes
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import auth_argument_spec
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_module import run_engine, single_result

FIELDS = ("key", "id", "state", "definition", "title", "layout_type", "widgets", "description",
          "template_variables", "template_variable_presets", "notify_list", "reflow_type", "tags", "adopt_by_name",
          "shared")


def main():
    argument_spec = auth_argument_spec()
    argument_spec.update(
        key=dict(type="str", no_log=False),
        id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        definition=dict(type="raw"),
        title=dict(type="str"),
        layout_type=dict(type="str", choices=["ordered", "free"]),
        widgets=dict(type="list", elements="dict"),
        description=dict(type="str"),
        template_variables=dict(type="list", elements="dict"),
        template_variable_presets=dict(type="list", elements="dict"),
        notify_list=dict(type="list", elements="str"),
        reflow_type=dict(type="str", choices=["auto", "fixed"]),
        tags=dict(type="list", elements="str"),
        shared=dict(type="bool"),
        adopt_by_name=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("key", "id")],
        required_if=[("state", "present", ("key",))],
    )
    spec = dict((field, module.params[field]) for field in FIELDS if module.params[field] is not None)
    engine, client, actions, rows, diff, counts, changed = run_engine(module, {"dashboards": [spec]})
    module.exit_json(**single_result(module, client, actions, rows, diff, changed, "dashboard"))


if __name__ == "__main__":
    main()
