"""The HTTP API for queueing outbound calls (docs/outbound.md, "The HTTP API").

Every answer, success or error, is checked against docs/openapi.yaml: its
status must be one the operation declares, and its JSON body must match the
declared schema (python3-jsonschema, Draft 2020-12, the document's own $refs).
"""
import json
import os
import secrets
import socket
import time
import unittest

import jsonschema
import yaml

from tests.integration.harness import PRO, ROOT, Switchboard
from tests.integration.test_outbound_placer import Placer, creates, wait_for
from tests.integration.test_sim_api import ApiServer

TO = "+15551234567"
SPANISH_SAY = "¿Hola José Núñez?"
SPANISH_NAME = "José Núñez"

with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
    OPENAPI = yaml.safe_load(f)


def resolve(node):
    """Follows a local $ref of the document (responses and schemas)."""
    while isinstance(node, dict) and "$ref" in node:
        target = OPENAPI
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_openapi(testcase, template, method, status, headers, body):
    """Asserts that an answer is one the document declares; returns its JSON."""
    op = OPENAPI["paths"][template][method.lower()]
    testcase.assertIn(str(status), op["responses"],
                      "%s %s answered %d, which the document does not declare: %r" %
                      (method, template, status, body[:300]))
    declared = resolve(op["responses"][str(status)])
    testcase.assertEqual(headers.get("content-type"), "application/json", (status, body[:300]))
    for name in declared.get("headers", {}):
        testcase.assertIn(name.lower(), headers, "%d without its %s header" % (status, name))
    doc = json.loads(body.decode("utf-8"))
    schema = declared["content"]["application/json"]["schema"]
    # The schema is validated inside the whole document, so that its $refs resolve.
    root = dict(OPENAPI, **{"$ref": schema["$ref"]}) if "$ref" in schema else dict(OPENAPI, **schema)
    jsonschema.Draft202012Validator(root).validate(doc)
    return doc


class ApiServerMixin:
    """A seeded store with two tenants and a key each, and a server without Twilio credentials."""

    server_flags = ()
    server_env = {}

    def setUp(self):
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)
        self.sb.seed()
        self.key = self.new_key("acme")
        self.other_key = self.new_key("latino")
        self.start_server()

    def start_server(self):
        env = dict(self.server_env)
        orig = self.sb.env

        def env_with(**extra):
            e = orig(**extra)
            if "PUBLIC_BASE_URL" in extra:
                e.update(env)
            return e

        self.sb.env = env_with
        self.sb.start(*self.server_flags)
        wait_for(lambda: "server.listening" in self.sb.logs(), timeout=10)

    def new_key(self, tenant, name=None):
        args = ["apikeys", "create", "--tenant", tenant, "--json"]
        if name:
            args += ["--name", name]
        return json.loads(self.sb.cli(*args).stdout)["key"]

    def call(self, method, path, body=None, key="default", headers=None, raw=None,
             template=None):
        h = {}
        if key == "default":
            key = self.key
        if key:
            h["Authorization"] = "Bearer " + key
        data = b""
        if raw is not None:
            data = raw
            h["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        status, hdrs, resp = self.sb.request(method, path, data, h)
        template = template or ("/api/v1/calls" if path == "/api/v1/calls" else "/api/v1/calls/{id}")
        return status, hdrs, check_openapi(self, template, method, status, hdrs, resp)

    def post(self, body, **kw):
        return self.call("POST", "/api/v1/calls", body, **kw)

    def get(self, job_id, **kw):
        return self.call("GET", "/api/v1/calls/%s" % job_id, **kw)

    def assert_error(self, answer, status, code, field="any"):
        got, _, doc = answer
        self.assertEqual(got, status, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertTrue(doc["error"]["message"].startswith("error: "), doc)
        if field != "any":
            self.assertEqual(doc["error"]["field"], field, doc)
        return doc["error"]["message"]

    def jobs(self):
        return json.loads(self.sb.cli("calls", "jobs", "--json").stdout)

    def serving(self):
        status, _, body = self.sb.request("GET", "/healthz")
        return status == 200 and body == b"ok\n"


class CreateAndGetTest(ApiServerMixin, unittest.TestCase):
    def test_a_spanish_call_is_queued_and_read_back_exactly(self):
        status, hdrs, job = self.post({"to": TO, "say": SPANISH_SAY, "name": SPANISH_NAME,
                                       "lang": "es-MX", "amd": True, "retries": 2,
                                       "sms_fallback": True})
        self.assertEqual(status, 201)
        self.assertEqual(job["say"], SPANISH_SAY)
        self.assertEqual(job["name"], SPANISH_NAME)
        self.assertEqual((job["tenant"], job["to"], job["kind"], job["status"], job["lang"]),
                         ("acme", TO, "say", "queued", "es-MX"))
        self.assertEqual((job["amd"], job["max_retries"], job["sms_fallback"]), (True, 2, True))
        status, _, again = self.get(job["id"])
        self.assertEqual(status, 200)
        self.assertEqual(again, job)
        # The same code gives the command line's view: the same object.
        self.assertEqual(json.loads(self.sb.cli("calls", "job", str(job["id"]), "--json").stdout),
                         job)
        # Neither the key nor the whole number is in the server's log.
        logs = self.sb.logs()
        self.assertIn("api.call_queued job=%d tenant=acme to=***4567" % job["id"], logs)
        self.assertNotIn(TO, logs)
        self.assertNotIn(self.key, logs)
        self.assertNotIn(self.key[3:19], logs)

    def test_flow_agent_from_and_a_local_time(self):
        self.sb.cli("tenants", "set", "acme", "--timezone", "America/New_York")
        path = os.path.join(self.sb.dir, "desk.json")
        with open(path, "w") as f:
            json.dump({"name": "desk", "start": "a",
                       "nodes": {"a": {"type": "agent", "agent": "receptionist"}}}, f)
        self.sb.cli("flows", "import", path, "--tenant", "acme")
        self.sb.cli("agents", "add", "front-desk", "--tenant", "acme", "--base-url",
                    "https://api.example.com/v1", "--model", "gpt-4o-mini")
        status, _, job = self.post({"to": TO, "flow": "desk"})
        self.assertEqual((status, job["kind"], job["target"]), (201, "flow", "desk"), job)
        next_year = time.gmtime().tm_year + 1
        status, _, job = self.post({"to": TO, "agent": "front-desk", "from": PRO,
                                    "at": "%d-01-15T09:30" % next_year})
        self.assertEqual(status, 201, job)
        self.assertEqual((job["kind"], job["target"], job["from"]), ("agent", "front-desk", PRO))
        self.assertEqual(job["not_before"], "%d-01-15T14:30:00Z" % next_year)  # EST
        status, _, job = self.post({"to": TO, "say": "hi", "at": "%d-07-15T09:30:00+02:00" % next_year,
                                    "from": None, "name": None})
        self.assertEqual(status, 201, job)
        self.assertEqual(job["not_before"], "%d-07-15T07:30:00Z" % next_year)

    def test_a_job_is_queued_without_twilio_credentials(self):
        # This server has none: the placer's thread still queues, and logs why nothing is placed.
        self.assertIn("outbound.disabled", self.sb.logs())
        status, _, job = self.post({"to": TO, "say": "hi"})
        self.assertEqual(status, 201)
        self.assertEqual(self.jobs()[0]["id"], job["id"])


class IdempotencyTest(ApiServerMixin, unittest.TestCase):
    def test_same_key_same_request_gives_the_first_job_back(self):
        body = {"to": TO, "say": SPANISH_SAY, "name": SPANISH_NAME, "retries": 1}
        status, _, first = self.post(body, headers={"Idempotency-Key": "order-1234"})
        self.assertEqual(status, 201)
        status, _, second = self.post(body, headers={"Idempotency-Key": "order-1234"})
        self.assertEqual(status, 200)
        self.assertEqual(second, first)
        # The same request spelt differently (order, nulls) is the same request.
        respelt = {"retries": 1, "name": SPANISH_NAME, "amd": None, "say": SPANISH_SAY, "to": TO}
        status, _, third = self.post(respelt, headers={"Idempotency-Key": "order-1234"})
        self.assertEqual((status, third["id"]), (200, first["id"]))
        self.assertEqual(len(self.jobs()), 1)

    def test_same_key_another_request_is_422(self):
        status, _, first = self.post({"to": TO, "say": "hi"}, headers={"Idempotency-Key": "k-1"})
        self.assertEqual(status, 201)
        msg = self.assert_error(self.post({"to": TO, "say": "bye"}, headers={"Idempotency-Key": "k-1"}),
                                422, "idempotency_key_reused", None)
        self.assertIn("Idempotency-Key", msg)
        self.assertEqual(len(self.jobs()), 1)
        # Keys are per tenant: the other tenant's k-1 is its own.
        status, _, other = self.post({"to": TO, "say": "bye"}, key=self.other_key,
                                     headers={"Idempotency-Key": "k-1"})
        self.assertEqual(status, 201, other)
        # Without a key, the same request twice is two jobs.
        self.assertEqual(self.post({"to": TO, "say": "hi"})[0], 201)
        self.assertEqual(self.post({"to": TO, "say": "hi"})[0], 201)
        self.assertEqual(len(self.jobs()), 4)

    def test_a_replay_after_its_time_passed_still_gives_the_job(self):
        soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30))
        body = {"to": TO, "say": "hi", "at": soon}
        self.assertEqual(self.post(body, headers={"Idempotency-Key": "late"})[0], 201)
        self.assertEqual(self.post(body, headers={"Idempotency-Key": "late"})[0], 200)

    def test_a_bad_key_is_400(self):
        for key in ("has space", "x" * 256, "ñ"):
            self.assert_error(self.post({"to": TO, "say": "hi"},
                                        headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")}),
                              400, "invalid_idempotency_key", "Idempotency-Key")
        self.assertEqual(self.jobs(), [])


class AttackerTest(ApiServerMixin, unittest.TestCase):
    def test_no_key_a_wrong_key_and_a_revoked_key_are_401(self):
        self.assert_error(self.post({"to": TO, "say": "hi"}, key=None), 401, "unauthorized")
        self.assert_error(self.post({"to": TO, "say": "hi"}, key=None,
                                    headers={"Authorization": "Basic " + self.key}),
                          401, "unauthorized")
        self.assert_error(self.post({"to": TO, "say": "hi"}, key="sb_" + secrets.token_hex(32)),
                          401, "unauthorized")
        self.assert_error(self.post({"to": TO, "say": "hi"}, key="sb_' OR 1=1 --"), 401, "unauthorized")
        self.assert_error(self.post({"to": TO, "say": "hi"}, key=self.key.upper()), 401, "unauthorized")
        self.assert_error(self.get(1, key=None), 401, "unauthorized")
        status, hdrs, _ = self.post({"to": TO, "say": "hi"}, key=None)
        self.assertEqual(hdrs["www-authenticate"], 'Bearer realm="switchboard"')
        revoked = self.new_key("acme", name="old")
        keys = json.loads(self.sb.cli("apikeys", "list", "--tenant", "acme", "--json").stdout)
        old = [k for k in keys if k["name"] == "old"][0]
        self.assertTrue(revoked.startswith(old["prefix"]))
        self.assertNotIn(revoked, json.dumps(keys))
        self.assertEqual(self.post({"to": TO, "say": "hi"}, key=revoked)[0], 201)
        self.sb.cli("apikeys", "revoke", str(old["id"]), "--tenant", "acme")
        self.assert_error(self.post({"to": TO, "say": "hi"}, key=revoked), 401, "unauthorized")
        self.assertEqual(len(self.jobs()), 1)
        self.assertNotIn(revoked, self.sb.logs())
        self.assertTrue(self.serving())

    def test_another_tenants_job_is_404_like_a_missing_one(self):
        status, _, job = self.post({"to": TO, "say": "hi"})
        self.assertEqual(status, 201)
        theirs = self.assert_error(self.get(job["id"], key=self.other_key), 404, "not_found")
        missing = self.assert_error(self.get(job["id"] + 1000, key=self.other_key), 404, "not_found")
        self.assertEqual(theirs.replace(str(job["id"]), "N"), missing.replace(str(job["id"] + 1000), "N"))
        for bad in ("abc", "0", "-1", "1.0", "9" * 19, "1%20OR%201=1"):
            self.assert_error(self.get(bad), 404, "not_found")

    def test_malformed_bodies_and_wrong_types_are_400_naming_the_field(self):
        cases = [
            (b'{"to": "+15551234567", "say": ', "invalid_json", None),
            (b"[]", "invalid_json", None),
            (b'"just a string"', "invalid_json", None),
            (b'{"to": "+15551234567", "to": "+15551234568", "say": "x"}', "invalid_json", None),
            (b'{"to": "+15551234567", "say": "\xff\xfe"}', "invalid_json", None),
            (b'{"to": "+15551234567", "say": "a\\u0000b"}', "invalid_json", None),
            (b"", "invalid_json", None),
        ]
        for raw, code, field in cases:
            self.assert_error(self.post(None, raw=raw), 400, code, field)
        fields = [
            ({"to": 15551234567, "say": "x"}, "to"),
            ({"to": "+1555", "say": "x"}, "to"),
            ({"to": "15551234567", "say": "x"}, "to"),
            ({"to": "+1" + "5" * 40, "say": "x"}, "to"),
            ({"to": TO, "say": "x", "from": "x"}, "from"),
            ({"to": TO, "say": "x", "amd": "yes"}, "amd"),
            ({"to": TO, "say": "x", "sms_fallback": 1}, "sms_fallback"),
            ({"to": TO, "say": "x", "retries": 11}, "retries"),
            ({"to": TO, "say": "x", "retries": -1}, "retries"),
            ({"to": TO, "say": "x", "retries": 1.5}, "retries"),
            ({"to": TO, "say": "x", "retries": "2"}, "retries"),
            ({"to": TO, "say": "x", "at": "tomorrow"}, "at"),
            ({"to": TO, "say": "x", "at": 1767225600}, "at"),
            ({"to": TO, "say": "x", "lang": "not a tag"}, "lang"),
            ({"to": TO, "say": "x", "name": "two\nlines"}, "name"),
            ({"to": TO, "say": "x" * 1001}, "say"),
            ({"to": TO, "say": ["x"]}, "say"),
            ({"to": TO, "flow": "desk", "say": "x"}, "say"),
            ({"to": TO}, "flow"),
            ({"say": "x"}, "to"),
            ({"to": TO, "agent": "no spaces allowed"}, "agent"),
        ]
        for body, field in fields:
            msg = self.assert_error(self.post(body), 400, "invalid_field", field)
            self.assertIn(field if field != "name" else "name", msg + field)
        self.assert_error(self.post({"to": TO, "say": "x", "retry": 2}), 400, "unknown_field", None)
        self.assertEqual(self.jobs(), [])
        self.assertTrue(self.serving())

    def test_refusals_name_what_is_wrong(self):
        msg = self.assert_error(self.post({"to": TO, "flow": "nope"}), 422, "unknown_flow", "flow")
        self.assertIn("flow 'nope' of tenant 'acme' does not exist", msg)
        self.assert_error(self.post({"to": TO, "agent": "nope"}), 422, "unknown_agent", "agent")
        self.assert_error(self.post({"to": TO, "say": "x", "from": "+15005550009"}), 422,
                          "unknown_from", "from")
        self.assert_error(self.post({"to": TO, "say": "x", "at": "2020-01-01T09:00Z"}), 422,
                          "time_in_the_past", "at")
        self.sb.sql("INSERT INTO opt_outs(tenant, number, at) VALUES('acme', ?, ?)", (TO, int(time.time())))
        msg = self.assert_error(self.post({"to": TO, "say": "x"}), 409, "opted_out", "to")
        self.assertIn("opted out (STOP) of tenant 'acme'", msg)
        # The other tenant's list is its own.
        self.assertEqual(self.post({"to": TO, "say": "x"}, key=self.other_key)[0], 201)
        self.assertEqual(len(self.jobs()), 1)

    def test_http_level_refusals(self):
        ok = json.dumps({"to": TO, "say": "hi"}).encode()
        self.assert_error(self.post(None, raw=ok, headers={"Content-Type": "text/plain"}),
                          415, "unsupported_media_type")
        self.assert_error(self.post(None, raw=ok, headers={"Content-Type": "application/json; charset=latin-1"}),
                          415, "unsupported_media_type")
        self.assertEqual(self.post(None, raw=ok, headers={"Content-Type": "Application/JSON; charset=UTF-8"})[0], 201)
        self.assert_error(self.post(None, raw=b"{" + b" " * 17000 + b"}"), 413, "body_too_large")
        for method, path, template, allow in (("PUT", "/api/v1/calls", None, "POST"),
                                               ("GET", "/api/v1/calls", None, "POST"),
                                               ("DELETE", "/api/v1/calls/1", None, "GET"),
                                               ("POST", "/api/v1/calls/1", None, "GET")):
            status, hdrs, body = self.sb.request(method, path, b"", {"Authorization": "Bearer " + self.key})
            self.assertEqual(status, 405, body)
            self.assertEqual(hdrs.get("allow"), allow)
            doc = json.loads(body)
            self.assertEqual(doc["error"]["code"], "method_not_allowed")
        # No Content-Length, and a chunked body: 411, the connection closed.
        for head in (b"", b"Transfer-Encoding: chunked\r\n"):
            answer = self.raw(b"POST /api/v1/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                              self.key.encode() + b"\r\nContent-Type: application/json\r\n" + head +
                              b"\r\n" + (b"5\r\n{}\r\n0\r\n\r\n" if head else b""))
            self.assertTrue(answer.startswith(b"HTTP/1.1 411 "), answer)
            self.assertIn(b'"code":"length_required"', answer)
        self.assertTrue(self.serving())

    def raw(self, data, wait=5.0):
        with socket.create_connection(("127.0.0.1", self.sb.port), timeout=wait) as s:
            s.sendall(data)
            out = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except socket.timeout:
                pass
            return out

    def test_pipelined_requests(self):
        get = ("GET /api/v1/calls/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" %
               self.key).encode()
        self.assertEqual(self.post({"to": TO, "say": "hi"})[0], 201)
        # Two GETs in one write: both answered, in order.
        answer = self.raw(get + get.replace(b"HTTP/1.1\r\nHost", b"HTTP/1.1\r\nConnection: close\r\nHost"))
        self.assertEqual(answer.count(b"HTTP/1.1 200 OK"), 2, answer)
        # A POST pipelined behind another: the first is answered, the connection then closes.
        body = json.dumps({"to": TO, "say": "hi"}).encode()
        post = (b"POST /api/v1/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + self.key.encode() +
                b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        answer = self.raw(post + post, wait=3)
        self.assertEqual(answer.count(b"HTTP/1.1 201 Created"), 1, answer)
        self.assertTrue(self.serving())

    def test_many_keys_guessed_in_a_row_change_nothing(self):
        for _ in range(50):
            self.assertEqual(self.post({"to": TO, "say": "hi"}, key="sb_" + secrets.token_hex(32))[0], 401)
        self.assertEqual(self.jobs(), [])
        self.assertEqual(self.post({"to": TO, "say": "hi"})[0], 201)


class SlowBodyTest(ApiServerMixin, unittest.TestCase):
    server_flags = ("--body-timeout", "1")

    def test_a_body_sent_slowly_is_408_and_the_server_keeps_serving(self):
        body = json.dumps({"to": TO, "say": "hi"}).encode()
        with socket.create_connection(("127.0.0.1", self.sb.port), timeout=10) as s:
            s.sendall(b"POST /api/v1/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      self.key.encode() + b"\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
            answer = b""
            deadline = time.time() + 5
            while time.time() < deadline:
                try:
                    s.sendall(body[5:6])
                except OSError:
                    break
                try:
                    s.settimeout(0.4)
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
                except socket.timeout:
                    pass
        self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer)
        head, _, doc = answer.partition(b"\r\n\r\n")
        check_openapi(self, "/api/v1/calls", "POST", 408, {"content-type": "application/json"}, doc)
        self.assertEqual(self.jobs(), [])
        self.assertEqual(self.post({"to": TO, "say": "hi"})[0], 201)


class AllowlistTest(ApiServerMixin, unittest.TestCase):
    server_env = {"SWITCHBOARD_OUTBOUND_ALLOW": "+15551230000, " + TO}

    def test_the_servers_allowlist_refuses_other_numbers(self):
        self.assertEqual(self.post({"to": TO, "say": "hi"})[0], 201)
        msg = self.assert_error(self.post({"to": "+15559876543", "say": "hi"}), 422, "not_allowed", "to")
        self.assertIn("is not in SWITCHBOARD_OUTBOUND_ALLOW", msg)
        self.assertEqual(len(self.jobs()), 1)


class PlacedTest(ApiServerMixin, unittest.TestCase):
    """A call queued through the API is placed by the server against `switchboard sim api`."""

    def setUp(self):
        self.sim = ApiServer()
        self.addCleanup(self.sim.stop)
        self.sb = Placer(self.sim)
        self.addCleanup(self.sb.close)
        self.key = self.new_key("acme")
        self.other_key = self.new_key("latino")
        self.sb.start()
        wait_for(lambda: "server.listening" in self.sb.logs(), timeout=10)

    def test_an_api_job_is_placed_once_and_spoken_in_spanish(self):
        status, _, job = self.post({"to": TO, "say": "¿Hola {{name}}?", "name": "José Núñez",
                                    "lang": "es-MX", "from": PRO})
        self.assertEqual(status, 201, job)
        done = wait_for(lambda: (lambda j: j if j["status"] == "completed" else None)(
            self.get(job["id"])[2]), timeout=30)
        self.assertTrue(done, (self.get(job["id"])[2], self.sb.logs()[-3000:]))
        self.assertTrue(done["call_sid"].startswith("CA"))
        self.assertEqual(done["attempts"], 1)
        self.assertEqual(len(creates(self.sim, TO)), 1)
        self.assertIn(SPANISH_SAY, self.sim.call_logs(done["call_sid"]))


if __name__ == "__main__":
    unittest.main()
