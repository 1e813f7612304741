"""Hostile clients: every attack is made while a background caller keeps sending signed
webhooks (half of them in Spanish), and those must still be answered.

The server runs with small limits (--header-timeout 2, --body-timeout 2,
--stream-start-timeout 2, --stream-idle-timeout 3, at most 16 connections from one
address), so that every slow attack ends within seconds. Attacks that need more than a
handful of sockets come from other loopback addresses (127.0.0.2 and up: the whole of
127/8 is local), so that the per-address cap of the attackers is not the background
caller's.
"""
import base64
import contextlib
import hashlib
import hmac
import http.client
import itertools
import json
import os
import random
import re
import select
import signal
import socket
import stat
import threading
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

import websocket
from twilio.request_validator import RequestValidator

from tests.integration.harness import ON_POSTGRES, PRO, STARTER, TOKEN, Switchboard, call_sid, incoming_params

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2
STREAM_START_TIMEOUT = 2
STREAM_IDLE_TIMEOUT = 3
PER_IP = 16
FLAGS = ["--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
         "--stream-start-timeout", str(STREAM_START_TIMEOUT),
         "--stream-idle-timeout", str(STREAM_IDLE_TIMEOUT),
         "--max-connections", "400", "--max-connections-per-ip", str(PER_IP)]
# A legitimate webhook is answered in about a millisecond; this only tells "answered" from "never".
LEGIT_TIMEOUT = 10
# How long a limit may take to act before a test calls it broken: generous, never a timing claim.
GRACE = 8

ES_PRO = "+15005550010"  # a pro number whose tenant greets in Spanish with accents and ¿ ¡
ES_GREETING = "¿Cómo está? Bienvenido a Peña y Núñez, ¡gracias por llamar!"
FORGED_TS = "ts=2000-01-01T00:00:00Z"

sids = itertools.count(0xA77AC000)


def next_sid():
    return call_sid(next(sids))


# --- signing and raw HTTP -------------------------------------------------------------------

def sign_pairs(url, pairs, token=TOKEN):
    """X-Twilio-Signature over raw bytes (python3-twilio signs str, which cannot carry
    invalid UTF-8): the URL, then each key in byte order with each of its values in order."""
    data = url.encode() if isinstance(url, str) else url
    keys = sorted({k for k, _ in pairs})
    for k in keys:
        for v in sorted({v for kk, v in pairs if kk == k}):
            data += k + v
    return base64.b64encode(hmac.new(token.encode(), data, hashlib.sha1).digest()).decode()


def encode_pairs(pairs):
    return b"&".join(urllib.parse.quote_from_bytes(k, safe="").encode() + b"=" +
                     urllib.parse.quote_from_bytes(v, safe="").encode() for k, v in pairs)


def as_pairs(params):
    return [(k.encode(), v.encode()) for k, v in params.items()]


def http_request(method, path, body=b"", headers=(), host="127.0.0.1"):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    lines += ["%s: %s" % h for h in headers]
    if body or method == "POST":
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Raw:
    """A client socket from a chosen loopback address, with an HTTP/1.1 response reader."""

    def __init__(self, port, src="127.0.0.1", timeout=8):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind((src, 0))
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        with contextlib.suppress(OSError):
            self.s.close()

    def _more(self):
        try:
            data = self.s.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _until(self, sep):
        while sep not in self.buf:
            if not self._more():
                return None
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _exactly(self, n):
        while len(self.buf) < n:
            if not self._more():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head_only=False):
        """(status, {header: value}, body), or None when the server closed before one came.
        A timeout raises socket.timeout."""
        head = self._until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = b""
        if head_only or status == 204 or status == 304 or 100 <= status < 200:
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = self._until(b"\r\n")
                if size_line is None:
                    break
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                chunk = self._exactly(size + 2)
                if chunk is None or size == 0:
                    break
                body += chunk[:-2]
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"])) or b""
        else:
            while self._more():
                pass
            body, self.buf = self.buf, b""
        return status, headers, body

    def closed_within(self, seconds):
        """True when the server closes the connection (EOF or reset) within `seconds`;
        whatever it sent before is kept in self.buf."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            r, _, _ = select.select([self.s], [], [], max(0.0, deadline - time.time()))
            if r and not self._more():
                return True
        return False


# --- the background caller ------------------------------------------------------------------

def twiml(body):
    return ET.fromstring(body)


class LegitCaller(threading.Thread):
    """Keeps sending signed webhooks, alternately an English and a Spanish caller (accents,
    ¿ and ñ in the form values), each on its own connection with a generous timeout, and
    counts the answers that are right."""

    def __init__(self, sb):
        super().__init__(daemon=True)
        self.sb = sb
        self.ok = 0
        self.failures = []
        self.halt = threading.Event()

    def one(self, n):
        sid = next_sid()
        conn = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=LEGIT_TIMEOUT)
        try:
            if n % 3 == 0:
                status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(sid), conn=conn)
                if status != 200 or twiml(body).find("Connect/Stream") is None:
                    return "incoming (en): %s %r" % (status, body[:200])
            elif n % 3 == 1:
                params = incoming_params(sid, frm="+525512345678", to=STARTER, FromCountry="MX",
                                         CallerName="José Núñez ¿Quién llama?", FromCity="Ciudad de México",
                                         FromState="Distrito Federal ñ á é í ó ú ü ¡")
                status, _, body = self.sb.signed_post("/voice/incoming", params, conn=conn)
                if status != 200:
                    return "incoming (es): %s %r" % (status, body[:200])
                gather = twiml(body).find("Gather")
                if gather is None or gather.get("language") != "es-MX" or \
                        gather.find("Say").text != "Gracias por llamar a Acme.":
                    return "incoming (es): %r" % body[:300]
            else:
                params = incoming_params(sid, frm="+525512345678", to=STARTER,
                                         SpeechResult="¿Cuál es el horario? Quiero hablar con una persona, señorita.",
                                         Confidence="0.91")
                status, _, body = self.sb.signed_post("/voice/gather", params, conn=conn)
                if status != 200 or not len(twiml(body)):
                    return "gather (es): %s %r" % (status, body[:200])
        finally:
            conn.close()
        return None

    def run(self):
        for n in itertools.count():
            if self.halt.is_set():
                return
            try:
                err = self.one(n)
            except Exception as e:  # noqa: BLE001 - every failure counts, whatever it is
                err = "%s: %s" % (type(e).__name__, e)
            if err:
                self.failures.append(err)
            else:
                self.ok += 1
            time.sleep(0.02)


class AttackTest(unittest.TestCase):
    """One seeded server for the class; a test that leaves it unhealthy gets a fresh one."""

    @classmethod
    def setUpClass(cls):
        cls.sb = Switchboard()
        cls.sb.seed()
        cls.sb.cli("tenants", "add", "pena", "--lang", "es-MX", "--greeting", "es-MX=" + ES_GREETING,
                   "--greeting", "es=" + ES_GREETING)
        cls.sb.cli("numbers", "add", ES_PRO, "--tenant", "pena", "--plan", "pro", "--agent", "receptionist")
        cls.sb.start(*FLAGS)

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()

    def setUp(self):
        if not self.healthy(timeout=3):
            # The previous test hung or killed it: that test has failed already.
            self.sb.stop(signal.SIGKILL)
            self.sb.start(*FLAGS)

    def tearDown(self):
        if self.sb.proc is not None and self.sb.proc.poll() is not None:
            self.fail("the server exited (%s): %s" % (self.sb.proc.returncode, self.sb.logs()[-3000:]))

    # --- helpers ----------------------------------------------------------------------------

    def healthy(self, timeout=10):
        if self.sb.proc is None or self.sb.proc.poll() is not None:
            return False
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=timeout)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except (OSError, http.client.HTTPException):
            return False

    @contextlib.contextmanager
    def legit_traffic(self, min_answers=3):
        """Runs the block while LegitCaller sends; afterwards asserts that it got at least
        `min_answers` right answers (waiting for them, up to a generous bound) and no wrong one."""
        caller = LegitCaller(self.sb)
        caller.start()
        try:
            yield caller
        except BaseException:
            caller.halt.set()
            caller.join(LEGIT_TIMEOUT + 5)
            raise
        deadline = time.time() + LEGIT_TIMEOUT
        while caller.ok < min_answers and not caller.failures and time.time() < deadline:
            time.sleep(0.05)
        caller.halt.set()
        caller.join(LEGIT_TIMEOUT + 5)
        self.assertEqual(caller.failures, [], "legitimate webhooks went unanswered during the attack")
        self.assertGreaterEqual(caller.ok, min_answers, "legitimate webhooks went unanswered during the attack")

    def raw(self, src="127.0.0.1", timeout=8):
        return Raw(self.sb.port, src, timeout)

    def signed_request(self, path, params, method="POST", headers=(), url=None):
        pairs = params if isinstance(params, list) else as_pairs(params)
        body = encode_pairs(pairs)
        sig = sign_pairs(url or self.sb.url(path), pairs)
        return http_request(method, path, body, [("Content-Type", "application/x-www-form-urlencoded"),
                                                 ("X-Twilio-Signature", sig), *headers])

    def exchange(self, data, src="127.0.0.1"):
        """Sends `data` on a fresh connection and reads one response."""
        c = self.raw(src)
        try:
            c.send(data)
            return c.response()
        finally:
            c.close()

    def assert_error(self, resp, status, *words):
        self.assertIsNotNone(resp, "the server closed the connection without an answer")
        got, headers, body = resp
        self.assertEqual(got, status, body[:300])
        self.assertTrue(headers.get("content-type", "").startswith("text/plain"), headers)
        self.assertTrue(body.startswith(b"error: "), body[:300])
        for w in words:
            self.assertIn(w.lower().encode(), body.lower())

    def log_lines(self):
        return self.sb.logs().splitlines()

    # --- media streams ----------------------------------------------------------------------

    def ws_signature(self):
        return RequestValidator(TOKEN).compute_signature("wss://127.0.0.1:%d/voice/stream" % self.sb.port, {})

    def ws(self, src=None):
        kw = {"source_address": (src, 0)} if src else {}
        return websocket.create_connection("ws://127.0.0.1:%d/voice/stream" % self.sb.port, timeout=8,
                                           header=["X-Twilio-Signature: %s" % self.ws_signature()], **kw)

    def stream_parameters(self, sid, frm="+15551234567", to=PRO):
        """The <Parameter>s switchboard hands Twilio for this call (the stream's token among
        them, once streams carry one)."""
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(sid, frm=frm, to=to))
        self.assertEqual(status, 200, body)
        stream = twiml(body).find("Connect/Stream")
        self.assertIsNotNone(stream, body)
        return {p.get("name"): p.get("value") for p in stream.findall("Parameter")}

    @staticmethod
    def start_msg(sid, params, stream_sid=None):
        stream_sid = stream_sid or "MZ" + sid[2:]
        return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
                           "start": {"streamSid": stream_sid, "accountSid": "AC" + "0" * 32, "callSid": sid,
                                     "tracks": ["inbound"], "customParameters": params,
                                     "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                     "channels": 1}}}, ensure_ascii=False)

    @staticmethod
    def media_msg(sid, seq):
        """One 20 ms frame of µ-law silence from the caller, on start_msg's stream."""
        stream_sid = "MZ" + sid[2:]
        return json.dumps({"event": "media", "sequenceNumber": str(seq), "streamSid": stream_sid,
                           "media": {"track": "inbound", "chunk": str(seq - 1), "timestamp": str(20 * (seq - 2)),
                                     "payload": base64.b64encode(b"\xff" * 160).decode()}})

    def ws_outcome(self, ws, seconds=GRACE, until_media=False):
        """Reads what the server sends for up to `seconds`: ('closed', code, events) when it
        closed the socket, ('open', None, events) otherwise. With until_media, returns as
        soon as a media message came."""
        events = []
        deadline = time.time() + seconds
        while time.time() < deadline:
            ws.settimeout(max(0.05, deadline - time.time()))
            try:
                op, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                break
            except (websocket.WebSocketConnectionClosedException, websocket.WebSocketProtocolException,
                    websocket.WebSocketPayloadException, ConnectionError, OSError):
                return "closed", None, events
            if op == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                return "closed", code, events
            if op == websocket.ABNF.OPCODE_TEXT:
                with contextlib.suppress(ValueError):
                    events.append(json.loads(data)["event"])
                if until_media and "media" in events:
                    return "open", None, events
        return "open", None, events

    def raw_frame_closes(self, frame, src=None):
        """Sends one raw frame after a signed upgrade; asserts the server closes the socket."""
        ws = self.ws(src)
        try:
            try:
                ws.sock.sendall(frame)
            except OSError:  # closed before the whole frame was in: refused, as it should be
                return None
            state, code, _ = self.ws_outcome(ws)
            self.assertEqual(state, "closed", "the server kept the socket open after %r" % frame[:16])
            return code
        finally:
            ws.close()

    # === 1. Spanish text through the synthesizer ============================================

    def test_spanish_callers_on_media_streams_hear_a_greeting(self):
        with self.legit_traffic():
            for to in (ES_PRO, PRO):
                sid = next_sid()
                params = self.stream_parameters(sid, frm="+525512345678", to=to)
                self.assertTrue(params.get("lang", "").startswith("es"), params)
                ws = self.ws()
                try:
                    ws.send(self.start_msg(sid, params))
                    state, _, events = self.ws_outcome(ws, 20, until_media=True)
                    self.assertIn("media", events, "no Spanish greeting for %s (socket %s)" % (to, state))
                finally:
                    ws.close()
        self.assertTrue(self.healthy())

    # === 2. Pipelining =======================================================================

    def test_two_pipelined_posts_in_one_write_are_answered_or_cut_cleanly(self):
        r = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\na"
        with self.legit_traffic():
            c = self.raw()
            try:
                c.send(r + r)
                answers = self.read_pipelined(c, 2)
            finally:
                c.close()
            for status, _, body in answers:
                self.assertEqual(status, 404, body)
                self.assertTrue(body.startswith(b"error: "), body)

    def test_pipelined_short_bodies_to_signed_routes_do_not_freeze_the_loop(self):
        # A 1-byte body, then the same request in the same write: lws parses the second as a
        # request and, once it was answered too, spun for good (nothing answered any more).
        # An error to a request with a body now closes its connection.
        for path in (b"/voice/incoming", b"/voice/status", b"/sms/incoming"):
            for ctype in (b"", b"Content-Type: application/x-www-form-urlencoded\r\n"):
                r = b"POST " + path + b" HTTP/1.1\r\nHost: h\r\n" + ctype + \
                    b"Content-Length: 1\r\n\r\na"
                c = self.raw()
                try:
                    c.send(r + r)
                    answers = self.read_pipelined(c, 2)
                finally:
                    c.close()
                self.assertEqual(len(answers), 1, "the connection went on after an error")
                self.assertIn(answers[0][0], (403, 415), answers[0])
                self.assertTrue(answers[0][2].startswith(b"error: "), answers[0])

    def read_pipelined(self, c, n):
        """Up to n responses in order; fewer only if the server then closed the connection
        (RFC 9112 9.3.2: a request with a body pipelined behind an answer is not read, see the
        README's "Pipelining"); a request left hanging fails."""
        answers = []
        for _ in range(n):
            try:
                resp = c.response()
            except socket.timeout:
                self.fail("pipelined request %d of %d was never answered (after %d answers)"
                          % (len(answers) + 1, n, len(answers)))
            if resp is None:
                break
            answers.append(resp)
        self.assertGreaterEqual(len(answers), 1, "no answer at all to pipelined requests")
        self.assertTrue(self.healthy(), "the server stopped answering after pipelined requests")
        return answers

    def every_route(self):
        """(request bytes, check of its answer) for each route, some twice."""
        sid = next_sid()
        sid_flow = next_sid()
        status_params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "CallStatus": "ringing",
                         "SequenceNumber": "1", "Timestamp": "Sun, 22 Nov 2026 10:00:00 +0000",
                         "From": "+15551234567", "To": PRO, "Direction": "inbound"}

        def xml_answer(tag):
            def check(resp):
                status, _, body = resp
                self.assertEqual(status, 200, body)
                self.assertIsNotNone(twiml(body).find(tag), body)
            return check

        def incoming_for(s):
            def check(resp):
                status, _, body = resp
                self.assertEqual(status, 200, body)
                stream = twiml(body).find("Connect/Stream")
                params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
                self.assertEqual(params["CallSid"], s)
            return check

        def plain(code, start=b""):
            def check(resp):
                status, _, body = resp
                self.assertEqual(status, code, body)
                self.assertTrue(body.startswith(start), body[:200])
            return check

        def any_twiml(resp):
            status, _, body = resp
            self.assertEqual(status, 200, body)
            twiml(body)

        sid2 = next_sid()
        return [
            (http_request("GET", "/healthz"), plain(200, b"ok")),
            (self.signed_request("/voice/incoming", incoming_params(sid)), incoming_for(sid)),
            (self.signed_request("/voice/status", status_params), plain(204)),
            (http_request("GET", "/metrics"), plain(200, b"#")),
            (self.signed_request("/voice/gather", incoming_params(sid, to=STARTER, SpeechResult="hours")),
             any_twiml),
            (self.signed_request("/voice/stream-ended", incoming_params(sid)), any_twiml),
            (self.signed_request("/voice/flow?step=1", incoming_params(sid_flow, Digits="1")), any_twiml),
            (self.signed_request("/voice/flow/recording",
                                 incoming_params(sid_flow, RecordingUrl="https://api.twilio.com/r/RE1",
                                                 RecordingSid="RE" + "1" * 32, RecordingDuration="3")),
             lambda resp: self.assertIn(resp[0], (200, 204), resp[2])),
            (http_request("GET", "/voice/stream"), plain(426, b"error: ")),
            (http_request("GET", "/no/such/path"), plain(404, b"error: ")),
            (http_request("POST", "/healthz", b"x=1"), plain(405, b"error: ")),
            (self.signed_request("/voice/incoming", dict(incoming_params(sid, to=STARTER), CallSid=sid2)),
             xml_answer("Gather")),
            (self.signed_request("/voice/status", dict(status_params, CallStatus="completed", SequenceNumber="2",
                                                       CallDuration="5")), plain(204)),
            (http_request("GET", "/healthz"), plain(200, b"ok")),
        ]

    def test_pipelined_requests_to_every_route_are_answered_in_order(self):
        with self.legit_traffic():
            reqs = self.every_route()
            c = self.raw()
            try:
                c.send(b"".join(r for r, _ in reqs))
                answers = self.read_pipelined(c, len(reqs))
            finally:
                c.close()
            for (_, check), resp in zip(reqs, answers):
                check(resp)

    def test_pipelined_requests_split_at_random_places_are_answered_in_order(self):
        rnd = random.Random(11)
        with self.legit_traffic():
            reqs = self.every_route()
            data = b"".join(r for r, _ in reqs)
            c = self.raw()
            try:
                i = 0
                while i < len(data):
                    n = rnd.choice((1, 2, 3, 7, 40, 200, 900))
                    try:
                        c.send(data[i:i + n])
                    except OSError:
                        break  # closed after an answer: read_pipelined says whether cleanly
                    i += n
                    if rnd.random() < 0.1:
                        time.sleep(0.005)
                answers = self.read_pipelined(c, len(reqs))
            finally:
                c.close()
            for (_, check), resp in zip(reqs, answers):
                check(resp)

    # === 3. Slow clients, idle sockets, connection caps ======================================

    def test_slowloris_headers_a_byte_at_a_time_are_cut_off(self):
        with self.legit_traffic():
            socks = [self.raw("127.0.0.3") for _ in range(8)]
            head = b"POST /voice/incoming HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
            deadline = time.time() + HEADER_TIMEOUT + GRACE
            open_ = list(socks)
            i = 0
            while open_ and time.time() < deadline and i < len(head):
                for c in list(open_):
                    try:
                        c.send(head[i:i + 1])
                    except OSError:
                        open_.remove(c)
                        continue
                    if c.closed_within(0):
                        open_.remove(c)
                i += 1
                time.sleep(0.1)
            still = len(open_)
            for c in socks:
                c.close()
        self.assertEqual(still, 0, "headers sent a byte at a time kept their connections")

    def test_body_at_one_byte_a_second_is_cut_off(self):
        with self.legit_traffic():
            socks = []
            for _ in range(4):
                c = self.raw("127.0.0.4")
                req = self.signed_request("/voice/incoming", incoming_params(next_sid()))
                head, body = req.split(b"\r\n\r\n", 1)
                head = head.replace(b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 500))
                c.send(head + b"\r\n\r\n" + body[:1])
                socks.append(c)
            deadline = time.time() + BODY_TIMEOUT + GRACE
            open_ = list(socks)
            while open_ and time.time() < deadline:
                for c in list(open_):
                    try:
                        c.send(b"a")
                    except OSError:
                        open_.remove(c)
                        continue
                    if c.closed_within(0):
                        open_.remove(c)
                time.sleep(1)
            still = len(open_)
            answered = [c.buf.split(b"\r\n", 1)[0] for c in socks if c.buf]
            for c in socks:
                c.close()
        self.assertEqual(still, 0, "a body sent at one byte a second kept its connection")
        for line in answered:  # a server that says why may only say 408
            self.assertIn(b" 408", line)

    def test_idle_sockets_are_closed(self):
        with self.legit_traffic():
            socks = [self.raw("127.0.0.5") for _ in range(10)]
            kept = self.raw("127.0.0.5")  # idle after one answer on a kept-alive connection
            kept.send(http_request("GET", "/healthz"))
            self.assertEqual(kept.response()[0], 200)
            socks.append(kept)
            deadline = time.time() + HEADER_TIMEOUT + GRACE
            closed = [c.closed_within(max(0.0, deadline - time.time())) for c in socks]
            for c in socks:
                c.close()
        self.assertEqual(closed.count(False), 0, "%d idle sockets were kept open" % closed.count(False))

    def flood(self, addresses, per_address):
        """Opens per_address connections from each address, sends GET /healthz on each and
        sorts them: answered 200 (kept open), refused (503 or closed), or left hanging."""
        socks = []
        for a in addresses:
            for _ in range(per_address):
                try:
                    socks.append(Raw(self.sb.port, a, timeout=5))
                except OSError:
                    socks.append(None)  # refused at connect: counts as refused
        for c in socks:
            if c:
                with contextlib.suppress(OSError):
                    c.send(http_request("GET", "/healthz"))
        served = refused = hanging = 0
        for c in socks:
            if c is None:
                refused += 1
                continue
            try:
                resp = c.response()
            except (socket.timeout, OSError):
                hanging += 1
                continue
            if resp is None or resp[0] == 503:
                refused += 1
            elif resp[0] == 200:
                served += 1
            else:
                self.fail("unexpected answer to a flood connection: %r" % (resp,))
        return socks, served, refused, hanging

    def test_flood_above_the_per_address_cap_is_refused_and_others_are_served(self):
        with self.legit_traffic(min_answers=5):
            socks, served, refused, hanging = self.flood(["127.0.0.2"], PER_IP * 3)
            try:
                self.assertLessEqual(served, PER_IP)
                self.assertEqual(hanging, 0, "connections over the cap were left hanging, not refused")
                self.assertGreaterEqual(refused, PER_IP * 2)
                # The same address is still capped while its connections stay open ...
                extra = self.exchange(http_request("GET", "/healthz"), src="127.0.0.2") \
                    if served >= PER_IP else None
                self.assertTrue(extra is None or extra[0] == 503, extra)
            finally:
                for c in socks:
                    if c:
                        c.close()
        # ... and is served again once they are closed.
        deadline = time.time() + GRACE
        while True:
            try:
                resp = self.exchange(http_request("GET", "/healthz"), src="127.0.0.2")
            except OSError:
                resp = None
            if resp and resp[0] == 200 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(resp and resp[0], 200)

    def test_flood_above_the_total_cap_is_refused_then_served_again(self):
        sb = Switchboard()
        try:
            sb.seed()
            sb.start("--max-connections", "24", "--max-connections-per-ip", "1000",
                     "--header-timeout", "5")
            this, self.sb = self.sb, sb
            try:
                socks, served, refused, hanging = self.flood(["127.0.0.%d" % i for i in range(6, 10)], 10)
                for c in socks:
                    if c:
                        c.close()
                self.assertLessEqual(served, 24)
                self.assertEqual(hanging, 0, "connections over the cap were left hanging, not refused")
                self.assertGreaterEqual(refused, 16)
                deadline = time.time() + GRACE
                while True:
                    try:
                        status = sb.signed_post("/voice/incoming", incoming_params(next_sid()))[0]
                    except OSError:
                        status = None
                    if status == 200 or time.time() > deadline:
                        break
                    time.sleep(0.2)
                self.assertEqual(status, 200)
            finally:
                self.sb = this
        finally:
            sb.close()

    # === 4. Media streams: deadlines and the call binding =====================================

    def test_upgrades_that_never_start_are_closed(self):
        with self.legit_traffic():
            socks = [self.ws("127.0.0.11") for _ in range(6)]
            try:
                states = [self.ws_outcome(ws, STREAM_START_TIMEOUT + GRACE)[0] for ws in socks]
            finally:
                for ws in socks:
                    ws.close()
        self.assertEqual(states.count("open"), 0, "streams without a start were kept open")

    def test_a_stream_that_goes_quiet_is_closed(self):
        with self.legit_traffic():
            sid = next_sid()
            ws = self.ws()
            try:
                ws.send(self.start_msg(sid, self.stream_parameters(sid)))
                # The greeting plays for a few seconds; the caller sends nothing at all.
                state, _, events = self.ws_outcome(ws, STREAM_IDLE_TIMEOUT + 15)
            finally:
                ws.close()
        self.assertEqual(state, "closed", "a stream without a message from Twilio was kept open")

    def test_one_captured_upgrade_signature_does_not_open_streams_for_any_call(self):
        with self.legit_traffic():
            outcomes = []
            for forged in ({}, {"token": "0" * 40}, {"token": "AAAA"}, {"token": "x" * 5000}):
                sid = next_sid()
                ws = self.ws()
                try:
                    ws.send(self.start_msg(sid, dict({"To": PRO, "lang": "en-US"}, **forged)))
                    outcomes.append((forged.get("token", "")[:8],) + self.ws_outcome(ws)[:1] +
                                    ("media" in self.ws_outcome(ws, 0.1)[2],))
                finally:
                    ws.close()
        for token, state, media in outcomes:
            self.assertEqual(state, "closed", "a start with token %r was accepted" % token)
            self.assertFalse(media, "a start with token %r got audio" % token)

    def test_a_start_naming_another_live_call_does_not_take_its_stream(self):
        with self.legit_traffic():
            sid = next_sid()
            params = self.stream_parameters(sid)
            victim = self.ws()
            attacker = self.ws("127.0.0.12")
            try:
                victim.send(self.start_msg(sid, params))
                self.assertIn("media", self.ws_outcome(victim, 20, until_media=True)[2])
                victim.send(self.media_msg(sid, 2))  # the caller talks: not closed for idleness
                forged = {k: v for k, v in params.items() if k != "token"}
                attacker.send(self.start_msg(sid, forged, stream_sid="MZ" + "e" * 32))
                attacked = self.ws_outcome(attacker)[0]
                victim.send(self.media_msg(sid, 3))
                victim_after = self.ws_outcome(victim, 1.5)[0]
            finally:
                victim.close()
                attacker.close()
        self.assertEqual(attacked, "closed", "a start without the call's token was accepted")
        self.assertEqual(victim_after, "open", "a start without the call's token replaced the call's stream")

    # === 5. Log forgery =======================================================================

    def test_cr_lf_in_values_cannot_forge_log_lines(self):
        forged = "\r\n%s level=error event=forged.line call_sid=CA0\n" % FORGED_TS
        with self.legit_traffic():
            sid = "CA" + "f" * 32 + forged
            for path, params in (
                    ("/voice/incoming", incoming_params(sid)),
                    ("/voice/incoming", incoming_params(next_sid(), frm="+1555" + forged)),
                    ("/voice/gather", incoming_params(sid, to=STARTER, SpeechResult="hi" + forged)),
                    ("/voice/status", {"CallSid": sid, "CallStatus": "ringing"}),
                    ("/voice/status", {"CallSid": next_sid(), "CallStatus": "bogus" + forged}),
                    ("/voice/stream-ended", incoming_params(sid)),
                    ("/voice/flow?step=1" + urllib.parse.quote(forged), incoming_params(sid))):
                resp = self.exchange(self.signed_request(path, params))
                self.assertIsNotNone(resp, path)
            self.exchange(http_request("GET", "/x%0d%0a" + urllib.parse.quote(FORGED_TS) + "%20level=error"))
            ws = self.ws()
            try:
                ws.send(self.start_msg(sid, {"To": PRO}))
                self.ws_outcome(ws, 1)
            finally:
                ws.close()
        time.sleep(0.3)  # the writer's lines
        forged_lines = [line for line in self.log_lines() if line.startswith(FORGED_TS) or
                        line.lstrip("\r").startswith(FORGED_TS)]
        self.assertEqual(forged_lines, [])
        for line in self.log_lines():
            self.assertNotIn("\r", line)

    # === 6. File modes ========================================================================

    @unittest.skipIf(ON_POSTGRES, "the modes of a SQLite file; PostgreSQL keeps its files itself")
    def test_the_store_is_not_readable_by_others(self):
        old = os.umask(0o022)
        try:
            fresh = Switchboard()
            try:
                fresh.start()  # the server creates the store
                self.assertEqual(fresh.signed_post("/voice/incoming", incoming_params(next_sid()))[0], 200)
                cli_made = Switchboard()
                try:
                    cli_made.cli("tenants", "add", "x")  # the CLI creates it
                    paths = [p for p in (fresh.db, fresh.db + "-wal", fresh.db + "-shm", cli_made.db,
                                         cli_made.db + "-wal", cli_made.db + "-shm") if os.path.exists(p)]
                    modes = {p: oct(stat.S_IMODE(os.stat(p).st_mode)) for p in paths}
                finally:
                    cli_made.close()
            finally:
                fresh.close()
        finally:
            os.umask(old)
        self.assertIn(fresh.db, modes)
        for p, mode in modes.items():
            self.assertEqual(int(mode, 8) & 0o077, 0, "%s is %s" % (os.path.basename(p), mode))

    # === 7. Half-closed sockets ===============================================================

    def test_status_callback_from_a_half_closed_socket_is_answered(self):
        with self.legit_traffic():
            sid = next_sid()
            for seq, st in enumerate(("ringing", "completed")):
                c = self.raw()
                try:
                    c.send(self.signed_request("/voice/status", {
                        "CallSid": sid, "CallStatus": st, "SequenceNumber": str(seq), "From": "+15551234567",
                        "To": PRO, "Timestamp": "Sun, 22 Nov 2026 10:00:0%d +0000" % seq}))
                    c.s.shutdown(socket.SHUT_WR)
                    resp = c.response()
                finally:
                    c.close()
                self.assertIsNotNone(resp, "no answer to a committed status callback (%s)" % st)
                self.assertEqual(resp[0], 204, resp)
        rows = [r for r in self.sb.calls() if r["call_sid"] == sid]
        self.assertEqual([r["status"] for r in rows], ["completed"])

    def test_incoming_webhook_from_a_half_closed_socket_is_answered(self):
        sid = next_sid()
        c = self.raw()
        try:
            c.send(self.signed_request("/voice/incoming", incoming_params(sid)))
            c.s.shutdown(socket.SHUT_WR)
            resp = c.response()
        finally:
            c.close()
        self.assertIsNotNone(resp)
        self.assertEqual(resp[0], 200, resp)

    # === 8. Precise errors =====================================================================

    @staticmethod
    def chunked(body, size=7):
        out = b""
        for i in range(0, len(body), size):
            part = body[i:i + size]
            out += b"%x\r\n%s\r\n" % (len(part), part)
        return out + b"0\r\n\r\n"

    def chunked_request(self, path, params, size=7, pad=b""):
        pairs = as_pairs(params)
        body = encode_pairs(pairs) + pad
        sig = sign_pairs(self.sb.url(path), pairs + ([(b"pad", pad[5:])] if pad else []))
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                "X-Twilio-Signature: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % (path, sig)).encode()
        return head + self.chunked(body, size)

    def test_a_signed_chunked_body_is_refused_with_411_and_the_connection_closed(self):
        # The HTTP layer (libwebsockets 4.1) cannot read chunked bodies: 411, never a silent 403.
        with self.legit_traffic():
            for path, params in (("/voice/incoming", incoming_params(next_sid())),
                                 ("/voice/status", {"CallSid": next_sid(), "CallStatus": "ringing"})):
                with self.subTest(path=path):
                    c = self.raw()
                    try:
                        c.send(self.chunked_request(path, params) + http_request("GET", "/healthz"))
                        resp = c.response()
                        self.assert_error(resp, 411, "chunked", "Content-Length")
                        self.assertEqual(resp[1].get("connection", "").lower(), "close")
                        # the chunked bytes are never read as a next request
                        self.assertTrue(c.closed_within(5))
                    finally:
                        c.close()

    def test_content_length_with_transfer_encoding_is_400(self):
        body = b"a=1"
        req = (b"POST /voice/incoming HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + body)
        with self.legit_traffic():
            self.assert_error(self.exchange(req), 400, "Transfer-Encoding")

    def test_a_5000_character_path_is_414(self):
        with self.legit_traffic():
            self.assert_error(self.exchange(http_request("GET", "/" + "a" * 5000)), 414)
            self.assert_error(self.exchange(self.signed_request("/voice/incoming/" + "q" * 5000,
                                                                incoming_params(next_sid()))), 414)

    def assert_refused_or_cut(self, data, status):
        """A 4xx `error:` answer, or (past what libwebsockets 4.1 can hold: see the README's
        "Limits") a closed connection; never a hang, never a 2xx."""
        resp = self.exchange(data)
        if resp is not None:
            self.assert_error(resp, status)

    def test_oversized_header_lines_and_too_many_headers_are_refused(self):
        with self.legit_traffic():
            self.assert_refused_or_cut(http_request("GET", "/healthz", headers=[("X-Big", "b" * 9000)]), 431)
            self.assert_refused_or_cut(self.signed_request(
                "/voice/incoming", incoming_params(next_sid()), headers=[("Cookie", "c" * 20000)]), 431)
            self.assert_refused_or_cut(self.signed_request("/voice/incoming?" + "q=1&" * 1200,
                                                           incoming_params(next_sid())), 414)
        self.assertTrue(self.healthy())

    def test_three_hundred_small_headers_are_fine(self):
        many = [("X-H%d" % i, "v") for i in range(300)]
        self.assertEqual(self.exchange(http_request("GET", "/healthz", headers=many))[0], 200)

    def test_trace_connect_and_unknown_methods_are_501(self):
        with self.legit_traffic():
            for req in (http_request("TRACE", "/"), http_request("TRACE", "/voice/incoming"),
                        b"CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n",
                        http_request("BREW", "/voice/incoming"), http_request("FOO", "/healthz")):
                with self.subTest(req=req.split(b"\r\n")[0]):
                    self.assert_error(self.exchange(req), 501, "method")

    def test_a_known_method_on_the_wrong_route_is_405_with_allow(self):
        with self.legit_traffic():
            for method, path, allow in (("PUT", "/voice/incoming", "POST"), ("DELETE", "/voice/status", "POST"),
                                        ("PATCH", "/voice/gather", "POST"), ("GET", "/voice/incoming", "POST"),
                                        ("POST", "/metrics", "GET"), ("PUT", "/healthz", "GET"),
                                        ("OPTIONS", "/voice/incoming", "POST")):
                with self.subTest(method=method, path=path):
                    resp = self.exchange(http_request(method, path, b"a=1" if method != "GET" else b""))
                    self.assert_error(resp, 405, method)
                    self.assertEqual(resp[1].get("allow"), allow)

    # === 9. Out-of-range values, unmasked and malformed frames ================================

    def test_a_status_timestamp_in_year_9999_is_not_stored(self):
        sid = next_sid()
        status, _, body = self.sb.signed_post("/voice/status", {
            "CallSid": sid, "CallStatus": "completed", "SequenceNumber": "1", "CallDuration": "3",
            "Timestamp": "Fri, 31 Dec 9999 23:59:59 +0000"})
        if status == 400:
            self.assertTrue(body.startswith(b"error: ") and b"Timestamp" in body, body)
        else:
            self.assertEqual(status, 204, body)
            rows = [r for r in self.sb.calls() if r["call_sid"] == sid]
            self.assertNotIn("9999", json.dumps(rows))

    def test_an_unmasked_client_frame_gets_no_further_than_a_masked_one(self):
        # libwebsockets 4.1.6 does not tell an unmasked client frame from a masked one (its
        # check came later upstream), so the frame cannot be refused as RFC 6455 asks; what
        # holds is that it meets the same token check: an unbound start is refused.
        sid = next_sid()
        params = dict(self.stream_parameters(sid))
        params.pop("token", None)
        msg = self.start_msg(sid, params).encode()
        self.assertLess(len(msg), 65536)
        frame = b"\x81" + (bytes([len(msg)]) if len(msg) < 126 else b"\x7e" + len(msg).to_bytes(2, "big")) + msg
        with self.legit_traffic():
            ws = self.ws()
            try:
                ws.sock.sendall(frame)
                state, code, events = self.ws_outcome(ws)
            finally:
                ws.close()
        self.assertEqual(state, "closed", "an unmasked, unbound start was accepted")
        self.assertNotIn("media", events, "an unmasked, unbound start was acted on")
        self.assertIn(code, (None, 1002, 1008))

    @staticmethod
    def masked(first, payload, length=None):
        key = b"\x11\x22\x33\x44"
        n = len(payload) if length is None else length
        if n < 126:
            head = bytes([first, 0x80 | n])
        elif n < 65536:
            head = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

    def test_malformed_and_oversized_frames_close_the_stream(self):
        cases = {
            "length 2^63-1": self.masked(0x81, b'{"event":', length=2 ** 63 - 1),
            "length 2^32 in 8 bytes": self.masked(0x81, b"{", length=2 ** 32),
            "reserved opcode 3": self.masked(0x83, b"{}"),
            "reserved opcode 0xB": self.masked(0x8B, b""),
            "RSV1 without an extension": self.masked(0xC1, b"{}"),
            "continuation without a start": self.masked(0x80, b"{}"),
            "ping of 200 bytes": self.masked(0x89, b"p" * 200),
            "fragmented close": self.masked(0x08, b"\x03\xe8"),
            "64 KiB in fragments": b"".join(self.masked(0x01 if i == 0 else 0x00, b"x" * 8192) for i in range(9)),
            "1 MiB text frame": self.masked(0x81, b" " * (1 << 20)),
        }
        with self.legit_traffic(min_answers=5):
            for name, frame in cases.items():
                with self.subTest(frame=name):
                    self.raw_frame_closes(frame, src="127.0.0.13")
        self.assertTrue(self.healthy())

    def test_invalid_utf8_and_nul_in_websocket_text_close_the_stream(self):
        sid = next_sid()
        start = self.start_msg(sid, {"To": PRO}).encode()
        cases = {
            "invalid UTF-8": self.masked(0x81, b'{"event":"connected","protocol":"\xff\xfe"}'),
            "overlong UTF-8": self.masked(0x81, b'{"event":"connected","protocol":"\xc0\xaf"}'),
            "surrogate in UTF-8": self.masked(0x81, b'{"event":"connected","protocol":"\xed\xa0\x80"}'),
            "raw NUL": self.masked(0x81, b'{"event":"conn\x00ected"}'),
            "NUL in callSid": self.masked(0x81, start.replace(sid.encode(), b"CA\\u0000" + b"1" * 30)),
            "raw NUL in start": self.masked(0x81, start.replace(sid.encode(), b"CA\x00" + b"1" * 31)),
        }
        with self.legit_traffic():
            for name, frame in cases.items():
                with self.subTest(frame=name):
                    code = self.raw_frame_closes(frame, src="127.0.0.14")
                    if name.endswith("UTF-8"):
                        self.assertIn(code, (None, 1007))
        self.assertTrue(self.healthy())

    # === Invalid UTF-8 and NUL bytes in HTTP ==================================================

    def test_invalid_utf8_and_nul_in_form_values_are_answered_or_refused_plainly(self):
        with self.legit_traffic():
            for field, value in (("From", b"+1555\xff\xfe1234"), ("CallerName", b"Jos\xe9"),
                                 ("CallerName", b"a\x00b"), ("From", b"\x00"), ("To", PRO.encode() + b"\x00"),
                                 ("CallSid", b"CA" + b"\xc0" * 32), ("CallSid", call_sid(1).encode() + b"\x00x")):
                with self.subTest(field=field, value=value):
                    params = incoming_params(next_sid())
                    pairs = [(k.encode(), value if k == field else v.encode()) for k, v in params.items()]
                    if field not in params:
                        pairs.append((field.encode(), value))
                    resp = self.exchange(self.signed_request("/voice/incoming", pairs))
                    self.assertIsNotNone(resp, "no answer")
                    status, _, body = resp
                    if status == 400:
                        self.assertTrue(body.startswith(b"error: "), body)
                    else:
                        self.assertEqual(status, 200, body)
                        body.decode("utf-8")  # valid UTF-8 TwiML
                        twiml(body)
                        self.assertNotIn(b"\x00", body)
        self.assertTrue(self.healthy())

    def test_invalid_utf8_and_nul_in_paths_are_refused_plainly(self):
        with self.legit_traffic():
            for path in (b"/healthz%00", b"/healthz%00/x", b"/voice/%FF%FE", b"/voice/incoming%00",
                         b"/\xff\xfe", b"/heal\x00thz", b"/voice/incoming\x00"):
                with self.subTest(path=path):
                    resp = self.exchange(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    # libwebsockets 4.1 drops some of these itself (a NUL in the path): then the
                    # connection closes; whatever is answered is a plain 400 or 404.
                    if resp is not None:
                        self.assertIn(resp[0], (400, 403, 404), resp)
                        self.assertTrue(resp[2].startswith(b"error: "), resp)
        self.assertTrue(self.healthy())

    def test_invalid_utf8_and_nul_in_headers_are_refused_plainly(self):
        params = incoming_params(next_sid())
        good = self.signed_request("/voice/incoming", params)
        sig = re.search(rb"X-Twilio-Signature: (\S+)", good).group(1)
        with self.legit_traffic():
            for old, new, status in (
                    (b"X-Twilio-Signature: " + sig, b"X-Twilio-Signature: " + sig[:-2] + b"\xff\xfe", 403),
                    (b"X-Twilio-Signature: " + sig, b"X-Twilio-Signature: " + sig[:5] + b"\x00" + sig[5:], 403),
                    (b"Content-Type: application/x-www-form-urlencoded",
                     b"Content-Type: application/x-www-form-urlencoded\x00text/xml", None),
                    (b"Content-Type: application/x-www-form-urlencoded", b"Content-Type: \xff\xfe", 415),
                    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\x00evil", None)):
                with self.subTest(header=new):
                    resp = self.exchange(good.replace(old, new))
                    self.assertIsNotNone(resp, "the connection was closed without an answer")
                    if status is None:  # refused (400, 403 or 415) or, with the value cut at NUL, answered
                        self.assertIn(resp[0], (200, 400, 403, 415), resp)
                        if resp[0] != 200:
                            self.assertTrue(resp[2].startswith(b"error: "), resp)
                    else:
                        self.assert_error(resp, status)
        self.assertTrue(self.healthy())

    # === Signature tampering ==================================================================

    def test_tampered_signatures_are_403(self):
        params = incoming_params(next_sid())
        good = self.signed_request("/voice/incoming", params)
        sig = re.search(rb"X-Twilio-Signature: (\S+)", good).group(1)
        flipped = bytearray(base64.b64decode(sig))
        flipped[7] ^= 0x01
        other_url = sign_pairs(self.sb.url("/voice/gather"), as_pairs(params)).encode()
        changed = self.signed_request("/voice/incoming", params).replace(
            b"To=%2B15005550006", b"To=%2B15005550001")
        with self.legit_traffic():
            for name, req in (
                    ("a flipped byte", good.replace(sig, base64.b64encode(bytes(flipped)))),
                    ("a flipped base64 character", good.replace(sig, sig[:3] + (b"A" if sig[3:4] != b"A" else b"B")
                                                                + sig[4:])),
                    ("another URL's signature", good.replace(sig, other_url)),
                    ("a replayed signature with a changed body", changed),
                    ("a truncated signature", good.replace(sig, sig[:-4])),
                    ("an empty signature", good.replace(b"X-Twilio-Signature: " + sig, b"X-Twilio-Signature: ")),
                    ("a 4 KiB signature", good.replace(sig, sig * 140))):
                with self.subTest(name):
                    self.assert_error(self.exchange(req), 403, "signature")
            # and the untouched request still passes
            self.assertEqual(self.exchange(good)[0], 200)


if __name__ == "__main__":
    unittest.main()
