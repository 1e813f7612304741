"""docs/openapi.yaml against an OpenAPI 3.1 validator (the official JSON Schemas).

The validator, @seriousme/openapi-schema-validator, is installed into
tests/oracle/openapi/node_modules on first use (`npm install`, no lock file);
the test is skipped only when npm is absent (scripts/deps.sh --test installs
it). The API's answers are checked against the same document by
tests/integration/test_api.py.

    /usr/bin/python3 -m unittest tests/oracle/test_openapi_oracle.py -v
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from tests.oracle import npm

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "openapi.yaml")


def install_validator():
    """Installs the validator when it is missing; returns an error text or None."""
    return npm.install(NODE_DIR, "@seriousme", "openapi-schema-validator", "package.json")


def validate(path):
    return subprocess.run(["node", "validate.mjs", path], cwd=NODE_DIR, capture_output=True,
                          text=True, timeout=60)


@unittest.skipIf(shutil.which("npm") is None or shutil.which("node") is None,
                 "npm and node are not installed (scripts/deps.sh --test installs them)")
class OpenApiOracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        problem = install_validator()
        if problem:
            raise AssertionError(problem)

    def test_the_document_is_valid_openapi_3_1(self):
        res = validate(DOC)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual(res.stdout.strip(), "valid 3.1")

    def test_the_validator_refuses_a_broken_document(self):
        # The judge must be able to say no: a dangling $ref and an unknown top-level key.
        with open(DOC, encoding="utf-8") as f:
            text = f.read()
        with tempfile.TemporaryDirectory() as d:
            for name, broken in (("ref.yaml", text.replace("#/components/schemas/Error",
                                                            "#/components/schemas/Nope")),
                                 ("key.yaml", text.replace("openapi: 3.1.0\n",
                                                           "openapi: 3.1.0\nbogus: 1\n", 1))):
                path = os.path.join(d, name)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(broken)
                self.assertNotEqual(validate(path).returncode, 0, name)
