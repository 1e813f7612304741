"""A 200-call campaign through a crash (docs/outbound.md, "Placing calls").

`campaigns import` queues a 200-row CSV (Spanish contacts among them) with --amd and
one retry; `switchboard sim api` makes some numbers answering machines, some busy,
holds back every ninth create's answer (4 s, past the server's 3 s timeout: an
unknown outcome, looked up), and records every request. One number opted out (STOP)
before the import, another after it. The server is killed with SIGKILL while the
campaign is placing, started again, and run (its clock moved on past the retry delay
when busy jobs wait) until every job is final.
The sim's record is then the proof: no number was created more often than its job
was attempted, the machines were sent the voicemail message, the busy numbers were
tried twice, the opted-out numbers never called nor texted.
"""
import collections
import csv
import datetime
import json
import os
import time
import unittest

from tests.integration.harness import PRO, free_port
from tests.integration.test_outbound_placer import Placer, epoch, sim_records, wait_for
from tests.integration.test_sim_api import ApiServer

ROWS = 200
FINAL = {"completed", "busy", "no-answer", "failed", "canceled", "skipped"}
# A message long enough that machine detection (up to 12 s of the call) ends while it plays.
SAY = "Hola {{name}}, le llamamos para recordarle su cita de mañana a las nueve. " * 6
SPANISH_NAMES = ["José Núñez", "María Peña", "Ángel Ibáñez", "Begoña Muñoz"]
# Claimed last (the oldest due go first), so that they are placed after the restart: a
# detection result that comes while the server is down is lost, as it would be on Twilio.
MACHINE_ROWS = {150 + i: v for i, v in enumerate(
    ["machine_end_beep", "machine_end_silence", "machine_end_other"] * 4)}
BUSY_ROWS = {3, 31, 77, 120, 140, 190}
STOP_BEFORE = 199  # refused by the import
STOP_AFTER = 100   # queued, then skipped when its turn comes
KILL_AFTER_CREATES = 20


def number(i):
    return "+1555030%04d" % i


def contact(i):
    """(name, lang) of row i: every fourth is Spanish, with accents."""
    if i % 4 == 1:
        return SPANISH_NAMES[(i // 4) % len(SPANISH_NAMES)], "es-MX"
    return "Contact %d" % i, "en-US"


def check_record(records, jobs):
    """What the sim's record must show for the jobs at the end; returns a list of problems."""
    problems = []
    creates = collections.Counter(r["params"].get("To") for r in records
                                  if r["action"] == "calls.create" and r["status"] == 201)
    for to, n in creates.items():
        job = jobs.get(to)
        if job is None:
            problems.append("%s was called (%d creates) but has no job" % (to, n))
        elif n > job["attempts"]:
            problems.append("%s: %d creates for %d attempts" % (to, n, job["attempts"]))
    for to, job in jobs.items():
        if job["status"] not in FINAL:
            problems.append("job %d (%s) is %s, not final" % (job["id"], to, job["status"]))
        if creates.get(to, 0) != job["attempts"]:
            problems.append("job %d (%s): %d attempts, %d creates" %
                            (job["id"], to, job["attempts"], creates.get(to, 0)))
    return problems


class CampaignCrashTest(unittest.TestCase):
    def setUp(self):
        flags = ["--create-timeout-every", "9", "--create-timeout-ms", "4000", "--speed", "25"]
        for row, value in MACHINE_ROWS.items():
            flags += ["--answered-by", "%s=%s" % (number(row), value)]
        for row in BUSY_ROWS:
            flags += ["--outcome", "%s=busy" % number(row)]
        self.sim = ApiServer(*flags)
        self.sb = Placer(self.sim, SWITCHBOARD_CALLS_PER_SECOND="50",
                         SWITCHBOARD_OUTBOUND_CAP="1000",
                         SWITCHBOARD_TWILIO_TIMEOUT_MS="3000")
        self.port = None
        self.offset = 0

    def tearDown(self):
        try:
            self.sb.close()
        finally:
            self.sim.stop()

    def sms(self, sender):
        status, _, body = self.sb.signed_post("/sms/incoming",
                                              {"From": sender, "To": PRO, "Body": "STOP"},
                                              url=self.sb.url("/sms/incoming"))
        self.assertEqual(status, 200, body)

    def jobs(self, campaign):
        res = self.sb.cli("calls", "jobs", "--campaign", str(campaign), "--json")
        return {j["to"]: j for j in json.loads(res.stdout)}

    def start(self, later_than=None, base_url=None):
        """Starts the server on the port of the last run (the calls' callbacks go there)."""
        flags = []
        if later_than:
            # The clock moved on past the latest retry: the server's own (--clock) only.
            moved = int(later_than) + 5
            self.offset = moved - time.time()
            flags = ["--clock", datetime.datetime.fromtimestamp(
                moved, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")]
        self.sb.start(*flags, port=self.port, base_url=base_url)
        self.port = self.sb.port

    def settle(self, campaign, timeout=30):
        """Waits until every job is final or waits queued for a later retry; returns the jobs."""
        def settled():
            jobs = self.jobs(campaign)
            now = time.time() + self.offset
            waiting = [j for j in jobs.values() if j["status"] not in FINAL]
            if all(j["status"] == "queued" and j["attempts"] > 0 and
                   epoch(j["next_attempt_at"]) > now + 1 for j in waiting):
                return jobs
            return None
        jobs = wait_for(settled, timeout, step=0.3)
        if not jobs:
            left = [(j["id"], j["status"]) for j in self.jobs(campaign).values()
                    if j["status"] not in FINAL]
            raise AssertionError("jobs never settled: %s\n%s" % (left, self.sb.logs()[-6000:]))
        return jobs

    def test_kill_9_in_the_middle_then_every_job_final_and_no_call_twice(self):
        # STOP before the import: the row is refused.
        self.start()
        self.sms(number(STOP_BEFORE))
        self.sb.stop()
        path = os.path.join(self.sb.dir, "spring.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["to", "name", "lang"])
            for i in range(ROWS):
                w.writerow([number(i), *contact(i)])
        res = self.sb.cli("campaigns", "import", path, "--tenant", "acme", "--from", PRO,
                          "--say", SAY, "--amd", "--retries", "1")
        self.assertIn("opted out (STOP)", res.stderr)
        self.assertIn("%d calls queued, 1 bad row" % (ROWS - 1), res.stdout)
        campaign = int(res.stdout.split()[1])
        self.assertNotIn(number(STOP_BEFORE), self.jobs(campaign))
        # STOP after the import, while the campaign is paused: its job is skipped.
        self.sb.cli("campaigns", "pause", str(campaign))
        # Until the kill the calls' webhooks go nowhere, as if the server were already going
        # down: no status callback binds a job before its create's answer, so the jobs whose
        # answer is held are still placing at the kill, and every call placed before it ends
        # without a callback the server sees (its job is reconciled after the restart).
        self.start(base_url="http://127.0.0.1:%d" % free_port())
        self.sms(number(STOP_AFTER))
        self.sb.cli("campaigns", "resume", str(campaign))

        # The kill: while jobs are placing (every ninth create's answer is held) and placed.
        def mid_campaign():
            made = [r for r in sim_records(self.sim) if r["action"] == "calls.create"]
            if len(made) < KILL_AFTER_CREATES:
                return None
            states = collections.Counter(j["status"] for j in self.jobs(campaign).values())
            return states["placing"] and states["placed"] and states["queued"]
        self.assertTrue(wait_for(mid_campaign, 20, step=0.05), self.sb.logs()[-4000:])
        self.sb.kill9()
        at_kill = self.jobs(campaign)
        states = collections.Counter(j["status"] for j in at_kill.values())
        self.assertGreater(states["queued"], 0, states)  # the middle of the campaign
        self.assertGreater(states["placing"], 0, states)  # creates whose answer is held
        self.assertGreater(states["placed"], 0, states)
        before = {to for to, j in at_kill.items() if j["status"] in ("placing", "placed")}
        machines = {number(r) for r in MACHINE_ROWS}
        self.assertFalse([r for r in sim_records(self.sim) if r["action"] == "calls.create"
                          and r["params"].get("To") in machines],
                         "a machine was called before the kill: the test's premise fails")

        # Restarts until every job is final; busy jobs wait their retry delay, so each
        # start after the first moves the server's clock past the latest retry.
        self.start()
        for _ in range(4):
            jobs = self.settle(campaign)
            waiting = [epoch(j["next_attempt_at"]) for j in jobs.values()
                       if j["status"] not in FINAL]
            if not waiting:
                break
            self.sb.stop()
            self.start(later_than=max(waiting))
        time.sleep(4)  # any held create answer, any late callback
        jobs = self.jobs(campaign)
        records = sim_records(self.sim)

        self.assertEqual(len(jobs), ROWS - 1)
        self.assertEqual(check_record(records, jobs), [])
        logs = self.sb.logs()
        self.assertIn("outbound.recovery placing=", logs)
        self.assertIn("outbound.reconciled job=", logs)
        for i in range(ROWS):
            to = number(i)
            if i == STOP_BEFORE:
                continue
            job = jobs[to]
            if i == STOP_AFTER:
                self.assertEqual((job["status"], job["attempts"]), ("skipped", 0))
            elif i in BUSY_ROWS:
                self.assertEqual((job["status"], job["attempts"]), ("busy", 2), job)
            elif to in before:
                # Its call found no webhook: ended as the sim reports it, fetched after the
                # restart since no callback of it reached the server.
                self.assertIn(job["status"], FINAL - {"skipped", "canceled"}, job)
                self.assertEqual(job["attempts"], 1, job)
            else:
                self.assertEqual((job["status"], job["attempts"]), ("completed", 1), job)
            self.assertEqual((job["name"], job["lang"]), contact(i))
        # The opted-out numbers: never called, never texted.
        for i in (STOP_BEFORE, STOP_AFTER):
            self.assertEqual([r for r in records if r["params"] and
                              r["params"].get("To") == number(i)], [])
        # Every machine got the voicemail message, in its language, on its own call.
        updates = {}
        for r in records:
            if r["action"] == "call.update" and r["status"] == 200:
                updates.setdefault(r["path"].rsplit("/", 1)[-1][:-5], []).append(r)
        for row, answered in MACHINE_ROWS.items():
            job = jobs[number(row)]
            self.assertEqual(job["answered_by"], answered, job)
            redirect = updates.get(job["call_sid"])
            self.assertTrue(redirect, (job, self.sb.logs()[-4000:]))
            twiml = redirect[0]["params"]["Twiml"]
            if contact(row)[1] == "es-MX":
                self.assertIn("Le volveremos a llamar", twiml)
                self.assertIn('language="es-MX"', twiml)
            else:
                self.assertNotIn("Le volveremos a llamar", twiml)
        # Only machines are redirected.
        machine_calls = {jobs[number(r)]["call_sid"] for r in MACHINE_ROWS}
        self.assertEqual(set(updates) - machine_calls, set())
        for i in (STOP_BEFORE, STOP_AFTER, 0, 150):
            self.assertNotIn(number(i), logs)  # numbers are masked

    def test_the_record_check_catches_a_double_create(self):
        job = {"id": 1, "status": "completed", "attempts": 1}
        create = {"action": "calls.create", "status": 201, "params": {"To": number(1)}}
        self.assertEqual(check_record([create], {number(1): job}), [])
        self.assertTrue(check_record([create, create], {number(1): job}))
        self.assertTrue(check_record([create], {number(1): dict(job, status="placed")}))
        self.assertTrue(check_record([create], {}))


if __name__ == "__main__":
    unittest.main()
