"""Parking through the real ``dashcam run --sim --console`` child: the ``i`` key drives the
ignition's mock pin, ``v`` lowers the simulated INA219 that the real driver reads.

Ignition off -> parked -> on -> recording again with a new segment; battery under the
cut-off while parked -> the safe shutdown (the open segment closed, the child exits 0, its
power-off ran: in simulation the log line that stands for it).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.console_child import ConsoleChild
from tests.harness import wait_until

CONFIG = (
    "min_free_bytes = 0\nmin_free_percent = 0.0\nsegment_seconds = 60.0\n"
    "video_width = 320\nvideo_height = 240\nvideo_bitrate = 400000\n"
    "parking = true\nignition_pin = 5\nignition_off_delay_s = 0.5\n"
    "parking_motion = false\n"  # the simulated picture moves: a still watch, nothing written
    'battery_monitor = "ina219"\nbattery_cutoff_v = 11.8\n'
)
#: The state as the console's status line starts (the label, or the state's value).
PARKED = r"^(?i:parked)\b"
RECORDING = r"^REC "


def loop_files(card: Path) -> set[str]:
    folder = card / "DCIM" / "LOOP"  # a folder per day
    return {p.name.split(".")[0] for p in folder.rglob("*.mp4*")} if folder.exists() else set()


def partials(card: Path) -> list[Path]:
    return sorted(card.rglob("*.partial")) if card.exists() else []


def test_the_ignition_key_parks_and_brings_back_recording_through_the_pin(tmp_path):
    child = ConsoleChild(tmp_path, CONFIG)
    try:
        child.wait_for(r"^keys: .*\bi ignition\b.*\bv battery\b")
        assert wait_until(lambda: partials(child.card), 30), "never recorded"
        child.status_until(RECORDING)
        child.key("i")
        child.wait_for(r"^ignition off$")
        parked = child.status_until(PARKED, 10)
        assert "battery 12.6 V" in parked, parked  # the simulated INA219, through the driver
        assert "ignition off for 0.5 s: parked" in child.log
        child.key("i")
        child.wait_for(r"^ignition on$")
        child.status_until(RECORDING, 10)
        assert "ignition on: leaving parking" in child.log
        child.key("q")
        assert child.end() == 0, child.log[-2000:]
    finally:
        if child.proc.poll() is None:
            child.end(check=False)
    assert not partials(child.card)


def test_parking_writes_nothing_and_leaving_starts_a_new_segment(tmp_path):
    child = ConsoleChild(tmp_path, CONFIG)
    try:
        assert wait_until(lambda: partials(child.card), 30), "never recorded"
        child.status_until(RECORDING)
        child.key("i")
        child.status_until(PARKED, 10)
        assert wait_until(lambda: not partials(child.card), 10), "a segment open while parked"
        before = loop_files(child.card)
        child.key("i")
        child.status_until(RECORDING, 10)
        assert wait_until(lambda: partials(child.card), 10), "no new segment after parking"
        assert loop_files(child.card) - before, "the loop did not start a new segment"
        child.key("q")
        assert child.end() == 0, child.log[-2000:]
    finally:
        if child.proc.poll() is None:
            child.end(check=False)


def test_a_battery_under_the_cut_off_while_parked_shuts_down_safely(tmp_path):
    child = ConsoleChild(tmp_path, CONFIG)
    try:
        assert wait_until(lambda: partials(child.card), 30), "never recorded"
        child.key("i")
        child.status_until(PARKED, 10)
        child.key("v")
        child.wait_for(r"^battery 12\.1 V$")
        assert not wait_until(lambda: child.proc.poll() is not None, 2.0), "over the cut-off"
        child.key("v")  # 11.6 V: three readings in a row under 11.8 V end parking
        child.wait_for(r"^battery 11\.6 V$")
        assert wait_until(lambda: child.proc.poll() is not None, 20), child.log[-2000:]
        assert child.end() == 0, child.log[-2000:]
    finally:
        if child.proc.poll() is None:
            child.end(check=False)
    log = child.log
    reason = "battery 11.6 V below 11.8 V: parking ends with a safe shutdown"
    assert reason in log
    assert re.search(r"parked(_event)? --parking_limit--> shutting_down", log)
    assert "simulation: the Pi would power off now" in log  # the power-off ran, last
    assert log.index(reason) < log.index("would power off")
    assert not partials(child.card), "the open segment was not closed"
    assert "stopped (off)" in log


def test_the_ups_power_loss_line_parks_instead_of_shutting_down(tmp_path):
    config = CONFIG.replace("ignition_pin = 5\n", "") + (
        'parking_trigger = "power_loss"\npower_loss_pin = 26\npower_loss_grace_s = 0.2\n'
    )
    child = ConsoleChild(tmp_path, config)
    try:
        child.wait_for(r"^keys: .*\bi ignition\b")
        assert wait_until(lambda: partials(child.card), 30), "never recorded"
        child.key("i")  # the UPS's line: external power lost
        child.wait_for(r"^ignition off$")
        child.status_until(PARKED, 10)  # parked, not shut down after the 0.2 s grace time
        assert "external power lost; parking in 0.5 s" in child.log
        assert child.proc.poll() is None
        child.key("i")  # power back
        child.status_until(RECORDING, 10)
        assert "external power back: leaving parking" in child.log
        child.key("q")
        assert child.end() == 0, child.log[-2000:]
    finally:
        if child.proc.poll() is None:
            child.end(check=False)
    assert "power_lost" not in child.log
