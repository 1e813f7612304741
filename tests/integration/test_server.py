"""The server process: where it listens, its start-up checks, shutdown, durability, logs."""
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

from tests.integration.harness import (BINARY, PRO, STARTER, TOKEN, Switchboard, call_sid, free_port,
                                       incoming_params)


def listening_sockets(pid):
    """(family, address, port) of every TCP socket in LISTEN state that `pid` holds."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            inodes.add(m.group(1))
    found = []
    for family in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, family)) as f:
            next(f)
            for line in f:
                cols = line.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if state == "0A" and inode in inodes:
                    addr, port = local.split(":")
                    found.append((family, addr, int(port, 16)))
    return found


class ServerProcessTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()
        self.sb.seed()

    def tearDown(self):
        self.sb.close()

    def test_listens_only_on_the_configured_address(self):
        self.sb.start("--threads", "3")
        socks = listening_sockets(self.sb.proc.pid)
        # One listening socket an event loop, each on the one address and port.
        self.assertEqual(socks, [("tcp", "0100007F", self.sb.port)] * 3)
        # Nothing answers on another local address of this machine.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.2", self.sb.port), timeout=1).close()

    def start_error(self, *flags, **env):
        res = subprocess.run([BINARY, "serve", *flags], env=self.sb.env(**env),
                             capture_output=True, text=True, timeout=20)
        self.assertNotEqual(res.returncode, 0)
        return res.stderr

    def test_missing_or_invalid_settings_are_named_at_start_up(self):
        port = "127.0.0.1:%d" % free_port()
        self.assertIn("TWILIO_AUTH_TOKEN", self.start_error("--listen", port, PUBLIC_BASE_URL="http://x"))
        self.assertIn("PUBLIC_BASE_URL", self.start_error("--listen", port, TWILIO_AUTH_TOKEN="t"))
        err = self.start_error("--listen", port, TWILIO_AUTH_TOKEN="t", PUBLIC_BASE_URL="ftp://x")
        self.assertIn("PUBLIC_BASE_URL 'ftp://x'", err)
        err = self.start_error("--listen", "nowhere", TWILIO_AUTH_TOKEN="t", PUBLIC_BASE_URL="http://x")
        self.assertIn("listen address 'nowhere'", err)
        err = self.start_error(TWILIO_AUTH_TOKEN="t", PUBLIC_BASE_URL="http://x", SWITCHBOARD_LISTEN="127.0.0.1:99999")
        self.assertIn("listen address '127.0.0.1:99999'", err)
        err = self.start_error("--listen", port, "--log-level", "loud", TWILIO_AUTH_TOKEN="t", PUBLIC_BASE_URL="http://x")
        self.assertIn("log level 'loud'", err)
        self.assertTrue(err.startswith("error: "), err)

    def test_env_listen_and_db_are_used(self):
        port = free_port()
        env = self.sb.env(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL="http://127.0.0.1:%d" % port,
                          SWITCHBOARD_LISTEN="127.0.0.1:%d" % port)
        proc = subprocess.Popen([BINARY, "serve"], env=env, stderr=subprocess.DEVNULL)
        try:
            self.sb.proc, self.sb.port, self.sb.base_url = proc, port, "http://127.0.0.1:%d" % port
            self.sb.log = open(os.devnull, "wb")
            self.sb.wait_ready()
            status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(1)))
            self.assertEqual(status, 200)
            self.assertIn(b"<Connect action=\"/voice/stream-ended\">", body)  # routed by the SWITCHBOARD_DB store
        finally:
            self.sb.stop()

    def test_routing_follows_cli_changes_while_running(self):
        self.sb.start()
        new = "+15005550077"
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(2), to=new))
        self.assertIn("no está configurado".encode(), body)
        self.sb.cli("numbers", "add", new, "--tenant", "acme", "--plan", "pro")
        deadline = time.time() + 5
        while time.time() < deadline:
            _, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(3), to=new))
            if b"<Connect action=\"/voice/stream-ended\">" in body:
                break
            time.sleep(0.1)
        self.assertIn(b"<Connect action=\"/voice/stream-ended\">", body)
        self.sb.cli("numbers", "remove", new)
        deadline = time.time() + 5
        while time.time() < deadline:
            _, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(4), to=new))
            if b"<Connect action=\"/voice/stream-ended\">" not in body:
                break
            time.sleep(0.1)
        self.assertIn("no está configurado".encode(), body)

    def test_sigterm_flushes_queued_call_rows_and_exits_cleanly(self):
        self.sb.start()
        for i in range(200):
            self.assertEqual(self.sb.signed_post("/voice/incoming", incoming_params(call_sid(1000 + i)))[0], 200)
        self.assertEqual(self.sb.stop(signal.SIGTERM), 0)
        self.assertIn("event=server.stopped clean=yes", self.sb.logs())
        sids = {c["call_sid"] for c in self.sb.calls()}
        self.assertTrue({call_sid(1000 + i) for i in range(200)} <= sids)

    def test_sigterm_answers_requests_in_flight(self):
        self.sb.start()
        # A request whose body is still arriving when SIGTERM lands is answered.
        conn = socket.create_connection(("127.0.0.1", self.sb.port), timeout=10)
        import urllib.parse
        from twilio.request_validator import RequestValidator
        params = incoming_params(call_sid(5))
        body = urllib.parse.urlencode(params).encode()
        sig = RequestValidator(TOKEN).compute_signature(self.sb.url("/voice/incoming"), params)
        head = ("POST /voice/incoming HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                "X-Twilio-Signature: %s\r\nContent-Length: %d\r\n\r\n" % (sig, len(body))).encode()
        conn.sendall(head + body[:10])
        self.sb.wait_in_flight(1)  # its headers are read: the request is in flight
        self.sb.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        conn.sendall(body[10:])
        reply = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
        conn.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply[:100])
        self.assertIn(b"<Connect action=\"/voice/stream-ended\">", reply)
        self.assertEqual(self.sb.proc.wait(15), 0)

    def test_acknowledged_status_callbacks_survive_kill_9(self):
        acked = []
        for round_ in range(3):
            self.sb.start()
            stop = threading.Event()

            def sender(base):
                i = 0
                while not stop.is_set():
                    sid = call_sid(base + i)
                    try:
                        st, _, _ = self.sb.signed_post("/voice/status", {
                            "CallSid": sid, "CallStatus": "completed", "SequenceNumber": "3",
                            "CallDuration": "9", "From": "+15551234567", "To": PRO})
                    except OSError:
                        return
                    if st == 204:
                        acked.append(sid)
                    i += 1

            threads = [threading.Thread(target=sender, args=(100000 * (round_ * 4 + t + 1),)) for t in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.7)
            self.sb.proc.send_signal(signal.SIGKILL)
            self.sb.proc.wait()
            stop.set()
            for t in threads:
                t.join()
            self.sb.stop()
        self.assertGreater(len(acked), 20)
        stored = {c["call_sid"]: c for c in self.sb.calls()}
        missing = [s for s in acked if s not in stored]
        self.assertEqual(missing, [])
        self.assertTrue(all(stored[s]["status"] == "completed" for s in acked))

    def test_logs_redact_numbers_and_never_show_the_token(self):
        self.sb.start()
        self.sb.signed_post("/voice/incoming", incoming_params(call_sid(6), frm="+15551239876", to=PRO))
        self.sb.signed_post("/voice/incoming", incoming_params(call_sid(7), frm="+525512345678", to="+15009990000"))
        self.sb.signed_post("/voice/gather", incoming_params(call_sid(8), to=STARTER, SpeechResult="a person"))
        self.sb.signed_post("/voice/status", {"CallSid": call_sid(6), "CallStatus": "completed",
                                              "From": "+15551239876", "To": PRO})
        self.sb.signed_post("/voice/incoming", incoming_params(call_sid(9)), token="wrong-token")
        self.sb.stop()
        logs = self.sb.logs()
        self.assertIn("from=***9876", logs)
        self.assertIn("to=***0006", logs)
        self.assertIn("call_sid=" + call_sid(6), logs)
        for secret in ("+15551239876", "5551239876", "+525512345678", "+15009990000", "+15005550006", TOKEN):
            self.assertNotIn(secret, logs)
        for line in logs.strip().splitlines():
            self.assertRegex(line, r"^ts=\S+ level=(debug|info|warn|error) event=[a-z_.]+( |$)")

    def test_dev_mode_skips_signatures_with_a_warning_per_request(self):
        self.sb.start("--dev")
        status, _, body = self.sb.request("POST", "/voice/incoming",
                                          b"CallSid=CA1&From=%2B15551234567&To=%2B15005550006",
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200)
        self.assertIn(b"<Connect action=\"/voice/stream-ended\">", body)
        self.sb.stop()
        self.assertIn("event=security.dev_mode", self.sb.logs())
        self.assertIn("event=security.unsigned", self.sb.logs())

    def test_trust_proxy_signs_over_forwarded_scheme_and_host(self):
        self.sb.start("--trust-proxy")
        public = "https://voice.example.com/voice/incoming"
        hdrs = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example.com"}
        status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(10)),
                                              url=public, headers=hdrs)
        self.assertEqual(status, 200, body)
        self.assertIn(b'url="wss://voice.example.com/voice/stream"', body)
        # Signed for the internal URL instead: refused.
        status, _, _ = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(11)), headers=hdrs)
        self.assertEqual(status, 403)


if __name__ == "__main__":
    unittest.main()
