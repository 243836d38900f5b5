"""A closed clip and an incident as one ordinary MP4 over HTTP (web/resources/video.py):
ranges equal to the same bytes of a full read, validators, the incident's timeline, read
by ffprobe and by Debian's ffmpeg over a real socket, and sent only as fast as read."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import subprocess
import threading
import time

import falcon
import pytest
from falcon import testing

from appliance.media.progressive import build
from appliance.states import Event, State
from tests.harness import camera_packets, wait_until
from tests.test_web_backpressure import HELD_MAX_BYTES, _channels, _status_s, _unread, held_bytes
from tests.web_fixtures import dashboard, file_counters, temp_bytes
from tests.webclient import Stream, request, serve
from web.bodies import READ_BYTES, PulledBody
from web.resources.video import Video

WALL_S = 1.8e9
#: Seconds after the first clip began that the protect button is pressed.
MOMENT_S = 3.0


def record_incident_at(d, moment_s: float):
    """Protect while the second clip records, the wall clock ``moment_s`` past the first
    clip's stamp; wait for the clip after; stop recording. Returns the incident."""
    ctl = d.appliance.controller
    lib = d.appliance.library
    [closed] = d.appliance.wait_segments(1)[:1]
    assert wait_until(lambda: (ctl.status.segment_seq or 0) > closed.seq, 10)
    d.clock.set(WALL_S + moment_s)
    ctl.post(Event.PROTECT_PRESSED)
    assert wait_until(lambda: lib.incidents()[:1] and lib.incidents()[0].complete, 30)
    ctl.post(Event.STOP_RECORDING)
    assert ctl.wait_for_state(State.IDLE)
    return lib.incidents()[0]


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    """(dashboard, client, incident, base URL of a real server) with one incident."""
    tmp = tmp_path_factory.mktemp("video")
    with dashboard(tmp, segment_seconds=2.0, wall_s=WALL_S) as d, serve(d.app) as addr:
        inc = record_incident_at(d, MOMENT_S)
        yield d, testing.TestClient(d.app), inc, f"http://{addr[0]}:{addr[1]}"


def clip_paths(d, inc) -> list[str]:
    return [d.appliance.library.get(seq).path for seq in inc.clips]


def test_the_incident_says_where_each_clip_and_the_moment_are_on_one_video(incident) -> None:
    d, client, inc, _ = incident
    detail = client.simulate_get(f"/api/incidents/{inc.id}").json
    plan = build(clip_paths(d, inc))
    timeline = detail["timeline"]
    assert detail["video_url"] == f"/api/incidents/{inc.id}/video.mp4"
    assert [c["seq"] for c in timeline["clips"]] == list(inc.clips)
    assert timeline["duration_s"] == pytest.approx(plan.duration_s, abs=1e-3)
    assert [c["start_s"] for c in timeline["clips"]] == pytest.approx(plan.starts_s, abs=1e-3)
    assert timeline["moment_s"] == pytest.approx(MOMENT_S, abs=1e-3)
    assert timeline["duration_s"] == pytest.approx(detail["duration_s"], abs=0.1)


def test_the_incident_video_is_its_clips_as_one_file_by_any_range(incident) -> None:
    d, client, inc, _ = incident
    plan = build(clip_paths(d, inc))
    url = f"/api/incidents/{inc.id}/video.mp4"
    full = client.simulate_get(url)
    assert full.status_code == 200
    assert full.headers["content-type"] == "video/mp4"
    assert full.headers["accept-ranges"] == "bytes"
    assert int(full.headers["content-length"]) == plan.length == len(full.content)
    assert full.content == plan.read(0, plan.length)
    rng = random.Random(20)
    starts = [0, len(plan.header) - 1, plan.length - 1] + [p.at - 1 for p in plan.pieces[:5]]
    starts += [rng.randrange(plan.length) for _ in range(40)]
    for first in starts:
        last = min(plan.length - 1, first + rng.choice((0, 99, 70_000, 1_000_000)))
        part = client.simulate_get(url, headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206, first
        assert part.headers["content-range"] == f"bytes {first}-{last}/{plan.length}"
        assert part.content == full.content[first : last + 1], first
    tail = client.simulate_get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == full.content[-500:]
    head = client.simulate_head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == plan.length
    assert head.content == b""
    etag = full.headers["etag"]
    assert client.simulate_get(url, headers={"If-None-Match": etag}).status_code == 304
    stale = client.simulate_get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and len(stale.content) == plan.length
    past = client.simulate_get(url, headers={"Range": f"bytes={plan.length}-"})
    assert past.status_code == 416
    assert client.simulate_get(url, headers={"If-Match": '"old"'}).status_code == 412


def test_the_video_body_keeps_a_chunk_in_memory_never_the_file(incident) -> None:
    d, client, inc, _ = incident
    url = f"/api/incidents/{inc.id}/video.mp4"
    resource = d.app._router.find(url)[0]
    assert isinstance(resource, Video)
    resp = falcon.Response()
    resource.on_get_incident(testing.create_req(path=url), resp, incident_id=inc.id)
    body = resp.stream
    assert isinstance(body, PulledBody) and body.length > 2 * READ_BYTES
    whole = b""
    while chunk := body.read(4 * READ_BYTES):
        whole += chunk
    body.close()
    assert whole == client.simulate_get(url).content
    assert body.kept_max_bytes <= max(READ_BYTES, len(build(clip_paths(d, inc)).header))


def test_a_closed_clip_is_served_as_an_ordinary_mp4_with_its_length(incident, tmp_path) -> None:
    d, client, inc, _ = incident
    item = d.appliance.library.get(inc.clips[1])
    resp = client.simulate_get(f"/api/items/{item.seq}/video.mp4")
    assert resp.status_code == 200
    assert resp.content == build([item.path]).read(0, int(resp.headers["content-length"]))
    out = tmp_path / "clip.mp4"
    out.write_bytes(resp.content)
    assert file_counters(str(out)) == file_counters(item.path)


def test_photos_unknown_and_hostile_ids_have_no_video(incident) -> None:
    d, client, inc, _ = incident
    from tests.test_web_playback import HOSTILE, _jpeg

    photo = d.appliance.library.add_photo(_jpeg())
    paths = [f"/api/items/{photo.seq}/video.mp4", "/api/items/99999/video.mp4"]
    paths += ["/api/incidents/99999/video.mp4"]
    paths += [f"/api/items/{bad}/video.mp4" for bad in HOSTILE]
    paths += [f"/api/incidents/{bad}/video.mp4" for bad in HOSTILE]
    for path in paths:
        resp = client.simulate_get(path)
        assert resp.status_code == 404, path
        assert resp.json["description"], path


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is missing (apt: ffmpeg)")
def test_debian_ffmpeg_plays_the_incident_over_http_every_frame_within_10_s(incident) -> None:
    d, _client, inc, base = incident
    expected = sum(len(file_counters(p)) for p in clip_paths(d, inc))
    t0 = time.monotonic()
    run = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", f"{base}/api/incidents/{inc.id}/video.mp4"]
        + ["-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    took_s = time.monotonic() - t0
    assert run.returncode == 0, run.stderr
    frames = [line for line in run.stdout.splitlines() if line and not line.startswith("#")]
    assert len(frames) == expected
    assert took_s < 10, took_s
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-of", "json"]
        + [f"{base}/api/incidents/{inc.id}/video.mp4"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    duration = float(json.loads(probe.stdout)["format"]["duration"])
    assert duration == pytest.approx(build(clip_paths(d, inc)).duration_s, abs=1e-3)


def _big_clip(d, frames: int, pad_bytes: int) -> int:
    """A closed loop clip of real frames, each carrying ``pad_bytes`` of H.264 filler data
    (a NAL unit decoders skip): a large file without a long recording. Its sequence number."""
    from appliance.media.segment import SegmentWriter

    info, packets = camera_packets(frames / 30 + 0.2)
    filler = b"\x00\x00\x00\x01\x0c" + b"\xff" * pad_bytes + b"\x80"
    library = d.appliance.library
    plan = library.begin_segment()
    first = packets[0]
    writer = SegmentWriter(plan.partial_path, info, first)
    for packet in packets[1:frames]:
        writer.write(dataclasses.replace(packet, data=packet.data + filler))
    writer.close()
    return library.finish_segment(plan, frames / 30).seq


def test_an_unread_video_holds_a_chunk_per_connection_and_no_worker(tmp_path) -> None:
    with dashboard(tmp_path, segment_seconds=30.0) as d:
        seq = _big_clip(d, 60, 120_000)  # about 7 MB of samples
        plan = build([d.appliance.library.get(seq).path])
        assert plan.length > 6 * 2**20
        threads = d.appliance.config.web_threads
        with serve(d.app, threads=threads) as addr:
            path = f"/api/items/{seq}/video.mp4"
            socks = [_unread(addr, path) for _ in range(threads + 2)]  # more than the workers
            try:
                assert wait_until(
                    lambda: (
                        len(_channels(addr)) == len(socks)
                        and all(c.total_outbufs_len for c in _channels(addr))
                    ),
                    5,
                )
                deadline = time.monotonic() + 2.0
                pause = threading.Event()
                while time.monotonic() < deadline:
                    assert _status_s(addr) < 1.0  # no worker is held by the unread answers
                    for channel in _channels(addr):
                        assert held_bytes(channel) <= HELD_MAX_BYTES
                    pause.wait(0.05)
                assert temp_bytes(d.appliance.library.root) == 0
            finally:
                for sock in socks:
                    sock.close()
            got = request(addr, path)  # and a client that reads gets every byte
            assert got.status == 200 and got.body == plan.read(0, plan.length)


def test_a_clip_cut_short_during_the_answer_cuts_the_answer_never_wrong_bytes(tmp_path) -> None:
    with dashboard(tmp_path, segment_seconds=30.0) as d:
        seq = _big_clip(d, 60, 120_000)
        path = d.appliance.library.get(seq).path
        plan = build([path])
        full = plan.read(0, plan.length)
        with serve(d.app) as addr, Stream(addr, f"/api/items/{seq}/video.mp4", rcvbuf=4096) as s:
            assert s.status == 200 and int(s.headers["content-length"]) == plan.length
            while len(s.buf) < 65536:
                s._fill()
            os.truncate(path, os.path.getsize(path) // 10)
            with contextlib.suppress(ConnectionError, OSError):
                while len(s.buf) < plan.length:
                    s._fill()
            body = s.buf
        assert 65536 <= len(body) < plan.length  # cut: the connection closed early
        assert body == full[: len(body)]  # and every byte that came is the right one


def test_an_incident_in_progress_says_what_it_waits_for_and_about_how_long(tmp_path) -> None:
    with dashboard(tmp_path, segment_seconds=30.0) as d:
        ctl = d.appliance.controller
        client = testing.TestClient(d.app)
        assert wait_until(lambda: ctl.status.segment_seq is not None, 10)
        seq = ctl.status.segment_seq
        ctl.post(Event.PROTECT_PRESSED)  # in the first clip: it waits for this one and the next
        assert wait_until(lambda: d.appliance.library.incidents(), 5)
        [incident] = d.appliance.library.incidents()
        detail = client.simulate_get(f"/api/incidents/{incident.id}").json
        recording = detail["recording"]
        assert recording["clips"] == [seq] and recording["awaits_next"] is True
        assert 30.0 < recording["left_s"] <= 60.0  # the rest of this clip and the next
        assert detail["items"] == [] and detail["timeline"] is None  # nothing closed yet
        assert client.simulate_get(detail["video_url"]).status_code == 404
        ctl.post(Event.STOP_RECORDING)  # the clip closes; no next one will come
        assert ctl.wait_for_state(State.IDLE)
        assert wait_until(lambda: d.appliance.library.incidents()[0].complete, 10)
        detail = client.simulate_get(f"/api/incidents/{incident.id}").json
        assert detail["recording"] is None
        assert [c["seq"] for c in detail["timeline"]["clips"]] == [seq]
        assert client.simulate_get(detail["video_url"]).status_code == 200
