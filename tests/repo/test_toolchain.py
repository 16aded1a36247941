"""Checks of the test toolchain itself: pins, Molecule drivers and scenario files.

Run with the project's virtualenv first on PATH (`make test` does this).
"""

import glob
import os
import re
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCENARIOS = sorted(glob.glob(os.path.join(REPO, "molecule", "*", "molecule.yml")))
REQUIREMENT_FILES = ["requirements.txt", "requirements-2.16.txt"]


def read_pins(name):
    """Return {distribution: full requirement line} for one requirements file."""
    pins = {}
    with open(os.path.join(REPO, name)) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                distribution = re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower()
                pins[distribution] = line
    return pins


def load_scenario(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def test_scenarios_found():
    names = [os.path.basename(os.path.dirname(path)) for path in SCENARIOS]
    assert "lab" in names
    assert "default" in names


@pytest.mark.parametrize("requirements", REQUIREMENT_FILES)
def test_molecule_toolchain_pinned_together(requirements):
    pins = read_pins(requirements)
    assert pins.get("molecule", "").startswith("molecule==")
    assert pins.get("molecule-plugins", "").startswith("molecule-plugins[vagrant]==")
    assert pins.get("python-vagrant", "").startswith("python-vagrant==")
    assert pins.get("pytest-testinfra", "").startswith("pytest-testinfra==")


@pytest.mark.parametrize("requirements", REQUIREMENT_FILES)
def test_legacy_testinfra_distribution_absent(requirements):
    # The old "testinfra" distribution breaks molecule's verifier; only pytest-testinfra works.
    assert "testinfra" not in read_pins(requirements)


def test_every_declared_driver_is_installed():
    result = subprocess.run(["molecule", "drivers"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    available = set(result.stdout.split())
    for path in SCENARIOS:
        driver = load_scenario(path)["driver"]["name"]
        assert driver in available, (
            "scenario %s declares driver %r, which `molecule drivers` does not list; "
            "install requirements.txt (molecule-plugins[vagrant]) into the same virtualenv as molecule"
            % (path, driver)
        )


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: os.path.basename(os.path.dirname(path)))
def test_scenario_passes_molecule_schema(path):
    from molecule.model import schema_v3

    errors = schema_v3.validate(load_scenario(path))
    assert errors == [] or errors is None


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: os.path.basename(os.path.dirname(path)))
def test_scenario_has_no_lint_step(path):
    scenario = load_scenario(path)
    assert "lint" not in scenario
    assert "lint" not in scenario.get("provisioner", {})
    assert "lint" not in scenario.get("scenario", {}).get("test_sequence", [])


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: os.path.basename(os.path.dirname(path)))
def test_scenario_uses_testinfra_with_tests(path):
    verifier = load_scenario(path)["verifier"]
    assert verifier["name"] == "testinfra"
    directory = os.path.normpath(os.path.join(os.path.dirname(path), verifier.get("directory", "tests")))
    assert glob.glob(os.path.join(directory, "test_*.py")), "no testinfra tests in %s" % directory


def test_molecule_lists_every_scenario():
    result = subprocess.run(
        ["molecule", "list", "--format", "plain"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for path in SCENARIOS:
        assert os.path.basename(os.path.dirname(path)) in result.stdout
