"""Replay camera benchmark: CPU per frame with the overlay (decode, draw, encode again with
libx264) against the stream copy, at the replayed file's size.

Run: ``.venv/bin/python tests/bench/replay_overlay.py``. Progress goes to stderr; the last
line of stdout is one JSON object with the figures. The CPU is the whole process's (the
camera thread and libx264's threads), the camera running as fast as it can over the file
(not looping), the median of three runs; the file is the simulated camera's picture.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.overlay import Overlay  # noqa: E402
from hw.camera.replay import ReplayCamera  # noqa: E402
from hw.camera.sim import SimulatedCamera  # noqa: E402
from tests.camera_fixtures import Collector, write_mp4  # noqa: E402

FPS = 30
#: (width, height, bit rate): a small test file and the Pi's default 1080p at 8 Mbit/s.
SIZES = ((640, 480, 2_000_000), (1920, 1080, 8_000_000))


def say(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def make_source(path: Path, width: int, height: int, bitrate: int, frames: int) -> Path:
    """``frames`` frames of the simulated camera, a keyframe a second, muxed to an MP4."""
    camera = SimulatedCamera(width=width, height=height, fps=FPS, bitrate=bitrate, realtime=False)
    collector = Collector(keep=frames)
    camera.start(collector.on_packet, collector.on_error)
    try:
        collector.wait_for_count(frames, 300.0)
    finally:
        camera.stop()
    return write_mp4(path, collector.packets[:frames], width, height, FPS)


def cpu_per_frame_ms(source: Path, overlay: Overlay | None) -> tuple[float, float]:
    """(process CPU, wall time) per frame in ms over one pass of the file."""
    camera = ReplayCamera(source, realtime=False, loop=False, overlay=overlay)
    frames = 0
    done = threading.Event()

    def on_packet(_packet) -> None:
        nonlocal frames
        frames += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    camera.start(on_packet, lambda exc: done.set())
    camera.ended.wait(600)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    camera.stop()
    if done.is_set() or not frames:
        raise SystemExit("the replay camera failed")
    return cpu / frames * 1000, wall / frames * 1000


def main() -> None:
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for width, height, bitrate in SIZES:
            size = f"{width}x{height}"
            say(f"making a {size} source ...")
            source = make_source(Path(tmp) / f"{size}.mp4", width, height, bitrate, 10 * FPS)
            for mode in ("copy", "overlay"):
                say(f"replaying {size} ({mode}) ...")
                runs = [
                    cpu_per_frame_ms(source, Overlay(width, height) if mode == "overlay" else None)
                    for _ in range(3)
                ]
                cpu = statistics.median(run[0] for run in runs)
                wall = statistics.median(run[1] for run in runs)
                results[f"replay_{mode}_cpu_ms_per_frame_{size}"] = round(cpu, 3)
                results[f"replay_{mode}_wall_ms_per_frame_{size}"] = round(wall, 3)
            results[f"replay_overlay_cpu_ratio_vs_copy_{size}"] = round(
                results[f"replay_overlay_cpu_ms_per_frame_{size}"]
                / results[f"replay_copy_cpu_ms_per_frame_{size}"],
                1,
            )
    results["frame_budget_ms"] = round(1000 / FPS, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
