"""PostgreSQL going away under a running server, and PostgreSQL targets that
cannot work: the server keeps answering calls from its cache, says so on
/healthz, refuses to acknowledge what it cannot commit, logs the calls it
answered once the database is back, and never shows a password.

Each test runs its own throwaway server (scripts/pg-test-server.sh), since
it stops it; they need SB_TEST_POSTGRES set (scripts/test.sh does), as the
sign that the machine runs PostgreSQL tests."""
import http.client
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from tests.integration.harness import (BINARY, POSTGRES, ROOT, STARTER, TOKEN, Switchboard, call_sid, free_port,
                                       incoming_params)

PG = os.path.join(ROOT, "scripts", "pg-test-server.sh")


def pg(cmd, d):
    res = subprocess.run(["bash", PG, cmd, d], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


class ThrowawayPostgresCase(unittest.TestCase):
    """A PostgreSQL server of the test's own, and a seeded switchboard on it, reaching it at
    the URL target() gives (the server's own by default)."""

    def setUp(self):
        # Undone in the reverse order, also when a step here fails: what target() made, the
        # server, then the database.
        self.pgdir = tempfile.mkdtemp(prefix="sbpgf.", dir="/tmp")
        self.url = pg("start", self.pgdir)
        self.addCleanup(pg, "stop", self.pgdir)
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)
        self.sb.db = self.target()
        self.sb.seed()
        self.sb.start()

    def target(self):
        """The URL the server is given; what it makes is undone with addCleanup."""
        return self.url


@unittest.skipUnless(POSTGRES, "needs SB_TEST_POSTGRES (scripts/test.sh starts a PostgreSQL)")
class PostgresOutageTest(ThrowawayPostgresCase):

    def healthz(self):
        return self.sb.request("GET", "/healthz")

    def wait_for(self, what, check, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if check():
                return
            time.sleep(0.1)
        self.fail("%s within %d s; log:\n%s" % (what, timeout, self.sb.logs()[-3000:]))

    def test_an_outage_keeps_calls_answered_and_logs_them_when_the_database_is_back(self):
        status, _, _ = self.healthz()
        self.assertEqual(status, 200)
        pg("down", self.pgdir)
        self.wait_for("/healthz says the store is down", lambda: self.healthz()[0] == 503)
        status, _, body = self.healthz()
        self.assertEqual(body, b"error: store is not answering\n")
        # Calls are still answered from the routing cache, a Spanish caller's in Spanish.
        answered = []
        for n in range(10):
            sid = call_sid(0x7000 + n)
            frm = "+5215512345678" if n % 2 else "+15551234567"
            status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(sid, frm=frm))
            self.assertEqual(status, 200, body)
            self.assertIn(b"<Response>", body)
            answered.append(sid)
        # A status callback cannot be committed: it is not acknowledged.
        status, _, body = self.sb.signed_post("/voice/status", incoming_params(
            answered[0], CallStatus="completed", SequenceNumber="3", CallDuration="12"))
        self.assertEqual(status, 503, body)
        self.assertTrue(body.startswith(b"error: "), body)
        pg("up", self.pgdir)
        self.wait_for("/healthz is ok again", lambda: self.healthz()[0] == 200)
        # The calls answered during the outage reach the call log.
        self.wait_for("the outage's calls are logged", lambda: len(self.sb.sql(
            "SELECT call_sid FROM calls WHERE call_sid IN (%s)" % ",".join("'%s'" % s for s in answered)))
            == len(answered), timeout=30)
        # Twilio's retry of the callback is applied now, once.
        for _ in range(2):
            status, _, _ = self.sb.signed_post("/voice/status", incoming_params(
                answered[0], CallStatus="completed", SequenceNumber="3", CallDuration="12"))
            self.assertIn(status, (200, 204))
        self.assertEqual(self.sb.sql("SELECT status, duration FROM calls WHERE call_sid = ?", (answered[0],)),
                         [("completed", 12)])
        self.assertEqual(self.sb.sql("SELECT count(*) FROM call_events WHERE call_sid = ?", (answered[0],)),
                         [(1,)])
        self.assertIn("connected again", self.sb.logs())

    def test_routing_changes_are_pushed_and_still_pushed_after_a_restart(self):
        """The server listens for the triggers' notifications instead of waiting for its poll;
        after the database restarts it listens again."""
        new = "+34910000077"
        self.sb.cli("numbers", "add", new, "--tenant", "latino", "--plan", "starter")
        self.wait_for("the change reloaded by notification",
                      lambda: "source=notify" in self.sb.logs())
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(0x7100), to=new,
                                                                                  frm="+34600000001"))
        self.assertEqual(status, 200)
        self.assertNotIn(b"this number is not configured", body)
        pg("down", self.pgdir)
        self.wait_for("the watch notices", lambda: "not listening for routing changes" in self.sb.logs())
        pg("up", self.pgdir)
        self.wait_for("the watch listens again", lambda: "listening for routing changes again" in self.sb.logs())
        before = self.sb.logs().count("source=notify")
        self.sb.cli("numbers", "remove", new)
        self.wait_for("the removal reloaded by notification",
                      lambda: self.sb.logs().count("source=notify") > before)

    def test_a_restart_under_load_loses_no_acknowledged_callback(self):
        import threading
        acked, stop = [], threading.Event()

        def load():
            n = 0
            while not stop.is_set():
                sid = call_sid(0x8000 + n)
                status, _, _ = self.sb.signed_post("/voice/status", incoming_params(
                    sid, CallStatus="completed", SequenceNumber="1", CallDuration="5"))
                if status in (200, 204):
                    acked.append(sid)
                n += 1

        t = threading.Thread(target=load)
        t.start()
        # Under load before the restart: a slow machine (or ThreadSanitizer) acknowledges fewer.
        self.wait_for("callbacks acknowledged before the restart", lambda: len(acked) > 10)
        pg("down", self.pgdir)
        time.sleep(0.5)
        pg("up", self.pgdir)
        time.sleep(1.0)
        stop.set()
        t.join()
        self.assertGreater(len(acked), 10)
        stored = {r[0] for r in self.sb.sql("SELECT call_sid FROM calls WHERE status = 'completed'")}
        self.assertEqual(set(acked) - stored, set(), "acknowledged callbacks lost in the restart")


class BlackHoleProxy:
    """A TCP port in front of a PostgreSQL's Unix socket that can become a black hole, as when
    the network path to the database breaks: its connections are cut, and new ones are
    accepted (by the kernel) but never answered, so a client's handshake waits for nothing."""

    def __init__(self, unix_path):
        self.unix_path = unix_path
        self.lock = threading.Lock()
        self.black = False
        self.closed = False
        self.socks = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.closed:
                    client.close()
                    return
                self.socks.append(client)
                if self.black:
                    continue  # held open, never read, never answered
                upstream = socket.socket(socket.AF_UNIX)
                self.socks.append(upstream)
            try:
                upstream.connect(self.unix_path)
            except OSError:
                client.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _cut(self):
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def set_black(self, black):
        with self.lock:
            self.black = black
        self._cut()

    def close(self):
        with self.lock:
            self.closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self.listener.close()
        self.acceptor.join(5)
        self._cut()


@unittest.skipUnless(POSTGRES, "needs SB_TEST_POSTGRES (scripts/test.sh starts a PostgreSQL)")
class PostgresUnreachableTest(ThrowawayPostgresCase):
    """A database host that stops answering (no refusal, no reset): each try to connect again
    waits for nothing until its connect timeout. Ten seconds here (the URL's own), so a loop
    that waited it out would miss the callers' answers, which must come at once."""

    def target(self):
        self.proxy = BlackHoleProxy(os.path.join(self.pgdir, ".s.PGSQL.5432"))
        self.addCleanup(self.proxy.close)
        return "postgresql://postgres@127.0.0.1:%d/postgres?connect_timeout=10" % self.proxy.port

    def post(self, path, params, timeout=5):
        # Well under the connect timeout: a server waiting on its database fails this.
        conn = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=timeout)
        try:
            return self.sb.signed_post(path, params, conn=conn)
        finally:
            conn.close()

    def test_calls_are_answered_at_once_while_the_host_is_a_black_hole(self):
        self.assertEqual(self.sb.request("GET", "/healthz")[0], 200)
        self.proxy.set_black(True)
        answered, n = [], 0
        end = time.time() + 12  # past the 10 s connect timeout: a whole try runs out
        while time.time() < end:
            sid = call_sid(0x7300 + n)
            frm = "+34600000%03d" % n if n % 2 else "+1555000%04d" % n
            status, _, body = self.post("/voice/incoming", incoming_params(sid, frm=frm, to=STARTER))
            self.assertEqual(status, 200, body)
            if n % 2:
                self.assertIn("Gracias por llamar a Acme.", body.decode())
            answered.append(sid)
            n += 1
            time.sleep(0.2)
        conn = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=5)
        self.assertEqual(self.sb.request("GET", "/healthz", conn=conn)[0], 503)
        conn.close()
        # A status callback cannot be committed: refused within Twilio's 15 s (the writer
        # tries the store again at its paced retry, up to 5 s apart during an outage).
        status, _, body = self.post("/voice/status", incoming_params(
            answered[0], CallStatus="completed", SequenceNumber="2", CallDuration="3"), timeout=15)
        self.assertEqual(status, 503, body)
        # A try that met nothing but silence has ended by its connect timeout.
        deadline = time.time() + 5
        while "timeout expired" not in self.sb.logs():
            self.assertLess(time.time(), deadline, self.sb.logs()[-3000:])
            time.sleep(0.1)
        self.proxy.set_black(False)
        deadline = time.time() + 30
        while self.sb.request("GET", "/healthz")[0] != 200:
            self.assertLess(time.time(), deadline, self.sb.logs()[-3000:])
            time.sleep(0.2)
        # The calls answered meanwhile reach the call log.
        while len(self.sb.sql("SELECT call_sid FROM calls WHERE call_sid IN (%s)"
                              % ",".join("'%s'" % s for s in answered))) < len(answered):
            self.assertLess(time.time(), deadline + 30, "the black hole's calls were not logged")
            time.sleep(0.2)


@unittest.skipUnless(POSTGRES, "needs SB_TEST_POSTGRES (scripts/test.sh starts a PostgreSQL)")
class PostgresTargetTest(unittest.TestCase):
    def test_an_unreachable_server_is_named_with_its_password_masked(self):
        sb = Switchboard()
        try:
            sb.db = "postgresql://sb:hunter2-secret@127.0.0.1:1/llamadas?connect_timeout=2"
            env = sb.env(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL="http://127.0.0.1:1")
            res = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:%d" % free_port()], env=env,
                                 capture_output=True, text=True, timeout=30)
            self.assertNotEqual(res.returncode, 0)
            out = res.stdout + res.stderr
            self.assertNotIn("hunter2-secret", out)
            self.assertIn("postgresql://sb:***@127.0.0.1:1/llamadas", out)
            self.assertIn("127.0.0.1", out)
        finally:
            sb.close()

    def test_a_schema_newer_than_the_program_is_refused(self):
        from tests.integration.harness import pg_fresh
        url = pg_fresh("newer")
        res = subprocess.run([BINARY, "db", "migrate", "--db", url], capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        subprocess.run(["psql", url, "-qc", "INSERT INTO schema_migrations(version, applied_at) VALUES (999, 0)"],
                       check=True, capture_output=True)
        res = subprocess.run([BINARY, "db", "migrate", "--db", url], capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 1)
        self.assertIn("schema is newer than this program", res.stderr)
        self.assertIn("error: cannot open store", res.stderr)


if __name__ == "__main__":
    unittest.main()
