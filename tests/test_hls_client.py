"""A real HLS client (FFmpeg through PyAV) plays the dashboard's playlists over HTTP.

The appliance records on the simulated camera, whose frames carry their index as a bar
code (:func:`hw.camera_sim.read_frame_counter`); the playlists are fetched from the real
Waitress server, so every byte range and fragment crosses a real socket.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import av
import pytest

from appliance.incident import Incident
from appliance.mp4 import SegmentWriter
from appliance.states import Event, State
from hw.camera_sim import read_frame_counter
from tests.harness import camera_packets, wait_until
from tests.web_fixtures import dashboard
from tests.webclient import serve

#: What FFmpeg needs to read HLS over HTTP from a script.
HLS_OPTIONS = {"protocol_whitelist": "http,tcp", "allowed_extensions": "ALL"}


def decoded(url: str) -> tuple[list[int], list[int]]:
    """The frame counters and presentation times of every frame FFmpeg decodes at ``url``."""
    counters, pts = [], []
    with av.open(url, options=HLS_OPTIONS, timeout=20) as container:
        assert container.format.name == "hls"
        for frame in container.decode(video=0):
            counters.append(read_frame_counter(frame.to_ndarray(format="rgb24")))
            pts.append(frame.pts)
    return counters, pts


def file_counters(path: str) -> list[int]:
    with av.open(path) as container:
        return [read_frame_counter(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A dashboard on a real server with one complete incident of three 3-second clips."""
    tmp = tmp_path_factory.mktemp("hls")
    with dashboard(tmp, segment_seconds=3.0) as d, serve(d.app) as addr:
        record_incident(d)
        yield d, f"http://{addr[0]}:{addr[1]}"


def record_incident(d) -> Incident:
    """Protect while the second clip records, wait for the clip after, stop recording.

    Returns:
        The incident: the clip before, the one recording and the next.
    """
    ctl = d.appliance.controller
    lib = d.appliance.library
    [closed] = d.appliance.wait_segments(1)[:1]
    assert wait_until(lambda: (ctl.status.segment_seq or 0) > closed.seq, 10)
    ctl.post(Event.PROTECT_PRESSED)
    assert wait_until(lambda: lib.incidents()[:1] and lib.incidents()[0].complete, 30)
    ctl.post(Event.STOP_RECORDING)
    assert ctl.wait_for_state(State.IDLE)
    return lib.incidents()[0]


def test_an_incident_plays_every_frame_once_in_order_across_its_clips(served) -> None:
    d, base = served
    incident = d.appliance.library.incidents()[0]
    assert len(incident.clips) == 3
    paths = [d.appliance.library.get(seq).path for seq in incident.clips]
    expected = [n for path in paths for n in file_counters(path)]
    assert expected == list(range(expected[0], expected[0] + len(expected)))  # one run
    counters, pts = decoded(f"{base}/api/incidents/{incident.id}/playlist.m3u8")
    assert counters == expected
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "times go back"


def test_a_clip_plays_every_frame_once_through_its_playlist(served) -> None:
    d, base = served
    seq = d.appliance.library.incidents()[0].clips[1]
    path = d.appliance.library.get(seq).path
    counters, _ = decoded(f"{base}/api/items/{seq}/playlist.m3u8")
    assert counters == file_counters(path)


def test_the_incident_playlist_names_later_clips_fragments_by_their_own_url(served) -> None:
    d, base = served
    incident = d.appliance.library.incidents()[0]
    with urllib.request.urlopen(f"{base}/api/incidents/{incident.id}/playlist.m3u8") as resp:
        assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        text = resp.read().decode()
    first, second, third = incident.clips
    assert f'#EXT-X-MAP:URI="/media/{first:08d}.mp4"' in text
    assert text.count("#EXT-X-DISCONTINUITY") == 2
    assert f"\n/api/incidents/{incident.id}/clips/{second:08d}/0.m4s\n" in text
    assert f"\n/api/incidents/{incident.id}/clips/{third:08d}/0.m4s\n" in text
    assert text.endswith("#EXT-X-ENDLIST\n")


def test_a_clip_recovered_after_a_crash_plays_fully_through_its_playlist(tmp_path) -> None:
    info, packets = camera_packets(3.0)
    whole = tmp_path / "whole.mp4"
    writer = SegmentWriter(str(whole), info, packets[0])
    for packet in packets[1:]:
        writer.write(packet)
    writer.close()
    data = whole.read_bytes()
    loop = tmp_path / "card" / "DCIM" / "LOOP" / "2024-05-01"
    loop.mkdir(parents=True)
    (loop / "00000007_20240501-120000.mp4.partial").write_bytes(data[: len(data) * 3 // 4])
    with dashboard(tmp_path) as d, serve(d.app) as addr:
        lib = d.appliance.library
        assert wait_until(lambda: 7 in {i.seq for i in lib.page(limit=100)}, 15)
        path = lib.get(7).path
        assert b"mfra" not in Path(path).read_bytes()  # no fragment index: the boxes are walked
        base = f"http://{addr[0]}:{addr[1]}"
        with urllib.request.urlopen(f"{base}/api/items/7") as resp:
            assert json.load(resp)["duration_s"] == pytest.approx(2.0, abs=1 / 30)
        counters, _ = decoded(f"{base}/api/items/7/playlist.m3u8")
    assert counters == file_counters(path) == list(range(60))  # its two whole fragments
