"""switchboard sim providers: the stand-ins for Deepgram, ElevenLabs and Cartesia.

Each test starts the real binary on 127.0.0.1 port 0 (it prints the bound
port on its first line), talks to it with the websocket-client library
(Debian's python3-websocket) as a provider's client would, and stops it by
its PID: it must exit 0, its log must hold no sanitizer report, no key and
no transcript. Recognition is heard for real: flite says "what are your
hours", pocketsphinx recognises it behind the stand-in's energy detector.
After every attack the server must still serve the next connection.
"""
import base64
import hashlib
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import unittest
import wave

import websocket

from tests.integration.harness import BINARY

KEY = "sk-test-provider-key-0123456789"
LISTEN = "/v1/listen?encoding=mulaw&sample_rate=8000"
STREAM_INPUT = "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input?model_id=eleven_flash_v2_5" \
               "&output_format=ulaw_8000"
CARTESIA = "/tts/websocket"
VERSION = ["Cartesia-Version: 2025-04-16"]
FORMAT = {"container": "raw", "encoding": "pcm_mulaw", "sample_rate": 8000}
SILENCE = b"\xff" * 160


def mulaw_encode(samples):
    """G.711 mu-law of 16-bit samples (bias 0x84, clipped at 32635), as core/mulaw does."""
    out = bytearray()
    for s in samples:
        sign = 0x80 if s < 0 else 0
        s = min(-s if s < 0 else s, 32635) + 0x84
        exp, mask = 7, 0x4000
        while exp > 0 and not s & mask:
            exp -= 1
            mask >>= 1
        out.append(~(sign | exp << 4 | (s >> (exp + 3)) & 0x0F) & 0xFF)
    return bytes(out)


def mulaw_decode(code):
    code = ~code & 0xFF
    t = ((code & 0x0F) << 3) + 0x84
    t <<= (code & 0x70) >> 4
    return 0x84 - t if code & 0x80 else t - 0x84


def rms(mulaw):
    if not mulaw:
        return 0.0
    return (sum(mulaw_decode(b) ** 2 for b in mulaw) / len(mulaw)) ** 0.5


def flite_mulaw(text, tmpdir):
    """flite's 8 kHz voice saying `text`, as mu-law."""
    path = os.path.join(tmpdir, "say.wav")
    subprocess.run(["flite", "-t", text, "-o", path], check=True)
    with wave.open(path) as w:
        assert w.getframerate() == 8000 and w.getsampwidth() == 2 and w.getnchannels() == 1
        raw = w.readframes(w.getnframes())
    return mulaw_encode(struct.unpack("<%dh" % (len(raw) // 2), raw))


def tone(ms):
    """A loud 500 Hz square wave: speech to an energy detector."""
    return mulaw_encode([6000 if (i // 8) % 2 else -6000 for i in range(ms * 8)])


def quiet(ms):
    return b"\xff" * (ms * 8)


class Providers:
    """A `switchboard sim providers` process on 127.0.0.1, stopped by its PID."""

    def __init__(self, *flags, transcripts=None, phrases=None):
        self.dir = tempfile.mkdtemp(prefix="sb-providers-")
        self.log_path = os.path.join(self.dir, "providers.log")
        argv = [BINARY, "sim", "providers", "--listen", "127.0.0.1:0", *flags]
        for flag, lines in (("--transcripts", transcripts), ("--phrases", phrases)):
            if lines is not None:
                path = os.path.join(self.dir, flag[2:] + ".txt")
                with open(path, "w", encoding="utf-8") as f:
                    f.write("\n".join(lines) + "\n")
                argv += [flag, path]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening on http://127.0.0.1:"):
            self.stop()
            raise AssertionError("sim providers did not start (%r): %s" % (line, self.logs()))
        self.port = int(line.strip().rsplit(":", 1)[1])

    def stop(self):
        """Stops the process by its PID; returns its exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def connect(self, path, headers=None):
        return websocket.create_connection(self.url(path), header=headers or [], timeout=30)

    def refusal(self, path, headers=None):
        """The status and headers of an upgrade that must be refused."""
        try:
            ws = self.connect(path, headers)
        except websocket.WebSocketBadStatusException as e:
            return e.status_code, {k.lower(): v for k, v in (e.resp_headers or {}).items()}
        ws.close()
        raise AssertionError("the upgrade to %s was accepted" % path)

    def http(self, path):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def drain(ws):
    """Every message until the server closes: (messages as JSON, close code, close reason)."""
    messages = []
    while True:
        op, frame = ws.recv_data_frame(True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            ws.shutdown()
            code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
            return messages, code, frame.data[2:].decode("utf-8", "replace")
        if op == websocket.ABNF.OPCODE_TEXT:
            messages.append(json.loads(frame.data.decode("utf-8")))


def until(ws, predicate):
    """Messages up to and including the first that `predicate` accepts."""
    seen = []
    while True:
        op, frame = ws.recv_data_frame(True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            raise AssertionError("closed (%r) before the message waited for; got %r"
                                 % (frame.data, seen))
        if op == websocket.ABNF.OPCODE_TEXT:
            seen.append(json.loads(frame.data.decode("utf-8")))
            if predicate(seen[-1]):
                return seen


def send_audio(ws, audio):
    for i in range(0, len(audio), 160):
        ws.send_binary(audio[i:i + 160])


def transcript(results):
    return results["channel"]["alternatives"][0]["transcript"]


class ProvidersTest(unittest.TestCase):
    """Base: one server per test, checked at the end."""

    flags = ()
    transcripts = None
    phrases = None

    def setUp(self):
        self.sim = Providers(*self.flags, transcripts=self.transcripts, phrases=self.phrases)

    def tearDown(self):
        rc = self.sim.stop()
        log = self.sim.logs()
        try:
            self.assertEqual(rc, 0, log[-3000:])
            for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                        "WARNING: ThreadSanitizer", KEY):
                self.assertNotIn(bad, log)
        finally:
            shutil.rmtree(self.sim.dir, ignore_errors=True)

    def server_still_serves(self):
        status, body = self.sim.http("/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        ws = self.sim.connect(LISTEN, ["Authorization: Token " + KEY] if KEY in self.flags else [])
        ws.send(json.dumps({"type": "CloseStream"}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        self.assertEqual(messages[-1]["type"], "Metadata")


class DeepgramPocketsphinxTest(ProvidersTest):

    phrases = ["what are your hours", "i want to talk to a person", "book an appointment"]

    def test_english_is_heard_with_its_times_and_events(self):
        audio = quiet(300) + flite_mulaw("What are your hours?", self.sim.dir) + quiet(1500)
        ws = self.sim.connect(LISTEN + "&model=nova-3&language=en-US&interim_results=true"
                              "&endpointing=300&utterance_end_ms=1000&vad_events=true")
        send_audio(ws, audio)
        ws.send(json.dumps({"type": "CloseStream"}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        kinds = [m["type"] for m in messages]
        self.assertEqual(kinds[0], "SpeechStarted", kinds)
        self.assertEqual(kinds[-1], "Metadata", kinds)
        self.assertIn("UtteranceEnd", kinds)
        finals = [m for m in messages if m["type"] == "Results" and m["speech_final"]]
        self.assertEqual(len(finals), 1, messages)
        final = finals[0]
        self.assertEqual(transcript(final), "what are your hours")
        self.assertTrue(final["is_final"])
        self.assertFalse(final["from_finalize"])
        self.assertEqual(final["channel_index"], [0, 1])
        self.assertEqual(final["start"], 0.0)
        words = final["channel"]["alternatives"][0]["words"]
        self.assertEqual([w["word"] for w in words], ["what", "are", "your", "hours"])
        started = messages[0]["timestamp"]
        self.assertGreaterEqual(words[0]["start"], started)
        for a, b in zip(words, words[1:]):
            self.assertLessEqual(a["end"], b["start"] + 1e-9)
        self.assertLessEqual(words[-1]["end"], final["start"] + final["duration"])
        # Interim results came first, while the utterance grew.
        interims = [i for i, m in enumerate(messages) if m["type"] == "Results" and not m["is_final"]]
        self.assertTrue(interims)
        self.assertLess(interims[-1], messages.index(final))
        end = messages[kinds.index("UtteranceEnd")]
        self.assertGreater(kinds.index("UtteranceEnd"), messages.index(final))
        self.assertAlmostEqual(end["last_word_end"], words[-1]["end"], places=2)
        meta = messages[-1]
        self.assertAlmostEqual(meta["duration"], len(audio) / 8000, places=2)
        self.assertEqual(meta["sha256"], hashlib.sha256(audio).hexdigest())
        self.assertEqual(meta["request_id"], final["metadata"]["request_id"])
        self.assertEqual(final["metadata"]["model_info"]["name"], "nova-3")
        # The log says what was heard in numbers only.
        log = self.sim.logs()
        self.assertIn("outcome=words words=4", log)
        self.assertNotIn("your hours", log)

    def test_silence_is_heard_as_nothing_and_finalize_still_answers(self):
        ws = self.sim.connect(LISTEN)
        send_audio(ws, quiet(1000))
        ws.send(json.dumps({"type": "Finalize"}))
        got = until(ws, lambda m: m["type"] == "Results")
        self.assertEqual(len(got), 1, got)
        self.assertTrue(got[0]["from_finalize"])
        self.assertTrue(got[0]["is_final"])
        self.assertEqual(transcript(got[0]), "")
        self.assertAlmostEqual(got[0]["duration"], 1.0, places=2)
        ws.send(json.dumps({"type": "CloseStream"}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        self.assertEqual(messages[-1]["type"], "Metadata")


class DeepgramTranscriptsTest(ProvidersTest):

    transcripts = ["¿Cuál es el horario?", "Quiero hablar con una persona."]

    def test_lines_are_heard_in_turn_with_accents_intact(self):
        ws = self.sim.connect(LISTEN + "&language=es&interim_results=true&endpointing=300")
        send_audio(ws, quiet(200) + tone(1200) + quiet(800) + tone(600) + quiet(800))
        ws.send(json.dumps({"type": "CloseStream"}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        finals = [m for m in messages if m["type"] == "Results" and m["speech_final"]]
        self.assertEqual([transcript(m) for m in finals], self.transcripts)
        words = finals[0]["channel"]["alternatives"][0]["words"]
        self.assertEqual(words[0]["punctuated_word"], "¿Cuál")
        self.assertEqual(words[0]["word"], "cuál")
        self.assertEqual(words[-1]["word"], "horario")
        # Interim results show the line's first words while the caller speaks.
        interims = [transcript(m) for m in messages if m["type"] == "Results" and not m["is_final"]]
        self.assertTrue(interims)
        for text in interims:
            self.assertTrue(any(line.startswith(text) for line in self.transcripts), text)
        self.assertNotIn("horario", self.sim.logs())

    def test_each_stream_starts_at_the_first_line(self):
        for _ in range(2):
            ws = self.sim.connect(LISTEN)
            send_audio(ws, tone(500) + quiet(300))
            ws.send(json.dumps({"type": "CloseStream"}))
            messages, _, _ = drain(ws)
            finals = [transcript(m) for m in messages if m["type"] == "Results" and m["is_final"]
                      and transcript(m)]
            self.assertEqual(finals, ["¿Cuál es el horario?"])

    def test_finalize_in_the_middle_of_speech(self):
        ws = self.sim.connect(LISTEN + "&endpointing=500")
        send_audio(ws, tone(600))
        ws.send(json.dumps({"type": "Finalize"}))
        got = until(ws, lambda m: m["type"] == "Results")
        self.assertTrue(got[-1]["is_final"])
        self.assertTrue(got[-1]["from_finalize"])
        self.assertFalse(got[-1]["speech_final"])
        self.assertEqual(transcript(got[-1]), "¿Cuál es el horario?")
        self.assertAlmostEqual(got[-1]["duration"], 0.6, places=2)
        # Nothing since: still an answer, empty, from where the last one ended.
        ws.send(json.dumps({"type": "Finalize"}))
        got = until(ws, lambda m: m["type"] == "Results")
        self.assertTrue(got[-1]["from_finalize"])
        self.assertEqual(transcript(got[-1]), "")
        self.assertAlmostEqual(got[-1]["start"], 0.6, places=2)
        ws.send(json.dumps({"type": "CloseStream"}))
        self.assertEqual(drain(ws)[1], 1000)

    def test_an_empty_audio_message_closes_the_stream(self):
        ws = self.sim.connect(LISTEN)
        send_audio(ws, tone(400))
        ws.send_binary(b"")
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        self.assertEqual(messages[-1]["type"], "Metadata")
        self.assertIn("¿Cuál es el horario?", [transcript(m) for m in messages if m["type"] == "Results"])

    def test_a_malformed_control_message_gets_an_error_and_the_stream_goes_on(self):
        ws = self.sim.connect(LISTEN)
        ws.send("{\"type\": \"KeepAlive\"")
        error = until(ws, lambda m: True)[0]
        self.assertEqual(error["type"], "Error")
        self.assertEqual(error["variant"], "SchemaError")
        self.assertIn("not JSON", error["description"])
        ws.send(json.dumps({"type": "Shout"}))
        error = until(ws, lambda m: True)[0]
        self.assertIn("unknown control message type 'Shout'", error["description"])
        # The client's text goes back to it, never into the log (jansson quotes short tokens).
        ws.send("{\"type\" \"tok-1234\"}")
        error = until(ws, lambda m: True)[0]
        self.assertIn("near '\"tok-1234\"'", error["description"])
        send_audio(ws, tone(400))
        ws.send(json.dumps({"type": "CloseStream"}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        self.server_still_serves()
        self.assertNotIn("tok-1234", self.sim.logs())


class DeepgramIdleTest(ProvidersTest):

    flags = ("--idle-ms", "600")
    transcripts = ["hello"]

    def test_silence_without_keepalive_is_closed_net_0001(self):
        started = time.monotonic()  # before the handshake: the stand-in's clock starts within it
        ws = self.sim.connect(LISTEN)
        messages, code, reason = drain(ws)
        self.assertEqual((code, reason), (1011, "NET-0001"))
        self.assertGreaterEqual(time.monotonic() - started, 0.6)
        self.assertEqual(messages, [])

    def test_keepalive_keeps_the_stream_open(self):
        ws = self.sim.connect(LISTEN)
        for _ in range(10):
            ws.send(json.dumps({"type": "KeepAlive"}))
            time.sleep(0.2)
        ws.send(json.dumps({"type": "CloseStream"}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        self.assertEqual(messages[-1]["type"], "Metadata")


class HandshakeTest(ProvidersTest):

    flags = ("--api-key", KEY)
    transcripts = ["hello"]

    def test_deepgram_takes_token_or_bearer_and_refuses_the_rest(self):
        for headers in ([], ["Authorization: Token wrong"], ["Authorization: Basic " + KEY],
                        ["Authorization: Token " + KEY + "x"]):
            status, h = self.sim.refusal(LISTEN, headers)
            self.assertEqual(status, 401, headers)
            self.assertIn("dg-error", h)
            self.assertIn("dg-request-id", h)
        for scheme in ("Token", "Bearer", "token"):
            ws = self.sim.connect(LISTEN, ["Authorization: %s %s" % (scheme, KEY)])
            ws.send(json.dumps({"type": "CloseStream"}))
            self.assertEqual(drain(ws)[1], 1000)

    def test_deepgram_refuses_what_it_cannot_decode(self):
        auth = ["Authorization: Token " + KEY]
        for query, reason in (("?encoding=linear16&sample_rate=8000", "linear16"),
                              ("?encoding=mulaw", "sample_rate"),
                              ("?sample_rate=8000", "encoding"),
                              (LISTEN[len("/v1/listen"):] + "&channels=2", "channels"),
                              (LISTEN[len("/v1/listen"):] + "&interim_results=maybe",
                               "interim_results")):
            status, h = self.sim.refusal("/v1/listen" + query, auth)
            self.assertEqual(status, 400, query)
            self.assertIn(reason, h["dg-error"])

    def test_elevenlabs_key_in_the_header_or_the_first_message(self):
        status, _ = self.sim.refusal(STREAM_INPUT, ["xi-api-key: wrong"])
        self.assertEqual(status, 401)
        for first in ({"text": " ", "xi-api-key": KEY}, {"text": " ", "xi_api_key": KEY}):
            ws = self.sim.connect(STREAM_INPUT)
            ws.send(json.dumps(first))
            ws.send(json.dumps({"text": ""}))
            messages, code, _ = drain(ws)
            self.assertEqual((code, messages), (1000, [{"isFinal": True}]))
        for first in ({"text": " "}, {"text": " ", "xi_api_key": "wrong"}):
            ws = self.sim.connect(STREAM_INPUT)
            ws.send(json.dumps(first))
            messages, code, reason = drain(ws)
            self.assertEqual((code, reason), (1008, "Invalid API key"))
            self.assertEqual(messages, [])

    def test_cartesia_needs_its_key_and_version(self):
        status, _ = self.sim.refusal(CARTESIA, VERSION)
        self.assertEqual(status, 401)
        status, _ = self.sim.refusal(CARTESIA, VERSION + ["Authorization: Bearer wrong"])
        self.assertEqual(status, 401)
        status, _ = self.sim.refusal(CARTESIA, ["Authorization: Bearer " + KEY])
        self.assertEqual(status, 400)
        self.sim.connect(CARTESIA, VERSION + ["Authorization: Bearer " + KEY]).close()
        self.sim.connect(CARTESIA + "?api_key=%s&cartesia_version=2025-04-16" % KEY).close()

    def test_unknown_paths_are_404(self):
        for path in ("/v1/speak", "/v1/text-to-speech/x/multi-stream-input", "/healthz", "/"):
            status, _ = self.sim.refusal(path)
            self.assertEqual(status, 404, path)
        self.assertEqual(self.sim.http("/nowhere")[0], 404)
        self.assertEqual(self.sim.http("/v1/listen")[0], 400)
        self.assertEqual(self.sim.http("/healthz"), (200, b"ok\n"))


def el_connect(sim, query=""):
    ws = sim.connect(STREAM_INPUT + query, ["xi-api-key: " + KEY])
    ws.send(json.dumps({"text": " ", "voice_settings": {"stability": 0.5, "similarity_boost": 0.8},
                        "generation_config": {"chunk_length_schedule": [120, 160, 250, 290]}}))
    return ws


def el_audio(messages):
    return b"".join(base64.b64decode(m["audio"], validate=True) for m in messages if m.get("audio"))


class ElevenLabsTest(ProvidersTest):

    flags = ("--api-key", KEY)

    def test_text_becomes_mulaw_audio_then_is_final(self):
        ws = el_connect(self.sim)
        ws.send(json.dumps({"text": "We open at nine. ", "try_trigger_generation": False}))
        # A complete sentence is spoken before the input ends.
        first = until(ws, lambda m: "audio" in m)[-1]
        self.assertFalse(first["isFinal"])
        self.assertIsNone(first["alignment"])
        ws.send(json.dumps({"text": "And we close at five", "flush": True}))
        ws.send(json.dumps({"text": ""}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        self.assertEqual(messages[-1], {"isFinal": True})
        audio = base64.b64decode(first["audio"]) + el_audio(messages)
        self.assertGreater(len(audio), 8000, "less than a second of speech")
        self.assertGreater(rms(audio), 500)
        for m in messages[:-1]:
            self.assertLessEqual(len(base64.b64decode(m["audio"])), 800)

    def test_spanish_speaks_with_the_spanish_voice(self):
        said = {}
        for query in ("&language_code=es", ""):
            ws = el_connect(self.sim, query)
            ws.send(json.dumps({"text": "¿Cuál es el horario? "}))
            ws.send(json.dumps({"text": ""}))
            messages, code, _ = drain(ws)
            self.assertEqual(code, 1000)
            said[query] = el_audio(messages)
            self.assertGreater(rms(said[query]), 500)
        self.assertNotEqual(said["&language_code=es"], said[""])
        self.assertIn("language=es", self.sim.logs())
        status, _ = self.sim.refusal(STREAM_INPUT + "&language_code=zz-nothing",
                                     ["xi-api-key: " + KEY])
        self.assertEqual(status, 400)

    def test_what_it_refuses(self):
        status, _ = self.sim.refusal(STREAM_INPUT.replace("ulaw_8000", "mp3_44100"),
                                     ["xi-api-key: " + KEY])
        self.assertEqual(status, 400)
        ws = self.sim.connect(STREAM_INPUT, ["xi-api-key: " + KEY])
        ws.send(json.dumps({"text": "Hello there. "}))
        _, code, reason = drain(ws)
        self.assertEqual(code, 1008)
        self.assertIn("single space", reason)
        ws = el_connect(self.sim)
        ws.send("{\"text\" \"%s and more words to fill a close frame's reason up to its end\"}"
                % KEY)
        _, code, reason = drain(ws)
        self.assertEqual(code, 1008)
        self.assertIn("not JSON", reason)
        ws = el_connect(self.sim)
        ws.send_binary(b"\x00\x01\x02")
        self.assertEqual(drain(ws)[1], 1008)
        self.server_still_serves()

    def test_inactivity_timeout_closes_1008(self):
        started = time.monotonic()  # before the handshake: the stand-in's clock starts within it
        ws = el_connect(self.sim, "&inactivity_timeout=1")
        _, code, reason = drain(ws)
        self.assertEqual(code, 1008)
        self.assertIn("inactivity timeout of 1 seconds", reason)
        self.assertGreaterEqual(time.monotonic() - started, 1.0)


def ca_request(context, text, cont, **extra):
    doc = {"context_id": context, "model_id": "sonic-3", "transcript": text,
           "voice": {"mode": "id", "id": "f786b574-daa5-4673-aa0c-cbe3e8534c02"},
           "output_format": FORMAT, "language": "en", "continue": cont}
    doc.update(extra)
    return json.dumps(doc)


class CartesiaTest(ProvidersTest):

    flags = ("--api-key", KEY)

    def connect(self):
        return self.sim.connect(CARTESIA, VERSION + ["Authorization: Bearer " + KEY])

    def test_a_context_gets_chunks_then_done(self):
        ws = self.connect()
        ws.send(ca_request("turn-1", "We open at nine. ", True))
        ws.send(ca_request("turn-1", "And close at five.", False))
        got = until(ws, lambda m: m["type"] in ("done", "error"))
        self.assertEqual(got[-1], {"type": "done", "context_id": "turn-1", "done": True,
                                   "status_code": 200})
        chunks = got[:-1]
        self.assertGreater(len(chunks), 2)
        for c in chunks:
            self.assertEqual((c["type"], c["context_id"], c["done"], c["status_code"]),
                             ("chunk", "turn-1", False, 206))
            self.assertEqual(c["flush_id"], 1)
            self.assertGreaterEqual(c["step_time"], 0)
        audio = b"".join(base64.b64decode(c["data"], validate=True) for c in chunks)
        self.assertGreater(rms(audio), 500)
        ws.close()

    def test_flush_answers_flush_done(self):
        ws = self.connect()
        ws.send(ca_request("c", "Hello", True))
        ws.send(ca_request("c", "", True, flush=True))
        got = until(ws, lambda m: m["type"] == "flush_done")
        self.assertEqual(got[-1]["flush_id"], 1)
        self.assertTrue(got[-1]["flush_done"])
        self.assertTrue(all(m["type"] == "chunk" and m["flush_id"] == 1 for m in got[:-1]))
        self.assertTrue(got[:-1], "no audio before flush_done")
        ws.send(ca_request("c", "there.", False))
        got = until(ws, lambda m: m["type"] == "done")
        self.assertTrue(all(m["flush_id"] == 2 for m in got[:-1]), got)
        ws.close()

    def test_a_bad_request_is_an_error_and_the_socket_goes_on(self):
        ws = self.connect()
        bad = json.loads(ca_request("c1", "Hi.", False))
        bad["output_format"] = {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 8000}
        ws.send(json.dumps(bad))
        error = until(ws, lambda m: True)[0]
        self.assertEqual((error["type"], error["context_id"], error["status_code"]),
                         ("error", "c1", 400))
        self.assertIn("pcm_mulaw", error["message"])
        ws.send(ca_request("c1", "Hi.", False, language="zz-nothing"))
        error = until(ws, lambda m: True)[0]
        self.assertEqual((error["type"], error["context_id"]), ("error", "c1"))
        self.assertIn("'zz-nothing' is not supported", error["message"])
        ws.send("{\"context_id\" \"%s\"}" % KEY)
        self.assertEqual(until(ws, lambda m: True)[0]["type"], "error")
        ws.send("not json at all")
        error = until(ws, lambda m: True)[0]
        self.assertEqual(error["type"], "error")
        self.assertNotIn("context_id", error)
        ws.send(ca_request("c2", "Hi.", False))
        got = until(ws, lambda m: m["type"] == "done")
        self.assertEqual(got[-1]["context_id"], "c2")
        ws.send_binary(b"\x01\x02")
        self.assertEqual(drain(ws)[1], 1003)
        self.server_still_serves()


class CartesiaCancelTest(ProvidersTest):

    flags = ("--slow-ms", "30")
    TEXT = "We open at nine in the morning. We close at five in the afternoon. " \
           "On Saturdays we open at ten. On Sundays we are closed all day. "

    def connect(self):
        return self.sim.connect(CARTESIA, VERSION)

    def test_cancel_stops_a_context(self):
        ws = self.connect()
        ws.send(ca_request("full", self.TEXT, False))
        full = until(ws, lambda m: m["type"] == "done")
        ws.send(ca_request("gone", self.TEXT, False))
        until(ws, lambda m: m["type"] == "chunk")
        ws.send(json.dumps({"context_id": "gone", "cancel": True}))
        ws.send(ca_request("next", "Hello.", False))
        got = until(ws, lambda m: m["context_id"] == "next" and m["type"] == "done")
        first_next = next(i for i, m in enumerate(got) if m["context_id"] == "next")
        self.assertFalse([m for m in got[first_next:] if m["context_id"] == "gone"], got)
        self.assertFalse([m for m in got if m["type"] == "done" and m["context_id"] == "gone"])
        gone = [m for m in got if m["context_id"] == "gone"]
        self.assertLess(len(gone) + 1, len(full) - 1, "the cancelled context was not cut short")
        ws.close()


class ReplayAudioTest(ProvidersTest):
    """--replay-audio: every synthesis is the file's audio, whatever was said."""

    # 1.3 s of tone and quiet: not a whole number of 100 ms pieces.
    CLIP = tone(700) + quiet(300) + tone(300)

    def setUp(self):
        fd, self.clip_path = tempfile.mkstemp(prefix="sb-replay-", suffix=".ulaw")
        with os.fdopen(fd, "wb") as f:
            f.write(self.CLIP)
        self.addCleanup(os.unlink, self.clip_path)
        self.flags = ("--api-key", KEY, "--replay-audio", self.clip_path)
        super().setUp()

    def test_every_synthesis_is_the_file_byte_for_byte(self):
        for query in ("&language_code=es", ""):
            ws = el_connect(self.sim, query)
            ws.send(json.dumps({"text": "¿Cuál es el horario? "}))
            ws.send(json.dumps({"text": "Abrimos a las nueve."}))
            ws.send(json.dumps({"text": ""}))
            messages, code, _ = drain(ws)
            self.assertEqual(code, 1000)
            self.assertEqual(messages[-1], {"isFinal": True})
            # Two sentences, two syntheses: the clip twice, in 100 ms pieces.
            self.assertEqual(el_audio(messages), self.CLIP * 2)
            for m in messages[:-1]:
                self.assertLessEqual(len(base64.b64decode(m["audio"])), 800)
        ws = self.sim.connect(CARTESIA, VERSION + ["Authorization: Bearer " + KEY])
        ws.send(ca_request("turn-1", "Hola, ¿en qué puedo ayudarle?", False, language="es"))
        got = until(ws, lambda m: m["type"] in ("done", "error"))
        self.assertEqual(got[-1]["type"], "done")
        self.assertEqual(b"".join(base64.b64decode(c["data"]) for c in got[:-1]), self.CLIP)
        ws.close()
        self.assertIn("voice=replay", self.sim.logs())


class FaultsTest(unittest.TestCase):
    """The injected faults, each on its own server."""

    def run_sim(self, *flags, transcripts=None):
        sim = Providers(*flags, transcripts=transcripts)
        self.addCleanup(sim.close)
        return sim

    def test_fail_every_refuses_every_nth_upgrade_with_503(self):
        sim = self.run_sim("--fail-every", "2", transcripts=["hi"])
        outcomes = []
        for _ in range(4):
            try:
                ws = sim.connect(LISTEN)
                outcomes.append(101)
                ws.close()
            except websocket.WebSocketBadStatusException as e:
                outcomes.append(e.status_code)
        self.assertEqual(outcomes, [101, 503, 101, 503])
        self.assertEqual(sim.stop(), 0)

    def test_cut_after_closes_1011(self):
        sim = self.run_sim("--cut-after", "3", transcripts=["hi"])
        ws = el_connect_plain(sim)
        ws.send(json.dumps({"text": "We open at nine in the morning and close at five. "}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1011)
        self.assertEqual(len([m for m in messages if "audio" in m]), 3)
        ws = sim.connect(LISTEN)
        for _ in range(5):
            ws.send_binary(SILENCE)
        _, code, reason = drain(ws)
        self.assertEqual((code, reason), (1011, "NET-0000"))
        self.assertEqual(sim.stop(), 0)

    def test_garbage_audio_is_not_base64(self):
        sim = self.run_sim("--garbage-audio", transcripts=["hi"])
        ws = el_connect_plain(sim)
        ws.send(json.dumps({"text": "Hello. "}))
        ws.send(json.dumps({"text": ""}))
        messages, code, _ = drain(ws)
        self.assertEqual(code, 1000)
        audio = [m["audio"] for m in messages if "audio" in m]
        self.assertTrue(audio)
        for a in audio:
            with self.assertRaises(ValueError):
                base64.b64decode(a, validate=True)
        self.assertEqual(sim.stop(), 0)

    def test_first_byte_ms_holds_the_first_audio(self):
        sim = self.run_sim("--first-byte-ms", "400", transcripts=["hi"])
        ws = el_connect_plain(sim)
        sent = time.monotonic()
        ws.send(json.dumps({"text": "Hello. "}))
        until(ws, lambda m: "audio" in m)
        self.assertGreaterEqual(time.monotonic() - sent, 0.4)
        ws.close()
        ws = sim.connect(LISTEN)
        sent = time.monotonic()
        ws.send(json.dumps({"type": "Finalize"}))
        until(ws, lambda m: m["type"] == "Results")
        self.assertGreaterEqual(time.monotonic() - sent, 0.4)
        ws.close()
        self.assertEqual(sim.stop(), 0)

    def test_oversized_messages_are_closed_1009(self):
        sim = self.run_sim(transcripts=["hi"])
        big = json.dumps({"type": "KeepAlive", "pad": "x" * 70000})
        for path, headers in ((LISTEN, []), (CARTESIA, VERSION)):
            ws = sim.connect(path, headers)
            ws.send(big)
            self.assertEqual(drain(ws)[1], 1009, path)
        ws = el_connect_plain(sim)
        ws.send(json.dumps({"text": "x" * 70000}))
        self.assertEqual(drain(ws)[1], 1009)
        ws = sim.connect(LISTEN)
        ws.send_binary(b"\xff" * 300000)
        self.assertEqual(drain(ws)[1], 1009)
        # Text that is not UTF-8 is refused by the WebSocket layer itself.
        ws = sim.connect(LISTEN)
        ws.send(b"{\"type\":\"\xff\"}", opcode=websocket.ABNF.OPCODE_TEXT)
        self.assertEqual(drain(ws)[1], 1007)
        status, body = sim.http("/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(sim.stop(), 0)

    def test_bad_usage_exits_2(self):
        for flags in (["--cut-after", "0"], ["--listen", "nowhere"], ["--bogus"], ["extra"],
                      ["--transcripts", "/nonexistent/file"],
                      ["--replay-audio", "/nonexistent/file"], ["--replay-audio", "/dev/null"]):
            proc = subprocess.run([BINARY, "sim", "providers", *flags], capture_output=True,
                                  timeout=20)
            self.assertEqual(proc.returncode, 2, flags)
        proc = subprocess.run([BINARY, "sim", "providers", "--help"], capture_output=True,
                              timeout=20)
        self.assertEqual(proc.returncode, 0)
        self.assertIn(b"--fail-every", proc.stdout)


def el_connect_plain(sim):
    ws = sim.connect(STREAM_INPUT)
    ws.send(json.dumps({"text": " "}))
    return ws


if __name__ == "__main__":
    unittest.main()
