# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load vcrpy (version 1) and go-vcr (version 2) cassettes into one list of exchanges."""

import glob
import json
import os
from urllib.parse import urlsplit

import yaml


def _json(text):
    if text is None:
        return None
    if isinstance(text, dict):
        text = text.get("string")
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _exchange(interaction):
    request = interaction["request"]
    response = interaction["response"]
    url = request.get("uri") or request.get("url")
    parts = urlsplit(url)
    if isinstance(response.get("status"), dict):
        status = response["status"]["code"]
    else:
        status = response.get("code") or int(str(response.get("status")).split()[0])
    return {
        "method": request["method"],
        "path": parts.path,
        "query": parts.query,
        "request": _json(request.get("body")),
        "status": int(status),
        "response": _json(response.get("body")),
    }


def load_all(folder):
    """Return {relative file name: [exchange, ...]} for every cassette under ``folder``."""
    result = {}
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.yaml"), recursive=True)):
        with open(path) as handle:
            data = yaml.safe_load(handle)
        if not isinstance(data, dict) or "interactions" not in data:
            continue
        result[os.path.relpath(path, folder)] = [_exchange(i) for i in data["interactions"]]
    return result


def resource_of(path):
    if path.startswith("/api/v1/dashboard"):
        return "dashboard"
    if path.startswith("/api/v1/monitor"):
        return "monitor"
    if path.startswith("/api/v2/downtime"):
        return "downtime"
    return None
