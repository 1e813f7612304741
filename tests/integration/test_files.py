"""Files holding secrets are readable by their owner only: the store (full phone numbers) with
its -wal and -shm files, and the .env that scripts/env.sh writes (the auth token)."""
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from tests.integration.harness import ROOT, Switchboard, call_sid, incoming_params

ENV_SH = os.path.join(ROOT, "scripts", "env.sh")
RUN_SH = os.path.join(ROOT, "scripts", "run.sh")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class UmaskTest(unittest.TestCase):
    """Runs each test under the usual umask 022, which alone would make files 0644."""

    def setUp(self):
        self.old_umask = os.umask(0o022)
        self.addCleanup(os.umask, self.old_umask)


class StoreFilesTest(UmaskTest):
    def setUp(self):
        super().setUp()
        self.sb = Switchboard()
        self.addCleanup(self.sb.close)

    def assert_private(self, *paths):
        for p in paths:
            self.assertTrue(os.path.exists(p), "%s does not exist" % os.path.basename(p))
            self.assertEqual(mode(p), 0o600, "%s is %o" % (os.path.basename(p), mode(p)))

    def test_a_store_the_cli_creates_is_0600_with_its_wal_and_shm(self):
        self.sb.cli("tenants", "add", "acme")
        self.assert_private(self.sb.db)
        # While the server holds the store open, SQLite keeps the -wal and -shm files.
        self.sb.start()
        self.sb.cli("tenants", "add", "other")
        self.assert_private(self.sb.db, self.sb.db + "-wal", self.sb.db + "-shm")

    def test_a_store_the_server_creates_is_0600_with_its_wal_and_shm(self):
        self.sb.start()
        self.assertEqual(self.sb.signed_post("/voice/incoming", incoming_params(call_sid(1)))[0], 200)
        self.assert_private(self.sb.db, self.sb.db + "-wal", self.sb.db + "-shm")
        self.assertNotIn("event=store.permissions", self.sb.logs())

    def test_an_existing_store_open_to_others_is_tightened_with_a_warning(self):
        self.sb.cli("tenants", "add", "acme")
        os.chmod(self.sb.db, 0o644)
        res = self.sb.cli("tenants", "list")
        self.assertEqual(mode(self.sb.db), 0o600)
        self.assertRegex(res.stderr, r"level=warn event=store\.permissions path=\S+ mode=644 now=600")
        # Once tightened, nothing more to say.
        self.assertNotIn("store.permissions", self.sb.cli("tenants", "list").stderr)

    def test_existing_wal_and_shm_open_to_others_are_tightened(self):
        self.sb.start()
        self.sb.cli("tenants", "add", "acme")
        for p in (self.sb.db, self.sb.db + "-wal", self.sb.db + "-shm"):
            os.chmod(p, 0o644)
        res = self.sb.cli("tenants", "list")
        self.assert_private(self.sb.db, self.sb.db + "-wal", self.sb.db + "-shm")
        self.assertEqual(res.stderr.count("event=store.permissions"), 3, res.stderr)


class EnvFileTest(UmaskTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="sb-env-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.env_file = os.path.join(self.dir, ".env")

    def env_sh(self):
        return subprocess.run(["bash", ENV_SH, self.env_file], capture_output=True, text=True,
                              timeout=30, check=True)

    def token(self):
        with open(self.env_file) as f:
            m = re.fullmatch(r"TWILIO_AUTH_TOKEN=([0-9a-f]{32})\n", f.read())
        self.assertIsNotNone(m)
        return m.group(1)

    def test_a_new_env_is_0600_and_its_token_is_printed_once(self):
        first = self.env_sh()
        self.assertEqual(mode(self.env_file), 0o600)
        token = self.token()
        self.assertIn(token, first.stderr)
        second = self.env_sh()
        self.assertNotIn(token, second.stdout + second.stderr)
        self.assertEqual(self.token(), token)
        self.assertEqual(mode(self.env_file), 0o600)

    def test_an_existing_env_open_to_others_is_tightened_and_kept(self):
        with open(self.env_file, "w") as f:
            f.write("TWILIO_AUTH_TOKEN=" + "ab" * 16 + "\n")
        os.chmod(self.env_file, 0o644)
        res = self.env_sh()
        self.assertEqual(mode(self.env_file), 0o600)
        self.assertEqual(self.token(), "ab" * 16)
        self.assertNotIn("ab" * 16, res.stdout + res.stderr)

    def test_run_sh_uses_env_sh_and_never_echoes_the_token(self):
        with open(RUN_SH) as f:
            run = f.read()
        self.assertIn("scripts/env.sh .env", run)
        for line in run.splitlines():
            if re.match(r"\s*(echo|printf)\b", line):
                self.assertNotIn("$TWILIO_AUTH_TOKEN", line)
                self.assertNotIn("${TWILIO_AUTH_TOKEN", line)


if __name__ == "__main__":
    unittest.main()
