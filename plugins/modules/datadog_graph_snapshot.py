#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: datadog_graph_snapshot
short_description: Take a Datadog graph snapshot and return its URL
version_added: 0.1.0
description:
  - Calls C(GET /api/v1/graph/snapshot) for a metric query or a widget definition and returns the image URL.
  - The image is rendered asynchronously, so the URL can answer 404 for a short time after the call.
  - The snapshot changes no configuration. The module reports C(changed=false) and also runs in check mode.
extends_documentation_fragment:
  - ddpoc.observability.datadog
attributes:
  check_mode:
    description: The snapshot is a read request, so it is also taken in check mode.
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
  idempotent:
    description: Each call creates a new image but changes no configuration.
    support: full
  action_group:
    description: Use C(group/ddpoc.observability.datadog) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - ddpoc.observability.datadog
options:
  metric_query:
    description: Metric query to graph, for example V(avg:my_metric{host:web-1}).
    type: str
  graph_def:
    description: Widget definition to graph, as a mapping or JSON text; sent as single-line JSON.
    type: raw
  start:
    description: Start of the graph, in seconds since the epoch. Defaults to O(end) minus one hour.
    type: int
  end:
    description: End of the graph, in seconds since the epoch. Defaults to now.
    type: int
  title:
    description: Title of the graph.
    type: str
  event_query:
    description: Event query whose events are overlaid on the graph.
    type: str
  height:
    description: Height of the image, in pixels.
    type: int
  width:
    description: Width of the image, in pixels.
    type: int
author:
  - ddpoc maintainers (@ddpoc)
"""

EXAMPLES = r"""
- name: Snapshot the last hour of my_metric
  ddpoc.observability.datadog_graph_snapshot:
    metric_query: avg:my_metric{host:web-1}
    title: my_metric on web-1
  register: __snapshot

- name: Show the snapshot URL
  ansible.builtin.debug:
    msg: "{{ __snapshot.snapshot_url }}"
"""

RETURN = r"""
snapshot_url:
  description: URL of the rendered image.
  returned: success
  type: str
  sample: https://p.datadoghq.eu/snapshot/view/dd-snapshots-eu1-prod/org_1/2030-01-01/abc.png
start:
  description: Start of the graph, in seconds since the epoch.
  returned: success
  type: int
end:
  description: End of the graph, in seconds since the epoch.
  returned: success
  type: int
api_calls:
  description: Number of API requests, retries, and requests per HTTP method.
  returned: always
  type: dict
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import (
    DatadogAPIError,
    auth_argument_spec,
    client_from_module,
)


def main():
    argument_spec = auth_argument_spec()
    argument_spec.update(
        metric_query=dict(type="str"),
        graph_def=dict(type="raw"),
        start=dict(type="int"),
        end=dict(type="int"),
        title=dict(type="str"),
        event_query=dict(type="str"),
        height=dict(type="int"),
        width=dict(type="int"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("metric_query", "graph_def")],
        mutually_exclusive=[("metric_query", "graph_def")],
    )
    params = module.params
    end = params["end"] if params["end"] is not None else int(time.time())
    start = params["start"] if params["start"] is not None else end - 3600
    if start >= end:
        module.fail_json(msg="start %d is not before end %d: give epoch seconds with start < end" % (start, end))
    query = {"start": start, "end": end}
    if params["metric_query"]:
        query["metric_query"] = params["metric_query"]
    else:
        graph_def = params["graph_def"]
        if isinstance(graph_def, str):
            try:
                graph_def = json.loads(graph_def)
            except ValueError as exc:
                module.fail_json(msg="graph_def is not valid JSON (%s): give a widget definition" % exc)
        query["graph_def"] = json.dumps(graph_def, separators=(",", ":"), sort_keys=True)
    for field in ("title", "event_query", "height", "width"):
        if params[field] is not None:
            query[field] = params[field]
    client = client_from_module(module)
    try:
        data = client.request("GET", "/api/v1/graph/snapshot", query=query, resource="graph snapshot")
    except DatadogAPIError as exc:
        module.fail_json(msg=str(exc), api_calls=client.stats())
    if not isinstance(data, dict) or not data.get("snapshot_url"):
        module.fail_json(msg="GET /api/v1/graph/snapshot returned no snapshot_url", api_calls=client.stats())
    module.exit_json(changed=False, snapshot_url=data["snapshot_url"], start=start, end=end,
                     api_calls=client.stats())


if __name__ == "__main__":
    main()
