"""The command line: tenants, numbers, calls, urls; --json, --help and bad input."""
import json
import unittest

from tests.integration.harness import Switchboard


class CliTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()

    def tearDown(self):
        self.sb.close()

    def fail_with(self, *args):
        res = self.sb.cli(*args, check=False)
        self.assertNotEqual(res.returncode, 0, args)
        self.assertTrue(res.stderr.startswith("error: "), res.stderr)
        return res.stderr

    def test_tenants_and_numbers_round_trip_as_json(self):
        self.sb.cli("tenants", "add", "acme", "--lang", "en-US", "--transfer", "+15557654321",
                    "--timezone", "America/New_York", "--voice", "en-US=Polly.Joanna",
                    "--greeting", "en-US=Hi there", "--greeting", "es-MX=Hola")
        self.sb.cli("numbers", "add", "+15005550006", "--tenant", "acme", "--plan", "pro",
                    "--agent", "receptionist")
        self.sb.cli("numbers", "add", "+15005550001", "--tenant", "acme", "--inactive")
        tenants = json.loads(self.sb.cli("tenants", "list", "--json").stdout)
        self.assertEqual(len(tenants), 1)
        t = tenants[0]
        self.assertEqual((t["name"], t["default_lang"], t["transfer_number"], t["timezone"]),
                         ("acme", "en-US", "+15557654321", "America/New_York"))
        self.assertEqual(t["languages"]["en-US"], {"voice": "Polly.Joanna", "greeting": "Hi there"})
        self.assertEqual(t["languages"]["es-MX"]["greeting"], "Hola")
        numbers = json.loads(self.sb.cli("numbers", "list", "--json").stdout)
        self.assertEqual(numbers, [
            {"number": "+15005550001", "tenant": "acme", "plan": "starter", "agent": "receptionist", "active": False},
            {"number": "+15005550006", "tenant": "acme", "plan": "pro", "agent": "receptionist", "active": True},
        ])
        table = self.sb.cli("numbers", "list").stdout
        self.assertIn("+15005550006", table)
        self.assertIn("pro", table)

    def test_remove(self):
        self.sb.cli("tenants", "add", "acme")
        self.sb.cli("numbers", "add", "+15005550006", "--tenant", "acme")
        self.assertIn("still has numbers", self.fail_with("tenants", "remove", "acme"))
        self.sb.cli("numbers", "remove", "+15005550006")
        self.sb.cli("tenants", "remove", "acme")
        self.assertEqual(json.loads(self.sb.cli("tenants", "list", "--json").stdout), [])
        self.assertIn("tenant 'acme' does not exist", self.fail_with("tenants", "remove", "acme"))
        self.assertIn("number '+15005550006' does not exist", self.fail_with("numbers", "remove", "+15005550006"))

    def test_bad_input_is_refused_with_a_clear_message(self):
        self.sb.cli("tenants", "add", "acme")
        self.assertIn("'+1555' is not E.164", self.fail_with("numbers", "add", "+1555", "--tenant", "acme"))
        self.assertIn("'15005550006' is not E.164", self.fail_with("numbers", "add", "15005550006", "--tenant", "acme"))
        self.assertIn("tenant 'nobody' does not exist",
                      self.fail_with("numbers", "add", "+15005550006", "--tenant", "nobody"))
        self.assertIn("plan 'gold'", self.fail_with("numbers", "add", "+15005550006", "--tenant", "acme", "--plan", "gold"))
        self.assertIn("--tenant", self.fail_with("numbers", "add", "+15005550006"))
        self.assertIn("tenant 'acme' already exists", self.fail_with("tenants", "add", "acme"))
        self.assertIn("transfer number '555'", self.fail_with("tenants", "add", "b", "--transfer", "555"))
        self.assertIn("tenant name 'a b'", self.fail_with("tenants", "add", "a b"))
        self.assertIn("--voice 'en-US'", self.fail_with("tenants", "add", "c", "--voice", "en-US"))
        self.assertIn("limit 'x'", self.fail_with("calls", "list", "--limit", "x"))
        self.assertIn("unknown tenants command 'rename'", self.fail_with("tenants", "rename", "a"))
        self.sb.cli("numbers", "add", "+15005550006", "--tenant", "acme")
        self.assertIn("number '+15005550006' already exists",
                      self.fail_with("numbers", "add", "+15005550006", "--tenant", "acme"))
        res = self.sb.cli("frobnicate", check=False)
        self.assertEqual(res.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", res.stderr)

    def test_help_everywhere(self):
        for args in (["--help"], ["serve", "--help"], ["tenants", "--help"], ["tenants", "add", "--help"],
                     ["numbers", "--help"], ["numbers", "add", "--help"], ["calls", "--help"],
                     ["urls", "--help"]):
            res = self.sb.cli(*args)
            self.assertIn("usage: switchboard", res.stdout, args)

    def test_calls_list_is_empty_then_lists(self):
        self.assertEqual(json.loads(self.sb.cli("calls", "list", "--json").stdout), [])
        self.assertIn("CALL_SID", self.sb.cli("calls", "list").stdout)

    def test_urls_prints_the_console_settings(self):
        out = self.sb.cli("urls", env=self.sb.env(PUBLIC_BASE_URL="https://voice.example.com/")).stdout
        self.assertIn("https://voice.example.com/voice/incoming", out)
        self.assertIn("https://voice.example.com/voice/status", out)
        self.assertIn("wss://voice.example.com/voice/stream", out)
        out = self.sb.cli("urls", "--base-url", "https://h.example.org/app").stdout
        self.assertIn("https://h.example.org/app/voice/incoming", out)
        self.assertIn("PUBLIC_BASE_URL", self.fail_with("urls"))

    def test_apikeys_create_list_revoke(self):
        self.sb.cli("tenants", "add", "acme")
        self.sb.cli("tenants", "add", "otra")
        out = self.sb.cli("apikeys", "create", "--tenant", "acme", "--name", "facturación").stdout
        self.assertRegex(out, r"^key 1 for tenant acme: sb_[0-9a-f]{64}\n")
        secret = out.split()[5]
        made = json.loads(self.sb.cli("apikeys", "create", "--tenant", "otra", "--json").stdout)
        self.assertEqual((made["id"], made["tenant"], made["name"]), (2, "otra", None))
        self.assertRegex(made["key"], r"^sb_[0-9a-f]{64}$")
        listed = json.loads(self.sb.cli("apikeys", "list", "--json").stdout)
        self.assertEqual([(k["id"], k["tenant"], k["name"], k["revoked"]) for k in listed],
                         [(1, "acme", "facturación", False), (2, "otra", None, False)])
        self.assertEqual(listed[0]["prefix"], secret[:11])
        table = self.sb.cli("apikeys", "list", "--tenant", "acme").stdout
        self.assertIn("facturación", table)
        # The secret is shown once: never again, neither whole nor its random part.
        for shown in (table, json.dumps(listed)):
            self.assertNotIn(secret, shown)
            self.assertNotIn(secret[11:], shown)
        self.assertIn("key 2 of tenant 'acme' does not exist",
                      self.fail_with("apikeys", "revoke", "2", "--tenant", "acme"))
        self.assertEqual(self.sb.cli("apikeys", "revoke", "1", "--tenant", "acme").stdout,
                         "revoked key 1 of tenant acme\n")
        self.assertTrue(json.loads(self.sb.cli("apikeys", "list", "--tenant", "acme", "--json").stdout)[0]["revoked"])
        for args, code, words in ((("apikeys", "create"), 2, "needs --tenant"),
                                  (("apikeys", "create", "--tenant", "nadie"), 1, "tenant 'nadie' does not exist"),
                                  (("apikeys", "create", "--tenant", "acme", "--name", "a\nb"), 2, "--name"),
                                  (("apikeys", "revoke", "x", "--tenant", "acme"), 2, "key 'x' is not an id"),
                                  (("apikeys", "revoke", "1"), 2, "needs --tenant"),
                                  (("apikeys", "rotate"), 2, "unknown apikeys command")):
            res = self.sb.cli(*args, check=False)
            self.assertEqual(res.returncode, code, (args, res.stderr))
            self.assertTrue(res.stderr.startswith("error: ") and words in res.stderr, (args, res.stderr))
        self.assertIn("usage: switchboard apikeys", self.sb.cli("apikeys", "--help").stdout)


if __name__ == "__main__":
    unittest.main()
