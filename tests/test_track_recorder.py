"""A GPS track per clip (appliance/track_recorder.py) on a recording appliance: real recorder,
library, files; the GPS receiver fed by the test (the hardware boundary). The same against
a real gpsd is in tests/test_gps.py."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import re
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from appliance.errors import NotFound
from appliance.gps_track import Fix, gpx_points
from appliance.incident import IncidentKind
from appliance.items import Kind
from appliance.library import Library
from appliance.ports import FileSystem
from appliance.share import share_path
from appliance.states import Event, State
from appliance.track_recorder import SpeedWatch
from appliance.worker import Worker
from tests.harness import Appliance, wait_until
from tests.track_fixtures import moving, wire_gps

GPX = "{http://www.topografix.com/GPX/1/1}"
NO_FIX = Fix(mode=1)


def feed(source, fixes, interval_s: float, clock) -> list[tuple[float, Fix]]:
    """Feed ``fixes`` at the receiver's rate; returns (monotonic time, fix) of each."""
    pace = threading.Event()  # the receiver's rate, not a wait for the code under test
    fed = []
    for fix in fixes:
        fed.append((clock.monotonic(), fix))
        source.feed(fix)
        pace.wait(interval_s)
    return fed


def next_segment(appliance) -> int:
    """Wait until a new segment opens; returns its seq."""
    ctl = appliance.controller
    now = ctl.status.segment_seq
    assert wait_until(lambda: ctl.status.segment_seq not in (None, now), 10)
    return ctl.status.segment_seq


def stop(appliance, tracks) -> None:
    appliance.controller.post(Event.STOP_RECORDING)
    assert appliance.controller.wait_for_state(State.IDLE)
    tracks.close()


def track_files(library, seq) -> tuple[str, str]:
    """The GPX and SRT beside clip ``seq`` (where they are, or would be)."""
    try:
        return library.track_paths(library.get(seq))
    except NotFound:  # deleted: where it was, in any of the clip folders
        found = glob.glob(os.path.join(library.card.dcim_dir, "**", f"{seq:08d}_*.mp4"))
        stem = os.path.splitext(found[0])[0] if found else os.path.join("/nonexistent", "x")
        return stem + ".gpx", stem + ".srt"


def sidecars(library) -> list[str]:
    """Every GPX and SRT on the card (beside the clips)."""
    return sorted(
        glob.glob(os.path.join(library.card.dcim_dir, "**", "*.gpx"), recursive=True)
        + glob.glob(os.path.join(library.card.dcim_dir, "**", "*.srt"), recursive=True)
    )


def tracked(library) -> list[int]:
    """The clips whose track (a GPX and an SRT) lies beside them, oldest first."""
    names = {os.path.basename(p) for p in sidecars(library)}
    return sorted(int(n[:8]) for n in names if n.endswith(".gpx") and n[:-4] + ".srt" in names)


def journals(library) -> list[str]:
    """The track journals left in DCIM/TRACK."""
    return sorted(n for n in os.listdir(library.card.track_dir) if n.endswith(".part"))


def read_points(library, seq):
    with open(track_files(library, seq)[0], "rb") as f:
        return gpx_points(f.read())


def test_each_clip_gets_the_fixes_of_its_own_seconds_timed_from_its_start(tmp_path) -> None:
    with Appliance(tmp_path / "card", segment_seconds=2.0) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        lons = iter(13.4 + n * 1e-4 for n in range(1000))
        first = next_segment(a)
        # Within the first clip: 5 fixes, 5 reports without (a short tunnel), 5 fixes ...
        script = [moving(next(lons)) for _ in range(5)] + [NO_FIX] * 5
        script += [moving(next(lons)) for _ in range(5)]
        # ... then a tunnel longer than two clips, and 5 fixes again out of it.
        script += [NO_FIX] * 85 + [moving(next(lons), speed_mps=0.0) for _ in range(5)]
        fed = feed(source, script, 0.05, a.controller.clock)
        stop(a, tracks)
        clips = [s for s in a.segments if s.seq >= first]
    lib = a.library
    with_track = [c for c in clips if c.seq in tracked(lib)]
    without = [c for c in clips if c not in with_track]
    assert [c.seq for c in with_track] == tracked(lib)
    assert journals(lib) == []  # each clip closed normally: its journal is gone
    # A clip entirely in the tunnel has no files at all.
    assert without and all(not os.path.exists(p) for c in without for p in track_files(lib, c.seq))
    # The first clip: the tunnel splits its track into two GPX segments of 5 points.
    root = ET.parse(track_files(lib, first)[0]).getroot()
    assert [len(s) for s in root.iter(f"{GPX}trkseg")] == [5, 5]
    # Every fix fed is in exactly one clip's GPX, in order.
    points = [(c, p) for c in with_track for p in read_points(lib, c.seq)]
    fixes = [(at, f) for at, f in fed if f.has_fix]
    assert [p["lon"] for _, p in points] == pytest.approx([f.lon_deg for _, f in fixes], abs=1e-7)
    # Times from each clip's start: a clip starts where the previous ended (the clips are
    # contiguous), so a point's time since the first clip's start is the earlier clips'
    # durations plus its own time; it matches when the fix was fed.
    start_of = {}
    offset = 0.0
    for clip in clips:
        start_of[clip.seq] = offset
        offset += clip.duration_s
    base = start_of[points[0][0].seq] + points[0][1]["t_s"]
    for (clip, point), (at, _) in zip(points, fixes, strict=True):
        assert 0.0 <= point["t_s"] <= clip.duration_s + 0.2
        since_first = start_of[clip.seq] + point["t_s"] - base
        assert since_first == pytest.approx(at - fixes[0][0], abs=0.3), (clip, point)
    # The SRT: a cue per point, at the point's time, with its speed.
    for clip in with_track:
        with open(track_files(lib, clip.seq)[1], encoding="utf-8") as f:
            cues = [c.splitlines() for c in f.read().strip().split("\n\n")]
        own = read_points(lib, clip.seq)
        assert len(cues) == len(own)
        for cue, point in zip(cues, own, strict=True):
            start = cue[1].split(" --> ")[0]
            h, m, s = start.replace(",", ".").split(":")
            assert int(h) * 3600 + int(m) * 60 + float(s) == pytest.approx(point["t_s"], abs=2e-3)
            assert cue[2].startswith("50 km/h" if point["speed_mps"] else "0 km/h")


def test_the_track_goes_with_its_clip_protected_deleted_or_pruned(tmp_path) -> None:
    with Appliance(tmp_path / "card", segment_seconds=1.0) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        next_segment(a)
        lons = [13.4 + n * 1e-4 for n in range(40)]
        feed(source, [moving(lon) for lon in lons], 0.1, a.controller.clock)
        stop(a, tracks)
    lib = a.library
    seqs = tracked(lib)
    assert len(seqs) >= 3
    kept, by_dav, *others = seqs
    # Protected: the clip moves to PROTECTED, its track stays where it is (as its thumbnail).
    assert lib.protect(kept).kind is Kind.PROTECTED
    assert all(os.path.exists(p) for p in track_files(lib, kept))
    assert read_points(lib, kept)
    assert lib.unprotect(kept).kind is Kind.LOOP
    assert all(os.path.exists(p) for p in track_files(lib, kept))
    # Deleted (as the dashboard and WebDAV delete): the track goes with it.
    lib.delete(kept)
    assert not any(os.path.exists(p) for p in track_files(lib, kept))
    # Deleted through the network drive (WebDAV DELETE, deleting allowed): the same.
    with dav_drive(lib) as url:
        path = urllib.parse.quote(share_path(lib.get(by_dav)))
        request = urllib.request.Request(f"{url}/dav/{path}", method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status in (200, 204)
    assert not any(os.path.exists(p) for p in track_files(lib, by_dav))
    # Pruned: every loop clip over a quota of nothing goes, with its track.
    lib.loop_quota_bytes = 0
    pruned = lib.prune().deleted
    assert set(others) <= set(pruned)
    assert os.listdir(lib.card.track_dir) == []
    assert sidecars(lib) == []


@contextlib.contextmanager
def dav_drive(library):
    """The network drive (``web/dav.py``) on Waitress, deleting allowed, as the App mounts it."""
    from web.dav import MOUNT_PATH, create_dav_app
    from web.server import close_server, make_server, mount

    dav = create_dav_app(library, lambda: None, library.delete)
    server = make_server(mount(None, MOUNT_PATH, lambda: dav), host="127.0.0.1", port=0, threads=2)
    worker = Worker(server.run, "dav-test").start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        close_server(server, running=worker.alive)
        worker.stop()


def test_no_gps_or_no_fix_writes_nothing(tmp_path) -> None:
    with Appliance(tmp_path / "card", segment_seconds=1.0) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        a.wait_segments(1)  # recorded without GPS
        assert a.controller.status.gps is None
        source, tracks = wire_gps(a)
        first = next_segment(a)
        feed(source, [NO_FIX] * 25, 0.1, a.controller.clock)  # a receiver without a fix
        stop(a, tracks)
        assert a.controller.status.gps["fix"] is False
    assert [s for s in a.segments if s.seq >= first]
    assert tracked(a.library) == []
    assert os.listdir(a.library.card.track_dir) == []  # no journal either


class FailingTrackWrites(FileSystem):
    """A card that fails every rename of a track into place (the track's atomic write)."""

    def rename(self, src: str, dst: str) -> None:
        if dst.endswith((".gpx", ".srt")):
            raise OSError(errno.EIO, "Input/output error", dst)
        super().rename(src, dst)


def test_a_track_that_cannot_be_written_never_stops_the_recording(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="appliance.track_recorder")
    with Appliance(tmp_path / "card", segment_seconds=1.0, fs=FailingTrackWrites()) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        first = next_segment(a)
        feed(source, [moving(13.4 + n * 1e-4) for n in range(25)], 0.1, a.controller.clock)
        assert a.wait_segments(len(a.segments) + 1)
        assert a.controller.state is State.RECORDING
        stop(a, tracks)
    assert len([s for s in a.segments if s.seq >= first]) >= 2
    assert tracked(a.library) == []
    # Each clip's journal stays, for the next start to write its track.
    left = {n for n in os.listdir(a.library.card.track_dir) if not n.endswith(".tmp")}
    assert left and left == set(journals(a.library))
    assert any("not written" in m and "Input/output error" in m for m in caplog.messages)
    # The next start, on a card that works again, writes them.
    with Appliance(tmp_path / "card", segment_seconds=1.0) as again:
        _, tracks = wire_gps(again)
        try:
            assert wait_until(lambda: journals(again.library) == [], 10)
        finally:
            tracks.close()
    assert tracked(again.library) == sorted(int(n[:-5]) for n in left)


def test_the_status_carries_gps_and_is_refreshed_when_the_speed_shown_changes(tmp_path) -> None:
    with Appliance(tmp_path / "card") as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        try:
            version = a.controller.status.version
            source.feed(moving(13.4, speed_mps=15.0))
            status = a.controller.wait_for_change(version, 5)
            assert status.gps == {
                "fix": True,
                "mode": 3,
                "speed_mps": 15.0,
                "speed_text": "54 km/h",
                "lat": 52.5,
                "lon": 13.4,
            }
            assert status.to_dict()["gps"]["speed_text"] == "54 km/h"
        finally:
            tracks.close()


class StepClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def test_speed_changes_refresh_the_status_at_most_once_a_second() -> None:
    refreshed: list[float] = []
    clock = StepClock()
    watch = SpeedWatch(lambda: refreshed.append(clock.now), clock)
    watch.on_fix(moving(13.4, speed_mps=10.0))  # 36 km/h: the first report shows
    watch.on_fix(moving(13.4, speed_mps=10.05))  # still 36 km/h: nothing new to show
    clock.now += 0.3
    watch.on_fix(moving(13.4, speed_mps=12.0))  # 43 km/h, but within the second
    clock.now += 0.8
    watch.on_fix(moving(13.4, speed_mps=12.0))  # shown now
    clock.now += 1.0
    watch.on_fix(NO_FIX)  # the fix is lost: shown
    clock.now += 1.0
    watch.on_fix(NO_FIX)
    assert refreshed == [100.0, 101.1, 102.1]


def test_an_incident_carries_the_position_of_its_moment(tmp_path) -> None:
    with Appliance(tmp_path / "card") as a:
        assert a.controller.wait_for_state(State.RECORDING)
        a.wait_segments(1)
        source, tracks = wire_gps(a)
        try:
            a.controller.post(Event.PROTECT_PRESSED)  # no report yet: no position
            assert wait_until(lambda: len(a.library.incidents()) == 1)
            source.feed(moving(13.41, lat_deg=-33.85))
            a.controller.post(Event.IMPACT)
            assert wait_until(lambda: len(a.library.incidents()) == 2)
            source.feed(Fix(mode=3, lat_deg=float("nan"), lon_deg=200.0))  # garbled: no fix
            a.controller.post(Event.PROTECT_PRESSED)
            assert wait_until(lambda: len(a.library.incidents()) == 3)
        finally:
            tracks.close()
    garbled, impact, manual = a.library.incidents()
    assert (manual.lat_deg, manual.lon_deg) == (None, None)
    assert impact.kind is IncidentKind.IMPACT
    assert (impact.lat_deg, impact.lon_deg) == (-33.85, 13.41)
    assert impact.to_dict()["lat"] == -33.85 and impact.to_dict()["lon"] == 13.41
    assert garbled.to_dict()["lat"] is None
    # The record on the card keeps them across a restart.
    again = Library(tmp_path / "card", min_free_bytes=0, min_free_percent=0.0)
    again.scan()
    assert [(i.lat_deg, i.lon_deg) for i in again.incidents()] == [
        (None, None),
        (-33.85, 13.41),
        (None, None),
    ]


def test_records_written_before_positions_existed_still_load(tmp_path) -> None:
    root = tmp_path / "card"
    (root / "DCIM").mkdir(parents=True)
    rows = [
        {"id": 1, "kind": "manual", "wall_s": 1.7e9, "clips": [3, 4], "peak_g": None},
        {"id": 2, "kind": "impact", "wall_s": 1.7e9 + 60, "clips": [7], "peak_g": 2.5},
        {"id": 3, "kind": "manual", "wall_s": 1.7e9 + 90, "clips": [9], "lat": 91.0, "lon": 1.0},
        {"id": 4, "kind": "manual", "wall_s": 1.7e9 + 99, "clips": [9], "lat": 1.0},
        {"id": 5, "kind": "manual", "wall_s": 1.7e9 + 99, "clips": [9], "lat": True, "lon": 1},
    ]
    (root / "DCIM" / "INCIDENTS").write_text(
        json.dumps({"incidents": rows}).replace('"lat": 1.0}', '"lat": NaN}')
    )
    lib = Library(root, min_free_bytes=0, min_free_percent=0.0)
    lib.scan()
    # Every record loads: the old ones without a position, and those whose position is
    # impossible (out of range, half of it, not a number) without it too.
    loaded = {i.id: i for i in lib.incidents()}
    assert sorted(loaded) == [1, 2, 3, 4, 5]
    assert loaded[2].peak_g == 2.5
    assert all(i.lat_deg is None and i.lon_deg is None for i in loaded.values())
    assert all(i.to_dict()["lat"] is None for i in loaded.values())


def test_a_gps_time_jump_does_not_move_the_points_in_the_clip(tmp_path) -> None:
    """Points are timed by when they arrived (the recorder's clock), not by GPS time."""
    with Appliance(tmp_path / "card", segment_seconds=3.0) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        first = next_segment(a)
        now = time.time()
        script = [
            Fix(mode=3, time_s=now + n + (3600 if n >= 5 else 0), lat_deg=52.5, lon_deg=13.4)
            for n in range(10)
        ]
        feed(source, script, 0.1, a.controller.clock)
        stop(a, tracks)
    points = read_points(a.library, first)
    steps = [b["t_s"] - a_["t_s"] for a_, b in zip(points, points[1:], strict=False)]
    assert len(points) == 10 and all(0.0 < s < 0.5 for s in steps)


def test_the_wiring_diagram_shows_the_sensors_pins() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "hw" / "deploy" / "wiring.svg").read_text()
    labels = set(re.findall(r">pin (\d+): ([^<]+)<", text))
    for pin, name in [("1", "3.3 V"), ("3", "BCM 2 (SDA)"), ("5", "BCM 3 (SCL)"), ("6", "GND")]:
        assert (pin, name) in labels  # the G-sensor board on I2C
    for pin, name in [("4", "5 V"), ("8", "BCM 14 (TXD)"), ("10", "BCM 15 (RXD)")]:
        assert (pin, name) in labels  # the GPS module on the UART
    assert "G-sensor board" in text and "GPS module (UART)" in text


def test_what_track_holds_for_no_clip_is_deleted_at_start(tmp_path) -> None:
    with Appliance(tmp_path / "card", segment_seconds=1.0) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        next_segment(a)
        feed(source, [moving(13.4 + n * 1e-4) for n in range(15)], 0.1, a.controller.clock)
        stop(a, tracks)
    kept = tracked(a.library)[0]
    folder = a.library.card.track_dir
    left = ["99999999.gpx", "99999999.srt", f"{kept:08d}.srt.tmp", "notes.txt"]
    for name in left:  # a clip deleted on a PC, a write cut short, someone's file
        with open(os.path.join(folder, name), "w") as f:
            f.write("x")
    with Appliance(tmp_path / "card", segment_seconds=1.0) as again:
        _, tracks = wire_gps(again)
        try:
            assert wait_until(lambda: "99999999.gpx" not in os.listdir(folder))
        finally:
            tracks.close()
    names = set(os.listdir(folder))
    assert "notes.txt" in names
    assert not names & {"99999999.gpx", "99999999.srt", f"{kept:08d}.srt.tmp"}
    assert all(os.path.exists(p) for p in track_files(again.library, kept))


class SlowTrackWrites(FileSystem):
    """A card that takes a second for each rename of a track into place (and only there)."""

    def rename(self, src: str, dst: str) -> None:
        if dst.endswith((".gpx", ".srt")):
            threading.Event().wait(1.0)  # the card's slowness, at the hardware boundary
        super().rename(src, dst)


class SlowJournalSyncs(FileSystem):
    """A card that takes a second for each sync of a track journal (and only there)."""

    def sync(self, fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
            threading.Event().wait(1.0)  # the card's slowness, at the hardware boundary
        super().sync(fd)


@pytest.mark.parametrize("slow", [SlowTrackWrites, SlowJournalSyncs])
def test_a_slow_track_write_never_delays_a_rollover(tmp_path, slow) -> None:
    """Each clip's track takes two seconds to write (or its journal a second to sync): the
    recorder's queue never backs up (written on the recorder's thread it would hold 60
    frames), no frame is lost or doubled across the rollovers."""
    with Appliance(tmp_path / "card", segment_seconds=1.0, fs=slow()) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        first = next_segment(a)
        queued = []
        source.subscribe(lambda _fix: queued.append(a.controller.recorder.queued))
        feed(source, [moving(13.4 + n * 1e-4) for n in range(40)], 0.1, a.controller.clock)
        a.controller.post(Event.STOP_RECORDING)
        assert a.controller.wait_for_state(State.IDLE)
        tracks.close(wait_s=20)
    assert not tracks._worker.alive
    clips = [s for s in a.segments if s.seq >= first]
    # every clip's track is written in the end (a last clip begun after the last report
    # has none)
    seqs = [c.seq for c in clips]
    assert len(clips) >= 3 and tracked(a.library) in (seqs, seqs[:-1])
    assert journals(a.library) == []
    assert max(queued) < a.config.video_fps  # less than a second of frames waiting
    for before, after in zip(clips, clips[1:], strict=False):
        assert after.first_frame_index == before.first_frame_index + before.frames
    assert a.controller.recorder.frames_dropped == 0
