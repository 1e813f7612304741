"""Cloud speech on Media Streams: Deepgram streaming recognition and ElevenLabs /
Cartesia streaming synthesis, through `switchboard sim providers` (real sockets,
real recognition by transcript list or pocketsphinx, real espeak-ng audio).

`switchboard sim call` speaks the caller's `say` lines as audio on a pro number's
stream; the server streams the caller's speech to the Deepgram stand-in, which
answers from its transcript list (Spanish, which no offline recogniser here
hears) or with pocketsphinx (English), and speaks the LLM agent's replies
through the synthesis stand-in. Covered: a Spanish caller heard and answered
through the stand-ins; English through Deepgram's pocketsphinx and Cartesia;
a provider outage, a refused key, malformed audio and a socket cut
mid-utterance, after each of which the call goes on.
"""
import os
import shutil
import unittest

from tests.integration import test_agent_gather as agent_gather
from tests.integration.harness import TRANSFER, Switchboard, call_sid
from tests.integration.test_sim_providers import Providers
from tests.integration.twilio_app import events, sim

KEY = "prov-key-7f3a9c"
SPANISH = ["¿Cuál es el precio?", "Quiero hablar con una persona."]


class CloudSpeechTest(unittest.TestCase):
    """An LLM agent on a pro number whose speech engines are the stand-ins."""

    NUMBER = "+15005550031"
    STT = "deepgram"
    TTS = "elevenlabs"
    PROVIDER_FLAGS = ("--api-key", KEY)
    TRANSCRIPTS = SPANISH
    AGENT_KEY = KEY
    PROVIDERS_UP = True
    sids = iter(range(0x9400, 0x9500))

    def setUp(self):
        self.providers = Providers(*self.PROVIDER_FLAGS, transcripts=self.TRANSCRIPTS)
        self.addCleanup(self.providers.close)
        base = "http://127.0.0.1:%d" % self.providers.port
        if not self.PROVIDERS_UP:
            self.providers.stop()  # the port is closed: nothing answers there
        self.llm = agent_gather.SimLLM()
        self.addCleanup(self.llm.stop)
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)
        self.sb.seed()
        keys = dict(SB_TEST_LLM_KEY="sk-sim", SB_TEST_STT_KEY=self.AGENT_KEY, SB_TEST_TTS_KEY=self.AGENT_KEY)
        self.sb.cli("agents", "add", "recepcion", "--tenant", "acme", "--base-url", self.llm.base_url,
                    "--model", "sim-llm", "--api-key-env", "SB_TEST_LLM_KEY",
                    "--stt", self.STT, "--stt-url", base, "--stt-key-env", "SB_TEST_STT_KEY",
                    "--tts", self.TTS, "--tts-url", base, "--tts-key-env", "SB_TEST_TTS_KEY",
                    "--voice", "es-MX=sim-voz", env=self.sb.env(**keys))
        self.sb.cli("numbers", "add", self.NUMBER, "--tenant", "acme", "--plan", "pro", "--agent", "recepcion")
        saved = self.sb.env
        self.sb.env = lambda **extra: dict(saved(**keys), **extra)
        self.sb.start()
        self.sb.env = saved

    def call(self, script, frm="+5215512345678"):
        sid = call_sid(next(self.sids))
        rc, doc, err = sim("--url", self.sb.url("/voice/incoming"), "--from", frm, "--to", self.NUMBER,
                           "--stream-plain", "--call-sid", sid, script=script, tmpdir=self.sb.dir,
                           timeout=120)
        self.assertEqual(rc, 0, doc or err)
        return doc, sid

    def lines(self, sid):
        turns = self.sb.shown_call(sid, lambda c: any(t["role"] == "tool" for t in c["turns"]))["turns"]
        return [(t["role"], t["text"]) for t in turns]

    def assert_no_secrets(self):
        logs = self.sb.logs()
        self.assertNotIn(KEY, logs)
        self.assertNotIn("precio", logs)  # the caller's words never reach the log
        self.assertNotIn(KEY, self.providers.logs())


class SpanishThroughTheStandInsTest(CloudSpeechTest):

    def test_a_spanish_caller_is_heard_by_deepgram_and_answered_by_elevenlabs(self):
        doc, sid = self.call("listen\nsay ¿Cuál es el precio?\nlisten\n"
                             "say Quiero hablar con una persona.\nlisten\n")
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)
        lines = self.lines(sid)
        self.assertIn(("caller", "¿Cuál es el precio?"), lines)
        self.assertIn(("caller", "Quiero hablar con una persona."), lines)
        agent = [text for role, text in lines if role == "agent"]
        self.assertTrue(any("Una limpieza cuesta cincuenta dólares." in a for a in agent), agent)
        logs = self.sb.logs()
        self.assertIn("stt=deepgram tts=elevenlabs", logs)
        self.assertIn("outcome=words stt=deepgram", logs)
        self.assertNotIn("stt_fallback", logs)
        self.assertNotIn("tts_fallback", logs)
        # The replies the caller heard were the stand-in's audio: it synthesized them.
        self.assertIn("providers.synthesized", self.providers.logs())
        starts = [e for e in events(doc, "stream-event") if e["event"] == "reply-start"]
        self.assertGreaterEqual(len(starts), 2, doc)
        self.assert_no_secrets()


    def test_words_heard_so_far_stop_the_agent_while_the_caller_talks(self):
        # The price (about 4 s) is playing when the caller talks over it: Deepgram's interim
        # results stop it before they finish. 2 s after the question, so that a slow build
        # (ThreadSanitizer) has begun the reply too: a caller who talks first is not barging in.
        doc, sid = self.call("listen\nsay ¿Cuál es el precio?\nwait 2\n"
                             "say-over Quiero hablar con una persona, por favor.\nlisten\n")
        stream = events(doc, "stream")[0]
        self.assertGreaterEqual(stream["clears"], 1, doc)
        self.assertIn("event=stream.barge_in", self.sb.logs())
        self.assertIn("by=partial", self.sb.logs())


class EnglishThroughPocketsphinxAndCartesiaTest(CloudSpeechTest):
    TTS = "cartesia"
    TRANSCRIPTS = None  # the stand-in hears with pocketsphinx

    def test_an_english_caller_is_put_through_by_voice(self):
        doc, sid = self.call("listen\nsay I want to talk to a person.\nlisten\n", frm="+15551234567")
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)
        self.assertIn(("caller", "i want to talk to a person"),
                      [(r, t.lower().strip(".")) for r, t in self.lines(sid)])
        logs = self.sb.logs()
        self.assertIn("stt=deepgram tts=cartesia", logs)
        self.assertNotIn("tts_fallback", logs)
        self.assert_no_secrets()


class ProviderOutageTest(CloudSpeechTest):
    """Nothing listens where the providers should be: pocketsphinx and the offline voice take over."""
    PROVIDERS_UP = False

    def test_english_is_still_understood_and_spoken(self):
        doc, sid = self.call("listen\nsay I want to talk to a person.\nlisten\n", frm="+15551234567")
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)
        logs = self.sb.logs()
        self.assertIn("stream.stt_fallback", logs)
        self.assertIn("stream.tts_fallback", logs)
        starts = [e for e in events(doc, "stream-event") if e["event"] == "reply-start"]
        self.assertGreaterEqual(len(starts), 1, doc)

    def test_a_spanish_caller_is_offered_keys(self):
        doc, sid = self.call("listen\nsay ¿Cuál es el precio?\nlisten\nhangup\n")
        self.assertEqual(events(doc, "dial"), [])
        logs = self.sb.logs()
        # pocketsphinx hears no Spanish: the caller is told so and offered keys, not left in silence.
        self.assertIn("outcome=unsupported", logs)
        starts = [e for e in events(doc, "stream-event") if e["event"] == "reply-start"]
        self.assertGreaterEqual(len(starts), 2, doc)
        self.assertIn("cannot connect", logs)


class RefusedKeyTest(CloudSpeechTest):
    """The providers refuse the agent's key (401): the call goes on offline."""
    AGENT_KEY = "wrong-key-1234"

    def test_the_call_goes_on_and_the_key_is_never_logged(self):
        doc, sid = self.call("listen\nsay I want to talk to a person.\nlisten\n", frm="+15551234567")
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)
        logs = self.sb.logs()
        self.assertIn("stream.stt_fallback", logs)
        self.assertIn("401", logs)
        self.assertNotIn("wrong-key-1234", logs)
        self.assertIn("providers.refused", self.providers.logs())


class MalformedAudioTest(CloudSpeechTest):
    """The synthesis stand-in sends audio that is not base64: the offline voice says it."""
    PROVIDER_FLAGS = ("--api-key", KEY, "--garbage-audio")

    def test_the_offline_voice_speaks_instead(self):
        doc, sid = self.call("listen\nsay ¿Cuál es el precio?\nlisten\n"
                             "say Quiero hablar con una persona.\nlisten\n")
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)
        logs = self.sb.logs()
        self.assertIn("stream.tts_fallback", logs)
        self.assertIn("not base64", logs)
        starts = [e for e in events(doc, "stream-event") if e["event"] == "reply-start"]
        self.assertGreaterEqual(len(starts), 2, doc)


class CutMidUtteranceTest(CloudSpeechTest):
    """Deepgram's socket closes in the middle of the caller's words: one reconnect, the turn kept."""
    PROVIDER_FLAGS = ("--api-key", KEY, "--cut-after", "40")
    TRANSCRIPTS = ["¿Cuál es el precio?"]

    def test_the_turn_is_not_lost(self):
        doc, sid = self.call("listen\nsay Hola, buenas tardes.\nlisten\nhangup\n")
        turns = self.sb.shown_call(sid, lambda c: sum(t["role"] == "agent" for t in c["turns"]) >= 2)["turns"]
        lines = [(t["role"], t["text"]) for t in turns]
        self.assertIn(("caller", "¿Cuál es el precio?"), lines)
        self.assertIn("deepgram.reconnected", self.sb.logs())


class SlowProvidersTest(CloudSpeechTest):
    """Both providers hold every answer 4 s: the caller is not left in silence."""
    PROVIDER_FLAGS = ("--api-key", KEY, "--first-byte-ms", "4000")

    def test_the_offline_voice_answers_and_the_turn_is_not_waited_for_forever(self):
        doc, sid = self.call("listen\nsay ¿Cuál es el precio?\nlisten\nhangup\n")
        logs = self.sb.logs()
        self.assertIn("stream.tts_slow", logs)
        self.assertIn("stream.tts_fallback", logs)
        self.assertIn("deepgram.final_late", logs)
        # The greeting and an answer to the caller's turn were heard.
        starts = [e for e in events(doc, "stream-event") if e["event"] == "reply-start"]
        self.assertGreaterEqual(len(starts), 2, doc)


class NothingHeardTest(CloudSpeechTest):
    """Deepgram hears nothing in the caller's audio (its stand-in hears no Spanish): asked again."""
    TRANSCRIPTS = None

    def test_the_caller_is_asked_again(self):
        doc, sid = self.call("listen\nsay ¿Cuál es el precio?\nlisten\nhangup\n")
        logs = self.sb.logs()
        self.assertIn("outcome=nothing stt=deepgram", logs)
        self.assertNotIn("stt_fallback", logs)
        starts = [e for e in events(doc, "stream-event") if e["event"] == "reply-start"]
        self.assertGreaterEqual(len(starts), 2, doc)
        self.assertEqual(events(doc, "dial"), [])


if __name__ == "__main__":
    unittest.main()
