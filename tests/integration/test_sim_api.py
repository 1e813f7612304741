"""switchboard sim api driven by the official helper library (python3-twilio) as the client.

Each test starts `switchboard sim api` on 127.0.0.1 with a free port (calls
run 20 times faster than real time), points twilio.rest.Client at it, and
answers the calls' webhooks with the stand-in App of twilio_app.py, which
checks every X-Twilio-Signature with the helper's RequestValidator.
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from tests.integration.harness import BINARY, TOKEN, free_port
from tests.integration.twilio_app import App

ACCOUNT = "AC" + "0" * 32
FROM, TO = "+15005550006", "+15551234567"
SPEED = "20"


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


class ApiServer:
    """A `switchboard sim api` process, stopped by its PID."""

    def __init__(self, *flags, script=None):
        self.dir = tempfile.mkdtemp(prefix="sb-api-")
        self.clients = []
        self.log_path = os.path.join(self.dir, "api.log")
        extra = []
        if script is not None:
            path = os.path.join(self.dir, "callee.script")
            with open(path, "w") as f:
                f.write(script)
            extra = ["--script", path]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        # A free port may be taken before the sim binds it: then another is tried.
        for attempt in range(3):
            self.port = free_port()
            self.log = open(self.log_path, "wb")
            self.proc = subprocess.Popen([BINARY, "sim", "api", "--listen", "127.0.0.1:%d" % self.port, "--token",
                                          TOKEN, "--speed", SPEED, *flags, *extra],
                                         stdout=self.log, stderr=subprocess.STDOUT, env=env)
            if self.listening():
                break
            self.log.close()
            if attempt == 2 or "cannot listen on" not in self.logs():
                raise AssertionError("sim api exited: %s" % self.logs())
        self.base_url = "http://127.0.0.1:%d" % self.port

    def listening(self):
        """True once the sim has said it listens (a connection alone may reach whoever took the
        port); False if it exited."""
        deadline = time.time() + 10
        while "event=api.listening" not in self.logs():
            if self.proc.poll() is not None:
                return False
            if time.time() > deadline:
                raise AssertionError("sim api did not start: %s" % self.logs())
            time.sleep(0.05)
        return True

    def client(self, username=ACCOUNT, password=TOKEN):
        client = Client(username, password, account_sid=ACCOUNT)
        client.api.base_url = self.base_url
        self.clients.append(client)
        return client

    def raw(self, method, path, data=None, auth=(ACCOUNT, TOKEN)):
        """A request without the helper library: (status, headers, body bytes)."""
        body = data.encode() if isinstance(data, str) else data
        req = urllib.request.Request(self.base_url + path, data=body, method=method)
        if auth:
            token = base64.b64encode(("%s:%s" % auth).encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        if body is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def stop(self):
        """Stops the server by its PID; returns (exit status, log text) and removes its files."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(25)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for client in self.clients:
            if client.http_client.session:
                client.http_client.session.close()
        self.clients = []
        if not self.log.closed:
            self.log.close()
            self.final_logs = self.logs()
            shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode, self.final_logs

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def call_logs(self, call_sid, timeout=10):
        """The log once it holds the call's own line (with what was said): the sim writes it
        after the call's last status callback is answered, so a caller that saw `completed`
        may read the log before it."""
        deadline = time.time() + timeout
        while "event=sim.call call_sid=%s " % call_sid not in self.logs():
            if time.time() > deadline:
                raise AssertionError("the sim logged no end of call %s: %s" % (call_sid, self.logs()[-3000:]))
            time.sleep(0.05)
        return self.logs()


class SimApiTestCase(unittest.TestCase):
    server_flags = ()
    script = None

    def setUp(self):
        self.app = App()
        self.server = ApiServer(*self.server_flags, script=self.script)
        self.client = self.server.client()

    def tearDown(self):
        rc, logs = self.server.stop()
        self.app.close()
        self.assertEqual(rc, 0, "sim api did not stop cleanly: %s" % logs[-3000:])
        self.assertIn("event=api.stopped clean=yes", logs)

    def requests_to(self, path):
        with self.app.lock:
            return [r for r in self.app.requests if r["path"] == path]

    def wait_request(self, path, count=1, timeout=10):
        return wait_for(lambda: len(self.requests_to(path)) >= count and self.requests_to(path),
                        timeout, "%d request(s) to %s" % (count, path))

    def wait_status(self, sid, statuses, timeout=10):
        return wait_for(lambda: (lambda c: c if c.status in statuses else None)(
            self.client.calls(sid).fetch()), timeout, "call %s in %s" % (sid, statuses))

    def route(self, path, resp):
        self.app.routes[path] = resp.to_xml()


class CallsTest(SimApiTestCase):
    def test_create_places_a_signed_outbound_api_call(self):
        r = VoiceResponse()
        r.say("Hello from the outbound side")
        self.route("/voice", r)
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"))
        self.assertRegex(call.sid, r"^CA[0-9a-f]{32}$")
        self.assertEqual((call.status, call.direction, call.to, call.from_),
                         ("queued", "outbound-api", TO, FROM))
        self.assertEqual(call.account_sid, ACCOUNT)
        self.assertEqual(call.uri, "/2010-04-01/Accounts/%s/Calls/%s.json" % (ACCOUNT, call.sid))
        self.assertIsNotNone(call.date_created)
        req = self.wait_request("/voice")[0]
        self.assertTrue(req["valid"], "python3-twilio rejected the signature")
        p = req["params"]
        self.assertEqual((p["CallSid"], p["AccountSid"], p["Direction"], p["From"], p["To"]),
                         (call.sid, ACCOUNT, "outbound-api", FROM, TO))
        self.assertNotIn("AnsweredBy", p)
        done = self.wait_status(call.sid, ("completed",))
        self.assertIsNotNone(done.duration)
        self.assertGreaterEqual(int(done.duration), 1)
        self.assertIsNotNone(done.start_time)
        self.assertIsNotNone(done.end_time)
        listed = self.client.calls.list(to=TO)
        self.assertEqual([c.sid for c in listed], [call.sid])
        wait_for(lambda: "event=sim.call" in self.server.logs(), 5, "the call's transcript log")
        logs = self.server.logs()
        self.assertIn("call_sid=%s" % call.sid, logs)
        self.assertNotIn(TO, logs, "a full phone number reached the log")

    def test_get_request_method_and_status_callbacks(self):
        r = VoiceResponse()
        r.pause(length=2)
        self.route("/voice", r)
        call = self.client.calls.create(
            to=TO, from_=FROM, url=self.app.url("/voice"), method="GET",
            status_callback=self.app.url("/status"),
            status_callback_event=["initiated", "ringing", "answered", "completed"])
        self.assertEqual(self.wait_request("/voice")[0]["method"], "GET")
        callbacks = self.wait_request("/status", 4)
        self.assertTrue(all(c["valid"] for c in callbacks))
        self.assertEqual([c["params"]["CallStatus"] for c in callbacks],
                         ["initiated", "ringing", "in-progress", "completed"])
        self.assertTrue(all(c["params"]["CallSid"] == call.sid for c in callbacks))
        self.assertEqual(callbacks[-1]["params"]["CallDuration"], "2")

    def test_space_separated_status_callback_events(self):
        self.route("/voice", VoiceResponse())
        status, _, body = self.server.raw(
            "POST", "/2010-04-01/Accounts/%s/Calls.json" % ACCOUNT,
            "To=%2B15551234567&From=%2B15005550006&Url=" + self.app.url("/voice") +
            "&StatusCallback=" + self.app.url("/status") + "&StatusCallbackEvent=ringing+completed")
        self.assertEqual(status, 201, body)
        callbacks = self.wait_request("/status", 2)
        self.assertEqual([c["params"]["CallStatus"] for c in callbacks], ["ringing", "completed"])

    def test_fetch_follows_the_call_from_queued_to_completed(self):
        r = VoiceResponse()
        r.pause(length=80)  # four seconds at --speed 20: a busy machine still sees it in progress
        self.route("/voice", r)
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"))
        live = self.wait_status(call.sid, ("in-progress",))
        self.assertIsNone(live.duration)
        done = self.wait_status(call.sid, ("completed",))
        self.assertEqual(done.duration, "80")

    def test_update_completed_hangs_up_a_call_in_a_long_pause(self):
        r = VoiceResponse()
        r.pause(length=600)
        self.route("/voice", r)
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"),
                                        status_callback=self.app.url("/status"))
        self.wait_status(call.sid, ("in-progress",))
        updated = self.client.calls(call.sid).update(status="completed")
        self.assertEqual(updated.status, "completed")
        done = self.wait_status(call.sid, ("completed",))
        cb = self.wait_request("/status")[0]["params"]
        self.assertEqual(cb["CallStatus"], "completed")
        self.assertLess(int(cb["CallDuration"]), 600)
        wait_for(lambda: self.client.calls(call.sid).fetch().duration is not None, 5, "duration")
        self.assertLess(int(self.client.calls(call.sid).fetch().duration), 600)
        self.assertEqual(done.sid, call.sid)
        with self.assertRaises(TwilioRestException) as cm:
            self.client.calls(call.sid).update(url=self.app.url("/voice"))
        self.assertEqual((cm.exception.status, cm.exception.code), (400, 21220))

    def test_update_url_redirects_a_call_waiting_in_a_gather(self):
        r = VoiceResponse()
        g = r.gather(timeout=600, action="/never")
        g.say("Press a key")
        self.route("/voice", r)
        after = VoiceResponse()
        after.say("Redirected")
        self.route("/redirected", after)
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"))
        self.wait_status(call.sid, ("in-progress",))
        time.sleep(0.2)
        self.client.calls(call.sid).update(url=self.app.url("/redirected"), method="POST")
        req = self.wait_request("/redirected")[0]
        self.assertTrue(req["valid"])
        self.assertEqual((req["params"]["CallSid"], req["params"]["CallStatus"]),
                         (call.sid, "in-progress"))
        done = self.wait_status(call.sid, ("completed",))
        self.assertLess(int(done.duration), 600)
        self.assertEqual(self.requests_to("/never"), [])

    def test_inline_twiml_on_create_and_update(self):
        first = VoiceResponse()
        first.say("Inline")
        first.redirect(self.app.url("/after-inline"))
        pause = VoiceResponse()
        pause.pause(length=600)
        self.route("/after-inline", pause)
        call = self.client.calls.create(to=TO, from_=FROM, twiml=first.to_xml())
        req = self.wait_request("/after-inline")[0]
        self.assertTrue(req["valid"])
        self.assertEqual(req["params"]["CallSid"], call.sid)
        second = VoiceResponse()
        second.redirect(self.app.url("/after-update"))
        self.route("/after-update", VoiceResponse())
        self.client.calls(call.sid).update(twiml=second.to_xml())
        self.assertEqual(self.wait_request("/after-update")[0]["params"]["CallSid"], call.sid)
        self.wait_status(call.sid, ("completed",))

    def test_cancel_a_ringing_call(self):
        server = ApiServer("--outcome", "+15550001111=no-answer")
        try:
            client = server.client()
            call = client.calls.create(to="+15550001111", from_=FROM, url=self.app.url("/voice"),
                                       timeout=600)
            wait_for(lambda: client.calls(call.sid).fetch().status == "ringing", 5, "ringing")
            self.assertEqual(client.calls(call.sid).update(status="canceled").status, "canceled")
            wait_for(lambda: client.calls(call.sid).fetch().duration is not None, 5, "the end")
            done = client.calls(call.sid).fetch()
            self.assertEqual((done.status, done.duration), ("canceled", "0"))
            self.assertEqual(self.requests_to("/voice"), [])
        finally:
            server.stop()

    def test_unanswered_outcomes(self):
        server = ApiServer("--outcome", "+15550002222=busy", "--outcome", "+15550003333=failed")
        try:
            client = server.client()
            busy = client.calls.create(to="+15550002222", from_=FROM, url=self.app.url("/voice"))
            failed = client.calls.create(to="+15550003333", from_=FROM,
                                         url=self.app.url("/voice"))
            for sid, status in ((busy.sid, "busy"), (failed.sid, "failed")):
                wait_for(lambda: client.calls(sid).fetch().status == status, 5, status)
            self.assertEqual(self.requests_to("/voice"), [])
        finally:
            server.stop()

    def test_time_limit_ends_the_call(self):
        r = VoiceResponse()
        r.pause(length=600)
        self.route("/voice", r)
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"),
                                        time_limit=10)
        done = self.wait_status(call.sid, ("completed",))
        wait_for(lambda: self.client.calls(call.sid).fetch().duration is not None, 5, "duration")
        self.assertEqual(self.client.calls(call.sid).fetch().duration, "10")
        self.assertEqual(done.sid, call.sid)


class MachineDetectionTest(SimApiTestCase):
    server_flags = ("--answered-by", "machine_start")

    def test_answered_by_reaches_the_webhook(self):
        self.route("/voice", VoiceResponse())
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"),
                                        machine_detection="Enable")
        p = self.wait_request("/voice")[0]["params"]
        self.assertEqual(p["AnsweredBy"], "machine_start")
        self.assertGreater(int(p["MachineDetectionDuration"]), 0)
        done = self.wait_status(call.sid, ("completed",))
        self.assertEqual(done.answered_by, "machine_start")

    def test_detect_message_end_reports_the_beep(self):
        self.route("/voice", VoiceResponse())
        self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"),
                                 machine_detection="DetectMessageEnd")
        self.assertEqual(self.wait_request("/voice")[0]["params"]["AnsweredBy"], "machine_end_beep")

    def test_async_amd_posts_the_result_separately(self):
        r = VoiceResponse()
        r.pause(length=20)
        self.route("/voice", r)
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"),
                                        machine_detection="Enable", async_amd="true",
                                        async_amd_status_callback=self.app.url("/amd"))
        self.assertNotIn("AnsweredBy", self.wait_request("/voice")[0]["params"])
        amd = self.wait_request("/amd")[0]
        self.assertTrue(amd["valid"])
        self.assertEqual((amd["params"]["CallSid"], amd["params"]["AnsweredBy"]),
                         (call.sid, "machine_start"))


class RecordingsTest(SimApiTestCase):
    script = "record 4\n"

    def test_fetch_media_and_delete_a_recording(self):
        r = VoiceResponse()
        r.record(action="/recorded", recording_status_callback="/recstatus")
        self.route("/voice", r)
        self.route("/recorded", VoiceResponse())
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"))
        p = self.wait_request("/recorded")[0]["params"]
        rec_sid = p["RecordingSid"]
        self.assertRegex(rec_sid, r"^RE[0-9a-f]{32}$")
        self.assertEqual(p["RecordingUrl"], "%s/2010-04-01/Accounts/%s/Recordings/%s"
                         % (self.server.base_url, ACCOUNT, rec_sid))
        self.assertTrue(self.wait_request("/recstatus")[0]["valid"])
        rec = self.client.recordings(rec_sid).fetch()
        self.assertEqual((rec.sid, rec.call_sid, rec.duration, rec.status),
                         (rec_sid, call.sid, "4", "completed"))
        self.assertEqual([x.sid for x in self.client.calls(call.sid).recordings.list()], [rec_sid])
        self.assertEqual([x.sid for x in self.client.recordings.list(call_sid=call.sid)], [rec_sid])
        for suffix in ("", ".wav"):
            with urllib.request.urlopen(p["RecordingUrl"] + suffix, timeout=10) as resp:
                self.assertTrue(resp.headers["Content-Type"].startswith("audio/"))
                wav = resp.read()
            self.assertEqual(wav[:4] + wav[8:16], b"RIFFWAVEfmt ")
            self.assertEqual(len(wav), 44 + 4 * 8000 * 2)
        status, _, body = self.server.raw("GET", "/2010-04-01/Accounts/%s/Recordings/%s.mp3"
                                          % (ACCOUNT, rec_sid))
        self.assertEqual((status, json.loads(body)["code"]), (404, 20404))
        self.assertTrue(self.client.recordings(rec_sid).delete())
        with self.assertRaises(TwilioRestException) as cm:
            self.client.recordings(rec_sid).fetch()
        self.assertEqual((cm.exception.status, cm.exception.code), (404, 20404))


class ConferenceTest(SimApiTestCase):
    script = "dial answer 600\n"

    def test_update_a_participant_while_the_call_is_in_the_conference(self):
        r = VoiceResponse()
        d = Dial()
        d.conference("room-42")
        r.append(d)
        self.route("/voice", r)
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"))
        confs = wait_for(lambda: self.client.conferences.list(friendly_name="room-42",
                                                              status="in-progress"),
                         10, "the conference")
        conf = confs[0]
        self.assertRegex(conf.sid, r"^CF[0-9a-f]{32}$")
        part = self.client.conferences(conf.sid).participants(call.sid).update(muted=True)
        self.assertEqual((part.call_sid, part.conference_sid, part.muted, part.hold, part.status),
                         (call.sid, conf.sid, True, False, "connected"))
        part = self.client.conferences(conf.sid).participants(call.sid).update(hold=True)
        self.assertEqual((part.muted, part.hold), (True, True))
        listed = self.client.conferences(conf.sid).participants.list()
        self.assertEqual([x.call_sid for x in listed], [call.sid])
        with self.assertRaises(TwilioRestException) as cm:
            self.client.conferences(conf.sid).participants("CA" + "f" * 32).update(muted=True)
        self.assertEqual((cm.exception.status, cm.exception.code), (404, 20404))
        self.client.calls(call.sid).update(status="completed")
        self.wait_status(call.sid, ("completed",))
        with self.assertRaises(TwilioRestException) as cm:
            self.client.conferences(conf.sid).participants(call.sid).fetch()
        self.assertEqual(cm.exception.status, 404)
        self.assertEqual(self.client.conferences(conf.sid).fetch().status, "completed")


class MessagesTest(SimApiTestCase):
    def test_create_fetch_and_status_callbacks(self):
        msg = self.client.messages.create(to=TO, from_=FROM, body="Your table is ready",
                                          status_callback=self.app.url("/sms"))
        self.assertRegex(msg.sid, r"^SM[0-9a-f]{32}$")
        self.assertEqual((msg.status, msg.body, msg.to, msg.from_, msg.num_segments,
                          msg.direction), ("queued", "Your table is ready", TO, FROM, "1",
                                           "outbound-api"))
        fetched = self.client.messages(msg.sid).fetch()
        self.assertEqual((fetched.sid, fetched.body), (msg.sid, msg.body))
        callbacks = self.wait_request("/sms", 2)
        self.assertTrue(all(c["valid"] for c in callbacks))
        self.assertEqual([c["params"]["MessageStatus"] for c in callbacks], ["sent", "delivered"])
        self.assertEqual(self.client.messages(msg.sid).fetch().status, "delivered")
        self.assertEqual([m.sid for m in self.client.messages.list(to=TO)], [msg.sid])

    def test_segments_and_messaging_service(self):
        long = self.client.messages.create(to=TO, from_=FROM, body="x" * 200)
        self.assertEqual(long.num_segments, "2")
        uni = self.client.messages.create(to=TO, from_=FROM, body="\u00a1Hola! " * 12)
        self.assertEqual(uni.num_segments, "2")
        svc = self.client.messages.create(to=TO, messaging_service_sid="MG" + "1" * 32, body="hi")
        self.assertEqual((svc.status, svc.messaging_service_sid), ("accepted", "MG" + "1" * 32))

    def test_errors(self):
        cases = [
            (dict(to=None, from_=FROM, body="hi"), 21604),
            (dict(to=TO, from_=None, body="hi"), 21603),
            (dict(to=TO, from_=FROM), 21602),
            (dict(to=TO, from_=FROM, body="x" * 1601), 21617),
        ]
        for kwargs, code in cases:
            with self.assertRaises(TwilioRestException) as cm:
                self.client.messages.create(**kwargs)
            self.assertEqual((cm.exception.status, cm.exception.code), (400, code), kwargs)


class ErrorsTest(SimApiTestCase):
    def test_wrong_password_is_20003(self):
        client = self.server.client(password="not-the-token")
        with self.assertRaises(TwilioRestException) as cm:
            client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"))
        self.assertEqual((cm.exception.status, cm.exception.code), (401, 20003))
        status, headers, body = self.server.raw("GET", "/2010-04-01/Accounts/%s/Calls.json"
                                                % ACCOUNT, auth=None)
        self.assertEqual(status, 401)
        self.assertIn("Basic", headers.get("WWW-Authenticate") or headers.get("www-authenticate"))
        doc = json.loads(body)
        self.assertEqual((doc["code"], doc["message"], doc["status"]), (20003, "Authenticate", 401))
        self.assertEqual(doc["more_info"], "https://www.twilio.com/docs/errors/20003")
        other = "AC" + "1" * 32
        status, _, _ = self.server.raw("GET", "/2010-04-01/Accounts/%s/Calls.json" % other)
        self.assertEqual(status, 401)

    def test_api_key_credentials(self):
        client = self.server.client(username="SK" + "2" * 32)
        self.assertEqual(client.calls.list(), [])

    def test_missing_parameters(self):
        cases = [
            (dict(to=None, from_=FROM, url=self.app.url("/voice")), 21201),
            (dict(to=TO, from_=None, url=self.app.url("/voice")), 21213),
            (dict(to=TO, from_=FROM), 21205),
            (dict(to=TO, from_=FROM, url="ftp://example.com/x"), 21205),
            (dict(to="12345", from_=FROM, url=self.app.url("/voice")), 21211),
            (dict(to=TO, from_=FROM, url=self.app.url("/voice"), twiml="<Response/>"), 20001),
            (dict(to=TO, from_=FROM, url=self.app.url("/voice"), status_callback_event=["bogus"]),
             21626),
        ]
        for kwargs, code in cases:
            with self.assertRaises(TwilioRestException) as cm:
                self.client.calls.create(**kwargs)
            self.assertEqual((cm.exception.status, cm.exception.code), (400, code), kwargs)
        self.assertEqual(self.client.calls.list(), [])

    def test_unknown_paths_and_methods(self):
        with self.assertRaises(TwilioRestException) as cm:
            self.client.calls("CA" + "0" * 32).fetch()
        self.assertEqual((cm.exception.status, cm.exception.code), (404, 20404))
        status, _, body = self.server.raw("GET", "/2010-04-01/Accounts/%s/Queues.json" % ACCOUNT)
        self.assertEqual((status, json.loads(body)["code"]), (404, 20404))
        status, _, body = self.server.raw("GET", "/nothing/here")
        self.assertEqual((status, json.loads(body)["status"]), (404, 404))
        status, headers, body = self.server.raw("DELETE", "/2010-04-01/Accounts/%s/Calls.json"
                                                % ACCOUNT)
        self.assertEqual((status, json.loads(body)["code"]), (405, 20004))
        self.assertEqual(headers.get("Allow") or headers.get("allow"), "GET, POST")


class RateLimitTest(SimApiTestCase):
    server_flags = ("--rate-limit", "2")

    def test_past_the_limit_is_20429(self):
        codes = []
        for _ in range(6):
            try:
                self.client.messages.create(to=TO, from_=FROM, body="hi")
                codes.append(201)
            except TwilioRestException as e:
                codes.append((e.status, e.code, e.msg))
        self.assertEqual(codes[:2], [201, 201])
        self.assertIn((429, 20429, "Unable to create record: Too Many Requests"), codes)
        time.sleep(1.1)
        self.assertEqual(self.client.messages.create(to=TO, from_=FROM, body="again").status,
                         "queued")


class CommandLineTest(unittest.TestCase):
    def run_cli(self, *args, env=None):
        return subprocess.run([BINARY, "sim", "api", *args], capture_output=True, text=True,
                              timeout=10, env=env)

    def test_help_and_bad_usage(self):
        res = self.run_cli("--help")
        self.assertEqual(res.returncode, 0)
        self.assertIn("--listen", res.stdout)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        res = self.run_cli("--listen", "127.0.0.1:1", env=env)
        self.assertEqual(res.returncode, 2)
        self.assertIn("error: no auth token", res.stderr)
        res = self.run_cli("--listen", "nowhere", "--token", "t")
        self.assertEqual(res.returncode, 2)
        res = self.run_cli("--listen", "127.0.0.1:1", "--token", "t", "--answered-by", "robot")
        self.assertEqual(res.returncode, 2)
        self.assertIn("answered-by 'robot'", res.stderr)

    def test_stops_cleanly_on_sigint(self):
        server = ApiServer()
        server.client().calls.list()
        os.kill(server.proc.pid, signal.SIGINT)
        self.assertEqual(server.proc.wait(10), 0)
        rc, logs = server.stop()
        self.assertIn("event=api.stopped clean=yes", logs)

    def test_sigterm_hangs_up_running_calls(self):
        app = App()
        server = ApiServer()
        try:
            r = VoiceResponse()
            r.pause(length=600)
            app.routes["/voice"] = r.to_xml()
            client = server.client()
            call = client.calls.create(to=TO, from_=FROM, url=app.url("/voice"),
                                       status_callback=app.url("/status"))
            wait_for(lambda: client.calls(call.sid).fetch().status == "in-progress", 10, "answer")
            started = time.time()
            rc, logs = server.stop()
            self.assertEqual(rc, 0, logs[-2000:])
            self.assertLess(time.time() - started, 10)
            self.assertIn("event=sim.call call_sid=%s status=completed" % call.sid, logs)
            self.assertIn("event=api.stopped clean=yes", logs)
            self.assertEqual([r["params"]["CallStatus"] for r in app.requests
                              if r["path"] == "/status"], ["completed"])
        finally:
            server.stop()
            app.close()


if __name__ == "__main__":
    unittest.main()
