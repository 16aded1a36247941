#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: datadog_monitor
short_description: Manage a Datadog monitor found by its ownership key
version_added: 0.1.0
description:
  - Creates, updates or deletes one Datadog monitor (API v1).
  - The monitor is found by the tags C(managed-by:ansible) and C(ansible-id:<key>), never by name alone.
    Give O(id) to manage a known monitor directly.
  - Every create or update is first checked with the API's validate call, also in check mode, so an invalid
    monitor fails before anything is written.
  - The module compares the normalised current monitor with the desired one and writes only when they differ.
    C(metric alert) and C(query alert) count as the same type, numbers compare by value, tags as a set,
    and C(no_data_timeframe) counts only when C(notify_no_data) is true.
  - To manage many monitors in one task with one listing, use M(ddpoc.observability.datadog_resources).
extends_documentation_fragment:
  - ddpoc.observability.datadog
  - ddpoc.observability.datadog.attributes
options:
  key:
    description:
      - Ownership key of the monitor, stored as the tag C(ansible-id:<key>).
      - Required unless O(id) is given.
    type: str
  id:
    description: Numeric id of an existing monitor; skips the lookup by key.
    type: int
  state:
    description: Whether the monitor should exist.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: Monitor name. Leading and trailing whitespace is removed, as the API does.
    type: str
  type:
    description: Monitor type, for example V(query alert) or V(metric alert).
    type: str
  query:
    description: Monitor query, for example V(avg(last_5m):avg:my_metric{host:web-1} > 800).
    type: str
  notification_message:
    description:
      - Notification message, sent as the monitor's C(message). Datadog template blocks such as C({{#is_alert}}) must reach the module
        untemplated, so mark the value C(!unsafe) in variables or use O(rewrite_brackets).
    type: str
  tags:
    description: Monitor tags. The two marker tags are added by the module.
    type: list
    elements: str
  priority:
    description: Priority from 1 (high) to 5 (low).
    type: int
  options:
    description: Monitor options as the API takes them, for example C(thresholds), C(notify_no_data).
    type: dict
  restricted_roles:
    description: Role UUIDs allowed to edit the monitor.
    type: list
    elements: str
  adopt_by_name:
    description:
      - When no monitor carries the key, adopt the one unmarked monitor with exactly this O(name).
      - The module fails, listing the ids, when more than one unmarked monitor has the name.
    type: bool
    default: false
  rewrite_brackets:
    description: Turn C([[) and C(]]) into C({{) and C(}}) in O(name) and O(notification_message) before sending.
    type: bool
    default: false
notes:
  - Fields not given are not compared. The update sends the whole desired document, but the API does not
    reliably clear an option that is left out. Set it to its neutral value to clear it.
seealso:
  - module: ddpoc.observability.datadog_resources
author:
  - ddpoc maintainers (@ddpoc)
"""

EXAMPLES = r"""
- name: Alert when my_metric is high on web-1
  ddpoc.observability.datadog_monitor:
    key: web-1-my-metric
    name: my_metric is high on web-1
    type: query alert
    query: avg(last_5m):avg:my_metric{host:web-1} > 800
    notification_message: !unsafe |
      {{#is_alert}}my_metric is {{value}} on {{host.ip}}.{{/is_alert}}
      {{#is_warning}}my_metric is rising.{{/is_warning}}
      {{#is_no_data}}No data for 10 minutes.{{/is_no_data}} @ops@example.com
    options:
      thresholds:
        critical: 800
        warning: 500
      notify_no_data: true
      no_data_timeframe: 10
    site: datadoghq.eu

- name: Remove the monitor
  ddpoc.observability.datadog_monitor:
    key: web-1-my-metric
    state: absent
"""

RETURN = r"""
action:
  description: What the module did or, in check mode, would do.
  returned: always
  type: str
  sample: created
id:
  description: Monitor id; null when a monitor would be created in check mode.
  returned: always
  type: int
  sample: 1234567
key:
  description: Ownership key of the monitor.
  returned: always
  type: str
  sample: web-1-my-metric
changed_fields:
  description: Top-level fields that differ between the current and the desired monitor.
  returned: always
  type: list
  elements: str
  sample: [options, query]
monitor:
  description: The normalised desired monitor, as compared; null for O(state=absent).
  returned: always
  type: dict
api_calls:
  description: Number of API requests, retries, and requests per HTTP method.
  returned: always
  type: dict
  sample: {calls: 2, retries: 0, by_method: {GET: 1, POST: 1}}
diff:
  description: Normalised before and after documents, keyed by C(monitor/<key>).
  returned: in diff mode, when something changes
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import auth_argument_spec
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_module import run_engine, single_result
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_resource import rewrite_brackets

FIELDS = ("key", "id", "state", "name", "type", "query", "tags", "priority", "options",
          "restricted_roles", "adopt_by_name")


def main():
    argument_spec = auth_argument_spec()
    argument_spec.update(
        key=dict(type="str", no_log=False),
        id=dict(type="int"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str"),
        type=dict(type="str"),
        query=dict(type="str"),
        notification_message=dict(type="str"),
        tags=dict(type="list", elements="str"),
        priority=dict(type="int"),
        options=dict(type="dict"),
        restricted_roles=dict(type="list", elements="str"),
        adopt_by_name=dict(type="bool", default=False),
        rewrite_brackets=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("key", "id")],
        required_if=[("state", "present", ("key", "name", "type", "query"))],
    )
    spec = dict((field, module.params[field]) for field in FIELDS if module.params[field] is not None)
    if module.params["notification_message"] is not None:
        spec["message"] = module.params["notification_message"]
    if module.params["rewrite_brackets"]:
        for field in ("name", "message"):
            if field in spec:
                spec[field] = rewrite_brackets(spec[field])
    engine, client, actions, rows, diff, counts, changed = run_engine(
        module, {"monitors": [spec]}, single_lookup=True)
    module.exit_json(**single_result(module, client, actions, rows, diff, changed, "monitor"))


if __name__ == "__main__":
    main()
