# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a temporary playbook against a testinfra host, with the inventory testinfra uses."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import tempfile

import pytest

REPO_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def ansible_environment():
    """Return the environment for ansible-playbook: the repository's config, no colour, JSON results.

    JSON results keep messages on one line with plain quotes on every ansible-core version,
    while the YAML format wraps them and doubles single quotes.
    """
    environment = dict(os.environ)
    environment["ANSIBLE_CONFIG"] = os.path.join(REPO_DIR, "ansible.cfg")
    environment["ANSIBLE_FORCE_COLOR"] = "0"
    environment["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    environment.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", os.path.join(REPO_DIR, "tests", "lab", "vault-password"))
    return environment


def run_playbook(host, text, *arguments):
    """Run playbook TEXT, with "{host}" replaced by HOST's name; return the CompletedProcess."""
    inventory = getattr(host.backend, "ansible_inventory", None)
    if not inventory:
        pytest.fail(
            "this test runs ansible-playbook and needs the ansible testinfra backend with an inventory "
            "(molecule verify, or pytest --hosts=ansible://HOST --ansible-inventory=FILE)"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        handle.write(text.replace("{host}", host.backend.host))
        path = handle.name
    try:
        return subprocess.run(
            ["ansible-playbook", "-i", inventory, path] + list(arguments),
            cwd=REPO_DIR, env=ansible_environment(), capture_output=True, text=True, check=False,
        )
    finally:
        os.remove(path)
