"""IVR flows end to end: flows imported with the CLI, calls placed with switchboard sim."""
import json
import os
import sqlite3
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

from tests.integration.harness import (ON_POSTGRES, STARTER, TOKEN, Switchboard, call_sid, incoming_params,
                                      stream_token)
from tests.integration.twilio_app import events, sim

ALWAYS = ["00:00-24:00"]
FLOW_NUMBER = "+15005550008"
NIGHT_NUMBER = "+15005550009"
AGENT_NUMBER = "+15005550012"  # pro: a flow that hands the call to the agent's media stream


def front_desk(name="front", weekly_hours=ALWAYS):
    days = {d: list(weekly_hours) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return {
        "name": name,
        "start": "welcome",
        "nodes": {
            "welcome": {"type": "say", "text": {"en": "Welcome to Acme.", "es": "Bienvenido a Acme."},
                        "next": "hours"},
            "hours": {"type": "hours", "weekly": days, "open": "lang", "closed": "closed_msg"},
            "lang": {"type": "language",
                     "prompt": {"en": "For English press 1.", "es": "Para español oprima 2."},
                     "options": {"1": "en-US", "2": "es-MX"}, "next": "menu", "fallback": "menu"},
            "menu": {"type": "menu",
                     "prompt": {"en": "For appointments press 1. For a person press 0.",
                                "es": "Para citas oprima 1. Para una persona oprima 0."},
                     "input": "dtmf speech", "timeout": 3,
                     "options": [{"digit": "1", "keywords": ["appointment", "cita"], "next": "appointments"},
                                 {"digit": "0", "keywords": ["person", "persona"], "next": "operator"}],
                     "max_attempts": 3,
                     "invalid_prompt": {"en": "Sorry, that is not an option.", "es": "Esa opción no existe."},
                     "no_input_prompt": {"en": "Sorry, I did not hear you.", "es": "No le oí."},
                     "fallback": "operator"},
            "appointments": {"type": "say", "text": {"en": "Appointments are booked online.",
                                                      "es": "Las citas se piden en línea."}, "next": "bye"},
            "operator": {"type": "transfer", "number": "+15557654321", "timeout": 20,
                         "on": {"completed": "bye", "busy": "vm", "no-answer": "vm", "failed": "vm"}},
            "vm": {"type": "voicemail", "prompt": {"en": "Please leave a message after the tone.",
                                                   "es": "Deje su mensaje."}, "max_length": 60, "next": "bye"},
            "closed_msg": {"type": "say", "text": {"en": "We are closed.", "es": "Estamos cerrados."},
                           "next": "vm"},
            "bye": {"type": "hangup", "text": {"en": "Thank you for calling. Goodbye.", "es": "Adiós."}},
        },
    }


class FlowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sb = sb = Switchboard()
        sb.seed()
        desk = {"name": "desk", "start": "a", "nodes": {"a": {"type": "agent", "agent": "receptionist"}}}
        for name, flow in (("front", front_desk()), ("night", front_desk("night", [])), ("desk", desk)):
            path = os.path.join(sb.dir, name + ".json")
            with open(path, "w") as f:
                json.dump(flow, f, indent=2)
            sb.cli("flows", "import", path, "--tenant", "acme")
        sb.cli("numbers", "add", FLOW_NUMBER, "--tenant", "acme", "--plan", "starter", "--flow", "front")
        sb.cli("numbers", "add", NIGHT_NUMBER, "--tenant", "acme", "--plan", "starter")
        sb.cli("numbers", "set-flow", NIGHT_NUMBER, "night")
        sb.cli("numbers", "add", AGENT_NUMBER, "--tenant", "acme", "--plan", "pro", "--flow", "desk")
        sb.start()
        cls.sids = iter(range(7000, 8000))

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()

    def call(self, script, to=FLOW_NUMBER, frm="+15551234567", *extra):
        n = next(self.sids)
        rc, doc, err = sim("--url", self.sb.url("/voice/incoming"), "--from", frm, "--to", to,
                           "--call-sid", call_sid(n), *extra, script=script, tmpdir=self.sb.dir, seed=n)
        self.assertIsNotNone(doc, err)
        return rc, doc

    def state(self, sid):
        rows = self.sb.sql("SELECT node, attempts, steps, lang, done, step_no FROM flow_calls "
                           "WHERE call_sid = ?", (sid,))
        return rows[0] if rows else None

    def test_valid_digit(self):
        rc, doc = self.call("expect say Welcome to Acme\npress 1\nexpect say For appointments\n"
                            "press 1\nexpect say booked online\nexpect hangup\n")
        self.assertEqual(rc, 0, doc)
        self.assertEqual(self.state(doc["call_sid"])[0:5], ("bye", 0, self.state(doc["call_sid"])[2], "en-US", 1))

    def test_invalid_then_valid(self):
        rc, doc = self.call("press 1\npress 9\nexpect say not an option\npress 1\nexpect say booked online\n")
        self.assertEqual(rc, 0, doc)

    def test_silence_until_fallback_transfers(self):
        rc, doc = self.call("press 1\nsilence\nexpect say did not hear\nsilence\nsilence\n"
                            "expect dial +15557654321\ndial answer 10\nexpect say Goodbye\n")
        self.assertEqual(rc, 0, doc)

    def test_after_hours_goes_to_voicemail(self):
        rc, doc = self.call("expect say We are closed\nexpect say leave a message\nrecord 7 #\n"
                            "expect say Goodbye\n", to=NIGHT_NUMBER)
        self.assertEqual(rc, 0, doc)

    def test_transfer_answered(self):
        rc, doc = self.call("press 1\npress 0\nexpect dial +15557654321\ndial answer 30\nexpect say Goodbye\n")
        self.assertEqual(rc, 0, doc)
        self.assertEqual(events(doc, "dial")[0]["caller_id"], FLOW_NUMBER)

    def test_transfer_busy_and_no_answer_go_to_voicemail_which_is_logged(self):
        for outcome in ("busy", "no-answer"):
            rc, doc = self.call("press 1\npress 0\ndial %s\nexpect say leave a message\nrecord 12 #\n"
                                "expect say Goodbye\n" % outcome)
            self.assertEqual(rc, 0, doc)
            rec = events(doc, "record")[0]
            deadline = time.time() + 5
            rows = []
            while time.time() < deadline and not rows:
                rows = self.sb.sql("SELECT recording_sid, duration, status FROM recordings WHERE call_sid = ?",
                                   (doc["call_sid"],))
                time.sleep(0.05)
            self.assertEqual(rows, [(rec["recording_sid"], 12, "completed")])
            callbacks = [e for e in events(doc, "callback") if e["event"] == "recording-completed"]
            self.assertEqual(callbacks[0]["status"], 204)

    def test_agent_node_streams_with_the_calls_token(self):
        sid = call_sid(next(self.sids))
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(sid, to=AGENT_NUMBER))
        self.assertEqual(status, 200, body)
        stream = ET.fromstring(body).find("Connect/Stream")
        self.assertIsNotNone(stream, body)
        params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        self.assertEqual(params.get("token"), stream_token(sid), body)
        # The sim hands the Parameters back in the start message: the stream is accepted.
        rc, doc = self.call("listen\nhangup\n", AGENT_NUMBER, "+15551234567", "--stream-plain")
        self.assertEqual(rc, 0, doc)
        s = events(doc, "stream")
        self.assertEqual(len(s), 1, doc)
        self.assertEqual(s[0]["closed_by"], "caller", s[0])
        self.assertGreater(s[0]["frames_received"], 20)

    def test_speech_keyword(self):
        rc, doc = self.call("press 1\nsay I would like an appointment please\nexpect say booked online\n")
        self.assertEqual(rc, 0, doc)

    def test_language_switch(self):
        rc, doc = self.call("expect say Para español oprima 2\npress 2\nexpect say Para citas oprima 1\n"
                            "say quiero una cita\nexpect say en línea\n")
        self.assertEqual(rc, 0, doc)
        self.assertEqual(self.state(doc["call_sid"])[3], "es-MX")

    def post(self, path, params, query=""):
        from twilio.request_validator import RequestValidator
        url = self.sb.url(path) + query
        sig = RequestValidator(TOKEN).compute_signature(url, params)
        return self.sb.request("POST", path + query, urllib.parse.urlencode(params).encode(),
                               {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})

    def test_retried_webhooks_get_the_same_answer_and_count_once(self):
        sid = call_sid(9001)
        first = self.post("/voice/incoming", incoming_params(sid, to=FLOW_NUMBER))
        again = self.post("/voice/incoming", incoming_params(sid, to=FLOW_NUMBER))
        self.assertEqual(first[0], 200)
        self.assertEqual(first[2], again[2])
        self.assertIn(b'action="/voice/flow?step=1"', first[2])
        lang = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="1"), "?step=1")
        self.assertIn(b"step=2", lang[2])
        wrong = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="9"), "?step=2")
        retry = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="9"), "?step=2")
        self.assertEqual(wrong[2], retry[2])
        self.assertIn(b"not an option", wrong[2])
        self.assertEqual(self.state(sid)[1], 1)  # one attempt, not two

    @unittest.skipIf(ON_POSTGRES, "holds SQLite's write lock; PostgreSQL has no such lock")
    def test_a_step_whose_commit_failed_is_run_again_not_replayed(self):
        sid = call_sid(9003)
        self.post("/voice/incoming", incoming_params(sid, to=FLOW_NUMBER))
        self.assertEqual(self.state(sid)[5], 1)
        # Another connection holds the write lock until the writer gives up (its busy timeout).
        lock = sqlite3.connect(self.sb.db, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            failed = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="1"), "?step=1")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.assertEqual(failed[0], 200)
        self.assertIn(b"<Hangup", failed[2])  # the apology: the step was not acknowledged
        self.assertEqual(self.state(sid)[5], 1)
        # Twilio's retry of the same step runs it again and commits it, rather than replaying
        # an answer whose state the store never got.
        retry = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="1"), "?step=1")
        self.assertIn(b"step=2", retry[2])
        self.assertEqual(self.state(sid)[5], 2)

    def test_two_servers_on_one_store_never_both_advance_a_call(self):
        """Twilio's retry of a step can reach another instance: the store's step number decides,
        and the instance that lost answers with the step the winner committed."""
        other = Switchboard()
        other.db = self.sb.db
        other.start()
        try:
            sid = call_sid(9004)
            first = self.post("/voice/incoming", incoming_params(sid, to=FLOW_NUMBER))
            # The same webhook retried on the other instance: the call is not started twice.
            status, _, again = other.signed_post("/voice/incoming", incoming_params(sid, to=FLOW_NUMBER))
            self.assertEqual(status, 200)
            self.assertEqual(again, first[2])
            self.assertEqual(self.state(sid)[5], 1)
            # Step 1 answered by the other instance, then retried on the first, which still
            # remembers step 1 as waiting: it answers what the other committed.
            status, _, there = other.signed_post("/voice/flow?step=1", incoming_params(sid, to=FLOW_NUMBER,
                                                                                        Digits="2"))
            self.assertIn("Para citas oprima 1".encode(), there)
            here = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="2"), "?step=1")
            self.assertEqual(here[2], there)
            self.assertEqual(self.state(sid)[3], "es-MX")
            self.assertEqual(self.state(sid)[5], 2)
            # Two wrong digits on the first; then a late retry of the first of them reaches the
            # other, which remembers step 2 as waiting: it must not take the call back.
            wrong = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="7"), "?step=2")
            self.assertIn("Esa opción no existe".encode(), wrong[2])
            wrong2 = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="8"), "?step=3")
            self.assertEqual(self.state(sid)[1], 2)
            self.assertEqual(self.state(sid)[5], 4)
            status, _, late = other.signed_post("/voice/flow?step=2", incoming_params(sid, to=FLOW_NUMBER,
                                                                                       Digits="7"))
            self.assertEqual(status, 200)
            self.assertEqual(late, wrong2[2])
            self.assertEqual(self.state(sid)[1], 2)
            self.assertEqual(self.state(sid)[5], 4)
            self.assertIn("event=flow.answered_elsewhere", self.sb.logs() + other.logs())
        finally:
            other.close()

    def test_a_tampered_step_cannot_jump(self):
        sid = call_sid(9002)
        self.post("/voice/incoming", incoming_params(sid, to=FLOW_NUMBER))
        before = self.state(sid)
        jump = self.post("/voice/flow", incoming_params(sid, to=FLOW_NUMBER, Digits="1"), "?step=7")
        self.assertEqual(jump[0], 200)
        self.assertIn(b"For English press 1", jump[2])  # the same question again
        self.assertEqual(self.state(sid), before)

    def test_numbers_without_a_flow_keep_the_plan(self):
        rc, doc = self.call("expect say Thanks for calling Acme\n", to=STARTER)
        self.assertEqual(rc, 0, doc)


class BusinessHoursTest(unittest.TestCase):
    """One flow, weekdays 9 to 5 in New York with a holiday; the server's clock is set per run."""

    @classmethod
    def setUpClass(cls):
        cls.sb = sb = Switchboard()
        sb.cli("tenants", "add", "shop", "--lang", "en-US", "--timezone", "America/New_York",
               "--transfer", "+15557654321")
        flow = front_desk("shop")
        weekdays = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
        flow["nodes"]["hours"] = {"type": "hours", "weekly": weekdays, "holidays": ["2026-11-26"],
                                  "open": "lang", "closed": "closed_msg"}
        path = os.path.join(sb.dir, "shop.json")
        with open(path, "w") as f:
            json.dump(flow, f)
        sb.cli("flows", "import", path, "--tenant", "shop")
        sb.cli("numbers", "add", FLOW_NUMBER, "--tenant", "shop", "--plan", "starter", "--flow", "shop")
        cls.sids = iter(range(8000, 8100))

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()

    def first_words_at(self, clock):
        self.sb.start("--clock", clock)
        try:
            n = next(self.sids)
            rc, doc, err = sim("--url", self.sb.url("/voice/incoming"), "--from", "+15551234567",
                               "--to", FLOW_NUMBER, "--call-sid", call_sid(n),
                               script="expect say Welcome\n", tmpdir=self.sb.dir, seed=n)
            self.assertIsNotNone(doc, err)
            self.assertEqual(rc, 0, doc)
            return " ".join(e["text"] for e in events(doc, "say"))
        finally:
            self.sb.stop()

    def test_open_on_a_weekday_morning_in_the_tenants_zone(self):
        # 15:00 UTC on Monday 23 November is 10:00 in New York.
        self.assertIn("For English press 1", self.first_words_at("2026-11-23T15:00:00Z"))

    def test_closed_in_the_evening_at_the_weekend_and_on_a_holiday(self):
        for clock in ("2026-11-23T22:30:00Z",   # Monday 17:30 in New York
                      "2026-11-24T03:00:00Z",   # still Monday there, 22:00
                      "2026-11-21T15:00:00Z",   # Saturday 10:00
                      "2026-11-26T15:00:00Z"):  # Thursday 10:00, the holiday
            with self.subTest(clock=clock):
                words = self.first_words_at(clock)
                self.assertIn("We are closed", words)
                self.assertNotIn("press 1", words)

    def test_a_clock_that_is_not_a_utc_time_is_refused(self):
        for bad in ("2026-11-23 15:00", "2026-11-23T15:00:00+01:00", "2026-13-01T00:00:00Z"):
            res = self.sb.cli("serve", "--clock", bad, check=False,
                              env=self.sb.env(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL="http://127.0.0.1:1"))
            self.assertEqual(res.returncode, 1)
            self.assertEqual(res.stderr, "error: clock '%s' is not a UTC time like 2026-11-23T21:30:00Z\n" % bad)


class FlowCliTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()
        self.sb.cli("tenants", "add", "acme")

    def tearDown(self):
        self.sb.close()

    def write(self, name, text):
        path = os.path.join(self.sb.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_validate_names_line_and_node(self):
        flow = front_desk()
        flow["nodes"]["menu"]["options"][0]["next"] = "nowhere"
        path = self.write("bad.json", json.dumps(flow, indent=2))
        res = self.sb.cli("flows", "validate", path, check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertRegex(res.stderr, r"^error: .*bad\.json: line \d+: node 'menu'")
        self.assertIn("nowhere", res.stderr)
        path = self.write("syntax.json", '{"name": "x",\n "start": "a",\n "nodes": {\n')
        res = self.sb.cli("flows", "validate", path, check=False)
        self.assertRegex(res.stderr, r"line \d+")

    def test_a_cycle_without_input_is_refused(self):
        flow = {"name": "loop", "start": "a", "nodes": {"a": {"type": "say", "text": "a", "next": "b"},
                                                         "b": {"type": "say", "text": "b", "next": "a"}}}
        res = self.sb.cli("flows", "validate", self.write("loop.json", json.dumps(flow)), check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("loops without waiting for the caller", res.stderr)

    def test_import_show_export(self):
        path = self.write("front.json", json.dumps(front_desk(), indent=2))
        self.assertIn("valid", self.sb.cli("flows", "validate", path).stdout)
        self.sb.cli("flows", "import", path, "--tenant", "acme")
        outline = self.sb.cli("flows", "show", "--tenant", "acme").stdout
        self.assertIn("flow front", outline)
        self.assertIn("menu: menu", outline)
        exported = self.sb.cli("flows", "export", "--tenant", "acme", "--flow", "front").stdout
        self.assertEqual(json.loads(exported), front_desk())
        self.assertIn("tenant 'nobody' does not exist",
                      self.sb.cli("flows", "import", path, "--tenant", "nobody", check=False).stderr)
        self.sb.cli("numbers", "add", "+15005550006", "--tenant", "acme")
        res = self.sb.cli("numbers", "set-flow", "+15005550006", "missing", check=False)
        self.assertIn("no flow 'missing'", res.stderr)
        self.sb.cli("numbers", "set-flow", "+15005550006", "front")
        self.assertEqual(json.loads(self.sb.cli("numbers", "list", "--json").stdout)[0]["flow"], "front")


if __name__ == "__main__":
    unittest.main()
