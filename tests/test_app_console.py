"""``dashcam run --sim --console`` as a real child process: keys on standard input press
the same mock pins the buttons read, and ``q`` stops the appliance with the segment
closed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness import wait_until

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (
    "min_free_bytes = 0\nmin_free_percent = 0.0\nsegment_seconds = 60.0\n"
    "video_width = 320\nvideo_height = 240\nvideo_bitrate = 400000\n"
)


def files(root: Path, pattern: str) -> list[Path]:
    return sorted(root.rglob(pattern)) if root.exists() else []


def test_console_keys_take_a_photo_and_q_stops_with_the_segment_closed(tmp_path):
    config = tmp_path / "dashcam.toml"
    config.write_text(CONFIG)
    card = tmp_path / "card"
    child = subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim", "--no-web", "--console"]
        + ["--config", str(config), "--storage", str(card)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert wait_until(lambda: files(card, "*.partial"), 30), "never recorded"
        # The console starts after the pins are claimed; a key before that is still read.
        child.stdin.write(b"p\n")
        child.stdin.flush()
        assert wait_until(lambda: files(card / "DCIM" / "PHOTO", "*.jpg"), 15), "no photo"
        child.stdin.write(b"q\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err.decode()
    assert b"keys: r record" in out  # the console's help line
    assert b"[RECORDING] LED solid" in out  # the state as the LED shows it
    assert not files(card, "*.partial")
    assert [p.suffix for p in files(card / "DCIM" / "LOOP", "*.mp4")] == [".mp4"]
