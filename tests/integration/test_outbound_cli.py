"""Outbound calls from the command line: calls create, jobs, job, hangup, redirect; campaigns.

The CLI only queues jobs (the server's placer places them), so most tests
read the store back through `calls job --json` and `campaigns show --json`.
hangup and redirect go to `switchboard sim api`, started on a free port of
127.0.0.1, with calls placed by the official helper library.

No command marks a number opted out yet (a STOP reply does, in the server),
so the do-not-call test writes the row into the store's opt_outs table
itself (sb.sql, on either engine), as the server would.
"""
import datetime
import json
import os
import time
import unittest

from twilio.twiml.voice_response import VoiceResponse

from tests.integration.harness import TOKEN, Switchboard
from tests.integration.test_sim_api import ACCOUNT, FROM, TO, ApiServer, wait_for
from tests.integration.twilio_app import App

NEXT_YEAR = datetime.datetime.now(datetime.timezone.utc).year + 1
DESK_FLOW = {"name": "desk", "start": "a", "nodes": {"a": {"type": "agent", "agent": "receptionist"}}}
SPANISH_SAY = "¿Hola {{name}}? Le llamamos de la clínica: su cita es mañana."


class OutboundCliTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()
        self.sb.cli("tenants", "add", "acme", "--timezone", "America/New_York")
        self.sb.cli("numbers", "add", FROM, "--tenant", "acme")
        self.sb.cli("tenants", "add", "other")
        self.sb.cli("numbers", "add", "+15005550009", "--tenant", "other")
        path = os.path.join(self.sb.dir, "desk.json")
        with open(path, "w") as f:
            json.dump(DESK_FLOW, f)
        self.sb.cli("flows", "import", path, "--tenant", "acme")
        self.sb.cli("agents", "add", "front-desk", "--tenant", "acme", "--base-url",
                    "https://api.example.com/v1", "--model", "gpt-4o-mini")

    def tearDown(self):
        self.sb.close()

    def cli(self, *args, **env):
        return self.sb.cli(*args, env=self.sb.env(**env) if env else None)

    def refused(self, *args, code=1, **env):
        res = self.sb.cli(*args, check=False, env=self.sb.env(**env) if env else None)
        self.assertEqual(res.returncode, code, (args, res.stderr))
        self.assertTrue(res.stderr.startswith("error: "), res.stderr)
        self.assertEqual(res.stderr.count("\n"), 1, res.stderr)
        self.assertEqual(res.stdout, "")
        return res.stderr

    def create(self, *args, **env):
        return json.loads(self.cli("calls", "create", "--tenant", "acme", *args, "--json", **env).stdout)

    def job(self, job_id):
        return json.loads(self.cli("calls", "job", str(job_id), "--json").stdout)

    def csv(self, name, text):
        path = os.path.join(self.sb.dir, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return path

    # ---- calls create ----

    def test_create_queues_a_flow_an_agent_and_a_message(self):
        out = self.cli("calls", "create", "--tenant", "acme", "--to", TO, "--flow", "desk").stdout
        self.assertRegex(out, r"^queued job \d+\n$")
        job_id = int(out.split()[2])
        flow = self.job(job_id)
        self.assertEqual((flow["status"], flow["kind"], flow["target"], flow["to"], flow["from"]),
                         ("queued", "flow", "desk", TO, None))
        self.assertIsNone(flow["not_before"])
        agent = self.create("--to", TO, "--agent", "front-desk", "--from", FROM, "--amd",
                            "--retries", "2", "--sms-fallback", "--lang", "es-MX")
        self.assertEqual((agent["kind"], agent["target"], agent["from"], agent["amd"],
                          agent["max_retries"], agent["sms_fallback"], agent["lang"]),
                         ("agent", "front-desk", FROM, True, 2, True, "es-MX"))
        jobs = json.loads(self.cli("calls", "jobs", "--json").stdout)
        self.assertEqual([j["id"] for j in jobs], [agent["id"], job_id])
        self.assertEqual(json.loads(self.cli("calls", "jobs", "--tenant", "other", "--json").stdout), [])
        queued = json.loads(self.cli("calls", "jobs", "--status", "queued", "--json").stdout)
        self.assertEqual(len(queued), 2)
        self.assertEqual(json.loads(self.cli("calls", "jobs", "--status", "placed", "--json").stdout), [])

    def test_a_spanish_name_and_message_round_trip(self):
        job = self.create("--to", TO, "--say", SPANISH_SAY, "--name", "José Núñez", "--lang", "es-MX")
        again = self.job(job["id"])
        self.assertEqual((again["say"], again["name"], again["lang"], again["kind"]),
                         (SPANISH_SAY, "José Núñez", "es-MX", "say"))
        shown = self.cli("calls", "job", str(job["id"])).stdout
        self.assertIn("José Núñez", shown)
        self.assertIn("¿Hola", shown)

    def test_tables_shorten_numbers_and_json_keeps_them(self):
        job = self.create("--to", TO, "--say", "hi")
        table = self.cli("calls", "jobs").stdout
        self.assertIn("***4567", table)
        self.assertNotIn(TO, table)
        self.assertNotIn(TO, self.cli("calls", "job", str(job["id"])).stdout)
        self.assertIn(TO, self.cli("calls", "jobs", "--json").stdout)

    def test_at_without_an_offset_is_the_tenants_local_time(self):
        winter = self.create("--to", TO, "--say", "hi", "--at", "%d-01-15T09:30" % NEXT_YEAR)
        self.assertEqual(winter["not_before"], "%d-01-15T14:30:00Z" % NEXT_YEAR)  # EST, UTC-5
        summer = self.create("--to", TO, "--say", "hi", "--at", "%d-07-15 09:30:00" % NEXT_YEAR)
        self.assertEqual(summer["not_before"], "%d-07-15T13:30:00Z" % NEXT_YEAR)  # EDT, UTC-4
        self.assertEqual(self.job(summer["id"])["not_before"], summer["not_before"])
        offset = self.create("--to", TO, "--say", "hi", "--at", "%d-07-15T09:30:00+02:00" % NEXT_YEAR)
        self.assertEqual(offset["not_before"], "%d-07-15T07:30:00Z" % NEXT_YEAR)
        utc = self.create("--to", TO, "--say", "hi", "--at", "%d-07-15T09:30:00Z" % NEXT_YEAR)
        self.assertEqual(utc["not_before"], "%d-07-15T09:30:00Z" % NEXT_YEAR)
        # The other tenant has no zone: UTC.
        other = json.loads(self.cli("calls", "create", "--tenant", "other", "--to", TO, "--say", "hi",
                                    "--at", "%d-07-15T09:30" % NEXT_YEAR, "--json").stdout)
        self.assertEqual(other["not_before"], "%d-07-15T09:30:00Z" % NEXT_YEAR)
        # A time typed a moment ago still counts.
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=20)
        self.create("--to", TO, "--say", "hi", "--at", now.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def test_usage_errors_exit_2(self):
        base = ("calls", "create", "--tenant", "acme")
        self.assertIn("--to '+1555' is not an E.164 number", self.refused(*base, "--to", "+1555", "--say", "x", code=2))
        self.assertIn("--to '15551234567'", self.refused(*base, "--to", "15551234567", "--say", "x", code=2))
        self.assertIn("exactly one of --flow, --agent and --say",
                      self.refused(*base, "--to", TO, "--flow", "desk", "--say", "x", code=2))
        self.assertIn("exactly one of", self.refused(*base, "--to", TO, code=2))
        self.assertIn("--at 'tomorrow' is not an ISO 8601 time",
                      self.refused(*base, "--to", TO, "--say", "x", "--at", "tomorrow", code=2))
        self.assertIn("--at '%d-02-30T09:00'" % NEXT_YEAR,
                      self.refused(*base, "--to", TO, "--say", "x", "--at", "%d-02-30T09:00" % NEXT_YEAR, code=2))
        self.assertIn("--retries '11'", self.refused(*base, "--to", TO, "--say", "x", "--retries", "11", code=2))
        self.assertIn("needs --tenant", self.refused("calls", "create", "--to", TO, "--say", "x", code=2))
        self.assertIn("--from 'x'", self.refused(*base, "--to", TO, "--say", "x", "--from", "x", code=2))
        self.assertIn("language", self.refused(*base, "--to", TO, "--say", "x", "--lang", "not a tag", code=2))
        self.assertIn("job 'x' is not an id", self.refused("calls", "job", "x", code=2))
        self.assertIn("status 'done'", self.refused("calls", "jobs", "--status", "done", code=2))

    def test_refusals_exit_1_and_queue_nothing(self):
        base = ("calls", "create", "--to", TO)
        self.assertIn("tenant 'nobody' does not exist", self.refused(*base, "--tenant", "nobody", "--say", "x"))
        self.assertIn("flow 'nope' of tenant 'acme' does not exist",
                      self.refused(*base, "--tenant", "acme", "--flow", "nope"))
        self.assertIn("agent 'nope' of tenant 'acme' does not exist",
                      self.refused(*base, "--tenant", "acme", "--agent", "nope"))
        self.assertIn("flow 'desk' of tenant 'other' does not exist",
                      self.refused(*base, "--tenant", "other", "--flow", "desk"))
        self.assertIn("--from '+15005550009' is not a number of tenant 'acme'",
                      self.refused(*base, "--tenant", "acme", "--say", "x", "--from", "+15005550009"))
        self.assertIn("--at '2020-01-01T09:00Z' is in the past",
                      self.refused(*base, "--tenant", "acme", "--say", "x", "--at", "2020-01-01T09:00Z"))
        self.assertIn("job 99 does not exist", self.refused("calls", "job", "99"))
        self.assertEqual(json.loads(self.cli("calls", "jobs", "--json").stdout), [])

    def test_the_allowlist_refuses_every_other_number(self):
        allow = {"SWITCHBOARD_OUTBOUND_ALLOW": "+15551230000, %s" % TO}
        self.create("--to", TO, "--say", "hi", **allow)
        err = self.refused("calls", "create", "--tenant", "acme", "--to", "+15559876543", "--say", "hi", **allow)
        self.assertIn("'+15559876543' is not in SWITCHBOARD_OUTBOUND_ALLOW", err)
        err = self.refused("calls", "create", "--tenant", "acme", "--to", TO, "--say", "hi",
                           SWITCHBOARD_OUTBOUND_ALLOW="+1555,%s" % TO)
        self.assertIn("SWITCHBOARD_OUTBOUND_ALLOW holds '+1555'", err)
        self.assertEqual(len(json.loads(self.cli("calls", "jobs", "--json").stdout)), 1)

    def opt_out(self, tenant, number):
        self.sb.sql("INSERT INTO opt_outs(tenant, number, at) VALUES(?, ?, ?)", (tenant, number, int(time.time())))

    def test_an_opted_out_number_is_refused(self):
        self.opt_out("acme", TO)
        err = self.refused("calls", "create", "--tenant", "acme", "--to", TO, "--say", "hi")
        self.assertIn("'%s' opted out (STOP) of tenant 'acme'" % TO, err)
        # Another tenant's list is its own.
        self.cli("calls", "create", "--tenant", "other", "--to", TO, "--say", "hi")

    # ---- campaigns ----

    def test_import_reports_bad_rows_with_their_lines_and_queues_the_good_ones(self):
        self.opt_out("acme", "+15551230005")
        path = self.csv("spring.csv",
                        "to,name,lang,notes\r\n"
                        "+15551230001,\"Núñez, José\",es-MX,\"said \"\"call me\"\"\"\r\n"
                        "+1555,Bad Number,,\r\n"
                        "+15551230002,Ann,en-US,\r\n"
                        "\r\n"
                        "+15551230003,\"Two\r\nLines\",,\r\n"
                        "+15551230004,Zed,xx_YY!,\r\n"
                        "+15551230005,Stopped,,\r\n"
                        "+15551230006,Too,many,fields,here\r\n")
        res = self.sb.cli("campaigns", "import", path, "--tenant", "acme", "--say", SPANISH_SAY,
                          "--retries", "1", check=False)
        self.assertEqual(res.returncode, 0, res.stderr)
        lines = res.stderr.splitlines()
        self.assertEqual(len(lines), 5, res.stderr)
        self.assertTrue(lines[0].startswith("error: line 3: 'to' is not an E.164 number"), lines)
        # A quoted line break is CSV, but a name may not hold one.
        self.assertEqual(lines[1], "error: line 6: contact name holds a control character")
        self.assertTrue(lines[2].startswith("error: line 8: language"), lines)
        self.assertEqual(lines[3], "error: line 9: '+15551230005' opted out (STOP) of tenant 'acme'; it is not called")
        self.assertEqual(lines[4], "error: line 10: 5 fields, the header has 4")
        self.assertRegex(res.stdout, r"^campaign \d+ 'spring': 2 calls queued, 5 bad rows\n$")
        cid = int(res.stdout.split()[1])
        shown = json.loads(self.cli("campaigns", "show", str(cid), "--json").stdout)
        self.assertEqual((shown["name"], shown["tenant"], shown["status"], shown["total"]),
                         ("spring", "acme", "active", 2))
        self.assertEqual(shown["counts"]["queued"], 2)
        jobs = json.loads(self.cli("calls", "jobs", "--campaign", str(cid), "--json").stdout)
        by_to = {j["to"]: j for j in jobs}
        self.assertEqual(sorted(by_to), ["+15551230001", "+15551230002"])
        jose = by_to["+15551230001"]
        self.assertEqual((jose["name"], jose["lang"], jose["say"], jose["campaign_id"], jose["max_retries"]),
                         ("Núñez, José", "es-MX", SPANISH_SAY, cid, 1))
        self.assertEqual(by_to["+15551230002"]["name"], "Ann")
        listed = json.loads(self.cli("campaigns", "list", "--json").stdout)
        self.assertEqual([c["id"] for c in listed], [cid])
        self.assertIn("spring", self.cli("campaigns", "list").stdout)
        self.assertEqual(json.loads(self.cli("campaigns", "list", "--tenant", "other", "--json").stdout), [])

    def test_strict_queues_nothing_when_a_row_is_bad(self):
        path = self.csv("strict.csv", "to,name\n+15551230001,Ann\n+1555,Bad\n")
        res = self.sb.cli("campaigns", "import", path, "--tenant", "acme", "--flow", "desk",
                          "--strict", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("error: line 3: 'to' is not an E.164 number", res.stderr)
        self.assertIn("1 bad row in '%s'; nothing queued (--strict)" % path, res.stderr)
        self.assertEqual(json.loads(self.cli("campaigns", "list", "--json").stdout), [])
        self.assertEqual(json.loads(self.cli("calls", "jobs", "--json").stdout), [])

    def test_import_refusals(self):
        good = self.csv("good.csv", "to\n+15551230001\n")
        self.assertIn("flow 'nope' of tenant 'acme' does not exist",
                      self.refused("campaigns", "import", good, "--tenant", "acme", "--flow", "nope"))
        self.assertIn("tenant 'nobody' does not exist",
                      self.refused("campaigns", "import", good, "--tenant", "nobody", "--say", "x"))
        self.assertIn("exactly one of", self.refused("campaigns", "import", good, "--tenant", "acme", code=2))
        self.assertIn("no 'to' column",
                      self.refused("campaigns", "import", self.csv("h.csv", "phone\n+15551230001\n"),
                                   "--tenant", "acme", "--say", "x"))
        err = self.refused("campaigns", "import", self.csv("q.csv", "to\n+15551230001\n\"open\n"),
                           "--tenant", "acme", "--say", "x")
        self.assertIn("line 3: a quoted field is not closed; nothing queued", err)
        self.assertIn("cannot read", self.refused("campaigns", "import", "/nonexistent.csv", "--tenant",
                                                  "acme", "--say", "x"))
        allow = {"SWITCHBOARD_OUTBOUND_ALLOW": "+15551239999"}
        res = self.sb.cli("campaigns", "import", good, "--tenant", "acme", "--say", "x", check=False,
                          env=self.sb.env(**allow))
        self.assertEqual(res.returncode, 1)
        self.assertIn("error: line 2: '+15551230001' is not in SWITCHBOARD_OUTBOUND_ALLOW", res.stderr)
        self.assertIn("has no row to queue", res.stderr)
        self.cli("campaigns", "import", good, "--tenant", "acme", "--say", "x", "--name", "Primavera 2027")
        self.assertIn("campaign 'Primavera 2027' of tenant 'acme' already exists",
                      self.refused("campaigns", "import", good, "--tenant", "acme", "--say", "x",
                                   "--name", "Primavera 2027"))

    def test_pause_resume_cancel(self):
        path = self.csv("c.csv", "to,name\n+15551230001,A\n+15551230002,B\n")
        cid = self.cli("campaigns", "import", path, "--tenant", "acme", "--say", "x").stdout.split()[1]
        self.assertEqual(self.cli("campaigns", "pause", cid).stdout, "campaign %s paused\n" % cid)
        self.assertEqual(json.loads(self.cli("campaigns", "show", cid, "--json").stdout)["status"], "paused")
        self.assertEqual(self.cli("campaigns", "resume", cid).stdout, "campaign %s resumed\n" % cid)
        self.cli("campaigns", "cancel", cid)
        shown = json.loads(self.cli("campaigns", "show", cid, "--json").stdout)
        self.assertEqual((shown["status"], shown["counts"]["canceled"], shown["counts"]["queued"]),
                         ("canceled", 2, 0))
        self.assertIn("canceled  ", self.cli("campaigns", "show", cid).stdout)
        self.assertIn("campaign %s is canceled already" % cid, self.refused("campaigns", "pause", cid))
        self.assertIn("campaign 99 does not exist", self.refused("campaigns", "show", "99"))
        self.assertIn("campaign 'x' is not an id", self.refused("campaigns", "cancel", "x", code=2))
        self.assertIn("unknown campaigns command 'stop'", self.refused("campaigns", "stop", cid, code=2))

    def test_help(self):
        for args in (["calls", "create", "--help"], ["calls", "jobs", "--help"], ["calls", "hangup", "--help"],
                     ["campaigns", "--help"], ["campaigns", "import", "--help"], ["calls", "--help"]):
            self.assertIn("usage: switchboard", self.cli(*args).stdout, args)


class LiveCallTest(unittest.TestCase):
    """calls hangup and calls redirect against switchboard sim api."""

    def setUp(self):
        self.sb = Switchboard()
        self.app = App()
        self.server = ApiServer()
        self.client = self.server.client()

    def tearDown(self):
        rc, logs = self.server.stop()
        self.app.close()
        self.sb.close()
        self.assertEqual(rc, 0, logs[-3000:])

    def twilio_env(self, **extra):
        env = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
               "TWILIO_API_BASE": self.server.base_url}
        env.update(extra)
        return self.sb.env(**env)

    def run_cli(self, *args, **extra):
        return self.sb.cli(*args, check=False, env=self.twilio_env(**extra))

    def live_call(self, response):
        self.app.routes["/voice"] = response.to_xml()
        call = self.client.calls.create(to=TO, from_=FROM, url=self.app.url("/voice"))
        wait_for(lambda: self.client.calls(call.sid).fetch().status == "in-progress", 10, "in-progress")
        return call.sid

    def test_hangup_ends_a_live_call(self):
        r = VoiceResponse()
        r.pause(length=600)
        sid = self.live_call(r)
        res = self.run_cli("calls", "hangup", sid)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, "call %s hung up: completed\n" % sid)
        wait_for(lambda: self.client.calls(sid).fetch().status == "completed", 10, "completed")
        # Twilio refuses to change a call that ended: the error is decoded.
        res = self.run_cli("calls", "redirect", sid, self.app.url("/voice"))
        self.assertEqual(res.returncode, 1)
        self.assertTrue(res.stderr.startswith("error: twilio error 21220: "), res.stderr)

    def test_redirect_moves_a_call_to_new_twiml(self):
        r = VoiceResponse()
        g = r.gather(timeout=600, action="/never")
        g.say("Press a key")
        after = VoiceResponse()
        after.say("Redirigida: ¿todo bien?")
        self.app.routes["/redirected"] = after.to_xml()
        sid = self.live_call(r)
        time.sleep(0.2)
        res = self.run_cli("calls", "redirect", sid, self.app.url("/redirected"))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(res.stdout.startswith("call %s redirected: " % sid), res.stdout)
        wait_for(lambda: any(q["path"] == "/redirected" for q in list(self.app.requests)), 10, "redirect")
        wait_for(lambda: self.client.calls(sid).fetch().status == "completed", 10, "completed")

    def test_errors(self):
        missing = "CA" + "f" * 32
        res = self.run_cli("calls", "hangup", missing)
        self.assertEqual(res.returncode, 1)
        self.assertTrue(res.stderr.startswith("error: twilio error 20404: "), res.stderr)
        self.assertIn("HTTP 404", res.stderr)
        res = self.run_cli("calls", "hangup", "CA123")
        self.assertEqual(res.returncode, 2)
        self.assertTrue(res.stderr.startswith("error: "), res.stderr)
        res = self.sb.cli("calls", "hangup", missing, check=False)  # no credentials
        self.assertEqual(res.returncode, 1)
        self.assertIn("TWILIO_ACCOUNT_SID", res.stderr)
        res = self.run_cli("calls", "hangup", missing, TWILIO_AUTH_TOKEN="wrong-token")
        self.assertEqual(res.returncode, 1)
        self.assertIn("twilio error 20003", res.stderr)
        res = self.run_cli("calls", "redirect", missing, "ftp://example.com/x")
        self.assertEqual(res.returncode, 2)
        self.assertIn("not an http:// or https:// URL", res.stderr)


class RetryTest(unittest.TestCase):
    """An update that gets a 500 or a 503 (code 20500) is sent again, as twilio/retry.h says."""

    def test_hangup_is_sent_again_after_a_server_error(self):
        sb = Switchboard()
        server = ApiServer("--fail-every", "2")
        try:
            env = sb.env(TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE=server.base_url)
            missing = "CA" + "e" * 32
            for _ in range(3):  # every other request fails: without a retry one would say 20500
                res = sb.cli("calls", "hangup", missing, check=False, env=env)
                self.assertEqual(res.returncode, 1)
                self.assertTrue(res.stderr.startswith("error: twilio error 20404: "), res.stderr)
        finally:
            rc, logs = server.stop()
            sb.close()
        self.assertEqual(rc, 0, logs[-3000:])
        self.assertIn("fault=fail", logs.replace('"', ""))


if __name__ == "__main__":
    unittest.main()
