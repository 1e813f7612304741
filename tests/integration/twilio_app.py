"""A stand-in Twilio application for testing switchboard sim.

Serves TwiML built with the official helper (python3-twilio's VoiceResponse)
on 127.0.0.1, checks every request's X-Twilio-Signature with the helper's
RequestValidator, and records what arrived.
"""
import http.server
import json
import subprocess
import threading
import time
import urllib.parse

from twilio.request_validator import RequestValidator

from tests.integration.harness import BINARY, TOKEN


class App:
    def __init__(self, token=TOKEN):
        self.token = token
        self.routes = {}
        self.requests = []
        self.lock = threading.Lock()
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                params = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
                url = "http://127.0.0.1:%d%s" % (app.port, self.path)
                sig = self.headers.get("X-Twilio-Signature", "")
                valid = RequestValidator(app.token).validate(url, params if self.command == "POST" else {}, sig)
                if self.command == "GET":
                    params = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
                with app.lock:
                    app.requests.append({"path": parsed.path, "method": self.command, "params": params,
                                         "valid": valid, "headers": dict(self.headers)})
                route = app.routes.get(parsed.path)
                if route is None:
                    status, ctype, body = 404, "text/plain", "no route"
                else:
                    out = route(params) if callable(route) else route
                    if isinstance(out, tuple):
                        status, ctype, body = out
                    else:
                        status, ctype, body = 200, "text/xml", str(out)
                if status == "stall":
                    time.sleep(ctype)
                    return
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = handle_any
            do_POST = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def paths(self):
        return [r["path"] for r in self.requests]


def sim(*args, script=None, timeout=60, token=TOKEN, tmpdir=None, seed=42):
    """Runs `switchboard sim call ... --json`; returns (exit code, parsed JSON or None, stderr)."""
    import os
    import tempfile
    argv = [BINARY, "sim", "call", *args, "--json", "--seed", str(seed)]
    if token:
        argv += ["--token", token]
    path = None
    if script is not None:
        fd, path = tempfile.mkstemp(suffix=".script", dir=tmpdir)
        with os.fdopen(fd, "w") as f:
            f.write(script)
        argv += ["--script", path]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    finally:
        if path:
            os.unlink(path)
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        doc = None
    return res.returncode, doc, res.stderr


def events(doc, kind):
    return [e for e in doc["events"] if e["kind"] == kind]
