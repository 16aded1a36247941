"""Measure the CPU time per request when the WSGI app is called directly, with no server.

run.py starts this script once plainly and once under ddtrace-run with the role's tracer
environment. The difference is the tracer's cost per request in a warm loop, with caches and
branch predictors trained by the loop itself. Under a real server the same work costs more,
so the difference is a lower bound on what tracing adds to a request served by gunicorn.

Usage: wsgi_loop.py APP_DIR MODULE:CALLABLE REQUESTS   (prints one JSON object)
"""

import importlib
import io
import json
import sys
import time

PATHS = ("/", "/api/apm", "/api/trace")
WARMUP_REQUESTS = 300
# Time for the tracer's background writer to send the last batch, whose CPU time counts too.
FLUSH_WAIT_SECONDS = 2.0


def make_environ(path):
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5050",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:5050",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(app, path):
    statuses = []
    body = app(make_environ(path), lambda status, headers, exc_info=None: statuses.append(status))
    try:
        for unused_chunk in body:
            pass
    finally:
        if hasattr(body, "close"):
            body.close()
    if not statuses or not statuses[0].startswith("200"):
        raise RuntimeError("GET %s returned %s, expected 200" % (path, statuses))


def main():
    app_dir, target, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
    module_name, callable_name = target.split(":")
    sys.path.insert(0, app_dir)
    app = getattr(importlib.import_module(module_name), callable_name)

    for number in range(WARMUP_REQUESTS):
        call(app, PATHS[number % len(PATHS)])
    # Let the writer send the warm-up traces before the measured window opens.
    time.sleep(FLUSH_WAIT_SECONDS)
    start = time.process_time()
    for number in range(requests):
        call(app, PATHS[number % len(PATHS)])
    time.sleep(FLUSH_WAIT_SECONDS)
    cpu_seconds = time.process_time() - start
    print(json.dumps({"requests": requests, "cpu_us_per_request": cpu_seconds / requests * 1e6}))


if __name__ == "__main__":
    main()
