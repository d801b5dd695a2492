"""A small websocket client on raw asyncio streams, for tests against a real daphne.

It does what a browser library hides: it stops reading (the kernel's buffers fill and TCP pushes back on the
server), drops its TCP connection without a close frame (a reset, as a dying network does), sends frames of any
size, and reports the server's close code. `Relay` sits in front of a server and cuts its connections on demand.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import threading

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class Refused(Exception):
    """The handshake was answered with an HTTP status, not 101 (a socket refused before accept)."""

    def __init__(self, status: int):
        super().__init__(f"handshake refused with HTTP {status}")
        self.status = status


class Closed(Exception):
    """The socket closed; `code` is the server's close code, 1006 when the connection simply ended."""

    def __init__(self, code: int):
        super().__init__(f"closed with {code}")
        self.code = code


def _mask(payload: bytes) -> tuple[bytes, bytes]:
    key = os.urandom(4)
    n = len(payload)
    if not n:
        return key, b""
    stream = (key * (n // 4 + 1))[:n]
    return key, (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked frame (clients must mask)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    key, body = _mask(payload)
    return head + key + body


class WsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.close_code: int | None = None

    @classmethod
    async def connect(
        cls, port: int, path: str, cookie: str = "", origin: str | None = None, timeout: float = 15
    ) -> WsClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {origin or f'http://127.0.0.1:{port}'}",
        ]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            writer.close()
            raise Refused(0) from exc
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            writer.close()
            raise Refused(status)
        return cls(reader, writer)

    async def _frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", await self.reader.readexactly(8))
        key = await self.reader.readexactly(4) if second & 0x80 else b""
        payload = await self.reader.readexactly(n)
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return first, payload

    async def recv(self, timeout: float = 15) -> str:
        """The next text message; answers pings; raises Closed when the socket closes."""
        if self.close_code is not None:
            raise Closed(self.close_code)
        parts: list[bytes] = []
        try:
            while True:
                first, payload = await asyncio.wait_for(self._frame(), timeout)
                opcode = first & 0x0F
                if opcode == PING:
                    self.writer.write(frame(PONG, payload))
                    continue
                if opcode == PONG:
                    continue
                if opcode == CLOSE:
                    self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self._end()
                    raise Closed(self.close_code)
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close_code = 1006
            self._end()
            raise Closed(1006) from None

    async def recv_json(self, timeout: float = 15) -> dict:
        return json.loads(await self.recv(timeout))

    async def send_text(self, text: str) -> None:
        self.writer.write(frame(TEXT, text.encode()))
        await self.writer.drain()

    async def close(self, code: int = 1000) -> None:
        if self.close_code is None:
            try:
                self.writer.write(frame(CLOSE, struct.pack(">H", code)))
                await self.writer.drain()
            except ConnectionError:
                pass
            self.close_code = code
        self._end()

    def abort(self) -> None:
        """Drop the TCP connection at once, without a close frame (the server sees a reset)."""
        self.close_code = 1006
        self.writer.transport.abort()

    def _end(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


class Relay:
    """A TCP relay in front of a server whose connections can all be cut at once, as a dropping network cuts them.
    `sockets` counts the websocket handshakes that went through it."""

    def __init__(self, port: int):
        self.target, self.sockets = port, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            with self.lock:
                self.open += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            first = True
            while data := source.recv(65536):
                if first and from_client and data.startswith(b"GET /ws/"):
                    with self.lock:
                        self.sockets += 1
                first = False
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _shut(source, sink)

    def cut(self) -> None:
        """Drop every open connection, without a close frame."""
        with self.lock:
            cut, self.open = self.open, []
        _shut(*cut)

    def close(self) -> None:
        self.server.close()
        self.cut()


def _shut(*sockets: socket.socket) -> None:
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
