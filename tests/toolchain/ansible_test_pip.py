"""Print the pip version that the installed ansible-test bootstraps into its virtualenvs."""

import sys

from ansible_test._internal.python_requirements import get_venv_packages


class _Python:
    version = "%d.%d" % sys.version_info[:2]


print(get_venv_packages(_Python())["pip"])
