"""The voice webhooks over real sockets: routing, TwiML, signatures, bad input."""
import http.client
import re
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

from tests.integration.harness import (INACTIVE, PRO, STARTER, TOKEN, TRANSFER, SeededServerTest, stream_token,
                                       Switchboard, call_sid, incoming_params)

APOLOGY = "Lo sentimos, este número no está configurado. Sorry, this number is not configured."


def twiml(body):
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><Response'), body[:80]
    return ET.fromstring(body)


class WebhookTest(SeededServerTest):

    def incoming(self, n, **kw):
        status, headers, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(n), **kw))
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "text/xml")
        return twiml(body)

    def assert_apology(self, doc):
        self.assertEqual([e.tag for e in doc], ["Say", "Hangup"])
        self.assertEqual(doc[0].text, APOLOGY)
        self.assertEqual(doc[0].get("voice"), "Polly.Lupe")

    # --- routing ------------------------------------------------------------

    def test_pro_number_streams_with_parameters(self):
        doc = self.incoming(1, frm="+15551234567", to=PRO)
        stream = doc.find("Connect/Stream")
        self.assertEqual(stream.get("url"), "wss://127.0.0.1:%d/voice/stream" % self.sb.port)
        params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        self.assertEqual(params, {"CallSid": call_sid(1), "From": "+15551234567", "To": PRO,
                                  "tenant": "acme", "agent": "receptionist", "lang": "en-US",
                                  "token": stream_token(call_sid(1))})

    def test_starter_number_gathers_speech_with_greeting(self):
        doc = self.incoming(2, frm="+15551234567", to=STARTER)
        gather = doc.find("Gather")
        self.assertEqual(gather.get("input"), "speech")
        self.assertEqual(gather.get("action"), "/voice/gather")
        self.assertEqual(gather.get("speechTimeout"), "auto")
        self.assertEqual(gather.get("language"), "en-US")
        self.assertEqual(gather.find("Say").text, "Thanks for calling Acme.")
        self.assertEqual(gather.find("Say").get("voice"), "Polly.Matthew")
        self.assertEqual([e.tag for e in doc], ["Gather", "Say", "Hangup"])

    def test_language_from_country_code(self):
        cases = [("+525512345678", "es-MX", "Gracias por llamar a Acme."),
                 ("+34911234567", "es-US", None),   # Spain: "es", recognised as es-US
                 ("+447700900123", "en-US", None),  # UK: tenant default en-US
                 ("anonymous", "en-US", None)]
        for i, (frm, speech_lang, greeting) in enumerate(cases):
            doc = self.incoming(100 + i, frm=frm, to=STARTER)
            self.assertEqual(doc.find("Gather").get("language"), speech_lang, frm)
            if greeting:
                self.assertEqual(doc.find("Gather/Say").text, greeting)

    def test_tenant_default_language_defaults_to_spanish(self):
        doc = self.incoming(110, frm="+447700900123", to="+15005550003")
        self.assertEqual(doc.find("Gather").get("language"), "es-US")
        self.assertIn("Gracias por llamar a latino", doc.find("Gather/Say").text)

    def test_unknown_number_apologises_in_both_languages(self):
        self.assert_apology(self.incoming(3, to="+15009999999"))

    def test_inactive_number_apologises(self):
        self.assert_apology(self.incoming(4, to=INACTIVE))

    def test_non_e164_to_apologises(self):
        self.assert_apology(self.incoming(5, to="5005550006"))

    def test_missing_parameters_apologise(self):
        for missing in ("To", "From", "CallSid"):
            params = incoming_params(call_sid(6))
            del params[missing]
            status, _, body = self.sb.signed_post("/voice/incoming", params)
            self.assertEqual(status, 200, missing)
            self.assert_apology(twiml(body))

    # --- gather turn ----------------------------------------------------------

    def gather(self, n, speech, to=STARTER, frm="+15551234567"):
        params = incoming_params(call_sid(n), frm=frm, to=to, SpeechResult=speech, Confidence="0.9")
        status, _, body = self.sb.signed_post("/voice/gather", params)
        self.assertEqual(status, 200, body)
        return twiml(body)

    def test_gather_transfer_dials_tenant_number(self):
        doc = self.gather(7, "I want to talk to a human please")
        dial = doc.find("Dial")
        self.assertIsNotNone(dial, ET.tostring(doc))
        self.assertEqual(dial.get("callerId"), STARTER)
        self.assertEqual(dial.get("timeout"), "30")
        self.assertEqual(dial.find("Number").text, TRANSFER)

    def test_gather_spanish_operator(self):
        doc = self.gather(8, "quiero hablar con un operador", frm="+525512345678")
        self.assertEqual(doc.find("Dial/Number").text, TRANSFER)
        self.assertIn("persona", doc.find("Say").text)

    def test_gather_hours_then_listens_again(self):
        doc = self.gather(9, "what are your hours?")
        self.assertIn("Monday to Friday", doc.find("Gather/Say").text)
        self.assertEqual(doc.find("Gather").get("action"), "/voice/gather")

    def test_gather_goodbye_hangs_up(self):
        doc = self.gather(10, "ok bye")
        self.assertEqual([e.tag for e in doc], ["Say", "Hangup"])

    def test_gather_unknown_number_apologises(self):
        self.assert_apology(self.gather(11, "hello", to="+15009999999"))

    # --- signatures -----------------------------------------------------------

    def post_raw(self, params, sig=None, path="/voice/incoming", ctype="application/x-www-form-urlencoded"):
        headers = {"Content-Type": ctype}
        if sig is not None:
            headers["X-Twilio-Signature"] = sig
        return self.sb.request("POST", path, urllib.parse.urlencode(params).encode(), headers)

    def test_unsigned_request_is_forbidden(self):
        status, _, body = self.post_raw(incoming_params(call_sid(20)))
        self.assertEqual(status, 403)
        self.assertIn(b"X-Twilio-Signature", body)

    def test_wrong_signature_is_forbidden(self):
        status, _, _ = self.post_raw(incoming_params(call_sid(21)), sig="RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        self.assertEqual(status, 403)

    def test_signature_for_another_url_is_forbidden(self):
        status, _, _ = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(22)),
                                           url=self.sb.url("/voice/gather"))
        self.assertEqual(status, 403)

    def test_signature_with_another_token_is_forbidden(self):
        status, _, _ = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(23)), token="other")
        self.assertEqual(status, 403)

    def test_tampered_parameter_is_forbidden(self):
        from twilio.request_validator import RequestValidator
        params = incoming_params(call_sid(24))
        sig = RequestValidator(TOKEN).compute_signature(self.sb.url("/voice/incoming"), params)
        params["To"] = STARTER
        status, _, _ = self.post_raw(params, sig=sig)
        self.assertEqual(status, 403)

    def test_signature_with_default_port_added_is_accepted(self):
        # Twilio may sign http://host:80/...; here the configured URL has an
        # explicit port, so the port-stripped variant is the other form.
        url = "http://127.0.0.1/voice/incoming"
        from twilio.request_validator import RequestValidator
        params = incoming_params(call_sid(25))
        sig = RequestValidator(TOKEN).compute_signature(url, params)
        status, _, _ = self.post_raw(params, sig=sig)
        self.assertEqual(status, 200)

    def test_random_signed_params_accepted(self):
        import random
        rnd = random.Random(1234)
        for i in range(20):
            params = incoming_params(call_sid(300 + i))
            for _ in range(rnd.randint(0, 6)):
                key = "X" + "".join(rnd.choice("abcdefghij_.") for _ in range(rnd.randint(1, 8)))
                params[key] = "".join(rnd.choice("az09 +&=%?ñ/") for _ in range(rnd.randint(0, 12)))
            status, _, body = self.sb.signed_post("/voice/incoming", params)
            self.assertEqual(status, 200, (params, body))

    # --- bad HTTP input -------------------------------------------------------

    def test_get_on_post_route_is_405_with_allow(self):
        status, headers, body = self.sb.request("GET", "/voice/incoming")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "POST")
        self.assertTrue(body.startswith(b"error: method GET"))

    def test_unknown_path_is_404(self):
        status, _, body = self.sb.request("GET", "/voice/nowhere")
        self.assertEqual(status, 404)
        self.assertIn(b"/voice/nowhere", body)

    def test_body_over_64k_is_413(self):
        body = b"CallSid=CA1&Pad=" + b"a" * (65536 + 1 - len(b"CallSid=CA1&Pad="))
        self.assertEqual(len(body), 65537)
        status, _, msg = self.sb.request("POST", "/voice/incoming", body,
                                         {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 413)
        self.assertIn(b"65536", msg)

    def test_body_of_exactly_64k_is_read(self):
        params = incoming_params(call_sid(26))
        base = urllib.parse.urlencode(params) + "&Pad="
        params["Pad"] = "a" * (65536 - len(base))
        status, _, _ = self.sb.signed_post("/voice/incoming", params)
        self.assertEqual(status, 200)

    def test_malformed_percent_encoding_is_400(self):
        status, _, body = self.sb.request("POST", "/voice/incoming", b"CallSid=CA1&From=%2",
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 400)
        self.assertIn(b"percent", body)

    def test_ten_thousand_keys_is_400(self):
        body = "&".join("k%d" % i for i in range(10000)).encode()
        self.assertLess(len(body), 65536)
        status, _, msg = self.sb.request("POST", "/voice/incoming", body,
                                         {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 400)
        self.assertIn(b"form fields", msg)

    def test_wrong_content_type_is_415(self):
        status, _, body = self.post_raw(incoming_params(call_sid(27)), ctype="application/json")
        self.assertEqual(status, 415)
        self.assertIn(b"Content-Type", body)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=10)
        try:
            for i in range(5):
                status, _, _ = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(40 + i)), conn=conn)
                self.assertEqual(status, 200)
            sock = conn.sock
            status, _, _ = self.sb.request("GET", "/healthz", conn=conn)
            self.assertEqual(status, 200)
            self.assertIs(conn.sock, sock)
        finally:
            conn.close()

    # --- health and metrics ---------------------------------------------------

    def test_healthz(self):
        status, _, body = self.sb.request("GET", "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))

    def test_metrics_count_requests_and_latency(self):
        self.incoming(50)
        status, headers, body = self.sb.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        m = re.search(r'switchboard_http_requests_total\{route="incoming",status="200"\} (\d+)', text)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertIn('switchboard_http_request_duration_seconds_bucket{route="incoming",le="+Inf"}', text)


class StatusCallbackTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()
        self.sb.seed()
        self.sb.start()

    def tearDown(self):
        self.sb.close()

    def status(self, sid, st, seq=None, **extra):
        p = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": "+15551234567", "To": PRO,
             "CallStatus": st, "Direction": "inbound", "ApiVersion": "2010-04-01",
             "CallbackSource": "call-progress-events",
             "Timestamp": "Sun, 22 Nov 2026 10:00:%02d +0000" % (seq or 0)}
        if seq is not None:
            p["SequenceNumber"] = str(seq)
        p.update(extra)
        return self.sb.signed_post("/voice/status", p)

    def call(self, sid):
        rows = [c for c in self.sb.calls() if c["call_sid"] == sid]
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def test_lifecycle_is_recorded(self):
        sid = call_sid(1)
        self.sb.signed_post("/voice/incoming", incoming_params(sid))
        for seq, st in enumerate(["initiated", "ringing", "in-progress"]):
            self.assertEqual(self.status(sid, st, seq)[0], 204)
        status, headers, body = self.status(sid, "completed", 3, CallDuration="42")
        self.assertEqual((status, body), (204, b""))
        c = self.call(sid)
        self.assertEqual((c["status"], c["duration"], c["tenant"]), ("completed", 42, "acme"))
        self.assertEqual(c["ended_at"], "2026-11-22T10:00:03Z")

    def test_duplicates_and_reordering_never_move_backwards(self):
        sid = call_sid(2)
        self.assertEqual(self.status(sid, "completed", 3, CallDuration="12")[0], 204)
        self.assertEqual(self.status(sid, "ringing", 1)[0], 204)
        self.assertEqual(self.status(sid, "completed", 3, CallDuration="12")[0], 204)
        self.assertEqual(self.status(sid, "in-progress", 2)[0], 204)
        c = self.call(sid)
        self.assertEqual((c["status"], c["duration"]), ("completed", 12))
        metrics = self.sb.request("GET", "/metrics")[2].decode()
        self.assertIn('switchboard_call_status_events_total{status="completed",outcome="duplicate"} 1', metrics)
        self.assertIn('switchboard_call_status_events_total{status="ringing",outcome="stale"} 1', metrics)

    def test_without_sequence_number_dedupes_by_status(self):
        sid = call_sid(3)
        for _ in range(3):
            self.assertEqual(self.status(sid, "ringing")[0], 204)
        self.assertEqual(self.status(sid, "busy")[0], 204)
        self.assertEqual(self.status(sid, "ringing")[0], 204)
        self.assertEqual(self.call(sid)["status"], "busy")

    def test_unknown_call_is_logged_from_its_callback(self):
        sid = call_sid(4)
        self.assertEqual(self.status(sid, "completed", 5, CallDuration="7", Direction="outbound-api")[0], 204)
        c = self.call(sid)
        self.assertEqual((c["status"], c["direction"], c["duration"]), ("completed", "outbound-api", 7))

    def test_bad_status_parameters_are_400(self):
        status, _, body = self.status(call_sid(5), "exploded", 1)
        self.assertEqual(status, 400)
        self.assertIn(b"unknown CallStatus 'exploded'", body)
        status, _, body = self.status(call_sid(5), "ringing", None, SequenceNumber="x1")
        self.assertEqual(status, 400)
        self.assertIn(b"SequenceNumber", body)
        status, _, body = self.sb.signed_post("/voice/status", {"CallSid": call_sid(5)})
        self.assertEqual(status, 400)
        self.assertIn(b"missing CallStatus", body)

    def test_chaos_delivery_logs_exactly_one_call(self):
        import random
        sid = call_sid(6)
        events = [(0, "initiated"), (1, "ringing"), (2, "in-progress"), (3, "completed")]
        deliveries = events * 3
        random.Random(7).shuffle(deliveries)
        for seq, st in deliveries:
            extra = {"CallDuration": "30"} if st == "completed" else {}
            self.assertEqual(self.status(sid, st, seq, **extra)[0], 204)
        rows = [c for c in self.sb.calls() if c["call_sid"] == sid]
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["status"], rows[0]["duration"]), ("completed", 30))


if __name__ == "__main__":
    unittest.main()
