"""`switchboard db migrate` and `db copy`: a whole store moved between SQLite
files and PostgreSQL, either way, checked by what the commands show of it
afterwards; and what a wrong target, a full destination or a bad URL get.
The PostgreSQL cases need SB_TEST_POSTGRES (scripts/test.sh sets it)."""
import json
import os
import subprocess
import unittest

from tests.integration.harness import BINARY, POSTGRES, PRO, TOKEN, Switchboard, call_sid, incoming_params, pg_fresh

KB = "# Horario\n\nAbrimos de lunes a sábado.\n\n# Precios\n\n¿Cuánto cuesta un corte? Veinte euros.\n"
CAMPAIGN = "to,name,lang\n+34600000001,José Núñez,es-ES\n+34600000002,Ana,es-ES\n"


def run(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SWITCHBOARD_"))}
    e.update(env or {})
    return subprocess.run([BINARY, *args], capture_output=True, text=True, env=e, timeout=60)


def shown(db):
    """What the commands show of a store: the same for a faithful copy."""
    out = {}
    for args in (("tenants", "list"), ("numbers", "list"), ("agents", "list"), ("calls", "list"),
                 ("campaigns", "list"), ("calls", "jobs"), ("apikeys", "list")):
        res = run(*args, "--json", "--db", db)
        assert res.returncode == 0, (args, res.stderr)
        out[" ".join(args)] = json.loads(res.stdout)
    res = run("agents", "show", "recepcion", "--tenant", "acme", "--json", "--db", db)
    out["agent"] = json.loads(res.stdout)
    res = run("calls", "show", call_sid(0xdb), "--json", "--db", db)
    out["call"] = json.loads(res.stdout)
    return out


class DbCopyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A store with calls, a Spanish caller's among them, agents, knowledge and jobs.
        cls.sb = Switchboard()
        cls.sb.seed()
        kb = os.path.join(cls.sb.dir, "kb.md")
        with open(kb, "w") as f:
            f.write(KB)
        csv = os.path.join(cls.sb.dir, "c.csv")
        with open(csv, "w") as f:
            f.write(CAMPAIGN)
        prompt = os.path.join(cls.sb.dir, "prompt.txt")
        with open(prompt, "w") as f:
            f.write("Eres la recepcionista de la Peluquería Ñandú.")
        cls.sb.cli("agents", "add", "recepcion", "--tenant", "acme", "--base-url",
                   "http://127.0.0.1:9/v1", "--model", "modelo", "--prompt-file", prompt,
                   "--knowledge", kb, "--lang", "es-MX")
        cls.sb.cli("campaigns", "import", csv, "--tenant", "acme", "--name", "recordatorios",
                   "--say", "Hola {{name}}, su cita es mañana.")
        cls.sb.cli("apikeys", "create", "--tenant", "acme", "--name", "agenda")
        cls.sb.start()
        sid = call_sid(0xdb)
        status, _, body = cls.sb.signed_post("/voice/incoming", incoming_params(sid, frm="+5215512345678"))
        assert status == 200, body
        for seq, st in ((1, "ringing"), (3, "completed"), (2, "in-progress"), (3, "completed")):
            cls.sb.signed_post("/voice/status", incoming_params(sid, frm="+5215512345678", CallStatus=st,
                                                                SequenceNumber=str(seq), CallDuration="17"))
        cls.sb.shown_call(sid, lambda c: c["call"]["status"] == "completed")
        cls.sb.stop()
        cls.source = shown(cls.sb.db)

    @classmethod
    def tearDownClass(cls):
        cls.sb.close()

    def path(self, name):
        return os.path.join(self.sb.dir, name)

    def copy(self, src, dst):
        res = run("db", "copy", "--src", src, "--dst", dst)
        self.assertEqual(res.returncode, 0, res.stderr)
        counts = dict(line.split() for line in res.stdout.splitlines() if not line.startswith("copied"))
        return {k: int(v) for k, v in counts.items()}

    def test_a_sqlite_store_copies_to_another_file_whole(self):
        dst = "sqlite:" + self.path("copia.db")
        counts = self.copy(self.sb.db, dst)
        self.assertEqual(counts["calls"], 1)
        self.assertGreaterEqual(counts["call_events"], 3)
        self.assertEqual(counts["jobs"], 2)
        self.assertGreaterEqual(counts["knowledge_passages"], 2)
        self.assertEqual(shown(dst), self.source)
        self.assertEqual(shown(dst)["call"]["call"]["status"], "completed")
        # Copied again into the now full store: refused, nothing changes.
        res = run("db", "copy", "--src", self.sb.db, "--dst", dst)
        self.assertEqual(res.returncode, 1)
        self.assertIn("error: the destination", res.stderr)
        self.assertIn("is not empty: table tenants has rows", res.stderr)
        self.assertEqual(shown(dst), self.source)

    @unittest.skipUnless(POSTGRES, "needs SB_TEST_POSTGRES (scripts/test.sh starts a PostgreSQL)")
    def test_sqlite_to_postgresql_and_back_keeps_every_row(self):
        pg = pg_fresh("copy")
        there = self.copy(self.sb.db, pg)
        self.assertEqual(shown(pg), self.source)
        back = "sqlite:" + self.path("vuelta.db")
        self.assertEqual(self.copy(pg, back), there)
        self.assertEqual(shown(back), self.source)

    def test_db_migrate_reports_the_version_and_is_idempotent(self):
        db = self.path("nuevo.db")
        for _ in range(2):
            res = run("db", "migrate", "--db", db)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertRegex(res.stdout, r"is at schema version \d+\n")
        res = run("db", "migrate", env={"SWITCHBOARD_DB": "sqlite:" + db})
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("sqlite:" + db, res.stdout)

    @unittest.skipUnless(POSTGRES, "needs SB_TEST_POSTGRES (scripts/test.sh starts a PostgreSQL)")
    def test_two_migrations_at_once_on_postgresql_both_end_at_the_latest(self):
        pg = pg_fresh("mig")
        procs = [subprocess.Popen([BINARY, "db", "migrate", "--db", pg], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err)
        versions = {out.split()[-1] for out, _ in outs}
        self.assertEqual(len(versions), 1, outs)
        applied = sum(err.count("event=store.migrated") for _, err in outs)
        latest = int(versions.pop())
        self.assertEqual(applied, latest, "each migration is applied once, by one of them")

    def test_an_attacker_and_mistakes_get_plain_errors(self):
        cases = [
            (("db", "copy", "--src", self.sb.db, "--dst", self.sb.db), 2, "are the same store"),
            (("db", "copy", "--src", self.sb.db), 2, "needs --src DB and --dst DB"),
            (("db", "copy", "--src", self.sb.db, "--dst", self.path("x.db"), "extra"), 2, "no arguments"),
            (("db", "frobnicate"), 2, "unknown db command 'frobnicate'"),
            (("db", "migrate", "--db", "/nonexistent-dir/sb.db"), 1, "cannot open store '/nonexistent-dir/sb.db'"),
        ]
        for args, code, message in cases:
            res = run(*args)
            self.assertEqual(res.returncode, code, (args, res.stderr))
            self.assertTrue(res.stderr.splitlines()[-1].startswith("error: "), res.stderr)
            self.assertIn(message, res.stderr)
        # A file that is not a store.
        junk = self.path("junk.db")
        with open(junk, "wb") as f:
            f.write(b"\x00garbage" * 512)
        res = run("db", "copy", "--src", junk, "--dst", self.path("y.db"))
        self.assertEqual(res.returncode, 1)
        self.assertIn("cannot open store", res.stderr)
        # An unreachable PostgreSQL: the message names host and database, never the password.
        res = run("db", "migrate", "--db", "postgresql://sb:s3cr3t-pw@127.0.0.1:1/llamadas?connect_timeout=2")
        self.assertEqual(res.returncode, 1)
        self.assertNotIn("s3cr3t-pw", res.stderr + res.stdout)
        self.assertIn("postgresql://sb:***@127.0.0.1:1/llamadas", res.stderr)


if __name__ == "__main__":
    unittest.main()
