"""The fleet benchmark's outside model server: the OpenAI chat-completions protocol on asyncio, so it holds hundreds of
calls at once, each answered after the same latency, like a slow real provider.

    python -m benchmarks.fleet_server LATENCY   # prints "port N" once it listens

`POST /v1/chat/completions` waits LATENCY seconds, then answers with the simulator's `steady` turn (one tool call,
agents/simulator.py), streamed in chunks like a provider when the request asks for `stream: true`, with
keep-alive connections. `POST /bare/v1/chat/completions` answers the same at once (the bare litellm figure).
`GET /log` returns every call so far: [agent name, turn, seconds arrived, seconds answered or null] (wall clock).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.simulator import steady  # noqa: E402 (no Django: the policy is plain Python)

NAME_RE = re.compile(r"You are (\w+)")
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}


class ModelServer:
    def __init__(self, latency: float):
        self.latency = latency
        self.calls: list[list] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one request after another on the same connection
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
                length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
                body = json.loads(await reader.readexactly(length)) if length else {}
                if method == "GET" and path == "/log":
                    await self._send(writer, 200, json.dumps(self.calls))
                elif method == "POST" and path.rstrip("/").endswith("/v1/chat/completions"):
                    await self._complete(writer, body, bare=path.startswith("/bare/"))
                else:
                    await self._send(writer, 404, json.dumps({"error": {"message": f"no route {path}"}}))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def _complete(self, writer: asyncio.StreamWriter, body: dict, bare: bool) -> None:
        arrived = time.time()
        messages = body.get("messages") or []
        system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
        found = NAME_RE.search(system)
        turn = steady(messages)
        call = turn["tool_calls"][0]
        record = [
            found.group(1) if found else "",
            int(re.search(r"\d+", call["arguments"]["path"]).group()),
            arrived,
            None,
        ]
        if not bare:
            self.calls.append(record)  # logged as it arrives: a call still in flight counts as started
            await asyncio.sleep(self.latency)
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        arguments = json.dumps(call["arguments"])
        if body.get("stream"):
            await self._stream(writer, turn["content"], call_id, call["name"], arguments, body)
        else:
            tool_call = {"id": call_id, "type": "function", "function": {"name": call["name"], "arguments": arguments}}
            message = {"role": "assistant", "content": turn["content"], "tool_calls": [tool_call]}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            answer = {**self._base("chat.completion"), "choices": [choice], "usage": USAGE}
            await self._send(writer, 200, json.dumps(answer))
        record[3] = time.time()

    @staticmethod
    def _base(kind: str) -> dict:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": kind,
            "created": int(time.time()),
            "model": "bench",
        }

    async def _stream(self, writer, content: str, call_id: str, name: str, arguments: str, body: dict) -> None:
        base = self._base("chat.completion.chunk")

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        third = len(content) // 3 + 1
        half = len(arguments) // 2
        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": content[i : i + third]}) for i in range(0, len(content), third)]
        head = {"index": 0, "id": call_id, "type": "function"}
        chunks.append(chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]}))
        for piece in (arguments[:half], arguments[half:]):
            chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        chunks.append(chunk({}, "tool_calls"))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": USAGE})
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for event in [*(json.dumps(c) for c in chunks), "[DONE]"]:
            data = f"data: {event}\n\n".encode()
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, code: int, text: str) -> None:
        data = text.encode()
        reason = {200: "OK", 404: "Not Found"}[code]
        writer.write(
            f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()


async def main(latency: float) -> None:
    server = ModelServer(latency)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, backlog=2048)
    print(f"port {listener.sockets[0].getsockname()[1]}", flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
