"""Log lines cannot be forged: a CallSid (or any other value) with CR/LF and `event=...` stays
inside its own, escaped value, whether the request is signed, unsigned (403) or served in --dev."""
import re
import unittest

from tests.integration.harness import PRO, Switchboard, incoming_params

LINE = re.compile(r'ts=\S+ level=(debug|info|warn|error) event=[a-z_.]+'
                  r'( [a-z_][a-z0-9_.]*=("(?:[^"\\\x00-\x1f]|\\.)*"|[^\s"]*))*')

# Some are longer than a CallSid may be: /voice/status refuses those (400), and logs it.
FORGED = [
    "CA1\r\nts=2026-01-01T00:00:00.000Z level=info event=forged",
    "CA5\r\nts=1 level=info event=forged",
    "CA2\nevent=forged",
    "CA3\rts=2026-01-01T00:00:00.000Z level=error event=forged x=\"",
    "CA4\x01\x1b[31m\x7f\tevent=forged",
]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class LogLinesTest(unittest.TestCase):
    def assert_clean(self, sb):
        logs = sb.logs()
        self.assertNotIn("\r", logs)
        self.assertNotIn("\x1b", logs)
        lines = logs.split("\n")
        self.assertEqual(lines[-1], "", "the log ends with a newline")
        for line in lines[:-1]:
            self.assertRegex(line, "^ts=")
            self.assertIsNotNone(LINE.fullmatch(line), "not a whole key=value line: %r" % line)
            self.assertNotRegex(line, r"^ts=\S+ level=\S+ event=forged")
            self.assertFalse(line.startswith("event=forged"), line)
        return logs

    def post_all(self, sb, sign):
        for sid in FORGED:
            incoming = incoming_params(sid, to=PRO)
            status = {"CallSid": sid, "CallStatus": "completed", "SequenceNumber": "1",
                      "Timestamp": "x\r\nts=2026-01-01T00:00:00.000Z level=info event=forged"}
            for path, params in (("/voice/incoming", incoming), ("/voice/status", status)):
                if sign:
                    code = sb.signed_post(path, params)[0]
                else:
                    import urllib.parse
                    code = sb.request("POST", path, urllib.parse.urlencode(params).encode(), FORM)[0]
                yield path, sid, code

    def test_unsigned_requests_cannot_forge_a_line(self):
        sb = Switchboard()
        self.addCleanup(sb.close)
        sb.seed()
        sb.start()
        for path, sid, code in self.post_all(sb, sign=False):
            self.assertIn(code, (400, 403), (path, sid))
        sb.stop()
        logs = self.assert_clean(sb)
        # The refusals were logged, with the CallSid escaped in its value.
        self.assertIn('event=security.bad_signature path=/voice/incoming '
                      'call_sid="CA1\\r\\nts=2026-01-01T00:00:00.000Z level=info event=forged"', logs)
        self.assertIn('call_sid="CA2\\nevent=forged"', logs)

    def test_unsigned_requests_served_in_dev_mode_cannot_forge_a_line(self):
        sb = Switchboard()
        self.addCleanup(sb.close)
        sb.seed()
        sb.start("--dev")
        for path, sid, code in self.post_all(sb, sign=False):
            self.assertIn(code, (200, 204, 400), (path, sid))
        sb.stop()
        logs = self.assert_clean(sb)
        self.assertIn('event=status.recorded call_sid="CA5\\r\\nts=1 level=info event=forged"', logs)
        self.assertIn('event=call.incoming call_sid="CA2\\nevent=forged"', logs)
        self.assertIn('event=status.recorded call_sid="CA2\\nevent=forged"', logs)
        self.assertIn('event=status.timestamp_rejected call_sid="CA2\\nevent=forged" '
                      'timestamp="x\\r\\nts=2026-01-01T00:00:00.000Z level=info event=forged"', logs)

    def test_signed_requests_cannot_forge_a_line(self):
        sb = Switchboard()
        self.addCleanup(sb.close)
        sb.seed()
        sb.start()
        for path, sid, code in self.post_all(sb, sign=True):
            self.assertIn(code, (200, 204, 400), (path, sid))
        sb.stop()
        logs = self.assert_clean(sb)
        self.assertIn('event=status.recorded call_sid="CA5\\r\\nts=1 level=info event=forged"', logs)
        self.assertIn('call_sid="CA4\\x01\\x1b[31m\\x7f\\tevent=forged"', logs)


if __name__ == "__main__":
    unittest.main()
