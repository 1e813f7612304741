"""switchboard sim api for outbound calling, driven by the official helper library.

What an outbound dialer needs from the stand-in: answering machine detection
outcomes per number or at random from a seed (delivered by the signed
AsyncAmdStatusCallback), injected faults (500/503 with code 20500, a create
whose answer comes too late, a body that is not JSON, slow answers),
StartTime filters and paging through the official client, and the record of
every request (GET /_sim/requests and --record FILE) to count creates.
"""
import base64
import datetime
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from tests.integration.harness import BINARY, TOKEN, free_port
from tests.integration.test_sim_api import ACCOUNT, FROM, ApiServer, SimApiTestCase, wait_for
from tests.integration.twilio_app import App

CALLS = "/2010-04-01/Accounts/%s/Calls.json" % ACCOUNT
MESSAGES = "/2010-04-01/Accounts/%s/Messages.json" % ACCOUNT
DETECT_MESSAGE_END = ["human", "machine_end_beep", "machine_end_silence", "machine_end_other",
                      "fax", "unknown"]
SPANISH = "Hola José Núñez: ¿Llegó su cita? Mañana a las 9"


def utc_today():
    return datetime.datetime.now(datetime.timezone.utc).date()


def number(i):
    return "+1555000%04d" % i


def sim_requests(server):
    status, _, body = server.raw("GET", "/_sim/requests")
    assert status == 200, (status, body)
    return json.loads(body)


def creates(records, to=None):
    return [r for r in records if r["action"] == "calls.create" and r["status"] == 201 and
            (to is None or r["params"].get("To") == to)]


def raw_exchange(port, data, timeout=10):
    """Sends `data` as is on a new connection; returns what came back before the server closed."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before it has read everything
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def refusal(e):
    """(status, code) of a refusal: a list's page raises TwilioException with the response."""
    if isinstance(e, TwilioRestException):
        return e.status, e.code
    response = e.args[1]
    return response.status_code, json.loads(response.text)["code"]


def header(headers, name):
    return {k.lower(): v for k, v in headers.items()}.get(name.lower())


def basic(user=ACCOUNT, password=TOKEN):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class AmdPerNumberTest(SimApiTestCase):
    """--answered-by NUMBER=VALUE: each DetectMessageEnd outcome on its own number."""
    server_flags = tuple(arg for i, value in enumerate(DETECT_MESSAGE_END)
                         for arg in ("--answered-by", "%s=%s" % (number(i), value)))

    def test_async_callback_says_who_answered_each_number(self):
        r = VoiceResponse()
        r.pause(length=60)  # three seconds at --speed 20: longer than any detection
        self.route("/voice", r)
        sids = {}
        for i, value in enumerate(DETECT_MESSAGE_END):
            call = self.client.calls.create(
                to=number(i), from_=FROM, url=self.app.url("/voice"),
                machine_detection="DetectMessageEnd", async_amd="true",
                async_amd_status_callback=self.app.url("/amd"))
            sids[call.sid] = value
        callbacks = self.wait_request("/amd", len(DETECT_MESSAGE_END), timeout=20)
        validator = RequestValidator(TOKEN)
        seen = {}
        for cb in callbacks:
            p = cb["params"]
            sig = cb["headers"].get("X-Twilio-Signature", "")
            self.assertTrue(validator.validate(self.app.url("/amd"), p, sig), p)
            self.assertEqual(set(p), {"CallSid", "AccountSid", "AnsweredBy",
                                      "MachineDetectionDuration"})
            self.assertEqual(p["AccountSid"], ACCOUNT)
            seen[p["CallSid"]] = (p["AnsweredBy"], int(p["MachineDetectionDuration"]))
        self.assertEqual({sid: v[0] for sid, v in seen.items()}, sids)
        duration = {v[0]: v[1] for v in seen.values()}
        # A person is heard at once; a machine's message ends after its greeting.
        for machine in ("machine_end_beep", "machine_end_silence", "machine_end_other"):
            self.assertGreaterEqual(duration[machine] - duration["human"], 5000, duration)
        self.assertEqual(duration["unknown"], 30000)  # MachineDetectionTimeout's default
        order = [cb["params"]["AnsweredBy"] for cb in callbacks]
        self.assertLess(order.index("human"), order.index("machine_end_beep"))
        self.assertEqual(order[-1], "unknown")
        # The Call resource knows the answer once the callback went out.
        for sid, value in sids.items():
            self.assertEqual(self.client.calls(sid).fetch().answered_by, value)
        # The TwiML request itself carries no AnsweredBy with AsyncAmd.
        self.assertTrue(all("AnsweredBy" not in r["params"] for r in self.requests_to("/voice")))

    def test_enable_mode_reports_the_start_of_a_machine(self):
        self.route("/voice", VoiceResponse())
        self.client.calls.create(to=number(1), from_=FROM, url=self.app.url("/voice"),
                                 machine_detection="Enable")
        p = self.wait_request("/voice")[0]["params"]
        self.assertEqual(p["AnsweredBy"], "machine_start")

    def test_a_short_detection_timeout_gives_unknown(self):
        self.route("/voice", VoiceResponse())
        self.client.calls.create(to=number(1), from_=FROM, url=self.app.url("/voice"),
                                 machine_detection="DetectMessageEnd",
                                 machine_detection_timeout=5)
        p = self.wait_request("/voice")[0]["params"]
        self.assertEqual((p["AnsweredBy"], p["MachineDetectionDuration"]), ("unknown", "5000"))

    def test_numbers_without_their_own_answer_get_the_default(self):
        self.route("/voice", VoiceResponse())
        self.client.calls.create(to="+15559999999", from_=FROM, url=self.app.url("/voice"),
                                 machine_detection="DetectMessageEnd")
        self.assertEqual(self.wait_request("/voice")[0]["params"]["AnsweredBy"], "human")


class AmdRandomTest(unittest.TestCase):
    """--answered-by random --seed N: the same seed gives the same answers."""
    TARGETS = [number(1), number(2), number(1), number(3), number(2), number(1), number(4),
               number(5), number(1), number(6)]

    def answers(self, *flags):
        app = App()
        server = ApiServer(*flags)
        try:
            app.routes["/voice"] = VoiceResponse().to_xml()
            client = server.client()
            sids = [client.calls.create(to=to, from_=FROM, url=app.url("/voice"),
                                        machine_detection="DetectMessageEnd").sid
                    for to in self.TARGETS]
            wait_for(lambda: len([r for r in app.requests if r["path"] == "/voice"]) == len(sids),
                     20, "every call's TwiML request")
            by_sid = {r["params"]["CallSid"]: r["params"]["AnsweredBy"] for r in app.requests}
            logs = server.logs()
            return [by_sid[sid] for sid in sids], logs
        finally:
            server.stop()
            app.close()

    def test_seeded_answers_are_reproducible(self):
        first, logs = self.answers("--answered-by", "random", "--seed", "42")
        self.assertIn("seed=42", logs)
        second, _ = self.answers("--answered-by", "random", "--seed", "42")
        other, _ = self.answers("--answered-by", "random", "--seed", "7")
        self.assertEqual(first, second)
        self.assertNotEqual(first, other)
        self.assertTrue(set(first) <= set(DETECT_MESSAGE_END), first)
        self.assertGreater(len(set(first) | set(other)), 2, "hardly random")

    def test_a_number_of_its_own_overrides_random(self):
        answers, _ = self.answers("--answered-by", "random", "--seed", "42",
                                  "--answered-by", "%s=fax" % number(1))
        self.assertEqual([a for a, to in zip(answers, self.TARGETS) if to == number(1)],
                         ["fax"] * 4)


class FailEveryTest(SimApiTestCase):
    server_flags = ("--fail-every", "3")

    def test_every_third_request_is_500_then_503_with_20500(self):
        outcomes = []
        for _ in range(8):
            try:
                self.client.calls.list()
                outcomes.append(200)
            except TwilioException as e:
                outcomes.append(refusal(e))
        self.assertEqual(outcomes, [200, 200, (500, 20500), 200, 200, (503, 20500), 200, 200])
        # A failed create places no call.
        self.route("/voice", VoiceResponse())
        with self.assertRaises(TwilioRestException) as cm:
            self.client.calls.create(to=number(1), from_=FROM, url=self.app.url("/voice"))
        self.assertEqual((cm.exception.status, cm.exception.code), (500, 20500))
        self.assertEqual(len(self.client.calls.list()), 0)
        records = sim_requests(self.server)
        self.assertEqual([r["seq"] for r in records if r["fault"] == "fail"], [3, 6, 9])
        self.assertEqual([r["status"] for r in records if r["fault"] == "fail"], [500, 503, 500])
        self.assertEqual(records[8]["params"]["To"], number(1))
        self.assertEqual(creates(records), [])


class GarbageAndSlowTest(SimApiTestCase):
    server_flags = ("--garbage-every", "2", "--slow-ms", "300")

    def test_a_200_that_is_not_json_and_slow_answers(self):
        started = time.time()
        self.assertEqual(self.client.calls.list(), [])
        self.assertGreaterEqual(time.time() - started, 0.3)
        with self.assertRaises(ValueError):  # json.JSONDecodeError in the helper library
            self.client.calls.list()
        status, headers, body = self.server.raw("GET", CALLS)
        self.assertEqual(status, 200)
        status, headers, body = self.server.raw("GET", CALLS)
        self.assertEqual((status, header(headers, "Content-Type")), (200, "text/html"))
        with self.assertRaises(ValueError):
            json.loads(body)
        records = sim_requests(self.server)
        self.assertEqual([r["fault"] for r in records], [None, "garbage", None, "garbage"])


class CreateTimeoutTest(SimApiTestCase):
    server_flags = ("--create-timeout-every", "2", "--create-timeout-ms", "2000")

    def test_the_call_is_placed_though_the_client_never_hears(self):
        r = VoiceResponse()
        r.pause(length=600)
        self.route("/voice", r)
        first = self.client.calls.create(to=number(1), from_=FROM, url=self.app.url("/voice"))
        self.client.http_client.timeout = 0.5
        with self.assertRaises(requests.exceptions.Timeout):
            self.client.calls.create(to=number(2), from_=FROM, url=self.app.url("/voice"))
        self.client.http_client.timeout = None
        # The client does not know; the account does.
        placed = self.client.calls.list(to=number(2))
        self.assertEqual(len(placed), 1)
        self.assertIn(placed[0].status, ("queued", "ringing", "in-progress"))
        records = sim_requests(self.server)
        made = creates(records)
        self.assertEqual([(r["params"]["To"], r["fault"]) for r in made],
                         [(number(1), None), (number(2), "timeout")])
        self.assertEqual([r["call_sid"] for r in made], [first.sid, placed[0].sid])
        # A client that waits long enough gets the 201, late.
        self.client.calls.create(to=number(3), from_=FROM, url=self.app.url("/voice"))
        started = time.time()
        status, _, body = self.server.raw(
            "POST", CALLS, "To=%2B15550000004&From=%2B15005550006&Url=" + self.app.url("/voice"))
        self.assertGreaterEqual(time.time() - started, 1.9)
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body)["to"], number(4))
        for call in self.client.calls.list():
            self.client.calls(call.sid).update(status="completed")


class ListFiltersTest(SimApiTestCase):
    server_flags = ("--outcome", "%s=no-answer" % number(9))

    def setUp(self):
        super().setUp()
        r = VoiceResponse()
        r.pause(length=600)
        self.route("/voice", r)
        # Three calls that keep ringing (never started) and two that are answered.
        self.ringing = [self.client.calls.create(to=number(9), from_=FROM, timeout=600,
                                                 url=self.app.url("/voice")).sid
                        for _ in range(3)]
        self.answered = [self.client.calls.create(to=number(i), from_=FROM,
                                                  url=self.app.url("/voice")).sid
                         for i in (1, 2)]
        self.all = set(self.ringing + self.answered)
        for sid in self.answered:
            self.wait_status(sid, ("in-progress",))
        wait_for(lambda: all(self.client.calls(s).fetch().status == "ringing"
                             for s in self.ringing), 5, "ringing")

    def tearDown(self):
        for sid in self.all:
            self.client.calls(sid).update(status="completed")
        super().tearDown()

    def sids(self, **kwargs):
        return {c.sid for c in self.client.calls.list(**kwargs)}

    def test_start_time_filters_on_whole_utc_days(self):
        today = utc_today()
        yesterday, tomorrow = today - datetime.timedelta(days=1), today + datetime.timedelta(days=1)
        self.assertIsNone(self.client.calls(self.ringing[0]).fetch().start_time)
        # Dates go out as 2024-05-01T00:00:00Z from the helper library.
        self.assertEqual(self.sids(start_time_after=today), self.all)
        self.assertEqual(self.sids(start_time_before=today), self.all)
        self.assertEqual(self.sids(start_time=today), self.all)
        self.assertEqual(self.sids(start_time_after=tomorrow), set())
        self.assertEqual(self.sids(start_time_before=yesterday), set())
        self.assertEqual(self.sids(start_time=yesterday), set())
        self.assertEqual(self.sids(start_time_after=yesterday, start_time_before=tomorrow),
                         self.all)
        # A datetime late in the day still means the whole day.
        late = datetime.datetime.combine(today, datetime.time(23, 59, 59))
        self.assertEqual(self.sids(start_time_after=late), self.all)
        self.assertEqual(self.sids(start_time_after=str(today), to=number(9)), set(self.ringing))
        # Twilio's documentation writes StartTime>=YYYY-MM-DD: the key is "StartTime>".
        status, _, body = self.server.raw("GET", CALLS + "?StartTime>=%s&StartTime<=%s"
                                          % (today, today))
        self.assertEqual(status, 200, body)
        self.assertEqual({c["sid"] for c in json.loads(body)["calls"]}, self.all)
        status, _, body = self.server.raw("GET", CALLS + "?StartTime%%3E=%s" % tomorrow)
        self.assertEqual(json.loads(body)["calls"], [])
        for bad in ("2024-13-01", "yesterday", "2024-02-30", "2024-05-01T25:00:00Z"):
            with self.assertRaises(TwilioException) as cm:
                self.client.calls.list(start_time_after=bad)
            self.assertEqual(refusal(cm.exception), (400, 20001), bad)

    def test_paging_with_the_official_client(self):
        before = len(sim_requests(self.server))
        listed = [c.sid for c in self.client.calls.list(page_size=2)]
        self.assertEqual(len(listed), 5)
        self.assertEqual(set(listed), self.all)
        self.assertEqual(listed, [c.sid for c in self.client.calls.list()])  # newest first
        pages = [r for r in sim_requests(self.server)[before:] if r["action"] == "calls.list"]
        self.assertEqual([r["params"].get("PageSize") for r in pages], ["2", "2", "2", None])
        page = self.client.calls.page(page_size=2)
        first = [c.sid for c in page]
        self.assertEqual(first, listed[:2])
        second = page.next_page()
        self.assertEqual([c.sid for c in second], listed[2:4])
        third = second.next_page()
        self.assertEqual([c.sid for c in third], listed[4:])
        self.assertIsNone(third.next_page())
        # Filters are carried to the next pages.
        self.assertEqual({c.sid for c in self.client.calls.list(to=number(9), page_size=1)},
                         set(self.ringing))
        self.assertEqual(len(self.client.calls.list(limit=3, page_size=2)), 3)
        # A call created between pages does not shift the pages after it.
        page = self.client.calls.page(page_size=2)
        extra = self.client.calls.create(to=number(3), from_=FROM, url=self.app.url("/voice"))
        self.all.add(extra.sid)
        rest = []
        while page is not None:
            rest += [c.sid for c in page]
            page = page.next_page()
        self.assertEqual(rest, listed)
        status, _, body = self.server.raw("GET", CALLS + "?PageSize=0")
        self.assertEqual((status, json.loads(body)["code"]), (400, 20001))
        status, _, body = self.server.raw("GET", CALLS + "?PageSize=1001")
        self.assertEqual(status, 400)


class PageSizeMaxTest(ListFiltersTest):
    """--page-size-max: pages smaller than asked for, which a client reads by next_page_uri."""
    server_flags = ListFiltersTest.server_flags + ("--page-size-max", "2")

    # ListFiltersTest's calls, not its tests.
    test_start_time_filters_on_whole_utc_days = None
    test_paging_with_the_official_client = None

    def test_pages_are_cut_to_the_maximum_and_followed_to_the_end(self):
        status, _, body = self.server.raw("GET", CALLS + "?PageSize=50&To=%2B15550000009")
        self.assertEqual(status, 200, body)
        page = json.loads(body)
        self.assertEqual((len(page["calls"]), page["page_size"]), (2, 2))
        self.assertIn("PageSize=2", page["next_page_uri"])
        self.assertIn("To=%2B15550000009", page["next_page_uri"])
        status, _, body = self.server.raw("GET", page["next_page_uri"])
        rest = json.loads(body)
        self.assertEqual(len(rest["calls"]), 1)
        self.assertIsNone(rest["next_page_uri"])
        self.assertEqual({c["sid"] for c in page["calls"] + rest["calls"]}, set(self.ringing))
        # The official client asks for 50 a page and follows the pages: it gets them all.
        self.assertEqual({c.sid for c in self.client.calls.list(page_size=50)}, self.all)


class RequestRecordTest(SimApiTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sb-record-")
        self.record = os.path.join(self.tmp, "requests.jsonl")
        self.server_flags = ("--record", self.record)
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_counting_creates_per_number(self):
        r = VoiceResponse()
        r.pause(length=600)
        self.route("/voice", r)
        made = [self.client.calls.create(to=to, from_=FROM, url=self.app.url("/voice"),
                                         status_callback_event=["initiated", "completed"],
                                         status_callback=self.app.url("/status")).sid
                for to in (number(1), number(2), number(1), number(1))]
        with self.assertRaises(TwilioRestException):
            self.client.calls.create(to="12345", from_=FROM, url=self.app.url("/voice"))
        msg = self.client.messages.create(to=number(1), from_=FROM, body=SPANISH)
        records = sim_requests(self.server)
        self.assertEqual(len(creates(records, number(1))), 3)
        self.assertEqual(len(creates(records, number(2))), 1)
        self.assertEqual([r["call_sid"] for r in creates(records)], made)
        refused = [r for r in records if r["action"] == "calls.create" and r["status"] != 201]
        self.assertEqual([(r["status"], r["code"], r["params"]["To"]) for r in refused],
                         [(400, 21211, "12345")])
        first = records[0]
        self.assertEqual(first["method"], "POST")
        self.assertEqual(first["path"], CALLS)
        self.assertEqual(first["params"]["StatusCallbackEvent"], ["initiated", "completed"])
        self.assertRegex(first["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        sms = [r for r in records if r["action"] == "messages.create"]
        self.assertEqual(len(sms), 1)
        self.assertEqual((sms[0]["params"]["Body"], sms[0]["message_sid"]), (SPANISH, msg.sid))
        self.assertEqual(self.client.messages(msg.sid).fetch().body, SPANISH)
        # The file: JSON lines as they happened, private to the user.
        self.assertEqual(os.stat(self.record).st_mode & 0o777, 0o600)
        with open(self.record, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(lines[:len(records)], records)
        with open(self.record, encoding="utf-8") as f:
            self.assertIn(SPANISH, f.read())
        # The record itself needs the account's credentials and is not recorded.
        count = len(sim_requests(self.server))
        status, _, _ = self.server.raw("GET", "/_sim/requests", auth=None)
        self.assertEqual(status, 401)
        status, _, _ = self.server.raw("GET", "/_sim/requests", auth=(ACCOUNT, "wrong"))
        self.assertEqual(status, 401)
        self.assertEqual(len(sim_requests(self.server)), count)
        for sid in made:
            self.client.calls(sid).update(status="completed")

    def test_an_attacker_gets_precise_answers_and_the_sim_keeps_serving(self):
        port = self.server.port
        # A malformed form body.
        status, _, body = self.server.raw("POST", CALLS, "To=%zz&From=%2B15005550006")
        self.assertEqual((status, json.loads(body)["code"]), (400, 20001))
        # Bad credentials, and none.
        status, _, body = self.server.raw("POST", CALLS, "To=%2B15551234567",
                                          auth=(ACCOUNT, "guess"))
        self.assertEqual((status, json.loads(body)["code"]), (401, 20003))
        status, _, _ = self.server.raw("GET", CALLS, auth=None)
        self.assertEqual(status, 401)
        # A body past 64 KiB: 413 and the connection closed.
        big = b"Body=" + b"a" * 70000
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
                % (MESSAGES, basic(), len(big))).encode()
        answer = raw_exchange(port, head + big)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])
        # A value that is not UTF-8.
        status, _, body = self.server.raw("POST", MESSAGES,
                                          "To=%2B15551234567&From=%2B15005550006&Body=%ff%fe")
        self.assertIn(status, (201, 400))
        # A method the path does not take, a path that does not exist.
        status, headers, _ = self.server.raw("PUT", CALLS, "")
        self.assertEqual((status, header(headers, "Allow")), (405, "GET, POST"))
        status, _, body = self.server.raw("GET", "/2010-04-01/Accounts/%s/../../etc/passwd.json"
                                          % ACCOUNT)
        self.assertEqual((status, json.loads(body)["code"]), (404, 20404))
        # Still serving, and the record says what each got.
        self.assertEqual(self.client.calls.list(), [])
        records = sim_requests(self.server)
        self.assertEqual([r["status"] for r in records[:4]], [400, 401, 401, 413])
        self.assertEqual(records[0]["params"], {})
        self.assertIsNone(records[4]["params"]["Body"])
        self.assertEqual(records[4]["params"]["To"], "+15551234567")
        with open(self.record, encoding="utf-8") as f:
            self.assertEqual(len(f.readlines()), len(records))


class RecordCommandLineTest(unittest.TestCase):
    def test_bad_fault_flags_are_refused(self):
        cases = [("--fail-every", "0"), ("--garbage-every", "x"), ("--create-timeout-ms", "-1"),
                 ("--slow-ms", "600001"), ("--seed", "-3"), ("--answered-by", "=human"),
                 ("--answered-by", "+15551234567=robot"), ("--create-timeout-every", "")]
        for flag, value in cases:
            res = subprocess.run([BINARY, "sim", "api", "--listen", "127.0.0.1:1", "--token", "t",
                                  flag, value], capture_output=True, text=True, timeout=10)
            self.assertEqual(res.returncode, 2, (flag, value, res.stderr))
            self.assertTrue(res.stderr.startswith("error: "), res.stderr)
        res = subprocess.run([BINARY, "sim", "api", "--help"], capture_output=True, text=True,
                             timeout=10)
        for flag in ("--fail-every", "--garbage-every", "--create-timeout-every",
                     "--create-timeout-ms", "--slow-ms", "--record", "--seed", "NUMBER=VALUE"):
            self.assertIn(flag, res.stdout)

    def test_a_record_file_that_cannot_be_opened(self):
        res = subprocess.run([BINARY, "sim", "api", "--listen", "127.0.0.1:%d" % free_port(),
                              "--token", "t", "--record", "/nonexistent-dir/requests.jsonl"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("error: ", res.stderr)
        self.assertIn("record", res.stderr)


if __name__ == "__main__":
    unittest.main()
