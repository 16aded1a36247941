# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: target_python_error
short_description: Explain why an ansible-core release cannot run modules on a target's Python
version_added: 0.1.0
description:
  - Compares the controller's ansible-core version with the oldest target Python it supports
    and returns an error message naming the fix, or an empty string when the pair works.
  - The minimums are read from C(_PY_MIN) in each release's C(module_utils/basic.py).
    Release 2.16 needs Python 3.6 (or 2.7), 2.17 needs 3.7, 2.18 and 2.19 need 3.8, and 2.20 and later need 3.9.
options:
  _input:
    description: The controller's ansible-core version, for example C(ansible_version.full).
    type: str
    required: true
  target_python:
    description: The target's Python version as C(MAJOR.MINOR), for example C(3.6).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Fail early on an unsupported controller and target pair
  ansible.builtin.assert:
    that: message | length == 0
    fail_msg: "{{ message }}"
  vars:
    message: "{{ ansible_version.full | ddpoc.observability.target_python_error('3.6') }}"
"""

RETURN = r"""
_value:
  description: An error message, or an empty string when the pair is supported.
  type: str
"""

from ansible.errors import AnsibleFilterError

# (ansible-core major, minor) -> oldest Python 3 it runs modules on.
MIN_TARGET_PYTHON = {
    (2, 16): (3, 6),
    (2, 17): (3, 7),
    (2, 18): (3, 8),
    (2, 19): (3, 8),
}
NEWEST_KNOWN_MIN = (3, 9)


def _version_tuple(value, field, parts):
    try:
        numbers = tuple(int(piece) for piece in str(value).strip().split(".")[:parts])
    except ValueError:
        numbers = ()
    if len(numbers) != parts:
        raise AnsibleFilterError("target_python_error: %s %r is not a version such as '3.11'" % (field, value))
    return numbers


def min_target_python(core_version):
    """Return the oldest target Python 3 (major, minor) that ansible-core CORE_VERSION supports."""
    core = _version_tuple(core_version, "ansible-core version", 2)
    if core < (2, 16):
        return (3, 6)
    return MIN_TARGET_PYTHON.get(core, NEWEST_KNOWN_MIN)


def target_python_error(core_version, target_python):
    """Return an error message when CORE_VERSION cannot run modules on TARGET_PYTHON, else ''."""
    target = _version_tuple(target_python, "target Python version", 2)
    needed = min_target_python(core_version)
    if target >= needed:
        return ""
    return (
        "ansible-core %s runs modules only on Python %d.%d or newer, but the target has Python %d.%d. "
        "Run this play from a controller with ansible-core 2.16 (pip install -r requirements-2.16.txt "
        "in a separate virtualenv), or use a target with a newer system Python."
        % (core_version, needed[0], needed[1], target[0], target[1])
    )


class FilterModule(object):
    """Controller and target compatibility filters."""

    def filters(self):
        return {"target_python_error": target_python_error}
