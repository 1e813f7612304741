"""The checks of `make test` can fail: each one is run on a small tree in
tests/checks/ that breaks its rule, and must name exactly what is wrong there
and nothing that is right."""

import os
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(script, fixture):
    proc = subprocess.run([os.path.join(ROOT, "scripts", script), "--root",
                           os.path.join(HERE, fixture)],
                          capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error: ")]
    return proc.returncode, errors, proc.stdout + proc.stderr


class LayersTest(unittest.TestCase):
    def test_bad_includes_are_named(self):
        rc, errors, out = run("check-layers.py", "layers")
        self.assertEqual(rc, 1, out)
        self.assertEqual(sorted(errors), [
            "error: src/cli/cli.h includes gui/window.h: "
            "gui is not a layer of scripts/check-layers.py",
            "error: src/extra/extra.c: directory extra is not a layer of "
            "scripts/check-layers.py (add it to LAYERS)",
            "error: src/server/server.h includes buf.h: "
            "includes are by path from src/ (\"layer/buf.h\")",
            "error: src/server/server.h includes media/event_internal.h: "
            "an _internal.h header is private to layer media",
            "error: src/store/store.c includes server/server.h: "
            "layer store may not include layer server",
            "error: src/store/store.h includes voice/voice.h: "
            "layer store may not include layer voice",
        ], out)


class HeadersTest(unittest.TestCase):
    def test_headers_that_need_another_are_named(self):
        rc, errors, out = run("check-headers.py", "headers")
        self.assertEqual(rc, 1, out)
        self.assertEqual(errors, [
            "error: src/core/no_guard.h does not compile on its own (included once, then again):",
            "error: src/core/no_stddef.h does not compile on its own (included once, then again):",
        ], out)
        self.assertIn("unknown type name", out)
        self.assertIn("redefinition of", out)
        self.assertIn("4 headers, 2 do not compile", out)


class BannedTest(unittest.TestCase):
    def test_files_without_banned_h_last_are_named(self):
        rc, errors, out = run("check-banned.py", "banned")
        self.assertEqual(rc, 1, out)
        self.assertEqual(errors, [
            "error: src/core/late.c includes string.h after core/banned.h "
            "(it must be the last include)",
            "error: src/core/missing.c does not include core/banned.h",
        ], out)
        self.assertIn("3 files, 2 do not include core/banned.h last", out)


class FormatTest(unittest.TestCase):
    def test_unformatted_file_is_named(self):
        rc, errors, out = run("check-format.sh", "format")
        self.assertEqual(rc, 1, out)
        self.assertEqual(len(errors), 1, out)
        self.assertRegex(errors[0], r"^error: src/core/bad\.c: clang-format would change \d+ places?$")
        self.assertIn("2 files, 1 would change", out)


if __name__ == "__main__":
    unittest.main()
