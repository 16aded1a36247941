# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start the project's fake Datadog API in a thread on a free loopback port, for unit tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys
import threading

from ansible.module_utils.urls import open_url

COLLECTION_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(COLLECTION_ROOT, "tests", "fakeapi"))

import server as fakeapi  # noqa: E402  pylint: disable=wrong-import-position


class RunningFake:
    """A fake API server running in a background thread; stop() shuts it down."""

    def __init__(self, **options):
        self.server = fakeapi.make_server("127.0.0.1", 0, **options)
        self.app = self.server.app
        self.url = self.app.base_url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def control(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        response = open_url(self.url + path, data=data, method=method,
                            headers={"Content-Type": "application/json"}, timeout=10)
        raw = response.read()
        return json.loads(raw) if raw else None

    def faults(self, *rules):
        return self.control("POST", "/_fake/faults", {"rules": list(rules)})

    def counters(self):
        return self.app.counters()

    def requests(self):
        return list(self.app.requests)

    def clear_requests(self):
        self.app.requests = []

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
