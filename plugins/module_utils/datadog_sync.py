# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and apply a declared set of Datadog resources, and export existing ones."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_api import DatadogAPIError
from ansible_collections.ddpoc.observability.plugins.module_utils import datadog_compare as cmp
from ansible_collections.ddpoc.observability.plugins.module_utils.datadog_resource import (
    RESOURCE_TYPES,
    PlanError,
    SpecError,
)

MAX_CREATE_ATTEMPTS = 3


class ApplyError(Exception):
    """One or more writes failed; ``results`` contains what was done before and after the failures."""

    def __init__(self, message, results):
        super(ApplyError, self).__init__(message)
        self.results = results


def _label(kind, key, object_id=None):
    if key:
        return "%s %r" % (kind, key)
    return "%s id %s" % (kind, object_id)


class Engine:
    """Plan and apply changes for the resource types of one module run."""

    def __init__(self, client, check_mode=False, parallel=4, now=None, single_lookup=False):
        self.client = client
        self.check_mode = check_mode
        self.parallel = max(1, parallel)
        self.now = now
        self.single_lookup = single_lookup
        self.types = dict((name, cls(client)) for name, cls in RESOURCE_TYPES)

    # Planning ---------------------------------------------------------------------------

    def build_all(self, declared):
        """Build every request body from the declared set, raising SpecError before any request."""
        built = {}
        for name, rtype in self.types.items():
            specs = declared.get(name) or []
            seen = set()
            entries = []
            for index, spec in enumerate(specs):
                if not isinstance(spec, dict):
                    raise SpecError("%s[%d] must be a mapping" % (name, index))
                key = spec.get("key")
                state = spec.get("state", "present")
                if state not in ("present", "absent"):
                    raise SpecError("%s[%d]: state %r is invalid: use present or absent" % (name, index, state))
                if key is None and not (state == "absent" and spec.get("id") is not None):
                    raise SpecError("%s[%d] has no key: give each resource a unique key, the ownership marker "
                                    "that finds it again" % (name, index))
                if key is not None:
                    message = cmp.key_error(key)
                    if message:
                        raise SpecError("%s[%d]: %s" % (name, index, message))
                    if key in seen:
                        raise SpecError("%s: key %r is declared twice; keys must be unique per resource type"
                                        % (name, key))
                    seen.add(key)
                body = rtype.build(spec) if state == "present" else None
                entries.append((spec, body))
            built[name] = entries
        return built

    def plan(self, declared, prune=False):
        built = self.build_all(declared)
        actions = []
        for name, rtype in self.types.items():
            entries = built[name]
            if not entries and not (prune and name in prune_types(prune)):
                continue
            actions.extend(self._plan_type(name, rtype, entries, prune and name in prune_types(prune)))
        self._check_downtime_starts(actions)
        self._validate_monitors(actions)
        return actions

    def _plan_type(self, name, rtype, entries, prune):
        keys = [spec.get("key") for spec, body in entries if spec.get("key")]
        adopt = any(spec.get("adopt_by_name") for spec, body in entries)
        lookup_keys = keys if self.single_lookup and len(keys) == 1 and not prune else None
        objects = rtype.list_objects(keys=lookup_keys, include_unmarked=adopt)
        by_key = {}
        by_id = {}
        for obj in objects:
            by_id[str(rtype.object_id(obj))] = obj
            key = rtype.marker_key(obj)
            if key:
                by_key.setdefault(key, []).append(obj)
        claimed = set()
        found = []
        for spec, body in entries:
            label = _label(rtype.kind, spec.get("key"), spec.get("id"))
            obj = self._find(rtype, spec, body, label, by_key, by_id, objects)
            if obj is not None:
                claimed.add(str(rtype.object_id(obj)))
            found.append((spec, body, label, obj))

        # Dashboards are listed as summaries, so each match is read in full; the reads run in parallel.
        def read(item):
            spec, body, label, obj = item
            if obj is None or spec.get("state", "present") == "absent":
                return None
            return rtype.read(obj)

        currents = self._map(read, found)
        actions = []
        for (spec, body, label, obj), current in zip(found, currents):
            key = spec.get("key")
            if spec.get("state", "present") == "absent":
                actions.append(self._action(rtype, key, label, "delete" if obj else "none", obj, None, None))
                continue
            share = rtype.share_step(spec, current) if rtype.kind == "dashboard" else {}
            if share.get("keep"):
                body = dict(body, description=cmp.add_text_marker(body.get("description"), key, share["keep"]))
            if obj is None:
                after = rtype.normalise(body)
                action = self._action(rtype, key, label, "create", None, body, None, after=after)
                action.update(share=share.get("step"))
                actions.append(action)
                continue
            desired = rtype.normalise(body)
            actual = rtype.normalise(rtype.prepare_current(current, spec))
            fields = cmp.changed_fields(desired, actual, rtype.subset_compare)
            if share.get("step"):
                fields.append("shared")
            before = cmp.project(actual, desired) if rtype.subset_compare else actual
            action = self._action(rtype, key, label, "update" if fields else "none", obj, body, current,
                                  before=before, after=desired)
            action.update(changed_fields=fields, share=share.get("step"), share_token=share.get("old"))
            if share.get("public_url"):
                action["public_url"] = share["public_url"]
            actions.append(action)
        if prune:
            declared_keys = set(keys)
            for key, matches in sorted(by_key.items()):
                if key in declared_keys:
                    continue
                for obj in matches:
                    if str(rtype.object_id(obj)) in claimed:
                        continue
                    actions.append(self._action(rtype, key, _label(rtype.kind, key), "delete", obj, None, None,
                                                pruned=True))
        return actions

    def _find(self, rtype, spec, body, label, by_key, by_id, objects):
        if spec.get("id") is not None:
            obj = by_id.get(str(spec["id"]))
            if obj is None:
                obj = rtype.get(spec["id"])
            if obj is None and spec.get("state", "present") == "present":
                raise PlanError("%s: id %s was not found; remove id to create a new object, or fix the id"
                                % (label, spec["id"]))
            return obj
        matches = by_key.get(spec.get("key"), [])
        if len(matches) > 1:
            ids = ", ".join(str(rtype.object_id(m)) for m in matches)
            raise PlanError("%s: %d live objects carry this key (ids %s); delete the extra ones or give id to "
                            "choose one" % (label, len(matches), ids))
        if matches:
            return matches[0]
        if spec.get("adopt_by_name") and body is not None:
            title = body.get(rtype.title_field)
            named = [o for o in objects if rtype.marker_key(o) is None and rtype.title(o) == title]
            if len(named) > 1:
                ids = ", ".join(str(rtype.object_id(o)) for o in named)
                raise PlanError("%s: %d unmarked objects are named %r (ids %s); give id to choose one"
                                % (label, len(named), title, ids))
            if named:
                return named[0]
        return None

    @staticmethod
    def _action(rtype, key, label, verb, obj, body, current, before=None, after=None, pruned=False):
        action = dict(
            kind=rtype.kind, key=key, label=label, action=verb,
            id=rtype.object_id(obj) if obj else None,
            title=(rtype.title(obj) if obj else (body or {}).get(rtype.title_field)),
            body=body, current=current, before=before, after=after, pruned=pruned, changed_fields=[],
        )
        if isinstance(obj, dict) and obj.get("url"):
            action["url"] = obj["url"]
        return action

    def _check_downtime_starts(self, actions):
        rtype = self.types["downtimes"]
        errors = []
        for action in actions:
            if action["kind"] != "downtime" or action["action"] not in ("create", "update"):
                continue
            if action["action"] == "update" and "schedule" not in action["changed_fields"]:
                continue
            problems = rtype.past_start_errors(action["body"], self.now)
            if problems:
                errors.append("%s: %s" % (action["label"], "; ".join(problems)))
        if errors:
            raise SpecError(" | ".join(errors))

    def _validate_monitors(self, actions):
        rtype = self.types["monitors"]
        pending = [a for a in actions if a["kind"] == "monitor" and a["action"] in ("create", "update")]

        def validate(action):
            object_id = action["id"] if action["action"] == "update" else None
            try:
                rtype.validate(action["body"], object_id, action["label"])
            except DatadogAPIError as exc:
                return str(exc)
            return None

        errors = [e for e in self._map(validate, pending) if e]
        if errors:
            raise SpecError("monitor validation failed, nothing was written: %s" % " | ".join(errors))

    # Applying ---------------------------------------------------------------------------

    def _map(self, function, items):
        if self.parallel == 1 or len(items) < 2:
            return [function(i) for i in items]
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            return list(pool.map(function, items))

    def apply(self, actions):
        """Run the writes of a plan; in check mode only mark what would happen."""
        failures = []

        def run(action):
            if action["action"] == "none" or self.check_mode:
                return
            rtype = self.types[action["kind"] + "s"]
            try:
                if action["action"] == "create":
                    created = self._create(rtype, action)
                    action["id"] = rtype.object_id(created)
                    if isinstance(created, dict) and created.get("url"):
                        action["url"] = created["url"]
                elif action["action"] == "update" and action.get("share") != "share":
                    # With a new public link, _apply_share sends the full PUT that includes its token.
                    rtype.update(action["id"], action["body"], action["current"], action["label"])
                elif action["action"] == "delete":
                    rtype.delete(action["id"], action["label"])
                if action.get("share"):
                    self._apply_share(rtype, action)
                action["done"] = True
            except (DatadogAPIError, PlanError) as exc:
                action["error"] = str(exc)
                failures.append(action)

        order = ("dashboard", "monitor", "downtime")
        writes = [a for kind in order for a in actions if a["kind"] == kind and a["action"] in ("create", "update")]
        deletes = [a for kind in reversed(order) for a in actions if a["kind"] == kind and a["action"] == "delete"]
        self._map(run, writes)
        self._map(run, deletes)
        if failures:
            raise ApplyError("%d of %d changes failed: %s" % (
                len(failures), len(writes) + len(deletes), " | ".join(a["error"] for a in failures)), actions)
        return actions

    @staticmethod
    def _apply_share(rtype, action):
        if action["share"] == "unshare":
            rtype.unshare(action["share_token"], action["label"])
            return
        shared = rtype.share(action["id"], action["body"]["layout_type"], action["label"])
        # The token goes into the description so that the next run finds the link again.
        body = dict(action["body"])
        body["description"] = cmp.add_text_marker(body.get("description"), action["key"], shared["token"])
        rtype.update(action["id"], body, None, action["label"])
        action["public_url"] = shared.get("public_url")

    def _create(self, rtype, action):
        # A create whose response was lost (timeout, reset, 5xx) may have been applied, so look
        # the key up again before sending it once more: this is what prevents duplicates.
        attempt = 0
        while True:
            attempt += 1
            try:
                return rtype.create(action["body"], action["label"])
            except DatadogAPIError as exc:
                if not exc.transient or exc.status == 429 or attempt >= MAX_CREATE_ATTEMPTS:
                    raise
                found = rtype.find_after_lost_create(action["key"])
                if len(found) == 1:
                    action["recovered"] = True
                    return found[0]
                if len(found) > 1:
                    raise PlanError("%s: the create response was lost and %d objects now carry the key (ids %s)"
                                    % (action["label"], len(found),
                                       ", ".join(str(rtype.object_id(o)) for o in found)))

    # Export -----------------------------------------------------------------------------

    def export(self, kinds, only_unmarked=False):
        exported = {}
        for name in kinds:
            rtype = self.types[name]
            objects = rtype.list_objects(include_unmarked=True)
            if only_unmarked:
                objects = [o for o in objects if rtype.marker_key(o) is None]
            exported[name] = self._map(rtype.export, objects)
        return exported


def prune_types(prune):
    if prune is True:
        return ("dashboards", "monitors", "downtimes")
    return tuple(prune or ())


def summarise(actions, check_mode):
    """Return the public result rows, the diff and the counts for a list of planned actions."""
    rows = []
    before = {}
    after = {}
    counts = dict(created=0, updated=0, deleted=0, unchanged=0)
    names = dict(create="created", update="updated", delete="deleted", none="unchanged")
    for action in actions:
        verb = names[action["action"]]
        counts[verb] += 1
        row = dict(kind=action["kind"], key=action["key"], id=action["id"], title=action["title"],
                   action=verb, changed_fields=action["changed_fields"], pruned=action["pruned"],
                   recovered=bool(action.get("recovered")))
        for field in ("url", "public_url"):
            if action.get(field):
                row[field] = action[field]
        rows.append(row)
        if action["action"] != "none":
            ident = "%s/%s" % (action["kind"], action["key"] if action["key"] else action["id"])
            before[ident] = action["before"] if action["action"] == "update" else (
                "present (id %s)" % action["id"] if action["action"] == "delete" else None)
            after[ident] = action["after"] if action["action"] != "delete" else None
    changed = any(a["action"] != "none" for a in actions)
    return rows, dict(before=before, after=after), counts, changed
