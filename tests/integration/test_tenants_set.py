"""tenants set, the ConversationRelay flags of tenants add and set, and numbers on the relay plan."""
import json
import time
import unittest

from tests.integration.harness import STARTER, Switchboard, call_sid, incoming_params


class TenantsSetTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()
        self.sb.cli("tenants", "add", "acme", "--lang", "en-US", "--transfer", "+15557654321",
                    "--timezone", "America/New_York", "--voice", "en-US=Polly.Joanna",
                    "--greeting", "en-US=Hi there", "--greeting", "es-MX=Hola")

    def tearDown(self):
        self.sb.close()

    def show(self, name="acme"):
        return json.loads(self.sb.cli("tenants", "show", name, "--json").stdout)

    def refused(self, code, *args):
        res = self.sb.cli(*args, check=False)
        self.assertEqual(res.returncode, code, (args, res.stderr))
        self.assertTrue(res.stderr.startswith("error: "), res.stderr)
        self.assertEqual(res.stderr.count("\n"), 1, res.stderr)
        self.assertEqual(res.stdout, "")
        return res.stderr

    def test_each_scalar_flag_changes_only_itself(self):
        before = self.show()
        self.sb.cli("tenants", "set", "acme", "--timezone", "Europe/Madrid")
        after = self.show()
        self.assertEqual(after["timezone"], "Europe/Madrid")
        self.assertEqual({k: v for k, v in after.items() if k != "timezone"},
                         {k: v for k, v in before.items() if k != "timezone"})

        self.sb.cli("tenants", "set", "acme", "--lang", "es-MX")
        self.assertEqual(self.show()["default_lang"], "es-MX")
        self.sb.cli("tenants", "set", "acme", "--transfer", "+15005550006")
        self.assertEqual(self.show()["transfer_number"], "+15005550006")
        self.sb.cli("tenants", "set", "acme", "--transfer", "-")
        t = self.show()
        self.assertEqual(t["transfer_number"], "")
        self.assertEqual((t["default_lang"], t["timezone"]), ("es-MX", "Europe/Madrid"))
        self.assertEqual(t["languages"], before["languages"])

    def test_voice_and_greeting_change_one_language_and_keep_the_others(self):
        out = self.sb.cli("tenants", "set", "acme", "--voice", "es-MX=Polly.Mia").stdout
        self.assertEqual(out, "changed tenant acme\n")
        langs = self.show()["languages"]
        self.assertEqual(langs["es-MX"], {"voice": "Polly.Mia", "greeting": "Hola"})
        self.assertEqual(langs["en-US"], {"voice": "Polly.Joanna", "greeting": "Hi there"})

        self.sb.cli("tenants", "set", "acme", "--greeting", "en-US=Thanks for calling")
        langs = self.show()["languages"]
        self.assertEqual(langs["en-US"], {"voice": "Polly.Joanna", "greeting": "Thanks for calling"})
        self.assertEqual(langs["es-MX"], {"voice": "Polly.Mia", "greeting": "Hola"})

        self.sb.cli("tenants", "set", "acme", "--greeting", "pt-BR=Olá", "--voice", "pt-BR=Polly.Camila")
        langs = self.show()["languages"]
        self.assertEqual(list(langs), ["en-US", "es-MX", "pt-BR"])
        self.assertEqual(langs["pt-BR"], {"voice": "Polly.Camila", "greeting": "Olá"})

    def test_a_spanish_greeting_keeps_its_accents(self):
        greeting = "¿En qué le puedo ayudar? Está llamando a Peluquería Niño, señor."
        self.sb.cli("tenants", "set", "acme", "--greeting", "es-MX=" + greeting)
        self.assertEqual(self.show()["languages"]["es-MX"]["greeting"], greeting)
        listed = json.loads(self.sb.cli("tenants", "list", "--json").stdout)
        self.assertEqual(listed[0]["languages"]["es-MX"]["greeting"], greeting)
        self.assertIn(greeting, self.sb.cli("tenants", "show", "acme").stdout)

    def test_relay_voice_and_transcription(self):
        self.sb.cli("tenants", "set", "acme", "--relay-voice", "es-MX=google:es-US-Neural2-A",
                    "--relay-transcription", "es-MX=DEEPGRAM")
        self.sb.cli("tenants", "set", "acme", "--relay-voice",
                    "en-US=elevenlabs:UgBBYS2sOqTuMpoF3BR0-flash_v2_5-1.2_1.0_1.0")
        relay = self.show()["relay"]
        self.assertEqual(relay["es-MX"], {"tts_provider": "Google", "voice": "es-US-Neural2-A",
                                          "transcription_provider": "Deepgram"})
        self.assertEqual(relay["en-US"], {"tts_provider": "ElevenLabs",
                                          "voice": "UgBBYS2sOqTuMpoF3BR0-flash_v2_5-1.2_1.0_1.0",
                                          "transcription_provider": ""})
        # A new voice for es-MX keeps its transcription; en-US is untouched.
        self.sb.cli("tenants", "set", "acme", "--relay-voice", "es-MX=Amazon:Mia-Neural")
        relay = self.show()["relay"]
        self.assertEqual(relay["es-MX"], {"tts_provider": "Amazon", "voice": "Mia-Neural",
                                          "transcription_provider": "Deepgram"})
        self.assertEqual(relay["en-US"]["tts_provider"], "ElevenLabs")
        self.sb.cli("tenants", "set", "acme", "--relay-transcription", "es-MX=google")
        self.assertEqual(self.show()["relay"]["es-MX"]["transcription_provider"], "Google")
        text = self.sb.cli("tenants", "show", "acme").stdout
        self.assertIn("relay es-MX: voice Amazon:Mia-Neural, transcription Google", text)
        # The <Say> languages are not relay voices and stay as they were.
        self.assertEqual(self.show()["languages"]["es-MX"], {"voice": "", "greeting": "Hola"})

    def test_tenants_add_takes_the_relay_flags(self):
        self.sb.cli("tenants", "add", "latino", "--relay-voice", "es-MX=Google:es-US-Neural2-B",
                    "--relay-transcription", "es-US=Deepgram")
        t = self.show("latino")
        self.assertEqual(t["default_lang"], "es")
        self.assertEqual(t["relay"], {
            "es-MX": {"tts_provider": "Google", "voice": "es-US-Neural2-B", "transcription_provider": ""},
            "es-US": {"tts_provider": "", "voice": "", "transcription_provider": "Deepgram"},
        })
        self.assertEqual(t["languages"], {})
        listed = {x["name"]: x for x in json.loads(self.sb.cli("tenants", "list", "--json").stdout)}
        self.assertEqual(listed["latino"]["relay"], t["relay"])
        self.assertEqual(listed["acme"]["relay"], {})

    def test_unknown_tenant(self):
        err = self.refused(1, "tenants", "set", "nobody", "--timezone", "UTC")
        self.assertIn("tenant 'nobody' does not exist", err)
        err = self.refused(1, "tenants", "set", "nobody", "--relay-voice", "es-MX=Google:x")
        self.assertIn("tenant 'nobody' does not exist", err)
        self.assertIn("tenant 'nobody' does not exist", self.refused(1, "tenants", "show", "nobody"))

    def test_bad_relay_voices_are_refused_and_change_nothing(self):
        before = self.show()
        cases = [
            ("es-MX=Foo:bar", "text-to-speech provider 'Foo'"),
            ("es-MX=Google:", "the voice must be"),
            ("es-MX=Google", "is not TAG=PROVIDER:VOICE"),
            ("es-MX=:voice", "text-to-speech provider ''"),
            ("es-MX=Deepgram:aura", "text-to-speech provider 'Deepgram'"),
            ("es-MX=Google:two words", "the voice must be"),
            ("es-MX=Google:say\"hi\"", "the voice must be"),
            ("es-MX=Google:it's", "the voice must be"),
            ("xx", "is not TAG=PROVIDER:VOICE"),
            ("=Google:x", "'' is not a language tag"),
            ("es_MX=Google:x", "'es_MX' is not a language tag"),
            ("español=Google:x", "is not a language tag"),
            ("e=Google:x", "'e' is not a language tag"),
            ("es-=Google:x", "'es-' is not a language tag"),
            ("es--MX=Google:x", "'es--MX' is not a language tag"),
            ("12-MX=Google:x", "'12-MX' is not a language tag"),
        ]
        for value, message in cases:
            for cmd in (["tenants", "set", "acme"], ["tenants", "add", "other"]):
                err = self.refused(2, *cmd, "--relay-voice", value)
                self.assertIn("--relay-voice '%s'" % value, err)
                self.assertIn(message, err)
        for value, message in [("es-MX=Whisper", "transcription provider 'Whisper'"),
                               ("es-MX=", "transcription provider ''"),
                               ("es-MX", "is not TAG=PROVIDER"),
                               ("es MX=Deepgram", "'es MX' is not a language tag")]:
            err = self.refused(2, "tenants", "set", "acme", "--relay-transcription", value)
            self.assertIn("--relay-transcription '%s'" % value, err)
            self.assertIn(message, err)
        self.assertEqual(self.show(), before)
        self.assertEqual([t["name"] for t in json.loads(self.sb.cli("tenants", "list", "--json").stdout)],
                         ["acme"])

    def test_bad_usage_exits_2(self):
        self.assertIn("at least one setting", self.refused(2, "tenants", "set", "acme"))
        self.assertIn("exactly one NAME", self.refused(2, "tenants", "set", "--timezone", "UTC"))
        self.assertIn("'--color'", self.refused(2, "tenants", "set", "acme", "--color", "red"))
        self.assertIn("--lang 'es MX'", self.refused(2, "tenants", "set", "acme", "--lang", "es MX"))
        self.assertIn("transfer number '555'", self.refused(2, "tenants", "set", "acme", "--transfer", "555"))
        self.assertIn("--voice 'en-US'", self.refused(2, "tenants", "set", "acme", "--voice", "en-US"))
        self.assertIn("--greeting 'x y=Hola'",
                      self.refused(2, "tenants", "set", "acme", "--greeting", "x y=Hola"))
        self.assertIn("longer than", self.refused(2, "tenants", "set", "acme", "--greeting", "es=" + "a" * 600))
        # Nine languages do not fit.
        args = []
        for tag in ("de", "fr", "it", "pt", "ja", "ko", "zh"):
            args += ["--greeting", tag + "=x"]
        self.assertIn("more than 8 languages", self.refused(2, "tenants", "set", "acme", *args))
        self.assertEqual(len(self.show()["languages"]), 2)

    def test_help_lists_set_and_the_relay_flags(self):
        out = self.sb.cli("tenants", "set", "--help").stdout
        self.assertIn("switchboard tenants set NAME", out)
        self.assertIn("--relay-voice TAG=PROVIDER:VOICE", out)
        self.assertIn("--relay-transcription TAG=PROVIDER", out)
        self.assertIn("relay", self.sb.cli("numbers", "add", "--help").stdout)

    def test_numbers_on_the_relay_plan(self):
        out = self.sb.cli("numbers", "add", "+15005550009", "--tenant", "acme", "--plan", "relay").stdout
        self.assertIn("plan relay", out)
        numbers = json.loads(self.sb.cli("numbers", "list", "--json").stdout)
        self.assertEqual(numbers, [{"number": "+15005550009", "tenant": "acme", "plan": "relay",
                                    "agent": "receptionist", "active": True}])
        self.assertIn("relay", self.sb.cli("numbers", "list").stdout)
        res = self.sb.cli("numbers", "add", "+15005550010", "--tenant", "acme", "--plan", "Relay2", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertTrue(res.stderr.startswith("error: plan 'Relay2' is not one of starter, pro, enterprise, relay"),
                        res.stderr)

    def test_a_running_server_sees_a_change(self):
        self.sb.cli("numbers", "add", STARTER, "--tenant", "acme", "--plan", "starter")
        self.sb.start()
        self.sb.cli("tenants", "set", "acme", "--greeting", "en-US=Welcome to the new Acme")
        # The routing cache reloads within a second of the change.
        deadline = time.time() + 5
        body = b""
        n = 0
        while time.time() < deadline:
            n += 1
            status, _, body = self.sb.signed_post("/voice/incoming", incoming_params(call_sid(n), to=STARTER))
            self.assertEqual(status, 200)
            if "Welcome to the new Acme".encode() in body:
                break
            time.sleep(0.2)
        self.assertIn(b"Welcome to the new Acme", body)


if __name__ == "__main__":
    unittest.main()
