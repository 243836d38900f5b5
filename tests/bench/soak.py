"""Soak: the dashboard's memory under a phone browsing it for half an hour while it records.

Run as ``python tests/bench/soak.py [--minutes 30] [--idle]`` (``--idle``: no phone, the
recording alone, to compare with). A recording appliance (simulated
camera, real recorder, 2 s clips, the loop wrapping at 6 MB as a full card does) serves
the dashboard and the network drive on Waitress. A second process plays a phone, visit
after visit (a second's pause between them): the live page (status, the SSE stream, the
MJPEG preview), the gallery (a page, the days, twenty thumbnails), a clip played (three
byte ranges of its video), an incident played (its detail, three byte ranges of its video), a
ZIP of ten items read whole and another abandoned after 100 KB, the drive (a day's
listing, a clip), and every fifth visit an export made and downloaded. This process
samples its own resident memory every 10 s. Progress goes to stdout; the last line is one
JSON object:

* ``rss_slope_mb_per_min``: the least-squares slope of the resident memory after the
  warm-up (the first fifth of the run, at most 3 minutes; imports and caches fill then).
* ``rss_idle_mb``: before the first visit; ``rss_start_mb`` / ``rss_end_mb`` /
  ``rss_max_mb``: after the warm-up, at the end, the most.
* ``visits``, ``requests``, ``errors`` (answers other than those expected),
  ``status_max_ms`` (the slowest ``/api/status``).
* ``frames_lost``: frames the recorder dropped plus those missing between consecutive
  clips recorded during the run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SAMPLE_EVERY_S = 10.0
#: The loop wraps at this (about a minute of the simulated camera's clips): the index
#: stops growing within the warm-up, as on a full card.
LOOP_QUOTA_BYTES = 6 * 2**20
JSON_POST = {"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}


# --- the phone (a child process) --------------------------------------------------------


class Phone:
    """One browser's worth of connections to the dashboard, counting what it gets."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.requests = 0
        self.errors: list[str] = []
        self.status_max_s = 0.0

    def get(self, path: str, ok=(200,), method="GET", headers=None, body=None) -> bytes:
        self.requests += 1
        for attempt in (0, 1):  # a kept-alive connection the server closed: once more
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    self.errors.append(f"{method} {path}: connection failed")
                    return b""
        if resp.status not in ok:
            self.errors.append(f"{method} {path}: {resp.status}")
        return data

    def status(self) -> None:
        t0 = time.monotonic()
        self.get("/api/status")
        self.status_max_s = max(self.status_max_s, time.monotonic() - t0)

    def visit(self, n: int, incident: int) -> None:
        from tests.webclient import Stream

        self.status()
        self.get("/")
        with Stream((self.host, self.port), "/api/events") as events:
            for _ in range(2):
                events.next_event()
        self.requests += 1
        with Stream((self.host, self.port), "/api/preview.mjpeg") as preview:
            for _ in range(10):
                preview.next_part()
        self.requests += 1
        items = json.loads(self.get("/api/items?limit=50") or b'{"items": []}')["items"]
        self.get("/api/days")
        for item in items[:20]:
            if item["thumb_url"]:
                self.get(item["thumb_url"], ok=(200, 404))  # pruned meanwhile: 404
        clips = [i for i in items if i["video"]][2:]  # not the newest: it may be pruned
        if clips:
            clip = clips[n % len(clips)]
            for rng in ("bytes=0-65535", "bytes=30000-90000", "bytes=-20000"):
                video = f"/api/items/{clip['id']}/video.mp4"
                self.get(video, ok=(206, 404), headers={"Range": rng})
            ids = ",".join(i["id"] for i in clips[:10])
            self.get(f"/api/items.zip?ids={ids}", ok=(200, 404))
            self.abandoned(f"/api/items.zip?ids={ids}")
            day = clip["day"]
            self.get(f"/dav/Loop/{day}/", ok=(207, 404), method="PROPFIND", headers={"Depth": "1"})
            self.get(f"/dav/Loop/{day}/{clip['name']}", ok=(200, 404))
        self.get(f"/api/incidents/{incident}")
        for rng in ("bytes=0-65535", "bytes=100000-300000", "bytes=-20000"):
            self.get(f"/api/incidents/{incident}/video.mp4", headers={"Range": rng}, ok=(206,))
        if n % 5 == 0:
            made = self.get(
                f"/api/incidents/{incident}/export", ok=(201,), method="POST", headers=JSON_POST
            )
            if made:
                self.get(json.loads(made)["url"])
        self.status()

    def abandoned(self, path: str) -> None:
        """A download the phone gives up after 100 KB (the user cancelled)."""
        self.requests += 1
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("GET", path)
            conn.getresponse().read(100_000)
        except (http.client.HTTPException, OSError) as exc:
            self.errors.append(f"abandoned {path}: {exc!r}")
        finally:
            conn.close()


def phone(host: str, port: int, minutes: float, incident: int) -> None:
    """Visit after visit until ``minutes`` are over; print the counts as JSON."""
    client = Phone(host, port)
    end = time.monotonic() + minutes * 60
    visits = 0
    pause = threading.Event()
    while time.monotonic() < end:
        try:
            client.visit(visits, incident)
        except (OSError, ConnectionError, ValueError) as exc:
            client.errors.append(f"visit {visits}: {exc!r}")
        visits += 1
        pause.wait(1.0)
    print(
        json.dumps(
            {
                "visits": visits,
                "requests": client.requests,
                "errors": len(client.errors),
                "error_examples": client.errors[:5],
                "status_max_ms": round(client.status_max_s * 1000, 1),
            }
        ),
        flush=True,
    )


# --- the appliance (this process) -------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def _count(segments: list, after_seq: int, counted: list) -> list:
    """(first frame, frames) of each clip recorded after ``after_seq``, read while it is on
    the card; ``counted`` keeps them across calls (by position)."""
    recorded = [s for s in list(segments) if s.seq > after_seq]
    for seg in recorded[len(counted) :]:
        try:
            counted.append((seg.first_frame_index, seg.frames))
        except (OSError, AssertionError, ValueError):
            break  # pruned before it was read: the run's count ends there
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the phone browses")
    parser.add_argument(
        "--idle", action="store_true", help="no phone: the recording alone, for comparison"
    )
    parser.add_argument(
        "--phone", nargs=3, metavar=("HOST", "PORT", "INCIDENT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--idle-phone", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.idle_phone:  # waits the minutes out, visiting nothing
        threading.Event().wait(args.minutes * 60)
        print(json.dumps({"visits": 0, "requests": 0, "errors": 0}), flush=True)
        return
    if args.phone:
        host, port, incident = args.phone
        phone(host, int(port), args.minutes, int(incident))
        return

    from appliance.states import Event, State
    from tests.harness import wait_until
    from tests.web_fixtures import dashboard, with_drive
    from tests.webclient import serve

    result: dict[str, object] = {"minutes": args.minutes, "idle": args.idle}
    with (
        tempfile.TemporaryDirectory() as tmp,
        dashboard(Path(tmp), autostart=True, segment_seconds=2.0, loop_quota_bytes=20 * 2**20) as d,
    ):
        ctl, library = d.appliance.controller, d.appliance.library
        assert ctl.wait_for_state(State.RECORDING)
        d.appliance.wait_segments(2)
        ctl.post(Event.PROTECT_PRESSED)  # an incident to play and export
        assert wait_until(lambda: library.incidents()[:1] and library.incidents()[0].complete, 30)
        incident = library.incidents()[0].id
        with serve(with_drive(d), threads=d.appliance.config.web_threads) as addr:
            first_seq = d.appliance.segments[-1].seq
            result["rss_idle_mb"] = round(rss_mb(), 1)
            phone_argv = ["--phone", addr[0], str(addr[1]), str(incident)]
            child = subprocess.Popen(
                [sys.executable, __file__, "--minutes", str(args.minutes)]
                + (["--idle-phone"] if args.idle else phone_argv),
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            )
            t0 = time.monotonic()
            samples: list[tuple[float, float]] = []
            done = threading.Event()
            threading.Thread(target=lambda: (child.wait(), done.set()), daemon=True).start()
            counted: list = []  # the clips' frame numbers, read before the loop prunes them
            while not done.wait(SAMPLE_EVERY_S):
                samples.append(((time.monotonic() - t0) / 60, rss_mb()))
                print(f"{samples[-1][0]:6.1f} min  rss {samples[-1][1]:7.1f} MB", flush=True)
                _count(d.appliance.segments, first_seq, counted)
            samples.append(((time.monotonic() - t0) / 60, rss_mb()))
            out = child.stdout.read().strip().splitlines()
            result.update(json.loads(out[-1]) if out else {"errors": "the phone printed nothing"})
        warmup = min(3.0, args.minutes * 0.2)
        steady = [p for p in samples if p[0] >= warmup] or samples
        result["rss_slope_mb_per_min"] = round(slope(steady), 3)
        result["rss_start_mb"] = round(steady[0][1], 1)
        result["rss_end_mb"] = round(samples[-1][1], 1)
        result["rss_max_mb"] = round(max(y for _, y in samples), 1)
        d.appliance.wait_segments(len(d.appliance.segments) + 1)
        segs = _count(d.appliance.segments, first_seq, counted)
        gaps = [b[0] - (a[0] + a[1]) for a, b in zip(segs, segs[1:], strict=False)]
        result["frames_dropped"] = ctl.status.frames_dropped
        result["frames_lost"] = ctl.status.frames_dropped + sum(abs(g) for g in gaps)
        result["clips_recorded"] = len(segs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
