"""X-Twilio-Signature: switchboard's sig-tool against twilio-python.

The official helper library decides what a correct signature is. Run with
the system interpreter, which has Debian's python3-twilio:

    SB_BUILD=build /usr/bin/python3 -m unittest tests/oracle/test_sig_oracle.py -v

SB_BUILD names the meson build directory (relative to the repository root
or absolute). SB_SIG_SEED fixes the random seed; the seed in use is printed
so that a failure can be reproduced.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest
from urllib.parse import urlencode, urlparse

from twilio.request_validator import RequestValidator, add_port, remove_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, os.environ.get("SB_BUILD", "build"))
SIG_TOOL = os.path.join(BUILD, "tests", "tools", "sig-tool")

SEED = int(os.environ.get("SB_SIG_SEED", random.SystemRandom().randrange(1 << 32)))
CASES = 200

# Characters that have to survive signing untouched: URL and form syntax,
# spaces, and non-ASCII text of different UTF-8 lengths.
VALUE_ALPHABET = (
    "abcXYZ0189" + "+&=%?#/ :;,'\"<>@!~*()[]{}|\\^`$" + " \t" + "éñüß" + "中文" + "🙂" + "ÿ€"
)
KEY_ALPHABET = "abcdefgABCDEFG0123_.-+%& " + "éñ" + "中" + "🙂"
TWILIO_KEYS = ["CallSid", "AccountSid", "From", "To", "Caller", "Called", "Digits",
               "SpeechResult", "Sid", "SidAccount", "Body", "MessagingBinding.Address"]


class MultiParams:
    """Form parameters with repeated keys, shaped for RequestValidator.

    Debian's python3-twilio 7.7 signs `sorted(params.items())`, so a mapping
    whose items() yields one (key, value) pair per distinct pair is signed as
    key+value for every value, keys and values in code-point order. That is
    the behaviour of the current helper libraries (sorted(set(values)) per
    key), which is what switchboard implements. Code-point order of str is
    byte order of UTF-8, so it matches strcmp in C.
    """

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def items(self):
        return sorted(set(self.pairs))

    def __len__(self):
        return len(self.pairs)


def rand_text(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def rand_params(rng):
    """Returns a list of (key, value) pairs, with repeated keys and duplicate values."""
    pairs = []
    for _ in range(rng.randint(0, 12)):
        r = rng.random()
        if r < 0.4:
            key = rng.choice(TWILIO_KEYS)
        elif r < 0.97:
            # '=' would end the key in sig-tool's key=value arguments.
            key = rand_text(rng, KEY_ALPHABET, 1, 10)
        else:
            key = ""
        value = rand_text(rng, VALUE_ALPHABET, 0, 20)
        pairs.append((key, value))
        if rng.random() < 0.25:
            # The same key again, half the time with the very same value.
            pairs.append((key, value if rng.random() < 0.5 else rand_text(rng, VALUE_ALPHABET, 0, 8)))
    rng.shuffle(pairs)
    return pairs


def rand_url(rng):
    """Returns (url, python_can_vary_ports).

    twilio-python's remove_port cuts the netloc at its first ':', which breaks
    URLs with userinfo and a port, and IPv6 literals with a port; those URLs
    are still compared with compute_signature, but not run through the
    helper's own port variants.
    """
    scheme = rng.choice(["https", "https", "http", "HTTPS", "Http"])
    host = rng.choice(["mycompany.com", "example.org", "a-b.example.net", "127.0.0.1",
                       "Host.Example.COM", "[::1]", "[2001:db8::7]", "xn--bcher-kva.example"])
    port = rng.choice([None, None, None, 80, 443, 8080, 1234, 65535])
    userinfo = ""
    if rng.random() < 0.15:
        userinfo = rng.choice(["user@", "user:pass@", "u%40x:p%3Aw@"])
    netloc = userinfo + host + ("" if port is None else ":%d" % port)
    segments = [rand_text(rng, "abcXYZ019-._~%2Bé", 1, 8) for _ in range(rng.randint(0, 3))]
    # Most URLs have a path; some are just scheme://host with or without '/'.
    path = "/" + "/".join(segments) if segments or rng.random() < 0.7 else ""
    if path and rng.random() < 0.2:
        path += rng.choice([".php", "/", "/voice.xml"])
    query = ""
    if rng.random() < 0.6:
        qpairs = [(rand_text(rng, "abcXYZ_", 1, 6), rand_text(rng, VALUE_ALPHABET, 0, 10))
                  for _ in range(rng.randint(1, 4))]
        query = "?" + urlencode(qpairs)
        if rng.random() < 0.2:
            # A query as some senders write it, not as urlencode would.
            query += "&raw=It's+a b" + rng.choice(["", "&flag", "&=x"])
    url = "%s://%s%s%s" % (scheme, netloc, path, query)
    varies = port is None or not (userinfo or host.startswith("["))
    return url, varies


def accepted_signings(url, varies):
    """Returns the URLs whose python signature switchboard must accept for url.

    These are python's add_port and remove_port variants; the first is always
    sound (with a port present it is the URL itself, scheme lower-cased), the
    second only when remove_port can handle the URL (see rand_url).
    """
    parsed = urlparse(url)
    if varies:
        return [add_port(parsed), remove_port(parsed)]
    return [add_port(parsed)]


def tamper_text(rng, s):
    """Returns s with one character changed (or one added when s is empty)."""
    if not s:
        return "x"
    i = rng.randrange(len(s))
    c = "y" if s[i] != "y" else "z"
    return s[:i] + c + s[i + 1:]


def tamper_url(rng, url):
    """Returns url with one byte after the authority changed, or a longer host."""
    start = url.index("://") + 3
    end = start
    while end < len(url) and url[end] not in "/?":
        end += 1
    # The '/' or '?' that ends the authority stays, or the port would grow.
    if end + 1 < len(url) and rng.random() < 0.7:
        i = rng.randrange(end + 1, len(url))
        return url[:i] + ("a" if url[i] != "a" else "b") + url[i + 1:]
    host = url.rfind("@", start, end) + 1 or start
    if url[host] == "[":
        return url[:end] + "/x" + url[end:]
    return url[:host] + "x" + url[host:]


def tamper_signature(rng, sig):
    i = rng.randrange(len(sig) - 1)  # the last character is the '=' padding
    c = "A" if sig[i] != "A" else "B"
    return sig[:i] + c + sig[i + 1:]


def enc(args):
    return [a.encode("utf-8") for a in args]


def tool(*args):
    return subprocess.run(enc([SIG_TOOL] + list(args)), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)


def pair_args(pairs):
    return ["%s=%s" % (k, v) for k, v in pairs]


class SigOracle(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(SIG_TOOL, os.X_OK):
            raise unittest.SkipTest("sig-tool not built at %s (set SB_BUILD)" % SIG_TOOL)
        print("\nsig oracle seed: %d (set SB_SIG_SEED=%d to repeat)" % (SEED, SEED),
              file=sys.stderr)

    def compute(self, token, url, pairs):
        r = tool("compute", token, url, *pair_args(pairs))
        self.assertEqual(r.returncode, 0, r.stderr.decode("utf-8", "replace"))
        return r.stdout.decode("ascii").strip()

    def validate(self, token, url, sig, pairs):
        r = tool("validate", token, url, sig, *pair_args(pairs))
        self.assertIn(r.returncode, (0, 1), r.stderr.decode("utf-8", "replace"))
        return r.returncode == 0

    def validate_body(self, token, url, sig, body):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            f.write(body.encode("utf-8"))
            f.flush()
            r = tool("validate-body", token, url, sig, f.name)
        self.assertIn(r.returncode, (0, 1), r.stderr.decode("utf-8", "replace"))
        return r.returncode == 0

    def test_library_vector(self):
        """The first vector of the helper libraries' own tests, through the tool."""
        p = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
             ("From", "+14158675309"), ("To", "+18005551212")]
        url = "https://mycompany.com/myapp.php?foo=1&bar=2"
        self.assertEqual(self.compute("12345", url, p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        self.assertEqual(RequestValidator("12345").compute_signature(url, dict(p)),
                         "RSOYDt4T1cUTdK1PDd93/VVr8B8=")

    def test_random_params_and_urls(self):
        rng = random.Random(SEED)
        for case in range(CASES):
            token = rand_text(rng, "0123456789abcdef", 32, 32) if rng.random() < 0.9 \
                else rand_text(rng, VALUE_ALPHABET, 0, 12)
            url, varies = rand_url(rng)
            pairs = rand_params(rng)
            params = MultiParams(pairs)
            v = RequestValidator(token)
            ctx = "seed=%d case=%d token=%r url=%r pairs=%r" % (SEED, case, token, url, pairs)
            with self.subTest(case=case):
                ours = self.compute(token, url, pairs)
                self.assertEqual(ours, v.compute_signature(url, params), ctx)

                # Whatever python signs over one of its port variants,
                # switchboard accepts, and it agrees with python's validate()
                # on a signature of the URL exactly as given (urllib
                # lower-cases the scheme, so that may be refused by both).
                for signed in accepted_signings(url, varies):
                    sig = v.compute_signature(signed, params)
                    self.assertTrue(self.validate(token, url, sig, pairs),
                                    "%s signed=%r" % (ctx, signed))
                    self.assertTrue(v.validate(url, params, sig), ctx)
                raw = v.compute_signature(url, params)
                self.assertEqual(self.validate(token, url, raw, pairs),
                                 v.validate(url, params, raw), ctx)

                sig = v.compute_signature(accepted_signings(url, varies)[0], params)
                # One parameter value changed.
                if pairs:
                    i = rng.randrange(len(pairs))
                    k, val = pairs[i]
                    bad = list(pairs)
                    bad[i] = (k, tamper_text(rng, val))
                    if MultiParams(bad).items() != params.items():
                        self.assertFalse(self.validate(token, url, sig, bad),
                                         "%s tampered=%r" % (ctx, bad))
                # One extra parameter.
                self.assertFalse(self.validate(token, url, sig, pairs + [("Zz", "1")]), ctx)
                # The URL changed: one byte of the path or query, or the host.
                self.assertFalse(self.validate(token, tamper_url(rng, url), sig, pairs), ctx)
                other = ("http" if url.lower().startswith("https") else "https") + url[url.index(":"):]
                self.assertFalse(self.validate(token, other, sig, pairs), ctx)
                # One character of the signature changed.
                self.assertFalse(self.validate(token, url, tamper_signature(rng, sig), pairs), ctx)
                # The wrong token.
                self.assertFalse(self.validate(token + "0", url, sig, pairs), ctx)

    def test_form_bodies_decode_like_urlencode(self):
        """Bodies encoded by urllib decode in form_parse to the same parameters."""
        rng = random.Random(SEED ^ 0x5A5A)
        for case in range(CASES // 2):
            pairs = rand_params(rng)
            # A form body can carry keys with '=' and '&'; argument pairs cannot.
            if rng.random() < 0.5:
                pairs.append((rand_text(rng, "ab=&+%", 1, 5), rand_text(rng, VALUE_ALPHABET, 0, 5)))
            body = urlencode(pairs)
            url, _ = rand_url(rng)
            v = RequestValidator("12345")
            with self.subTest(case=case):
                r = tool("compute-form", "12345", url, body)
                self.assertEqual(r.returncode, 0, r.stderr.decode("utf-8", "replace"))
                self.assertEqual(r.stdout.decode("ascii").strip(),
                                 v.compute_signature(url, MultiParams(pairs)),
                                 "seed=%d case=%d body=%r" % (SEED, case, body))

    def test_get_requests_sign_the_url_only(self):
        rng = random.Random(SEED ^ 0x1234)
        for case in range(CASES // 4):
            url, varies = rand_url(rng)
            token = rand_text(rng, "0123456789abcdef", 32, 32)
            v = RequestValidator(token)
            with self.subTest(case=case):
                self.assertEqual(self.compute(token, url, []), v.compute_signature(url, {}))
                for signed in accepted_signings(url, varies):
                    sig = v.compute_signature(signed, {})
                    self.assertTrue(self.validate(token, url, sig, []), "signed=%r" % signed)
                    self.assertTrue(v.validate(url, {}, sig))
                self.assertFalse(self.validate(token, url, sig, [("From", "+1")]))

    def test_json_bodies(self):
        rng = random.Random(SEED ^ 0xB0D1)
        for case in range(CASES // 2):
            doc = {rand_text(rng, "abcXYZ", 1, 6): rand_text(rng, VALUE_ALPHABET, 0, 15)
                   for _ in range(rng.randint(0, 5))}
            if rng.random() < 0.3:
                doc["n"] = rng.randint(-10**6, 10**6)
                doc["b"] = rng.random() < 0.5
            body = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
            digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
            base, varies = rand_url(rng)
            sep = "&" if "?" in base else "?"
            url = base + sep + "bodySHA256=" + digest
            token = rand_text(rng, "0123456789abcdef", 32, 32)
            v = RequestValidator(token)
            ctx = "seed=%d case=%d url=%r body=%r" % (SEED, case, url, body)
            with self.subTest(case=case):
                for signed in accepted_signings(url, varies):
                    sig = v.compute_signature(signed, {})
                    self.assertTrue(self.validate_body(token, url, sig, body), ctx)
                    self.assertTrue(v.validate(url, body, sig), ctx)
                sig = v.compute_signature(accepted_signings(url, varies)[0], {})
                # The body changed after signing.
                bad_body = body + " " if rng.random() < 0.5 else tamper_text(rng, body)
                self.assertFalse(self.validate_body(token, url, sig, bad_body), ctx)
                self.assertFalse(v.validate(url, bad_body, sig), ctx)
                # A hash for another body, signed correctly: the hash check alone refuses it.
                other = hashlib.sha256((body + "x").encode("utf-8")).hexdigest()
                other_url = base + sep + "bodySHA256=" + other
                other_sig = v.compute_signature(add_port(urlparse(other_url)), {})
                self.assertTrue(self.validate_body(token, other_url, other_sig, body + "x"), ctx)
                self.assertFalse(self.validate_body(token, other_url, other_sig, body), ctx)
                # One character of the signature changed.
                self.assertFalse(self.validate_body(token, url, tamper_signature(rng, sig), body),
                                 ctx)
                # No hash in the URL at all.
                base_sig = v.compute_signature(add_port(urlparse(base)), {})
                self.assertTrue(self.validate(token, base, base_sig, []), ctx)
                self.assertFalse(self.validate_body(token, base, base_sig, body), ctx)


if __name__ == "__main__":
    unittest.main()
