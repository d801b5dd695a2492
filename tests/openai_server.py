"""A real local HTTP server that speaks the OpenAI chat-completions protocol, scripted per test.

`POST /v1/chat/completions` answers with the next scripted `Reply` (JSON, or SSE chunks when the request
asks for `stream: true`), and records every request it received (headers and parsed body).

    with OpenAIServer() as server:
        server.script(status(429, headers={"Retry-After": "1"}), reply("hello"))
        ... point litellm at server.base_url ...
        server.requests[0].headers["authorization"]
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One scripted answer. `kind` is "reply" (a completion), "status" (an error), "hang" or "malformed"."""

    kind: str = "reply"
    content: str = ""
    tool_calls: list[tuple[str, dict | str]] = field(default_factory=list)
    usage: tuple[int, int] = (100, 20)
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # hang: how long to stay silent; reply: pause between streamed chunks
    chunk_size: int = 0  # stream the text in pieces of this many characters (0: a few pieces)


def reply(content: str = "", *tool_calls: tuple[str, dict | str], usage=(100, 20), chunk_size=0, pause=0.0) -> Reply:
    """A completion; tool calls are (name, arguments) with arguments a dict or a raw (maybe broken) string."""
    return Reply(content=content, tool_calls=list(tool_calls), usage=usage, chunk_size=chunk_size, seconds=pause)


def status(code: int, message: str = "", headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps({"error": {"message": message or f"scripted {code}", "type": "scripted", "code": code}})
    return Reply(kind="status", status=code, body=body, headers=headers or {})


def hang(seconds: float) -> Reply:
    return Reply(kind="hang", seconds=seconds)


def malformed() -> Reply:
    return Reply(kind="malformed")


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict
    raw: str


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a fleet's calls arrive together: the default backlog of 5 refuses most of them


class OpenAIServer:
    def __init__(self, model: str = "test-model"):
        self.model = model
        self.requests: list[Request] = []
        self.dropped = 0  # answers cut short because the client closed the connection (a cancelled call)
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-test-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def remaining(self) -> int:
        return len(self._script)

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def release(self) -> None:
        """Every handler hanging on purpose answers now (and any hang scripted later answers at once)."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are hanging on purpose
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            return self._script.pop(0) if self._script else None

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection; bodies end when the socket closes

            def log_message(self, format, *args):  # keep test output quiet
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = {}
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                scripted = server._next(request)
                try:
                    self._answer(scripted, body)
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:  # the client gave up (a timeout, a cancelled call): nothing left to say
                        server.dropped += 1

            def _answer(self, scripted: Reply | None, body: dict) -> None:
                if scripted is None:
                    return self._send(400, json.dumps({"error": {"message": "the test server's script is empty"}}))
                if scripted.kind == "status":
                    return self._send(scripted.status, scripted.body, scripted.headers)
                if scripted.kind == "hang":
                    server._stopping.wait(scripted.seconds)
                    return self._send(200, json.dumps(self._completion(reply("too late"))))
                if scripted.kind == "malformed":
                    if body.get("stream"):
                        return self._send_sse(['{"id": "x", "choices": [{"delta": {"content": "Hel'], 0)
                    return self._send(200, '{"id": "chatcmpl-broken", "choices": [{"message": {"content": "Hel')
                if body.get("stream"):
                    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    events = [json.dumps(c) for c in self._chunks(scripted, include_usage)]
                    return self._send_sse(events, scripted.seconds)
                return self._send(200, json.dumps(self._completion(scripted)))

            def _send(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _send_sse(self, events: list[str], pause: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                for event in events:
                    self.wfile.write(f"data: {event}\n\n".encode())
                    self.wfile.flush()
                    if pause:
                        time.sleep(pause)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            @staticmethod
            def _calls(scripted: Reply) -> list[dict]:
                return [
                    {
                        "id": f"call_{uuid.uuid4().hex[:12]}",
                        "type": "function",
                        "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
                    }
                    for name, args in scripted.tool_calls
                ]

            @staticmethod
            def _usage(scripted: Reply) -> dict:
                prompt, completion = scripted.usage
                return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

            def _completion(self, scripted: Reply) -> dict:
                message: dict = {"role": "assistant", "content": scripted.content or None}
                calls = self._calls(scripted)
                if calls:
                    message["tool_calls"] = calls
                return {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": server.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
                    "usage": self._usage(scripted),
                }

            def _chunks(self, scripted: Reply, include_usage: bool) -> list[dict]:
                base = {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": server.model,
                }

                def chunk(delta: dict, finish: str | None = None) -> dict:
                    return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

                text = scripted.content
                size = scripted.chunk_size or max(1, len(text) // 3 + 1)
                out = [chunk({"role": "assistant", "content": ""})]
                out += [chunk({"content": text[i : i + size]}) for i in range(0, len(text), size)]
                calls = self._calls(scripted)
                for index, call in enumerate(calls):
                    args = call["function"]["arguments"]
                    half = len(args) // 2
                    head = {"index": index, "id": call["id"], "type": "function"}
                    out.append(chunk({"tool_calls": [{**head, "function": {"name": call["function"]["name"]}}]}))
                    for piece in (args[:half], args[half:]):
                        out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
                out.append(chunk({}, "tool_calls" if calls else "stop"))
                if include_usage:
                    out.append({**base, "choices": [], "usage": self._usage(scripted)})
                return out

        return Handler
