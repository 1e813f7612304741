"""switchboard sim llm: the local OpenAI-compatible Chat Completions server.

Each test starts the real binary on 127.0.0.1 port 0 (it prints the bound
port on its first line), talks to it with http.client or raw sockets, and
stops it by its PID. After every attack the server must still answer.
"""
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from tests.integration.harness import BINARY

SCRIPT = {
    "rules": [
        {"match": "opening hours", "reply": "We open at nine and close at five."},
        {"regex": "^(hola|buenos d)", "reply": "¡Hola! ¿En qué puedo ayudarle?"},
        {"match": "human", "tool_call": {"name": "transfer_to_human",
                                         "arguments": {"reason": "caller asked", "queue": "ventas"}}},
        {"match": "tool:transfer_to_human", "reply": "Transferring you now."},
        {"match": "two tools", "reply": "Let me check.",
         "tool_calls": [{"name": "lookup", "arguments": {"id": 7}},
                        {"name": "notify", "arguments": "{\"to\":\"ops\"}"}]},
        {"match": "overloaded", "error": 500},
        {"match": "limit me", "error": 429},
        {"match": "stutter", "reply": "one two three four", "stall_ms": 400},
        {"match": "cut me", "reply": "alpha beta gamma delta epsilon", "cut_after_tokens": 2},
        {"match": "cut at once", "reply": "alpha beta", "cut_after_tokens": 0},
        {"match": "long story", "reply": " ".join("word%d" % i for i in range(3000))},
    ],
    "default": "Sorry, I did not catch that.",
}


class LlmServer:
    """A `switchboard sim llm` process on 127.0.0.1, stopped by its PID."""

    def __init__(self, *flags, script=None):
        self.dir = tempfile.mkdtemp(prefix="sb-llm-")
        self.log_path = os.path.join(self.dir, "llm.log")
        argv = [BINARY, "sim", "llm", "--listen", "127.0.0.1:0", *flags]
        if script is not None:
            path = os.path.join(self.dir, "script.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(script, f, ensure_ascii=False)
            argv += ["--script", path]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening on http://127.0.0.1:"):
            self.stop()
            raise AssertionError("sim llm did not start (%r): %s" % (line, self.logs()))
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self):
        """Stops the process by its PID; returns its exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, headers with lower-case names, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            h = {"Content-Type": "application/json"} if body is not None else {}
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def chat(self, text=None, messages=None, headers=None, **fields):
        doc = {"model": "gpt-4o-mini", "messages": messages or [{"role": "user", "content": text}]}
        doc.update(fields)
        return self.request("POST", "/v1/chat/completions", doc, headers)

    def healthy(self):
        status, _, body = self.request("GET", "/healthz")
        return status == 200 and body == b"ok\n"


def sse_events(body):
    """The data of each SSE event of a body, as text (split on blank lines)."""
    text = body.decode("utf-8")
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        lines = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        events.append("\n".join(lines))
    return events


def assemble(events):
    """Content, tool calls by index, finish reason and the chunks, from streamed events."""
    content, calls, finish, chunks = "", {}, None, []
    for data in events:
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        chunks.append(chunk)
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for tc in delta.get("tool_calls") or []:
                call = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                if tc.get("id"):
                    call["id"] = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    call["name"] = fn["name"]
                call["arguments"] += fn.get("arguments") or ""
            if choice["finish_reason"]:
                finish = choice["finish_reason"]
    return content, calls, finish, chunks


def raw_exchange(port, data, timeout=5.0, read_until_close=True):
    """Sends bytes on a fresh socket and returns everything read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                piece = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not piece:
                break
            out += piece
            if not read_until_close and b"\r\n\r\n" in out:
                break
        return out


def post_bytes(body, path="/v1/chat/completions", extra=""):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (path, len(body), extra)).encode() + body


def dechunk(data):
    """Decodes a chunked body; returns (payload, complete) where complete means the 0 chunk came."""
    out = b""
    while True:
        nl = data.find(b"\r\n")
        if nl < 0:
            return out, False
        size = int(data[:nl], 16)
        if size == 0:
            return out, True
        chunk = data[nl + 2:nl + 2 + size]
        if len(chunk) < size:
            return out + chunk, False
        out += chunk
        data = data[nl + 2 + size + 2:]


class SimLlmScriptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = LlmServer(script=SCRIPT)

    @classmethod
    def tearDownClass(cls):
        cls.llm.close()

    def tearDown(self):
        self.assertTrue(self.llm.healthy(), "the server stopped answering: " + self.llm.logs()[-2000:])

    def test_models_and_health(self):
        status, headers, body = self.llm.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["object"], "list")
        self.assertEqual([m["id"] for m in doc["data"]], ["sim-llm"])
        self.assertEqual(doc["data"][0]["object"], "model")
        status, _, body = self.llm.request("GET", "/v1/models/gpt-4o")
        self.assertEqual((status, json.loads(body)["id"]), (200, "gpt-4o"))
        self.assertTrue(self.llm.healthy())

    def test_stream_shape(self):
        status, headers, body = self.llm.chat("What are your opening hours?", stream=True,
                                              stream_options={"include_usage": True})
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/event-stream"))
        self.assertEqual(headers.get("transfer-encoding"), "chunked")
        self.assertTrue(body.endswith(b"data: [DONE]\n\n"), body[-200:])
        for block in body.decode().split("\n\n")[:-1]:
            self.assertTrue(block.startswith("data: ") and "\n" not in block, block)
        events = sse_events(body)
        self.assertEqual(events[-1], "[DONE]")
        content, calls, finish, chunks = assemble(events)
        self.assertEqual(content, "We open at nine and close at five.")
        self.assertEqual((calls, finish), ({}, "stop"))
        self.assertEqual(len({c["id"] for c in chunks}), 1)
        self.assertTrue(chunks[0]["id"].startswith("chatcmpl-"))
        self.assertEqual(len({c["created"] for c in chunks}), 1)
        for c in chunks:
            self.assertEqual(c["object"], "chat.completion.chunk")
            self.assertEqual(c["model"], "gpt-4o-mini")
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant", "content": ""})
        # One chunk per word with its space; usage last, with no choices.
        words = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
        self.assertEqual(words, ["We ", "open ", "at ", "nine ", "and ", "close ", "at ", "five."])
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], 8)
        self.assertEqual(chunks[-1]["usage"]["total_tokens"], chunks[-1]["usage"]["prompt_tokens"] + 8)
        for c in chunks[:-1]:
            self.assertIsNone(c["usage"])

    def test_whole_completion(self):
        status, headers, body = self.llm.chat("hola, buenos días")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["object"], "chat.completion")
        self.assertEqual(doc["choices"][0]["message"]["role"], "assistant")
        self.assertEqual(doc["choices"][0]["message"]["content"], "¡Hola! ¿En qué puedo ayudarle?")
        self.assertEqual(doc["choices"][0]["finish_reason"], "stop")
        self.assertIn("¿En qué".encode(), body)  # UTF-8 as is, not \u escapes

    def test_default_reply(self):
        _, _, body = self.llm.chat("something else entirely")
        self.assertEqual(json.loads(body)["choices"][0]["message"]["content"],
                         "Sorry, I did not catch that.")

    def test_tool_call_streaming_and_the_result(self):
        tools = [{"type": "function", "function": {"name": "transfer_to_human",
                                                   "parameters": {"type": "object"}}}]
        status, _, body = self.llm.chat("Let me talk to a human", stream=True, tools=tools)
        self.assertEqual(status, 200)
        events = sse_events(body)
        content, calls, finish, chunks = assemble(events)
        self.assertEqual(finish, "tool_calls")
        self.assertEqual(content, "")
        self.assertEqual(list(calls), [0])
        self.assertEqual(calls[0]["name"], "transfer_to_human")
        self.assertTrue(calls[0]["id"].startswith("call_"))
        self.assertEqual(json.loads(calls[0]["arguments"]), {"reason": "caller asked", "queue": "ventas"})
        first = chunks[0]["choices"][0]["delta"]
        self.assertEqual(first["role"], "assistant")
        self.assertIsNone(first["content"])
        self.assertEqual(first["tool_calls"][0]["function"]["arguments"], "")
        self.assertEqual(first["tool_calls"][0]["type"], "function")
        pieces = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-1]]
        self.assertGreater(len(pieces), 3, "arguments arrive in pieces")
        for p in pieces:
            self.assertEqual(set(p), {"index", "function"})
        # The agent runs the tool and sends its result back.
        messages = [
            {"role": "user", "content": "Let me talk to a human"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": calls[0]["id"], "type": "function",
                             "function": {"name": "transfer_to_human", "arguments": calls[0]["arguments"]}}]},
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "{\"ok\":true}"},
        ]
        status, _, body = self.llm.chat(messages=messages, stream=True, tools=tools)
        content, calls, finish, _ = assemble(sse_events(body))
        self.assertEqual((content, calls, finish), ("Transferring you now.", {}, "stop"))

    def test_content_then_two_tool_calls(self):
        _, _, body = self.llm.chat("use two tools", stream=True)
        content, calls, finish, _ = assemble(sse_events(body))
        self.assertEqual(content, "Let me check.")
        self.assertEqual(finish, "tool_calls")
        self.assertEqual([calls[0]["name"], calls[1]["name"]], ["lookup", "notify"])
        self.assertEqual(calls[0]["arguments"], "{\"id\":7}")
        self.assertEqual(calls[1]["arguments"], "{\"to\":\"ops\"}")
        self.assertNotEqual(calls[0]["id"], calls[1]["id"])
        status, _, body = self.llm.chat("use two tools")
        message = json.loads(body)["choices"][0]["message"]
        self.assertEqual(message["content"], "Let me check.")
        self.assertEqual([c["function"]["name"] for c in message["tool_calls"]], ["lookup", "notify"])

    def test_spanish_prompt_intact(self):
        text = "¿Dónde está mi pedido? Señora Núñez, ¡gracias! 你好 🙂"
        llm = LlmServer()  # echo
        try:
            status, _, body = llm.chat(text, stream=True)
            self.assertEqual(status, 200)
            self.assertEqual(assemble(sse_events(body))[0], "You said: " + text)
            self.assertIn(text.split()[0].encode("utf-8"), body)
            _, _, body = llm.chat(text)
            self.assertEqual(json.loads(body)["choices"][0]["message"]["content"], "You said: " + text)
        finally:
            llm.close()

    def test_max_tokens_gives_length(self):
        _, _, body = self.llm.chat("opening hours", stream=True, max_tokens=3)
        content, _, finish, _ = assemble(sse_events(body))
        self.assertEqual((content, finish), ("We open at ", "length"))
        _, _, body = self.llm.chat("opening hours", max_completion_tokens=2)
        choice = json.loads(body)["choices"][0]
        self.assertEqual((choice["message"]["content"], choice["finish_reason"]), ("We open ", "length"))

    def test_malformed_json_is_400_naming_the_problem(self):
        status, headers, body = self.llm.request("POST", "/v1/chat/completions", b'{"model": "x", "messages": [')
        self.assertEqual(status, 400)
        self.assertEqual(headers["content-type"], "application/json")
        err = json.loads(body)["error"]
        self.assertEqual(set(err), {"message", "type", "param", "code"})
        self.assertIn("could not parse the JSON body", err["message"])
        self.assertIn("line 1", err["message"])
        self.assertEqual(err["type"], "invalid_request_error")

    def test_bad_fields_are_400_with_param(self):
        cases = [
            ({"model": "m"}, "messages", "'messages'"),
            ({"messages": [{"role": "user", "content": "x"}]}, "model", "model"),
            ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0]", "role"),
            ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream", "boolean"),
            ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature", "0 to 2"),
        ]
        for doc, param, words in cases:
            status, _, body = self.llm.request("POST", "/v1/chat/completions", doc)
            self.assertEqual(status, 400, doc)
            err = json.loads(body)["error"]
            self.assertEqual(err["param"], param, doc)
            self.assertIn(words, err["message"], doc)
        status, _, body = self.llm.request("POST", "/v1/chat/completions", b"")
        self.assertEqual(status, 400)
        self.assertIn("empty", json.loads(body)["error"]["message"])
        status, _, body = self.llm.request("POST", "/v1/chat/completions", b"[1,2]")
        self.assertEqual(status, 400)

    def test_unknown_path_and_method(self):
        status, _, body = self.llm.request("POST", "/v1/completions", {"model": "m"})
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["error"]["code"], "unknown_url")
        status, headers, body = self.llm.request("GET", "/v1/chat/completions")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "POST")
        self.assertIn("error", json.loads(body))
        status, headers, _ = self.llm.request("DELETE", "/v1/models")
        self.assertEqual((status, headers["allow"]), (405, "GET"))

    def test_without_v1_prefix(self):
        status, _, body = self.llm.request("POST", "/chat/completions",
                                           {"model": "m", "messages": [{"role": "user", "content": "opening hours"}]})
        self.assertEqual(status, 200)
        self.assertIn(b"We open", body)

    def test_rule_errors(self):
        status, headers, body = self.llm.chat("the system is overloaded", stream=True)
        self.assertEqual(status, 500)
        self.assertEqual(json.loads(body)["error"]["type"], "server_error")
        status, headers, body = self.llm.chat("limit me please")
        self.assertEqual(status, 429)
        self.assertEqual(headers["retry-after"], "1")
        self.assertEqual(json.loads(body)["error"]["code"], "rate_limit_exceeded")

    def test_rule_stall(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.llm.port, timeout=10)
        sent = time.monotonic()
        conn.request("POST", "/v1/chat/completions", json.dumps(
            {"model": "m", "stream": True, "messages": [{"role": "user", "content": "stutter"}]}),
            {"Content-Type": "application/json"})
        resp = conn.getresponse()
        times, buf = [], b""
        while True:
            piece = resp.read1(65536)
            if not piece:
                break
            buf += piece
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                times.append((time.monotonic(), event))
        conn.close()
        tokens = [t for t, e in times if b'"content":"' in e and b'"content":""' not in e]
        self.assertEqual(len(tokens), 4)
        # Only lower bounds: the stall is a floor the server must keep; how fast the rest
        # comes depends on the machine and is not asserted. Counted from the request, not from
        # the first token: a client slow to read that one would shorten the gap it measures.
        self.assertGreaterEqual(tokens[1] - sent, 0.4, "a stall after the first token")

    def test_rule_cut_stream(self):
        body = json.dumps({"model": "m", "stream": True,
                           "messages": [{"role": "user", "content": "cut me"}]}).encode()
        # raw_exchange reads until the server closes the connection (or its socket timeout).
        out = raw_exchange(self.llm.port, post_bytes(body))
        head, _, rest = out.partition(b"\r\n\r\n")
        self.assertIn(b"200 OK", head)
        payload, complete = dechunk(rest)
        self.assertFalse(complete, "a cut stream has no last chunk")
        self.assertNotIn(b"[DONE]", payload)
        content, _, finish, _ = assemble(sse_events(payload))
        self.assertEqual((content, finish), ("alpha beta ", None))

    def test_rule_cut_before_the_first_token(self):
        body = json.dumps({"model": "m", "stream": True,
                           "messages": [{"role": "user", "content": "cut at once"}]}).encode()
        payload, complete = dechunk(raw_exchange(self.llm.port, post_bytes(body)).partition(b"\r\n\r\n")[2])
        self.assertFalse(complete)
        events = sse_events(payload)
        self.assertEqual(len(events), 1)
        self.assertEqual(json.loads(events[0])["choices"][0]["delta"], {"role": "assistant", "content": ""})

    def test_keep_alive_after_a_stream(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.llm.port, timeout=10)
        try:
            for text in ("opening hours", "hola", "opening hours"):
                conn.request("POST", "/v1/chat/completions", json.dumps(
                    {"model": "m", "stream": True, "messages": [{"role": "user", "content": text}]}),
                    {"Content-Type": "application/json"})
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertTrue(resp.read().endswith(b"data: [DONE]\n\n"))
            conn.request("GET", "/v1/models")
            self.assertEqual(conn.getresponse().status, 200)
        finally:
            conn.close()

    def test_oversized_body_is_413(self):
        big = b'{"model":"m","messages":[{"role":"user","content":"' + b"a" * (2 << 20) + b'"}]}'
        head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % len(big)).encode()
        out = raw_exchange(self.llm.port, head + big[:1000])
        self.assertIn(b"413", out.split(b"\r\n")[0])
        self.assertIn(b"request_too_large", out)
        # Just under the limit is fine.
        fits = b'{"model":"m","messages":[{"role":"user","content":"opening hours ' + b"a" * 1000000 + b'"}]}'
        status, _, body = self.llm.request("POST", "/v1/chat/completions", fits)
        self.assertEqual(status, 200)
        self.assertIn(b"We open", body)

    def test_chunked_request_body_refused(self):
        out = raw_exchange(self.llm.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                          b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        self.assertIn(b"411", out.split(b"\r\n")[0])

    def test_slow_clients_do_not_hold_up_others(self):
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "opening hours"}]}).encode()
        slow = socket.create_connection(("127.0.0.1", self.llm.port))
        deaf = socket.create_connection(("127.0.0.1", self.llm.port))
        try:
            # One sends its body a byte at a time; another asks for a long stream and never reads.
            slow.sendall(post_bytes(body)[:-len(body)] + body[:5])
            deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            long_body = json.dumps({"model": "m", "stream": True,
                                    "messages": [{"role": "user", "content": "long story"}]}).encode()
            deaf.sendall(post_bytes(long_body))
            # Others are served while these two hang (each chat has its own socket timeout).
            for _ in range(5):
                status, _, reply = self.llm.chat("opening hours", stream=True)
                self.assertEqual(status, 200)
                self.assertTrue(reply.endswith(b"data: [DONE]\n\n"))
            for b in body[5:]:
                slow.sendall(bytes([b]))
            slow.settimeout(5)
            answer = b""
            while b"We open" not in answer:
                piece = slow.recv(65536)
                if not piece:
                    break
                answer += piece
            self.assertIn(b"200 OK", answer)
            self.assertIn(b"We open", answer)
        finally:
            slow.close()
            deaf.close()

    def test_client_closing_mid_stream(self):
        long_body = json.dumps({"model": "m", "stream": True,
                                "messages": [{"role": "user", "content": "long story"}]}).encode()
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", self.llm.port), timeout=5) as s:
                s.sendall(post_bytes(long_body))
                s.recv(4096)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.assertTrue(self.llm.healthy())

    def test_garbage_and_truncated_requests(self):
        attacks = [
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\n",  # headers never end
            b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"model\"",
            b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
            b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n",
            post_bytes(b'{"model":"m","messages":[{"role":"user","content":"\xff\xfe bad utf8"}]}'),
            post_bytes(b'{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}' * 3),
        ]
        for data in attacks:
            try:
                raw_exchange(self.llm.port, data, timeout=0.5)
            except OSError:
                pass
            self.assertTrue(self.llm.healthy(), data[:40])
        status, _, body = self.llm.request(
            "POST", "/v1/chat/completions", b'{"model":"m","messages":[{"role":"user","content":"\xff"}]}')
        self.assertEqual(status, 400)


class SimLlmFlagsTest(unittest.TestCase):
    def start(self, *flags, script=None):
        llm = LlmServer(*flags, script=script)
        self.addCleanup(llm.close)
        return llm

    def test_api_key(self):
        llm = self.start("--api-key", "sk-test-123")
        status, _, body = llm.chat("hi")
        self.assertEqual(status, 401)
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], "invalid_api_key")
        self.assertIn("Authorization: Bearer", err["message"])
        status, _, body = llm.chat("hi", headers={"Authorization": "Bearer sk-wrong"})
        self.assertEqual(status, 401)
        self.assertNotIn(b"sk-test-123", body)
        self.assertEqual(llm.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-test-12"})[0], 401)
        status, _, body = llm.chat("hi", headers={"Authorization": "Bearer sk-test-123"})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["choices"][0]["message"]["content"], "You said: hi")
        self.assertTrue(llm.healthy(), "health needs no key")
        self.assertNotIn("sk-test-123", llm.logs())

    def test_fail_every_429_with_retry_after(self):
        llm = self.start("--fail-every", "2", "--retry-after", "3", "--model", "house-model")
        results = [llm.chat("hi", stream=True) for _ in range(4)]
        self.assertEqual([r[0] for r in results], [200, 429, 200, 429])
        self.assertEqual(results[1][1]["retry-after"], "3")
        err = json.loads(results[1][2])["error"]
        self.assertEqual((err["type"], err["code"]), ("requests", "rate_limit_exceeded"))
        self.assertEqual(json.loads(llm.request("GET", "/v1/models")[2])["data"][0]["id"], "house-model")

    def test_fail_status_500(self):
        llm = self.start("--fail-every", "1", "--fail-status", "500")
        status, headers, body = llm.chat("hi")
        self.assertEqual(status, 500)
        self.assertNotIn("retry-after", headers)
        self.assertEqual(json.loads(body)["error"]["type"], "server_error")

    def test_pacing(self):
        llm = self.start("--first-token-ms", "300", "--tokens-per-second", "20")
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", llm.port, timeout=10)
        conn.request("POST", "/v1/chat/completions", json.dumps(
            {"model": "m", "stream": True,
             "messages": [{"role": "user", "content": "a b c d e f g h"}]}), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        headers_at = time.monotonic() - start
        first = None
        buf = b""
        while True:
            piece = resp.read1(65536)
            if not piece:
                break
            if first is None and b'"content":"You ' in buf + piece:
                first = time.monotonic() - start
            buf += piece
        total = time.monotonic() - start
        conn.close()
        # Lower bounds only: the delays are floors the server must keep.
        self.assertLessEqual(headers_at, first, "headers go out before the first token")
        self.assertGreaterEqual(first, 0.28)
        # 10 tokens at 20 a second after the first (at 0.3 s): about 0.45 s more. From the
        # start: a client slow to read the first token would shorten what follows it.
        self.assertGreaterEqual(total, 0.3 + 0.4)
        start = time.monotonic()
        status, _, _ = llm.chat("x")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.28, "a whole reply waits as long")

    def test_global_cut_and_stall(self):
        # A long stall: had the stall come first, the exchange would last 5 s.
        llm = self.start("--cut-after", "1", "--stall-ms", "5000")
        body = json.dumps({"model": "m", "stream": True,
                           "messages": [{"role": "user", "content": "one two three"}]}).encode()
        start = time.monotonic()
        out = raw_exchange(llm.port, post_bytes(body))
        payload, complete = dechunk(out.partition(b"\r\n\r\n")[2])
        self.assertFalse(complete)
        self.assertEqual(assemble(sse_events(payload))[0], "You ")
        self.assertLess(time.monotonic() - start, 4.5, "the cut comes before the stall")
        self.assertTrue(llm.healthy())

    def test_sigterm_during_a_stream(self):
        llm = self.start("--tokens-per-second", "5")
        s = socket.create_connection(("127.0.0.1", llm.port), timeout=5)
        try:
            s.sendall(post_bytes(json.dumps({"model": "m", "stream": True, "messages": [
                {"role": "user", "content": "many words here to keep it going"}]}).encode()))
            self.assertIn(b"200 OK", s.recv(4096))
            self.assertEqual(llm.stop(), 0)
        finally:
            s.close()
        self.assertIn("llm.stopped", llm.logs())


class SimLlmCliTest(unittest.TestCase):
    def run_cli(self, *args):
        return subprocess.run([BINARY, "sim", "llm", *args], capture_output=True, text=True, timeout=10)

    def test_help(self):
        res = self.run_cli("--help")
        self.assertEqual(res.returncode, 0)
        self.assertIn("--tokens-per-second", res.stdout)
        self.assertIn("llm", subprocess.run([BINARY, "sim", "--help"], capture_output=True, text=True).stdout)

    def test_bad_usage(self):
        for args, words in [(("--fail-status", "404"), "429 or 500"),
                            (("--tokens-per-second", "fast"), "--tokens-per-second"),
                            (("--listen", "127.0.0.1:99999"), "--listen port"),
                            (("--script", "/nonexistent/x.json"), "cannot read script"),
                            (("extra",), "takes no arguments")]:
            res = self.run_cli(*args)
            self.assertEqual(res.returncode, 2, args)
            self.assertTrue(res.stderr.startswith("error: "), res.stderr)
            self.assertIn(words, res.stderr)

    def test_bad_script(self):
        d = tempfile.mkdtemp(prefix="sb-llm-")
        try:
            path = os.path.join(d, "s.json")
            with open(path, "w") as f:
                f.write('{"rules":[{"match":"a","reply":"b"},{"regex":"(","reply":"c"}]}')
            res = self.run_cli("--script", path)
            self.assertEqual(res.returncode, 2)
            self.assertIn("rules[1]", res.stderr)
            self.assertIn("does not compile", res.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_port_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            res = self.run_cli("--listen", "127.0.0.1:%d" % s.getsockname()[1])
        self.assertEqual(res.returncode, 1)
        self.assertIn("error: cannot serve", res.stderr)


if __name__ == "__main__":
    unittest.main()
