"""Boot, reach and tear down offline Debian 12 systemd lab hosts with systemd-nspawn.

Layers, all under the cache directory (default /var/cache/ddpoc-lab):
  base/    debootstrap minbase tree, built once per cache key
  golden/  overlay upper layer with sshd, python3-apt, pip/venv and the controller's extra
           CA certificates, built once on top of base
Per instance (under the state directory, default /var/lib/ddpoc-lab/instances/NAME):
  upper/, work/, merged/  a fresh overlay whose lower layers are golden and base

Every instance shares the controller's network namespace, so its sshd listens on a
loopback port of the controller. Test-only: this file is not part of the built collection.
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

CACHE_DIR = os.environ.get("DDPOC_LAB_CACHE", "/var/cache/ddpoc-lab")
STATE_DIR = os.environ.get("DDPOC_LAB_STATE", "/var/lib/ddpoc-lab")
REPO_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KEY_FILE = os.path.join(REPO_DIR, ".lab", "ssh", "id_ed25519")

SUITE = "bookworm"
MIRROR = os.environ.get("DDPOC_LAB_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "python3", "iproute2", "ca-certificates"]
GOLDEN_PACKAGES = [
    "openssh-server",
    "python3-apt",
    "python3-pip",
    "python3-venv",
    "ca-certificates",
    "gnupg",
    "apt-transport-https",
    "procps",
    "curl",
]
# Bump when the golden build script in ensure_golden() changes, so caches are rebuilt.
GOLDEN_RECIPE = 1
CONTROLLER_CA_DIR = "/usr/local/share/ca-certificates"
# Environment for every command run inside a container: nothing of the controller's
# (PIP_*, VIRTUAL_ENV, proxies pointing at controller paths) leaks in.
CONTAINER_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    "DEBIAN_FRONTEND=noninteractive",
]
BOOT_TIMEOUT = 120
POWEROFF_TIMEOUT = 30


def log(message):
    print("labhost: %s" % message, file=sys.stderr, flush=True)


def run(cmd, check=True, **kwargs):
    return subprocess.run(cmd, check=check, **kwargs)


@contextlib.contextmanager
def locked(name):
    """Serialise cache builds between concurrent callers on this machine."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_key(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode())
    return digest.hexdigest()[:12]


def base_dir():
    return os.path.join(CACHE_DIR, "base-" + cache_key(SUITE, MIRROR, BASE_PACKAGES))


def golden_dir():
    return os.path.join(
        CACHE_DIR,
        "golden-" + cache_key(os.path.basename(base_dir()), GOLDEN_PACKAGES, controller_ca_files(), GOLDEN_RECIPE),
    )


def controller_ca_files():
    if not os.path.isdir(CONTROLLER_CA_DIR):
        return []
    return sorted(name for name in os.listdir(CONTROLLER_CA_DIR) if name.endswith(".crt"))


def ensure_base():
    target = base_dir()
    if os.path.isdir(target):
        return target
    with locked("base"):
        if os.path.isdir(target):
            return target
        partial = target + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        log("building base tree with debootstrap (once per machine, about a minute)")
        started = time.monotonic()
        run(
            ["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES), SUITE, partial, MIRROR],
            stdout=subprocess.DEVNULL,
        )
        os.rename(partial, target)
        log("base tree ready in %.1f s" % (time.monotonic() - started))
    return target


def mount_overlay(lowers, upper, work, merged):
    for path in (upper, work, merged):
        os.makedirs(path, exist_ok=True)
    options = "lowerdir=%s,upperdir=%s,workdir=%s" % (":".join(lowers), upper, work)
    run(["mount", "-t", "overlay", "overlay", "-o", options, merged])


def unmount(path):
    if os.path.ismount(path):
        run(["umount", path], check=False)
        if os.path.ismount(path):
            run(["umount", "-l", path], check=False)


def nspawn_run(root, script):
    """Run a shell script in ROOT as a plain container (no init), with a clean environment."""
    cmd = ["systemd-nspawn", "-D", root, "--register=no", "--keep-unit", "--quiet", "--pipe"]
    cmd += ["--setenv=" + item for item in CONTAINER_ENV]
    cmd += ["/bin/sh", "-ec", script]
    run(cmd, env=nspawn_environment(), stdin=subprocess.DEVNULL)


def nspawn_environment():
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "0",
    }


def ensure_golden():
    base = ensure_base()
    target = golden_dir()
    if os.path.isdir(target):
        return base, target
    with locked("golden"):
        if os.path.isdir(target):
            return base, target
        log("building golden layer (sshd, python3-apt, pip, venv, CA certificates)")
        started = time.monotonic()
        scratch = target + ".partial"
        shutil.rmtree(scratch, ignore_errors=True)
        upper, work, merged = (os.path.join(scratch, name) for name in ("upper", "work", "merged"))
        mount_overlay([base], upper, work, merged)
        try:
            ca_target = os.path.join(merged, CONTROLLER_CA_DIR.lstrip("/"))
            os.makedirs(ca_target, exist_ok=True)
            for name in controller_ca_files():
                shutil.copy2(os.path.join(CONTROLLER_CA_DIR, name), ca_target)
            nspawn_run(
                merged,
                "apt-get update -qq\n"
                "apt-get install -y -qq --no-install-recommends %s >/dev/null\n"
                "update-ca-certificates >/dev/null\n"
                "systemctl disable ssh.service >/dev/null 2>&1 || true\n"
                "rm -f /etc/ssh/ssh_host_*\n"
                "apt-get clean\n"
                "rm -rf /var/lib/apt/lists/*\n" % " ".join(GOLDEN_PACKAGES),
            )
        finally:
            unmount(merged)
        os.rename(upper, os.path.join(scratch, "layer"))
        shutil.rmtree(work, ignore_errors=True)
        os.rename(os.path.join(scratch, "layer"), target)
        shutil.rmtree(scratch, ignore_errors=True)
        log("golden layer ready in %.1f s" % (time.monotonic() - started))
    return base, target


def ensure_key():
    if not os.path.exists(KEY_FILE):
        os.makedirs(os.path.dirname(KEY_FILE), mode=0o700, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ddpoc-lab throwaway key", "-f", KEY_FILE])
    with open(KEY_FILE + ".pub") as handle:
        return handle.read()


def instance_dir(name):
    return os.path.join(STATE_DIR, "instances", name)


def read_state(name):
    path = os.path.join(instance_dir(name), "state.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def write_state(name, state):
    with open(os.path.join(instance_dir(name), "state.json"), "w") as handle:
        json.dump(state, handle, indent=2)


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def process_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def leader_pid(nspawn_pid):
    result = run(["ps", "-o", "pid=", "--ppid", str(nspawn_pid)], check=False, capture_output=True, text=True)
    pids = [int(item) for item in result.stdout.split()]
    return pids[0] if pids else None


def nsenter_cmd(leader, argv):
    return ["nsenter", "-t", str(leader), "-m", "-u", "-i", "-n", "-p", "--", "env", "-i"] + CONTAINER_ENV + argv


def system_state(leader):
    result = run(
        nsenter_cmd(leader, ["systemctl", "is-system-running"]),
        check=False,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def port_open(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def port_owner(port):
    """Return the ss line of the listener on 127.0.0.1 or 0.0.0.0 PORT, or an empty string."""
    result = run(["ss", "-Hltnp", "sport = :%d" % port], check=False, capture_output=True, text=True)
    return result.stdout.strip()


def cmd_up(args):
    name, port = args.name, args.ssh_port
    existing = read_state(name)
    if existing and process_alive(existing.get("nspawn_pid")):
        if args.replace:
            down(name)
        else:
            print(inventory_line(existing))
            return 0
    elif existing or os.path.isdir(instance_dir(name)):
        down(name)
    if port_open(port):
        sys.exit("labhost: port %d is already in use (%s); choose another --ssh-port" % (port, port_owner(port)))
    others = [other for other in list_instances() if other != name and instance_running(other)]
    if args.exclusive and others:
        sys.exit(
            "labhost: %s must run alone because lab hosts share the controller's ports (MySQL, Flask, ...), "
            "but %s is running; stop it with `python3 tests/lab/labhost.py down NAME` or `make lab-down`"
            % (name, ", ".join(others))
        )

    public_key = ensure_key()
    base, golden = ensure_golden()
    root = instance_dir(name)
    upper, work, merged = (os.path.join(root, part) for part in ("upper", "work", "merged"))
    os.makedirs(root, exist_ok=True)

    # Files the instance needs at boot go into the upper layer before the overlay is mounted.
    sshd_dir = os.path.join(upper, "etc", "ssh", "sshd_config.d")
    os.makedirs(sshd_dir, exist_ok=True)
    with open(os.path.join(sshd_dir, "lab.conf"), "w") as handle:
        handle.write("Port %d\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n" % port)
    ssh_dir = os.path.join(upper, "root", ".ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(ssh_dir, "authorized_keys"), "w") as handle:
        handle.write(public_key)
    os.chmod(os.path.join(ssh_dir, "authorized_keys"), 0o600)

    mount_overlay([golden, base], upper, work, merged)
    started = time.monotonic()
    log_path = os.path.join(root, "console.log")
    with open(log_path, "wb") as console:
        nspawn = subprocess.Popen(
            [
                "setsid",
                "systemd-nspawn",
                "-D",
                merged,
                "--register=no",
                "--keep-unit",
                "-b",
                "--console=pipe",
                "--hostname=" + args.hostname,
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            env=nspawn_environment(),
        )
    state = {"name": name, "ssh_port": port, "nspawn_pid": nspawn.pid, "merged": merged, "hostname": args.hostname}
    write_state(name, state)

    leader = None
    deadline = started + BOOT_TIMEOUT
    status = ""
    while time.monotonic() < deadline:
        if nspawn.poll() is not None:
            down(name)
            sys.exit("labhost: systemd-nspawn exited with %s; see %s" % (nspawn.returncode, log_path))
        # Looked up on every poll: systemd-nspawn can have a short-lived child before the
        # container's init appears, and that child must not be taken for the init.
        leader = leader_pid(nspawn.pid)
        if leader and leader != state.get("leader_pid"):
            # Recorded at once, so a crashed run can still be cleaned up (stop_orphans).
            state.update(leader_pid=leader, leader_start_ticks=process_start_ticks(leader))
            write_state(name, state)
        if leader:
            status = system_state(leader)
            if status in ("running", "degraded"):
                break
        time.sleep(0.05)
    else:
        console_tail = read_tail(log_path)
        down(name)
        sys.exit(
            "labhost: %s did not reach 'running' within %d s (last state %r, init PID %s); console log:\n%s"
            % (name, BOOT_TIMEOUT, status, leader, console_tail)
        )
    boot_seconds = time.monotonic() - started
    if status == "degraded":
        failed = run(nsenter_cmd(leader, ["systemctl", "--failed", "--no-legend"]), capture_output=True, text=True)
        log("warning: %s booted degraded; failed units:\n%s" % (name, failed.stdout))

    state["leader_pid"] = leader
    state["boot_seconds"] = round(boot_seconds, 2)
    write_state(name, state)
    run(nsenter_cmd(leader, ["sh", "-ec", "ssh-keygen -A >/dev/null; systemctl start ssh.service"]))
    while not port_open(port):
        if time.monotonic() > deadline:
            down(name)
            sys.exit("labhost: sshd of %s did not listen on 127.0.0.1:%d" % (name, port))
        time.sleep(0.05)
    log(
        "%s is %s after %.2f s, sshd on 127.0.0.1:%d after %.2f s"
        % (name, status, boot_seconds, port, time.monotonic() - started)
    )
    print(inventory_line(state))
    return 0


def read_tail(path, lines=25):
    with contextlib.suppress(OSError), open(path, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])
    return ""


def inventory_line(state):
    return (
        "%s ansible_host=127.0.0.1 ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s"
        % (state["hostname"], state["ssh_port"], KEY_FILE)
    )


def down(name):
    state = read_state(name) or {}
    root = instance_dir(name)
    nspawn_pid = state.get("nspawn_pid")
    merged = state.get("merged") or os.path.join(root, "merged")
    started = time.monotonic()
    if nspawn_pid and process_alive(nspawn_pid) and any(b"systemd-nspawn" in part for part in process_cmdline(nspawn_pid)):
        leader = leader_pid(nspawn_pid)
        if leader:
            # SIGRTMIN+4 requests a clean poweroff from systemd.
            os.kill(leader, signal.SIGRTMIN + 4)
        deadline = time.monotonic() + POWEROFF_TIMEOUT
        while process_alive(nspawn_pid) and time.monotonic() < deadline:
            reap(nspawn_pid)
            time.sleep(0.05)
        if process_alive(nspawn_pid):
            log("warning: %s did not power off within %d s; killing systemd-nspawn" % (name, POWEROFF_TIMEOUT))
            os.kill(nspawn_pid, signal.SIGKILL)
            time.sleep(0.5)
    stop_orphans(name, state)
    unmount_below(root)
    unmount(merged)
    shutil.rmtree(root, ignore_errors=True)
    log("%s is down (%.2f s)" % (name, time.monotonic() - started))


def stop_orphans(name, state):
    """Stop an instance whose systemd-nspawn died (a crashed run): its init keeps running alone.

    The init is found by the PID and start time recorded when it booted, never by name.
    """
    leader = state.get("leader_pid")
    if not leader or process_start_ticks(leader) != state.get("leader_start_ticks"):
        return
    log("%s: its init (PID %d) outlived systemd-nspawn; powering it off" % (name, leader))
    os.kill(leader, signal.SIGRTMIN + 4)
    deadline = time.monotonic() + POWEROFF_TIMEOUT
    while process_start_ticks(leader) == state["leader_start_ticks"] and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_start_ticks(leader) == state["leader_start_ticks"]:
        # Killing a PID namespace's init kills every process in that namespace.
        os.kill(leader, signal.SIGKILL)
        time.sleep(0.5)


def reap(pid):
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def unmount_below(path):
    """Unmount everything mounted at or below PATH, deepest first."""
    result = run(["findmnt", "-rn", "-o", "TARGET"], check=False, capture_output=True, text=True)
    targets = [line for line in result.stdout.splitlines() if line == path or line.startswith(path.rstrip("/") + "/")]
    for target in sorted(targets, key=len, reverse=True):
        unmount(target)


def cmd_down(args):
    names = list_instances() if args.all else [args.name]
    if args.all and not names and not list_services():
        log("no lab hosts or services to remove")
    for name in names:
        down(name)
    if args.all:
        unmount_below(os.path.join(STATE_DIR, "instances"))
        for name in list_services():
            stop_service(name)
    return 0


def instance_running(name):
    state = read_state(name) or {}
    return process_alive(state.get("nspawn_pid"))


def list_instances():
    parent = os.path.join(STATE_DIR, "instances")
    return sorted(os.listdir(parent)) if os.path.isdir(parent) else []


def cmd_exec(args):
    state = read_state(args.name)
    if not state or not process_alive(state.get("nspawn_pid")):
        sys.exit("labhost: %s is not running" % args.name)
    leader = leader_pid(state["nspawn_pid"])
    return subprocess.call(nsenter_cmd(leader, args.argv))


def service_dir():
    return os.path.join(STATE_DIR, "services")


def read_service(name):
    path = os.path.join(service_dir(), name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def process_start_ticks(pid):
    """Return the start time of PID in clock ticks since boot, or None; with the PID it identifies a process."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return int(fields[19])


def service_running(record):
    """True when the recorded PID is alive and is still the process that was started."""
    return bool(record) and process_start_ticks(record["pid"]) == record["start_ticks"]


def cmd_service_start(args):
    """Start a controller-side helper (apt repository, trace intake, API fake) in the background."""
    record = read_service(args.name)
    if service_running(record):
        log("service %s already runs as PID %d" % (args.name, record["pid"]))
        return 0
    if port_open(args.port):
        sys.exit("labhost: port %d is already in use (%s)" % (args.port, port_owner(args.port)))

    os.makedirs(service_dir(), exist_ok=True)
    log_path = os.path.join(service_dir(), args.name + ".log")
    argv = args.argv
    with open(log_path, "ab") as output:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    record = {
        "name": args.name,
        "pid": process.pid,
        "start_ticks": process_start_ticks(process.pid),
        "argv": argv,
        "port": args.port,
        "log": log_path,
    }
    with open(os.path.join(service_dir(), args.name + ".json"), "w") as handle:
        json.dump(record, handle)

    deadline = time.monotonic() + args.timeout
    while not port_open(args.port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_service(args.name)
            sys.exit("labhost: service %s did not listen on 127.0.0.1:%d; see %s" % (args.name, args.port, log_path))
        time.sleep(0.1)
    log("service %s listens on 127.0.0.1:%d (PID %d)" % (args.name, args.port, process.pid))
    return 0


def stop_service(name):
    record = read_service(name)
    if service_running(record):
        # The service leads its own session, so its process group contains it and its children.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 10
        while process_alive(record["pid"]) and time.monotonic() < deadline:
            reap(record["pid"])
            time.sleep(0.05)
        if process_alive(record["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record["pid"], signal.SIGKILL)
        log("service %s stopped" % name)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(service_dir(), name + ".json"))


def list_services():
    if not os.path.isdir(service_dir()):
        return []
    return sorted(name[: -len(".json")] for name in os.listdir(service_dir()) if name.endswith(".json"))


def cmd_service_stop(args):
    if args.if_idle:
        running = [name for name in list_instances() if instance_running(name)]
        if running:
            log("services kept: instances %s still run" % ", ".join(running))
            return 0
    for name in list_services() if args.all else [args.name]:
        stop_service(name)
    return 0


def cmd_status(_args):
    rows = []
    for name in list_instances():
        state = read_state(name) or {}
        alive = process_alive(state.get("nspawn_pid"))
        rows.append({"name": name, "running": alive, **state})
    services = [dict(read_service(name), running=service_running(read_service(name))) for name in list_services()]
    print(json.dumps({"instances": rows, "services": services}, indent=2))
    return 0


def cmd_prepare(_args):
    """Build the cached base and golden layers and the throwaway key."""
    ensure_key()
    base, golden = ensure_golden()
    print(json.dumps({"base": base, "golden": golden, "key": KEY_FILE}))
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="exec and service-start take the command after --"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser("prepare", help="build the cached base and golden layers")
    prepare.set_defaults(func=cmd_prepare)

    up = commands.add_parser("up", help="boot an instance and start its sshd")
    up.add_argument("name")
    up.add_argument("--ssh-port", type=int, required=True, help="loopback port for the instance's sshd")
    up.add_argument("--hostname", help="host name inside the instance (default: NAME)")
    up.add_argument("--replace", action="store_true", help="destroy a running instance of that name first")
    up.add_argument("--exclusive", action="store_true", help="fail when any other instance is running")
    up.set_defaults(func=cmd_up)

    down_parser = commands.add_parser("down", help="power off and remove instances")
    target = down_parser.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?")
    target.add_argument(
        "--all", action="store_true", help="every instance and service, including left-overs of crashed runs"
    )
    down_parser.set_defaults(func=cmd_down)

    exec_parser = commands.add_parser("exec", help="run a command inside an instance")
    exec_parser.add_argument("name")
    exec_parser.set_defaults(func=cmd_exec)

    start = commands.add_parser("service-start", help="start a controller-side helper process in the background")
    start.add_argument("name")
    start.add_argument("--port", type=int, required=True, help="loopback port the helper listens on")
    start.add_argument("--timeout", type=float, default=30, help="seconds to wait for the port")
    start.set_defaults(func=cmd_service_start)

    stop = commands.add_parser("service-stop", help="stop controller-side helpers")
    stop_target = stop.add_mutually_exclusive_group(required=True)
    stop_target.add_argument("name", nargs="?")
    stop_target.add_argument("--all", action="store_true", help="every service")
    stop.add_argument("--if-idle", action="store_true", help="do nothing while any instance still runs")
    stop.set_defaults(func=cmd_service_stop)

    status = commands.add_parser("status", help="list instances and services as JSON")
    status.set_defaults(func=cmd_status)

    # Everything after "--" is the command for exec and service-start.
    command = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    args = parser.parse_args(argv)
    args.argv = command
    if args.command in ("exec", "service-start") and not command:
        parser.error("%s needs a command after --" % args.command)
    if getattr(args, "hostname", "unset") is None:
        args.hostname = args.name
    return args


def main(argv=None):
    if os.geteuid() != 0:
        sys.exit("labhost: run as root (systemd-nspawn, mount and nsenter need it)")
    args = parse_args(argv if argv is not None else sys.argv[1:])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
