"""Tests of the lab host harness: boot, isolation from the controller, teardown, crash cleanup.

They boot real systemd-nspawn instances, so they need root and `make host-deps`.
Run with `make lab-harness`.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
LABHOST = os.path.join(HERE, "labhost.py")
KEY = os.path.join(HERE, "..", "..", ".lab", "ssh", "id_ed25519")
NAME = "harness-test"
PORT = 22911
CA_DIR = "/usr/local/share/ca-certificates"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab harness needs root")


def labhost(*arguments, check=True, env=None):
    return subprocess.run(
        [sys.executable, LABHOST] + list(arguments), capture_output=True, text=True, check=check, env=env
    )


def lab_exec(command):
    result = labhost("exec", NAME, "--", "sh", "-c", command)
    return result.stdout


def status():
    return json.loads(labhost("status").stdout)


def instance_state():
    return {item["name"]: item for item in status()["instances"]}.get(NAME)


def port_listening(port):
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def mounts_below(path):
    result = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True, check=True)
    return [line for line in result.stdout.splitlines() if line.startswith(path)]


@pytest.fixture(scope="module")
def instance():
    # Controller variables that must not reach the lab host.
    leaky = dict(os.environ, PIP_FIND_LINKS="/controller/only", VIRTUAL_ENV="/controller/venv")
    labhost("up", NAME, "--ssh-port", str(PORT), "--replace", env=leaky)
    state = instance_state()
    yield state
    labhost("down", NAME, check=False)


def test_instance_boots_to_running(instance):
    assert instance["running"]
    assert lab_exec("systemctl is-system-running").strip() == "running"
    print("boot to 'running': %.2f s" % instance["boot_seconds"])


def test_sshd_accepts_throwaway_key(instance):
    result = subprocess.run(
        [
            "ssh", "-i", KEY, "-p", str(PORT), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
            "root@127.0.0.1", "env",
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "SSH_CONNECTION=127.0.0.1" in result.stdout
    assert "PIP_" not in result.stdout
    assert "VIRTUAL_ENV" not in result.stdout


def test_sshd_listens_on_loopback_only(instance):
    listeners = lab_exec("ss -Hltn 'sport = :%d'" % PORT)
    assert "127.0.0.1:%d" % PORT in listeners
    assert "0.0.0.0:%d" % PORT not in listeners
    assert "*:%d" % PORT not in listeners


def test_controller_environment_not_inherited(instance):
    environment = lab_exec("systemctl show-environment; env; cat /proc/1/environ | tr '\\0' '\\n'")
    assert "PIP_" not in environment
    assert "VIRTUAL_ENV" not in environment
    assert "/controller/" not in environment


def test_controller_ca_certificates_trusted(instance):
    names = sorted(name for name in os.listdir(CA_DIR) if name.endswith(".crt")) if os.path.isdir(CA_DIR) else []
    if not names:
        pytest.fail("this controller has no extra CA certificates in %s, so there is nothing to check" % CA_DIR)
    bundle = lab_exec("cat /etc/ssl/certs/ca-certificates.crt")
    for name in names:
        with open(os.path.join(CA_DIR, name)) as handle:
            body = "".join(line for line in handle.read().splitlines(True) if not line.startswith("#")).strip()
        assert body.splitlines()[1] in bundle, "%s is missing from the lab host's CA bundle" % name


def test_exclusive_refuses_second_instance(instance):
    result = labhost("up", NAME + "-second", "--ssh-port", str(PORT + 1), "--exclusive", check=False)
    assert result.returncode != 0
    assert NAME in result.stderr
    assert "make lab-down" in result.stderr
    assert not port_listening(PORT + 1)


def test_teardown_leaves_nothing(instance):
    root = "/var/lib/ddpoc-lab/instances/" + NAME
    pid = instance["nspawn_pid"]
    labhost("down", NAME)
    assert not port_listening(PORT)
    assert not os.path.exists("/proc/%d" % pid)
    assert mounts_below(root) == []
    assert not os.path.exists(root)


def test_crashed_instance_cleaned_up():
    root = "/var/lib/ddpoc-lab/instances/" + NAME
    labhost("up", NAME, "--ssh-port", str(PORT), "--replace")
    state = instance_state()
    # Simulate a crashed run: the harness process is gone and systemd-nspawn dies abruptly,
    # leaving the overlay mounted and the state directory behind.
    os.kill(state["nspawn_pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists("/proc/%d" % state["nspawn_pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mounts_below(root), "the simulated crash left no mount, so the cleanup would prove nothing"
    labhost("down", NAME)
    assert mounts_below(root) == []
    assert not os.path.exists(root)
    assert not port_listening(PORT)
