# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Skip role checks on hosts that the inventory puts outside the role's group."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest


def skip_unless_in_group(host, group):
    """Skip the current test when the inventory lists the host's groups and ``group`` is not among them.

    Without the ansible backend testinfra cannot read groups, so the test runs.
    """
    try:
        groups = host.ansible.get_variables().get("group_names")
    except RuntimeError:  # testinfra's ansible module exists only with the ansible backend
        groups = None
    if groups is not None and group not in groups:
        pytest.skip("not in the %s group" % group)
