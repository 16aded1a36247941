# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Locate the recorded Datadog traffic and report clearly when it is missing."""

import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakeapi"))
sys.path.insert(0, os.path.dirname(__file__))

ENV_NAME = "DDPOC_CONFORMANCE_DIR"
DEFAULT_DIR = os.path.join(ROOT, "..", "shared", "conformance")


def conformance_dir():
    return os.path.abspath(os.environ.get(ENV_NAME) or DEFAULT_DIR)


def pytest_report_header(config):
    path = conformance_dir()
    if os.path.isdir(path):
        return "conformance data: %s" % path
    return "conformance data: NOT FOUND at %s (set %s)" % (path, ENV_NAME)


def pytest_terminal_summary(terminalreporter):
    path = conformance_dir()
    if not os.path.isdir(path):
        terminalreporter.write_line(
            "CONFORMANCE TESTS DID NOT RUN: no recorded traffic at %s; set %s to the conformance folder"
            % (path, ENV_NAME), red=True, bold=True)


@pytest.fixture(scope="session")
def recordings():
    path = conformance_dir()
    if not os.path.isdir(path):
        pytest.skip("conformance tests did not run: %s not found (set %s)" % (path, ENV_NAME))
    import cassettes
    loaded = cassettes.load_all(path)
    assert loaded, "no cassette files found under %s" % path
    return loaded
