"""Measure the Flask service with wrk on loopback: original setup, untraced and traced.

Each setup runs on the controller from virtual environments under .lab/bench-apm/.
  (a) original: Flask's development server under ddtrace-run, as the proof of concept ran it.
  (b) untraced: the role's gunicorn command line without ddtrace-run.
  (b2) tracer off: the role's command line under ddtrace-run with DD_TRACE_ENABLED=false, the
       switch a user flips in the unit to turn tracing off.
  (c) traced: the role's command line under ddtrace-run with the role's tracer settings.
(b), (b2) and (c) use the same gunicorn worker settings, read from the role's defaults.
The packages are the role's pins for this Python, from plugins/filter/flask_apm_checks.py.
Traces go to a ddapm-test-agent started here on loopback. After each traced run the script
checks that the tracer logged no dropped payloads and that a fixed batch of requests reaches
the test agent as flask.request root spans.

The script also prints the CPU time per request of the server, the test agent and wrk, and the
tracer's cost in a warm in-process loop (wsgi_loop.py). From those it estimates the highest (c)
that the machine allows, to show how far tuning can go.

Each round runs every setup once, in an order rotated by one setup per round, so slow phases of a
busy machine do not always hit the same setup. The script prints the load average at start and end.

Run: python3 bench/apm/run.py [--duration 10] [--rounds 3]   (needs wrk: apt-get install -y wrk)
"""

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

import yaml

REPO_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLE_DIR = os.path.join(REPO_DIR, "roles", "flask_apm")
WORK_DIR = os.path.join(REPO_DIR, ".lab", "bench-apm")
APP_DIR = os.path.join(ROLE_DIR, "files")
HOST = "127.0.0.1"
DELIVERY_BATCH = 200
# Setups whose server sends traces to the test agent.
TRACED_SETUPS = ("a", "c")
# Wait after a traced run so its last traces are sent and decoded before CPU time is read.
TRACE_SETTLE_SECONDS = 2.5
# Lines the tracer logs when it loses trace payloads.
DROP_PATTERN = re.compile(r"(dropp|failed to send|Failed to send|buffer full|BufferFull)", re.I)


def load_filters():
    path = os.path.join(REPO_DIR, "plugins", "filter", "flask_apm_checks.py")
    spec = importlib.util.spec_from_file_location("flask_apm_checks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(command, **kwargs):
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def ensure_venv(path, requirements, pip_version):
    marker = os.path.join(path, "requirements.done")
    expected = "\n".join(requirements)
    if os.path.exists(marker) and open(marker).read() == expected:
        return
    run([sys.executable, "-m", "venv", "--clear", path])
    pip = os.path.join(path, "bin", "pip")
    run([pip, "install", "--quiet", "--upgrade", "pip==%s" % pip_version if pip_version else "pip"])
    run([pip, "install", "--quiet"] + requirements)
    with open(marker, "w") as handle:
        handle.write(expected)


def wait_for_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("timed out after %d s waiting for %s" % (timeout, url))


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def start(command, env, log_path):
    log = open(log_path, "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.log_file = log
    return process


def stop(process):
    """Stop a process started by start() and its children (its own session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    process.log_file.close()


def process_tree(root_pid):
    """Return root_pid and the PIDs of all its descendants, read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    pids, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        pending.extend(children.get(pid, []))
    return pids


def cpu_seconds(pids):
    """Sum the user and system CPU time of running processes, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_wsgi_loop(python_command, env, requests):
    """Run wsgi_loop.py and return its CPU time per request in microseconds."""
    output = subprocess.run(
        python_command + [os.path.join(os.path.dirname(os.path.abspath(__file__)), "wsgi_loop.py"),
                          APP_DIR, "app:app", str(requests)],
        env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])["cpu_us_per_request"]


def parse_wrk(output):
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    p99 = re.search(r"^\s+99%\s+([0-9.]+)(us|ms|s)\s*$", output, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if not rate or not p99 or not count:
        raise RuntimeError("cannot parse wrk output:\n" + output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    if errors:
        raise RuntimeError("wrk saw %s non-2xx responses:\n%s" % (errors.group(1), output))
    socket_error_text = socket_errors.group(1) if socket_errors else ""
    return float(rate.group(1)), float(p99.group(1)) * scale, int(count.group(1)), socket_error_text


def role_defaults(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def gunicorn_args(defaults, port):
    workers = int(defaults["flask_apm_workers"]) or os.cpu_count() or 2
    worker_class = defaults["flask_apm_worker_class"]
    args = ["--bind", "%s:%d" % (HOST, port), "--worker-class", worker_class, "--workers", str(workers)]
    if worker_class == "gthread":
        args += ["--threads", str(defaults["flask_apm_threads"]), "--keep-alive", str(defaults["flask_apm_keepalive"])]
    return args + ["--chdir", APP_DIR, defaults["flask_apm_wsgi_app"]]


def check_delivery(agent_url, app_url, service, log_path):
    """Send DELIVERY_BATCH requests in a fresh session and wait for as many root spans."""
    token = "bench-%s" % uuid.uuid4().hex
    http_get("%s/test/session/start?test_session_token=%s" % (agent_url, token))
    for request_number in range(DELIVERY_BATCH):
        http_get(app_url + "?batch=%d" % request_number)
    deadline = time.monotonic() + 30
    roots = 0
    while time.monotonic() < deadline:
        traces = json.loads(http_get("%s/test/session/traces?test_session_token=%s" % (agent_url, token)))
        roots = sum(
            1
            for trace in traces
            for span in trace
            if not span.get("parent_id") and span.get("service") == service and span.get("name") == "flask.request"
        )
        if roots >= DELIVERY_BATCH:
            break
        time.sleep(0.5)
    with open(log_path) as handle:
        drops = [line.strip() for line in handle if DROP_PATTERN.search(line)]
    return roots, drops


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setup, interleaved; medians are reported")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--defaults", default=os.path.join(ROLE_DIR, "defaults", "main.yml"),
                        help="YAML file with the flask_apm_* worker and tracer variables (default: the role's defaults)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk load before each measured run")
    parser.add_argument("--agent-port", type=int, default=18300, help="ddapm-test-agent port; OTLP uses the next two")
    parser.add_argument("--agent-log-level", default="WARNING",
                        help="ddapm-test-agent log level; at INFO it logs the tree of every trace it receives")
    parser.add_argument("--app-port", type=int, default=18310, help="port of the service under test")
    parser.add_argument("--loop-requests", type=int, default=3000,
                        help="requests per run of the in-process WSGI loop that measures the tracer's cost")
    return parser.parse_args()


def measure_setup(setup, args, wrk, agent, agent_url, app_url):
    """Start one setup, load it with wrk and return its rate, p99 latency and CPU time per request.

    CPU time is read from /proc for the server's process tree and the test agent, and from
    getrusage for wrk, so the figures show where the CPUs went during the measured run.
    """
    key, unused_label, env, command = setup
    server = start(command, env, os.path.join(WORK_DIR, "server-%s.log" % key))
    try:
        wait_for_http(app_url)
        subprocess.run(
            [wrk, "-t%d" % args.threads, "-c%d" % args.connections, "-d%ds" % args.warmup, app_url],
            check=True, capture_output=True)
        server_pids = process_tree(server.pid)
        agent_pids = process_tree(agent.pid)
        server_start, agent_start = cpu_seconds(server_pids), cpu_seconds(agent_pids)
        wrk_start, wall_start = children_cpu_seconds(), time.monotonic()
        output = subprocess.run(
            [wrk, "-t%d" % args.threads, "-c%d" % args.connections, "-d%ds" % args.duration, "--latency", app_url],
            check=True, capture_output=True, text=True).stdout
        wall = time.monotonic() - wall_start
        wrk_cpu = children_cpu_seconds() - wrk_start
        server_cpu, agent_cpu = cpu_seconds(server_pids) - server_start, cpu_seconds(agent_pids) - agent_start
        # CPUs that the server, the test agent and wrk kept busy while wrk ran.
        cpus_busy = (server_cpu + agent_cpu + wrk_cpu) / wall
        if key in TRACED_SETUPS:
            # The tracer sends its last batch within a writer interval, and the test agent decodes it.
            # That CPU time belongs to the run's requests too.
            time.sleep(TRACE_SETTLE_SECONDS)
            server_cpu, agent_cpu = cpu_seconds(server_pids) - server_start, cpu_seconds(agent_pids) - agent_start
        rate, p99, request_count, socket_errors = parse_wrk(output)
        result = {
            "rate": rate,
            "p99": p99,
            "socket_errors": socket_errors,
            "server_us": server_cpu / request_count * 1e6,
            "agent_us": agent_cpu / request_count * 1e6,
            "wrk_us": wrk_cpu / request_count * 1e6,
            "cpus_busy": cpus_busy,
        }
        if key == "c":
            result["delivery"] = check_delivery(agent_url, app_url, env["DD_SERVICE"], server.log_file.name)
        return result
    finally:
        stop(server)


def measure_loop_costs(args, bin_dir, base_env, role_env):
    """Return the median CPU time per request of the WSGI app in a warm loop, untraced and traced."""
    python = os.path.join(bin_dir, "python")
    untraced, traced = [], []
    for unused_round in range(args.rounds):
        untraced.append(measure_wsgi_loop([python], base_env, args.loop_requests))
        traced.append(measure_wsgi_loop([os.path.join(bin_dir, "ddtrace-run"), python], role_env, args.loop_requests))
    return statistics.median(untraced), statistics.median(traced)


def print_summary(setups, results, loop_costs, args):
    """Print the medians, the CPU split per request, the target ratios and the ceilings they allow."""
    def median(key, field):
        return statistics.median(result[field] for result in results[key])

    print()
    print("%-5s %-52s %10s %8s %8s %11s %6s %7s %6s"
          % ("", "setup (median of %d runs per column)" % args.rounds, "req/s", "p99 ms",
             "server", "test agent", "wrk", "total", "CPUs"))
    for key, label, unused_env, unused_command in setups:
        total = median(key, "server_us") + median(key, "agent_us") + median(key, "wrk_us")
        print("%-5s %-52s %10.1f %8.2f %8.0f %11.0f %6.0f %7.0f %6.2f"
              % ("(%s)" % key, label, median(key, "rate"), median(key, "p99"), median(key, "server_us"),
                 median(key, "agent_us"), median(key, "wrk_us"), total, median(key, "cpus_busy")))
    print("server, test agent, wrk: CPU time per request in microseconds; total: their sum;"
          " CPUs: CPUs those three kept busy while wrk ran")
    print()
    rates = {key: median(key, "rate") for key, unused_label, unused_env, unused_command in setups}
    print("(c)/(a) = %.2f  (target >= 4.0)" % (rates["c"] / rates["a"]))
    print("(c)/(b) = %.2f  (target >= 0.45)" % (rates["c"] / rates["b"]))
    print("(c)/(b2) = %.2f  (same ratio against the unit's off switch)" % (rates["c"] / rates["b2"]))

    untraced_us, traced_us = loop_costs
    tracer_lower_bound_us = traced_us - untraced_us
    untraced_total_us = median("b", "server_us") + median("b", "wrk_us")
    traced_lower_bound_us = untraced_total_us + median("c", "agent_us") + tracer_lower_bound_us
    max_traced_rate = median("c", "cpus_busy") * 1e6 / traced_lower_bound_us
    print()
    print("tracer cost in a warm in-process loop (no server): %.0f us traced - %.0f us untraced = %.0f us per request"
          % (traced_us, untraced_us, tracer_lower_bound_us))
    print("estimated ceiling for (c): (b)'s %.0f us + test agent %.0f us + tracer lower bound %.0f us"
          " = %.0f us per request, so"
          % (untraced_total_us, median("c", "agent_us"), tracer_lower_bound_us, traced_lower_bound_us))
    print("  (c)/(b) <= %.2f when (b) and (c) get the same CPU time;"
          % (untraced_total_us / traced_lower_bound_us))
    print("  (c) <= %.0f req/s on the %.2f CPUs (c) kept busy, and then (c)/(a) <= %.2f"
          % (max_traced_rate, median("c", "cpus_busy"), max_traced_rate / rates["a"]))
    print("  (upper bounds: inside gunicorn the tracer costs more than in the warm loop, see the server column)")


def main():
    args = parse_args()
    print("load average at start (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk is not installed: run apt-get install -y wrk")

    filters = load_filters()
    python = "%d.%d" % sys.version_info[:2]
    requirements = filters.flask_apm_requirements(python)
    os.makedirs(WORK_DIR, exist_ok=True)
    app_venv = os.path.join(WORK_DIR, "venv-app")
    agent_venv = os.path.join(WORK_DIR, "venv-agent")
    ensure_venv(app_venv, requirements, filters.flask_apm_pip_version(python))
    with open(os.path.join(REPO_DIR, "tests", "lab", "requirements-testagent.txt")) as handle:
        agent_requirements = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    ensure_venv(agent_venv, agent_requirements, "")

    defaults = role_defaults(args.defaults)
    agent_url = "http://%s:%d" % (HOST, args.agent_port)
    app_url = "http://%s:%d/" % (HOST, args.app_port)
    service = "flask-apm-bench"
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("DD_")}
    tracer_env = dict(base_env, DD_SERVICE=service, DD_ENV="bench", DD_VERSION="1.0", DD_TRACE_AGENT_URL=agent_url)
    role_env = dict(tracer_env, DD_LOGS_INJECTION="true", **{k: str(v) for k, v in defaults["flask_apm_tracer_settings"].items()})
    bin_dir = os.path.join(app_venv, "bin")
    original_script = (
        "import sys; sys.path.insert(0, %r); from app import app; app.run(host=%r, port=%d)"
        % (APP_DIR, HOST, args.app_port)
    )
    setups = [
        ("a", "original: flask dev server under ddtrace-run", tracer_env,
         [os.path.join(bin_dir, "ddtrace-run"), os.path.join(bin_dir, "python"), "-c", original_script]),
        ("b", "role's gunicorn, no ddtrace-run", base_env,
         [os.path.join(bin_dir, "gunicorn")] + gunicorn_args(defaults, args.app_port)),
        ("b2", "role's gunicorn, ddtrace-run, DD_TRACE_ENABLED=false", dict(role_env, DD_TRACE_ENABLED="false"),
         [os.path.join(bin_dir, "ddtrace-run"), os.path.join(bin_dir, "gunicorn")] + gunicorn_args(defaults, args.app_port)),
        ("c", "role's gunicorn under ddtrace-run", role_env,
         [os.path.join(bin_dir, "ddtrace-run"), os.path.join(bin_dir, "gunicorn")] + gunicorn_args(defaults, args.app_port)),
    ]

    agent = start(
        [os.path.join(agent_venv, "bin", "ddapm-test-agent"), "--host", HOST, "--port", str(args.agent_port),
         "--otlp-http-port", str(args.agent_port + 1), "--otlp-grpc-port", str(args.agent_port + 2),
         "--log-level", args.agent_log_level],
        base_env, os.path.join(WORK_DIR, "test-agent.log"))
    results = {setup[0]: [] for setup in setups}
    failures = []
    try:
        wait_for_http(agent_url + "/info")
        if agent.poll() is not None:
            raise RuntimeError("ddapm-test-agent exited with status %s. Read %s: another process listening on"
                               " port %d is the usual cause, so pass a free --agent-port"
                               % (agent.returncode, agent.log_file.name, args.agent_port))
        for round_number in range(1, args.rounds + 1):
            shift = (round_number - 1) % len(setups)
            for setup in setups[shift:] + setups[:shift]:
                key, label = setup[0], setup[1]
                result = measure_setup(setup, args, wrk, agent, agent_url, app_url)
                results[key].append(result)
                print("round %d (%-2s) %-52s %9.1f req/s  p99 %8.2f ms  server %5.0f us/request  %.2f CPUs  %s"
                      % (round_number, key, label, result["rate"], result["p99"], result["server_us"],
                         result["cpus_busy"], result["socket_errors"]), flush=True)
                if "delivery" in result:
                    roots, drops = result["delivery"]
                    if roots < DELIVERY_BATCH or drops:
                        failures.append("round %d: %d of %d root spans arrived; tracer drop lines: %s"
                                        % (round_number, roots, DELIVERY_BATCH, drops[:3]))
        loop_costs = measure_loop_costs(args, bin_dir, base_env, role_env)
    finally:
        stop(agent)

    print_summary(setups, results, loop_costs, args)
    print("load average at end (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg())
    print("wrk %d threads, %d connections, %d s after %d s warm-up; %d CPUs; Python %s; %s"
          % (args.threads, args.connections, args.duration, args.warmup, os.cpu_count(), python, ", ".join(requirements[:4])))
    if failures:
        print("trace delivery FAILED: " + "; ".join(failures))
        return 1
    print("trace delivery: every check batch of %d requests arrived as flask.request root spans" % DELIVERY_BATCH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
