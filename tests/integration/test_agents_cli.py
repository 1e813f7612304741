"""switchboard agents (add, set, show, remove, list) and calls show, with the real binary."""
import json
import os
import unittest

from tests.integration.harness import Switchboard

SECRET = "sk-test-0123456789-never-printed"
STT_SECRET = "dg-test-stt-key-never-printed"
TTS_SECRET = "el-test-tts-key-never-printed"
SECRETS = (SECRET, STT_SECRET, TTS_SECRET)
PERSONA = ("Eres Lucía, la recepcionista de la Peluquería Ñandú en Querétaro.\n"
           "Habla de «usted», sé breve y amable. ¿Dudas? Ofrece tomar un recado.\n")
KNOWLEDGE = ("# Peluquería Ñandú\n\n"
             "Somos una peluquería familiar, abierta desde 1998.\n\n"
             "## Precios\n\n"
             "Un corte cuesta 250 pesos; el tinte, 600. Los niños pagan 150.\n\n"
             "## Horario\n\n"
             "Abrimos de lunes a sábado, de 9:00 a 19:00.\n")
SID = "CA" + "ab" * 16


class AgentsCliTest(unittest.TestCase):
    def setUp(self):
        self.sb = Switchboard()
        self.sb.cli("tenants", "add", "peluqueria", "--lang", "es-MX", "--transfer", "+15557654321")
        self.sb.cli("tenants", "add", "acme", "--lang", "en-US")
        self.persona = self.write("persona.txt", PERSONA)
        self.knowledge = self.write("salon.md", KNOWLEDGE)

    def tearDown(self):
        self.sb.close()

    def write(self, name, text, mode="w"):
        path = os.path.join(self.sb.dir, name)
        with open(path, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            f.write(text)
        return path

    def env(self, **extra):
        return self.sb.env(SB_TEST_LLM_KEY=SECRET, SB_TEST_STT_KEY=STT_SECRET,
                           SB_TEST_TTS_KEY=TTS_SECRET, **extra)

    def run_cli(self, *args, check=True):
        res = self.sb.cli(*args, check=check, env=self.env())
        for secret in SECRETS:
            self.assertNotIn(secret, res.stdout + res.stderr)
        return res

    def refuse(self, code, *args):
        """Runs a command that must fail with `code` and one 'error: ...' line; returns it."""
        res = self.run_cli(*args, check=False)
        self.assertEqual(res.returncode, code, (args, res.stdout, res.stderr))
        self.assertTrue(res.stderr.startswith("error: "), res.stderr)
        self.assertEqual(res.stdout, "")
        return res.stderr

    def add(self, name="recepcion", *extra, tenant="peluqueria"):
        return self.run_cli("agents", "add", name, "--tenant", tenant,
                            "--base-url", "https://api.example.com/v1", "--model", "gpt-4o-mini",
                            *extra)

    def show(self, name="recepcion", tenant="peluqueria"):
        return json.loads(self.run_cli("agents", "show", name, "--tenant", tenant, "--json").stdout)

    def test_add_and_show_round_trip_a_spanish_persona_and_knowledge(self):
        res = self.add("recepcion", "--api-key-env", "SB_TEST_LLM_KEY", "--prompt-file", self.persona,
                       "--knowledge", self.knowledge, "--temperature", "0.3", "--max-tokens", "250",
                       "--lang", "es-MX", "--lang", "en-US", "--first-token-timeout", "1800",
                       "--fallback", "transfer")
        self.assertIn("imported salon.md: 3 passages", res.stdout)
        self.assertIn("added agent recepcion (tenant peluqueria)", res.stdout)
        a = self.show()
        self.assertEqual(a["prompt"], PERSONA)
        self.assertEqual((a["tenant"], a["name"], a["base_url"], a["model"], a["api_key_env"]),
                         ("peluqueria", "recepcion", "https://api.example.com/v1", "gpt-4o-mini",
                          "SB_TEST_LLM_KEY"))
        self.assertEqual(a["temperature"], 0.3)
        self.assertEqual(a["max_tokens"], 250)
        self.assertEqual(a["languages"], ["es-MX", "en-US"])
        self.assertEqual(a["first_token_timeout_ms"], 1800)
        self.assertEqual(a["fallback"], "transfer")
        self.assertEqual(len(a["knowledge"]), 1)
        k = a["knowledge"][0]
        self.assertEqual((k["file"], k["bytes"], k["passages"]),
                         ("salon.md", len(KNOWLEDGE.encode("utf-8")), 3))
        self.assertTrue(a["created_at"].endswith("Z"))
        text = self.run_cli("agents", "show", "recepcion", "--tenant", "peluqueria").stdout
        self.assertIn("Eres Lucía, la recepcionista de la Peluquería Ñandú", text)
        self.assertIn("from $SB_TEST_LLM_KEY", text)
        self.assertIn("salon.md: 3 passages", text)
        # The passages are in the store, accents intact, and the key is nowhere in the file.
        headings = [r[0] for r in self.sb.sql("SELECT heading FROM knowledge_passages ORDER BY seq")]
        self.assertEqual(headings, ["Peluquería Ñandú", "Precios", "Horario"])
        for name in os.listdir(self.sb.dir):
            if name.startswith("sb.db"):
                with open(os.path.join(self.sb.dir, name), "rb") as f:
                    self.assertNotIn(SECRET.encode(), f.read())

    def test_defaults(self):
        self.add("bare", tenant="acme")
        a = self.show("bare", "acme")
        self.assertEqual((a["api_key_env"], a["prompt"], a["temperature"], a["max_tokens"]),
                         (None, "", None, None))
        self.assertEqual((a["languages"], a["first_token_timeout_ms"], a["fallback"], a["knowledge"]),
                         ([], 2500, "rules", []))

    def test_set_changes_only_the_flags_given_and_reimports_knowledge(self):
        self.add("recepcion", "--prompt-file", self.persona, "--knowledge", self.knowledge,
                 "--temperature", "0.3", "--lang", "es-MX", "--lang", "en-US")
        before = self.show()
        res = self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria",
                           "--temperature", "1.2", "--fallback", "transfer")
        self.assertIn("updated agent recepcion", res.stdout)
        after = self.show()
        self.assertEqual((after["temperature"], after["fallback"]), (1.2, "transfer"))
        for key in ("base_url", "model", "prompt", "languages", "max_tokens",
                    "first_token_timeout_ms", "knowledge", "created_at"):
            self.assertEqual(after[key], before[key], key)
        # --lang replaces the list; --model alone changes the model.
        self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria", "--lang", "es",
                     "--model", "llama3.1")
        after = self.show()
        self.assertEqual((after["languages"], after["model"], after["prompt"]), (["es"], "llama3.1", PERSONA))
        # The same file name again replaces its passages; another file adds its own.
        smaller = self.write("salon.md", "## Precios\n\nEl corte cuesta ahora 300 pesos.\n")
        res = self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria", "--knowledge", smaller)
        self.assertIn("imported salon.md: 1 passage\n", res.stdout)
        promos = self.write("promos.md", "Los martes, dos por uno.\n")
        self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria", "--knowledge", promos)
        files = {k["file"]: k["passages"] for k in self.show()["knowledge"]}
        self.assertEqual(files, {"salon.md": 1, "promos.md": 1})
        bodies = sorted(r[0] for r in self.sb.sql("SELECT body FROM knowledge_passages"))
        self.assertEqual(bodies, ["El corte cuesta ahora 300 pesos.", "Los martes, dos por uno."])

    def test_list_and_remove(self):
        self.add("recepcion", "--knowledge", self.knowledge)
        self.add("ventas", tenant="acme")
        self.add("soporte", tenant="acme")
        every = json.loads(self.run_cli("agents", "list", "--json").stdout)
        self.assertEqual([(a["tenant"], a["name"]) for a in every],
                         [("acme", "soporte"), ("acme", "ventas"), ("peluqueria", "recepcion")])
        self.assertNotIn("knowledge", every[0])
        mine = json.loads(self.run_cli("agents", "list", "--tenant", "acme", "--json").stdout)
        self.assertEqual([a["name"] for a in mine], ["soporte", "ventas"])
        table = self.run_cli("agents", "list").stdout
        self.assertIn("recepcion", table)
        self.assertIn("gpt-4o-mini", table)
        res = self.run_cli("agents", "remove", "recepcion", "--tenant", "peluqueria")
        self.assertIn("removed agent recepcion (tenant peluqueria)", res.stdout)
        self.assertIn("agent 'recepcion' does not exist for tenant 'peluqueria'",
                      self.refuse(1, "agents", "remove", "recepcion", "--tenant", "peluqueria"))
        self.assertEqual(json.loads(self.run_cli("agents", "list", "--tenant", "peluqueria", "--json").stdout), [])
        self.assertEqual(self.sb.sql("SELECT count(*) FROM knowledge_passages"), [(0,)])

    def test_refusals_name_the_thing(self):
        self.add("recepcion")
        cases = [
            (("--tenant", "nadie"), "tenant 'nadie' does not exist"),
            (("--base-url", "ftp://example.com"), "base URL 'ftp://example.com'"),
            (("--base-url", "api.example.com"), "base URL 'api.example.com'"),
            (("--temperature", "2.5"), "temperature '2.5'"),
            (("--temperature", "-0.1"), "temperature '-0.1'"),
            (("--temperature", "warm"), "temperature 'warm'"),
            (("--max-tokens", "0"), "max tokens '0'"),
            (("--first-token-timeout", "soon"), "first token timeout 'soon'"),
            (("--fallback", "hangup"), "fallback 'hangup'"),
            (("--lang", "es MX"), "language 'es MX'"),
            (("--api-key-env", "SB_TEST_NOT_SET_ANYWHERE"),
             "environment variable 'SB_TEST_NOT_SET_ANYWHERE' (--api-key-env) is not set"),
            (("--api-key-env", "1BAD"), "--api-key-env '1BAD'"),
        ]
        for extra, message in cases:
            args = ["agents", "add", "otro", "--tenant", "peluqueria", "--base-url",
                    "https://api.example.com/v1", "--model", "m"]
            # A later flag wins, so the bad value replaces the good one.
            err = self.refuse(1, *args, *extra)
            self.assertIn(message, err, extra)
        self.assertIn("agent 'recepcion' already exists for tenant 'peluqueria'",
                      self.refuse(1, "agents", "add", "recepcion", "--tenant", "peluqueria",
                                  "--base-url", "http://127.0.0.1:9/v1", "--model", "m"))
        for reserved in ("rules", "echo"):
            self.assertIn("agent name '%s' is reserved" % reserved,
                          self.refuse(1, "agents", "add", reserved, "--tenant", "peluqueria",
                                      "--base-url", "http://x", "--model", "m"))
        self.assertIn("agent name 'a b'", self.refuse(1, "agents", "add", "a b", "--tenant", "peluqueria",
                                                       "--base-url", "http://x", "--model", "m"))
        self.assertIn("agent 'nadie' does not exist for tenant 'peluqueria'",
                      self.refuse(1, "agents", "set", "nadie", "--tenant", "peluqueria", "--model", "m"))
        self.assertIn("agent 'nadie' does not exist",
                      self.refuse(1, "agents", "show", "nadie", "--tenant", "peluqueria"))
        self.assertIn("tenant 'nadie' does not exist",
                      self.refuse(1, "agents", "list", "--tenant", "nadie"))
        # set checks the same way, and a refused set changes nothing.
        self.assertIn("temperature '3'",
                      self.refuse(1, "agents", "set", "recepcion", "--tenant", "peluqueria",
                                  "--model", "otro", "--temperature", "3"))
        self.assertIn("SB_TEST_NOT_SET_ANYWHERE",
                      self.refuse(1, "agents", "set", "recepcion", "--tenant", "peluqueria",
                                  "--api-key-env", "SB_TEST_NOT_SET_ANYWHERE"))
        self.assertEqual(self.show()["model"], "gpt-4o-mini")
        self.assertEqual([a["name"] for a in json.loads(self.run_cli("agents", "list", "--json").stdout)],
                         ["recepcion"])

    def test_bad_files_are_refused_and_change_nothing(self):
        self.add("recepcion", "--knowledge", self.knowledge)
        empty = self.write("empty.md", "")
        blank = self.write("blank.md", "\n  \n\t\n")
        binary = self.write("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", mode="wb")
        latin1 = self.write("latin1.txt", "Peluquería".encode("latin-1"), mode="wb")
        huge = self.write("huge.md", "una línea de texto\n" * 60000)
        missing = os.path.join(self.sb.dir, "missing.md")
        cases = [
            (missing, "cannot read knowledge file '%s'" % missing),
            (empty, "knowledge file '%s' is empty" % empty),
            (blank, "knowledge file '%s' has no text" % blank),
            (binary, "knowledge file '%s' is not UTF-8 text" % binary),
            (latin1, "knowledge file '%s' is not UTF-8 text" % latin1),
            (huge, "knowledge file '%s' is larger than 1 MiB" % huge),
        ]
        for path, message in cases:
            self.assertIn(message, self.refuse(1, "agents", "set", "recepcion", "--tenant", "peluqueria",
                                               "--knowledge", path))
            self.assertIn(message, self.refuse(1, "agents", "add", "otro", "--tenant", "peluqueria",
                                               "--base-url", "http://x", "--model", "m",
                                               "--knowledge", path))
        self.assertIn("prompt file '%s' is not UTF-8 text" % binary,
                      self.refuse(1, "agents", "set", "recepcion", "--tenant", "peluqueria",
                                  "--prompt-file", binary))
        self.assertIn("cannot read prompt file '%s'" % missing,
                      self.refuse(1, "agents", "set", "recepcion", "--tenant", "peluqueria",
                                  "--prompt-file", missing))
        a = self.show()
        self.assertEqual([(k["file"], k["passages"]) for k in a["knowledge"]], [("salon.md", 3)])
        self.assertEqual([x["name"] for x in json.loads(self.run_cli("agents", "list", "--json").stdout)],
                         ["recepcion"])

    def test_usage_errors_exit_2(self):
        self.add("recepcion")
        base = ("--base-url", "http://x", "--model", "m")
        self.assertIn("needs --tenant", self.refuse(2, "agents", "add", "otro", *base))
        self.assertIn("needs --model", self.refuse(2, "agents", "add", "otro", "--tenant", "peluqueria",
                                                   "--base-url", "http://x"))
        self.assertIn("needs --base-url", self.refuse(2, "agents", "add", "otro", "--tenant", "peluqueria",
                                                      "--model", "m"))
        self.assertIn("exactly one NAME", self.refuse(2, "agents", "add", "--tenant", "peluqueria", *base))
        self.assertIn("exactly one NAME", self.refuse(2, "agents", "show", "a", "b", "--tenant", "peluqueria"))
        self.assertIn("'--colour'", self.refuse(2, "agents", "add", "otro", "--tenant", "peluqueria",
                                                "--colour", "blue", *base))
        self.assertIn("at least one setting", self.refuse(2, "agents", "set", "recepcion", "--tenant", "peluqueria"))
        self.assertIn("unknown agents command 'edit'", self.refuse(2, "agents", "edit", "recepcion"))
        self.assertIn("takes no agent settings", self.refuse(2, "agents", "show", "recepcion", "--tenant",
                                                             "peluqueria", "--model", "m"))
        self.assertIn("takes no arguments", self.refuse(2, "agents", "list", "extra"))
        self.assertEqual(self.run_cli("agents", check=False).returncode, 2)
        res = self.run_cli("agents", "--help")
        self.assertEqual(res.returncode, 0)
        for flag in ("--base-url", "--api-key-env", "--prompt-file", "--knowledge", "--temperature",
                     "--max-tokens", "--lang", "--first-token-timeout", "--fallback", "--db"):
            self.assertIn(flag, res.stdout)
        self.assertIn("agents", self.run_cli("--help").stdout)

    SPEECH = ("--stt", "deepgram", "--stt-model", "nova-2", "--stt-url", "https://api.deepgram.example/v1",
              "--stt-key-env", "SB_TEST_STT_KEY", "--tts", "elevenlabs",
              "--tts-url", "http://127.0.0.1:9/v1/text-to-speech", "--tts-key-env", "SB_TEST_TTS_KEY",
              "--voice", "es-MX=Jimena Núñez", "--voice", "en-US=Rachel")
    SPEECH_JSON = {"stt": "deepgram", "stt_model": "nova-2", "stt_url": "https://api.deepgram.example/v1",
                   "stt_key_env": "SB_TEST_STT_KEY", "tts": "elevenlabs",
                   "tts_url": "http://127.0.0.1:9/v1/text-to-speech", "tts_key_env": "SB_TEST_TTS_KEY",
                   "voices": {"es-MX": "Jimena Núñez", "en-US": "Rachel"}}

    def speech(self, a):
        return {k: a[k] for k in self.SPEECH_JSON}

    def test_speech_settings_add_show_and_list(self):
        self.add("recepcion", *self.SPEECH)
        a = self.show()
        self.assertEqual(self.speech(a), self.SPEECH_JSON)
        self.assertEqual(list(a["voices"]), ["es-MX", "en-US"])
        self.assertEqual((a["model"], a["fallback"]), ("gpt-4o-mini", "rules"))
        listed = json.loads(self.run_cli("agents", "list", "--json").stdout)
        self.assertEqual(self.speech(listed[0]), self.SPEECH_JSON)
        text = self.run_cli("agents", "show", "recepcion", "--tenant", "peluqueria").stdout
        for line in ("stt                   deepgram", "stt model             nova-2",
                     "stt url               https://api.deepgram.example/v1",
                     "stt key               from $SB_TEST_STT_KEY (set here)",
                     "tts                   elevenlabs",
                     "tts url               http://127.0.0.1:9/v1/text-to-speech",
                     "tts key               from $SB_TEST_TTS_KEY (set here)",
                     "voices                (below)", "  es-MX: Jimena Núñez", "  en-US: Rachel"):
            self.assertIn(line + "\n", text)
        # Only the variables' names are kept: no key is in the store's files.
        # The voices are compared in SQL: a newline inside a value is one row on both engines.
        row, = self.sb.sql("SELECT stt, stt_key_env, tts_key_env, CASE WHEN voices = ? THEN 1 ELSE 0 END "
                           "FROM agents", ("es-MX=Jimena Núñez\nen-US=Rachel",))
        self.assertEqual(row, ("deepgram", "SB_TEST_STT_KEY", "SB_TEST_TTS_KEY", 1))
        for name in os.listdir(self.sb.dir):
            if name.startswith("sb.db"):
                with open(os.path.join(self.sb.dir, name), "rb") as f:
                    data = f.read()
                for secret in SECRETS:
                    self.assertNotIn(secret.encode(), data)

    def test_speech_defaults(self):
        self.add("bare", tenant="acme")
        a = self.show("bare", "acme")
        self.assertEqual(self.speech(a), {"stt": None, "stt_model": None, "stt_url": None,
                                          "stt_key_env": None, "tts": None, "tts_url": None,
                                          "tts_key_env": None, "voices": {}})
        text = self.run_cli("agents", "show", "bare", "--tenant", "acme").stdout
        self.assertIn("stt                   default (pocketsphinx)\n", text)
        self.assertIn("tts                   default (flite for English, espeak-ng otherwise)\n", text)
        self.assertIn("stt key               none\n", text)
        self.assertIn("voices                the engine's default\n", text)

    def test_a_spanish_voice_with_accents_and_a_repeated_language(self):
        self.add("recepcion", "--tts", "espeak", "--voice", "es-MX=Paulina", "--voice", "en-US=Alex",
                 "--voice", "es-MX=Mónica Ibáñez (México)")
        a = self.show()
        self.assertEqual(a["tts"], "espeak")
        self.assertEqual(a["voices"], {"es-MX": "Mónica Ibáñez (México)", "en-US": "Alex"})
        self.assertEqual(list(a["voices"]), ["es-MX", "en-US"])
        text = self.run_cli("agents", "show", "recepcion", "--tenant", "peluqueria").stdout
        self.assertIn("  es-MX: Mónica Ibáñez (México)\n", text)
        # Eight languages fit; the ninth is refused by name.
        voices = [x for i in range(8) for x in ("--voice", "es-%d=Voz %d" % (419 + i, i))]
        self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria", *voices)
        self.assertEqual(len(self.show()["voices"]), 8)
        self.assertIn("--voice 'fr=Amélie' is one too many (at most 8 languages)",
                      self.refuse(1, "agents", "set", "recepcion", "--tenant", "peluqueria", *voices,
                                  "--voice", "fr=Amélie"))

    def test_set_changes_one_speech_flag(self):
        self.add("recepcion", *self.SPEECH)
        before = self.show()
        self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria", "--tts", "cartesia")
        after = self.show()
        self.assertEqual(after["tts"], "cartesia")
        for key in list(self.SPEECH_JSON) + ["base_url", "model", "languages", "fallback", "created_at"]:
            if key != "tts":
                self.assertEqual(after[key], before[key], key)
        # The voices given replace the list; an LLM flag alone leaves the speech settings.
        self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria", "--voice", "es=Lucía")
        self.assertEqual(self.show()["voices"], {"es": "Lucía"})
        self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria", "--model", "llama3.1")
        after = self.show()
        self.assertEqual((after["model"], after["stt"], after["voices"]), ("llama3.1", "deepgram", {"es": "Lucía"}))
        # An empty value puts a setting back to its default.
        self.run_cli("agents", "set", "recepcion", "--tenant", "peluqueria", "--stt", "", "--stt-url", "",
                     "--stt-key-env", "", "--stt-model", "")
        after = self.show()
        self.assertEqual((after["stt"], after["stt_url"], after["stt_key_env"], after["stt_model"]),
                         (None, None, None, None))
        self.assertEqual((after["tts"], after["tts_key_env"]), ("cartesia", "SB_TEST_TTS_KEY"))
        text = self.run_cli("agents", "show", "recepcion", "--tenant", "peluqueria").stdout
        self.assertIn("stt                   default (pocketsphinx)\n", text)

    def test_speech_refusals_name_the_thing(self):
        self.add("recepcion", *self.SPEECH)
        cases = [
            (("--stt", "google"), "--stt 'google' is not pocketsphinx, deepgram or whisper-api"),
            (("--stt", "flite"), "--stt 'flite' is not pocketsphinx, deepgram or whisper-api"),
            (("--tts", "polly"), "--tts 'polly' is not espeak, flite, elevenlabs, cartesia or openai"),
            (("--tts", "espeak-ng"), "--tts 'espeak-ng' is not espeak, flite, elevenlabs, cartesia or openai"),
            (("--stt-url", "ftp://dg.example"), "--stt-url 'ftp://dg.example' is not an http://, https://, ws:// or wss:// URL"),
            (("--tts-url", "api.elevenlabs.io"),
             "--tts-url 'api.elevenlabs.io' is not an http://, https://, ws:// or wss:// URL"),
            (("--stt-key-env", "SB_TEST_NOT_SET_ANYWHERE"),
             "environment variable 'SB_TEST_NOT_SET_ANYWHERE' (--stt-key-env) is not set"),
            (("--tts-key-env", "SB_TEST_NOT_SET_ANYWHERE"),
             "environment variable 'SB_TEST_NOT_SET_ANYWHERE' (--tts-key-env) is not set"),
            (("--stt-key-env", "1BAD"), "--stt-key-env '1BAD' is not an environment variable name"),
            (("--tts-key-env", "BAD-NAME"), "--tts-key-env 'BAD-NAME' is not an environment variable name"),
            (("--stt-model", "m" * 128), "--stt-model '%s' is longer than 127 characters" % ("m" * 128)),
            (("--voice", "Jimena"), "--voice 'Jimena' is not LANG=VOICE"),
            (("--voice", "es MX=Jimena"), "--voice 'es MX=Jimena': 'es MX' is not a language tag"),
            (("--voice", "=Jimena"), "--voice '=Jimena': '' is not a language tag"),
            (("--voice", "es-MX="), "--voice 'es-MX=': the voice name must be 1 to 63 bytes of printable text"),
            (("--voice", "es-MX=Jimena\tNúñez"),
             "--voice 'es-MX=Jimena\tNúñez': the voice name must be 1 to 63 bytes of printable text"),
            (("--voice", "es-MX=" + "v" * 64),
             "the voice name must be 1 to 63 bytes of printable text"),
        ]
        for extra, message in cases:
            err = self.refuse(1, "agents", "add", "otro", "--tenant", "peluqueria", "--base-url",
                              "https://api.example.com/v1", "--model", "m", *extra)
            self.assertIn(message, err, extra)
            self.assertEqual(len(err.splitlines()), 1, err)
            # set checks the same way, and a refused set changes nothing.
            err = self.refuse(1, "agents", "set", "recepcion", "--tenant", "peluqueria", "--tts", "openai",
                              *extra)
            self.assertIn(message, err, extra)
        self.assertEqual(self.speech(self.show()), self.SPEECH_JSON)
        self.assertEqual([a["name"] for a in json.loads(self.run_cli("agents", "list", "--json").stdout)],
                         ["recepcion"])
        # The variables' values are never in a message, even when set.
        err = self.refuse(1, "agents", "set", "recepcion", "--tenant", "peluqueria",
                          "--stt-key-env", "SB_TEST_STT_KEY", "--stt", "nope")
        self.assertNotIn(STT_SECRET, err)
        res = self.run_cli("agents", "--help")
        for flag in ("--stt ", "--stt-model", "--stt-url", "--stt-key-env", "--tts ", "--tts-url",
                     "--tts-key-env", "--voice LANG=VOICE"):
            self.assertIn(flag, res.stdout)
        self.assertIn("takes no agent settings", self.refuse(2, "agents", "show", "recepcion", "--tenant",
                                                             "peluqueria", "--stt", "deepgram"))

    def test_db_flag(self):
        other = os.path.join(self.sb.dir, "other.db")
        self.run_cli("tenants", "add", "solo", "--db", other)
        self.run_cli("agents", "add", "a1", "--tenant", "solo", "--base-url", "http://x", "--model", "m",
                     "--db", other)
        self.assertEqual(len(json.loads(self.run_cli("agents", "list", "--json", "--db", other).stdout)), 1)
        self.assertEqual(json.loads(self.run_cli("agents", "list", "--json").stdout), [])


class CallsShowTest(unittest.TestCase):
    """calls show: a conversation written the way the engine writes it (rows in the store)."""

    def setUp(self):
        self.sb = Switchboard()
        self.sb.cli("tenants", "list")  # creates the store
        self.sb.sql("INSERT INTO calls(call_sid, tenant, direction, from_number, to_number, status, "
                    "duration, lang, started_at, ended_at, updated_at) "
                    "VALUES(?, 'peluqueria', 'inbound', '+5215598765432', '+15005550006', 'completed', "
                    "42, 'es-MX', 1700000000, 1700000042, 1700000042)", (SID,))
        turns = [
            (1, "caller", "¿Cuánto cuesta un corte?", "", "", "", 0, "", -1),
            (2, "tool", "", "search_knowledge", '{"query": "precio corte"}', "Un corte cuesta 250 pesos.", 0, "", 40),
            (3, "agent", "Un corte cuesta 250 pesos. ¿Le aparto una cita?", "", "", "", 1,
             "Un corte cuesta 250 pesos.", 850),
            (4, "caller", "Mejor déjele un recado a Lucía.\x1b[2J", "", "", "", 0, "", -1),
            (5, "tool", "", "take_message", '{"name": "Ana López"}', '{"ok": true}', 0, "", 60),
            (6, "event", "hangup", "", "", "", 0, "", -1),
        ]
        for seq, role, text, tool, args, result, interrupted, heard, latency in turns:
            self.sb.sql("INSERT INTO call_turns(call_sid, seq, role, text, tool, tool_args, tool_result, "
                        "interrupted, heard, latency_ms, at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (SID, seq, role, text, tool, args, result, interrupted, heard, latency,
                         1700000001000 + seq * 1500))
        self.sb.sql("INSERT INTO call_messages(call_sid, caller_name, callback_number, message, at) "
                    "VALUES(?, 'Ana López', '+5215512345678', 'Que me llame Lucía mañana, por favor.', "
                    "1700000010000)", (SID,))

    def tearDown(self):
        self.sb.close()

    def test_text(self):
        out = self.sb.cli("calls", "show", SID).stdout
        self.assertIn("call        " + SID, out)
        self.assertIn("conversation (6 turns):", out)
        lines = out.splitlines()
        caller = next(line for line in lines if "¿Cuánto cuesta un corte?" in line)
        self.assertIn("caller", caller)
        agent = next(line for line in lines if "¿Le aparto una cita?" in line)
        self.assertIn("agent", agent)
        self.assertIn('[interrupted; heard: "Un corte cuesta 250 pesos."]', agent)
        self.assertIn("(latency 850 ms)", agent)
        tool = next(line for line in lines if "search_knowledge" in line)
        self.assertIn('search_knowledge({"query": "precio corte"}) -> Un corte cuesta 250 pesos.', tool)
        self.assertIn("(latency 40 ms)", tool)
        self.assertIn("event   hangup", out)
        self.assertIn("messages taken (1):", out)
        self.assertIn("from Ana López, call back +5215512345678: Que me llame Lucía mañana, por favor.", out)
        # What a caller said cannot drive the terminal.
        self.assertNotIn("\x1b", out)

    def test_json(self):
        data = json.loads(self.sb.cli("calls", "show", SID, "--json").stdout)
        self.assertEqual(data["call"]["call_sid"], SID)
        self.assertEqual(data["call"]["duration"], 42)
        turns = data["turns"]
        self.assertEqual([t["role"] for t in turns], ["caller", "tool", "agent", "caller", "tool", "event"])
        self.assertEqual(turns[0]["text"], "¿Cuánto cuesta un corte?")
        self.assertEqual(turns[0]["latency_ms"], None)
        self.assertEqual((turns[1]["tool"], turns[1]["arguments"], turns[1]["result"]),
                         ("search_knowledge", '{"query": "precio corte"}', "Un corte cuesta 250 pesos."))
        self.assertEqual((turns[2]["interrupted"], turns[2]["heard"], turns[2]["latency_ms"]),
                         (True, "Un corte cuesta 250 pesos.", 850))
        self.assertEqual(turns[3]["text"], "Mejor déjele un recado a Lucía.\x1b[2J")
        self.assertTrue(turns[0]["at"].endswith("Z"))
        self.assertEqual(data["messages"], [{
            "at": "2023-11-14T22:13:30.000Z", "caller_name": "Ana López",
            "callback_number": "+5215512345678", "message": "Que me llame Lucía mañana, por favor."}])

    def test_a_call_with_no_transcript_and_an_unknown_call(self):
        self.sb.sql("INSERT INTO calls(call_sid, tenant, direction, from_number, to_number, status, "
                    "duration, lang, started_at, ended_at, updated_at) "
                    "VALUES('CA" + "0" * 32 + "', '', 'inbound', '+14155550100', '+15005550006', "
                    "'ringing', -1, '', 1700000000, 0, 1700000000)")
        out = self.sb.cli("calls", "show", "CA" + "0" * 32).stdout
        self.assertIn("conversation (0 turns):", out)
        self.assertIn("messages taken (0):", out)
        res = self.sb.cli("calls", "show", "CA" + "9" * 32, check=False)
        self.assertEqual(res.returncode, 1)
        self.assertTrue(res.stderr.startswith("error: call 'CA%s' does not exist" % ("9" * 32)), res.stderr)
        res = self.sb.cli("calls", "show", check=False)
        self.assertEqual(res.returncode, 2)
        self.assertTrue(res.stderr.startswith("error: "), res.stderr)
        # calls list still works and has not changed.
        self.assertEqual(len(json.loads(self.sb.cli("calls", "list", "--json").stdout)), 2)


if __name__ == "__main__":
    unittest.main()
