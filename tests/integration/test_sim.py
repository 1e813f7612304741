"""switchboard sim against a stand-in Twilio app whose TwiML comes from python3-twilio."""
import subprocess
import unittest

from twilio.twiml.voice_response import Dial, VoiceResponse

from tests.integration.twilio_app import BINARY, TOKEN, App, events, sim

FROM, TO = "+15551234567", "+15005550006"


def xml(resp):
    return resp.to_xml()


class SimVerbTest(unittest.TestCase):
    def setUp(self):
        self.app = App()

    def tearDown(self):
        self.app.close()

    def call(self, script=None, *extra, path="/voice"):
        return sim("--url", self.app.url(path), "--from", FROM, "--to", TO, *extra, script=script)

    def test_sends_twilio_parameters_signed_for_the_helper_library(self):
        r = VoiceResponse()
        r.say("Hello there", voice="Polly.Joanna", language="en-US")
        r.hangup()
        self.app.routes["/voice"] = xml(r)
        rc, doc, err = self.call()
        self.assertEqual(rc, 0, err)
        req = self.app.requests[0]
        self.assertTrue(req["valid"], "python3-twilio rejected the sim's signature")
        p = req["params"]
        for key in ("CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "ApiVersion",
                    "Caller", "Called", "FromCountry", "ToCountry"):
            self.assertIn(key, p)
        self.assertRegex(p["CallSid"], r"^CA[0-9a-f]{32}$")
        self.assertRegex(p["AccountSid"], r"^AC[0-9a-f]{32}$")
        self.assertEqual((p["From"], p["To"], p["CallStatus"], p["Direction"]), (FROM, TO, "ringing", "inbound"))
        says = events(doc, "say")
        self.assertEqual(says[0]["text"], "Hello there")
        self.assertEqual(says[0]["voice"], "Polly.Joanna")
        self.assertEqual(doc["status"], "completed")

    def test_gather_digits_with_finish_key_posts_to_relative_action(self):
        r = VoiceResponse()
        g = r.gather(action="menu", num_digits=4, finish_on_key="#", method="POST")
        g.say("Enter your code")
        r.say("No input")
        self.app.routes["/ivr/start"] = xml(r)
        done = VoiceResponse()
        done.say("Thanks")
        self.app.routes["/ivr/menu"] = xml(done)
        rc, doc, err = self.call("press 12#\n", path="/ivr/start")
        self.assertEqual(rc, 0, doc)
        self.assertEqual(self.app.paths(), ["/ivr/start", "/ivr/menu"])
        p = self.app.requests[1]["params"]
        self.assertEqual((p["Digits"], p["FinishedOnKey"], p["CallStatus"]), ("12", "#", "in-progress"))
        self.assertTrue(all(r["valid"] for r in self.app.requests))

    def test_gather_num_digits_truncates(self):
        r = VoiceResponse()
        r.gather(action="/next", num_digits=1)
        self.app.routes["/voice"] = xml(r)
        self.app.routes["/next"] = xml(VoiceResponse())
        rc, doc, _ = self.call("press 123\n")
        self.assertEqual(self.app.requests[1]["params"]["Digits"], "1")

    def test_gather_no_input_falls_through_to_next_verb(self):
        r = VoiceResponse()
        r.gather(action="/next", timeout=3).say("Press something")
        r.say("We did not get your answer")
        r.hangup()
        self.app.routes["/voice"] = xml(r)
        rc, doc, _ = self.call("silence\n")
        self.assertEqual(rc, 0)
        self.assertEqual(self.app.paths(), ["/voice"])
        self.assertEqual([e["text"] for e in events(doc, "say")], ["Press something", "We did not get your answer"])
        self.assertTrue(events(doc, "gather")[0]["timeout"])
        self.assertGreaterEqual(doc["duration"], 3)

    def test_gather_action_on_empty_result(self):
        r = VoiceResponse()
        r.gather(action="/next", action_on_empty_result=True)
        self.app.routes["/voice"] = xml(r)
        self.app.routes["/next"] = xml(VoiceResponse())
        self.call("silence\n")
        self.assertEqual(self.app.paths(), ["/voice", "/next"])
        self.assertEqual(self.app.requests[1]["params"]["Digits"], "")

    def test_gather_default_action_is_the_current_document(self):
        first = VoiceResponse()
        first.gather(num_digits=1)
        second = VoiceResponse()
        second.say("Got it")
        self.app.routes["/voice"] = lambda p: xml(second) if "Digits" in p else xml(first)
        rc, doc, _ = self.call("press 5\n")
        self.assertEqual(self.app.paths(), ["/voice", "/voice"])
        self.assertEqual(events(doc, "say")[0]["text"], "Got it")

    def test_gather_speech(self):
        r = VoiceResponse()
        r.gather(input="speech", action="/speech", language="es-MX", speech_timeout="auto")
        self.app.routes["/voice"] = xml(r)
        self.app.routes["/speech"] = xml(VoiceResponse())
        self.call("say quiero hablar con alguien\n")
        p = self.app.requests[1]["params"]
        self.assertEqual(p["SpeechResult"], "quiero hablar con alguien")
        self.assertIn("Confidence", p)

    def test_speech_to_a_dtmf_gather_is_no_input(self):
        r = VoiceResponse()
        r.gather(action="/next")
        self.app.routes["/voice"] = xml(r)
        rc, doc, _ = self.call("say hello\n")
        self.assertEqual(self.app.paths(), ["/voice"])
        self.assertEqual(events(doc, "gather")[0]["ignored"], "speech")

    def test_dial_outcomes_reach_the_action(self):
        for outcome, status in (("answer 42", "completed"), ("busy", "busy"), ("no-answer", "no-answer"),
                                ("failed", "failed")):
            self.app.requests.clear()
            r = VoiceResponse()
            d = Dial(action="/dialed", caller_id=TO, timeout=20)
            d.number("+15557654321")
            r.append(d)
            r.say("unreachable")
            self.app.routes["/voice"] = xml(r)
            self.app.routes["/dialed"] = xml(VoiceResponse())
            rc, doc, _ = self.call("dial %s\n" % outcome)
            self.assertEqual(rc, 0, doc)
            p = self.app.requests[1]["params"]
            self.assertEqual(p["DialCallStatus"], status)
            self.assertRegex(p["DialCallSid"], r"^CA[0-9a-f]{32}$")
            self.assertEqual(p["DialCallDuration"], "42" if outcome.startswith("answer") else "0")
            self.assertEqual(events(doc, "say"), [])  # verbs after <Dial action> are unreachable
            dial = events(doc, "dial")[0]
            self.assertEqual(dial["targets"], [{"noun": "Number", "to": "+15557654321"}])
            self.assertEqual(dial["caller_id"], TO)

    def test_dial_without_action_continues(self):
        r = VoiceResponse()
        r.dial("+15557654321")
        r.say("after the dial")
        self.app.routes["/voice"] = xml(r)
        rc, doc, _ = self.call("dial busy\n")
        self.assertEqual(events(doc, "say")[0]["text"], "after the dial")

    def test_dial_nouns_and_conference(self):
        r = VoiceResponse()
        d = Dial(action="/after")
        d.client("alice")
        d.sip("sip:bob@example.com")
        r.append(d)
        self.app.routes["/voice"] = xml(r)
        self.app.routes["/after"] = xml(VoiceResponse())
        rc, doc, _ = self.call()
        self.assertEqual([t["noun"] for t in events(doc, "dial")[0]["targets"]], ["Client", "Sip"])
        r = VoiceResponse()
        d = Dial(action="/after")
        d.conference("Room 1")
        r.append(d)
        self.app.routes["/voice"] = xml(r)
        self.app.requests.clear()
        self.call()
        p = self.app.requests[1]["params"]
        self.assertEqual(p["DialCallStatus"], "answered")
        self.assertNotIn("DialCallSid", p)

    def test_record_posts_recording_and_status_callback(self):
        r = VoiceResponse()
        r.record(action="/recorded", max_length=30, finish_on_key="#",
                 recording_status_callback="/recording-status")
        self.app.routes["/voice"] = xml(r)
        self.app.routes["/recorded"] = xml(VoiceResponse())
        self.app.routes["/recording-status"] = (204, None, "")
        rc, doc, _ = self.call("record 12 #\n")
        self.assertEqual(rc, 0, doc)
        by_path = {r["path"]: r for r in self.app.requests}
        p = by_path["/recorded"]["params"]
        self.assertEqual((p["RecordingDuration"], p["Digits"]), ("12", "#"))
        self.assertRegex(p["RecordingSid"], r"^RE[0-9a-f]{32}$")
        self.assertTrue(p["RecordingUrl"].endswith(p["RecordingSid"]))
        cb = by_path["/recording-status"]
        self.assertTrue(cb["valid"])
        self.assertEqual((cb["params"]["RecordingStatus"], cb["params"]["RecordingDuration"]), ("completed", "12"))

    def test_record_max_length_and_empty_recording(self):
        r = VoiceResponse()
        r.record(action="/recorded", max_length=5)
        r.say("nothing recorded")
        self.app.routes["/voice"] = xml(r)
        self.app.routes["/recorded"] = xml(VoiceResponse())
        self.call("record 60\n")
        self.assertEqual(self.app.requests[1]["params"]["RecordingDuration"], "5")
        self.app.requests.clear()
        rc, doc, _ = self.call("silence\n")
        self.assertEqual(self.app.paths(), ["/voice"])
        self.assertEqual(events(doc, "say")[0]["text"], "nothing recorded")

    def test_redirect_relative_absolute_get_and_post(self):
        a = VoiceResponse()
        a.redirect("b", method="GET")
        b = VoiceResponse()
        b.redirect(self.app.url("/flow/c"))
        c = VoiceResponse()
        c.say("done")
        self.app.routes["/flow/a"] = xml(a)
        self.app.routes["/flow/b"] = xml(b)
        self.app.routes["/flow/c"] = xml(c)
        rc, doc, _ = self.call(path="/flow/a")
        self.assertEqual(rc, 0, doc)
        self.assertEqual([(r["path"], r["method"]) for r in self.app.requests],
                         [("/flow/a", "POST"), ("/flow/b", "GET"), ("/flow/c", "POST")])
        self.assertTrue(all(r["valid"] for r in self.app.requests))
        self.assertEqual(self.app.requests[1]["params"]["CallStatus"], "in-progress")

    def test_transcript_names_the_app_and_the_redirect_target(self):
        a = VoiceResponse()
        a.say("Welcome")
        a.redirect("b", method="GET")
        b = VoiceResponse()
        b.say("Goodbye")
        self.app.routes["/flow/a"] = xml(a)
        self.app.routes["/flow/b"] = xml(b)
        rc, doc, err = self.call(path="/flow/a")
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["speaker"] for e in events(doc, "say")], ["127.0.0.1", "127.0.0.1"])
        self.assertEqual([(e["method"], e["url"]) for e in events(doc, "redirect")],
                         [("GET", self.app.url("/flow/b"))])
        res = subprocess.run([BINARY, "sim", "call", "--url", self.app.url("/flow/a"), "--from", FROM,
                              "--to", TO, "--token", TOKEN], capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn('127.0.0.1 says: "Welcome"', res.stdout)
        self.assertIn("redirect GET %s" % self.app.url("/flow/b"), res.stdout)
        self.assertNotIn("switchboard says", res.stdout)

    def test_redirect_loop_ends_with_a_clear_error(self):
        r = VoiceResponse()
        r.redirect("/loop")
        self.app.routes["/loop"] = xml(r)
        rc, doc, _ = self.call(path="/loop")
        self.assertEqual(rc, 1)
        self.assertIn("more than 50 TwiML documents", doc["error"])

    def test_pause_play_reject_enqueue_leave(self):
        r = VoiceResponse()
        r.play("https://example.com/hold.mp3", loop=1)
        r.play(digits="ww12")
        r.pause(length=4)
        r.enqueue("support", action="/queued", wait_url="/wait")
        self.app.routes["/voice"] = xml(r)
        wait = VoiceResponse()
        wait.say("Please hold")
        wait.leave()
        self.app.routes["/wait"] = xml(wait)
        rejected = VoiceResponse()
        rejected.reject(reason="busy")
        self.app.routes["/queued"] = xml(rejected)
        rc, doc, _ = self.call()
        self.assertEqual(rc, 0, doc)
        self.assertEqual(events(doc, "play")[0]["url"], "https://example.com/hold.mp3")
        self.assertEqual(events(doc, "play")[1]["digits"], "ww12")
        self.assertEqual(events(doc, "pause")[0]["seconds"], 4)
        self.assertEqual(events(doc, "enqueue")[0]["result"], "leave")
        self.assertEqual(self.app.requests[2]["params"]["QueueResult"], "leave")
        self.assertEqual(doc["status"], "busy")

    def test_expectations_pass_and_fail(self):
        r = VoiceResponse()
        r.say("Welcome to Acme")
        r.dial("+15557654321")
        self.app.routes["/voice"] = xml(r)
        rc, doc, _ = self.call("expect say Welcome\nexpect dial +15557654321\ndial answer 3\nexpect hangup\n")
        self.assertEqual(rc, 0, doc)
        rc, doc, _ = self.call("expect say Goodbye\n")
        self.assertEqual(rc, 1)
        self.assertIn("expected to hear 'Goodbye'", doc["error"])
        rc, doc, _ = self.call("expect dial +15550000000\n")
        self.assertEqual(rc, 1)
        self.assertIn("expected a dial to '+15550000000'", doc["error"])

    def test_caller_hangs_up_at_a_gather(self):
        r = VoiceResponse()
        r.gather(action="/next")
        r.say("not reached")
        self.app.routes["/voice"] = xml(r)
        rc, doc, _ = self.call("hangup\n")
        self.assertEqual(rc, 0)
        self.assertEqual(events(doc, "end")[0]["by"], "caller")
        self.assertEqual(events(doc, "say"), [])


class SimStatusCallbackTest(unittest.TestCase):
    def setUp(self):
        self.app = App()
        r = VoiceResponse()
        r.say("hi")
        self.app.routes["/voice"] = r.to_xml()
        self.app.routes["/status"] = (204, None, "")

    def tearDown(self):
        self.app.close()

    def test_requested_events_in_order_with_sequence_numbers(self):
        rc, doc, _ = sim("--url", self.app.url("/voice"), "--from", FROM, "--to", TO,
                         "--status-callback", self.app.url("/status"),
                         "--status-events", "initiated,ringing,answered,completed")
        self.assertEqual(rc, 0)
        cbs = [r["params"] for r in self.app.requests if r["path"] == "/status"]
        self.assertEqual([c["CallStatus"] for c in cbs], ["initiated", "ringing", "in-progress", "completed"])
        self.assertEqual([c["SequenceNumber"] for c in cbs], ["0", "1", "2", "3"])
        self.assertTrue(all(r["valid"] for r in self.app.requests))
        self.assertIn("CallDuration", cbs[-1])
        self.assertRegex(cbs[-1]["Timestamp"], r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
        self.assertEqual(cbs[-1]["CallbackSource"], "call-progress-events")

    def test_default_is_completed_only(self):
        sim("--url", self.app.url("/voice"), "--from", FROM, "--to", TO, "--status-callback", self.app.url("/status"))
        cbs = [r["params"]["CallStatus"] for r in self.app.requests if r["path"] == "/status"]
        self.assertEqual(cbs, ["completed"])

    def test_chaos_duplicates_and_reorders(self):
        rc, doc, _ = sim("--url", self.app.url("/voice"), "--from", FROM, "--to", TO, "--chaos",
                         "--status-callback", self.app.url("/status"),
                         "--status-events", "initiated,ringing,answered,completed")
        seqs = [r["params"]["SequenceNumber"] for r in self.app.requests if r["path"] == "/status"]
        self.assertEqual(set(seqs), {"0", "1", "2", "3"})
        self.assertGreater(len(seqs), 4)
        self.assertNotEqual(seqs, sorted(seqs))

    def test_failing_callback_is_a_warning_not_a_failure(self):
        self.app.routes["/status"] = (500, "text/plain", "boom")
        rc, doc, _ = sim("--url", self.app.url("/voice"), "--from", FROM, "--to", TO,
                         "--status-callback", self.app.url("/status"))
        self.assertEqual(rc, 0)
        self.assertEqual(events(doc, "warning")[0]["code"], 15003)


class SimBadWebhookTest(unittest.TestCase):
    def setUp(self):
        self.app = App()

    def tearDown(self):
        self.app.close()

    def run_bad(self, route, *extra):
        self.app.routes["/voice"] = route
        return sim("--url", self.app.url("/voice"), "--from", FROM, "--to", TO, *extra, timeout=40)

    def test_html_answer_is_12100(self):
        rc, doc, _ = self.run_bad((200, "text/html", "<html><body>oops</body></html>"))
        self.assertEqual((rc, doc["error_code"]), (1, 12100))

    def test_plain_text_is_12300(self):
        rc, doc, _ = self.run_bad((200, "text/plain", "hello"))
        self.assertEqual((rc, doc["error_code"]), (1, 12300))

    def test_empty_body_is_11200(self):
        rc, doc, _ = self.run_bad((200, "text/xml", ""))
        self.assertEqual((rc, doc["error_code"]), (1, 11200))

    def test_server_error_is_11200(self):
        rc, doc, _ = self.run_bad((500, "text/plain", "boom"))
        self.assertEqual((rc, doc["error_code"]), (1, 11200))
        self.assertIn("500", doc["error"])

    def test_stall_times_out_within_the_budget(self):
        import time
        t = time.time()
        rc, doc, _ = self.run_bad(("stall", 20, None))
        self.assertEqual((rc, doc["error_code"]), (1, 11200))
        self.assertLess(time.time() - t, 19)
        self.assertIn("timed out", doc["error"])

    def test_unknown_verb_is_a_12200_warning_with_its_line(self):
        rc, doc, _ = self.run_bad('<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n<say>hi</say>\n<Say voise="x">ok</Say>\n</Response>')
        warnings = events(doc, "warning")
        self.assertEqual([w["code"] for w in warnings[:2]], [12200, 12200])
        self.assertEqual([w["line"] for w in warnings[:2]], [3, 4])

    def test_unclosed_element_is_12100_with_line(self):
        rc, doc, _ = self.run_bad('<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n<Say>hi\n</Response>')
        self.assertEqual((rc, doc["error_code"]), (1, 12100))
        self.assertRegex(doc["error"], r"line \d")

    def test_fallback_url_recovers_with_error_code(self):
        r = VoiceResponse()
        r.say("fallback speaking")
        self.app.routes["/fallback"] = r.to_xml()
        rc, doc, _ = self.run_bad((500, "text/plain", "boom"), "--fallback-url", self.app.url("/fallback"))
        self.assertEqual(rc, 0, doc)
        fb = self.app.requests[-1]["params"]
        self.assertEqual((fb["ErrorCode"], fb["ErrorUrl"]), ("11200", self.app.url("/voice")))
        self.assertEqual(events(doc, "say")[0]["text"], "fallback speaking")

    def test_connection_refused_is_11205(self):
        from tests.integration.harness import free_port
        rc, doc, _ = sim("--url", "http://127.0.0.1:%d/voice" % free_port(), "--from", FROM, "--to", TO)
        self.assertEqual((rc, doc["error_code"]), (1, 11205))


if __name__ == "__main__":
    unittest.main()
