"""Search the lab scenario's verbose diff converge log for the lab's secrets.

`make molecule-lab` writes the log of `molecule test -s lab`, whose converge and
idempotence runs use `--diff -vvv`, to .build/molecule-lab.log.
"""

import os
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOG = os.environ.get("DDPOC_CONVERGE_LOG") or os.path.join(REPO, ".build", "molecule-lab.log")
VAULT = os.path.join(REPO, "inventories", "lab", "group_vars", "all", "vault.yml")
PASSWORD_FILE = os.path.join(REPO, "tests", "lab", "vault-password")


@pytest.fixture(scope="module")
def converge_log():
    if not os.path.exists(LOG):
        pytest.fail("%s is missing: run `make molecule-lab` first" % LOG)
    with open(LOG, encoding="utf-8", errors="replace") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def secrets():
    plain = subprocess.run(
        ["ansible-vault", "view", "--vault-password-file", PASSWORD_FILE, VAULT],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values = {name: str(value) for name, value in yaml.safe_load(plain).items()}
    assert values, "the lab vault holds no secrets to search for"
    # The mysql role generates the datadog account's password on the controller (its default path).
    generated = os.path.expanduser("~/.ansible/ddpoc-observability/lab/mysql-datadog-password")
    assert os.path.exists(generated), "the lab converge did not generate %s" % generated
    with open(generated) as handle:
        values["generated MySQL datadog password"] = handle.read().split()[0]
    return values


def test_log_is_a_verbose_diff_converge(converge_log):
    # Without these markers the search below would prove nothing.
    assert "PLAY [Install and configure" in converge_log or "PLAY [Install the Datadog Agent" in converge_log
    assert "ESTABLISH SSH CONNECTION" in converge_log, "converge did not run with -vvv"
    assert "--diff" in converge_log or "--- before" in converge_log or "+++ after" in converge_log
    assert "datadog.yaml" in converge_log


def test_no_secret_in_log(converge_log, secrets):
    for name, value in secrets.items():
        assert value not in converge_log, "%s from the lab vault appears in %s" % (name, LOG)
