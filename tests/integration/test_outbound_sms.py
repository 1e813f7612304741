"""The SMS fallback and opt-outs (docs/outbound.md, "SMS fallback and opt-outs").

A job queued with --sms-fallback that ends busy gets the tenant's template by SMS
once, through `switchboard sim api` (its record counts `messages.create`);
/sms/incoming takes Twilio's inbound messages: STOP opts the sender out of the
tenant that owns To, START opts it back in.
"""
import time
import unittest
import xml.etree.ElementTree as ET

from tests.integration.harness import PRO, STARTER
from tests.integration.test_outbound_placer import Placer, number, sim_records, wait_for
from tests.integration.test_sim_api import ApiServer

TEMPLATE = "Hola {{name}}, no pudimos comunicarnos. — {{tenant}}"
FILLED = "Hola José Núñez, no pudimos comunicarnos. — acme"
BUSY = number(41)


def messages(sim, to=None):
    return [r for r in sim_records(sim) if r["action"] == "messages.create" and
            (to is None or r["params"].get("To") == to)]


class SmsTest(unittest.TestCase):
    def setUp(self):
        self.sim = ApiServer("--outcome", "%s=busy" % BUSY)
        self.sb = Placer(self.sim)

    def tearDown(self):
        try:
            self.sb.close()
        finally:
            self.sim.stop()

    def sms(self, params):
        return self.sb.signed_post("/sms/incoming", params, url=self.sb.url("/sms/incoming"))

    def test_a_busy_job_is_texted_the_filled_template_once(self):
        self.sb.cli("tenants", "set", "acme", "--sms-fallback", TEMPLATE)
        job_id = self.sb.queue(BUSY, "--say", "hola", "--name", "José Núñez", "--retries", "0",
                               "--sms-fallback")
        self.sb.start()
        job = self.sb.wait_status(job_id, ("busy",))
        self.assertTrue(wait_for(lambda: messages(self.sim, BUSY), 10), self.sb.logs())
        sent = messages(self.sim, BUSY)
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["params"]["Body"], FILLED)
        self.assertEqual(sent[0]["params"]["From"], PRO)
        # Twilio sends the final callback again: no second message.
        path = "/voice/status?job=%d" % job_id
        params = {"CallSid": job["call_sid"], "CallStatus": "busy", "From": PRO, "To": BUSY,
                  "AccountSid": "AC" + "0" * 32}
        status, _, _ = self.sb.signed_post(path, params, url=self.sb.url(path))
        self.assertEqual(status, 204)
        time.sleep(1.5)
        self.assertEqual(len(messages(self.sim, BUSY)), 1)
        logs = self.sb.logs()
        self.assertIn("outbound.sms_sent job=%d" % job_id, logs)
        self.assertNotIn(BUSY, logs)  # numbers are masked

    def test_a_tenant_without_a_template_sends_nothing(self):
        job_id = self.sb.queue(BUSY, "--say", "hola", "--retries", "0", "--sms-fallback")
        self.sb.start()
        self.sb.wait_status(job_id, ("busy",))
        self.assertTrue(wait_for(lambda: "outbound.sms_skipped job=%d" % job_id in self.sb.logs(),
                                 10), self.sb.logs())
        self.assertEqual(messages(self.sim), [])

    def test_stop_opts_out_start_opts_back_in(self):
        self.sb.cli("tenants", "set", "acme", "--sms-fallback", TEMPLATE)
        self.sb.start()
        sender = number(42)
        status, headers, body = self.sms({"From": sender, "To": PRO, "Body": "  stop\n",
                                          "MessageSid": "SM" + "1" * 32,
                                          "AccountSid": "AC" + "0" * 32})
        self.assertEqual(status, 200, body)
        self.assertIn(b"<Response/>", body)
        res = self.sb.cli("calls", "create", "--tenant", "acme", "--to", sender, "--say", "hola",
                          check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("opted out (STOP)", res.stderr)
        status, _, body = self.sms({"From": sender, "To": PRO, "Body": "Start",
                                    "MessageSid": "SM" + "2" * 32})
        self.assertEqual(status, 200, body)
        self.sb.cli("calls", "create", "--tenant", "acme", "--to", sender, "--say", "hola")
        # Other words and unknown numbers: empty TwiML, nothing changes.
        status, _, body = self.sms({"From": sender, "To": PRO, "Body": "¿Quién habla?"})
        self.assertEqual((status, b"<Response/>" in body), (200, True))
        status, _, body = self.sms({"From": sender, "To": "+15559990000", "Body": "STOP"})
        self.assertEqual((status, b"<Response/>" in body), (200, True))
        self.assertIn("sms.unknown_number", self.sb.logs())
        self.assertNotIn(sender, self.sb.logs())

    def test_an_opted_out_number_is_neither_called_nor_texted(self):
        self.sb.cli("tenants", "set", "acme", "--sms-fallback", TEMPLATE)
        # Due a few seconds from now: the STOP below is in before the job is claimed.
        due = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 4))
        job_id = self.sb.queue(BUSY, "--say", "hola", "--retries", "0", "--sms-fallback", "--at", due)
        self.sb.start()
        status, _, _ = self.sms({"From": BUSY, "To": PRO, "Body": "STOP"})
        self.assertEqual(status, 200)
        job = self.sb.wait_status(job_id, ("busy", "skipped"))
        self.assertEqual(job["status"], "skipped", job)
        time.sleep(1.5)
        self.assertEqual([r for r in sim_records(self.sim) if r["action"] == "calls.create"], [])
        self.assertEqual(messages(self.sim), [])

    def test_attacker(self):
        self.sb.start()
        status, _, _ = self.sb.request("POST", "/sms/incoming", b"From=%2B15550100001&To=" +
                                       PRO.replace("+", "%2B").encode() + b"&Body=STOP",
                                       {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 403)
        status, _, body = self.sms({"To": PRO, "Body": "STOP"})
        self.assertEqual(status, 400)
        self.assertTrue(body.startswith(b"error:"), body)
        status, _, body = self.sms({"From": "not a number", "To": PRO, "Body": "STOP"})
        self.assertEqual(status, 400)
        try:
            status, _, body = self.sms({"From": number(43), "To": PRO, "Body": "x" * 70000})
            self.assertEqual(status, 413)
        except (ConnectionError, OSError):
            pass  # the server may close the connection on a body over its limit
        status, _, body = self.sms({"From": number(43), "To": PRO, "Body": "hola"})
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()


class TransferTextTest(unittest.TestCase):
    """An inbound caller whom nobody takes on a transfer to a person is texted, once."""

    CALLER = "+5215512345678"  # a Mexican caller, in Spanish

    def setUp(self):
        self.sim = ApiServer()
        self.sb = Placer(self.sim)
        self.sb.cli("tenants", "set", "acme", "--sms-fallback",
                    "Hola, nadie pudo atenderle. ¿Le llamamos mañana? — {{tenant}}")

    def tearDown(self):
        try:
            self.sb.close()
        finally:
            self.sim.stop()

    def gather_then_dial(self, sid, caller, dial_status):
        """The caller asks for a person; the <Dial> ends with `dial_status`."""
        base = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": STARTER,
                "Direction": "inbound", "CallStatus": "in-progress"}
        status, _, body = self.sb.signed_post("/voice/gather", dict(
            base, SpeechResult="¿Puedo hablar con una persona?"))
        self.assertEqual(status, 200, body)
        dial = ET.fromstring(body).find("Dial")
        self.assertIsNotNone(dial, body)
        self.assertEqual(dial.get("action"), "/voice/transfer-ended")
        self.assertEqual(dial.get("callerId"), STARTER)
        ended = dict(base, DialCallStatus=dial_status, DialCallSid="CA" + "d" * 32)
        status, _, body = self.sb.signed_post("/voice/transfer-ended", ended)
        self.assertEqual(status, 200, body)
        self.assertIsNotNone(ET.fromstring(body).find("Hangup"), body)
        return ended

    def test_a_busy_transfer_texts_the_caller_once_in_spanish(self):
        self.sb.start()
        ended = self.gather_then_dial("CA" + "1" * 32, self.CALLER, "busy")
        self.assertTrue(wait_for(lambda: messages(self.sim, self.CALLER), 10), self.sb.logs())
        sent = messages(self.sim, self.CALLER)
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["params"]["Body"],
                         "Hola, nadie pudo atenderle. ¿Le llamamos mañana? — acme")
        self.assertEqual(sent[0]["params"]["From"], STARTER)
        # Twilio asks the action again: no second message.
        status, _, _ = self.sb.signed_post("/voice/transfer-ended", ended)
        self.assertEqual(status, 200)
        self.assertTrue(wait_for(lambda: self.sb.logs().count("transfer.ended") >= 2, 10))
        time.sleep(1)
        self.assertEqual(len(messages(self.sim, self.CALLER)), 1)
        self.assertNotIn(self.CALLER, self.sb.logs())  # numbers are masked

    def test_an_answered_transfer_and_an_opted_out_caller_are_not_texted(self):
        self.sb.start()
        self.gather_then_dial("CA" + "2" * 32, self.CALLER, "completed")
        opted = number(43)
        status, _, _ = self.sb.signed_post("/sms/incoming", {
            "From": opted, "To": STARTER, "Body": "STOP", "MessageSid": "SM" + "2" * 32,
            "AccountSid": "AC" + "0" * 32})
        self.assertEqual(status, 200)
        self.gather_then_dial("CA" + "3" * 32, opted, "no-answer")
        self.assertTrue(wait_for(lambda: "reason=\"the number opted out\"" in self.sb.logs(), 10),
                        self.sb.logs())
        self.assertEqual(messages(self.sim), [])

    def test_attacker_unsigned_and_incomplete_transfer_reports(self):
        self.sb.start()
        status, _, body = self.sb.request(
            "POST", "/voice/transfer-ended", b"CallSid=CA1&DialCallStatus=busy&From=%2B15551234567",
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 403)
        self.assertTrue(body.startswith(b"error:"), body)
        # Signed but without To: the apology, and nothing is texted.
        status, _, body = self.sb.signed_post("/voice/transfer-ended", {
            "CallSid": "CA" + "4" * 32, "From": self.CALLER, "DialCallStatus": "busy"})
        self.assertEqual(status, 200)
        self.assertIn("configurado".encode(), body)
        time.sleep(1)
        self.assertEqual(messages(self.sim), [])
        status, _, _ = self.sb.request("GET", "/healthz")
        self.assertEqual(status, 200)
