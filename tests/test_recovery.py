"""Clips on the card at start: a partial a crash left is recovered with its thumbnail and
duration; closed clips found at start get their duration (and a missing thumbnail) on the
jobs thread once recording has begun, never before the first segment opens."""

import io
import logging
from pathlib import Path

import pytest
from PIL import Image

from appliance.media.segment import SegmentWriter
from appliance.states import Event, State
from tests.harness import Appliance, camera_packets, wait_until

DAY = "2024-05-01"
STAMP = "20240501-120000"


def _white_jpeg():
    out = io.BytesIO()
    Image.new("RGB", (320, 240), "white").save(out, "JPEG")
    return out.getvalue()


WHITE_JPEG = _white_jpeg()


@pytest.fixture(scope="module")
def packets():
    return camera_packets(3.0)


def write_clip(path, info, packets, close=True):
    writer = SegmentWriter(str(path), info, packets[0])
    for packet in packets[1:]:
        writer.write(packet)
    if close:
        writer.close()
    return writer


def is_thumbnail(path):
    with Image.open(io.BytesIO(Path(path).read_bytes())) as img:
        assert img.format == "JPEG" and img.width == 320
        lo, hi = img.convert("L").getextrema()
        return hi - lo > 50  # a picture, not a flat black tile


def test_a_crashed_partial_is_recovered_with_its_thumbnail_and_duration(tmp_path, packets):
    info, pkts = packets
    loop = tmp_path / "card" / "DCIM" / "LOOP" / DAY
    loop.mkdir(parents=True)
    whole = tmp_path / "whole.mp4"
    write_clip(whole, info, pkts)
    data = whole.read_bytes()
    partial = loop / f"{7:08d}_{STAMP}.mp4.partial"
    partial.write_bytes(data[: len(data) * 3 // 4])  # torn inside the last fragment
    with Appliance(tmp_path / "card") as app:
        lib = app.library
        assert wait_until(lambda: 7 in {i.seq for i in lib.page(limit=100)}, 15)
        assert wait_until(lambda: lib.get(7).thumb is not None, 10)
        item = lib.get(7)
        assert is_thumbnail(item.thumb)
        assert item.duration_s == pytest.approx(2.0, abs=1 / 30)  # two whole fragments
        app.controller.post(Event.STOP_RECORDING)
        assert app.controller.wait_for_state(State.IDLE)


@pytest.mark.parametrize("autostart", [True, False], ids=["recording", "idle"])
def test_clips_found_at_start_get_their_duration_after_recording_starts(
    tmp_path, packets, caplog, autostart
):
    info, pkts = packets
    loop = tmp_path / "card" / "DCIM" / "LOOP" / DAY
    loop.mkdir(parents=True)
    thumbs = tmp_path / "card" / "DCIM" / "THUMB"
    thumbs.mkdir(parents=True)
    lengths = {3: 30, 4: 60, 5: 90}  # frames
    for seq, frames in lengths.items():
        write_clip(loop / f"{seq:08d}_{STAMP}.mp4", info, pkts[:frames])
    (thumbs / f"{4:08d}.jpg").write_bytes(WHITE_JPEG)  # one already has its thumbnail
    with (
        caplog.at_level(logging.INFO, logger="appliance"),
        Appliance(tmp_path / "card", autostart=autostart) as app,
    ):
        lib = app.library

        def probed():
            return all(lib.get(seq).duration_s is not None for seq in lengths)

        assert wait_until(probed, 15)
        for seq, frames in lengths.items():
            assert lib.get(seq).duration_s == pytest.approx(frames / 30, abs=1e-3)
        assert wait_until(lambda: all(lib.get(s).thumb for s in lengths), 10)
        assert is_thumbnail(lib.get(3).thumb) and is_thumbnail(lib.get(5).thumb)
        assert Path(lib.get(4).thumb).read_bytes() == WHITE_JPEG  # kept, not redone
        # The web sees it too: the snapshot after the probe counts the same clips.
        assert app.controller.status.counts["loop"] >= 3
    messages = [r.getMessage() for r in caplog.records]
    probe_at = next(i for i, m in enumerate(messages) if m.startswith("probing"))
    if autostart:
        opened_at = next(i for i, m in enumerate(messages) if "opened at frame" in m)
        assert opened_at < probe_at, "the probe ran before the first segment opened"


def test_a_clip_that_cannot_be_probed_keeps_no_duration_and_the_appliance_records(tmp_path, caplog):
    loop = tmp_path / "card" / "DCIM" / "LOOP" / DAY
    loop.mkdir(parents=True)
    bad = loop / f"{3:08d}_{STAMP}.mp4"
    bad.write_bytes(b"not a video at all")
    with (
        caplog.at_level(logging.WARNING, logger="appliance"),
        Appliance(tmp_path / "card") as app,
    ):
        lib = app.library

        def tried():
            text = " ".join(r.getMessage() for r in caplog.records)
            return f"probing {bad} failed" in text and "thumbnail of 00000003" in text

        assert wait_until(tried, 15)
        assert lib.get(3).duration_s is None and lib.get(3).thumb is None
        app.wait_segments(2)
        assert app.controller.state is State.RECORDING
