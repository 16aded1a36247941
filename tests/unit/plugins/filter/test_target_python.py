# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from packaging.specifiers import SpecifierSet
from ansible_collections.ddpoc.observability.plugins.filter.target_python import target_python_error


@pytest.mark.parametrize("core", ["2.17.0", "2.18.3", "2.19.14", "2.20.1", "2.21.0"])
def test_bionic_python_rejected_by_newer_core(core):
    message = target_python_error(core, "3.6")
    assert "Python 3.6" in message
    assert "requirements-2.16.txt" in message


def test_bionic_python_accepted_by_core_216():
    assert target_python_error("2.16.14", "3.6") == ""


@pytest.mark.parametrize(
    "core, target",
    [("2.19.14", "3.8"), ("2.19.14", "3.11"), ("2.17.0", "3.7"), ("2.20.0", "3.9")],
)
def test_supported_pairs_accepted(core, target):
    assert target_python_error(core, target) == ""


@pytest.mark.parametrize("core, target", [("2.18.0", "3.7"), ("2.20.0", "3.8")])
def test_each_release_minimum_enforced(core, target):
    assert target_python_error(core, target) != ""


@pytest.mark.parametrize("core, target", [("2.19", "three"), ("x.y", "3.6"), ("2.19", "")])
def test_malformed_versions_rejected(core, target):
    with pytest.raises(AnsibleFilterError):
        target_python_error(core, target)


def _repo_file(*parts):
    return os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", *parts)


def _pinned_core(requirements):
    with open(_repo_file(requirements)) as handle:
        for line in handle:
            match = re.match(r"ansible-core==(\d+\.\d+)\.\*", line.strip())
            if match:
                return match.group(1)
    raise AssertionError("%s pins no ansible-core release series" % requirements)


def test_requires_ansible_matches_ci_pins():
    """requires_ansible spans exactly the oldest and newest ansible-core that CI installs."""
    with open(_repo_file("meta", "runtime.yml")) as handle:
        requires = SpecifierSet(yaml.safe_load(handle)["requires_ansible"])
    oldest = _pinned_core("requirements-2.16.txt")
    newest = _pinned_core("requirements.txt")
    assert oldest + ".0" in requires
    assert newest + ".99" in requires
    below = "%s.%d.99" % (oldest.split(".")[0], int(oldest.split(".")[1]) - 1)
    above = "%s.%d.0" % (newest.split(".")[0], int(newest.split(".")[1]) + 1)
    assert below not in requires
    assert above not in requires


def test_every_ci_release_has_a_python_minimum():
    for series in ("2.16", "2.17", "2.18", "2.19"):
        assert target_python_error(series + ".0", "3.9") == ""
