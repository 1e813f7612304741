"""Three servers on one store, as behind a load balancer: one call's status
callbacks arrive duplicated and out of order, spread across the instances;
flow steps and Twilio's retries of them land on different instances; one
instance is killed with SIGKILL under load. Afterwards every acknowledged
event is in the store exactly once and every call has one final state.

Runs on the SQLite file the three share, and on PostgreSQL when
SB_TEST_BACKEND=postgres (scripts/test.sh runs it both ways)."""
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import unittest
import urllib.parse

from twilio.request_validator import RequestValidator

from tests.integration.harness import BINARY, TOKEN, Switchboard, call_sid, free_port, incoming_params

FLOW_NUMBER = "+15005550018"
CALLS = 40
STATUSES = [(1, "initiated"), (2, "ringing"), (3, "in-progress"), (4, "completed")]

MENU = {
    "name": "menu", "start": "menu",
    "nodes": {
        "menu": {"type": "menu", "prompt": {"en": "Press 1 for sales.", "es": "Oprima 1 para ventas."},
                 "input": "dtmf", "options": [{"digit": "1", "next": "bye"}], "max_attempts": 5,
                 "invalid_prompt": {"en": "Not an option.", "es": "Esa opción no existe."},
                 "fallback": "bye"},
        "bye": {"type": "hangup", "text": {"en": "Goodbye.", "es": "¡Hasta pronto!"}},
    },
}


class Instance:
    """One server of the three, sharing the first one's store."""

    def __init__(self, first=None):
        self.sb = Switchboard()
        if first:
            self.sb.db = first.sb.db
        self.killed = False

    def post(self, path, params):
        """POSTs a signed form; returns the status, or None when the instance is gone."""
        body = urllib.parse.urlencode(params)
        sig = RequestValidator(TOKEN).compute_signature(self.sb.url(path), dict(params))
        conn = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=20)
        try:
            conn.request("POST", path, body.encode(), {"Content-Type": "application/x-www-form-urlencoded",
                                                       "X-Twilio-Signature": sig})
            resp = conn.getresponse()
            return resp.status, resp.read()
        except OSError:
            return None, b""
        finally:
            conn.close()


class MultiInstanceTest(unittest.TestCase):
    def setUp(self):
        self.a = Instance()
        self.a.sb.seed()
        path = os.path.join(self.a.sb.dir, "menu.json")
        with open(path, "w") as f:
            json.dump(MENU, f)
        self.a.sb.cli("flows", "import", path, "--tenant", "acme")
        self.a.sb.cli("numbers", "add", FLOW_NUMBER, "--tenant", "acme", "--plan", "starter", "--flow", "menu")
        self.b = Instance(self.a)
        self.c = Instance(self.a)
        self.all = [self.a, self.b, self.c]
        for name, i in zip("abc", self.all):
            i.sb.start(extra_env={"SWITCHBOARD_INSTANCE": "sb-" + name})

    def tearDown(self):
        for i in reversed(self.all):
            if i.killed:
                i.sb.proc = None
                i.sb.log.close()
            if i is not self.a:
                i.sb.stop()
                shutil.rmtree(i.sb.dir, ignore_errors=True)
        self.a.sb.close()

    def test_status_callbacks_spread_duplicated_and_reordered_land_once(self):
        rng = random.Random(15)
        acked = set()  # (call index, sequence) whose callback some instance acknowledged
        lock = threading.Lock()
        deliveries = []
        for n in range(CALLS):
            events = [ev for ev in STATUSES for _ in range(rng.choice((1, 2, 3)))]
            rng.shuffle(events)
            deliveries.extend((n, seq, st) for seq, st in events)
        rng.shuffle(deliveries)
        frm = lambda n: "+3460000%04d" % n if n % 2 else "+1555000%04d" % n  # half Spanish callers

        def send(chunk):
            for n, seq, st in chunk:
                target = rng.choice(self.all)
                p = incoming_params(call_sid(0x5000 + n), frm=frm(n), CallStatus=st, SequenceNumber=str(seq),
                                    CallDuration="30" if st == "completed" else None,
                                    Timestamp="Thu, 03 Dec 2026 10:00:%02d +0000" % seq)
                p = {k: v for k, v in p.items() if v is not None}
                status, _ = target.post("/voice/status", p)
                if status in (200, 204):
                    with lock:
                        acked.add((n, seq))
                else:
                    # Twilio retries an unacknowledged callback: another instance takes it.
                    for other in self.all:
                        if other is not target and not other.killed:
                            status, _ = other.post("/voice/status", p)
                            if status in (200, 204):
                                with lock:
                                    acked.add((n, seq))
                                break

        # The calls start on any instance.
        for n in range(CALLS):
            status, _ = rng.choice(self.all).post("/voice/incoming", incoming_params(call_sid(0x5000 + n), frm=frm(n)))
            self.assertEqual(status, 200)
        chunks = [deliveries[i::4] for i in range(4)]
        threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        # One instance dies mid-load, without a chance to flush anything.
        while len(acked) < len(set((n, s) for n, s, _ in deliveries)) // 3:
            threads[0].join(0.01)
        self.c.sb.proc.send_signal(signal.SIGKILL)
        self.c.sb.proc.wait()
        self.c.killed = True
        for t in threads:
            t.join()
        self.assertGreater(len(acked), CALLS * 2)
        # Every acknowledged event is in the store, once.
        rows = self.a.sb.sql("SELECT call_sid, sequence, count(*) FROM call_events "
                             "GROUP BY call_sid, sequence")
        stored = {}
        for sid, seq, count in rows:
            self.assertEqual(count, 1, (sid, seq))
            stored[(int(sid[2:], 16) - 0x5000, seq)] = count
        missing = acked - set(stored)
        self.assertEqual(missing, set(), "acknowledged callbacks lost")
        # Every call ends in one final state: completed, with its duration, whatever order.
        for n in range(CALLS):
            if (n, 4) not in acked:
                continue
            (status, duration), = self.a.sb.sql("SELECT status, duration FROM calls WHERE call_sid = ?",
                                                 (call_sid(0x5000 + n),))
            self.assertEqual((status, duration), ("completed", 30), n)
        # The survivors still serve.
        for i in (self.a, self.b):
            self.assertEqual(i.sb.request("GET", "/healthz")[0], 200)

    def test_each_instance_names_itself_in_a_cookie_on_twiml(self):
        """Twilio sends a call's cookies back with its next webhooks: a balancer that routes
        on sb_instance keeps the call's conversation on the process that holds it."""
        sid = call_sid(0x6100)
        for name, i in zip("abc", self.all):
            status, headers, body = i.sb.signed_post("/voice/incoming", incoming_params(sid, frm="+34600000002"))
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("set-cookie"), "sb_instance=sb-%s; Path=/; HttpOnly" % name)
        # Not on what is not TwiML.
        status, headers, _ = self.a.sb.signed_post("/voice/status", incoming_params(
            sid, CallStatus="completed", SequenceNumber="5"))
        self.assertIn(status, (200, 204))
        self.assertNotIn("set-cookie", headers)
        status, headers, _ = self.a.sb.request("GET", "/healthz")
        self.assertNotIn("set-cookie", headers)

    def test_a_name_that_cannot_go_into_a_header_is_refused(self):
        for bad in ("sb a", "sb;Path=/", "x" * 65, "ñandú"):
            sb = Switchboard()
            try:
                res = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:%d" % free_port()],
                                     env=sb.env(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL="http://127.0.0.1:1",
                                                SWITCHBOARD_INSTANCE=bad),
                                     capture_output=True, text=True, timeout=30)
                self.assertEqual(res.returncode, 1, bad)
                self.assertIn("error: SWITCHBOARD_INSTANCE must be 1 to 64 letters", res.stderr)
            finally:
                sb.close()

    def test_flow_steps_and_their_retries_on_other_instances_advance_once(self):
        es = "+34600000001"
        for n in range(6):
            sid = call_sid(0x6000 + n)
            order = self.all[n % 3:] + self.all[:n % 3]
            p = incoming_params(sid, frm=es, to=FLOW_NUMBER)
            first = order[0].post("/voice/incoming", p)
            self.assertEqual(first[0], 200)
            # Twilio's retry of the first request, on another instance: the same answer.
            self.assertEqual(order[1].post("/voice/incoming", p), first)
            self.assertIn("Oprima 1 para ventas".encode(), first[1])
            wrong = order[1].post("/voice/flow?step=1", dict(p, Digits="9"))
            self.assertIn("Esa opción no existe".encode(), wrong[1])
            # Its retry on the third instance, then on the first (which remembers step 1 waiting).
            self.assertEqual(order[2].post("/voice/flow?step=1", dict(p, Digits="9")), wrong)
            self.assertEqual(order[0].post("/voice/flow?step=1", dict(p, Digits="9")), wrong)
            done = order[2].post("/voice/flow?step=2", dict(p, Digits="1"))
            self.assertIn("¡Hasta pronto!".encode(), done[1])
            self.assertEqual(order[0].post("/voice/flow?step=2", dict(p, Digits="1")), done)
            (node, attempts, step_no, finished), = self.a.sb.sql(
                "SELECT node, attempts, step_no, done FROM flow_calls WHERE call_sid = ?", (sid,))
            self.assertEqual((node, attempts, step_no, finished), ("bye", 0, 3, 1), n)


if __name__ == "__main__":
    unittest.main()
