"""serve --threads N: N event loops, each with its own listening socket on one port
(SO_REUSEPORT), sharing the writer, the workers and the placer.

Each request here comes on a fresh connection, so the kernel spreads them over the
loops: a call's webhooks reach different loops. Covered: bad --threads values, the
port not joined by another server, connections and /metrics over four loops, a
routing change read from the store once and taken by every loop, status
callbacks duplicated and reordered across loops applied once, an LLM conversation
(and a held turn's continuation) that must stay with its call whatever loop a webhook
reaches, Media Streams whose stream-ended webhook reaches another loop than the
stream, flow steps, and a shutdown while a handed-over turn waits. scripts/test.sh
also runs this module under ThreadSanitizer.
"""
import http.client
import random
import re
import signal
import socket
import subprocess
import threading
import time
import unittest
import xml.etree.ElementTree as ET

from tests.integration.harness import (BINARY, PRO, STARTER, Switchboard, call_sid, free_port,
                                       incoming_params)
from tests.integration.test_agent_gather import LLM_NUMBER, SimLLM, gather, says
from tests.integration.twilio_app import events, sim

LOOPS = 4


def loop_connections(metrics):
    """switchboard_loop_connections_total by loop."""
    return {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r'switchboard_loop_connections_total\{loop="(\d+)"\} (\d+)', metrics)}


def parallel(fn, items, workers=8):
    """fn(item) for every item, on `workers` threads; returns the results in order."""
    results = [None] * len(items)
    it = iter(enumerate(items))
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                return
            i, item = nxt
            results[i] = fn(item)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class BadThreadCountTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)

    def serve(self, *flags, **env):
        port = free_port()
        return subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:%d" % port, *flags],
                              env=self.sb.env(TWILIO_AUTH_TOKEN="t", PUBLIC_BASE_URL="https://x.example", **env),
                              capture_output=True, text=True, timeout=30)

    def test_zero_negative_absurd_and_not_numbers_are_refused(self):
        for value in ("0", "-1", "257", "100000000000", "two", "", "1.5"):
            res = self.serve("--threads", value)
            self.assertEqual(res.returncode, 2, (value, res.stderr))
            self.assertIn("error: --threads '%s' is not a whole number from 1 to 256" % value, res.stderr)
        res = self.serve(SWITCHBOARD_THREADS="0")
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("error: SWITCHBOARD_THREADS '0' is not a whole number from 1 to 256", res.stderr)
        self.assertIn("--threads N", self.serve("--help").stdout)

    def test_a_port_held_by_another_program_is_not_joined(self):
        # A plain listener (no SO_REUSEPORT), then a server of several loops that does share.
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            proc = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:%d" % port, "--threads", "2"],
                                  env=self.sb.env(TWILIO_AUTH_TOKEN="t", PUBLIC_BASE_URL="https://x.example"),
                                  capture_output=True, text=True, timeout=30)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("cannot bind 127.0.0.1:%d" % port, proc.stderr)
        first = Switchboard()
        self.addCleanup(first.close)
        first.seed()
        first.start("--threads", "2")
        proc = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:%d" % first.port, "--threads", "2"],
                              env=self.sb.env(TWILIO_AUTH_TOKEN="t", PUBLIC_BASE_URL="https://x.example"),
                              capture_output=True, text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0, "a second server joined the first one's port")
        self.assertIn("cannot bind", proc.stderr)
        self.assertEqual(first.request("GET", "/healthz")[0], 200)


class ThreadsTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)
        self.sb.seed()

    def test_connections_spread_over_the_loops_and_metrics_add_up(self):
        self.sb.start("--threads", str(LOOPS))
        self.assertIn("threads=%d" % LOOPS, self.sb.logs())
        sids = [call_sid(0x7000 + n) for n in range(96)]

        def call(sid):
            frm = "+34600%06d" % int(sid[-4:], 16) if sid[-1] in "02468ace" else "+1555%07d" % int(sid[-4:], 16)
            return self.sb.signed_post("/voice/incoming", incoming_params(sid, frm=frm, to=STARTER))

        answers = parallel(call, sids)
        for status, _, body in answers:
            self.assertEqual(status, 200, body)
            self.assertTrue(body.startswith(b"<?xml"), body)
        # Spanish callers (+34) are greeted in Spanish, whatever loop answered.
        spanish = [body.decode() for (_, _, body), sid in zip(answers, sids) if sid[-1] in "02468ace"]
        self.assertTrue(all("Gracias por llamar a Acme." in t for t in spanish), spanish[:2])
        metrics = self.sb.request("GET", "/metrics")[2].decode()
        self.assertIn('switchboard_http_requests_total{route="incoming",status="200"} 96', metrics)
        per_loop = loop_connections(metrics)
        self.assertEqual(sorted(per_loop), list(range(LOOPS)), metrics)
        self.assertGreaterEqual(sum(per_loop.values()), 96)
        self.assertGreaterEqual(sum(1 for n in per_loop.values() if n > 0), 2,
                                "every connection went to one loop: %s" % per_loop)
        # Every call row is written once, by the one writer.
        rows = self.sb.sql("SELECT count(*), count(DISTINCT call_sid) FROM calls")
        deadline = time.time() + 10
        while rows[0][0] < 96 and time.time() < deadline:
            time.sleep(0.1)
            rows = self.sb.sql("SELECT count(*), count(DISTINCT call_sid) FROM calls")
        self.assertEqual(rows, [(96, 96)])

    def test_a_routing_change_is_read_once_and_reaches_every_loop(self):
        self.sb.start("--threads", str(LOOPS))
        new = "+15005550031"
        self.sb.cli("numbers", "add", new, "--tenant", "acme", "--plan", "starter")
        version = self.sb.sql("SELECT version FROM routes_version")[0][0]
        batch = [call_sid(0x7100 + n) for n in range(32)]

        def call(sid):
            status, _, body = self.sb.signed_post("/voice/incoming",
                                                  incoming_params(sid, frm="+34600000031", to=new))
            return status == 200 and "Gracias por llamar a Acme." in body.decode()

        # Fresh connections reach every loop: all of a batch is routed once each loop took the change.
        deadline = time.time() + 10
        while not all(parallel(call, batch)):
            self.assertLess(time.time(), deadline, "the new number is not routed on every loop")
            time.sleep(0.1)
        # One loop read the change from the store (the store logs each load); the others took it.
        loads = re.findall(r"event=routes\.loaded version=%d " % version, self.sb.logs())
        self.assertEqual(len(loads), 1, self.sb.logs()[-3000:])

    def test_status_callbacks_across_loops_are_applied_once(self):
        self.sb.start("--threads", str(LOOPS))
        rng = random.Random(4)
        statuses = [(1, "initiated"), (2, "ringing"), (3, "in-progress"), (4, "completed")]
        deliveries = []
        for n in range(24):
            deliveries.extend((n, seq, st) for seq, st in statuses for _ in range(rng.choice((1, 2, 3))))
        rng.shuffle(deliveries)

        def send(d):
            n, seq, st = d
            p = incoming_params(call_sid(0x7100 + n), to=STARTER, CallStatus=st, SequenceNumber=str(seq))
            if st == "completed":
                p["CallDuration"] = "42"
            return self.sb.signed_post("/voice/status", p)[0]

        for n in range(24):
            self.assertEqual(self.sb.signed_post("/voice/incoming",
                                                 incoming_params(call_sid(0x7100 + n), to=STARTER))[0], 200)
        self.assertEqual(set(parallel(send, deliveries)), {204})
        rows = self.sb.sql("SELECT call_sid, sequence, count(*) FROM call_events GROUP BY call_sid, sequence")
        self.assertEqual(len(rows), 24 * 4)
        self.assertEqual({r[2] for r in rows}, {1})
        finals = self.sb.sql("SELECT status, duration, count(*) FROM calls GROUP BY status, duration")
        self.assertEqual(finals, [("completed", 42, 24)])
        metrics = self.sb.request("GET", "/metrics")[2].decode()
        self.assertIn('switchboard_call_status_events_total{status="completed",outcome="applied"} 24', metrics)

    def test_media_streams_end_on_other_loops_than_they_ran(self):
        self.sb.start("--threads", str(LOOPS))

        def call(n):
            return sim("--url", self.sb.url("/voice/incoming"), "--from", "+15551234567", "--to", PRO,
                       "--stream-plain", "--call-sid", call_sid(0x7200 + n),
                       script="listen\npress #\nexpect hangup\n", tmpdir=self.sb.dir, timeout=90)

        for rc, doc, err in parallel(call, list(range(6)), workers=6):
            self.assertEqual(rc, 0, doc or err)
            # The stream-ended webhook read how the stream ended (the hangup key), from any loop.
            self.assertEqual(len(events(doc, "hangup")), 1, doc)
            reqs = [e["url"].rsplit("/", 1)[1] for e in events(doc, "request")]
            self.assertEqual(reqs, ["incoming", "stream-ended"], doc)

    def test_flow_steps_on_any_loop_advance_once(self):
        import json
        import os
        menu = {"name": "menu", "start": "menu", "nodes": {
            "menu": {"type": "menu", "prompt": {"en": "Press 1 for sales.", "es": "Oprima 1 para ventas."},
                     "input": "dtmf", "options": [{"digit": "1", "next": "bye"}], "max_attempts": 9,
                     "invalid_prompt": {"en": "Not an option.", "es": "Esa opción no existe."},
                     "fallback": "bye"},
            "bye": {"type": "hangup", "text": {"en": "Goodbye.", "es": "¡Hasta pronto!"}}}}
        path = os.path.join(self.sb.dir, "menu.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(menu, f, ensure_ascii=False)
        self.sb.cli("flows", "import", path, "--tenant", "acme")
        self.sb.cli("numbers", "add", "+15005550019", "--tenant", "acme", "--plan", "starter", "--flow", "menu")
        self.sb.start("--threads", str(LOOPS))
        sid = call_sid(0x7300)
        frm = "+34600111222"
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(sid, frm=frm, to="+15005550019"))
        self.assertEqual(status, 200, body)
        self.assertIn("Oprima 1 para ventas.", body.decode())
        # Wrong keys, each step sent twice (Twilio's retry) on fresh connections: one attempt each.
        step = int(re.search(r"step=(\d+)", body.decode()).group(1))
        for _ in range(4):
            p = incoming_params(sid, frm=frm, to="+15005550019", CallStatus="in-progress", Digits="7")
            answers = parallel(lambda _: self.sb.signed_post("/voice/flow?step=%d" % step, p), [0, 1], workers=2)
            texts = [b.decode() for s, _, b in answers]
            self.assertEqual([s for s, _, _ in answers], [200, 200], texts)
            self.assertEqual(texts[0], texts[1], "a retry was answered differently")
            self.assertIn("Esa opción no existe.", texts[0])
            step = int(re.search(r"step=(\d+)", texts[0]).group(1))
        # Four steps after the first, each counted once whatever loop and retry answered it.
        (node, attempts, step_no), = self.sb.sql("SELECT node, attempts, step_no FROM flow_calls "
                                                 "WHERE call_sid = ?", (sid,))
        self.assertEqual((node, attempts, step_no), ("menu", 4, 5))


class ConversationAcrossLoopsTest(unittest.TestCase):
    def start(self, *llm_flags, agent_flags=()):
        self.llm = SimLLM(*llm_flags)
        self.addCleanup(self.llm.stop)
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)
        self.sb.seed()
        self.sb.cli("agents", "add", "front-desk", "--tenant", "acme", "--base-url", self.llm.base_url,
                    "--model", "sim-llm", "--api-key-env", "SB_TEST_LLM_KEY", *agent_flags,
                    env=self.sb.env(SB_TEST_LLM_KEY="set-at-add"))
        self.sb.cli("numbers", "add", LLM_NUMBER, "--tenant", "acme", "--plan", "starter", "--agent", "front-desk")
        self.sb.start("--threads", str(LOOPS), extra_env={"SB_TEST_LLM_KEY": "sk-sim-secret-value"})

    def test_held_turns_continue_on_whatever_loop_the_redirect_reaches(self):
        # A slow model: every turn is held with a filler and continued by a <Redirect>,
        # a second request that must find the turn the first one started.
        self.start("--first-token-ms", "1200", agent_flags=("--first-token-timeout", "300"))

        def one_call(n):
            sid = call_sid(0x7400 + n)
            spanish = n % 2 == 1
            speech = "¿Cuál es el precio?" if spanish else "How much is a cleaning?"
            frm = "+5215512345678" if spanish else "+15551234567"
            status, _, body = self.sb.signed_post("/voice/gather", gather(sid, speech, frm=frm))
            if status != 200 or "/voice/gather/continue" not in body.decode():
                return "no hold: %d %s" % (status, body[:300])
            for _ in range(5):
                status, _, body = self.sb.signed_post("/voice/gather/continue", gather(sid, "", frm=frm))
                spoken = " ".join(says(body.decode())) if status == 200 else ""
                if "Redirect" not in body.decode():
                    break
            want = "Una limpieza cuesta cincuenta dólares." if spanish else "A cleaning costs fifty dollars."
            return "ok" if want in spoken else "wrong answer: %r" % body[:400]

        results = parallel(one_call, list(range(8)), workers=8)
        self.assertEqual(results, ["ok"] * 8)
        self.assertNotIn("sk-sim-secret-value", self.sb.logs())

    def test_a_shutdown_waits_for_a_turn_another_loop_holds(self):
        self.start("--first-token-ms", "1500")
        results = []

        def ask(n):
            sid = call_sid(0x7500 + n)
            results.append(self.sb.signed_post("/voice/gather", gather(sid, "How much is a cleaning?")))

        askers = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
        for t in askers:
            t.start()
        self.sb.wait_in_flight(6)  # every turn read, each with the model for 1.5 s
        self.sb.proc.send_signal(signal.SIGTERM)
        for t in askers:
            t.join(30)
        self.assertEqual(self.sb.stop(), 0)
        self.assertEqual(len(results), 6)
        for status, _, body in results:
            self.assertEqual(status, 200, body)
            self.assertIn("A cleaning costs fifty dollars.", " ".join(says(body.decode())))


if __name__ == "__main__":
    unittest.main()
