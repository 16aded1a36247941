"""Flask service traced by ddtrace: three plain-text endpoints.

gunicorn loads the WSGI callable ``app`` from this module. Tracing comes from
``ddtrace-run`` in the systemd unit, so this file imports nothing from ddtrace.
"""

import logging

from flask import Flask

app = Flask(__name__)
logger = logging.getLogger(__name__)


@app.route("/")
def entrypoint():
    return "Entrypoint to the Application"


@app.route("/api/apm")
def apm_endpoint():
    return "Getting APM Started"


@app.route("/api/trace")
def trace_endpoint():
    return "Posting Traces"


if __name__ == "__main__":
    # Development entry point only. The debug reloader stays off because it
    # starts a child process that ddtrace-run does not instrument.
    logging.basicConfig(level=logging.INFO)
    app.run(host="127.0.0.1", port=5050, debug=False, use_reloader=False)
