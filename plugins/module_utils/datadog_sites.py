# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Datadog sites and their API base URLs, shared by the agent role and the API modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Site names as listed in the server list of Datadog's public OpenAPI specification.
SITE_API_URLS = {
    "datadoghq.com": "https://api.datadoghq.com",
    "us3.datadoghq.com": "https://api.us3.datadoghq.com",
    "us5.datadoghq.com": "https://api.us5.datadoghq.com",
    "datadoghq.eu": "https://api.datadoghq.eu",
    "ap1.datadoghq.com": "https://api.ap1.datadoghq.com",
    "ap2.datadoghq.com": "https://api.ap2.datadoghq.com",
    "uk1.datadoghq.com": "https://api.uk1.datadoghq.com",
    "ddog-gov.com": "https://api.ddog-gov.com",
    "us2.ddog-gov.com": "https://api.us2.ddog-gov.com",
}

SITES = tuple(SITE_API_URLS)


def site_error(value):
    """Return an error message for an unknown site, or None when VALUE is a valid site name."""
    if value in SITE_API_URLS:
        return None
    return (
        "invalid Datadog site %r: use the bare site name, one of %s "
        "(for example 'datadoghq.eu' for the EU site, not 'eu' or 'https://datadoghq.eu')"
        % (value, ", ".join(SITES))
    )
