"""An LLM agent on the speech <Gather> loop: the real server, its agent settings
made with the CLI, and `switchboard sim llm` standing in for the model.

Every turn is a signed /voice/gather as Twilio sends it; the answers are read as
TwiML. Covered: a reply with knowledge, a Spanish caller, a transfer through a
tool call, a slow model held with a filler and a <Redirect> to the continuation,
a provider outage that falls back to the rule agent, a missing API key variable,
and unsigned requests.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

from tests.integration.harness import BINARY, STARTER, TRANSFER, Switchboard, call_sid, incoming_params

LLM_NUMBER = "+15005550007"
SCRIPT = {
    "rules": [
        {"match": "person", "tool_call": {"name": "transfer_to_human", "arguments": {"reason": "the caller asked"}}},
        {"match": "precio", "reply": "Una limpieza cuesta cincuenta dólares. ¿Quiere una cita?"},
        {"match": "cleaning", "reply": "A cleaning costs fifty dollars. Would you like to book one?"},
        {"match": "mensaje", "tool_call": {"name": "take_message", "arguments": {
            "caller_name": "José Núñez", "callback_number": "+5215512345678",
            "message": "¿Pueden llamarme mañana?"}}},
        {"match": "tool:take_message", "reply": "Listo, le pasaré su mensaje."},
    ],
    "default": "I can help with that.",
}


class SimLLM:
    """`switchboard sim llm` on a free port of 127.0.0.1, stopped by its PID."""

    def __init__(self, *flags, script=SCRIPT):
        self.dir = tempfile.mkdtemp(prefix="sb-llm-")
        path = os.path.join(self.dir, "script.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(script, f, ensure_ascii=False)
        self.proc = subprocess.Popen([BINARY, "sim", "llm", "--listen", "127.0.0.1:0", "--script", path, *flags],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise AssertionError("sim llm did not start: %r" % line)
        self.port = int(m.group(1))
        self.base_url = "http://127.0.0.1:%d/v1" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def gather(sid, speech, to=LLM_NUMBER, frm="+15551234567", **extra):
    p = incoming_params(sid, frm=frm, to=to, CallStatus="in-progress", SpeechResult=speech,
                        Confidence="0.91")
    p.update(extra)
    return p


def says(twiml):
    root = ET.fromstring(twiml)
    return [e.text or "" for e in root.iter("Say")]


class AgentGatherTest(unittest.TestCase):
    def start(self, *llm_flags, agent_flags=(), env_key="sk-sim-secret-value"):
        self.llm = SimLLM(*llm_flags)
        self.addCleanup(self.llm.stop)
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)
        self.sb.seed()
        knowledge = os.path.join(self.sb.dir, "prices.md")
        with open(knowledge, "w", encoding="utf-8") as f:
            f.write("# Prices\n\nA cleaning costs fifty dollars.\n\n# Horario\n\nAbrimos de lunes a viernes.\n")
        env = self.sb.env(SB_TEST_LLM_KEY=env_key) if env_key else self.sb.env()
        self.sb.cli("agents", "add", "front-desk", "--tenant", "acme", "--base-url", self.llm.base_url,
                    "--model", "sim-llm", "--api-key-env", "SB_TEST_LLM_KEY", "--knowledge", knowledge,
                    *agent_flags, env=self.sb.env(SB_TEST_LLM_KEY="set-at-add"))
        self.sb.cli("numbers", "add", LLM_NUMBER, "--tenant", "acme", "--plan", "starter",
                    "--agent", "front-desk")
        self.sb.port = None
        # The server reads the key from its own environment.
        saved = self.sb.env
        self.sb.env = lambda **extra: dict(env, **extra)
        self.sb.start()
        self.sb.env = saved

    def test_a_whole_call_reply_spanish_transfer_and_unsigned(self):
        self.start()
        sid = call_sid(0x11)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "How much is a cleaning?"))
        self.assertEqual(status, 200, body)
        text = body.decode()
        self.assertIn("A cleaning costs fifty dollars.", says(text)[0] if says(text) else "", text)
        self.assertIn("<Gather", text)
        # A Spanish caller on the same line, accents and "¿" intact.
        sid_es = call_sid(0x12)
        status, _, body = self.sb.signed_post("/voice/gather",
                                              gather(sid_es, "¿Cuál es el precio?", frm="+5215512345678"))
        self.assertEqual(status, 200, body)
        spoken = " ".join(says(body.decode()))
        self.assertIn("Una limpieza cuesta cincuenta dólares.", spoken)
        self.assertIn("¿Quiere una cita?", spoken)
        # A tool call transfers the caller to the tenant's number.
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "Let me talk to a person"))
        self.assertEqual(status, 200, body)
        root = ET.fromstring(body)
        dial = root.find("Dial")
        self.assertIsNotNone(dial, body)
        self.assertIn(TRANSFER, ET.tostring(dial).decode())
        # An attacker: unsigned, and signed with another token.
        status, _, body = self.sb.request("POST", "/voice/gather", b"CallSid=CA1&SpeechResult=hi",
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 403)
        self.assertTrue(body.startswith(b"error:"), body)
        status, _, _ = self.sb.signed_post("/voice/gather", gather(sid, "hi"), token="not-the-token")
        self.assertEqual(status, 403)
        # The call ends: its conversation goes, and the server keeps serving.
        status, _, _ = self.sb.signed_post("/voice/status", incoming_params(sid, to=LLM_NUMBER,
                                                                            CallStatus="completed",
                                                                            CallDuration="30"))
        self.assertIn(status, (200, 204))
        status, _, _ = self.sb.request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertNotIn("sk-sim-secret-value", self.sb.logs(), "the API key reached the log")

    def test_the_conversation_and_a_message_taken_are_in_calls_show(self):
        self.start()
        sid = call_sid(0x61)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "How much is a cleaning?"))
        self.assertEqual(status, 200, body)
        status, _, body = self.sb.signed_post("/voice/gather",
                                              gather(sid, "Quiero dejar un mensaje", frm="+5215512345678"))
        self.assertEqual(status, 200, body)
        self.assertIn("Listo, le pasaré su mensaje.", " ".join(says(body.decode())))
        shown = self.sb.shown_call(sid, lambda c: len(c["messages"]) == 1)
        roles = [t["role"] for t in shown["turns"]]
        self.assertEqual(roles[:2], ["caller", "agent"], shown["turns"])
        self.assertIn("tool", roles)
        self.assertEqual(shown["turns"][0]["text"], "How much is a cleaning?")
        self.assertIn("A cleaning costs fifty dollars.", shown["turns"][1]["text"])
        tool = [t for t in shown["turns"] if t["role"] == "tool"][0]
        self.assertEqual(tool["tool"], "take_message")
        self.assertIn("José Núñez", tool["arguments"])
        self.assertEqual(shown["messages"][0]["caller_name"], "José Núñez")
        self.assertEqual(shown["messages"][0]["message"], "¿Pueden llamarme mañana?")
        # The human-readable form shows the same conversation.
        text = self.sb.cli("calls", "show", sid).stdout
        self.assertIn("How much is a cleaning?", text)
        self.assertIn("¿Pueden llamarme mañana?", text)

    def test_a_slow_model_is_held_with_a_filler_and_a_redirect(self):
        self.start("--first-token-ms", "3500", agent_flags=("--first-token-timeout", "500"))
        sid = call_sid(0x21)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "How much is a cleaning?"))
        self.assertEqual(status, 200, body)
        text = body.decode()
        self.assertIn("One moment, please.", text)
        self.assertIn("<Redirect", text)
        self.assertIn("/voice/gather/continue", text)
        # Held before the model answered: the reply is not in the hold.
        self.assertNotIn("fifty dollars", text)
        status, _, body = self.sb.signed_post("/voice/gather/continue", gather(sid, ""))
        self.assertEqual(status, 200, body)
        self.assertIn("A cleaning costs fifty dollars.", " ".join(says(body.decode())))
        metrics = self.sb.request("GET", "/metrics")[2].decode()
        self.assertIn('switchboard_agent_events_total{event="filler"} 1', metrics)

    def test_a_provider_outage_falls_back_to_the_rule_agent(self):
        self.start()
        self.llm.stop()
        sid = call_sid(0x31)
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "What are your hours?"))
        self.assertEqual(status, 200, body)
        self.assertIn("Monday to Friday", " ".join(says(body.decode())))
        metrics = self.sb.request("GET", "/metrics")[2].decode()
        self.assertIn('switchboard_agent_events_total{event="fallback"}', metrics)
        # The rule agent also answers a person request with a transfer.
        status, _, body = self.sb.signed_post("/voice/gather", gather(sid, "a person please"))
        self.assertIsNotNone(ET.fromstring(body).find("Dial"), body)

    def test_a_missing_key_variable_is_named_and_the_rule_agent_answers(self):
        self.start(env_key=None)
        # The port opens before the agents are loaded: the line may come a moment later.
        deadline = time.time() + 10
        while "SB_TEST_LLM_KEY" not in self.sb.logs() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("SB_TEST_LLM_KEY", self.sb.logs())
        status, _, body = self.sb.signed_post("/voice/gather", gather(call_sid(0x41), "What are your hours?"))
        self.assertEqual(status, 200, body)
        self.assertIn("Monday to Friday", " ".join(says(body.decode())))

    def test_a_flow_agent_node_naming_an_llm_agent_hands_the_call_to_it(self):
        self.start()
        flow = {"name": "desk-llm", "start": "ask",
                "nodes": {"ask": {"type": "agent", "agent": "front-desk",
                                  "prompt": {"en": "How can I help?", "es": "¿En qué puedo ayudarle?"}}}}
        path = os.path.join(self.sb.dir, "desk-llm.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(flow, f)
        self.sb.cli("flows", "import", path, "--tenant", "acme")
        # The number's own agent is the rule agent; the flow's node names the LLM agent.
        number = "+15005550017"
        self.sb.cli("numbers", "add", number, "--tenant", "acme", "--plan", "starter", "--flow", "desk-llm")
        sid = call_sid(0x81)
        deadline = time.time() + 10
        while True:
            status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(sid, to=number,
                                                                                     frm="+5215512345678"))
            if b"<Gather" in body or time.time() > deadline:
                break
            time.sleep(0.1)  # the server picks the new number up within a second
        gather_el = ET.fromstring(body).find("Gather")
        self.assertIsNotNone(gather_el, body)
        action = gather_el.get("action")
        self.assertEqual(action, "/voice/gather?agent=front-desk")
        status, _, body = self.sb.signed_post(action, gather(sid, "¿Cuál es el precio?", to=number,
                                                             frm="+5215512345678"))
        self.assertEqual(status, 200, body)
        self.assertIn("Una limpieza cuesta cincuenta dólares.", " ".join(says(body.decode())))
        # The next turn's Gather has the bare action: the call keeps its agent.
        next_action = ET.fromstring(body).find("Gather").get("action")
        status, _, body = self.sb.signed_post(next_action, gather(sid, "How much is a cleaning?", to=number))
        self.assertIn("A cleaning costs fifty dollars.", " ".join(says(body.decode())))

    def test_numbers_without_an_llm_agent_keep_the_rule_agent(self):
        self.start()
        status, _, body = self.sb.signed_post("/voice/gather", gather(call_sid(0x51), "What are your hours?",
                                                                       to=STARTER))
        self.assertEqual(status, 200, body)
        self.assertIn("Monday to Friday", " ".join(says(body.decode())))


if __name__ == "__main__":
    unittest.main()
