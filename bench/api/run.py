# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark ddpoc.observability.datadog_resources against community.general.datadog_monitor.

Both run through ansible-playbook against the project's fake Datadog API (tests/fakeapi) with a
fixed latency added to every API call. Wall time is measured around each ansible-playbook
process, API calls are read from the fake's counters. Usage (from the repository root):

    .venv/bin/python bench/api/run.py --peer-python .build/bench-venv/bin/python

``--peer-python`` is an interpreter with the ``datadog`` library, which community.general needs.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from urllib.request import Request, urlopen

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def monitors(count, changed=0):
    result = []
    for index in range(count):
        warning = 600 if index < changed else 500
        result.append({
            "key": "bench-monitor-%03d" % index,
            "name": "bench metric %03d is high" % index,
            "type": "metric alert",
            "query": "avg(last_5m):avg:bench.metric.%03d{host:bench} > 800" % index,
            "message": "{{#is_alert}}value {{value}} on {{host.ip}}{{/is_alert}} @ops@example.com",
            "tags": ["bench:api"],
            "options": {"thresholds": {"critical": 800, "warning": warning}, "notify_no_data": True,
                        "no_data_timeframe": 10},
        })
    return result


def dashboards(count):
    return [{
        "key": "bench-dashboard-%02d" % index,
        "title": "bench dashboard %02d" % index,
        "layout_type": "ordered",
        "widgets": [{"definition": {"type": "timeseries", "title": "metric %d" % w,
                                    "requests": [{"q": "avg:bench.metric.%03d{host:bench}" % w}]}}
                    for w in range(3)],
    } for index in range(count)]


def downtimes(count):
    return [{
        "key": "bench-downtime-%02d" % index,
        "scope": "host:bench-%02d" % index,
        "monitor_identifier": {"monitor_tags": ["*"]},
        "schedule": {"timezone": "Europe/Paris", "recurrences": [
            {"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "duration": "14h", "start": "2031-01-06T19:00:00"}]},
    } for index in range(count)]


class Unsafe(str):
    """Text that Ansible must not template (Datadog's own {{...}} syntax)."""


class Dumper(yaml.SafeDumper):
    pass


Dumper.add_representer(Unsafe, lambda dumper, data: dumper.represent_scalar("!unsafe", str(data)))


def mark_unsafe(value):
    if isinstance(value, str) and "{{#" in value:
        return Unsafe(value)
    if isinstance(value, dict):
        return dict((k, mark_unsafe(v)) for k, v in value.items())
    if isinstance(value, list):
        return [mark_unsafe(v) for v in value]
    return value


class Fake:
    def __init__(self, latency_ms, rate_limit):
        arguments = [sys.executable, os.path.join(ROOT, "tests", "fakeapi", "server.py"), "--host", "127.0.0.1",
                     "--port", "0", "--latency-ms", str(latency_ms)]
        if rate_limit:
            arguments += ["--rate-limit", rate_limit]
        self.process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = re.search(r"(http://\S+)", self.process.stdout.readline()).group(1)

    def control(self, method, path):
        with urlopen(Request(self.url + path, method=method), timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def run_playbook(workdir, name, plays, python=None):
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w") as handle:
        handle.write(yaml.dump(mark_unsafe(plays), Dumper=Dumper, sort_keys=False, width=200))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    arguments = [PLAYBOOK, path]
    if python:
        arguments += ["-e", "ansible_python_interpreter=%s" % python]
    start = time.monotonic()
    result = subprocess.run(arguments, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, check=False)
    elapsed = time.monotonic() - start
    failed = re.search(r"failed=(\d+)", result.stdout)
    return elapsed, result.returncode, int(failed.group(1)) if failed else -1, result.stdout


def measure(fake, workdir, label, plays, python=None):
    fake.control("DELETE", "/_fake/requests")
    elapsed, code, failed, output = run_playbook(workdir, label, plays, python)
    counters = fake.control("GET", "/_fake/counters")
    if code != 0:
        print(output[-4000:], file=sys.stderr)
    return {"run": label, "wall_s": round(elapsed, 2), "api_calls": counters["total"], "writes": counters["writes"],
            "responses_429": counters["status_429"], "failed_tasks": failed, "exit_code": code}


def ours_play(fake, monitor_set, dashboard_set, downtime_set):
    return [{"name": "Sync the bench resources", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "Apply the declared set", "ddpoc.observability.datadog_resources": {
                 "api_url": fake.url, "api_key": "bench-api-key", "app_key": "bench-app-key",
                 "monitors": monitor_set, "dashboards": dashboard_set, "downtimes": downtime_set,
                 "parallel": 4}}]}]


def peer_play(fake, monitor_set):
    items = [{"name": m["name"], "query": m["query"], "message": m["message"], "tags": m["tags"],
              "warning": m["options"]["thresholds"]["warning"]} for m in monitor_set]
    return [{"name": "Loop community.general.datadog_monitor", "hosts": "localhost", "connection": "local",
             "gather_facts": False, "vars": {"bench_monitors": items},
             "tasks": [{"name": "Create or update one monitor", "community.general.datadog_monitor": {
                 "api_host": fake.url, "api_key": "bench-api-key", "app_key": "bench-app-key",
                 "state": "present", "type": "metric alert", "name": "{{ item.name }}",
                 "query": "{{ item.query }}", "notification_message": "{{ item.message }}",
                 "tags": "{{ item.tags }}", "notify_no_data": True, "no_data_timeframe": 10,
                 "thresholds": {"critical": 800, "warning": "{{ item.warning }}"}},
                 "loop": "{{ bench_monitors }}", "loop_control": {"label": "{{ item.name }}"}}]}]


def ratio(numerator, denominator):
    return round(numerator / denominator, 4) if denominator else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=200)
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--downtimes", type=int, default=20)
    parser.add_argument("--changed", type=int, default=10, help="monitors changed in the third run")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--rate-limit", help="passed to the fake, for example 300/10")
    parser.add_argument("--peer-python", help="interpreter with the datadog library; omit to skip the peer")
    parser.add_argument("--output", default=os.path.join(ROOT, ".build", "bench-api.json"))
    args = parser.parse_args()
    if args.peer_python:
        args.peer_python = os.path.abspath(args.peer_python)

    fake = Fake(args.latency_ms, args.rate_limit)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            dashboard_set, downtime_set = dashboards(args.dashboards), downtimes(args.downtimes)
            rows.append(measure(fake, workdir, "ours: cold create", ours_play(
                fake, monitors(args.monitors), dashboard_set, downtime_set)))
            rows.append(measure(fake, workdir, "ours: no change", ours_play(
                fake, monitors(args.monitors), dashboard_set, downtime_set)))
            rows.append(measure(fake, workdir, "ours: %d changed" % args.changed, ours_play(
                fake, monitors(args.monitors, args.changed), dashboard_set, downtime_set)))
            if args.peer_python:
                fake.control("POST", "/_fake/reset")
                rows.append(measure(fake, workdir, "community.general loop: cold create",
                                    peer_play(fake, monitors(args.monitors)), args.peer_python))
                rows.append(measure(fake, workdir, "community.general loop: no change",
                                    peer_play(fake, monitors(args.monitors)), args.peer_python))
    finally:
        fake.stop()

    listings = 3
    summary = {"settings": vars(args), "runs": rows,
               "no_change_call_budget": listings + args.dashboards}
    by_run = dict((r["run"], r) for r in rows)
    peer = by_run.get("community.general loop: cold create")
    if peer:
        summary["ratios"] = {
            "cold_create_speedup": ratio(peer["wall_s"], by_run["ours: cold create"]["wall_s"]),
            "no_change_wall_vs_peer_loop": ratio(by_run["ours: no change"]["wall_s"], peer["wall_s"]),
            "no_change_wall_vs_peer_no_change": ratio(
                by_run["ours: no change"]["wall_s"], by_run["community.general loop: no change"]["wall_s"]),
        }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(summary, handle, indent=2)

    print("| run | wall s | API calls | writes | 429 responses | failed tasks |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| %s | %s | %s | %s | %s | %s |" % (row["run"], row["wall_s"], row["api_calls"], row["writes"],
                                                   row["responses_429"], row["failed_tasks"]))
    print("no-change call budget (listings + one read per dashboard): %d" % summary["no_change_call_budget"])
    for name, value in summary.get("ratios", {}).items():
        print("%s: %s" % (name, value))
    print("details: %s" % args.output)
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
