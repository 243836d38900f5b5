"""A small raw-socket HTTP client for the real-server tests: MJPEG parts and SSE events.

Raw sockets so that tests see exactly what crosses the wire (paths unnormalised, frames as
they arrive) and can read slowly or disconnect at will.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass

from web.server import close_server, make_server


class Address(tuple):
    """``(host, port)`` of a served app; ``.server`` is the Waitress server behind it."""

    server: object


@contextlib.contextmanager
def serve(app, threads: int = 8, **server_kw):
    """Serve ``app`` with Waitress on a loopback port; yields the base URL's (host, port).

    ``server_kw`` goes to :func:`web.server.make_server` (e.g. ``stalled_client_s``).
    """
    server = make_server(app, host="127.0.0.1", port=0, threads=threads, **server_kw)
    thread = threading.Thread(target=server.run, name="test-web", daemon=True)
    thread.start()
    addr = Address(("127.0.0.1", int(server.effective_port)))
    addr.server = server
    try:
        yield addr
    finally:
        app.close_streams()
        close_server(server, running=thread.is_alive())
        thread.join(5)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Stream:
    """One open HTTP/1.1 request whose response is read incrementally."""

    def __init__(
        self,
        addr,
        path: str,
        *,
        method="GET",
        headers=None,
        body=b"",
        rcvbuf=None,
        host: str | None = "",
        source: str | None = None,
    ):
        """Send the request and read the status line and headers.

        ``host``: the Host header ("" for ``addr``'s, None for none); ``source``: the local
        address to connect from (any of 127/8 is loopback on Linux).
        """
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            self.sock.bind((source, 0))
        self.recv_size = rcvbuf or 65536  # a slow reader takes small bites
        self.sock.settimeout(10)
        self.sock.connect(addr)
        lines = [f"{method} {path} HTTP/1.1"]
        if host is not None:
            lines.append(f"Host: {host or f'{addr[0]}:{addr[1]}'}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self._raw = b""  # de-chunked body bytes not yet consumed

    def _fill(self) -> None:
        data = self.sock.recv(self.recv_size)
        if not data:
            raise ConnectionError("closed by the server")
        self.buf += data

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _body_more(self) -> None:
        if not self.chunked:
            if not self.buf:
                self._fill()
            self._raw += self.buf
            self.buf = b""
            return
        size = int(self._until(b"\r\n").split(b";")[0], 16)
        if size == 0:
            raise ConnectionError("end of body")
        self._raw += self._exact(size)
        self._exact(2)

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self._raw:
            self._body_more()
        head, _, self._raw = self._raw.partition(marker)
        return head

    def read_exact(self, n: int) -> bytes:
        while len(self._raw) < n:
            self._body_more()
        out, self._raw = self._raw[:n], self._raw[n:]
        return out

    def read_body(self) -> bytes:
        length = int(self.headers.get("content-length", "0"))
        return self.read_exact(length) if length else b""

    def next_part(self) -> tuple[dict[str, str], bytes, float]:
        """The next MJPEG part: (its headers, the JPEG, time.monotonic() on arrival)."""
        self.read_until(b"--dashcamframe\r\n")
        head = self.read_until(b"\r\n\r\n").decode()
        headers = {}
        for line in head.split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        jpeg = self.read_exact(int(headers["content-length"]))
        return headers, jpeg, time.monotonic()

    def next_event(self) -> tuple[str, object]:
        """The next SSE event (comments and the retry line skipped): (name, data)."""
        while True:
            block = self.read_until(b"\n\n").decode()
            fields = dict(
                line.split(": ", 1) for line in block.split("\n") if ": " in line and line[0] != ":"
            )
            if "event" in fields:
                return fields["event"], json.loads(fields["data"])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def request(addr, path: str, *, method="GET", headers=None, body=b"", **kw) -> Response:
    """One complete request on its own connection (``kw``: ``host``, ``source``)."""
    with Stream(addr, path, method=method, headers=headers, body=body, **kw) as s:
        data = s.read_body() if method != "HEAD" and s.status not in (204, 304) else b""
        return Response(s.status, s.headers, data)
