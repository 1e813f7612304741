"""Runs the real switchboard binary for integration tests.

Every server listens on 127.0.0.1 on a free port, uses its own temporary
SQLite file, and is stopped by its PID when the test ends.
"""
import fcntl
import http.client
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from twilio.request_validator import RequestValidator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SB_BUILD", os.path.join(ROOT, "build"))
BINARY = os.path.join(BUILD, "switchboard")
TOKEN = "test-auth-token-0123456789abcdef"

PRO = "+15005550006"
STARTER = "+15005550001"
INACTIVE = "+15005550002"
TRANSFER = "+15557654321"
# ThreadSanitizer's exit code after a report (its `exitcode` option, default 66).
SANITIZER_EXIT_CODE = 66
# LeakSanitizer's exit code after a leak report at exit (ASan builds).
LEAK_EXIT_CODE = 23


# A PostgreSQL server for the tests that need one (scripts/test.sh starts it): a libpq URL.
POSTGRES = os.environ.get("SB_TEST_POSTGRES", "")
_schemas = iter(range(1, 1 << 30))


def pg_fresh(prefix="it"):
    """A URL naming a new, empty schema on the test PostgreSQL: a store of its own."""
    name = "%s_%d_%d" % (prefix, os.getpid(), next(_schemas))
    subprocess.run(["psql", POSTGRES, "-qAtc", "CREATE SCHEMA %s" % name], check=True,
                   capture_output=True, timeout=30)
    return POSTGRES + ("&" if "?" in POSTGRES else "?") + "options=-csearch_path%3D" + name


# Test servers' ports: below the kernel's ephemeral range (32768 and up by default), so that
# no client socket, and no port the kernel picks for a `port 0`, is ever one of them.
TEST_PORTS = range(20000, 32000)
PORT_COUNTER = os.path.join(tempfile.gettempdir(), "switchboard-test-ports")


def free_port():
    """A port free now that no other test process is given: the processes of a run (and of
    runs side by side) take the ports of TEST_PORTS in turn, through a counter in a file they
    share under a lock, each port checked free before it is handed out. The kernel's own
    choice of a free port may hand two processes the same one before either has bound it."""
    with open(PORT_COUNTER, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        n = int(text) if text.isdigit() else random.randrange(len(TEST_PORTS))
        for _ in range(len(TEST_PORTS)):
            n = (n + 1) % len(TEST_PORTS)
            port = TEST_PORTS[n]
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            break
        else:
            raise AssertionError("no free port in %s" % TEST_PORTS)
        f.seek(0)
        f.truncate()
        f.write(str(n))
        return port


def call_sid(n):
    return "CA%032x" % n


# SB_TEST_BACKEND=postgres: every Switchboard gets a fresh schema on the test PostgreSQL
# instead of a SQLite file (scripts/test.sh runs the store-heavy modules so).
ON_POSTGRES = os.environ.get("SB_TEST_BACKEND", "") == "postgres"


def _sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _from_text(v):
    if v == "":
        return None
    try:
        return int(v)
    except ValueError:
        return v


class Switchboard:
    """A switchboard data directory, CLI access to it, and an optional server."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sb-it-")
        self.db = pg_fresh() if ON_POSTGRES else os.path.join(self.dir, "sb.db")
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.dir, "server.log")

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "PUBLIC_", "SWITCHBOARD_"))}
        env["SWITCHBOARD_DB"] = self.db
        env.update(extra)
        return env

    def cli(self, *args, check=True, env=None):
        res = subprocess.run([BINARY, *args], capture_output=True, text=True,
                             env=env or self.env(), timeout=30)
        if check and res.returncode != 0:
            raise AssertionError("switchboard %s failed (%d): %s" % (" ".join(args), res.returncode, res.stderr))
        return res

    def sql(self, query, params=()):
        """Runs one SQL statement on the store with `?` placeholders, on either engine;
        returns its rows as tuples (PostgreSQL's text read back as int where it is one,
        empty as None)."""
        if not self.db.startswith(("postgres://", "postgresql://")):
            import sqlite3
            db = sqlite3.connect(self.db)
            try:
                with db:
                    return db.execute(query, params).fetchall()
            finally:
                db.close()
        parts = query.split("?")
        assert len(parts) == len(params) + 1, query
        text = parts[0] + "".join(_sql_literal(p) + rest for p, rest in zip(params, parts[1:]))
        res = subprocess.run(["psql", self.db, "-X", "-qAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", text],
                             capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise AssertionError("psql: %s" % res.stderr)
        return [tuple(_from_text(v) for v in line.split("\t")) for line in res.stdout.splitlines()]

    def seed(self):
        self.cli("tenants", "add", "acme", "--lang", "en-US", "--transfer", TRANSFER,
                 "--greeting", "en-US=Thanks for calling Acme.", "--voice", "en-US=Polly.Matthew",
                 "--greeting", "es-MX=Gracias por llamar a Acme.")
        self.cli("tenants", "add", "latino")  # default language: es
        self.cli("numbers", "add", PRO, "--tenant", "acme", "--plan", "pro", "--agent", "receptionist")
        self.cli("numbers", "add", STARTER, "--tenant", "acme", "--plan", "starter")
        self.cli("numbers", "add", INACTIVE, "--tenant", "acme", "--plan", "pro", "--inactive")
        self.cli("numbers", "add", "+15005550003", "--tenant", "latino", "--plan", "starter")

    def start(self, *flags, base_url=None, token=TOKEN, wait=True, port=None, extra_env=None):
        # A free port is only free when picked: another test's server, or a client socket, may
        # take it before this server binds it. Then (waiting, the port not chosen by the
        # test) another is tried.
        for attempt in range(3):
            self.port = port or free_port()
            self.base_url = base_url or "http://127.0.0.1:%d" % self.port
            env = self.env(TWILIO_AUTH_TOKEN=token, PUBLIC_BASE_URL=self.base_url, **(extra_env or {}))
            self.log = open(self.log_path, "ab")
            offset = self.log.tell()
            self.proc = subprocess.Popen([BINARY, "serve", "--listen", "127.0.0.1:%d" % self.port, *flags],
                                         env=env, stdout=self.log, stderr=subprocess.STDOUT)
            if not wait:
                return self
            try:
                # A --log-level above info does not log the listening line.
                self.wait_ready(listening_line=not any(f.startswith("--log-level") for f in flags))
                return self
            except AssertionError:
                with open(self.log_path, "rb") as f:
                    taken = b"Address already in use" in f.read()[offset:]
                if port is not None or attempt == 2 or self.proc.poll() is None or not taken:
                    raise
                self.log.close()
                self.proc = None
        return self

    def wait_ready(self, timeout=10, listening_line=False):
        """Waits until the server accepts connections and, when `listening_line`, has logged
        `event=server.listening`: the port opens before the server has set up the rest (its
        SIGTERM handling among it), so a test that stops it at once waits for the line."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited: %s" % self.logs())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if not listening_line or "event=server.listening" in self.logs():
                return
            time.sleep(0.05)
        raise AssertionError("server did not start: %s" % self.logs())

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        report = self.sanitizer_report(rc)
        if report:
            raise AssertionError("the server's sanitizer reported:\n" + report)
        return rc

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def sanitizer_report(self, rc=None):
        """The first sanitizer report in the server's log (a race, a memory error, a leak, undefined
        behaviour), or a note that it exited with a sanitizer's exit code or died of a signal;
        None if there is none: any of them makes the test fail."""
        log = self.logs()
        at = -1
        for marker in ("WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer", "ERROR: AddressSanitizer",
                       "ERROR: LeakSanitizer", ": runtime error: "):
            at = log.find(marker)
            if at >= 0:
                break
        if at >= 0:
            start = log.rfind("==================", 0, at)
            return log[start if start >= 0 else at:][:12000]
        if rc in (SANITIZER_EXIT_CODE, LEAK_EXIT_CODE) or (rc is not None and rc < 0 and rc != -signal.SIGKILL):
            return "the server exited with code %d (a sanitizer's); log:\n%s" % (rc, log[-4000:])
        return None

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # --- HTTP -------------------------------------------------------------

    def url(self, path):
        return self.base_url + path

    def gauge(self, name):
        """A per-loop gauge of /metrics, added up over the loops."""
        status, _, body = self.request("GET", "/metrics")
        assert status == 200, body
        counts = re.findall(r'^%s\{loop="\d+"\} (\d+)$' % re.escape(name), body.decode(), re.M)
        assert counts, body[-2000:]
        return sum(int(n) for n in counts)

    def wait_gauge(self, name, check, timeout=20):
        """Waits until check(the gauge added up) is true; returns the value."""
        deadline = time.time() + timeout
        while True:
            value = self.gauge(name)
            if check(value):
                return value
            if time.time() > deadline:
                raise AssertionError("%s stayed %d: %s" % (name, value, self.logs()[-3000:]))
            time.sleep(0.05)

    def requests_in_flight(self):
        """Requests the server has read and not yet answered, the /metrics scrape asking left out."""
        return self.gauge("switchboard_loop_requests_in_flight") - 1

    def wait_in_flight(self, n, timeout=20):
        """Waits until at least n requests are in flight (read by the server, not answered)."""
        self.wait_gauge("switchboard_loop_requests_in_flight", lambda v: v - 1 >= n, timeout)

    def request(self, method, path, body=b"", headers=None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
        finally:
            if own:
                conn.close()

    def signed_post(self, path, params, token=TOKEN, url=None, conn=None, headers=None):
        """POSTs a form signed by python3-twilio for the public URL of `path`."""
        body = urllib.parse.urlencode(params)
        sig = RequestValidator(token).compute_signature(url or self.url(path), dict(params))
        h = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
        h.update(headers or {})
        return self.request("POST", path, body.encode(), h, conn=conn)

    def shown_call(self, sid, ready, timeout=10):
        """`calls show SID --json`, once ready(shown) is true or `timeout` seconds passed
        (the call's row and its transcript lines are committed by the writer a moment after
        the call's events, so "does not exist" is waited out too)."""
        import json
        deadline = time.time() + timeout
        while True:
            try:
                shown = json.loads(self.cli("calls", "show", sid, "--json").stdout)
            except AssertionError as e:
                if "does not exist" not in str(e) or time.time() > deadline:
                    raise
                time.sleep(0.1)
                continue
            if ready(shown) or time.time() > deadline:
                return shown
            time.sleep(0.1)

    def calls(self):
        import json
        return json.loads(self.cli("calls", "list", "--json", "--limit", "100000").stdout)


def stream_token(sid, token=TOKEN, secret=""):
    """The token <Parameter> switchboard writes in the <Stream> of call `sid` (core/stream_token.h):
    keyed with SWITCHBOARD_STREAM_SECRET when set, else with the auth token."""
    import base64
    import hashlib
    import hmac
    key = hmac.new((secret or token).encode(), b"switchboard stream-token key v1", hashlib.sha256).digest()
    mac = hmac.new(key, b"switchboard stream-token v1:" + sid.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def incoming_params(sid, frm="+15551234567", to=PRO, **extra):
    p = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": frm, "To": to,
         "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01",
         "Caller": frm, "Called": to, "FromCountry": "US", "ToCountry": "US"}
    p.update(extra)
    return p


class SeededServerTest(unittest.TestCase):
    """Test cases that share one seeded server, started once for the class (with the
    class's `server_flags`)."""

    server_flags = ()

    @classmethod
    def setUpClass(cls):
        cls.sb = Switchboard()
        cls.sb.seed()
        cls.sb.start(*cls.server_flags)

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()
