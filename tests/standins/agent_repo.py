# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build a signed loopback apt repository with TEST STAND-IN datadog-agent and datadog-signing-keys packages.

The stub datadog-agent (versions 7.63.0 and 7.64.0) has the real package's layout (dd-agent account, /etc/datadog-agent/{conf.d,checks.d},
/opt/datadog-agent/bin/agent/agent, /opt/datadog-agent/embedded/bin/python with datadog-checks-base, a systemd
unit and an init script) but collects and sends nothing. It exists only for the ddpoc.observability lab tests.

    python3 tests/standins/agent_repo.py build --out DIR [--port 18081]

prints JSON with the apt source line, the public key and the versions. A second build with unchanged
sources reuses DIR. Needs dpkg-deb (package dpkg-dev), apt-ftparchive (package apt-utils), gpg (package gnupg) and pip.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_SOURCES = os.path.join(HERE, "agent_package")
WHEEL_CACHE = os.path.join(HERE, ".cache", "wheels")

AGENT_VERSION = "7.63.0"
AGENT_PACKAGE_VERSION = "1:%s-1" % AGENT_VERSION
# A newer release in the same repository lets tests prove the version hold and a deliberate upgrade.
NEWER_AGENT_VERSION = "7.64.0"
AGENT_VERSION_LINE = 'VERSION = "7.63.0"'
SIGNING_KEYS_VERSION = "1:1.4.0-1"
ARCHITECTURE = "amd64"
SUITE = "stable"
COMPONENT = "7"
KEYRING_PATH = "/usr/share/keyrings/datadog-archive-keyring.gpg"
PUBLIC_KEY_NAME = "DATADOG_APT_KEY_CURRENT.public"
KEY_UID = "ddpoc test stand-in apt key <standin@example.invalid>"

# Packages of the embedded Python. The [deps] extra of datadog-checks-base 38.x pins certifi to a release
# that does not exist on PyPI, so the extra's packages are listed here without pins.
EMBEDDED_REQUIREMENTS = [
    "datadog-checks-base==38.7.0",
    "binary",
    "cachetools",
    "certifi",
    "cryptography",
    "jellyfish",
    "lazy-loader",
    "prometheus-client",
    "protobuf",
    "pydantic",
    "python-dateutil",
    "pyyaml",
    "requests-toolbelt",
    "requests-unixsocket2",
    "requests",
    "simplejson",
    "urllib3",
    "wrapt",
]
# Wheels for the lab host: Debian 12, CPython 3.11, x86_64.
WHEEL_PLATFORM_ARGS = [
    "--only-binary=:all:",
    "--platform", "manylinux2014_x86_64",
    "--platform", "manylinux_2_17_x86_64",
    "--platform", "manylinux_2_28_x86_64",
    "--platform", "manylinux_2_34_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
    "--abi", "abi3",
    "--abi", "none",
]


class BuildError(Exception):
    """A build step failed; the message names the step and the fix."""


def run(command, **kwargs):
    """Run COMMAND, raising BuildError with its output when it fails."""
    try:
        return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)
    except FileNotFoundError:
        raise BuildError("%s not found: install it (apt-get install dpkg-dev apt-utils gnupg)" % command[0])
    except subprocess.CalledProcessError as error:
        raise BuildError("%s failed with exit code %d:\n%s%s" % (
            " ".join(command), error.returncode, error.stdout, error.stderr))


def sources_digest():
    """Return a SHA-256 over this script, the package sources and the requirement list."""
    digest = hashlib.sha256()
    paths = [os.path.abspath(__file__)]
    paths.extend(os.path.join(PACKAGE_SOURCES, name) for name in sorted(os.listdir(PACKAGE_SOURCES)))
    for path in paths:
        digest.update(os.path.basename(path).encode())
        with open(path, "rb") as handle:
            digest.update(handle.read())
    digest.update("\n".join(EMBEDDED_REQUIREMENTS).encode())
    return digest.hexdigest()


def download_wheels():
    """Download the embedded Python's wheels once into the cache and return the cache directory."""
    stamp = os.path.join(WHEEL_CACHE, "requirements.txt")
    expected_requirements = "\n".join(EMBEDDED_REQUIREMENTS) + "\n"
    if os.path.exists(stamp):
        with open(stamp) as handle:
            if handle.read() == expected_requirements:
                return WHEEL_CACHE
    shutil.rmtree(WHEEL_CACHE, ignore_errors=True)
    os.makedirs(WHEEL_CACHE)
    run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", WHEEL_CACHE]
        + WHEEL_PLATFORM_ARGS + EMBEDDED_REQUIREMENTS)
    with open(stamp, "w") as handle:
        handle.write(expected_requirements)
    return WHEEL_CACHE


def ensure_key(out_dir):
    """Generate the throwaway signing key once in OUT_DIR.gnupg; return (GNUPGHOME, fingerprint).

    The key lives beside OUT_DIR, not inside it, because OUT_DIR is served over HTTP.
    """
    home = out_dir.rstrip("/") + ".gnupg"
    shutil.rmtree(os.path.join(out_dir, "gnupg"), ignore_errors=True)
    if not os.path.isdir(home):
        os.makedirs(home, mode=0o700)
    environment = dict(os.environ, GNUPGHOME=home)
    listing = run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=environment).stdout
    if "fpr:" not in listing:
        run(["gpg", "--batch", "--passphrase", "", "--quick-generate-key", KEY_UID, "rsa3072", "sign", "never"],
            env=environment)
        listing = run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=environment).stdout
    fingerprint = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][0]
    return home, fingerprint


def write_file(path, content, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(content)
    os.chmod(path, mode)


def build_deb(staging, control, out_path):
    write_file(os.path.join(staging, "DEBIAN", "control"), control)
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", staging, out_path])


def build_agent_deb(pool_dir, wheel_dir, version):
    package_version = "1:%s-1" % version
    staging = tempfile.mkdtemp(prefix="datadog-agent-standin-")
    # mkdtemp creates the directory with mode 0700, which dpkg-deb would record for the package root.
    os.chmod(staging, 0o755)
    try:
        install_dir = os.path.join(staging, "opt", "datadog-agent")
        with open(os.path.join(PACKAGE_SOURCES, "agent.py")) as handle:
            agent_source = "#!/opt/datadog-agent/embedded/bin/python\n" + handle.read()
        if AGENT_VERSION_LINE not in agent_source:
            raise BuildError("agent.py has no line %s to set the package version in" % AGENT_VERSION_LINE)
        agent_source = agent_source.replace(AGENT_VERSION_LINE, 'VERSION = "%s"' % version)
        write_file(os.path.join(install_dir, "bin", "agent", "agent"), agent_source, 0o755)

        wheels = os.path.join(install_dir, "wheels")
        os.makedirs(wheels)
        for name in sorted(os.listdir(wheel_dir)):
            if name.endswith(".whl"):
                shutil.copy(os.path.join(wheel_dir, name), wheels)
        write_file(os.path.join(wheels, "requirements.txt"), "\n".join(EMBEDDED_REQUIREMENTS) + "\n")

        unit_dir = os.path.join(staging, "lib", "systemd", "system")
        os.makedirs(unit_dir)
        shutil.copy(os.path.join(PACKAGE_SOURCES, "datadog-agent.service"), unit_dir)
        os.makedirs(os.path.join(staging, "etc", "init.d"))
        shutil.copy(os.path.join(PACKAGE_SOURCES, "datadog-agent.init"),
                    os.path.join(staging, "etc", "init.d", "datadog-agent"))
        os.chmod(os.path.join(staging, "etc", "init.d", "datadog-agent"), 0o755)
        for directory in ("conf.d", "checks.d"):
            os.makedirs(os.path.join(staging, "etc", "datadog-agent", directory))
        write_file(os.path.join(staging, "usr", "share", "doc", "datadog-agent", "README.standin"),
                   "TEST STAND-IN datadog-agent package built by ddpoc.observability tests/standins/agent_repo.py.\n"
                   "It is not the Datadog Agent: it collects and sends nothing.\n")

        os.makedirs(os.path.join(staging, "DEBIAN"))
        for script in ("postinst", "prerm", "postrm"):
            target = os.path.join(staging, "DEBIAN", script)
            shutil.copy(os.path.join(PACKAGE_SOURCES, script), target)
            os.chmod(target, 0o755)
        write_file(os.path.join(staging, "DEBIAN", "conffiles"), "/etc/init.d/datadog-agent\n")

        control = (
            "Package: datadog-agent\n"
            "Version: %s\n"
            "Architecture: %s\n"
            "Maintainer: ddpoc maintainers <standin@example.invalid>\n"
            "Depends: python3 (>= 3.9), python3-venv, passwd\n"
            "Section: utils\n"
            "Priority: optional\n"
            "Description: TEST STAND-IN for the Datadog Agent (ddpoc.observability lab only)\n"
            " Same layout as the real package; runs custom checks once through datadog-checks-base\n"
            " with `agent check NAME`. Collects and sends nothing.\n"
        ) % (package_version, ARCHITECTURE)
        out_path = os.path.join(pool_dir, "datadog-agent_%s_%s.deb" % (package_version.split(":", 1)[1], ARCHITECTURE))
        build_deb(staging, control, out_path)
        return out_path
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_signing_keys_deb(pool_dir, binary_key):
    staging = tempfile.mkdtemp(prefix="datadog-signing-keys-standin-")
    os.chmod(staging, 0o755)
    try:
        keyring = os.path.join(staging, KEYRING_PATH.lstrip("/"))
        os.makedirs(os.path.dirname(keyring))
        with open(keyring, "wb") as handle:
            handle.write(binary_key)
        os.chmod(keyring, 0o644)
        control = (
            "Package: datadog-signing-keys\n"
            "Version: %s\n"
            "Architecture: all\n"
            "Maintainer: ddpoc maintainers <standin@example.invalid>\n"
            "Section: utils\n"
            "Priority: optional\n"
            "Description: TEST STAND-IN apt keyring for the stub datadog-agent repository\n"
            " Holds the throwaway key that signs the ddpoc.observability loopback repository.\n"
        ) % SIGNING_KEYS_VERSION
        out_path = os.path.join(pool_dir, "datadog-signing-keys_%s_all.deb" % SIGNING_KEYS_VERSION.split(":", 1)[1])
        build_deb(staging, control, out_path)
        return out_path
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_indexes(out_dir, gnupg_home, fingerprint):
    """Write Packages, Release, InRelease and Release.gpg for dists/SUITE/COMPONENT/binary-ARCHITECTURE."""
    binary_dir = os.path.join("dists", SUITE, COMPONENT, "binary-%s" % ARCHITECTURE)
    os.makedirs(os.path.join(out_dir, binary_dir), exist_ok=True)
    packages = run(["apt-ftparchive", "packages", os.path.join("pool", COMPONENT)], cwd=out_dir).stdout
    write_file(os.path.join(out_dir, binary_dir, "Packages"), packages)
    run(["gzip", "--keep", "--force", "--no-name", os.path.join(out_dir, binary_dir, "Packages")])

    suite_dir = os.path.join(out_dir, "dists", SUITE)
    release = run([
        "apt-ftparchive",
        "-o", "APT::FTPArchive::Release::Origin=ddpoc-standin",
        "-o", "APT::FTPArchive::Release::Label=ddpoc test stand-in",
        "-o", "APT::FTPArchive::Release::Suite=%s" % SUITE,
        "-o", "APT::FTPArchive::Release::Codename=%s" % SUITE,
        "-o", "APT::FTPArchive::Release::Components=%s" % COMPONENT,
        "-o", "APT::FTPArchive::Release::Architectures=%s" % ARCHITECTURE,
        "release", ".",
    ], cwd=suite_dir).stdout
    write_file(os.path.join(suite_dir, "Release"), release)
    environment = dict(os.environ, GNUPGHOME=gnupg_home)
    for name in ("InRelease", "Release.gpg"):
        path = os.path.join(suite_dir, name)
        if os.path.exists(path):
            os.remove(path)
    sign = ["gpg", "--batch", "--yes", "--local-user", fingerprint, "--digest-algo", "SHA256"]
    run(sign + ["--clearsign", "--output", os.path.join(suite_dir, "InRelease"), os.path.join(suite_dir, "Release")],
        env=environment)
    run(sign + ["--armor", "--detach-sign", "--output", os.path.join(suite_dir, "Release.gpg"),
                os.path.join(suite_dir, "Release")], env=environment)


def describe(out_dir, port, fingerprint):
    base_url = "http://127.0.0.1:%d/" % port
    return {
        "repo_line": "deb [signed-by=%s] %s %s %s" % (KEYRING_PATH, base_url, SUITE, COMPONENT),
        "public_key": os.path.join(out_dir, PUBLIC_KEY_NAME),
        "public_key_url": base_url + PUBLIC_KEY_NAME,
        "apt_default_keys": [{"key": "DATADOG_APT_KEY_CURRENT", "value": base_url + PUBLIC_KEY_NAME}],
        "fingerprint": fingerprint,
        "agent_version": AGENT_VERSION,
        "agent_package_version": AGENT_PACKAGE_VERSION,
        "newer_agent_version": NEWER_AGENT_VERSION,
        "signing_keys_version": SIGNING_KEYS_VERSION,
        "directory": out_dir,
    }


def _build(out_dir, port):
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    gnupg_home, fingerprint = ensure_key(out_dir)
    digest = sources_digest() + ":" + fingerprint
    stamp = os.path.join(out_dir, "build.sha256")
    release = os.path.join(out_dir, "dists", SUITE, "InRelease")
    if os.path.exists(stamp) and os.path.exists(release):
        with open(stamp) as handle:
            if handle.read().strip() == digest:
                return describe(out_dir, port, fingerprint)

    environment = dict(os.environ, GNUPGHOME=gnupg_home)
    armored = run(["gpg", "--batch", "--armor", "--export", fingerprint], env=environment).stdout
    write_file(os.path.join(out_dir, PUBLIC_KEY_NAME), armored)
    binary_key = subprocess.run(["gpg", "--batch", "--export", fingerprint], env=environment,
                                check=True, capture_output=True).stdout

    wheel_dir = download_wheels()
    pool_dir = os.path.join(out_dir, "pool", COMPONENT)
    shutil.rmtree(pool_dir, ignore_errors=True)
    os.makedirs(pool_dir)
    for version in (AGENT_VERSION, NEWER_AGENT_VERSION):
        build_agent_deb(pool_dir, wheel_dir, version)
    build_signing_keys_deb(pool_dir, binary_key)
    write_indexes(out_dir, gnupg_home, fingerprint)
    with open(stamp, "w") as handle:
        handle.write(digest + "\n")
    return describe(out_dir, port, fingerprint)


def build(out_dir, port):
    """Build (or reuse) the repository in OUT_DIR and return its description."""
    try:
        return _build(out_dir, port)
    finally:
        # gpg starts a gpg-agent daemon per GNUPGHOME; stop it so no build leaves a process behind.
        home = os.path.abspath(out_dir).rstrip("/") + ".gnupg"
        if os.path.isdir(home):
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the TEST STAND-IN datadog-agent apt repository.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build the repository (reused when the sources are unchanged)")
    build_parser.add_argument("--out", required=True, help="repository directory to create or update")
    build_parser.add_argument("--port", type=int, default=18081,
                              help="loopback HTTP port the repository will be served on (default 18081)")
    arguments = parser.parse_args(argv)
    try:
        print(json.dumps(build(arguments.out, arguments.port), indent=2, sort_keys=True))
    except BuildError as error:
        print("agent_repo.py: build failed: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
