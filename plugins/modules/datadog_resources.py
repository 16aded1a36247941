#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: datadog_resources
short_description: Sync a declared set of Datadog dashboards, monitors and downtimes, or export existing ones
version_added: 0.1.0
description:
  - With O(state=present), applies a whole declared set in one task. Each resource type is listed once
    (paged), every declared resource is found by its ownership key, and each dashboard that exists is read
    once for the comparison. Only resources that differ are written.
  - All request bodies are checked locally, and all new or changed monitors are validated by the API,
    before the first write.
  - With O(prune), marked resources whose key is not declared are deleted (downtimes are cancelled).
    Resources without the marker are never deleted.
  - With O(state=export), returns the existing resources, including ones made in the UI, as entries ready to
    paste into O(dashboards), O(monitors) and O(downtimes). Unmarked ones carry their C(id) so the
    first run adopts them and writes the marker.
  - Entries take the same fields as M(ddpoc.observability.datadog_dashboard),
    M(ddpoc.observability.datadog_monitor) and M(ddpoc.observability.datadog_downtime).
extends_documentation_fragment:
  - ddpoc.observability.datadog
  - ddpoc.observability.datadog.attributes
options:
  state:
    description: V(present) applies the declared set; V(export) only reads and returns existing resources.
    type: str
    choices: [present, export]
    default: present
  dashboards:
    description:
      - Declared dashboards. Each needs C(key); C(state=absent) deletes it.
      - C(shared=true) shares a dashboard by public link and C(shared=false) removes the link.
    type: list
    elements: dict
    default: []
  monitors:
    description: Declared monitors. Each needs C(key); C(state=absent) deletes it.
    type: list
    elements: dict
    default: []
  downtimes:
    description: Declared downtimes. Each needs C(key); C(state=absent) cancels it.
    type: list
    elements: dict
    default: []
  prune:
    description:
      - V(true) deletes marked resources of every type whose key is not declared.
      - A list such as V([monitors]) limits pruning to those types.
      - V(false) deletes only entries declared with C(state=absent).
    type: raw
    default: false
  parallel:
    description: Number of concurrent API requests during validation and writes.
    type: int
    default: 4
  rewrite_brackets:
    description: Turn C([[) and C(]]) into C({{) and C(}}) in every monitor name and message and downtime message.
    type: bool
    default: false
  export_types:
    description: Resource types to export with O(state=export).
    type: list
    elements: str
    choices: [dashboards, monitors, downtimes]
    default: [dashboards, monitors, downtimes]
  export_only_unmarked:
    description: Export only resources that carry no ownership marker, for example ones made in the UI.
    type: bool
    default: false
notes:
  - Two declared sets in one organisation must not both use O(prune); each would delete the other's resources.
seealso:
  - module: ddpoc.observability.datadog_monitor
  - module: ddpoc.observability.datadog_dashboard
  - module: ddpoc.observability.datadog_downtime
author:
  - ddpoc maintainers (@ddpoc)
"""

EXAMPLES = r"""
- name: Apply the declared Datadog resources
  ddpoc.observability.datadog_resources:
    monitors: "{{ datadog_resources_monitors }}"
    dashboards: "{{ datadog_resources_dashboards }}"
    downtimes: "{{ datadog_resources_downtimes }}"
    prune: [monitors]
    site: datadoghq.eu
  register: __datadog_resources_result

- name: Export everything made in the UI
  ddpoc.observability.datadog_resources:
    state: export
    export_only_unmarked: true
  register: __datadog_resources_export

- name: Write the export next to the inventory
  ansible.builtin.copy:
    content: "{{ __datadog_resources_export.exported_yaml }}"
    dest: exported-datadog-resources.yml
    mode: "0644"
"""

RETURN = r"""
results:
  description: One row per declared or pruned resource.
  returned: with O(state=present)
  type: list
  elements: dict
  contains:
    kind:
      description: V(dashboard), V(monitor) or V(downtime).
      type: str
    key:
      description: Ownership key.
      type: str
    id:
      description: Object id; null when the object would be created in check mode.
      type: raw
    title:
      description: Dashboard title, monitor name or downtime scope.
      type: str
    action:
      description: V(created), V(updated), V(deleted) or V(unchanged); in check mode what would happen.
      type: str
    changed_fields:
      description: Top-level fields that differ.
      type: list
      elements: str
    pruned:
      description: Whether the row is a deletion by O(prune).
      type: bool
    recovered:
      description: Whether a create whose response was lost was found again by its key instead of resent.
      type: bool
    url:
      description: Dashboard path in the Datadog app.
      type: str
      returned: for dashboards
    public_url:
      description: URL of the dashboard's public link.
      type: str
      returned: for dashboards with C(shared=true)
counts:
  description: Number of resources per action.
  returned: with O(state=present)
  type: dict
  sample: {created: 0, updated: 1, deleted: 0, unchanged: 269}
exported:
  description: Existing resources as declared entries, keyed by type.
  returned: with O(state=export)
  type: dict
exported_yaml:
  description: RV(exported) as YAML, with template strings tagged C(!unsafe) so they paste into inventory unchanged.
  returned: with O(state=export)
  type: str
api_calls:
  description: Number of API requests, retries, and requests per HTTP method.
  returned: always
  type: dict
  sample: {calls: 53, retries: 0, by_method: {GET: 53}}
diff:
  description:
    - Normalised before and after documents of the resources that change, keyed by C(<kind>/<key>).
    - Returned also without diff mode, so a caller that hides the task output can still show it.
  returned: with O(state=present)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import (
    DatadogAPIError,
    auth_argument_spec,
    client_from_module,
)
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_export import to_yaml
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_module import run_engine
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_resource import (
    PlanError,
    rewrite_brackets,
)
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_sync import Engine

TYPES = ("dashboards", "monitors", "downtimes")


def prune_setting(module):
    value = module.params["prune"]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "false", "no"):
        return value.lower() in ("true", "yes")
    if isinstance(value, list) and all(v in TYPES for v in value):
        return list(value)
    module.fail_json(msg="invalid prune=%r: give true, false or a list of %s" % (value, ", ".join(TYPES)))


def declared_set(module):
    declared = dict((name, [dict(e) for e in module.params[name]]) for name in TYPES)
    if module.params["rewrite_brackets"]:
        for entry in declared["monitors"]:
            for field in ("name", "message"):
                if field in entry:
                    entry[field] = rewrite_brackets(entry[field])
        for entry in declared["downtimes"]:
            if "message" in entry:
                entry["message"] = rewrite_brackets(entry["message"])
    return declared


def export(module):
    client = client_from_module(module)
    engine = Engine(client, check_mode=True, parallel=module.params["parallel"])
    try:
        exported = engine.export(module.params["export_types"], module.params["export_only_unmarked"])
    except (DatadogAPIError, PlanError) as exc:
        module.fail_json(msg=str(exc), api_calls=client.stats())
    module.exit_json(changed=False, exported=exported, exported_yaml=to_yaml(exported), api_calls=client.stats())


def main():
    argument_spec = auth_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["present", "export"], default="present"),
        dashboards=dict(type="list", elements="dict", default=[]),
        monitors=dict(type="list", elements="dict", default=[]),
        downtimes=dict(type="list", elements="dict", default=[]),
        prune=dict(type="raw", default=False),
        parallel=dict(type="int", default=4),
        rewrite_brackets=dict(type="bool", default=False),
        export_types=dict(type="list", elements="str", choices=list(TYPES), default=list(TYPES)),
        export_only_unmarked=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not 1 <= module.params["parallel"] <= 32:
        module.fail_json(msg="invalid parallel=%s: give 1 to 32 concurrent requests" % module.params["parallel"])
    if module.params["state"] == "export":
        export(module)
    prune = prune_setting(module)
    engine, client, actions, rows, diff, counts, changed = run_engine(
        module, declared_set(module), prune=prune, parallel=module.params["parallel"])
    # The diff is returned even without --diff so a role can report it from a no_log task.
    result = dict(changed=changed, results=rows, counts=counts, api_calls=client.stats(), diff=diff)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
