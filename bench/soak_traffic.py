"""The traffic of bench/soak.sh: signed calls, media streams, pipelining and attacks at
once against one switchboard on 127.0.0.1, for a bounded time; samples the server's RSS
and open file descriptors every 10 s and prints a summary table.

    soak_traffic.py --port P --pid PID --token T --bin SWITCHBOARD --log SERVER_LOG
                    [--seconds 600] [--per-ip N] [--out DIR]

Exit status 0 when every legitimate request was answered correctly, the server wrote
no error line, and its memory and descriptors came back flat; 1 otherwise.
"""
import argparse
import http.client
import itertools
import json
import os
import random
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

from twilio.request_validator import RequestValidator

PRO = "+15005550006"      # media stream, rule agent
ECHO = "+15005550007"     # media stream, echo agent
STARTER = "+15005550001"  # speech gather
FLOW = "+15005550008"     # IVR flow "menu"

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--pid", type=int, required=True)
ap.add_argument("--token", required=True)
ap.add_argument("--bin", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--seconds", type=float, default=600)
ap.add_argument("--per-ip", type=int, default=32)
ap.add_argument("--out", default=".")
args = ap.parse_args()

BASE = "http://127.0.0.1:%d" % args.port
validator = RequestValidator(args.token)
stop = threading.Event()
lock = threading.Lock()
stats = {}
latencies = []          # seconds, every legitimate webhook (all sent while attacks run)
legit_failures = []
sids = itertools.count(1)


def bump(key, n=1):
    with lock:
        stats[key] = stats.get(key, 0) + n


def sign(path, params):
    return validator.compute_signature(BASE + path, params)


def request_bytes(path, params):
    body = urllib.parse.urlencode(params).encode()
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "X-Twilio-Signature: %s\r\nContent-Length: %d\r\n\r\n" % (path, sign(path, params), len(body))
            ).encode() + body


def read_response(sock, buf=b""):
    """(status, body, rest) of one HTTP/1.1 response, or None on EOF."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    return status, buf[:length], buf[length:]


def call_params(sid, to, frm="+15551234567", **extra):
    p = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": frm, "To": to, "CallStatus": "ringing",
         "Direction": "inbound", "ApiVersion": "2010-04-01", "Caller": frm, "Called": to,
         "FromCountry": "US", "ToCountry": "US"}
    p.update(extra)
    return p


# --- legitimate traffic -----------------------------------------------------------------------

class Legit:
    """Whole calls, paced: incoming, then its gather or flow steps, then status callbacks."""

    def __init__(self, rate):
        self.gap = 1.0 / rate
        self.conn = None

    def post(self, path, params, expect):
        if self.conn is None or random.random() < 0.2:  # some on fresh connections, under floods
            if self.conn:
                self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
        body = urllib.parse.urlencode(params)
        t0 = time.perf_counter()
        try:
            self.conn.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded",
                                                   "X-Twilio-Signature": sign(path, params)})
            resp = self.conn.getresponse()
            data = resp.read()
            dt = time.perf_counter() - t0
            ok = resp.status == expect and (expect == 204 or data.startswith(b"<?xml"))
        except (OSError, http.client.HTTPException) as e:
            dt, ok, data = time.perf_counter() - t0, False, repr(e).encode()
            self.conn.close()
            self.conn = None
        with lock:
            latencies.append(dt)
            if not ok:
                legit_failures.append("%s: %r" % (path, data[:120]))
        bump("legit requests")
        time.sleep(max(0.0, self.gap - dt))

    def status(self, sid, to, seq, st, **extra):
        self.post("/voice/status", call_params(sid, to, CallStatus=st, SequenceNumber=str(seq),
                                               Timestamp=time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                                                       time.gmtime()), **extra), 204)

    def run(self):
        while not stop.is_set():
            sid = "CA%032x" % next(sids)
            kind = random.choice(("pro", "starter-es", "flow"))
            to = {"pro": PRO, "starter-es": STARTER, "flow": FLOW}[kind]
            if kind == "starter-es":
                self.post("/voice/incoming", call_params(sid, to, frm="+525512345678", FromCountry="MX",
                                                         CallerName="José Núñez ¿Quién?"), 200)
                self.post("/voice/gather", call_params(sid, to, frm="+525512345678", CallStatus="in-progress",
                                                       SpeechResult="¿Cuál es el horario, señorita?"), 200)
            else:
                self.post("/voice/incoming", call_params(sid, to), 200)
            if kind == "flow":
                for step in (1, 2):
                    self.post("/voice/flow?step=%d" % step, call_params(sid, to, CallStatus="in-progress",
                                                                        Digits="9"), 200)
            for seq, st in enumerate(("ringing", "in-progress")):
                self.status(sid, to, seq, st)
            self.status(sid, to, 2, "completed", CallDuration="7")
            bump("legit calls")


def streams(concurrent):
    """Whole calls with media through `switchboard sim` (it signs, reads the TwiML and
    carries the stream's Parameters into `start`)."""
    script = os.path.join(args.out, "soak-call.script")
    with open(script, "w") as f:
        f.write("listen\npress 1\nlisten\nsay what are your hours\nlisten\nhangup\n")

    def one(i):
        sid = "CA%032x" % (0xF0000000 + i)
        to = ECHO if i % 2 else PRO
        res = subprocess.run([args.bin, "sim", "call", "--url", BASE + "/voice/incoming", "--token", args.token,
                              "--from", "+15551234567", "--to", to, "--stream-plain", "--call-sid", sid,
                              "--script", script], capture_output=True, text=True, timeout=120)
        bump("stream calls")
        if res.returncode != 0:
            bump("stream calls failed")
            with lock:
                legit_failures.append("sim call: rc %d %s" % (res.returncode, res.stderr.strip()[-200:]))

    def loop(k):
        for i in itertools.count(k, concurrent):
            if stop.is_set():
                return
            try:
                one(i)
            except subprocess.TimeoutExpired:
                bump("stream calls failed")

    return [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(concurrent)]


def pipelining():
    """Every half second, a dozen requests to every route in one write; all must be answered
    in order (or the connection closed cleanly after an answer)."""
    while not stop.wait(0.5):
        sid = "CA%032x" % next(sids)
        reqs = [b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n",
                request_bytes("/voice/incoming", call_params(sid, PRO)),
                request_bytes("/voice/status", call_params(sid, PRO, SequenceNumber="0")),
                b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
                request_bytes("/voice/gather", call_params(sid, STARTER, SpeechResult="hours")),
                request_bytes("/voice/flow?step=1", call_params(sid, FLOW, Digits="1")),
                b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\na",
                request_bytes("/voice/stream-ended", call_params(sid, PRO)),
                request_bytes("/voice/status", call_params(sid, PRO, CallStatus="completed", SequenceNumber="1"))]
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            s.sendall(b"".join(reqs))
            rest, got = b"", 0
            for _ in reqs:
                r = read_response(s, rest)
                if r is None:
                    break
                got += 1
                rest = r[2]
            s.close()
            bump("pipelined answers", got)
            bump("pipelined requests", len(reqs))
            if got == 0:
                bump("pipelined bursts unanswered")
        except OSError:
            bump("pipelined bursts unanswered")


def bound(src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", args.port))
    return s


def slowloris(n=20):
    """n sockets from 127.0.0.3 sending headers a byte a second, and n/4 sending a body
    a byte a second; each one the server cuts off is counted and replaced."""
    socks = []
    while not stop.is_set():
        while len(socks) < n:
            try:
                s = bound("127.0.0.3")
                if len(socks) % 4 == 0:
                    s.sendall(b"POST /voice/incoming HTTP/1.1\r\nHost: h\r\nContent-Length: 900\r\n\r\na")
                else:
                    s.sendall(b"POST /voice/incoming HTTP/1.1\r\nX-Slow: ")
                socks.append(s)
            except OSError:
                bump("slowloris refused")
                break
        for s in list(socks):
            try:
                r, _, _ = select.select([s], [], [], 0)
                if r and not s.recv(4096):
                    raise ConnectionResetError
                s.send(b"a")
            except OSError:
                s.close()
                socks.remove(s)
                bump("slowloris cut off")
        stop.wait(1)
    for s in socks:
        s.close()


def idle(n=10):
    socks = []
    while not stop.is_set():
        while len(socks) < n:
            try:
                socks.append(bound("127.0.0.4"))
            except OSError:
                bump("idle refused")
                break
        r, _, _ = select.select(socks, [], [], 1)
        for s in r:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                s.close()
                socks.remove(s)
                bump("idle closed by server")
    for s in socks:
        s.close()


def flood():
    """Every 5 s, twice the per-address cap of connections from 127.0.0.2."""
    while not stop.wait(5):
        socks = []
        for _ in range(args.per_ip * 2):
            try:
                s = bound("127.0.0.2")
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
                socks.append(s)
            except OSError:
                bump("flood refused")
        for s in socks:
            try:
                r = read_response(s)
                if r and r[0] == 200:
                    bump("flood served")
                else:
                    bump("flood refused")
            except OSError:
                bump("flood hanging" if isinstance(sys.exc_info()[1], socket.timeout) else "flood refused")
        for s in socks:
            s.close()


MALFORMED = [
    b"\x00\xff\xfe garbage\r\n\r\n",
    b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(300)) + b"\r\n",
    b"TRACE / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"BREW /voice/incoming HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /voice/incoming HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nCallS\r\nzz\r\n",
    b"POST /voice/incoming HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n",
    b"GET /heal\x00thz HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /voice/status HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"X-Twilio-Signature: AAAA\r\nContent-Length: 9\r\n\r\nCallSid=%",
    b"GET /voice/stream HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"GET /healthz HTTP/1.0\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\nHost: h\r\n\r\n",
]


def malformed():
    rnd = random.Random(5)
    while not stop.wait(0.1):
        req = rnd.choice(MALFORMED + [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))])
        try:
            s = bound("127.0.0.5")
            s.sendall(req)
            try:
                r = read_response(s)
                bump("malformed answered" if r else "malformed closed")
            except socket.timeout:
                bump("malformed unanswered after 5 s")
            except (OSError, ValueError, IndexError):
                bump("malformed closed")
            s.close()
        except OSError:
            bump("malformed refused")


# --- sampling -----------------------------------------------------------------------------

samples = []  # (t, rss_kib, fds, threads)


def sample():
    try:
        with open("/proc/%d/status" % args.pid) as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
        return (int(st["VmRSS"].split()[0]), len(os.listdir("/proc/%d/fd" % args.pid)),
                int(st["Threads"]))
    except (OSError, KeyError):
        return None


def sampler(t0):
    while True:
        s = sample()
        if s:
            samples.append((time.time() - t0,) + s)
        if stop.wait(10):
            return


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def log_levels():
    counts = {}
    with open(args.log, errors="replace") as f:
        for line in f:
            words = line.split()
            lvl = next((w[6:] for w in words if w.startswith("level=")), None)
            if lvl is None:  # libwebsockets' own lines: "[date time] E: ..."
                lvl = "libwebsockets " + words[2] if len(words) > 2 and words[2] in ("E:", "W:", "N:") \
                    else "other"
            counts[lvl] = counts.get(lvl, 0) + 1
    return counts


def main():
    idle_before = sample()
    t0 = time.time()
    threads = [threading.Thread(target=sampler, args=(t0,), daemon=True)]
    threads += [threading.Thread(target=Legit(rate=40).run, daemon=True) for _ in range(2)]
    threads += streams(3)
    threads += [threading.Thread(target=f, daemon=True) for f in (pipelining, slowloris, idle, flood, malformed)]
    for t in threads:
        t.start()
    while time.time() - t0 < args.seconds:
        if sample() is None:
            legit_failures.append("the server exited")
            break
        time.sleep(1)
    stop.set()
    for t in threads:
        t.join(130)
    # Attack sockets gone, the last calls' streams closed: what is left must be what was there.
    time.sleep(12)
    idle_after = sample()
    levels = log_levels()

    warm = max(20.0, args.seconds / 6)
    after = [s for s in samples if s[0] >= warm] or samples[-1:]
    rss0, rss_max, rss_end = after[0][1], max(s[1] for s in after), after[-1][1]
    lat_ms = [x * 1000 for x in latencies]
    p50, p99, pmax = pct(lat_ms, 50), pct(lat_ms, 99), max(lat_ms) if lat_ms else float("nan")

    print()
    print("RSS and open descriptors, every 10 s:")
    print("| t s | RSS MiB | fds | threads |")
    print("|---:|---:|---:|---:|")
    for t, rss, fds, thr in samples:
        print("| %.0f | %.1f | %d | %d |" % (t, rss / 1024, fds, thr))
    print()
    print("| measure | value |")
    print("|---|---:|")
    rows = [("duration s", "%.0f" % args.seconds),
            ("legitimate webhooks (all during attacks)", stats.get("legit requests", 0)),
            ("  whole calls (incoming, gather or flow steps, 3 status callbacks)", stats.get("legit calls", 0)),
            ("  wrong or unanswered", len(legit_failures)),
            ("  latency p50 ms", "%.2f" % p50), ("  latency p99 ms (target < 50)", "%.2f" % p99),
            ("  latency max ms", "%.1f" % pmax),
            ("media stream calls (sim)", stats.get("stream calls", 0)),
            ("  failed", stats.get("stream calls failed", 0))]
    for k in sorted(stats):
        if k.split()[0] in ("pipelined", "slowloris", "idle", "flood", "malformed"):
            rows.append((k, stats[k]))
    rows += [("RSS idle before / after MiB", "%.1f / %.1f" % (idle_before[0] / 1024, idle_after[0] / 1024)
              if idle_before and idle_after else "-"),
             ("RSS after warm-up (%.0f s): first / max / last MiB" % warm,
              "%.1f / %.1f / %.1f" % (rss0 / 1024, rss_max / 1024, rss_end / 1024)),
             ("open fds idle before / after", "%d / %d" % (idle_before[1], idle_after[1])
              if idle_before and idle_after else "-"),
             ("threads idle before / after", "%d / %d" % (idle_before[2], idle_after[2])
              if idle_before and idle_after else "-"),
             ("server log lines by level", ", ".join("%s %d" % kv for kv in sorted(levels.items())) or "none")]
    for k, v in rows:
        print("| %s | %s |" % (k, v))

    problems = []
    if legit_failures:
        problems.append("%d legitimate requests wrong or unanswered, e.g. %s" % (len(legit_failures),
                                                                                 legit_failures[:3]))
    if levels.get("error"):
        problems.append("%d error lines in the server's log" % levels["error"])
    if levels.get("libwebsockets E:"):
        # lws logs some refusals (e.g. "Ran out of header data space" for an oversized
        # header) at its error level itself: reported, not counted as switchboard's errors.
        print("note: %d libwebsockets 'E:' lines, from the attacks" % levels["libwebsockets E:"])
    if rss_end > rss0 * 1.2 + 4096:
        problems.append("RSS grew after warm-up: %.1f -> %.1f MiB" % (rss0 / 1024, rss_end / 1024))
    if idle_before and idle_after and idle_after[1] > idle_before[1] + 2:
        problems.append("open fds grew: %d idle before, %d idle after" % (idle_before[1], idle_after[1]))
    if stats.get("pipelined bursts unanswered"):
        problems.append("%d pipelined bursts unanswered" % stats["pipelined bursts unanswered"])
    if not idle_after:
        problems.append("the server is gone")
    with open(os.path.join(args.out, "soak-summary.json"), "w") as f:
        json.dump({"stats": stats, "p50_ms": p50, "p99_ms": p99, "max_ms": pmax, "samples": samples,
                   "levels": levels, "problems": problems, "failures": legit_failures[:50]}, f, indent=1)
    print()
    print("p99 of legitimate webhooks during the attacks: %.2f ms (target < 50 ms: %s)"
          % (p99, "met" if p99 < 50 else "missed"))
    for p in problems:
        print("PROBLEM: " + p)
    print("soak: %s" % ("passed" if not problems else "FAILED"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
