"""Status callback Timestamps are trusted only within a year back and a day ahead of the clock:
others are replaced by the time of arrival, with a status.timestamp_rejected warning."""
import time

from tests.integration.harness import SeededServerTest, call_sid, incoming_params


class TimestampWindowTest(SeededServerTest):
    def status(self, sid, timestamp):
        code, _, body = self.sb.signed_post("/voice/status", {
            "CallSid": sid, "CallStatus": "completed", "SequenceNumber": "1", "CallDuration": "3",
            "Timestamp": timestamp})
        self.assertEqual(code, 204, body)

    def row(self, sid):
        rows = [r for r in self.sb.calls() if r["call_sid"] == sid]
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def test_year_9999_does_not_pin_the_call_to_the_top_of_the_list(self):
        pinned, later = call_sid(9999), call_sid(10000)
        self.status(pinned, "Fri, 31 Dec 9999 23:59:59 +0000")
        self.assertEqual(self.sb.signed_post("/voice/incoming", incoming_params(later))[0], 200)
        self.sb.shown_call(later, lambda c: True)  # the webhook's answer does not wait for its row
        calls = self.sb.calls()
        self.assertEqual(calls[0]["call_sid"], later, calls[:2])
        self.assertNotIn("9999", self.row(pinned)["ended_at"])
        self.assertIn('event=status.timestamp_rejected call_sid=%s '
                      'timestamp="Fri, 31 Dec 9999 23:59:59 +0000" '
                      'reason="outside the accepted window"' % pinned, self.sb.logs())

    def test_before_1970_and_garbage_are_replaced_by_now_with_a_warning(self):
        for n, ts in ((1969, "Wed, 31 Dec 1969 23:59:59 +0000"), (1, "yesterday-ish"),
                      (2, "Fri, 20 Aug 2010 01:13:42 +0000")):
            sid = call_sid(20000 + n)
            years = {time.strftime("%Y", time.gmtime())}
            self.status(sid, ts)
            years.add(time.strftime("%Y", time.gmtime()))
            self.assertIn(self.row(sid)["ended_at"][:4], years, self.row(sid))
            self.assertIn('event=status.timestamp_rejected call_sid=%s timestamp="%s"' % (sid, ts),
                          self.sb.logs())

    def test_a_recent_timestamp_is_kept(self):
        sid = call_sid(30000)
        at = time.time() - 3 * 86400
        self.status(sid, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(at)))
        self.assertEqual(self.row(sid)["ended_at"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)))
        self.assertNotIn("call_sid=%s timestamp=" % sid, self.sb.logs())
