"""Print what runs where after `make lab`: lab host services and ports, and the Datadog
resources the API fake now holds.

The resources are read through the same public API paths the modules use, with the
lab's keys from the lab vault.
"""

import argparse
import json
import os
import subprocess
import sys
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
LABHOST = os.path.join(HERE, "labhost.py")
VAULT = os.path.join(HERE, "..", "..", "inventories", "lab", "group_vars", "all", "vault.yml")
UNITS = ["datadog-agent", "mariadb", "flask-apm"]


def lab_exec(instance, command):
    result = subprocess.run(
        [sys.executable, LABHOST, "exec", instance, "--", "sh", "-c", command],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()


def lab_keys(vault_args):
    view = subprocess.run(
        ["ansible-vault", "view"] + vault_args + [VAULT], capture_output=True, text=True, check=True
    ).stdout
    return {name: str(value) for name, value in yaml.safe_load(view).items()}


def api_get(api_url, path, keys):
    request = urllib.request.Request(
        api_url + path,
        headers={"DD-API-KEY": keys["vault_datadog_api_key"], "DD-APPLICATION-KEY": keys["vault_datadog_app_key"]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def resource_lines(api_url, keys):
    dashboards = api_get(api_url, "/api/v1/dashboard", keys).get("dashboards", [])
    monitors = api_get(api_url, "/api/v1/monitor", keys)
    downtimes = api_get(api_url, "/api/v2/downtime", keys).get("data", [])
    lines = ["  dashboard  %-14s %s" % (item["id"], item.get("title", "")) for item in dashboards]
    lines += ["  monitor    %-14s %s" % (item["id"], item.get("name", "")) for item in monitors]
    for item in downtimes:
        attributes = item.get("attributes", {})
        if attributes.get("status") in ("canceled", "ended"):
            continue
        schedule = attributes.get("schedule") or {}
        rules = ", ".join(entry.get("rrule", "") for entry in schedule.get("recurrences", []))
        lines.append("  downtime   %-14s %s %s" % (item["id"][:13], attributes.get("scope", ""), rules))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="lab")
    parser.add_argument("--api-url", default="http://127.0.0.1:19080")
    parser.add_argument("--vault-password-file", required=True)
    args = parser.parse_args()

    print("\nLab host %r (systemd-nspawn, Debian 12):" % args.instance)
    for unit in UNITS:
        print("  %-16s %s" % (unit, lab_exec(args.instance, "systemctl is-active %s 2>/dev/null" % unit) or "absent"))
    # The lab host shares this machine's network namespace; ss inside it names only its own processes.
    listeners = lab_exec(
        args.instance, "ss -Hltnp | awk '$6 ~ /users/ {split($6,p,\"\\\"\"); print $4, p[2]}' | sort -u"
    )
    print("Ports opened by the lab host:")
    for line in listeners.splitlines():
        print("  " + line)
    print("Lab services on this machine (the trace intake stands in for the agent's trace-agent):")
    status = json.loads(subprocess.run(
        [sys.executable, LABHOST, "status"], capture_output=True, text=True, check=True
    ).stdout)
    for service in status["services"]:
        print("  127.0.0.1:%-6d %-13s %s" % (service["port"], service["name"], "running" if service["running"] else "stopped"))

    print("\nDatadog resources in the API fake at %s:" % args.api_url)
    try:
        keys = lab_keys(["--vault-password-file", args.vault_password_file])
        lines = resource_lines(args.api_url, keys)
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError) as error:
        print("  could not read resources: %s" % error)
        return 1
    print("\n".join(lines) if lines else "  none")
    print("\nStop everything with `make lab-down`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
