"""A small websocket client (RFC 6455) on the standard library: ws:// and wss:// (ssl, the system's certificates),
the API token in the handshake's Authorization header, text messages in, pings answered, close codes out."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import time
from urllib.parse import urlsplit

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 16 << 20  # the server's frames are a few kilobytes; anything past this is not a Swarm server's
MAX_HEAD = 64 << 10


class Refused(Exception):
    """The handshake was answered with an HTTP status, not 101 (the server would not open the socket)."""

    def __init__(self, status: int):
        super().__init__(f"the server answered the websocket handshake with HTTP {status}")
        self.status = status


class Closed(Exception):
    """The socket closed: `code` is the server's close code, 1006 when the connection just ended."""

    def __init__(self, code: int):
        super().__init__(f"the socket closed ({code})")
        self.code = code


def _masked(opcode: int, payload: bytes) -> bytes:
    """One final frame, masked as a client's must be."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    key = os.urandom(4)
    body = (int.from_bytes(payload, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return head + key + (body if n else b"")


class Socket:
    def __init__(self, sock: socket.socket, buffered: bytes = b""):
        self.sock, self.buf = sock, bytearray(buffered)
        self.parts: list[bytes] = []  # a fragmented message's pieces so far

    @classmethod
    def connect(cls, url: str, token: str, timeout: float = 15) -> Socket:
        """Open `url` (ws:// or wss://); Refused when the server answers the handshake with anything but 101."""
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host, port = parts.hostname or "", parts.port or (443 if secure else 80)
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            if secure:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode()
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            lines = [
                f"GET {target} HTTP/1.1",
                f"Host: {parts.netloc.rpartition('@')[2]}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
                f"Authorization: Bearer {token}",
            ]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk or len(head) > MAX_HEAD:
                    raise Closed(1006)
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split(" ", 2)[1]) if len(status_line.split(" ")) > 1 else 0
            if status != 101:
                raise Refused(status)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
            wanted = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            if headers.get("sec-websocket-accept") != wanted:
                raise Refused(status)
        except BaseException:
            sock.close()
            raise
        return cls(sock, rest)

    def _frame(self) -> tuple[int, bool, bytes] | None:
        """The next whole frame from the buffer (opcode, final, payload), or None until more bytes come."""
        if len(self.buf) < 2:
            return None
        first, second = self.buf[0], self.buf[1]
        n, at = second & 0x7F, 2
        if n == 126:
            if len(self.buf) < 4:
                return None
            (n,), at = struct.unpack(">H", self.buf[2:4]), 4
        elif n == 127:
            if len(self.buf) < 10:
                return None
            (n,), at = struct.unpack(">Q", self.buf[2:10]), 10
        if n > MAX_MESSAGE:
            self.close()
            raise Closed(1009)
        mask = b""
        if second & 0x80:  # servers do not mask; tolerated all the same
            mask, at = bytes(self.buf[at : at + 4]), at + 4
        if len(self.buf) < at + n:
            return None
        payload = bytes(self.buf[at : at + n])
        del self.buf[: at + n]
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return first & 0x0F, bool(first & 0x80), payload

    def recv(self, timeout: float) -> str | None:
        """The next text message, or None when none came within `timeout` seconds; Closed when the socket closes."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._frame()
            if frame is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                try:
                    chunk = self.sock.recv(65536)
                except TimeoutError:
                    return None
                except OSError:
                    self.close()
                    raise Closed(1006) from None
                if not chunk:
                    self.close()
                    raise Closed(1006)
                self.buf += chunk
                continue
            opcode, final, payload = frame
            if opcode == PING:
                self._send(PONG, payload)
            elif opcode == CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                self._send(CLOSE, payload[:2])
                self.close()
                raise Closed(code)
            elif opcode != PONG:
                self.parts.append(payload)
                if sum(map(len, self.parts)) > MAX_MESSAGE:
                    self.close()
                    raise Closed(1009)
                if final:
                    message, self.parts = b"".join(self.parts), []
                    return message.decode("utf-8", errors="replace")

    def send_text(self, text: str) -> None:
        self._send(TEXT, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        try:
            self.sock.sendall(_masked(opcode, payload))
        except OSError:
            pass  # gone already: the next read says so

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
