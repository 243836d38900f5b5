"""The GPX and SRT beside a clip, read as mapping tools and players read them: xmllint
validates every GPX against the GPX 1.1 schema (tests/data/gpx-1.1.xsd), gpxpy reads its
points, sea-level elevation, times, speed and course, and the SRT's last cue ends with the
video."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import gpxpy
import pytest

from appliance.exif import utc_offset_text
from appliance.gps_track import TPX_NS, Fix, Track, gpx_points
from appliance.items import stamp_wall_s
from appliance.states import Event, State
from tests.evidence_tools import XMLLINT, ffprobe, needs_ffprobe, needs_xmllint
from tests.harness import Appliance
from tests.track_fixtures import wire_gps

SCHEMA = Path(__file__).resolve().parent / "data" / "gpx-1.1.xsd"
START_S = 1_795_000_000.0


def xmllint(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [XMLLINT, "--noout", "--nonet", "--schema", str(SCHEMA), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def drive() -> Track:
    track = Track()
    for n in range(6):
        fix = Fix(
            mode=3,
            time_s=START_S + n,
            lat_deg=52.5,
            lon_deg=13.4 + n * 2e-4,
            alt_m=35.0,
            speed_mps=13.9,
            track_deg=90.0,
        )
        track.add(fix, 0.2 + n)
    track.add(Fix(mode=1), 6.2)  # a tunnel: the track splits
    track.add(Fix(mode=2, time_s=START_S + 8, lat_deg=52.5, lon_deg=13.402), 8.2)
    return track


@needs_xmllint
def test_a_gpx_is_valid_gpx_11_and_gpxpy_reads_speed_course_and_sea_level(tmp_path) -> None:
    path = tmp_path / "00000007_20261122-081500.gpx"
    path.write_text(drive().to_gpx("00000007", "00000007_20261122-081500.mp4", "+01:00"))
    checked = xmllint(path)
    assert checked.returncode == 0, checked.stderr
    with open(path) as fh:
        gpx = gpxpy.parse(fh)
    assert gpx.version == "1.1" and gpx.creator == "dashcam"
    assert "UTC+01:00" in gpx.description and gpx.link == "00000007_20261122-081500.mp4"
    assert gpx.time.timestamp() == START_S
    first, second = gpx.tracks[0].segments  # split where the fix was lost
    assert len(first.points) == 6 and len(second.points) == 1
    point = first.points[0]
    assert point.elevation == 35.0 and point.time.timestamp() == START_S
    # Garmin's TrackPointExtension: GPX 1.1's speed and course.
    (tpx,) = [e for e in point.extensions if e.tag == f"{{{TPX_NS}}}TrackPointExtension"]
    assert float(tpx.findtext(f"{{{TPX_NS}}}speed")) == pytest.approx(13.9)
    assert float(tpx.findtext(f"{{{TPX_NS}}}course")) == pytest.approx(90.0)
    # The speed gpxpy works out from the points agrees with the receiver's.
    assert first.points[1].speed_between(first.points[0]) == pytest.approx(13.5, abs=0.5)
    assert [p["speed_mps"] for p in gpx_points(path.read_bytes())][:6] == [13.9] * 6


def test_the_subtitles_end_with_the_video() -> None:
    srt = drive().to_srt(end_s=8.5)
    last = srt.strip().split("\n\n")[-1].splitlines()[1]
    assert last == "00:00:08,200 --> 00:00:08,500"  # not 00:00:09,200: past the video
    assert "00:00:09" not in srt


@needs_xmllint
@needs_ffprobe
def test_the_track_beside_a_recorded_clip_is_valid_and_ends_with_it(tmp_path) -> None:
    with Appliance(tmp_path / "card", segment_seconds=1.0) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        first = len(a.wait_segments(1))
        for n in range(30):  # 10 Hz for 3 s, as a receiver reports
            source.feed(Fix(mode=3, lat_deg=52.5, lon_deg=13.4 + n * 1e-5, alt_m=35.0))
            threading.Event().wait(0.1)  # the receiver's pace, at the hardware boundary
        a.controller.post(Event.STOP_RECORDING)
        assert a.controller.wait_for_state(State.IDLE)
        tracks.close()
    clips = [c for c in a.segments[first:] if os.path.exists(os.path.splitext(c.path)[0] + ".gpx")]
    assert clips
    for clip in clips:
        stem = os.path.splitext(clip.path)[0]
        checked = xmllint(stem + ".gpx")
        assert checked.returncode == 0, checked.stderr
        with open(stem + ".gpx") as fh:
            gpx = gpxpy.parse(fh)
        offset = utc_offset_text(stamp_wall_s(os.path.basename(clip.path)[9:24]))
        assert f"UTC{offset}" in gpx.description
        duration = float(ffprobe(clip.path, "format=duration")["format"]["duration"])
        with open(stem + ".srt") as fh:
            cues = fh.read().strip().split("\n\n")
        end = cues[-1].splitlines()[1].split(" --> ")[1]
        h, m, s = end.replace(",", ".").split(":")
        assert int(h) * 3600 + int(m) * 60 + float(s) <= duration + 0.001
