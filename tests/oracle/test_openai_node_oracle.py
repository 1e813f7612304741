"""switchboard sim llm against the official `openai` npm client.

The client decides what a correct Chat Completions stream is: it must stream
text, assemble a tool call from its deltas, retry an injected 429 after
Retry-After, report a wrong key as its APIError, and fail on a stream cut in
the middle. The client is installed into tests/oracle/node/node_modules on
first use (`npm install`); the test is skipped only when npm is absent
(scripts/deps.sh --test installs it).

    SB_BUILD=build /usr/bin/python3 -m unittest tests/oracle/test_openai_node_oracle.py -v
"""
import json
import os
import shutil
import subprocess
import unittest

from tests.integration.test_sim_llm import LlmServer
from tests.oracle import npm

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")

SCRIPT = {
    "rules": [
        {"regex": "horario|opening hours", "reply": "Abrimos a las nueve. ¿Algo más, señora Núñez?"},
        {"match": "human", "tool_call": {"name": "transfer_to_human",
                                         "arguments": {"reason": "el cliente lo pidió"}}},
        {"match": "tool:transfer_to_human", "reply": "Transferring you now."},
    ],
}


def install_client():
    """Installs the pinned openai client when it is missing; returns an error text or None."""
    return npm.install(NODE_DIR, "openai", "package.json")


@unittest.skipIf(shutil.which("npm") is None or shutil.which("node") is None,
                 "npm and node are not installed (scripts/deps.sh --test installs them)")
class OpenAINodeOracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        problem = install_client()
        if problem:
            raise AssertionError(problem)

    def setUp(self):
        # Requests 1-3 stream, the 4th is answered 429 and retried by the client.
        self.llm = LlmServer("--api-key", "sk-oracle", "--fail-every", "4", script=SCRIPT)
        self.addCleanup(self.llm.close)
        self.cut = LlmServer("--cut-after", "3")
        self.addCleanup(self.cut.close)

    def test_openai_node_client(self):
        res = subprocess.run(["node", "stream.mjs", self.llm.base, self.cut.base], cwd=NODE_DIR,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(res.returncode, 0, "node failed: %s\n%s\nserver log:\n%s"
                         % (res.stdout, res.stderr, self.llm.logs()[-3000:]))
        out = json.loads(res.stdout.strip().splitlines()[-1])

        text = out["text"]
        self.assertEqual(text["text"], "Abrimos a las nueve. ¿Algo más, señora Núñez?")
        self.assertEqual(text["finish"], "stop")
        self.assertEqual(text["ids"], 1)
        # role chunk, 8 words, finish chunk, usage chunk
        self.assertEqual(text["chunks"], 11)
        self.assertEqual(text["usage"]["completion_tokens"], 8)
        self.assertEqual(text["usage"]["total_tokens"],
                         text["usage"]["prompt_tokens"] + text["usage"]["completion_tokens"])

        tool = out["tool"]
        self.assertEqual(tool["finish"], "tool_calls")
        self.assertEqual(len(tool["calls"]), 1)
        call = tool["calls"][0]
        self.assertEqual(call["type"], "function")
        self.assertTrue(call["id"].startswith("call_"))
        self.assertEqual(call["function"]["name"], "transfer_to_human")
        self.assertEqual(json.loads(call["function"]["arguments"]), {"reason": "el cliente lo pidió"})
        self.assertGreater(tool["deltas"], 4, "the arguments came in pieces")

        self.assertEqual(out["after_tool"], {"text": "Transferring you now.", "finish": "stop"})

        retried = out["retried"]
        self.assertEqual(retried["object"], "chat.completion")
        self.assertEqual(retried["text"], "Abrimos a las nueve. ¿Algo más, señora Núñez?")
        self.assertGreaterEqual(retried["ms"], 900, "the client waited Retry-After: 1")
        self.assertIn("status=429", self.llm.logs())

        self.assertEqual(out["wrong_key"]["status"], 401)
        self.assertEqual(out["wrong_key"]["code"], "invalid_api_key")
        self.assertEqual(out["wrong_key"]["error"], "AuthenticationError")

        cut = out["cut"]
        self.assertEqual(cut["text"], "You said: uno ")
        self.assertIsNotNone(cut["error"], "a cut stream must not look complete")


    def test_openai_node_client_transcribes(self):
        path = os.path.join(self.llm.dir, "transcripts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("¿Cuál es su horario?\nQuiero hablar con una persona\n")
        stt = LlmServer("--transcripts", path)
        self.addCleanup(stt.close)
        res = subprocess.run(["node", "transcribe.mjs", stt.base], cwd=NODE_DIR,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(res.returncode, 0, "node failed: %s\n%s\nserver log:\n%s"
                         % (res.stdout, res.stderr, stt.logs()[-3000:]))
        out = json.loads(res.stdout.strip().splitlines()[-1])
        # The client's own multipart form, read back: the lines in turn, accents intact.
        self.assertEqual(out["json"], "¿Cuál es su horario?")
        self.assertEqual(out["text"].strip(), "Quiero hablar con una persona")
        self.assertEqual(out["no_model"], {"status": 400, "param": "model"})
        self.assertNotIn("Cuál", stt.logs(), "the caller's words reached the log")


if __name__ == "__main__":
    unittest.main()
