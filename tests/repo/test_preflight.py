"""Controller and target compatibility: ansible-core against each scenario's system Python.

ansible-core 2.17 and later cannot run modules on Python 3.6 (Ubuntu 18.04). These tests keep
docs/support-matrix.md, the Molecule scenarios, the Vagrantfile, the requirements pins,
meta/runtime.yml and the installed virtualenvs in agreement. They also run the first play of
playbooks/site.yml (the preflight) against a real Python 3.6 interpreter when the controller
has one, and `vagrant validate` when Vagrant is installed.

Run from the checkout with the project's virtualenv: `.venv/bin/pytest -q tests/repo`.
"""

import glob
import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MATRIX_DOC = os.path.join(REPO, "docs", "support-matrix.md")
SCENARIOS = sorted(glob.glob(os.path.join(REPO, "molecule", "*", "molecule.yml")))
VENV = os.environ.get("DDPOC_VENV", os.path.join(REPO, ".venv"))
VENV_216 = os.environ.get("DDPOC_VENV_216", os.path.join(REPO, ".venv-2.16"))


def load_target_python_error():
    """Import the collection's target_python_error filter through the link `make collections` creates."""
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    module = importlib.import_module("ansible_collections.ddpoc.observability.plugins.filter.target_python")
    return module.target_python_error


target_python_error = load_target_python_error()

# System python3 of each platform a scenario runs on: Ubuntu 18.04 ships 3.6.9, Debian 12 ships 3.11.2.
SYSTEM_PYTHON = {
    "hashicorp/bionic64": "3.6",
    "bookworm": "3.11",
}

# The interpreter of the virtualenv that contains the toolchain of each requirements file.
TOOLCHAIN_PYTHON = {
    "requirements.txt": os.path.join(VENV, "bin", "python"),
    "requirements-2.16.txt": os.path.join(VENV_216, "bin", "python"),
}


def read_matrix():
    """Parse the scenario table of docs/support-matrix.md into a list of row dicts."""
    with open(MATRIX_DOC) as handle:
        text = handle.read()
    section = text.split("## Scenarios and the toolchain each one uses", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("scenario", "") or set(cells[0]) == {"-"}:
            continue
        scenario, platform, target_python, requirements, core = cells
        rows.append(
            {
                "scenario": scenario,
                "platform": platform,
                "target_python": target_python,
                "requirements": requirements,
                "core": core,
            }
        )
    return rows


def scenario_platform(path):
    """Return the SYSTEM_PYTHON key of the platform a molecule scenario boots."""
    with open(path) as handle:
        scenario = yaml.safe_load(handle)
    driver = scenario["driver"]["name"]
    if driver == "vagrant":
        boxes = {platform["box"] for platform in scenario["platforms"]}
        assert len(boxes) == 1, "%s: expected one box, found %s" % (path, sorted(boxes))
        return boxes.pop()
    # The default driver here boots the systemd-nspawn lab host, whose Debian suite labhost.py sets.
    with open(os.path.join(REPO, "tests", "lab", "labhost.py")) as handle:
        match = re.search(r'^SUITE = "([a-z]+)"', handle.read(), re.MULTILINE)
    assert match, "tests/lab/labhost.py sets no SUITE"
    return match.group(1)


def pinned_core_series(requirements):
    with open(os.path.join(REPO, requirements)) as handle:
        for line in handle:
            match = re.match(r"ansible-core==(\d+\.\d+)\.\*\s*$", line.split("#", 1)[0].strip())
            if match:
                return match.group(1)
    raise AssertionError("%s pins no ansible-core release series (expected ansible-core==X.Y.*)" % requirements)


def installed_core(python):
    """Return the ansible-core version importable by the interpreter PYTHON."""
    result = subprocess.run(
        [python, "-c", "from ansible.release import __version__; print(__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, "cannot import ansible with %s: %s" % (python, result.stderr)
    return result.stdout.strip()


def find_python36():
    """Return a working Python 3.6 interpreter on the controller, or None."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [os.environ.get("DDPOC_PYTHON36", "")]
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.6.*", "bin", "python3.6")))
    candidates.append(shutil.which("python3.6") or "")
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        # A pyenv shim exists even when it cannot run 3.6, so ask the interpreter itself.
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "3.6":
            return candidate
    return None


MATRIX = read_matrix()


def row_id(row):
    return "%s-%s" % (row["scenario"], row["core"])


def test_matrix_lists_every_scenario():
    documented = {row["scenario"] for row in MATRIX}
    for path in SCENARIOS:
        name = os.path.basename(os.path.dirname(path))
        assert name in documented, "scenario %s is missing from docs/support-matrix.md" % name


@pytest.mark.parametrize("row", MATRIX, ids=row_id)
def test_documented_platform_matches_scenario(row):
    path = os.path.join(REPO, "molecule", row["scenario"], "molecule.yml")
    assert os.path.exists(path), "docs/support-matrix.md lists %s, which has no molecule.yml" % row["scenario"]
    platform = scenario_platform(path)
    assert platform in row["platform"], "scenario %s boots %s, the docs say %s" % (
        row["scenario"],
        platform,
        row["platform"],
    )
    assert row["target_python"] == SYSTEM_PYTHON[platform]


@pytest.mark.parametrize("row", MATRIX, ids=row_id)
def test_documented_core_matches_requirements_pin(row):
    assert pinned_core_series(row["requirements"]) == row["core"]


@pytest.mark.parametrize("row", MATRIX, ids=row_id)
def test_installed_toolchain_supports_scenario_target(row):
    python = TOOLCHAIN_PYTHON[row["requirements"]]
    assert os.path.exists(python), "no virtualenv for %s at %s; create it with `make venv-2.16`" % (
        row["requirements"],
        os.path.dirname(os.path.dirname(python)),
    )
    core = installed_core(python)
    assert ".".join(core.split(".")[:2]) == row["core"], "%s installed ansible-core %s, the pin is %s.*" % (
        python,
        core,
        row["core"],
    )
    assert target_python_error(core, row["target_python"]) == ""


def test_bionic_scenario_uses_216_toolchain():
    rows = [row for row in MATRIX if row["scenario"] == "default"]
    assert rows, "docs/support-matrix.md has no row for the default (Vagrant) scenario"
    assert {row["requirements"] for row in rows} == {"requirements-2.16.txt"}


def test_current_core_rejected_on_bionic_python():
    # The toolchain of requirements.txt against Ubuntu 18.04's Python 3.6.
    core = installed_core(TOOLCHAIN_PYTHON["requirements.txt"])
    assert Version(core) >= Version("2.17"), "this check expects requirements.txt to install 2.17 or later"
    message = target_python_error(core, SYSTEM_PYTHON["hashicorp/bionic64"])
    assert "Python 3.6" in message
    assert "requirements-2.16.txt" in message


@pytest.mark.parametrize(
    "core, target",
    [("2.19.14", "3.6"), ("2.17.0", "3.6"), ("2.18.3", "3.7"), ("2.20.1", "3.8")],
)
def test_incompatible_pairs_rejected(core, target):
    message = target_python_error(core, target)
    assert "Python %s" % target in message
    assert core in message


def test_requires_ansible_matches_matrix():
    with open(os.path.join(REPO, "meta", "runtime.yml")) as handle:
        requires = yaml.safe_load(handle)["requires_ansible"]
    specifier = SpecifierSet(requires)
    series = sorted({Version(row["core"]) for row in MATRIX})
    oldest, newest = series[0], series[-1]

    for version in series:
        assert specifier.contains("%s.0" % version), "requires_ansible %s excludes documented %s" % (requires, version)
    older = "%d.%d.0" % (oldest.major, oldest.minor - 1)
    newer = "%d.%d.0" % (newest.major, newest.minor + 1)
    assert not specifier.contains(older), "requires_ansible %s admits %s, older than any tested series" % (requires, older)
    assert not specifier.contains(newer), "requires_ansible %s admits %s, newer than any tested series" % (requires, newer)

    with open(MATRIX_DOC) as handle:
        assert 'requires_ansible: "%s"' % requires in handle.read(), "docs/support-matrix.md quotes another requires_ansible"


def load_site_plays():
    with open(os.path.join(REPO, "playbooks", "site.yml")) as handle:
        return yaml.safe_load(handle)


def test_preflight_play_runs_before_any_module():
    plays = load_site_plays()
    preflight = plays[0]
    assert preflight["gather_facts"] is False
    assert "always" in preflight.get("tags", [])
    first_task = preflight["tasks"][0]
    assert "ansible.builtin.raw" in first_task, "the first preflight task must be raw, got %s" % sorted(first_task)
    assert "target_python_error" in yaml.safe_dump(preflight["tasks"])
    later_hosts = [play.get("hosts") for play in plays[1:]]
    assert preflight["hosts"] in later_hosts, "no play after the preflight targets %s" % preflight["hosts"]


def run_preflight(tmp_path, playbook_command, interpreter):
    """Run only the first play of site.yml on the controller with INTERPRETER as the target Python."""
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(yaml.safe_dump([load_site_plays()[0]], sort_keys=False))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "datadog_agents": {
                    "hosts": {"target": {"ansible_connection": "local", "ansible_python_interpreter": interpreter}}
                }
            }
        )
    )
    environment = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [playbook_command, "-i", str(inventory), str(playbook)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def require_python36():
    python36 = find_python36()
    if python36 is None:
        pytest.skip(
            "NOT TESTED: no Python 3.6 interpreter on this controller (set DDPOC_PYTHON36 or install one with pyenv); "
            "the preflight play was not run against a Python 3.6 target"
        )
    return python36


def test_preflight_play_stops_current_core_on_python36(tmp_path):
    python36 = require_python36()
    result = run_preflight(tmp_path, os.path.join(VENV, "bin", "ansible-playbook"), python36)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "the target has Python 3.6" in output
    assert "requirements-2.16.txt" in output


def test_preflight_play_passes_core_216_on_python36(tmp_path):
    python36 = require_python36()
    result = run_preflight(tmp_path, os.path.join(VENV_216, "bin", "ansible-playbook"), python36)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "toolchain, expect_success",
    [("requirements-2.16.txt", True), ("requirements.txt", False)],
)
def test_fact_gathering_on_python36(toolchain, expect_success):
    # What the preflight guards against: `setup` on a Python 3.6 target works with 2.16 and breaks with 2.17+.
    python36 = require_python36()
    ansible = os.path.join(os.path.dirname(TOOLCHAIN_PYTHON[toolchain]), "ansible")
    result = subprocess.run(
        [ansible, "localhost", "-c", "local", "-e", "ansible_python_interpreter=%s" % python36]
        + ["-m", "ansible.builtin.setup", "-a", "gather_subset=min filter=ansible_python"],
        cwd=REPO,
        env=dict(
            os.environ,
            ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
            ANSIBLE_CALLBACK_RESULT_FORMAT="json",
            ANSIBLE_NOCOLOR="1",
        ),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = result.stdout + result.stderr
    if not expect_success:
        assert result.returncode != 0, output
        return
    assert result.returncode == 0, output
    facts = json.loads(result.stdout.split("=>", 1)[1])["ansible_facts"]
    assert facts["ansible_python"]["version"]["major"] == 3
    assert facts["ansible_python"]["version"]["minor"] == 6


def collection_ranges(path):
    with open(os.path.join(REPO, path)) as handle:
        return {item["name"]: item.get("version") for item in yaml.safe_load(handle)["collections"]}


def test_vagrant_scenario_collections_match_requirements():
    project = collection_ranges("requirements.yml")
    scenario = collection_ranges("molecule/default/collections.yml")
    assert "community.vagrant" in scenario, "the Vagrant driver's create playbook needs community.vagrant"
    for name, version in project.items():
        assert scenario.get(name) == version, "molecule/default/collections.yml has %s %r, requirements.yml %r" % (
            name,
            scenario.get(name),
            version,
        )


def test_vagrant_inventory_targets_system_python():
    # apt and apt_repository re-run under /usr/bin/python3 to import python3-apt, which bionic
    # builds for 3.6 only. A side-installed python3.8 would pass the preflight and then fail in apt.
    with open(os.path.join(REPO, "inventories", "vagrant", "group_vars", "datadog_agents", "agent.yml")) as handle:
        agent_vars = yaml.safe_load(handle)
    assert agent_vars.get("ansible_python_interpreter") == "/usr/bin/python3"


def read_vagrantfile():
    with open(os.path.join(REPO, "Vagrantfile")) as handle:
        return handle.read()


def test_vagrantfile_matches_vagrant_inventory():
    vagrantfile = read_vagrantfile()
    with open(os.path.join(REPO, "inventories", "vagrant", "hosts.yml")) as handle:
        inventory_vars = yaml.safe_load(handle)["all"]["children"]["datadog_agents"]["hosts"]["bionic"]
    with open(os.path.join(REPO, "inventories", "vagrant", "group_vars", "flask_apm_hosts", "flask_apm.yml")) as handle:
        flask_vars = yaml.safe_load(handle)

    box = re.search(r'vm\.box = "([^"]+)"', vagrantfile).group(1)
    assert SYSTEM_PYTHON.get(box) == "3.6", "the Vagrantfile boots %s, expected Ubuntu 18.04's hashicorp/bionic64" % box
    assert "requirements-2.16.txt" in vagrantfile, "the Vagrantfile must name the toolchain bionic needs"
    assert 'ansible.playbook = "playbooks/site.yml"' in vagrantfile
    assert 'ansible.inventory_path = "inventories/vagrant"' in vagrantfile

    ssh_forward = re.search(r'id: "ssh", guest: 22, host: (\d+)', vagrantfile)
    assert ssh_forward, "the Vagrantfile must pin the SSH forward that inventories/vagrant/hosts.yml uses"
    assert int(ssh_forward.group(1)) == inventory_vars["ansible_port"]
    assert 'guest: %d, host: 5050, host_ip: "127.0.0.1"' % flask_vars["flask_apm_port"] in vagrantfile


def test_vagrantfile_passes_vagrant_validate(tmp_path):
    if shutil.which("vagrant") is None:
        pytest.skip("NOT TESTED: the vagrant command is not installed, so `vagrant validate` did not run")
    result = subprocess.run(
        ["vagrant", "validate"],
        cwd=REPO,
        # Keep Vagrant's machine state out of the checkout.
        env=dict(os.environ, VAGRANT_DOTFILE_PATH=str(tmp_path / "vagrant-state")),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("row", MATRIX, ids=row_id)
def test_documented_toolchain_lists_scenario_driver(row):
    # Molecule finds a driver only when its plugin is installed in the same virtualenv.
    bin_dir = os.path.dirname(TOOLCHAIN_PYTHON[row["requirements"]])
    with open(os.path.join(REPO, "molecule", row["scenario"], "molecule.yml")) as handle:
        driver = yaml.safe_load(handle)["driver"]["name"]
    result = subprocess.run(
        [os.path.join(bin_dir, "molecule"), "drivers"],
        env=dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), NO_COLOR="1"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert driver in result.stdout.split(), (
        "%s/molecule does not list the %r driver of scenario %s; install %s (molecule-plugins[vagrant]) "
        "into that virtualenv" % (bin_dir, driver, row["scenario"], row["requirements"])
    )


def test_vagrant_inventory_serves_localhost_play():
    # The last play of site.yml runs on the implicit localhost, which inherits the variables of
    # `all`. Connection settings for the VM must not break it (for example an undefined inventory_dir).
    result = subprocess.run(
        [os.path.join(VENV, "bin", "ansible"), "-i", "inventories/vagrant", "localhost"]
        + ["-m", "ansible.builtin.debug", "-a", "msg=reachable"],
        cwd=REPO,
        env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reachable" in result.stdout
