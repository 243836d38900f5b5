"""``dashcam run --sim --console`` as a real child process: keys on standard input press
the same mock pins the buttons read, and ``q`` stops the appliance with the segment
closed."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

from tests.console_child import ConsoleChild
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


HOLD_CONFIG = CONFIG + "hold_time_s = 2.0\n"


def test_s_prints_one_readable_status_line_and_the_help_lists_every_key(tmp_path):
    child = ConsoleChild(tmp_path, CONFIG)
    try:
        child.wait_for(r"^\[RECORDING\] LED solid  segment")
        child.key("s")
        line = child.wait_for(r"^REC ")
        assert re.fullmatch(
            r"REC \d\d:\d\d:\d\d · clip \d+:\d\d · card [\d.]+ [kMG]B free "
            r"\(loop [\d.]+ [kMG]B, protected [\d.]+ [kMG]B, 0 photos\) · LED solid",
            line,
        ), line
        assert "{" not in line and "GPS" not in line  # no raw dict; no GPS configured
        child.key("?")
        for key in ("r", "h", "p", "x", "b", "s", "?", "q"):
            child.wait_for(rf"^  {re.escape(key)}  \S")
        child.key("q")
    finally:
        child.end()


def test_h_counts_the_hold_down_and_shuts_down_safely(tmp_path):
    child = ConsoleChild(tmp_path, HOLD_CONFIG)
    try:
        child.wait_for(r"^\[RECORDING\] LED solid  segment")
        child.key("h")
        child.wait_for(r"^hold 2… \(any key releases\)$")
        child.wait_for(r"^hold 1…$")
        child.wait_for(r"^held \d\.\d s: shutting down")
        child.wait_for(r"^\[OFF\] LED off")
    finally:
        child.end()  # the hold ended the appliance by itself
    order = [child.seen(p)[0] for p in ("^hold 2", "^hold 1", "^held")]
    assert [child.lines.index(line) for line in order] == sorted(
        child.lines.index(line) for line in order
    )
    assert not files(child.card, "*.partial")
    assert len(files(child.card / "DCIM" / "LOOP", "*.mp4")) == 1


def test_a_key_during_the_hold_releases_it_and_cancels_the_shutdown(tmp_path):
    child = ConsoleChild(tmp_path, HOLD_CONFIG)
    try:
        child.wait_for(r"^\[RECORDING\] LED solid  segment")
        child.key("h")
        child.wait_for(r"^hold 2…")
        child.key("")  # Enter
        child.wait_for(r"^released after \d\.\d s: shutdown cancelled")
        # Released early the button was a short press: recording stopped, nothing shut down.
        child.wait_for(r"^\[IDLE\] LED heartbeat")
        child.key("s")
        child.wait_for(r"^IDLE \d\d:\d\d:\d\d · card ")
        assert not child.seen("^held") and not child.seen("SHUTTING_DOWN")
        assert len(child.seen(r"^\[IDLE\]")) == 1  # one line per change, not per refresh
        child.key("q")
    finally:
        child.end()


def test_on_a_terminal_log_lines_are_not_appended_to_the_led_line(tmp_path):
    """The console redraws the LED in place on a terminal; a log line written meanwhile
    starts on a cleared line, not after the LED's text."""
    import os
    import pty
    import select

    config = tmp_path / "dashcam.toml"
    config.write_text(CONFIG)
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim", "--no-web"]
        + ["--config", str(config), "--storage", str(tmp_path / "card")],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
    )
    os.close(follower)
    out = bytearray()

    def read_until(marker: bytes) -> bool:
        def more() -> bool:
            if select.select([leader], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):  # the child closed the terminal
                    out.extend(os.read(leader, 65536))
            return marker in out

        return wait_until(more, 30)

    try:
        assert read_until("LED ●".encode()), bytes(out[-500:])  # the console draws the LED
        os.write(leader, b"x")  # protect: logged while the LED is drawn
        assert read_until(b"protected"), bytes(out[-500:])
        os.write(leader, b"h")  # the countdown's lines are whole on screen between redraws
        assert read_until("hold 2…".encode()), bytes(out[-500:])
        os.write(leader, b" ")
        assert read_until(b"shutdown cancelled"), bytes(out[-500:])
        os.write(leader, b"q")
        assert read_until(b"stopped (off)"), bytes(out[-500:])
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(leader)
    text = out.decode(errors="replace")
    shown = [line.rstrip("\r").split("\r")[-1].replace("\x1b[K", "") for line in text.split("\n")]
    assert "hold 3… (any key releases)" in shown and "hold 2…" in shown
    assert [line for line in shown if line.startswith("released after")]
    stamps = list(re.finditer(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ", text))
    assert len(stamps) > 5
    for stamp in stamps:
        line_start = max(text.rfind("\n", 0, stamp.start()), text.rfind("\r", 0, stamp.start()))
        assert text[line_start + 1 : stamp.start()] in ("", "\x1b[K"), text[
            line_start - 60 : stamp.end()
        ]
