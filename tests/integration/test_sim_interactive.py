"""switchboard sim --interactive, driven in a real terminal (tmux)."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from twilio.twiml.voice_response import VoiceResponse

from tests.integration.harness import BINARY, TOKEN
from tests.integration.twilio_app import App


@unittest.skipUnless(shutil.which("tmux"), "tmux is not installed")
class InteractiveTest(unittest.TestCase):
    def setUp(self):
        self.app = App()
        menu = VoiceResponse()
        menu.gather(action="/choice", num_digits=1).say("Press 1 for sales")
        self.app.routes["/voice"] = menu.to_xml()
        self.app.routes["/choice"] = lambda p: self.choice(p)
        self.socket = os.path.join(tempfile.mkdtemp(prefix="sb-tmux-"), "tmux.sock")
        self.session = "sim%d" % os.getpid()

    def choice(self, params):
        r = VoiceResponse()
        if params.get("Digits") == "1":
            r.say("Connecting you to sales")
            r.dial("+15557654321")
        else:
            r.say("Goodbye")
        return r.to_xml()

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=10)

    def tearDown(self):
        self.tmux("kill-server")
        self.app.close()
        shutil.rmtree(os.path.dirname(self.socket), ignore_errors=True)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", self.session).stdout

    def wait_for(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = self.screen()
            if text in out:
                return out
            time.sleep(0.1)
        self.fail("%r never appeared on the screen:\n%s" % (text, self.screen()))

    def test_keys_typed_at_the_prompt_drive_the_call(self):
        cmd = "%s sim call --url %s --from +15551234567 --to +15005550006 --token %s --interactive; echo EXIT=$?; sleep 30" % (
            BINARY, self.app.url("/voice"), TOKEN)
        self.tmux("new-session", "-d", "-s", self.session, "-x", "200", "-y", "50", cmd)
        self.wait_for("gather: keys or words")
        self.tmux("send-keys", "-t", self.session, "1", "Enter")
        self.wait_for("dial: does the callee answer?")
        self.tmux("send-keys", "-t", self.session, "busy", "Enter")
        out = self.wait_for("EXIT=")
        self.assertIn("EXIT=0", out)
        self.assertIn('127.0.0.1 says: "Press 1 for sales"', out)
        self.assertIn("caller presses 1", out)
        self.assertIn("dial Number +15557654321: busy", out)
        self.assertEqual(self.app.requests[1]["params"]["Digits"], "1")


if __name__ == "__main__":
    unittest.main()
