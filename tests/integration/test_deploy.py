"""The deployment files of deploy/ and docs/deploy.md, tried for real.

The systemd unit is checked by systemd-analyze (verify, and the offline security review);
nginx runs deploy/nginx.conf, as the test's own process on 127.0.0.1 with a self-signed
certificate made by the openssl CLI, in front of a started switchboard: signed webhooks
over HTTPS, a Media Streams WebSocket through the proxy, and requests it must refuse.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

import websocket
from twilio.request_validator import RequestValidator

from tests.integration.harness import (BINARY, PRO, ROOT, STARTER, TOKEN, Switchboard, call_sid, free_port,
                                       incoming_params)

UNIT = os.path.join(ROOT, "deploy", "switchboard.service")
NGINX_CONF = os.path.join(ROOT, "deploy", "nginx.conf")
ENV_EXAMPLE = os.path.join(ROOT, "deploy", "switchboard.env.example")
DOC = os.path.join(ROOT, "docs", "deploy.md")
INSTALLED_BINARY = "/usr/local/bin/switchboard"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def replace_once(text, old, new, count=1):
    """`text` with `old` replaced, failing when it does not occur exactly `count` times (the file
    changed under the test: the test must change with it)."""
    found = text.count(old)
    if found != count:
        raise AssertionError("expected %d of %r in the deployment file, found %d" % (count, old, found))
    return text.replace(old, new)


class UnitFileTest(unittest.TestCase):
    """deploy/switchboard.service as systemd reads it, and what it asks of switchboard."""

    def setUp(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed (Debian's systemd package has it; "
                          "scripts/deps.sh --test installs it)")
        self.dir = tempfile.mkdtemp(prefix="sb-unit-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        # verify checks that ExecStart's program exists: the built binary stands in for the
        # installed one; every other line is the shipped file's.
        unit = replace_once(read(UNIT), "ExecStart=" + INSTALLED_BINARY + " ", "ExecStart=" + BINARY + " ")
        self.unit = os.path.join(self.dir, "switchboard.service")
        with open(self.unit, "w", encoding="utf-8") as f:
            f.write(unit)

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze", *args, self.unit], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", LC_ALL="C.UTF-8"))

    def test_the_unit_verifies_without_a_warning(self):
        res = self.analyze("verify")
        # An unknown key or a value systemd cannot parse is only a warning ("ignoring"): any output fails.
        self.assertEqual((res.returncode, res.stdout + res.stderr), (0, ""))

    def test_the_offline_security_review_rates_the_unit_ok(self):
        res = self.analyze("security", "--offline=yes", "--threshold=20")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", res.stdout)
        self.assertIsNotNone(level, res.stdout)
        self.assertLessEqual(float(level.group(1)), 2.0, res.stdout)


class DeployFilesTest(unittest.TestCase):
    """The unit and the environment file name only what `switchboard serve` knows, and the doc
    shows the files as they are shipped."""

    def test_every_flag_of_the_unit_is_a_serve_flag(self):
        help_text = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True,
                                   check=True).stdout
        exec_start = re.search(r"^ExecStart=((?:[^\n]*\\\n)*[^\n]*)", read(UNIT), re.M).group(1)
        flags = re.findall(r"(?<!\S)(--[a-z-]+)", exec_start)
        self.assertGreater(len(flags), 2, exec_start)
        for flag in flags:
            self.assertIn(flag, help_text, "the unit passes %s, which serve does not take" % flag)

    def test_every_setting_of_the_environment_file_is_one_serve_reads(self):
        help_text = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True,
                                   check=True).stdout
        names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", read(ENV_EXAMPLE), re.M)
        self.assertIn("PUBLIC_BASE_URL", names)
        self.assertIn("TWILIO_AUTH_TOKEN", names)
        for name in names:
            self.assertIn(name, help_text, "%s is not a setting serve reads" % name)

    def test_the_doc_shows_the_shipped_files_verbatim(self):
        doc = read(DOC)
        for path in (UNIT, NGINX_CONF, ENV_EXAMPLE):
            self.assertIn(read(path), doc, "docs/deploy.md does not hold %s as shipped" % os.path.basename(path))

    def test_the_metrics_the_doc_explains_are_the_server_s(self):
        sb = Switchboard()
        self.addCleanup(sb.close)
        sb.seed()
        sb.start()
        sb.signed_post("/voice/incoming", incoming_params(call_sid(9100), to=STARTER))
        sb.signed_post("/voice/status", {"CallSid": call_sid(9100), "CallStatus": "completed"})
        served = sb.request("GET", "/metrics")[2].decode()
        source = read(os.path.join(ROOT, "src", "server", "metrics.c"))
        named = set(re.findall(r"\bswitchboard_[a-z_]+", read(DOC)))
        self.assertIn("switchboard_http_requests_total", named)
        for series in named:
            base = re.sub(r"_(bucket|sum|count)$", "", series)
            self.assertIn(base, source, "docs/deploy.md explains %s, which the server does not serve" % series)
        for series in set(re.findall(r"^# TYPE (switchboard_[a-z_]+)", served, re.M)):
            self.assertIn(series, named, "docs/deploy.md does not explain %s" % series)


def doc_instance_routing(instances):
    """docs/deploy.md's nginx lines that keep a call on its instance (More than one instance),
    with the doc's two addresses swapped for the test's instances: the part for the http
    block (the map and the upstream), and the location that replaces the site's /voice/."""
    doc = read(DOC)
    at = doc.index("With nginx:\n")
    lines = []
    for line in doc[at:].split("\n")[1:]:
        if line and not line.startswith("      "):
            break
        lines.append(line[6:])
    text = "\n".join(lines).strip("\n")
    text = replace_once(text, "10.0.0.11:8080", "127.0.0.1:%d" % instances["sb-a"], count=2)
    text = replace_once(text, "10.0.0.12:8080", "127.0.0.1:%d" % instances["sb-b"], count=2)
    voice = [l for l in text.split("\n") if l.startswith("location /voice/")]
    if len(voice) != 1:
        raise AssertionError("docs/deploy.md's nginx lines have no one location /voice/: %r" % text)
    return text.replace(voice[0], ""), voice[0]


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem in `directory`)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


class Nginx:
    """nginx running deploy/nginx.conf from a temporary prefix: its ports, certificate and
    upstream swapped for the test's, everything else as shipped."""

    def __init__(self, upstream_port, instances=None):
        """`instances` ({"sb-a": PORT, "sb-b": PORT}): /voice/ goes through docs/deploy.md's
        map of the sb_instance cookie to these two instead (the shipped site's other
        locations keep upstream_port)."""
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            raise AssertionError("nginx is not installed; scripts/deps.sh --test installs it")
        self.dir = tempfile.mkdtemp(prefix="sb-nginx-")
        self.cert, key = make_certificate(self.dir)
        self.https_port, self.http_port = free_port(), free_port()
        site = read(NGINX_CONF)
        site = replace_once(site, "listen 443 ssl;\n    listen [::]:443 ssl;",
                            "listen 127.0.0.1:%d ssl;" % self.https_port)
        site = replace_once(site, "listen 80;\n    listen [::]:80;", "listen 127.0.0.1:%d;" % self.http_port)
        site = replace_once(site, "/etc/letsencrypt/live/voice.example.com/fullchain.pem", self.cert)
        site = replace_once(site, "/etc/letsencrypt/live/voice.example.com/privkey.pem", key)
        site = replace_once(site, 'if ($host != "voice.example.com")', 'if ($host != "127.0.0.1")')
        if instances:
            http_part, voice = doc_instance_routing(instances)
            site = replace_once(site, "location /voice/ {\n        proxy_pass http://127.0.0.1:8080;\n    }",
                                voice)
            site = http_part + "\n" + site
        site = replace_once(site, "http://127.0.0.1:8080;", "http://127.0.0.1:%d;" % upstream_port,
                            count=2 if instances else 3)
        with open(os.path.join(self.dir, "switchboard.conf"), "w", encoding="utf-8") as f:
            f.write(site)
        # What Debian's /etc/nginx/nginx.conf gives a site, kept inside the prefix so that
        # nginx runs without touching /var or /run.
        temp = ["client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"]
        user = ""
        if os.geteuid() == 0:  # root's nginx hands its workers to nobody: let them write the temp files
            user = "user nobody nogroup;\n"
            os.chmod(self.dir, 0o711)
        for t in temp:
            os.mkdir(os.path.join(self.dir, t), 0o777)
            os.chmod(os.path.join(self.dir, t), 0o777)
        main = (user + "worker_processes 1;\npid %(d)s/nginx.pid;\nerror_log %(d)s/error.log info;\n"
                "events { worker_connections 256; }\n"
                "http {\n    access_log %(d)s/access.log;\n" % {"d": self.dir}
                + "".join("    %s_path %s/%s;\n" % (t, self.dir, t) for t in temp)
                + "    include %s/switchboard.conf;\n}\n" % self.dir)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(main)
        self.proc = subprocess.Popen([nginx, "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                                      "-c", self.conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited: %s\n%s" % (self.proc.stderr.read().decode(), self.errors()))
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=0.2):
                    break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError("nginx did not start: %s" % self.errors())
                time.sleep(0.05)
        self.tls = ssl.create_default_context(cafile=self.cert)

    def errors(self):
        try:
            return read(os.path.join(self.dir, "error.log"))[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master exits
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def base_url(self):
        return "https://127.0.0.1:%d" % self.https_port

    def request(self, method, path, body=b"", headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.https_port, context=self.tls, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
        finally:
            conn.close()

    def signed_post(self, path, params, url=None, headers=None):
        """POSTs a form over HTTPS, signed for the public https URL of `path` (or `url`)."""
        sig = RequestValidator(TOKEN).compute_signature(url or self.base_url + path, dict(params))
        h = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
        h.update(headers or {})
        return self.request("POST", path, urllib.parse.urlencode(params).encode(), h)


class BehindNginxTest(unittest.TestCase):
    """PUBLIC_BASE_URL is the https URL nginx serves: switchboard checks every signature over it."""

    serve_flags = ()

    @classmethod
    def setUpClass(cls):
        cls.sb = Switchboard()
        cls.sb.seed()
        # The server's own port is only known once it is picked; PUBLIC_BASE_URL names nginx's.
        cls.nginx = None
        try:
            port = free_port()
            cls.nginx = Nginx(port)
            cls.start_server(port)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_server(cls, port):
        cls.sb.port = port
        cls.sb.base_url = cls.nginx.base_url
        env = cls.sb.env(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=cls.nginx.base_url)
        cls.sb.log = open(cls.sb.log_path, "ab")
        cls.sb.proc = subprocess.Popen([BINARY, "serve", "--listen", "127.0.0.1:%d" % port, *cls.serve_flags],
                                       env=env, stdout=cls.sb.log, stderr=subprocess.STDOUT)
        cls.sb.wait_ready(listening_line=True)

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.nginx:
                cls.nginx.stop()
        finally:
            cls.sb.close()

    def test_a_signed_webhook_over_https_gets_its_twiml(self):
        status, headers, body = self.nginx.signed_post("/voice/incoming", incoming_params(call_sid(9001), to=STARTER))
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("text/xml"), headers)
        gather = ET.fromstring(body).find("Gather")
        self.assertIsNotNone(gather, body)
        self.assertEqual(gather.find("Say").text, "Thanks for calling Acme.")
        self.assertEqual(gather.get("action"), "/voice/gather")

    def test_a_spanish_caller_over_https_is_answered_in_spanish(self):
        params = incoming_params(call_sid(9002), frm="+5215512345678", to=STARTER, FromCountry="MX")
        status, _, body = self.nginx.signed_post("/voice/incoming", params)
        self.assertEqual(status, 200, body)
        self.assertIn("Gracias por llamar a Acme.", body.decode())

    def test_the_next_turn_and_the_status_callback_go_through_the_proxy(self):
        sid = call_sid(9003)
        self.assertEqual(self.nginx.signed_post("/voice/incoming", incoming_params(sid, to=STARTER))[0], 200)
        status, _, body = self.nginx.signed_post("/voice/gather", incoming_params(
            sid, to=STARTER, SpeechResult="I want to talk to a person", Confidence="0.9"))
        self.assertEqual(status, 200, body)
        self.assertIn(b"<Dial", body)
        status, _, _ = self.nginx.signed_post("/voice/status", {"CallSid": sid, "CallStatus": "completed",
                                                                "CallDuration": "12"})
        self.assertEqual(status, 204)
        shown = self.sb.shown_call(sid, lambda c: c["call"]["status"] == "completed")
        self.assertEqual((shown["call"]["status"], shown["call"]["duration"]), ("completed", 12))

    def stream_of(self, sid):
        """The <Stream> a pro number's TwiML names (asked for through nginx): its URL and token."""
        status, _, body = self.nginx.signed_post("/voice/incoming", incoming_params(sid, to=PRO))
        self.assertEqual(status, 200, body)
        stream = ET.fromstring(body).find("Connect/Stream")
        self.assertIsNotNone(stream, body)
        params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        return stream.get("url"), params

    def test_a_media_stream_works_through_the_proxy(self):
        sid = call_sid(9004)
        url, params = self.stream_of(sid)
        self.assertEqual(url, "wss://127.0.0.1:%d/voice/stream" % self.nginx.https_port)
        sig = RequestValidator(TOKEN).compute_signature(url, {})
        ws = websocket.create_connection(url, timeout=10, header=["X-Twilio-Signature: %s" % sig],
                                         sslopt={"ca_certs": self.nginx.cert})
        try:
            ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            stream_sid = "MZ" + "4" * 32
            ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
                                "start": {"streamSid": stream_sid, "accountSid": "AC" + "0" * 32, "callSid": sid,
                                          "tracks": ["inbound"], "customParameters": params,
                                          "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                          "channels": 1}}}))
            # The greeting comes back as media frames of this stream.
            deadline = time.time() + 15
            media = 0
            while media < 10 and time.time() < deadline:
                op, data = ws.recv_data(control_frame=True)
                self.assertNotEqual(op, websocket.ABNF.OPCODE_CLOSE, data[2:])
                if op == websocket.ABNF.OPCODE_TEXT:
                    msg = json.loads(data)
                    if msg["event"] == "media":
                        self.assertEqual(msg["streamSid"], stream_sid)
                        media += 1
            self.assertEqual(media, 10, "the greeting did not come back through nginx")
            ws.send(json.dumps({"event": "stop", "sequenceNumber": "2", "streamSid": stream_sid,
                                "stop": {"accountSid": "AC" + "0" * 32, "callSid": sid}}))
        finally:
            ws.close()

    def test_an_unsigned_stream_upgrade_is_refused_through_the_proxy(self):
        url = "wss://127.0.0.1:%d/voice/stream" % self.nginx.https_port
        for headers in ([], ["X-Twilio-Signature: %s" % RequestValidator("wrong").compute_signature(url, {})]):
            with self.assertRaises(websocket.WebSocketBadStatusException) as cm:
                websocket.create_connection(url, timeout=10, header=headers, sslopt={"ca_certs": self.nginx.cert})
            self.assertEqual(cm.exception.status_code, 403)

    def test_an_oversized_body_is_refused_before_switchboard(self):
        params = incoming_params(call_sid(9005), to=STARTER, Padding="x" * (100 * 1024))
        status, _, _ = self.nginx.signed_post("/voice/incoming", params)
        self.assertEqual(status, 413)
        # nginx said no: the request never reached the server.
        self.assertNotIn(call_sid(9005), self.sb.logs())
        with_len = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(10 * 1024 * 1024)}
        status, _, _ = self.nginx.request("POST", "/voice/status", b"", with_len)
        self.assertEqual(status, 413)
        # A webhook just under the limit is still answered.
        params = incoming_params(call_sid(9006), to=STARTER, Padding="x" * (60 * 1024))
        self.assertEqual(self.nginx.signed_post("/voice/incoming", params)[0], 200)

    def test_a_signature_for_another_host_does_not_pass_however_the_headers_say(self):
        params = incoming_params(call_sid(9007), to=STARTER)
        evil = "https://evil.example/voice/incoming"
        for headers in ({}, {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}):
            status, _, body = self.nginx.signed_post("/voice/incoming", params, url=evil, headers=headers)
            self.assertEqual(status, 403, (headers, body))
        # A Host other than the public one does not reach switchboard at all.
        status, _, body = self.nginx.signed_post("/voice/incoming", params, url=evil, headers={"Host": "evil.example"})
        self.assertEqual(status, 421, body)
        status, _, _ = self.nginx.signed_post("/voice/incoming", params, headers={"X-Twilio-Signature": "x"})
        self.assertEqual(status, 403)

    def test_only_twilio_s_paths_and_the_health_check_are_public(self):
        self.assertEqual(self.nginx.request("GET", "/healthz")[:3:2], (200, b"ok\n"))
        self.assertEqual(self.nginx.request("GET", "/metrics")[0], 404)
        self.assertEqual(self.nginx.request("GET", "/")[0], 404)
        # The metrics stay on the server's own address.
        self.assertEqual(self.sb.request("GET", "/metrics")[0], 200)

    def test_plain_http_is_sent_to_https(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.nginx.http_port, timeout=10)
        try:
            conn.request("POST", "/voice/incoming", body=b"x=1",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
        self.assertEqual(resp.status, 301)
        self.assertEqual(resp.getheader("Location"), "https://127.0.0.1/voice/incoming")


class InstancesBehindNginxTest(unittest.TestCase):
    """Two instances on one store behind nginx, routed by docs/deploy.md's map of the
    sb_instance cookie: a new call goes to either, and the call's next webhooks, which carry
    the cookie its first answer set, to the instance that set it."""

    @classmethod
    def setUpClass(cls):
        # Undone in the reverse order, also when a step here fails: nginx, then b, then a.
        cls.a = Switchboard()
        cls.addClassCleanup(cls.a.close)
        cls.a.seed()
        cls.b = Switchboard()
        cls.b.db = cls.a.db  # one store, a's
        cls.addClassCleanup(cls.b.close)
        ports = {"sb-a": free_port(), "sb-b": free_port()}
        cls.nginx = Nginx(ports["sb-a"], instances=ports)
        cls.addClassCleanup(cls.nginx.stop)
        for name, sb in (("sb-a", cls.a), ("sb-b", cls.b)):
            sb.start("--threads", "2", base_url=cls.nginx.base_url, port=ports[name],
                     extra_env={"SWITCHBOARD_INSTANCE": name})

    def instance_of(self, headers):
        m = re.match(r"sb_instance=([\w.-]+);", headers.get("set-cookie", ""))
        self.assertIsNotNone(m, headers)
        return m.group(1)

    def test_new_calls_go_to_either_instance(self):
        seen = set()
        for n in range(6):
            status, headers, body = self.nginx.signed_post("/voice/incoming",
                                                           incoming_params(call_sid(9500 + n), to=STARTER))
            self.assertEqual(status, 200, body)
            seen.add(self.instance_of(headers))
        self.assertEqual(seen, {"sb-a", "sb-b"})

    def test_a_call_keeps_to_the_instance_its_cookie_names(self):
        for n, frm in enumerate(("+15551234567", "+5215512345678")):  # one caller in Spanish
            sid = call_sid(9600 + n)
            status, headers, body = self.nginx.signed_post("/voice/incoming",
                                                           incoming_params(sid, frm=frm, to=STARTER))
            self.assertEqual(status, 200, body)
            name = self.instance_of(headers)
            if frm.startswith("+52"):
                self.assertIn("Gracias por llamar a Acme.", body.decode())
            for turn in range(4):
                status, headers, body = self.nginx.signed_post(
                    "/voice/gather", incoming_params(sid, frm=frm, to=STARTER, SpeechResult="¿Qué horario tienen?"
                                                     if frm.startswith("+52") else "What are your hours?",
                                                     Confidence="0.9"),
                    headers={"Cookie": "sb_instance=%s" % name})
                self.assertEqual(status, 200, body)
                self.assertEqual(self.instance_of(headers), name, "turn %d went to another instance" % turn)
        # An unknown name is a new call's: any instance answers.
        status, headers, _ = self.nginx.signed_post("/voice/incoming", incoming_params(call_sid(9700), to=STARTER),
                                                    headers={"Cookie": "sb_instance=sb-zz"})
        self.assertEqual(status, 200)
        self.assertIn(self.instance_of(headers), ("sb-a", "sb-b"))


class BehindNginxTrustingItTest(BehindNginxTest):
    """--trust-proxy and no PUBLIC_BASE_URL: the scheme and host come from nginx's X-Forwarded-*
    headers, which it sets over any the caller sent."""

    serve_flags = ("--trust-proxy",)

    @classmethod
    def start_server(cls, port):
        cls.sb.port = port
        cls.sb.base_url = cls.nginx.base_url
        env = cls.sb.env(TWILIO_AUTH_TOKEN=TOKEN)
        cls.sb.log = open(cls.sb.log_path, "ab")
        cls.sb.proc = subprocess.Popen([BINARY, "serve", "--listen", "127.0.0.1:%d" % port, *cls.serve_flags],
                                       env=env, stdout=cls.sb.log, stderr=subprocess.STDOUT)
        cls.sb.wait_ready(listening_line=True)


if __name__ == "__main__":
    unittest.main()
