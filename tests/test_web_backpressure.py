"""Back-pressure: nothing a client asks for is made faster than it reads, nothing goes to
a temporary file, and a client that stops reading is dropped; on a real Waitress server,
with raw sockets that stop reading (a small receive buffer, nothing read).

The card is a real tmpfs that is also the temporary folder (as on a Pi, where ``/tmp`` and
the recordings share the SD card): a spilled answer would fill it and the pruner would
delete clips to make room.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import resource
import socket
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest
from waitress.buffers import ReadOnlyFileBasedBuffer

from appliance.library import Kind
from appliance.share import share_path
from appliance.states import State
from tests.harness import tmpfs, wait_until
from tests.web_fixtures import dashboard, temp_bytes, with_drive
from tests.webclient import Stream, request, serve
from web import server as web_server
from web.bodies import BodyCut, PulledBody
from web.server import OUTBUF_HIGH_BYTES, Channel, close_server, make_server

CARD_BYTES = 96 * 2**20
RESERVE_BYTES = 8 * 2**20
SMALL_CLIPS, SMALL_BYTES = 40, 2**20
BIG_CLIPS, BIG_BYTES = 3, 6 * 2**20
UNREAD = "127.0.0.2"
#: What one unread connection may hold in the server's memory: the output buffer's high
#: watermark, a chunk of a body and a socket's worth read ahead.
HELD_MAX_BYTES = OUTBUF_HIGH_BYTES + 256 * 1024
#: Between two status probes (the per-client request budget is 100 a second).
PROBE_EVERY_S = 0.05


def _fill(d, count: int, size: int) -> list[int]:
    """``count`` closed loop clips of ``size`` bytes: a clip the appliance recorded, made
    as long as asked by a ``free`` box of random bytes (so thumbnails are made as usual)."""
    library = d.appliance.library
    seed = Path(d.appliance.wait_segments(1)[0].path).read_bytes()
    pad = size - len(seed)
    assert pad >= 8
    seqs = []
    for _ in range(count):
        plan = library.begin_segment()
        free = pad.to_bytes(4, "big") + b"free" + os.urandom(pad - 8)
        Path(plan.partial_path).write_bytes(seed + free)
        seqs.append(library.finish_segment(plan, 1.0).seq)
    return seqs


@pytest.fixture
def card(tmp_path, monkeypatch):
    """A recording appliance on a 96 MiB tmpfs card that is also the temporary folder,
    40 clips of 1 MiB and 3 of 6 MiB on it, its dashboard and drive served; yields
    (dashboard, address, small clips, big clips)."""
    with tmpfs(tmp_path / "card", CARD_BYTES) as mount:
        monkeypatch.setattr(tempfile, "tempdir", str(mount))  # as on a Pi: one file system
        with dashboard(tmp_path, autostart=True, min_free_bytes=RESERVE_BYTES) as d:
            assert d.appliance.controller.wait_for_state(State.RECORDING)
            small = _fill(d, SMALL_CLIPS, SMALL_BYTES)
            big = _fill(d, BIG_CLIPS, BIG_BYTES)
            with serve(with_drive(d), threads=d.appliance.config.web_threads) as addr:
                yield d, addr, small, big


def _unread(addr, path: str, source: str = UNREAD) -> socket.socket:
    """A connection that asks ``path`` and never reads a byte of the answer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(addr)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def _channels(addr, source: str = UNREAD) -> list[Channel]:
    return [c for c in list(addr.server.active_channels.values()) if c.addr[0] == source]


def held_bytes(channel: Channel) -> int:
    """Bytes of answers the server holds in memory for ``channel``: unsent output, and
    what a pulled body has made and not yet sent."""
    total = 0
    for buf in list(channel.outbufs):
        if isinstance(buf, ReadOnlyFileBasedBuffer):
            body = buf.file
            total += len(body._buf) if isinstance(body, PulledBody) else 0
        else:
            total += len(buf)
    return total


def _fd_path(fd: str) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _status_s(addr) -> float:
    t0 = time.monotonic()
    assert request(addr, "/api/status").status == 200
    return time.monotonic() - t0


def test_an_unread_zip_and_unread_drive_downloads_spill_nothing_and_cost_no_clip(card):
    d, addr, small, big = card
    ctl, library = d.appliance.controller, d.appliance.library
    clips = small + big
    before = {item.seq for item in library.page(kinds={Kind.LOOP}, limit=1000)}
    assert set(clips) <= before
    rss_before = _rss_bytes()
    ids = ",".join(str(seq) for seq in clips)
    socks = [_unread(addr, f"/api/items.zip?ids={ids}")]
    socks += [_unread(addr, f"/dav/{share_path(library.get(seq))}") for seq in big * 4]
    try:
        assert wait_until(lambda: len(_channels(addr)) == len(socks), 5)
        temp_max = held_max = 0
        latencies = []
        deadline = time.monotonic() + 6.0
        pause = threading.Event()
        while time.monotonic() < deadline:
            temp_max = max(temp_max, temp_bytes(library.root))
            held_max = max([held_max] + [held_bytes(c) for c in _channels(addr)])
            latencies.append(_status_s(addr))
            pause.wait(PROBE_EVERY_S)
        pruned = before - {item.seq for item in library.page(kinds={Kind.LOOP}, limit=1000)}
        # Every answer waits for its reader: nothing spilled (so no clip was pruned to make
        # room for it), a bounded amount in memory, the status at once.
        assert (temp_max, sorted(pruned)) == (0, []), "spilled to the card, clips pruned"
        assert held_max <= HELD_MAX_BYTES, held_max
        assert max(latencies) < 1.0, latencies
        assert _rss_bytes() - rss_before < 32 * 2**20
        assert all(c.total_outbufs_len > 0 for c in _channels(addr))  # still waiting
    finally:
        for sock in socks:
            sock.close()
    assert ctl.state is State.RECORDING and ctl.status.frames_dropped == 0
    # And a client that reads gets every byte.
    zipped = request(addr, f"/api/items.zip?ids={ids}")
    assert zipped.status == 200 and int(zipped.headers["content-length"]) == len(zipped.body)
    with zipfile.ZipFile(io.BytesIO(zipped.body)) as archive:
        assert archive.testzip() is None
        assert [archive.read(n) for n in archive.namelist()] == [
            Path(library.get(seq).path).read_bytes() for seq in clips
        ]
    got = request(addr, f"/dav/{share_path(library.get(big[0]))}")
    assert got.status == 200 and got.body == Path(library.get(big[0]).path).read_bytes()


@pytest.mark.parametrize(
    "route",
    ["/media/{seq}", "/media/{seq}.mp4", "/media/{seq}?download=1", "/dav/{share}", "zip"],
)
def test_every_large_answer_waits_for_its_reader_and_holds_no_thread(card, route):
    d, addr, small, big = card
    library = d.appliance.library
    seq = big[0]
    if route == "zip":
        path = "/api/items.zip?ids=" + ",".join(str(s) for s in big)
    else:
        path = route.format(seq=seq, share=share_path(library.get(seq)))
    threads = d.appliance.config.web_threads
    socks = [_unread(addr, path) for _ in range(threads + 2)]  # more than the workers
    try:
        assert wait_until(
            lambda: (
                len(_channels(addr)) == len(socks)
                and all(c.total_outbufs_len for c in _channels(addr))
            ),
            5,
        )
        deadline = time.monotonic() + 2.0
        pause = threading.Event()
        while time.monotonic() < deadline:
            assert _status_s(addr) < 1.0  # no worker is held by the unread answers
            for channel in _channels(addr):
                assert held_bytes(channel) <= HELD_MAX_BYTES
            pause.wait(PROBE_EVERY_S)
        assert temp_bytes(library.root) == 0
    finally:
        for sock in socks:
            sock.close()


def test_a_client_that_stops_reading_a_pulled_answer_is_dropped_after_the_stall_bound(tmp_path):
    with dashboard(tmp_path, autostart=True) as d:
        library = d.appliance.library
        seqs = _fill(d, 2, BIG_BYTES)  # more than the socket buffers take
        paths = {os.path.realpath(library.get(seq).path) for seq in seqs}

        def open_clips() -> int:
            return sum(1 for fd in os.listdir("/proc/self/fd") if _fd_path(fd) in paths)

        with serve(with_drive(d), stalled_client_s=1.0) as addr:
            drops = Channel.drops_total
            zip_path = "/api/items.zip?ids=" + ",".join(map(str, seqs))
            socks = [
                _unread(addr, zip_path),
                _unread(addr, f"/dav/{share_path(library.get(seqs[0]))}"),
            ]
            try:
                assert wait_until(lambda: len(_channels(addr)) == 2, 5)
                assert wait_until(lambda: open_clips() > 0, 5)
                t0 = time.monotonic()
                assert wait_until(lambda: not _channels(addr), 10), "the stalled clients stayed"
                assert time.monotonic() - t0 < 5.0
                assert Channel.drops_total >= drops + 2
                assert wait_until(lambda: open_clips() == 0, 5)  # their files are closed
                for sock in socks:  # what the client finds: the connection closed
                    sock.settimeout(5)
                    with contextlib.suppress(ConnectionResetError):
                        while sock.recv(65536):
                            pass
            finally:
                for sock in socks:
                    sock.close()


def test_a_worker_writing_a_chunked_body_waits_at_the_watermark_and_is_freed_at_the_bound(
    tmp_path,
):
    """The fallback for any body the server cannot pull: its worker writes it, waiting
    while more than OUTBUF_HIGH_BYTES are unsent; a stalled client frees it."""
    made = []
    closed = threading.Event()

    def chunks():
        try:
            while True:
                made.append(64 * 1024)
                yield os.urandom(64 * 1024)
        finally:
            closed.set()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return chunks()

    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp_dir)
    server = make_server(app, host="127.0.0.1", port=0, threads=2, stalled_client_s=1.5)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        addr = ("127.0.0.1", int(server.effective_port))
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(addr)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert wait_until(lambda: len(made) > 4, 5)
        pause = threading.Event()
        pause.wait(0.5)
        channels = list(server.active_channels.values())
        assert len(channels) == 1 and channels[0].total_outbufs_len <= HELD_MAX_BYTES
        assert sum(made) <= 8 * 2**20  # no more than the kernel buffers and the watermark
        assert temp_bytes(tmp_dir) == 0
        assert closed.wait(10), "the worker stayed with a client that read nothing"
        sock.close()
    finally:
        tempfile.tempdir = saved
        close_server(server, running=thread.is_alive())
        thread.join(5)


def test_a_zip_whose_file_goes_during_the_download_is_cut_never_wrong(tmp_path, caplog):
    with dashboard(tmp_path, autostart=True) as d:
        library = d.appliance.library
        seqs = _fill(d, 3, 2 * 2**20)
        with serve(d.app) as addr:
            with Stream(addr, "/api/items.zip?ids=" + ",".join(map(str, seqs)), rcvbuf=4096) as s:
                length = int(s.headers["content-length"])
                first = s.read_exact(100_000)
                library.delete(seqs[2])  # pruned before its turn
                rest = b""
                with (
                    caplog.at_level(logging.INFO, logger="web.server"),
                    contextlib.suppress(ConnectionError),
                ):
                    while True:
                        s._body_more()
                        rest += s._raw
                        s._raw = b""
                got = first + rest
            assert len(got) < length  # cut: the client knows it is incomplete
            data = [Path(library.get(seq).path).read_bytes() for seq in seqs[:2]]
            assert data[0] in got and data[1] in got  # what came is right
            assert "cut short" in caplog.text
            assert request(addr, "/api/status").status == 200


def test_a_pulled_body_gives_its_bytes_in_order_and_refuses_a_wrong_length():
    body = PulledBody(iter([b"abc", b"defg", b"h"]), 8)
    assert body.seek(0, io.SEEK_END) == 8 and body.seek(0) == 0  # how Waitress sizes it
    assert body.read(2) == b"ab"
    body.seek(0)  # a peek and back: still there
    assert body.read(5) == b"abc"  # at most one chunk is made (and kept) per read
    assert body.read(5) == b"defg"
    body.seek(-2, io.SEEK_CUR)
    assert body.read() == b"fg" and body.read() == b"h" and body.read() == b""
    with pytest.raises(io.UnsupportedOperation):
        body.seek(0)  # what was sent is gone
    short = PulledBody(iter([b"abc"]), 5)
    assert short.read(5) == b"abc"
    with pytest.raises(BodyCut):
        short.read(5)
    long = PulledBody(iter([b"abcdef"]), 5)
    with pytest.raises(BodyCut):
        long.read(5)


def test_waitress_queue_warnings_are_held_back_in_a_flood(caplog):
    limit = web_server._QueueLogLimit(every_s=60.0)
    queue_log = logging.getLogger("waitress.queue.test")
    queue_log.addFilter(limit)
    with caplog.at_level(logging.WARNING, logger="waitress.queue.test"):
        for depth in range(500):
            queue_log.warning("Task queue depth is %d", depth)
    assert len(caplog.records) == 1
    assert limit.held == 499
    assert logging.getLogger("waitress.queue").filters.count(web_server.QUEUE_LOG_LIMIT) <= 1
