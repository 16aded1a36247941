# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  api_key:
    description:
      - Datadog organisation API key, sent as the C(DD-API-KEY) header.
      - When not set, the E(DD_API_KEY) environment variable is used.
    type: str
  app_key:
    description:
      - Datadog application key, sent as the C(DD-APPLICATION-KEY) header.
      - When not set, the E(DD_APP_KEY) environment variable is used.
      - A scoped key needs the scopes of the resources it manages, for example C(monitors_write).
    type: str
    aliases: [application_key]
  site:
    description:
      - Datadog site name; the API base URL is C(https://api.<site>).
      - Use the bare site name, for example V(datadoghq.eu), never V(eu) or a URL.
      - When not set, the E(DD_SITE) environment variable is used, then V(datadoghq.com).
      - Ignored when O(api_url) is set.
    type: str
    default: datadoghq.com
  api_url:
    description:
      - Full API base URL, for example V(http://127.0.0.1:19080) for a local fake API or a proxy.
      - Overrides O(site).
    type: str
  validate_certs:
    description: Whether to verify the server's TLS certificate.
    type: bool
    default: true
  request_timeout:
    description: Timeout of one HTTP request, in seconds.
    type: float
    default: 30
  retry_timeout:
    description:
      - Maximum total time, in seconds, spent retrying one request after HTTP 429 (waiting for
        C(X-RateLimit-Reset)), 408, 502, 503, 504 or a network error.
      - Create requests are not resent blindly after a lost response. The module first looks the
        resource up by its key, so a retry never makes a duplicate.
    type: float
    default: 120
"""

    ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Plans the changes and sends only read requests (and monitor validation, which writes nothing).
    support: full
  diff_mode:
    description: Returns the normalised before and after documents of every resource that changes.
    support: full
  idempotent:
    description: A second run with the same input reports no change and sends no write request.
    support: full
  action_group:
    description: Use C(group/ddpoc.observability.datadog) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - ddpoc.observability.datadog
"""
