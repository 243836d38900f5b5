"""Benchmark of the dashboard: live-status latency, preview latency and cost, paging, load.

Run as ``python tests/bench/web.py [--load-seconds 60]``. Progress goes to stdout; the last
line is one JSON object:

* ``sse_p50_ms``: a (mock) button press -> the SSE status event received by a client.
* ``mjpeg_latency_p50_ms`` / ``_p95_ms``: frame made by the camera (its timestamp) -> the
  frame received by a client.
* ``extra_viewer_cpu_ratio``: CPU of a ``dashcam run --sim`` process with 3 preview
  viewers / with 1.
* ``page_p50_ms``: a gallery page of 50 at 20,000 recordings over HTTP.
* ``page_ratio_vs_find``: the same listing done the naive way (``find | sort`` over the
  card and the whole gallery HTML built per request) / ours.
* ``frames_lost_under_load``: frames missing from the recording while 3 preview viewers and
  20 gallery requests a second run.
* ``export_incident_s``: ``POST /api/incidents/{id}/export`` of an incident of three 60 s
  clips at 8 Mbit/s (muxed by the recorder's writer), until its 201.
* ``incident_video_first_ms``: the first 64 KiB of that incident's one video
  (``/api/incidents/{id}/video.mp4``), its index built from the clips' fragments;
  ``incident_video_range_ms``: the median of 20 ranges of 256 KiB anywhere in it, the index
  cached; ``incident_video_header_bytes``: its index; ``incident_video_read_mb_s``: the
  whole video read over loopback.
* ``incident_to_moment_s``: in Chromium, a tap on an incident's tile -> the first frame at
  its moment (5 s before it) shown (``seeked``), median of 5; ``cross_clip_seek_s``: a seek
  from one clip of the incident into another -> ``seeked``, median of 6.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from appliance.controller import Controller  # noqa: E402
from appliance.library import Library  # noqa: E402
from appliance.states import State  # noqa: E402
from hw.camera.sim import SimulatedCamera  # noqa: E402
from tests.bench.library import FakeDisk, build_card  # noqa: E402
from tests.harness import decode_counters, wait_until  # noqa: E402
from tests.web_fixtures import dashboard, free_port  # noqa: E402
from tests.webclient import Stream, serve  # noqa: E402
from web.app import create_app  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def bench_sse(tmp: str, presses: int = 20) -> float:
    """Press record (mock pin) and time the status event's arrival."""
    from pathlib import Path

    with dashboard(Path(tmp), autostart=True) as d, serve(d.app) as addr:
        ctl = d.appliance.controller
        assert ctl.wait_for_state(State.RECORDING)
        times = []
        with Stream(addr, "/api/events") as events:
            events.next_event()
            wanted = "idle"
            for _ in range(presses):
                wait_until(lambda: False, 0.1)  # past the debounce time
                t0 = time.monotonic()
                d.appliance.press(d.appliance.panel.record)
                while True:
                    name, data = events.next_event()
                    if name == "status" and data["state"] == wanted:
                        break
                times.append((time.monotonic() - t0) * 1000)
                wanted = "recording" if wanted == "idle" else "idle"
        return statistics.median(times)


def bench_mjpeg_latency(tmp: str, frames: int = 150) -> tuple[float, float]:
    """Camera timestamp (monotonic us) -> receipt, with 3 viewers reading."""
    from pathlib import Path

    with (
        dashboard(Path(tmp), autostart=True, preview_width=640, preview_height=360) as d,
        serve(d.app) as addr,
    ):
        assert d.appliance.controller.wait_for_state(State.RECORDING)
        lat = []
        others = [Stream(addr, "/api/preview.mjpeg") for _ in range(2)]
        stop = threading.Event()
        threads = [threading.Thread(target=_drain, args=(s, stop), daemon=True) for s in others]
        for t in threads:
            t.start()
        with Stream(addr, "/api/preview.mjpeg") as viewer:
            viewer.next_part()
            for _ in range(frames):
                headers, _, arrived = viewer.next_part()
                lat.append((arrived * 1e6 - int(headers["x-pts-us"])) / 1000)
        stop.set()
        for s in others:
            s.close()
        return pct(lat, 50), pct(lat, 95)


def bench_paging(tmp: str, requests: int = 200) -> tuple[float, float, int]:
    """A page of 50 over HTTP at 20,000 recordings, and the naive find | sort + HTML way."""
    root = os.path.join(tmp, "card")
    os.makedirs(root)
    build_card(root)
    disk = FakeDisk(1024**4, 512 * 1024**3)
    library = Library(root, disk_usage=disk, min_free_bytes=0)
    library.scan()
    from appliance.config import Config

    config = Config(storage_root=root, min_free_bytes=0)
    camera = SimulatedCamera(width=320, height=240)
    controller = Controller(config, camera, library)  # not started: only its interface
    app = create_app(controller, library, config_path=os.path.join(tmp, "c.toml"))
    ours = []
    with serve(app) as addr:
        conn = http.client.HTTPConnection(*addr, timeout=10)
        for i in range(requests):
            before = f"&before={20_000 - i * 37}" if i % 2 else ""
            t0 = time.perf_counter()
            conn.request("GET", f"/api/items?limit=50{before}")
            body = conn.getresponse().read()
            ours.append((time.perf_counter() - t0) * 1000)
            assert len(json.loads(body)["items"]) == 50
        conn.close()
    naive = []
    for _ in range(5):
        t0 = time.perf_counter()
        find = subprocess.Popen(
            ["find", root, "-type", "f", "(", "-iname", "*.jpg", "-o", "-iname", "*.mp4", ")"]
            + ["-path", "*/DCIM/*", "-not", "-path", "*/THUMB/*", "-printf", "%T@\\t%p\\n"],
            stdout=subprocess.PIPE,
        )
        listing = subprocess.run(
            ["sort", "-n", "-r"], stdin=find.stdout, capture_output=True, check=True
        ).stdout
        find.wait()
        paths = [line.split(b"\t", 1)[1].decode() for line in listing.splitlines()]
        html = ["<html><body><div class='gallery'>"]
        for path in paths:
            name = os.path.basename(path)
            thumb = "/DCIM/THUMB/" + name.split("_")[0] + ".jpg"
            tag = "video" if name.endswith(".mp4") else "img"
            html.append(f"<a href='{path}'><img src='{thumb}' alt='{name}'>{tag}</a>")
        html.append("</div></body></html>")
        "".join(html).encode()
        naive.append((time.perf_counter() - t0) * 1000)
    camera.stop()
    return statistics.median(ours), statistics.median(naive), len(paths)


#: The export bench's clips: 60 s each at 8 Mbit/s and 30 frames a second.
EXPORT_CLIP_S = 60
EXPORT_BITRATE = 8_000_000
EXPORT_FPS = 30


def _padded(data: bytes, size: int) -> bytes:
    """Annex B ``data`` grown to about ``size`` bytes with a filler NAL unit (type 12)."""
    fill = max(0, size - len(data) - 6)
    return data + b"\x00\x00\x00\x01\x0c" + b"\xff" * fill + b"\x80"


def bench_export(tmp: str) -> tuple[float, dict]:
    """Seconds for the API to export an incident of three 60 s clips at 8 Mbit/s, and the
    cost of its one video (see the module docstring)."""
    from appliance.config import Config
    from appliance.media.segment import SegmentWriter
    from appliance.ports import EncodedPacket
    from tests.harness import camera_packets

    info, packets = camera_packets(1.0, fps=EXPORT_FPS)  # one keyframe interval
    gop = packets[:EXPORT_FPS]
    frame_bytes = EXPORT_BITRATE // 8 // EXPORT_FPS
    gop_data = [_padded(p.data, frame_bytes) for p in gop]
    root = os.path.join(tmp, "card")
    library = Library(root, min_free_bytes=0)
    library.scan()
    frame = 0

    def record(plan) -> None:
        nonlocal frame
        writer = None
        for n in range(EXPORT_CLIP_S * EXPORT_FPS):
            k = n % EXPORT_FPS
            pts_us = frame * 1_000_000 // EXPORT_FPS
            packet = EncodedPacket(gop_data[k], pts_us, gop[k].keyframe, frame)
            frame += 1
            if writer is None:
                writer = SegmentWriter(plan.partial_path, info, packet, sync=lambda fd: None)
            else:
                writer.write(packet)
        writer.close()
        library.finish_segment(plan, writer.duration_s)

    record(library.begin_segment())
    current = library.begin_segment()
    library.protect_incident(current.seq)  # the clip before, this one and the next
    record(current)
    record(library.begin_segment())
    [incident] = library.incidents()
    assert incident.complete and len(incident.clips) == 3, incident
    config = Config(storage_root=root, min_free_bytes=0)
    controller = Controller(config, SimulatedCamera(width=320, height=240), library)
    app = create_app(controller, library, config_path=os.path.join(tmp, "c.toml"))
    with serve(app) as addr:
        conn = http.client.HTTPConnection(*addr, timeout=120)
        video = video_figures(conn, f"/api/incidents/{incident.id}/video.mp4")
        t0 = time.perf_counter()
        conn.request("POST", f"/api/incidents/{incident.id}/export")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        elapsed = time.perf_counter() - t0
        conn.close()
    assert resp.status == 201, body
    assert body["frames"] == 3 * EXPORT_CLIP_S * EXPORT_FPS, body
    print(f"export: {body['size'] / 1e6:.0f} MB, {body['frames']} frames", flush=True)
    return elapsed, video


def video_figures(conn: http.client.HTTPConnection, url: str) -> dict:
    """What a virtual video costs per request (see the module docstring)."""
    import random

    def get(rng: str) -> tuple[float, bytes, dict]:
        t0 = time.perf_counter()
        conn.request("GET", url, headers={"Range": rng})
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 206, resp.status
        return (time.perf_counter() - t0) * 1000, data, dict(resp.getheaders())

    first_ms, head, headers = get("bytes=0-65535")
    length = int(headers["Content-Range"].rsplit("/", 1)[1])
    at = int.from_bytes(head[:4], "big")  # past the ftyp
    moov = int.from_bytes(head[at : at + 4], "big") if head[at + 4 : at + 8] == b"moov" else 0
    rng = random.Random(20)
    range_ms = []
    for _ in range(20):
        first = rng.randrange(length - 262144)
        range_ms.append(get(f"bytes={first}-{first + 262143}")[0])
    t0 = time.perf_counter()
    conn.request("GET", url)
    resp = conn.getresponse()
    total = 0
    while chunk := resp.read(1 << 20):
        total += len(chunk)
    took = time.perf_counter() - t0
    assert total == length, (total, length)
    return {
        "incident_video_first_ms": round(first_ms, 2),
        "incident_video_range_ms": round(statistics.median(range_ms), 2),
        "incident_video_header_bytes": moov,
        "incident_video_read_mb_s": round(length / 1e6 / took, 1),
        "incident_video_bytes": length,
    }


def bench_browser(tmp: str) -> dict:
    """In Chromium against a ``dashcam run --sim`` child with 6 s clips: a tap on an
    incident's tile -> its first frame at the moment, and seeks across its clips."""
    from pathlib import Path

    from tests.browser_fixtures import chromium, phone_page, sim_server
    from tests.test_web_ui_timeline import LEAD_S, SEGMENT_S, complete_incident

    watch = """
    window.seeks = [];
    document.addEventListener("DOMContentLoaded", () => {
      const v = document.getElementById("video");
      v.addEventListener("seeked", () => seeks.push([performance.now(), v.currentTime]));
      document.addEventListener("click", (e) => {
        if (e.target.closest(".tile")) window.tapped = performance.now();
      }, true);
    });
    """
    with sim_server(Path(tmp), f"segment_seconds = {SEGMENT_S}") as base:
        d = complete_incident(base)
        tl = d["timeline"]
        start = tl["moment_s"] - LEAD_S
        tile = f"#gallery .tile[data-incident='{d['incident']['id']}']"
        to_moment, cross = [], []
        with chromium() as browser, phone_page(browser, base) as page:
            page.add_init_script(watch)
            page.reload()
            page.wait_for_selector("#link[data-live='true']")
            page.click("a[data-tab='gallery']")
            page.click("#views .chip[data-kind='events']")
            for _ in range(5):
                page.evaluate("window.seeks = []; window.tapped = null")
                page.click(tile)
                page.wait_for_function(
                    f"seeks.some(([, t]) => Math.abs(t - {start}) < 0.1)", timeout=20_000
                )
                at = page.evaluate(f"seeks.find(([, t]) => Math.abs(t - {start}) < 0.1)[0]")
                to_moment.append((at - page.evaluate("tapped")) / 1000)
                page.click("#player-close")
            page.click(tile)
            page.wait_for_function(f"seeks.some(([, t]) => Math.abs(t - {start}) < 0.1)")
            targets = [c["start_s"] + 1.5 for c in tl["clips"]] * 2
            for target in targets[1:] + targets[:1]:
                page.evaluate("window.seeks = []")
                t0 = page.evaluate(
                    f"(() => {{ const t = performance.now(); "
                    f"document.getElementById('video').currentTime = {target}; return t; }})()"
                )
                page.wait_for_function("seeks.length > 0", timeout=10_000)
                cross.append((page.evaluate("seeks[0][0]") - t0) / 1000)
    return {
        "incident_to_moment_s": round(statistics.median(to_moment), 3),
        "incident_to_moment_max_s": round(max(to_moment), 3),
        "cross_clip_seek_s": round(statistics.median(cross), 3),
        "cross_clip_seek_max_s": round(max(cross), 3),
    }


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_child(tmp: str, load_s: float) -> tuple[float, int, dict]:
    """CPU with 1 vs 3 viewers, then frames lost while recording under load."""
    port = free_port()
    os.makedirs(tmp, exist_ok=True)
    config = os.path.join(tmp, "dashcam.toml")
    with open(config, "w") as f:
        f.write(
            "video_width = 640\nvideo_height = 480\nvideo_bitrate = 1000000\n"
            "segment_seconds = 10.0\nmin_free_bytes = 0\nmin_free_percent = 0.0\n"
            f'web_host = "127.0.0.1"\nweb_port = {port}\n'
        )
    card = os.path.join(tmp, "card")
    child = subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim", "--config", config, "--storage", card],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")),
    )
    addr = ("127.0.0.1", port)

    def status():
        conn = http.client.HTTPConnection(*addr, timeout=5)
        conn.request("GET", "/api/status")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def up():
        try:
            return status()["state"] == "recording"
        except OSError:
            return False

    stop = threading.Event()
    try:
        assert wait_until(up, 30), "the child did not start"

        def watch(n: int):
            streams = [Stream(addr, "/api/preview.mjpeg") for _ in range(n)]
            readers = []
            for s in streams:
                t = threading.Thread(target=lambda s=s: _drain(s, stop), daemon=True)
                t.start()
                readers.append(t)
            return streams

        def measure(n: int, seconds: float = 8.0) -> float:
            stop.clear()
            streams = watch(n)
            wait_until(lambda: False, 1.0)  # settle
            c0, t0 = cpu_s(child.pid), time.monotonic()
            wait_until(lambda: False, seconds)
            used = (cpu_s(child.pid) - c0) / (time.monotonic() - t0)
            stop.set()
            for s in streams:
                s.close()
            return used

        one = measure(1)
        three = measure(3)
        print(f"child CPU: 1 viewer {one:.3f} s/s, 3 viewers {three:.3f} s/s", flush=True)

        stop.clear()
        streams = watch(3)
        dropped_before = status()["frames_dropped"]
        gallery_errors = 0
        gallery_done = 0
        t_end = time.monotonic() + load_s
        conn = http.client.HTTPConnection(*addr, timeout=5)
        tick = time.monotonic()
        while time.monotonic() < t_end:
            for _ in range(20):
                conn.request("GET", "/api/items?limit=50")
                resp = conn.getresponse()
                resp.read()
                gallery_done += 1
                gallery_errors += resp.status != 200
            tick += 1.0
            wait_until(lambda t=tick: time.monotonic() >= t, 2.0)
        conn.close()
        stop.set()
        for s in streams:
            s.close()
        final = status()
        dropped = final["frames_dropped"] - dropped_before
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(30)
    # Every frame the camera made is in the recording: counters contiguous across segments.
    clips = []
    for folder, _, files in os.walk(os.path.join(card, "DCIM")):
        clips += [os.path.join(folder, f) for f in files if f.endswith(".mp4")]
    clips.sort(key=lambda p: os.path.basename(p))
    counters = []
    for path in clips:
        counters += decode_counters(path)
    gaps = sum(b - a - 1 for a, b in zip(counters, counters[1:], strict=False) if b > a + 1)
    extra = {
        "load_seconds": load_s,
        "gallery_requests": gallery_done,
        "gallery_errors": gallery_errors,
        "frames_recorded": len(counters),
        "frames_dropped_by_recorder": dropped,
        "counter_gaps": gaps,
        "cpu_1_viewer": round(one, 3),
        "cpu_3_viewers": round(three, 3),
    }
    return three / one, gaps + dropped, extra


def _drain(stream: Stream, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            stream.next_part()
    except (OSError, ValueError):  # closed under it at the end
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--export-only", action="store_true", help="print only export_incident_s")
    parser.add_argument(
        "--player-only", action="store_true", help="print only the player's figures (Chromium)"
    )
    args = parser.parse_args()
    if args.export_only:
        with tempfile.TemporaryDirectory() as tmp:
            export_s, video = bench_export(tmp)
        print(json.dumps({"export_incident_s": round(export_s, 3), **video}))
        return
    if args.player_only:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(bench_browser(tmp)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        sse = bench_sse(os.path.join(tmp, "sse"))
        print(f"sse p50 {sse:.1f} ms", flush=True)
        p50, p95 = bench_mjpeg_latency(os.path.join(tmp, "mjpeg"))
        print(f"mjpeg latency p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
        page, naive, found = bench_paging(os.path.join(tmp, "paging"))
        print(f"page p50 {page:.2f} ms; find|sort + HTML {naive:.0f} ms ({found} files)")
        export_s, video = bench_export(os.path.join(tmp, "export"))
        print(f"export of a 3 x 60 s incident {export_s:.2f} s", flush=True)
        print(f"incident video: {video}", flush=True)
        os.mkdir(os.path.join(tmp, "player"))
        player = bench_browser(os.path.join(tmp, "player"))
        print(f"player: {player}", flush=True)
        ratio, lost, extra = bench_child(os.path.join(tmp, "child"), args.load_seconds)
        print(f"extra viewer CPU ratio {ratio:.2f}; frames lost under load {lost}", flush=True)
    result = {
        "sse_p50_ms": round(sse, 2),
        "mjpeg_latency_p50_ms": round(p50, 2),
        "mjpeg_latency_p95_ms": round(p95, 2),
        "extra_viewer_cpu_ratio": round(ratio, 3),
        "page_p50_ms": round(page, 3),
        "page_ratio_vs_find": round(naive / page, 1),
        "frames_lost_under_load": lost,
        "export_incident_s": round(export_s, 3),
        **video,
        **player,
        "recordings": 20_000,
        **extra,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
