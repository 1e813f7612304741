"""`switchboard sim call` playing Twilio's side of <Connect><ConversationRelay> against a real
`switchboard serve`: the welcome greeting, prompts answered by the rule agent, a key that
transfers (end -> <Connect action> -> <Dial>), a Spanish caller, an interruption, and a relay
server that refuses the upgrade (39001, the action requested with SessionStatus=failed)."""
import re
import subprocess
import unittest

from tests.integration.harness import BINARY, TOKEN, TRANSFER, Switchboard
from tests.integration.twilio_app import App, events, sim

RELAY = "+15005550008"


class SimRelayTest(unittest.TestCase):
    seed = 100

    @classmethod
    def setUpClass(cls):
        cls.sb = Switchboard()
        cls.sb.seed()
        cls.sb.cli("numbers", "add", RELAY, "--tenant", "acme", "--plan", "relay")
        cls.sb.start()

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()

    def call(self, script, frm="+15551234567", *extra, token=TOKEN, url=None):
        # A seed of its own: each call has its own CallSid in the server's log.
        SimRelayTest.seed += 1
        return sim("--url", url or self.sb.url("/voice/incoming"), "--from", frm, "--to", RELAY,
                   "--stream-plain", *extra, script=script, token=token, tmpdir=self.sb.dir,
                   seed=SimRelayTest.seed)

    def server_line(self, event, call_sid):
        for line in self.sb.logs().splitlines():
            if "event=%s " % event in line and "call_sid=%s" % call_sid in line:
                return line
        return None

    def wait_server_line(self, event, call_sid):
        import time
        deadline = time.time() + 5
        while time.time() < deadline:
            line = self.server_line(event, call_sid)
            if line:
                return line
            time.sleep(0.05)
        self.fail("no %s line for %s in the server log:\n%s" % (event, call_sid, self.sb.logs()[-3000:]))

    def test_a_whole_call_greets_answers_and_transfers(self):
        rc, doc, err = self.call("expect say Thanks for calling Acme\n"
                                 "say what are your hours\n"
                                 "expect say Monday to Friday\n"
                                 "press 0\n"
                                 "expect dial %s\n"
                                 "dial answer 20\n" % TRANSFER)
        self.assertEqual(rc, 0, doc or err)
        says = [e["text"] for e in events(doc, "say")]
        self.assertEqual(says[0], "Thanks for calling Acme.")
        self.assertEqual(events(doc, "say")[0]["speaker"], "127.0.0.1")
        self.assertTrue(any("Monday to Friday" in s for s in says), says)
        self.assertEqual([e.get("says") or e.get("presses") for e in events(doc, "caller")],
                         ["what are your hours", "0"])
        relay = [e for e in events(doc, "relay") if e["event"] == "session"]
        self.assertEqual(len(relay), 1, doc)
        self.assertEqual(relay[0]["status"], "ended")
        self.assertEqual(relay[0]["url"], "wss://127.0.0.1:%d/voice/relay" % self.sb.port)
        self.assertEqual((relay[0]["prompts"], relay[0]["digits"], relay[0]["interrupts"]), (1, 1, 0))
        self.assertTrue(relay[0]["session_id"].startswith("VX"))
        end = [e for e in events(doc, "relay") if e["event"] == "end"]
        self.assertIn("live-agent-handoff", end[0]["detail"])
        self.assertEqual([e["url"].rsplit("/", 1)[1] for e in events(doc, "request")],
                         ["incoming", "relay-ended", "transfer-ended"])
        self.assertTrue(all(e["status"] == 200 for e in events(doc, "request")))
        self.assertEqual(events(doc, "dial")[0]["targets"][0]["to"], TRANSFER)
        # The server saw a signed session and a signed action with the handoff.
        self.assertIn("outcome=transfer", self.wait_server_line("relay.stopped", doc["call_sid"]))
        ended = self.wait_server_line("relay.ended", doc["call_sid"])
        self.assertIn("session_status=ended", ended)
        self.assertIn("reason_code=live-agent-handoff", ended)

    def test_the_transcript_for_people(self):
        res = subprocess.run([BINARY, "sim", "call", "--url", self.sb.url("/voice/incoming"),
                              "--from", "+15551234567", "--to", RELAY, "--token", TOKEN, "--stream-plain"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn('127.0.0.1 says (en-US): "Thanks for calling Acme."', res.stdout)
        self.assertIn("relay connected to wss://127.0.0.1:%d/voice/relay" % self.sb.port, res.stdout)
        self.assertRegex(res.stdout, r"session VX[0-9a-f]{32} completed after")
        self.assertIn("call ends (caller hung up)", res.stdout)

    def test_a_spanish_caller_keeps_accents_and_the_language(self):
        rc, doc, err = self.call("expect say Gracias por llamar\n"
                                 "say ¿Cuál es su horario? Quería saberlo\n"
                                 "expect say lunes a viernes\n"
                                 "hangup\n", frm="+5215512345678")
        self.assertEqual(rc, 0, doc or err)
        caller = events(doc, "caller")[0]
        self.assertEqual(caller["says"], "¿Cuál es su horario? Quería saberlo")
        self.assertEqual(caller["language"], "es-MX")
        reply = [e for e in events(doc, "say") if "lunes" in e["text"]][0]
        self.assertIn("¿En qué más puedo ayudarle?", reply["text"])
        self.assertIn("mañana", reply["text"])
        self.assertEqual(reply["language"], "es-MX")
        session = [e for e in events(doc, "relay") if e["event"] == "session"][0]
        self.assertEqual(session["status"], "completed")
        # The caller hung up: the action is requested with CallStatus=completed, its answer unused.
        self.assertEqual(events(doc, "end")[0]["by"], "caller")
        self.assertIn("session_status=completed", self.wait_server_line("relay.ended", doc["call_sid"]))

    def test_saying_something_during_a_long_reply_interrupts_it(self):
        rc, doc, err = self.call("say what are your hours\nwait 1\nsay thanks\n")
        self.assertEqual(rc, 0, doc or err)
        interrupts = events(doc, "interrupt")
        self.assertEqual(len(interrupts), 1, doc)
        heard, ms = interrupts[0]["heard"], interrupts[0]["ms"]
        self.assertGreaterEqual(ms, 1000)
        self.assertLess(ms, 4000)
        # About 150 words a minute: the words whose time has passed, a prefix of the reply.
        self.assertTrue("We are open Monday to Friday, from nine in the morning to five in the afternoon."
                        .startswith(heard) and heard, heard)
        self.assertEqual(len(heard.split()), int(ms // 400))
        self.assertIn("interrupts=1", self.wait_server_line("relay.stopped", doc["call_sid"]))

    def test_an_app_that_points_at_the_relay_with_its_own_twiml(self):
        app = App()
        self.addCleanup(app.close)
        relay_url = "wss://127.0.0.1:%d/voice/relay" % self.sb.port

        def incoming(params):
            from tests.integration.harness import stream_token
            return ('<Response><Connect action="/after">'
                    '<ConversationRelay url="%s" language="en-US" welcomeGreeting="Hi from the app." '
                    'dtmfDetection="true"><Parameter name="token" value="%s"/>'
                    '<Parameter name="lang" value="en-US"/></ConversationRelay></Connect>'
                    '<Say>not reached</Say></Response>' % (relay_url, stream_token(params["CallSid"])))
        app.routes["/incoming"] = incoming
        app.routes["/after"] = "<Response><Say>Back in the app.</Say></Response>"
        rc, doc, err = self.call("say let me talk to a person\nexpect say Back in the app\n",
                                 url=app.url("/incoming"))
        self.assertEqual(rc, 0, doc or err)
        after = [r for r in app.requests if r["path"] == "/after"]
        self.assertEqual(len(after), 1, app.requests)
        p = after[0]["params"]
        self.assertTrue(after[0]["valid"], "the action is signed like any webhook")
        self.assertEqual(p["SessionStatus"], "ended")
        self.assertTrue(p["SessionId"].startswith("VX"))
        self.assertIn("live-agent-handoff", p["HandoffData"])
        self.assertRegex(p["SessionDuration"], r"^\d+$")
        self.assertEqual(p["CallSid"], doc["call_sid"])
        self.assertEqual(p["CallStatus"], "in-progress")
        self.assertEqual(events(doc, "say")[0]["text"], "Hi from the app.")

    def test_a_relay_server_that_refuses_the_upgrade(self):
        # The app signs with another token than the server's: its upgrade is answered 403.
        app = App(token="not-the-server-token")
        self.addCleanup(app.close)
        app.routes["/incoming"] = (
            '<Response><Connect action="/after"><ConversationRelay url="wss://127.0.0.1:%d/voice/relay" '
            'welcomeGreeting="One moment."/></Connect></Response>' % self.sb.port)
        app.routes["/after"] = "<Response><Say>Sorry, something went wrong.</Say><Hangup/></Response>"
        rc, doc, err = self.call("say hello\n", url=app.url("/incoming"), token="not-the-server-token")
        self.assertEqual(rc, 1, doc or err)
        self.assertEqual(doc["error_code"], 39001)
        self.assertIn("403", doc["error"])
        self.assertIn("conversation relay", doc["error"])
        after = [r for r in app.requests if r["path"] == "/after"]
        self.assertEqual(len(after), 1, app.requests)
        self.assertTrue(after[0]["valid"])
        self.assertEqual(after[0]["params"]["SessionStatus"], "failed")
        self.assertEqual(after[0]["params"]["ErrorCode"], "39001")
        self.assertNotIn("HandoffData", after[0]["params"])
        # Twilio goes on with the action's TwiML.
        self.assertEqual(events(doc, "say")[-1]["text"], "Sorry, something went wrong.")
        self.assertTrue(re.search(r"HTTP 403", events(doc, "error")[0]["message"]))


if __name__ == "__main__":
    unittest.main()
