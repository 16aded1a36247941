# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST STAND-IN for the Datadog Agent command line (installed as bin/agent/agent with a shebang added); it is not the Datadog Agent.

Implements `run` (a daemon that validates datadog.yaml, logs and waits), `check NAME` (runs a custom
check once through datadog-checks-base and prints what it submitted), `version`, `status` and
`configcheck`. It sends nothing anywhere.
"""

import argparse
import glob
import importlib.machinery
import importlib.util
import json
import logging
import os
import signal
import sys
import time

import yaml

VERSION = "7.63.0"
CONFIG_DIR = os.environ.get("DD_STANDIN_CONFIG_DIR", "/etc/datadog-agent")
LOG_FILE = "/var/log/datadog/agent.log"
HEARTBEAT_SECONDS = 300

log = logging.getLogger("datadog-agent-standin")


def load_main_config():
    """Load datadog.yaml; return (config, error message or None)."""
    path = os.path.join(CONFIG_DIR, "datadog.yaml")
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle)
    except FileNotFoundError:
        return None, "%s not found" % path
    except yaml.YAMLError as error:
        # The YAML error text can quote the file, which contains the API key, so only its position is shown.
        mark = getattr(error, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        return None, "%s is not valid YAML%s" % (path, where)
    if not isinstance(config, dict):
        return None, "%s must contain a mapping" % path
    if not config.get("api_key"):
        return None, "%s has no api_key" % path
    return config, None


def check_config_files(name=None):
    """Return the conf.d YAML files, for one check NAME or for all checks."""
    pattern = "%s.d" % name if name else "*.d"
    files = sorted(glob.glob(os.path.join(CONFIG_DIR, "conf.d", pattern, "*.yaml")))
    flat = os.path.join(CONFIG_DIR, "conf.d", "%s.yaml" % (name or "*"))
    files.extend(sorted(glob.glob(flat)))
    return files


def command_run(_arguments):
    handlers = [logging.StreamHandler(sys.stdout)]
    try:
        os.makedirs(os.path.dirname(LOG_FILE), exist_ok=True)
        handlers.append(logging.FileHandler(LOG_FILE))
    except OSError as error:
        print("cannot open %s: %s; logging to stdout only" % (LOG_FILE, error))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | STANDIN | %(levelname)s | %(message)s",
                        handlers=handlers)

    config, error = load_main_config()
    if error:
        log.error("not starting: %s", error)
        return 1
    checks = sorted({os.path.basename(os.path.dirname(path))[:-2] for path in check_config_files()})
    log.info("test stand-in agent %s started: site=%s, tags=%s, apm_config.enabled=%s, checks=%s",
             VERSION, config.get("site"), config.get("tags"), (config.get("apm_config") or {}).get("enabled"),
             ",".join(checks) or "none")

    stopping = []

    def stop(signum, _frame):
        log.info("stopping on signal %d", signum)
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    last_heartbeat = time.monotonic()
    while not stopping:
        time.sleep(1)
        if time.monotonic() - last_heartbeat >= HEARTBEAT_SECONDS:
            last_heartbeat = time.monotonic()
            log.info("running; nothing is sent, this is a test stand-in")
    log.info("stopped")
    return 0


def load_check_class(name):
    """Import checks.d/NAME.py and return its AgentCheck subclass."""
    from datadog_checks.base import AgentCheck

    path = os.path.join(CONFIG_DIR, "checks.d", "%s.py" % name)
    if not os.path.exists(path):
        raise RuntimeError("%s not found" % path)
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    classes = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, AgentCheck) and value is not AgentCheck]
    if not classes:
        raise RuntimeError("%s defines no subclass of datadog_checks.base.AgentCheck" % path)
    return classes[0]


def command_check(arguments):
    from datadog_checks.base.stubs import aggregator

    name = arguments.name
    result = {"check": name, "config_files": [], "instances": 0, "metrics": [], "service_checks": [], "errors": []}
    try:
        check_class = load_check_class(name)
    # Any exception from importing user code is reported, as the agent's loader reports it, not raised.
    except Exception as error:
        result["errors"].append("unable to load the check: %s: %s" % (type(error).__name__, error))
        return print_check_result(result, arguments.json)

    files = check_config_files(name)
    if not files:
        result["errors"].append("no configuration found for %s under %s/conf.d" % (name, CONFIG_DIR))
    type_names = {number: text for text, number in aggregator.METRIC_ENUM_MAP.items()}
    for path in files:
        result["config_files"].append(path)
        with open(path) as handle:
            config = yaml.safe_load(handle) or {}
        for instance in config.get("instances") or []:
            result["instances"] += 1
            aggregator.reset()
            check = check_class(name, config.get("init_config") or {}, [instance])
            error = check.run()
            if error:
                result["errors"].append(json.loads(error) if error.startswith("[") else error)
            for metric_name in aggregator.metric_names:
                for stub in aggregator.metrics(metric_name):
                    result["metrics"].append({
                        "metric": stub.name,
                        "type": type_names.get(stub.type, str(stub.type)),
                        "value": stub.value,
                        "tags": sorted(stub.tags),
                        "min_collection_interval": instance.get("min_collection_interval", 15),
                    })
            for service_name in aggregator.service_check_names:
                for stub in aggregator.service_checks(service_name):
                    result["service_checks"].append({"name": stub.name, "status": stub.status, "tags": sorted(stub.tags)})
    return print_check_result(result, arguments.json)


def print_check_result(result, as_json):
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print("=== %s (test stand-in: run once through datadog-checks-base) ===" % result["check"])
        for metric in result["metrics"]:
            print("%s %s %s %s" % (metric["metric"], metric["type"], metric["value"], ",".join(metric["tags"])))
        for error in result["errors"]:
            print("Error: %s" % (error,))
    return 1 if result["errors"] else 0


def command_version(_arguments):
    print("Agent %s - Commit: test-stand-in - Serialization version: none - Go version: none" % VERSION)
    print("This is the ddpoc.observability test stand-in, not the Datadog Agent.")
    return 0


def command_status(_arguments):
    config, error = load_main_config()
    print("Datadog Agent test stand-in (v%s)" % VERSION)
    print("  It collects nothing and sends nothing; only `agent check NAME` runs a check once.")
    if error:
        print("  datadog.yaml: INVALID: %s" % error)
        return 1
    print("  datadog.yaml: valid; site: %s; tags: %s" % (config.get("site"), ", ".join(config.get("tags") or [])))
    print("  apm_config.enabled: %s" % ((config.get("apm_config") or {}).get("enabled"),))
    for path in check_config_files():
        print("  check config: %s" % path)
    return 0


def command_configcheck(_arguments):
    status = 0
    for path in check_config_files():
        name = os.path.basename(os.path.dirname(path))
        name = name[:-2] if name.endswith(".d") else os.path.basename(path)[:-5]
        try:
            with open(path) as handle:
                config = yaml.safe_load(handle)
            valid = isinstance(config, dict) and isinstance(config.get("instances"), list) and config["instances"]
        except yaml.YAMLError:
            valid = False
        print("=== %s check ===" % name)
        print("Configuration provider: file")
        print("Configuration source: file:%s" % path)
        if not valid:
            print("Error: invalid configuration: instances must be a non-empty list")
            status = 1
        print("===")
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(prog="agent", description="Datadog Agent test stand-in (not the Datadog Agent).")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="validate datadog.yaml and stay in the foreground until stopped")
    check_parser = commands.add_parser("check", help="run a check once and print what it submitted")
    check_parser.add_argument("name", help="check name: checks.d/NAME.py with conf.d/NAME.d/*.yaml")
    check_parser.add_argument("--json", action="store_true", help="print the result as JSON")
    commands.add_parser("version", help="print the stand-in's version")
    commands.add_parser("status", help="print the stand-in's configuration status")
    commands.add_parser("configcheck", help="list the check configuration files")
    arguments = parser.parse_args(argv)
    handler = {
        "run": command_run,
        "check": command_check,
        "version": command_version,
        "status": command_status,
        "configcheck": command_configcheck,
    }[arguments.command]
    return handler(arguments)


if __name__ == "__main__":
    sys.exit(main())
