"""The built collection ships the product only: no tests, stand-ins, lab secrets or local files."""

import os
import shutil
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GALAXY = shutil.which("ansible-galaxy", path=os.path.dirname(sys.executable)) or "ansible-galaxy"
SHIPPED_TOP_LEVEL = {
    "FILES.json", "MANIFEST.json", "README.md", "ansible.cfg", "changelogs", "docs", "inventories",
    "meta", "playbooks", "plugins", "requirements.yml", "roles",
}
FORBIDDEN_PARTS = ("standins", "fakeapi", "vault-password", "molecule", "/tests/", ".venv", "__pycache__")


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    output = tmp_path_factory.mktemp("build")
    subprocess.run(
        [GALAXY, "collection", "build", "--output-path", str(output), REPO],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    (archive,) = output.glob("ddpoc-observability-*.tar.gz")
    with tarfile.open(archive) as tar:
        return [member.name for member in tar.getmembers()]


def test_build_ships_product_only(members):
    top_level = {name.split("/", 1)[0] for name in members}
    assert top_level <= SHIPPED_TOP_LEVEL, "unexpected in the build: %s" % sorted(top_level - SHIPPED_TOP_LEVEL)
    assert "roles" in top_level
    assert "plugins" in top_level


def test_build_excludes_test_material(members):
    for name in members:
        for part in FORBIDDEN_PARTS:
            assert part not in "/" + name, "%s is in the build" % name


def test_build_excludes_lab_inventory(members):
    assert not [name for name in members if name.startswith("inventories/lab")]
