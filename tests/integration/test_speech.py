"""Media Streams that hear: the real server recognising the caller with pocketsphinx.

`switchboard sim call` speaks the script's `say` lines as real audio (flite for
English, espeak-ng for Spanish) on a pro number's stream; the server recognises
them offline and the rule agent answers. Covered: an English call that asks for
the hours and then for a person by voice alone, with its conversation in `calls
show`; words over the agent stopping it while an "uh-huh" does not; a Spanish
caller (no offline Spanish recogniser) told so and offered keys; noise and
silence, which start no turn.
"""
import os
import shutil
import tempfile
import unittest

from tests.integration import test_agent_gather as agent_gather
from tests.integration.harness import PRO, TRANSFER, SeededServerTest, Switchboard, call_sid
from tests.integration.twilio_app import events, sim


class SpeechTest(SeededServerTest):

    sids = iter(range(9000, 9100))

    def call(self, script, frm="+15551234567"):
        sid = call_sid(next(self.sids))
        rc, doc, err = sim("--url", self.sb.url("/voice/incoming"), "--from", frm, "--to", PRO,
                           "--stream-plain", "--call-sid", sid, script=script, tmpdir=self.sb.dir,
                           timeout=120)
        return rc, doc, err, sid

    def turns(self, sid, count):
        """The call's stored conversation, once `count` lines are committed."""
        return self.sb.shown_call(sid, lambda c: len(c["turns"]) >= count)["turns"]

    def stream(self, doc):
        return events(doc, "stream")[0]

    def test_hours_then_a_person_by_voice_alone(self):
        rc, doc, err, sid = self.call("listen\nsay What are your hours?\nlisten\n"
                                      "say I want to talk to a person.\nlisten\n")
        self.assertEqual(rc, 0, doc or err)
        # The second request was heard: the stream ends in a transfer to the tenant's number.
        dials = events(doc, "dial")
        self.assertEqual(len(dials), 1, doc)
        self.assertEqual(dials[0]["targets"][0]["to"], TRANSFER)
        turns = self.turns(sid, 5)
        lines = [(t["role"], t["text"]) for t in turns]
        self.assertIn(("caller", "what are your hours"), lines)
        self.assertIn(("caller", "i want to talk to a person"), lines)
        agent = [t["text"] for t in turns if t["role"] == "agent"]
        self.assertTrue(any("Monday to Friday" in a for a in agent), agent)
        self.assertTrue(any("connect you with a person" in a for a in agent), agent)
        # The caller's words come before their answers.
        roles = [r for r, _ in lines]
        self.assertLess(roles.index("caller"), len(roles) - 1)
        # Each reply to the caller's words carries its voice-to-voice latency; the greeting none.
        first_reply = turns[roles.index("caller") + 1]
        self.assertEqual(first_reply["role"], "agent")
        self.assertIsNotNone(first_reply["latency_ms"], turns)
        self.assertGreater(first_reply["latency_ms"], 0)
        self.assertIsNone(turns[0]["latency_ms"])
        self.assertIn("outcome=words", self.sb.logs())

    def test_words_stop_the_agent_and_an_uh_huh_does_not(self):
        # The hours (about 6 s) are playing when the caller says "uh-huh": it goes on.
        rc, doc, err, sid = self.call("listen\npress 1\nwait 1\nsay uh-huh\nlisten\nhangup\n")
        self.assertEqual(rc, 0, doc or err)
        self.assertEqual(self.stream(doc)["clears"], 0, "a backchannel cut the agent off")
        # Words over the hours: the agent stops and answers them.
        rc, doc, err, sid = self.call("listen\npress 1\nwait 1\nsay I want to talk to a person.\nlisten\n")
        self.assertEqual(rc, 0, doc or err)
        self.assertGreaterEqual(self.stream(doc)["clears"], 1, "the agent kept talking over the caller")
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)

    def test_a_spanish_caller_is_told_and_offered_keys(self):
        rc, doc, err, sid = self.call("listen\nsay ¿Cuál es su horario? Quería saberlo.\nlisten\nhangup\n",
                                      frm="+5215512345678")
        self.assertEqual(rc, 0, doc or err)
        turns = self.turns(sid, 2)
        agent = [t["text"] for t in turns if t["role"] == "agent"]
        self.assertTrue(any("Pulse 1" in a for a in agent), agent)
        self.assertFalse(any(t["role"] == "caller" for t in turns), turns)
        self.assertIn("outcome=unsupported", self.sb.logs())

    def test_silence_starts_no_turn(self):
        rc, doc, err, sid = self.call("listen\nwait 3\nhangup\n")
        self.assertEqual(rc, 0, doc or err)
        turns = self.turns(sid, 1)
        # The greeting only: nobody spoke, so nothing was recognised or answered.
        self.assertEqual([t["role"] for t in turns], ["agent"], turns)


class LLMOnStreamTest(unittest.TestCase):
    """An LLM agent (sim llm as the model) answering a pro number's stream by voice."""

    NUMBER = "+15005550027"

    def setUp(self):
        self.llm = agent_gather.SimLLM()
        self.addCleanup(self.llm.stop)
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)
        self.sb.seed()
        self.sb.cli("agents", "add", "front-desk", "--tenant", "acme", "--base-url", self.llm.base_url,
                    "--model", "sim-llm", "--api-key-env", "SB_TEST_LLM_KEY",
                    env=self.sb.env(SB_TEST_LLM_KEY="set"))
        self.sb.cli("numbers", "add", self.NUMBER, "--tenant", "acme", "--plan", "pro", "--agent", "front-desk")
        saved = self.sb.env
        self.sb.env = lambda **extra: dict(saved(SB_TEST_LLM_KEY="sk-sim"), **extra)
        self.sb.start()
        self.sb.env = saved

    def test_the_llm_agent_hears_the_caller_and_transfers_by_tool(self):
        sid = call_sid(0x9201)
        rc, doc, err = sim("--url", self.sb.url("/voice/incoming"), "--from", "+15551234567", "--to",
                           self.NUMBER, "--stream-plain", "--call-sid", sid,
                           script="listen\nsay What are your prices?\nlisten\n"
                                  "say I want to talk to a person.\nlisten\n",
                           tmpdir=self.sb.dir, timeout=120)
        self.assertEqual(rc, 0, doc or err)
        # "person" is a transfer_to_human tool call in sim llm's script: the stream ends in a dial.
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)
        turns = self.sb.shown_call(sid, lambda c: any(t["role"] == "tool" for t in c["turns"]))["turns"]
        lines = [(t["role"], t["text"]) for t in turns]
        self.assertIn(("caller", "what are your prices"), lines)
        self.assertIn(("agent", "I can help with that."), lines)
        self.assertEqual([t["tool"] for t in turns if t["role"] == "tool"], ["transfer_to_human"])


class SpanishThroughTranscriptionTest(unittest.TestCase):
    """A Spanish caller heard through an OpenAI-compatible /audio/transcriptions (sim llm's
    stand-in answering from a transcript list), answered by the LLM agent in Spanish."""

    NUMBER = "+15005550028"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sb-stt-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        path = os.path.join(self.dir, "transcripts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("¿Cuál es el precio?\nQuiero hablar con una persona.\n")
        self.llm = agent_gather.SimLLM("--transcripts", path, "--api-key", "sk-sim")
        self.addCleanup(self.llm.stop)
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)
        self.sb.seed()
        keys = dict(SB_TEST_LLM_KEY="sk-sim", SB_TEST_STT_KEY="sk-sim")
        self.sb.cli("agents", "add", "recepcion", "--tenant", "acme", "--base-url", self.llm.base_url,
                    "--model", "sim-llm", "--api-key-env", "SB_TEST_LLM_KEY", "--stt", "whisper-api",
                    "--stt-url", self.llm.base_url, "--stt-key-env", "SB_TEST_STT_KEY",
                    "--stt-model", "whisper-1", env=self.sb.env(**keys))
        self.sb.cli("numbers", "add", self.NUMBER, "--tenant", "acme", "--plan", "pro", "--agent", "recepcion")
        saved = self.sb.env
        self.sb.env = lambda **extra: dict(saved(**keys), **extra)
        self.sb.start()
        self.sb.env = saved

    def test_a_spanish_caller_is_heard_and_answered_in_spanish(self):
        sid = call_sid(0x9301)
        rc, doc, err = sim("--url", self.sb.url("/voice/incoming"), "--from", "+5215512345678", "--to",
                           self.NUMBER, "--stream-plain", "--call-sid", sid,
                           script="listen\nsay ¿Cuál es el precio?\nlisten\n"
                                  "say Quiero hablar con una persona.\nlisten\n",
                           tmpdir=self.sb.dir, timeout=120)
        self.assertEqual(rc, 0, doc or err)
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)
        turns = self.sb.shown_call(sid, lambda c: any(t["role"] == "tool" for t in c["turns"]))["turns"]
        lines = [(t["role"], t["text"]) for t in turns]
        self.assertIn(("caller", "¿Cuál es el precio?"), lines)
        agent = [t["text"] for t in turns if t["role"] == "agent"]
        self.assertTrue(any("Una limpieza cuesta cincuenta dólares." in a for a in agent), agent)
        self.assertIn("stt=whisper-api", self.sb.logs())
        self.assertIn("outcome=words", self.sb.logs())
        # The caller's words never reached the server's log.
        self.assertNotIn("precio", self.sb.logs())


class TranscriptionRefusedTest(SpanishThroughTranscriptionTest):
    """The transcription server refuses the agent's key: the call goes on."""

    def setUp(self):
        super().setUp()
        self.sb.cli("agents", "set", "recepcion", "--tenant", "acme", "--stt-key-env", "SB_TEST_WRONG_KEY",
                    env=self.sb.env(SB_TEST_WRONG_KEY="sk-wrong"))
        self.sb.stop()
        saved = self.sb.env
        self.sb.env = lambda **extra: dict(saved(SB_TEST_LLM_KEY="sk-sim", SB_TEST_WRONG_KEY="sk-wrong"),
                                           **extra)
        self.sb.start()
        self.sb.env = saved

    test_a_spanish_caller_is_heard_and_answered_in_spanish = None  # the parent's, not run here

    def test_the_call_goes_on_and_the_caller_is_asked_again(self):
        sid = call_sid(0x9302)
        rc, doc, err = sim("--url", self.sb.url("/voice/incoming"), "--from", "+5215512345678", "--to",
                           self.NUMBER, "--stream-plain", "--call-sid", sid,
                           script="listen\nsay ¿Cuál es el precio?\nlisten\nhangup\n",
                           tmpdir=self.sb.dir, timeout=120)
        self.assertEqual(rc, 0, doc or err)
        logs = self.sb.logs()
        self.assertIn("the transcription server answered 401", logs)
        self.assertNotIn("sk-wrong", logs)
        # Asked again (a reply after the caller's turn), not left in silence; no transfer.
        starts = [e for e in events(doc, "stream-event") if e["event"] == "reply-start"]
        self.assertGreaterEqual(len(starts), 2, doc)
        self.assertEqual(events(doc, "dial"), [])


if __name__ == "__main__":
    unittest.main()
