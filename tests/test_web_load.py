"""Floods against the dashboard on a real Waitress server while the appliance records.

Each flood comes from 127.0.0.2 (all of 127/8 is loopback on Linux), is bounded in count
and lasts at most :data:`FLOOD_S`; meanwhile ``/api/status`` is asked from 127.0.0.1 every
:data:`PROBE_EVERY_S` and must answer within :data:`STATUS_DEADLINE_S` every time, and the
recording (simulated camera, real recorder and muxer) must lose no frame.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from appliance.library import Kind
from appliance.states import State
from tests.web_fixtures import dashboard
from tests.webclient import request, serve
from web.server import MAX_CONNECTIONS_PER_CLIENT, PIPELINE_BACKLOG_BYTES

pytestmark = pytest.mark.slow

FLOODER = "127.0.0.2"
FLOOD_S = 6.0
PROBE_EVERY_S = 0.1
STATUS_DEADLINE_S = 1.0
#: The probe gives up on one request after this long (counted as a failure).
PROBE_TIMEOUT_S = 3.0


@pytest.fixture
def recording(tmp_path):
    """A recording appliance (8 web threads, as configured by default) on Waitress."""
    with dashboard(tmp_path, autostart=True, segment_seconds=1.0) as d:
        assert d.appliance.controller.wait_for_state(State.RECORDING)
        d.appliance.wait_segments(2)
        with serve(d.app, threads=d.appliance.config.web_threads) as addr:
            yield d, addr


def _connect(addr, *, rcvbuf: int | None = 4096) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((FLOODER, 0))
    sock.settimeout(PROBE_TIMEOUT_S)
    sock.connect(addr)
    return sock


def _status_once(addr) -> float:
    """Seconds ``/api/status`` took from 127.0.0.1 (inf on a timeout or a refusal)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(addr, timeout=PROBE_TIMEOUT_S) as sock:
            sock.sendall(
                b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            data = b""
            while chunk := sock.recv(65536):  # to the end: the server closes
                data += chunk
    except OSError:
        return float("inf")
    if not data.startswith(b"HTTP/1.1 200"):
        return float("inf")
    return time.monotonic() - t0


@contextlib.contextmanager
def flood(run: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    """Run ``run(stop)`` on a thread; it must return once ``stop`` is set (or sooner)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=target, name="flood", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive(), "the flood did not stop"
    assert not errors, errors


def probe_during(
    addr, stop: threading.Event, warmup_s: float = 0.5, fds: list[int] | None = None
) -> list[float]:
    """Status latencies, one every PROBE_EVERY_S, for FLOOD_S (after ``warmup_s``).

    ``fds``, if given, receives the count of this process's open files at each probe.
    """
    stop.wait(warmup_s)
    latencies = []
    end = time.monotonic() + FLOOD_S
    while time.monotonic() < end:
        latencies.append(_status_once(addr))
        if fds is not None:
            fds.append(_open_files())
        stop.wait(PROBE_EVERY_S)
    return latencies


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def assert_no_frame_lost(d, segments_before: int) -> None:
    """The recorder dropped nothing and the segments closed meanwhile are contiguous."""
    ctl = d.appliance.controller
    assert ctl.state is State.RECORDING
    n = len(d.appliance.segments)
    d.appliance.wait_segments(n + 1)
    assert ctl.status.frames_dropped == 0
    segs = d.appliance.segments[max(0, segments_before - 1) :]
    assert len(segs) >= 3
    for a, b in zip(segs, segs[1:], strict=False):
        assert b.first_frame_index == a.first_frame_index + a.frames, (a, b)


def _send_all(socks: list[socket.socket], payload: bytes, stop: threading.Event) -> int:
    """Push ``payload`` into every socket without ever reading; returns the bytes sent."""
    offsets = [0] * len(socks)
    for sock in socks:
        sock.setblocking(False)
    while not stop.is_set() and any(off < len(payload) for off in offsets):
        progressed = False
        for i, sock in enumerate(socks):
            if offsets[i] < len(payload):
                try:
                    offsets[i] += sock.send(payload[offsets[i] : offsets[i] + 65536])
                    progressed = True
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    offsets[i] = len(payload)  # closed by the server
        if not progressed:
            stop.wait(0.01)
    return sum(offsets)


def _check(latencies: list[float]) -> None:
    assert len(latencies) >= FLOOD_S / (PROBE_EVERY_S + STATUS_DEADLINE_S)
    slow = [round(x, 3) for x in latencies if x >= STATUS_DEADLINE_S]
    assert not slow, f"{len(slow)} of {len(latencies)} status answers took >= 1 s: {slow}"


def test_pipelined_requests_that_are_never_read_do_not_freeze_the_status(recording):
    d, addr = recording
    before = len(d.appliance.segments)
    request_bytes = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    sent = []

    def run(stop):
        socks = [_connect(addr) for _ in range(10)]
        try:
            sent.append(_send_all(socks, request_bytes * 4000, stop))
            stop.wait(FLOOD_S + 5)  # hold the sockets, never read
        finally:
            for s in socks:
                s.close()

    with flood(run) as stop:
        latencies = probe_during(addr, stop)
    _check(latencies)
    assert sent and sent[0] > 10 * len(request_bytes) * 100  # the flood did press
    assert_no_frame_lost(d, before)


def test_range_requests_that_are_never_read_do_not_hold_worker_threads(recording):
    d, addr = recording
    before = len(d.appliance.segments)
    clip = max(d.appliance.library.page(kinds={Kind.LOOP}, limit=10), key=lambda i: i.size)
    one = (f"GET /media/{clip.seq} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-\r\n\r\n").encode()

    def run(stop):
        socks = [_connect(addr) for _ in range(10)]
        try:
            # One range each, then more pipelined behind it: 32 MiB each, more than any
            # buffer and twice Waitress's high watermark.
            _send_all(socks, one, stop)
            _send_all(socks, one * min(4000, 32 * 2**20 // clip.size + 1), stop)
            stop.wait(FLOOD_S + 5)
        finally:
            for s in socks:
                s.close()

    baseline = _open_files()
    fds: list[int] = []
    with flood(run) as stop:
        latencies = probe_during(addr, stop, fds=fds)
    _check(latencies)
    # Each connection keeps at most about PIPELINE_BACKLOG_BYTES of files open (on a Pi the
    # limit is 1,024 files for the whole appliance, recording included).
    per_socket = 2 * (PIPELINE_BACKLOG_BYTES // clip.size + 2)
    assert max(fds) - baseline <= 10 * per_socket, (baseline, max(fds))
    # The files are served again as soon as the flood is gone, whole.
    whole = request(addr, f"/media/{clip.seq}", headers={"Range": "bytes=0-"})
    assert whole.status == 206 and len(whole.body) == clip.size
    assert_no_frame_lost(d, before)


def test_slow_header_sockets_past_the_connection_limit_do_not_lock_others_out(recording):
    d, addr = recording
    before = len(d.appliance.segments)
    opened = []

    def run(stop):
        socks = []
        try:
            for _ in range(110):
                try:
                    sock = _connect(addr, rcvbuf=None)
                    sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    socks.append(sock)
                except OSError:
                    pass  # refused or closed at once
            opened.append(len(socks))
            while not stop.wait(0.5):  # one header byte per socket every half second
                for sock in list(socks):
                    try:
                        sock.send(b"X")
                    except OSError:
                        socks.remove(sock)
        finally:
            for s in socks:
                s.close()

    with flood(run) as stop:
        latencies = probe_during(addr, stop, warmup_s=1.0)
    _check(latencies)
    assert opened and opened[0] > 0
    assert_no_frame_lost(d, before)


@pytest.fixture
def big_drive(tmp_path):
    """A recording appliance whose server also carries a drive of 3,000 clips in one day
    (a standalone library: no thumbnails to make), as a full card's Loop day is."""
    from appliance.library import Library
    from web.dav import MOUNT_PATH, create_dav_app
    from web.server import mount

    library = Library(tmp_path / "drive")
    library.scan()
    for _ in range(3000):
        plan = library.begin_segment()
        with open(plan.partial_path, "wb") as f:
            f.write(b"\x00\x00\x00\x18ftypiso6")
        library.finish_segment(plan, 60.0)
    day = library.days()[0]
    with dashboard(tmp_path, autostart=True, segment_seconds=1.0) as d:
        assert d.appliance.controller.wait_for_state(State.RECORDING)
        d.appliance.wait_segments(2)
        dav = create_dav_app(library, lambda: None)
        app = mount(d.app, MOUNT_PATH, lambda: dav)
        app.close_streams = d.app.close_streams
        with serve(app, threads=d.appliance.config.web_threads) as addr:
            yield d, addr, day


def test_drive_listings_from_one_address_do_not_freeze_the_status(big_drive):
    d, addr, day = big_drive
    before = len(d.appliance.segments)
    answered: dict[int, int] = {}
    paths = [f"/dav/Loop/{day}/", "/dav/", f"/dav/Loop/{day}/"]
    depths = ["1", "infinity", None]

    def run(stop):
        socks = [_connect(addr, rcvbuf=None) for _ in range(MAX_CONNECTIONS_PER_CLIENT)]
        for sock in socks:
            sock.settimeout(10)
        n = 0
        try:
            while not stop.is_set():
                for sock in socks:  # keep-alive listings, each read to its end
                    path, depth = paths[n % 3], depths[n % 3]
                    n += 1
                    head = f"PROPFIND {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    head += f"Depth: {depth}\r\n" if depth else ""
                    sock.sendall((head + "\r\n").encode())
                    status = _read_answer(sock)
                    answered[status] = answered.get(status, 0) + 1
        finally:
            for s in socks:
                s.close()

    with flood(run) as stop:
        latencies = probe_during(addr, stop)
    _check(latencies)
    assert answered.get(207, 0) > 0 and answered.get(403, 0) > 0  # listings, and refusals
    assert set(answered) <= {207, 403, 503}, answered
    assert_no_frame_lost(d, before)


def _read_answer(sock: socket.socket) -> int:
    """Read one answer (with Content-Length) from ``sock``; its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        body += chunk
    return int(head.split()[1])
