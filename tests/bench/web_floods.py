"""Benchmark: the status API's latency under the floods of tests/test_web_load.py and
tests/test_web_backpressure.py.

Run as ``python tests/bench/web_floods.py``. A recording appliance (simulated camera, real
recorder) serves the dashboard and the network drive on Waitress, its card holding 40
clips of 1 MiB and 3 of 6 MiB besides what it records; the card's folder is also the
temporary folder (as on a Pi, where both are on the SD card). Each flood comes from
127.0.0.2 for ``FLOOD_S`` while ``/api/status`` is asked from 127.0.0.1 every 0.1 s.
Progress goes to stdout; the last line is one JSON object:

* ``<flood>_status_p50_ms`` / ``_max_ms``: the status latency during the flood
  (``pipelined``: 10 sockets pipelining 4,000 requests each, never reading; ``ranges``:
  10 sockets asking a clip with ``Range: bytes=0-`` and pipelining 32 MiB more, never
  reading; ``slow_headers``: 110 sockets sending a header byte every 0.5 s;
  ``unread_zip``: 10 sockets each asking the ZIP of every clip (58 MiB), never reading;
  ``unread_drive``: 12 sockets each asking a 6 MiB clip of the network drive, never
  reading).
* ``<flood>_answered``: status answers within the deadline / asked.
* ``<flood>_temp_bytes_max``: the most bytes held in temporary files meanwhile;
  ``temp_bytes_max``: over every flood (0: nothing spilled to the card).
* ``clips_pruned``: clips the pruner deleted over the run (the card has room for all).
* ``frames_dropped``: frames the recorder dropped over the whole run;
  ``frame_gaps``: discontinuities between consecutive segments recorded during the floods;
  ``frames_lost``: both together, in frames.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.library import Kind  # noqa: E402
from appliance.share import share_path  # noqa: E402
from appliance.states import State  # noqa: E402
from tests import test_web_load as load  # noqa: E402
from tests.test_web_backpressure import BIG_BYTES, SMALL_BYTES, _fill  # noqa: E402
from tests.web_fixtures import dashboard, temp_bytes, with_drive  # noqa: E402
from tests.webclient import serve  # noqa: E402


def _pipelined(addr, clip):
    payload = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 4000

    def run(stop: threading.Event) -> None:
        socks = [load._connect(addr) for _ in range(10)]
        try:
            load._send_all(socks, payload, stop)
            stop.wait(load.FLOOD_S + 5)
        finally:
            for s in socks:
                s.close()

    return run


def _ranges(addr, clip):
    one = f"GET /media/{clip.seq} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-\r\n\r\n"
    payload = one.encode() * min(4000, 32 * 2**20 // clip.size + 1)

    def run(stop: threading.Event) -> None:
        socks = [load._connect(addr) for _ in range(10)]
        try:
            load._send_all(socks, payload, stop)
            stop.wait(load.FLOOD_S + 5)
        finally:
            for s in socks:
                s.close()

    return run


def _slow_headers(addr, clip):
    def run(stop: threading.Event) -> None:
        socks = []
        try:
            for _ in range(110):
                try:
                    sock = load._connect(addr, rcvbuf=None)
                    sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    socks.append(sock)
                except OSError:
                    pass
            while not stop.wait(0.5):
                for sock in list(socks):
                    try:
                        sock.send(b"X")
                    except OSError:
                        socks.remove(sock)
        finally:
            for s in socks:
                s.close()

    return run


def _unread(paths: list[str]):
    """A flood: one socket per path, each asking it once and never reading."""

    def make(addr, clip):
        requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for p in paths]

        def run(stop: threading.Event) -> None:
            socks = [load._connect(addr) for _ in paths]
            try:
                for sock, one in zip(socks, requests, strict=True):
                    sock.sendall(one)
                stop.wait(load.FLOOD_S + 5)
            finally:
                for s in socks:
                    s.close()

        return run

    return make


def main() -> None:
    result: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as tmp, dashboard(Path(tmp), segment_seconds=1.0) as d:
        ctl = d.appliance.controller
        assert ctl.wait_for_state(State.RECORDING)
        d.appliance.wait_segments(2)
        library = d.appliance.library
        tempfile.tempdir = library.root  # as on a Pi: the temporary folder on the card
        filled = _fill(d, 40, SMALL_BYTES) + _fill(d, 3, BIG_BYTES)
        big = [library.get(seq) for seq in filled[-3:]]
        everything = "/api/items.zip?ids=" + ",".join(map(str, filled))
        floods = [
            ("pipelined", _pipelined),
            ("ranges", _ranges),
            ("slow_headers", _slow_headers),
            ("unread_zip", _unread([everything] * 10)),
            ("unread_drive", _unread([f"/dav/{share_path(i)}" for i in big] * 4)),
        ]
        temp_max = 0
        with serve(with_drive(d), threads=d.appliance.config.web_threads) as addr:
            clip = max(d.appliance.library.page(kinds={Kind.LOOP}, limit=10), key=lambda i: i.size)
            for name, make in floods:
                temps: list[int] = []
                sampling = threading.Event()

                def sample(temps=temps, sampling=sampling) -> None:
                    while not sampling.wait(0.05):
                        temps.append(temp_bytes(library.root))

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                with load.flood(make(addr, clip)) as stop:
                    latencies = load.probe_during(addr, stop, warmup_s=1.0)
                sampling.set()
                sampler.join(5)
                result[f"{name}_temp_bytes_max"] = max(temps, default=0)
                temp_max = max(temp_max, result[f"{name}_temp_bytes_max"])
                ok = [x for x in latencies if x < load.STATUS_DEADLINE_S]
                finite = [x for x in latencies if math.isfinite(x)]
                result[f"{name}_status_p50_ms"] = round(statistics.median(latencies) * 1000, 1)
                result[f"{name}_status_max_ms"] = (
                    round(max(finite) * 1000, 1) if len(finite) == len(latencies) else -1
                )
                result[f"{name}_answered"] = f"{len(ok)}/{len(latencies)}"
                print(
                    name,
                    result[f"{name}_status_max_ms"],
                    result[f"{name}_answered"],
                    result[f"{name}_temp_bytes_max"],
                    flush=True,
                )
        d.appliance.wait_segments(len(d.appliance.segments) + 1)
        # The recorder's own clips, from the first one begun after the card was filled.
        segs = [seg for seg in d.appliance.segments if seg.seq > max(filled)]
        result["temp_bytes_max"] = temp_max
        left = {i.seq for i in library.page(kinds={Kind.LOOP}, limit=100_000)}
        result["clips_pruned"] = len(set(filled) - left)
        result["frames_dropped"] = ctl.status.frames_dropped
        gaps = [
            b.first_frame_index - (a.first_frame_index + a.frames)
            for a, b in zip(segs, segs[1:], strict=False)
        ]
        result["frame_gaps"] = sum(1 for g in gaps if g)
        result["frames_lost"] = ctl.status.frames_dropped + sum(abs(g) for g in gaps)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
