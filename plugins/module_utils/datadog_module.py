# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue between AnsibleModule and the sync engine, shared by the resource modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import (
    DatadogAPIError,
    client_from_module,
)
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_resource import (
    PlanError,
    SpecError,
)
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_sync import (
    ApplyError,
    Engine,
    summarise,
)


def run_engine(module, declared, prune=False, single_lookup=False, parallel=4):
    """Plan and apply ``declared``; fail the module with a clear message on any error."""
    client = client_from_module(module)
    engine = Engine(client, check_mode=module.check_mode, parallel=parallel, single_lookup=single_lookup)
    actions = None
    try:
        actions = engine.plan(declared, prune)
        engine.apply(actions)
    except (SpecError, PlanError, DatadogAPIError) as exc:
        module.fail_json(msg=str(exc), api_calls=client.stats())
    except ApplyError as exc:
        rows = summarise(exc.results, module.check_mode)[0]
        module.fail_json(msg=str(exc), results=rows, api_calls=client.stats())
    rows, diff, counts, changed = summarise(actions, module.check_mode)
    return engine, client, actions, rows, diff, counts, changed


def single_result(module, client, actions, rows, diff, changed, document_name):
    """Build the exit arguments of a one-resource module."""
    action = actions[0]
    result = dict(
        changed=changed, action=rows[0]["action"], id=action["id"], key=action["key"],
        changed_fields=rows[0]["changed_fields"], api_calls=client.stats(),
    )
    result[document_name] = action["after"]
    for field in ("url", "public_url"):
        if rows[0].get(field):
            result[field] = rows[0][field]
    if module._diff:
        result["diff"] = diff
    return result
