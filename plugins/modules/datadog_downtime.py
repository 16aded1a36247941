#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: datadog_downtime
short_description: Manage a Datadog downtime schedule (API v2) found by its ownership key
version_added: 0.1.0
description:
  - Creates, updates (PATCH of the changed attributes only) or cancels one Datadog downtime with the v2
    schedule model. The deprecated v1 downtime API is not used.
  - Downtimes have no name, so the module appends a marker line C([ansible-id:<key>]) to the message and finds
    the downtime by it. Cancelled and ended downtimes are ignored.
  - The schedule is checked locally before any request. Recurrences are C({rrule, duration, start}) items,
    1 to 5 of them. The rrule takes only FREQ, INTERVAL, COUNT, UNTIL, BYDAY, BYMONTHDAY, BYMONTH and WKST,
    never DTSTART, DTEND or DURATION. The duration is a whole number followed by C(m), C(h), C(d) or C(w).
    C(start) is a local date-time without offset, read in C(schedule.timezone).
  - For a recurring schedule, O(display_timezone) defaults to C(schedule.timezone) and must equal it.
extends_documentation_fragment:
  - ddpoc.observability.datadog
  - ddpoc.observability.datadog.attributes
options:
  key:
    description: Ownership key of the downtime. Required unless O(id) is given.
    type: str
  id:
    description: UUID of an existing downtime; skips the lookup by key.
    type: str
  state:
    description: V(present) creates or updates the downtime, V(absent) cancels it.
    type: str
    choices: [present, absent]
    default: present
  scope:
    description: Scope query of the downtime, for example V(host:web-1).
    type: str
  monitor_identifier:
    description:
      - "Which monitors are muted: C({monitor_id: N}) or C({monitor_tags: [...]})."
      - "C({monitor_tags: ['*']}) mutes every monitor in the scope."
    type: dict
  downtime_message:
    description: Message of the downtime, sent as its C(message). The marker line is appended by the module.
    type: str
  schedule:
    description:
      - "One-time: C({start, end}) in ISO-8601, where a null start means now."
      - "Recurring: C({timezone, recurrences: [{rrule, duration, start}]})."
    type: dict
  display_timezone:
    description: Time zone used to display the downtime; defaults to C(schedule.timezone) for a recurring schedule.
    type: str
  notify_end_states:
    description: Monitor states that notify when the downtime ends.
    type: list
    elements: str
    choices: [alert, warn, no data]
  notify_end_types:
    description: Ends that trigger those notifications.
    type: list
    elements: str
    choices: [canceled, expired]
  mute_first_recovery_notification:
    description: Whether to mute the first recovery notification after the downtime.
    type: bool
  rebase_past_start:
    description:
      - Move a recurrence C(start) that lies in the past to its next occurrence before sending it.
      - Only DAILY or WEEKLY rules with INTERVAL=1 and no COUNT or UNTIL can be moved without changing their cadence.
        Other rules with a past start fail.
    type: bool
    default: false
  rewrite_brackets:
    description: Turn C([[) and C(]]) into C({{) and C(}}) in O(downtime_message) before sending.
    type: bool
    default: false
seealso:
  - module: ddpoc.observability.datadog_resources
author:
  - ddpoc maintainers (@ddpoc)
"""

EXAMPLES = r"""
- name: Mute web-1 on weekday evenings, 19:00 to 09:00
  ddpoc.observability.datadog_downtime:
    key: web-1-weekday-evenings
    scope: host:web-1
    monitor_identifier:
      monitor_tags: ["*"]
    downtime_message: Planned quiet hours
    schedule:
      timezone: Europe/Paris
      recurrences:
        - rrule: FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR
          duration: 14h
          start: "2030-01-07T19:00:00"
"""

RETURN = r"""
action:
  description: What the module did or, in check mode, would do (V(deleted) means cancelled).
  returned: always
  type: str
  sample: created
id:
  description: Downtime UUID; null when a downtime would be created in check mode.
  returned: always
  type: str
key:
  description: Ownership key of the downtime.
  returned: always
  type: str
changed_fields:
  description: Attributes that differ between the current and the desired downtime.
  returned: always
  type: list
  elements: str
downtime:
  description: The normalised desired attributes, as compared; null for O(state=absent).
  returned: always
  type: dict
api_calls:
  description: Number of API requests, retries, and requests per HTTP method.
  returned: always
  type: dict
diff:
  description: Normalised before and after documents, keyed by C(downtime/<key>).
  returned: in diff mode, when something changes
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import auth_argument_spec
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_module import run_engine, single_result
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_resource import rewrite_brackets

FIELDS = ("key", "id", "state", "scope", "monitor_identifier", "schedule", "display_timezone",
          "notify_end_states", "notify_end_types", "mute_first_recovery_notification", "rebase_past_start")


def main():
    argument_spec = auth_argument_spec()
    argument_spec.update(
        key=dict(type="str", no_log=False),
        id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        scope=dict(type="str"),
        monitor_identifier=dict(type="dict"),
        downtime_message=dict(type="str"),
        schedule=dict(type="dict"),
        display_timezone=dict(type="str"),
        notify_end_states=dict(type="list", elements="str", choices=["alert", "warn", "no data"]),
        notify_end_types=dict(type="list", elements="str", choices=["canceled", "expired"]),
        mute_first_recovery_notification=dict(type="bool"),
        rebase_past_start=dict(type="bool", default=False),
        rewrite_brackets=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("key", "id")],
        required_if=[("state", "present", ("key", "scope", "monitor_identifier", "schedule"))],
    )
    spec = dict((field, module.params[field]) for field in FIELDS if module.params[field] is not None)
    if module.params["downtime_message"] is not None:
        spec["message"] = module.params["downtime_message"]
    if module.params["rewrite_brackets"] and "message" in spec:
        spec["message"] = rewrite_brackets(spec["message"])
    engine, client, actions, rows, diff, counts, changed = run_engine(module, {"downtimes": [spec]})
    module.exit_json(**single_result(module, client, actions, rows, diff, changed, "downtime"))


if __name__ == "__main__":
    main()
