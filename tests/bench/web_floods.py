"""Benchmark: the status API's latency under the three floods of tests/test_web_load.py.

Run as ``python tests/bench/web_floods.py``. A recording appliance (simulated camera, real
recorder) serves the dashboard on Waitress; each flood comes from 127.0.0.2 for
``FLOOD_S`` while ``/api/status`` is asked from 127.0.0.1 every 0.1 s. Progress goes to
stdout; the last line is one JSON object:

* ``<flood>_status_p50_ms`` / ``_max_ms``: the status latency during the flood
  (``pipelined``: 10 sockets pipelining 4,000 requests each, never reading; ``ranges``:
  10 sockets asking a clip with ``Range: bytes=0-`` and pipelining 32 MiB more, never
  reading; ``slow_headers``: 110 sockets sending a header byte every 0.5 s).
* ``<flood>_answered``: status answers within the deadline / asked.
* ``frames_dropped``: frames the recorder dropped over the whole run;
  ``frame_gaps``: discontinuities between consecutive closed segments.
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
from appliance.states import State  # noqa: E402
from tests import test_web_load as load  # noqa: E402
from tests.web_fixtures import dashboard  # noqa: E402
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


def main() -> None:
    result: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as tmp, dashboard(Path(tmp), segment_seconds=1.0) as d:
        ctl = d.appliance.controller
        assert ctl.wait_for_state(State.RECORDING)
        d.appliance.wait_segments(2)
        with serve(d.app, threads=d.appliance.config.web_threads) as addr:
            clip = max(d.appliance.library.page(kinds={Kind.LOOP}, limit=10), key=lambda i: i.size)
            for name, make in (
                ("pipelined", _pipelined),
                ("ranges", _ranges),
                ("slow_headers", _slow_headers),
            ):
                with load.flood(make(addr, clip)) as stop:
                    latencies = load.probe_during(addr, stop, warmup_s=1.0)
                ok = [x for x in latencies if x < load.STATUS_DEADLINE_S]
                finite = [x for x in latencies if math.isfinite(x)]
                result[f"{name}_status_p50_ms"] = round(statistics.median(latencies) * 1000, 1)
                result[f"{name}_status_max_ms"] = (
                    round(max(finite) * 1000, 1) if len(finite) == len(latencies) else -1
                )
                result[f"{name}_answered"] = f"{len(ok)}/{len(latencies)}"
                print(name, result[f"{name}_status_max_ms"], result[f"{name}_answered"])
        d.appliance.wait_segments(len(d.appliance.segments) + 1)
        segs = d.appliance.segments
        result["frames_dropped"] = ctl.status.frames_dropped
        result["frame_gaps"] = sum(
            1
            for a, b in zip(segs, segs[1:], strict=False)
            if b.first_frame_index != a.first_frame_index + a.frames
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
