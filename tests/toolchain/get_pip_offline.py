"""Bootstrap pip into an empty virtualenv for ansible-test without its download host.

ansible-test runs ~/.ansible/test/cache/get_pip_<version>.py to put pip into each
sanity and units virtualenv, and downloads that script from a host these machines
cannot reach. `make ansible-test-cache` copies this file there under that name,
next to the pip wheel of the same version fetched from PyPI. The version is read
from this file's name. Arguments are those of `pip install`, plus get-pip's own
--no-setuptools and --no-wheel, which mean "install nothing extra" and are dropped.
"""

import os
import re
import sys

script_dir = os.path.dirname(os.path.abspath(__file__))
match = re.match(r"get_pip_(\d+(?:_\d+)*)\.py$", os.path.basename(__file__))
if not match:
    sys.exit("get_pip_offline: file name must be get_pip_<version>.py, for example get_pip_24_2.py")
version = match.group(1).replace("_", ".")
wheel = os.path.join(script_dir, "pip-%s-py3-none-any.whl" % version)
if not os.path.exists(wheel):
    sys.exit("get_pip_offline: %s is missing; run `make ansible-test-cache`" % wheel)

sys.path.insert(0, wheel)
from pip._internal.cli.main import main  # noqa: E402 (import from the wheel added above)

arguments = [argument for argument in sys.argv[1:] if argument not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--disable-pip-version-check"] + arguments))
