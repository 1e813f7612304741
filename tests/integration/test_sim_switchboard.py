"""switchboard serve and switchboard sim against each other over real sockets."""
import unittest

from tests.integration.harness import PRO, STARTER, TRANSFER, SeededServerTest, Switchboard
from tests.integration.twilio_app import events, sim


class SimAgainstSwitchboardTest(SeededServerTest):

    def call(self, to, script=None, *extra, frm="+15551234567"):
        return sim("--url", self.sb.url("/voice/incoming"), "--from", frm, "--to", to, *extra,
                   script=script, tmpdir=self.sb.dir)

    def test_starter_call_with_transfer(self):
        rc, doc, err = self.call(STARTER, "expect say Thanks for calling Acme\n"
                                          "say what are your hours\n"
                                          "expect say Monday to Friday\n"
                                          "say let me talk to a person\n"
                                          "expect dial %s\n"
                                          "dial answer 20\n" % TRANSFER)
        self.assertEqual(rc, 0, doc or err)
        self.assertEqual(events(doc, "dial")[0]["caller_id"], STARTER)
        self.assertEqual([e["url"].rsplit("/", 1)[1] for e in events(doc, "request")],
                         ["incoming", "gather", "gather", "transfer-ended"])

    def test_unknown_number_hears_the_apology_and_hangs_up(self):
        rc, doc, _ = self.call("+15009999999", "expect say Sorry, this number is not configured\nexpect hangup\n")
        self.assertEqual(rc, 0, doc)
        self.assertEqual(len(events(doc, "hangup")), 1)

    def test_spanish_caller_on_starter(self):
        rc, doc, _ = self.call(STARTER, "expect say Gracias por llamar a Acme\nsay adiós\n", frm="+525512345678")
        self.assertEqual(rc, 0, doc)
        self.assertEqual(events(doc, "gather")[0]["input"], "speech")

    def test_pro_call_connects_a_stream_with_parameters(self):
        rc, doc, _ = self.call(PRO)
        streams = events(doc, "stream")
        self.assertEqual(len(streams), 1, doc)
        self.assertEqual(streams[0]["url"], "wss://127.0.0.1:%d/voice/stream" % self.sb.port)

    def test_status_callbacks_with_chaos_log_exactly_one_call(self):
        rc, doc, _ = self.call(STARTER, "say goodbye\n", "--chaos",
                               "--status-callback", self.sb.url("/voice/status"),
                               "--status-events", "initiated,ringing,answered,completed")
        self.assertEqual(rc, 0, doc)
        cbs = [e for e in events(doc, "callback")]
        self.assertGreater(len(cbs), 4)
        self.assertTrue(all(c["status"] == 204 for c in cbs))
        rows = [c for c in self.sb.calls() if c["call_sid"] == doc["call_sid"]]
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["status"], "completed")
        self.assertEqual(rows[0]["tenant"], "acme")
        self.assertEqual(rows[0]["duration"], int(doc["duration"]))

    def test_unsigned_sim_call_is_refused(self):
        rc, doc, _ = sim("--url", self.sb.url("/voice/incoming"), "--from", "+15551234567", "--to", STARTER,
                         token="wrong")
        self.assertEqual(rc, 1)
        self.assertEqual(doc["error_code"], 11200)
        self.assertIn("403", doc["error"])


if __name__ == "__main__":
    unittest.main()


class DocumentedExamplesTest(unittest.TestCase):
    """Every script in docs/examples/sim runs green against a seeded switchboard."""

    def test_examples(self):
        import glob
        import os
        import shlex
        from tests.integration.harness import ROOT
        sb = Switchboard()
        try:
            sb.seed()
            sb.start()
            paths = sorted(glob.glob(os.path.join(ROOT, "docs", "examples", "sim", "*.script")))
            self.assertGreaterEqual(len(paths), 3)
            for path in paths:
                with open(path) as f:
                    text = f.read()
                header = [l for l in text.splitlines() if l.startswith("# call:")]
                self.assertEqual(len(header), 1, path)
                args = shlex.split(header[0][len("# call:"):])
                rc, doc, err = sim("--url", sb.url("/voice/incoming"), *args, script=text, tmpdir=sb.dir)
                self.assertEqual(rc, 0, (path, doc or err))
        finally:
            sb.close()
