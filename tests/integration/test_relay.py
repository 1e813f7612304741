"""ConversationRelay over the real server: /voice/relay played as Twilio plays it (a
signed upgrade, then setup, prompt, dtmf, interrupt as JSON text frames), and the
<Connect action> request /voice/relay-ended. The agents: the rule agent, and an
LLM agent answered by `switchboard sim llm`.
"""
import json
import os
import unittest
import xml.etree.ElementTree as ET

import websocket
from twilio.request_validator import RequestValidator

from tests.integration.harness import PRO, TOKEN, TRANSFER, Switchboard, call_sid, incoming_params, stream_token
from tests.integration.test_agent_gather import LLM_NUMBER, SimLLM


def setup_msg(sid, to=PRO, token=None, lang="en-US", frm="+15551234567", direction="inbound",
              agent=None):
    custom = {"tenant": "acme", "lang": lang, "token": stream_token(sid) if token is None else token}
    if agent:
        custom["agent"] = agent
    return json.dumps({
        "type": "setup", "sessionId": "VX" + "0" * 32, "accountSid": "AC" + "0" * 32,
        "parentCallSid": "", "callSid": sid, "from": frm, "to": to, "forwardedFrom": "",
        "callType": "PSTN", "callerName": "", "direction": direction, "callStatus": "RINGING",
        "customParameters": custom,
    })


def prompt(text, lang="en-US", last=True):
    return json.dumps({"type": "prompt", "voicePrompt": text, "lang": lang, "last": last})


class RelayTest(unittest.TestCase):
    llm_flags = ()

    @classmethod
    def setUpClass(cls):
        cls.llm = SimLLM(*cls.llm_flags)
        cls.sb = Switchboard()
        cls.sb.seed()
        env = cls.sb.env(SB_TEST_LLM_KEY="sk-relay-secret")
        cls.sb.cli("agents", "add", "front-desk", "--tenant", "acme", "--base-url", cls.llm.base_url,
                   "--model", "sim-llm", "--api-key-env", "SB_TEST_LLM_KEY", env=env)
        cls.sb.cli("numbers", "add", LLM_NUMBER, "--tenant", "acme", "--plan", "relay", "--agent", "front-desk")
        cls.sb.cli("tenants", "set", "acme", "--relay-voice", "es-MX=Google:es-US-Neural2-A",
                   "--relay-transcription", "es-MX=Deepgram", "--relay-voice", "en-US=ElevenLabs:UgBBYS2sOqTuMpoF3BR0")
        saved = cls.sb.env
        cls.sb.env = lambda **extra: dict(env, **extra)
        cls.sb.start()
        cls.sb.env = saved

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()
        cls.llm.stop()

    def url(self):
        return "ws://127.0.0.1:%d/voice/relay" % self.sb.port

    def connect(self, sig=None):
        if sig is None:
            sig = RequestValidator(TOKEN).compute_signature("wss://127.0.0.1:%d/voice/relay" % self.sb.port, {})
        ws = websocket.create_connection(self.url(), timeout=10, header=["X-Twilio-Signature: %s" % sig])
        self.addCleanup(ws.close)
        return ws

    def read_turn(self, ws, end=False):
        """The messages of one talk cycle, up to the last text token (and an end after it:
        waited for up to 5 s with `end`, else 0.3 s)."""
        msgs = []
        while True:
            op, data = ws.recv_data()
            self.assertEqual(op, websocket.ABNF.OPCODE_TEXT, data)
            m = json.loads(data)
            msgs.append(m)
            if m["type"] == "text" and m.get("last"):
                break
        ws.settimeout(5 if end else 0.3)
        try:
            op, data = ws.recv_data()
            if op == websocket.ABNF.OPCODE_TEXT:
                msgs.append(json.loads(data))
        except (websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException):
            pass
        ws.settimeout(10)
        return msgs

    def spoken(self, msgs):
        return "".join(m["token"] for m in msgs if m["type"] == "text")

    def close_code(self, ws):
        ws.settimeout(5)
        while True:
            op, data = ws.recv_data(control_frame=True)
            if op == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(data[:2], "big")

    def test_a_relay_number_answers_with_conversation_relay_twiml(self):
        sid = call_sid(0x100)
        status, _, body = self.sb.signed_post("/voice/incoming",
                                              incoming_params(sid, frm="+5215512345678", to=LLM_NUMBER))
        self.assertEqual(status, 200, body)
        root = ET.fromstring(body)
        connect = root.find("Connect")
        self.assertIsNotNone(connect, body)
        self.assertEqual(connect.get("action"), "/voice/relay-ended")
        relay = connect.find("ConversationRelay")
        self.assertIsNotNone(relay, body)
        self.assertEqual(relay.get("url"), "wss://127.0.0.1:%d/voice/relay" % self.sb.port)
        self.assertEqual(relay.get("language"), "es-MX")
        self.assertEqual(relay.get("welcomeGreeting"), "Gracias por llamar a Acme.")
        self.assertEqual(relay.get("ttsProvider"), "Google")
        self.assertEqual(relay.get("voice"), "es-US-Neural2-A")
        self.assertEqual(relay.get("transcriptionProvider"), "Deepgram")
        self.assertEqual(relay.get("dtmfDetection"), "true")
        self.assertNotIn("Polly", body.decode(), "a <Say> voice in ConversationRelay")
        langs = relay.findall("Language")
        self.assertEqual([(l.get("code"), l.get("ttsProvider")) for l in langs], [("en-US", "ElevenLabs")])
        params = {p.get("name"): p.get("value") for p in relay.findall("Parameter")}
        self.assertEqual(params["token"], stream_token(sid))
        self.assertEqual(params["agent"], "front-desk")
        self.assertEqual(params["lang"], "es-MX")
        # An English caller gets English and the English voice; no voice set means Twilio's default.
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(0x1001), to=LLM_NUMBER))
        relay = ET.fromstring(body).find("Connect").find("ConversationRelay")
        self.assertEqual(relay.get("language"), "en-US")
        self.assertEqual(relay.get("ttsProvider"), "ElevenLabs")
        self.assertIsNone(relay.get("transcriptionProvider"))

    def test_a_rule_agent_call_transfers_through_end_and_the_action_dials(self):
        sid = call_sid(0x101)
        ws = self.connect()
        ws.send(setup_msg(sid))
        ws.send(prompt("What are your hours?"))
        turn = self.read_turn(ws)
        self.assertIn("Monday to Friday", self.spoken(turn))
        self.assertTrue(all(isinstance(m.get("token"), str) for m in turn if m["type"] == "text"))
        ws.send(json.dumps({"type": "dtmf", "digit": "0"}))
        turn = self.read_turn(ws, end=True)
        end = [m for m in turn if m["type"] == "end"]
        self.assertEqual(len(end), 1, turn)
        handoff = json.loads(end[0]["handoffData"])
        self.assertEqual(handoff["reasonCode"], "live-agent-handoff")
        self.assertEqual(self.close_code(ws), 1000)
        status, _, body = self.sb.signed_post("/voice/relay-ended", incoming_params(
            sid, CallStatus="in-progress", SessionId="VX" + "0" * 32, SessionStatus="ended",
            SessionDuration="12", HandoffData=end[0]["handoffData"]))
        self.assertEqual(status, 200, body)
        dial = ET.fromstring(body).find("Dial")
        self.assertIsNotNone(dial, body)
        self.assertIn(TRANSFER, ET.tostring(dial).decode())

    def test_an_llm_agent_streams_tokens_and_speaks_spanish(self):
        sid = call_sid(0x102)
        ws = self.connect()
        ws.send(setup_msg(sid, to=LLM_NUMBER, lang="es-MX", frm="+5215512345678"))
        ws.send(prompt("¿Cuál es el precio de una limpieza?", lang="es-MX"))
        turn = self.read_turn(ws)
        text = self.spoken(turn)
        self.assertIn("Una limpieza cuesta cincuenta dólares.", text)
        self.assertIn("¿Quiere una cita?", text)
        # Twilio's own interrupt message; the session goes on.
        ws.send(json.dumps({"type": "interrupt", "utteranceUntilInterrupt": "Una limpieza",
                            "durationUntilInterruptMs": "460"}))
        ws.send(prompt("Let me talk to a person"))
        turn = self.read_turn(ws, end=True)
        self.assertEqual([m for m in turn if m["type"] == "end"][0]["type"], "end", turn)

    def test_a_call_we_placed_is_routed_by_from_with_the_jobs_agent(self):
        # An outbound agent job: To is the person called, From our number (whose own agent is the
        # rule agent); the agent parameter names the job's LLM agent, which answers.
        sid = call_sid(0x103)
        ws = self.connect()
        ws.send(setup_msg(sid, to="+5215512345678", frm=PRO, lang="es-MX",
                          direction="outbound-api", agent="front-desk"))
        ws.send(prompt("¿Cuál es el precio de una limpieza?", lang="es-MX"))
        text = self.spoken(self.read_turn(ws))
        self.assertIn("Una limpieza cuesta cincuenta dólares.", text)
        # The same setup called inbound: the person's number is none of ours, refused.
        sid = call_sid(0x104)
        ws = self.connect()
        ws.send(setup_msg(sid, to="+5215512345678", frm=PRO, lang="es-MX", agent="front-desk"))
        self.assertEqual(self.close_code(ws), 1008)

    def test_an_open_session_is_counted_until_it_closes(self):
        gauge = "switchboard_loop_relay_sessions"
        ws = self.connect()
        ws.send(setup_msg(call_sid(0x1F0), lang="es-MX", frm="+5215512345678"))
        ws.send(prompt("¿Cuál es su horario?", lang="es-MX"))
        self.read_turn(ws)
        self.assertGreaterEqual(self.sb.wait_gauge(gauge, lambda v: v >= 1), 1)
        ws.close()
        self.assertEqual(self.sb.wait_gauge(gauge, lambda v: v == 0, timeout=10), 0)

    def test_the_relay_ended_action_for_every_session_status(self):
        sid = call_sid(0x103)
        base = dict(CallStatus="in-progress", SessionId="VX" + "1" * 32, SessionDuration="3")
        status, _, body = self.sb.signed_post("/voice/relay-ended", incoming_params(
            sid, SessionStatus="ended", HandoffData=json.dumps({"reasonCode": "end-call"}), **base))
        self.assertEqual(status, 200)
        self.assertIsNotNone(ET.fromstring(body).find("Hangup"), body)
        status, _, body = self.sb.signed_post("/voice/relay-ended", incoming_params(
            sid, SessionStatus="failed", ErrorCode="39001",
            ErrorMessage="Network connection to WebSocket server failed.", **base))
        self.assertEqual(status, 200)
        self.assertIsNotNone(ET.fromstring(body).find("Dial"), "a failed session goes to a person: %r" % body)
        params = incoming_params(sid, SessionStatus="completed", **base)
        params["CallStatus"] = "completed"
        status, _, body = self.sb.signed_post("/voice/relay-ended", params)
        self.assertEqual(status, 200)
        self.assertEqual(len(list(ET.fromstring(body))), 0, body)
        status, _, body = self.sb.signed_post("/voice/relay-ended", incoming_params(
            sid, SessionStatus="ended", HandoffData="not json {", **base))
        self.assertEqual(status, 200)
        self.assertIsNotNone(ET.fromstring(body).find("Hangup"), body)

    def test_an_attacker_is_refused(self):
        # Unsigned and wrongly signed upgrades.
        with self.assertRaises(websocket.WebSocketBadStatusException) as cm:
            websocket.create_connection(self.url(), timeout=5)
        self.assertEqual(cm.exception.status_code, 403)
        with self.assertRaises(websocket.WebSocketBadStatusException):
            self.connect(sig="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        # A setup with another call's token.
        ws = self.connect()
        ws.send(setup_msg(call_sid(0x104), token=stream_token(call_sid(0x105))))
        self.assertEqual(self.close_code(ws), 1008)
        # A prompt before setup.
        ws = self.connect()
        ws.send(prompt("hi"))
        self.assertEqual(self.close_code(ws), 1008)
        # Garbage after setup: ignored, then too much of it closes with 1007.
        ws = self.connect()
        ws.send(setup_msg(call_sid(0x106)))
        for _ in range(10):
            ws.send("{not json")
        self.assertEqual(self.close_code(ws), 1007)
        # Binary frames are not relay messages.
        ws = self.connect()
        ws.send_binary(b"\x00\x01")
        self.assertEqual(self.close_code(ws), 1003)
        # A plain GET gets a plain answer.
        status, _, body = self.sb.request("GET", "/voice/relay")
        self.assertEqual(status, 426)
        self.assertTrue(body.startswith(b"error:"), body)
        # Unsigned action request.
        status, _, _ = self.sb.request("POST", "/voice/relay-ended", b"CallSid=CA1",
                                       {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 403)
        status, _, _ = self.sb.request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertNotIn("sk-relay-secret", self.sb.logs())


if __name__ == "__main__":
    unittest.main()
