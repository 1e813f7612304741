"""Gather's partial speech results start an LLM agent's turn early.

The real server with an LLM agent (`switchboard sim llm` as the model).
/voice/gather/partial takes Twilio's signed partial results; settled words
start a speculative turn, and the Gather's final result confirms it (the same
words) or withdraws it (other words). Covered: the Gather TwiML asking for
partials, a confirmed and a withdrawn speculation (with the transcript), a
Spanish caller, a whole call driven by `sim call` (which posts partials as
Twilio does), and an attacker: unsigned, out-of-order, malformed, oversized
and flooding partials, and partials for calls the server does not know.
"""
import json
import re
import subprocess
import time
import unittest
import xml.etree.ElementTree as ET

from tests.integration.harness import BINARY, STARTER, TOKEN, call_sid, incoming_params
from tests.integration import test_agent_gather as base
from tests.integration.test_agent_gather import LLM_NUMBER, gather, says

PARTIAL = "/voice/gather/partial"


def partial(sid, stable, unstable="", seq=1, to=LLM_NUMBER, frm="+15551234567"):
    return incoming_params(sid, frm=frm, to=to, CallStatus="in-progress", StableSpeechResult=stable,
                           UnstableSpeechResult=unstable, SequenceNumber=str(seq), Stability="0.9")


class AgentPartialTest(unittest.TestCase):
    start = base.AgentGatherTest.start

    def counter(self, event):
        metrics = self.sb.request("GET", "/metrics")[2].decode()
        m = re.search(r'switchboard_agent_events_total\{event="%s"\} (\d+)' % event, metrics)
        return int(m.group(1)) if m else 0

    def post_partial(self, *args, **kw):
        status, _, body = self.sb.signed_post(PARTIAL, partial(*args, **kw))
        self.assertEqual(status, 204, body)

    def wait_counter(self, event, value):
        deadline = time.time() + 10
        while self.counter(event) < value and time.time() < deadline:
            time.sleep(0.02)
        return self.counter(event)

    def test_gathers_of_llm_numbers_ask_for_partial_results(self):
        self.start()
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(0x71), to=LLM_NUMBER))
        self.assertEqual(status, 200, body)
        g = ET.fromstring(body).find("Gather")
        self.assertEqual(g.get("partialResultCallback"), PARTIAL)
        self.assertEqual(g.get("action"), "/voice/gather")
        # The next turn's Gather asks again.
        status, _, body = self.sb.signed_post("/voice/gather", gather(call_sid(0x71), "How much is a cleaning?"))
        self.assertEqual(ET.fromstring(body).find("Gather").get("partialResultCallback"), PARTIAL)
        # A number answered by the rule agent does not: nothing would use them.
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(0x72), to=STARTER))
        self.assertIsNone(ET.fromstring(body).find("Gather").get("partialResultCallback"), body)

    def test_settled_words_start_the_turn_and_the_same_final_words_use_it(self):
        self.start("--first-token-ms", "300")
        sid = call_sid(0x73)
        # Words still changing start nothing.
        self.post_partial(sid, "How much", "is a", seq=1)
        self.assertEqual(self.counter("speculation_started"), 0)
        # Nothing unstable left: the model is asked now.
        self.post_partial(sid, "how much is a cleaning", "", seq=2)
        self.assertEqual(self.counter("speculation_started"), 1)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "How much is a cleaning?"))
        self.assertEqual(status, 200, body)
        self.assertIn("A cleaning costs fifty dollars.", " ".join(says(body.decode())))
        self.assertEqual(self.counter("speculation_used"), 1)
        self.assertEqual(self.counter("speculation_withdrawn"), 0)
        # The transcript has the turn once, as the caller's final words were recognised early.
        turns = self.sb.shown_call(sid, lambda c: len(c["turns"]) >= 2)["turns"]
        self.assertEqual([t["role"] for t in turns], ["caller", "agent"], turns)
        self.assertIn("fifty dollars", turns[1]["text"])

    def test_each_gather_numbers_its_partials_afresh(self):
        self.start()
        sid = call_sid(0x79)
        # A Gather whose partials never settled: no speculation, but its numbering ends with it.
        self.post_partial(sid, "what are", "your", seq=9)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "What are your hours?"))
        self.assertEqual(status, 200, body)
        self.assertEqual(self.counter("speculation_started"), 0)
        # The next Gather counts from 1 again.
        self.post_partial(sid, "how much is a cleaning", "", seq=1)
        self.assertEqual(self.counter("speculation_started"), 1)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "How much is a cleaning?"))
        self.assertIn("A cleaning costs fifty dollars.", " ".join(says(body.decode())))
        self.assertEqual(self.counter("speculation_used"), 1)

    def test_a_late_partial_does_not_disturb_a_held_turn(self):
        self.start("--first-token-ms", "1500", agent_flags=("--first-token-timeout", "300"))
        sid = call_sid(0x7a)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "How much is a cleaning?"))
        self.assertIn("/voice/gather/continue", body.decode())
        # A partial of the finished Gather arrives late, while the turn is held.
        self.post_partial(sid, "something else entirely", "", seq=1)
        self.assertEqual(self.counter("speculation_started"), 0)
        status, _, body = self.sb.signed_post("/voice/gather/continue", gather(sid, ""))
        self.assertEqual(status, 200, body)
        self.assertIn("A cleaning costs fifty dollars.", " ".join(says(body.decode())))

    def test_other_final_words_withdraw_the_early_turn(self):
        self.start("--first-token-ms", "200")
        sid = call_sid(0x74)
        self.post_partial(sid, "I want to talk to a person", "", seq=1)
        self.assertEqual(self.counter("speculation_started"), 1)
        status, _, body = self.sb.signed_post("/voice/gather",
                                              gather(sid, "I want to talk to a person about a cleaning"))
        self.assertEqual(status, 200, body)
        self.assertEqual(self.counter("speculation_withdrawn"), 1)
        self.assertEqual(self.counter("speculation_used"), 0)
        # The final words were answered; the withdrawn ones (a transfer) left no trace.
        root = ET.fromstring(body)
        self.assertIsNotNone(root.find("Dial"), body)  # "person" still matches the final words
        turns = self.sb.shown_call(sid, lambda c: any(t["role"] == "tool" for t in c["turns"]))["turns"]
        callers = [t["text"] for t in turns if t["role"] == "caller"]
        self.assertEqual(callers, ["I want to talk to a person about a cleaning"], turns)
        self.assertEqual(len([t for t in turns if t["role"] == "tool"]), 1, turns)

    def test_a_spanish_caller_is_recognised_early_despite_punctuation_and_case(self):
        self.start("--first-token-ms", "200")
        sid = call_sid(0x75)
        frm = "+5215512345678"
        self.post_partial(sid, "cuál es el", "precio", seq=1, frm=frm)
        self.post_partial(sid, "cuál es el PRECIO", "", seq=2, frm=frm)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "¿Cuál es el precio?", frm=frm))
        self.assertEqual(status, 200, body)
        spoken = " ".join(says(body.decode()))
        self.assertIn("Una limpieza cuesta cincuenta dólares.", spoken)
        self.assertIn("¿Quiere una cita?", spoken)
        self.assertEqual(self.counter("speculation_used"), 1)

    def test_an_attacker_gets_precise_answers_and_starts_nothing(self):
        self.start()
        sid = call_sid(0x76)
        # Unsigned and badly signed.
        status, _, body = self.sb.request("POST", PARTIAL, body="CallSid=%s" % sid,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 403, body)
        self.assertIn(b"error: X-Twilio-Signature", body)
        status, _, body = self.sb.signed_post(PARTIAL, partial(sid, "hello", ""), token="wrong-token")
        self.assertEqual(status, 403, body)
        # Out of order: an older partial after a newer one is ignored.
        self.post_partial(sid, "how much", "is", seq=5)
        self.post_partial(sid, "how much is a cleaning", "", seq=3)
        # Malformed sequence numbers, no words, words only of punctuation.
        self.post_partial(sid, "how much is a cleaning", "", seq="abc")
        self.post_partial(sid, "how much is a cleaning", "", seq="-7")
        self.post_partial(sid, "", "", seq=6)
        self.post_partial(sid, "¿?¡!", "", seq=7)
        # Oversized words are not speculated on.
        self.post_partial(sid, "word " * 600, "", seq=8)
        # A partial for a number without an LLM agent, and for an unknown number.
        self.post_partial(call_sid(0x77), "hello there", "", seq=1, to=STARTER)
        self.post_partial(call_sid(0x78), "hello there", "", seq=1, to="+15005550999")
        self.assertEqual(self.counter("speculation_started"), 0)
        # A flood of changing settled words starts at most four model requests a Gather.
        for i in range(12):
            self.post_partial(sid, "question number %d" % i, "", seq=10 + i)
        self.assertEqual(self.counter("speculation_started"), 4)
        self.assertEqual(self.counter("speculation_withdrawn"), 3)
        # The call goes on: its final words are answered.
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "How much is a cleaning?"))
        self.assertEqual(status, 200, body)
        self.assertIn("A cleaning costs fifty dollars.", " ".join(says(body.decode())))
        self.assertEqual(self.sb.request("GET", "/healthz")[0], 200)

    def test_a_whole_call_with_sim_call_posting_partials(self):
        self.start("--first-token-ms", "100")
        script = ("say How much is a cleaning?\n"
                  "expect say fifty dollars\n"
                  "say ¿Cuál es el precio?\n"
                  "expect say cincuenta dólares\n"
                  "hangup\n")
        path = self.sb.dir + "/partial-call.txt"
        with open(path, "w", encoding="utf-8") as f:
            f.write(script)
        res = subprocess.run([BINARY, "sim", "call", "--url", self.sb.url("/voice/incoming"), "--from",
                              "+15551234567", "--to", LLM_NUMBER, "--token", TOKEN, "--script", path,
                              "--speech-end-ms", "150", "--json"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        doc = json.loads(res.stdout)
        requests = [e for e in doc["events"] if e["kind"] == "request"]
        partials = [e for e in requests if e["url"].endswith(PARTIAL)]
        # One partial a word and a settled one, for each of the two turns.
        self.assertEqual(len(partials), (5 + 1) + (4 + 1), requests)
        self.assertTrue(all(e["status"] == 204 for e in partials), partials)
        self.assertEqual(self.wait_counter("speculation_used", 2), 2)


if __name__ == "__main__":
    unittest.main()
