"""The dashboard on a real Waitress server over loopback: MJPEG sharing and cap, SSE, origin."""

from __future__ import annotations

import json
import threading
import time

import pytest

from appliance.library import Kind
from appliance.states import State
from tests.harness import wait_until
from tests.web_fixtures import dashboard
from tests.webclient import Stream, request, serve
from web.server import close_server, make_server

PREVIEW = "/api/preview.mjpeg"


@pytest.fixture
def served(tmp_path):
    with dashboard(tmp_path, autostart=True, preview_width=320, preview_height=240) as d:
        assert d.appliance.controller.wait_for_state(State.RECORDING)
        with serve(d.app) as addr:
            yield d, addr


def test_three_viewers_share_one_encode_per_frame(served):
    d, addr = served
    camera, hub = d.appliance.camera, d.app.hub
    assert camera.preview_frames_encoded == 0  # nobody watches: no preview work at all
    viewers = [Stream(addr, PREVIEW) for _ in range(3)]
    try:
        assert all(v.status == 200 for v in viewers)
        assert viewers[0].headers["content-type"].startswith("multipart/x-mixed-replace")
        seen = [[] for _ in viewers]
        for _ in range(20):
            for v, got in zip(viewers, seen, strict=True):
                headers, jpeg, _ = v.next_part()
                assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
                got.append(int(headers["x-frame-seq"]))
        assert hub.viewers == 3
        # One encode per frame whatever the viewer count: every encode reached the hub once,
        # and the three viewers were sent the same frames.
        encoded = camera.preview_frames_encoded
        assert wait_until(lambda: hub.frames_received == camera.preview_frames_encoded, 2)
        assert hub.frames_received <= encoded + 1
        common = set(seen[0]) & set(seen[1]) & set(seen[2])
        assert len(common) >= 15, seen
        span = max(max(s) for s in seen) - min(min(s) for s in seen) + 1
        assert camera.preview_frames_encoded <= span + 3  # not 3 x the frames shown
    finally:
        for v in viewers:
            v.close()
    # The last viewer leaving turns the preview off; disconnected viewers free their threads.
    assert wait_until(lambda: hub.viewers == 0, 5)
    stopped_at = camera.preview_frames_encoded
    assert not wait_until(lambda: camera.preview_frames_encoded > stopped_at + 1, 1.0)


def test_viewer_cap_answers_503_with_retry_after_and_the_api_stays_responsive(served):
    d, addr = served
    viewers = [Stream(addr, PREVIEW) for _ in range(3)]
    try:
        for v in viewers:
            v.next_part()
        refused = request(addr, PREVIEW)
        assert refused.status == 503
        assert int(refused.headers["retry-after"]) > 0
        assert "preview viewers" in json.loads(refused.body)["description"]
        # Threads left for the control API: status, gallery and a command answer at once.
        for _ in range(10):
            t0 = time.monotonic()
            assert request(addr, "/api/status").status == 200
            assert request(addr, "/api/items?limit=50").status == 200
            assert time.monotonic() - t0 < 0.5
        with Stream(addr, "/api/events") as events:
            assert events.status == 200 and events.next_event()[0] == "status"
            assert request(addr, "/api/photos", method="POST").status == 202
            assert wait_until(lambda: d.appliance.controller.status.last_still is not None, 5)
        for v in viewers:  # the viewers kept getting frames all along
            v.next_part()
    finally:
        for v in viewers:
            v.close()
    # A place is free again once a viewer is gone.
    assert wait_until(lambda: d.app.hub.viewers == 0, 5)
    with Stream(addr, PREVIEW) as again:
        assert again.status == 200 and again.next_part()[1][:2] == b"\xff\xd8"


def test_a_slow_viewer_skips_to_the_newest_frame_instead_of_a_backlog(served):
    d, addr = served
    hub = d.app.hub
    with Stream(addr, PREVIEW, rcvbuf=4096) as slow, Stream(addr, PREVIEW) as fast:
        first = int(slow.next_part()[0]["x-frame-seq"])
        # The slow viewer reads nothing while 40 frames (4 s) are made.
        target = hub.frames_received + 40
        while hub.frames_received < target:
            fast.next_part()
        lags = []
        for _ in range(30):
            seq = int(slow.next_part()[0]["x-frame-seq"])
            lags.append(hub.latest.seq - seq)
        got = [first] + [hub.latest.seq - lag for lag in lags]
        frame_bytes = len(hub.latest.jpeg)
        # What was in flight when it stalled (the socket buffers, about 256 KiB) still comes,
        # then it is at the newest frame again: the 40 frames it missed were never queued.
        stale = sum(1 for lag in lags if lag > 2)
        assert stale <= 256 * 1024 // frame_bytes + 2, lags
        assert stale < 40 and lags[-10:] == [lag for lag in lags[-10:] if lag <= 2], lags
        assert got[-1] - got[0] >= 40  # frames were skipped, not queued


def test_sse_status_event_arrives_within_250_ms_of_a_button_press(served):
    d, addr = served
    ctl = d.appliance.controller
    with Stream(addr, "/api/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        name, status = events.next_event()
        assert name == "status" and status["state"] == "recording"
        t0 = time.monotonic()
        for button, wanted in (("record", "idle"), ("record", "recording")):
            if wanted == "recording":  # a second press inside the debounce time is ignored
                assert ctl.wait_for_state(State.IDLE)
                wait_until(lambda t=t0: time.monotonic() - t > 2 * d.appliance.config.debounce_s)
            t0 = time.monotonic()
            d.appliance.press(getattr(d.appliance.panel, button))
            while True:
                name, data = events.next_event()
                if name == "status" and data["state"] == wanted:
                    break
            elapsed = time.monotonic() - t0
            assert elapsed < 0.25, f"{elapsed * 1000:.0f} ms"
        # The virtual panel's LED comes on the same stream.
        assert wait_until(lambda: events.next_event()[0] == "led", 5)


def test_a_closed_event_stream_frees_its_thread(served):
    d, addr = served
    events_resource = d.app._router.find("/api/events")[0]
    streams = [Stream(addr, "/api/events") for _ in range(3)]
    for s in streams:
        s.next_event()
    assert events_resource.slots.open == 3
    for s in streams:
        s.close()
    assert wait_until(lambda: events_resource.slots.open == 0, 5)


def test_cross_origin_posts_are_refused_over_the_wire(served):
    d, addr = served
    ctl = d.appliance.controller
    for headers in (
        {"Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1:{addr[1] + 1}"},
    ):
        resp = request(addr, "/api/recording/stop", method="POST", headers=headers)
        assert resp.status == 403 and b"refused" in resp.body
        body = b'{"segment_seconds": 5}'
        headers = {**headers, "Content-Type": "application/json"}
        resp = request(addr, "/api/settings", method="PUT", headers=headers, body=body)
        assert resp.status == 403
    assert not ctl.wait_for_state(State.IDLE, timeout_s=0.3)
    assert ctl.config.segment_seconds == 1.0
    own = {"Origin": f"http://{addr[0]}:{addr[1]}", "Sec-Fetch-Site": "same-origin"}
    assert request(addr, "/api/recording/stop", method="POST", headers=own).status == 202
    assert ctl.wait_for_state(State.IDLE)


def test_ranges_and_raw_traversal_paths_over_the_wire(served):
    d, addr = served
    d.appliance.wait_segments(1)
    clip = d.appliance.library.page(kinds={Kind.LOOP}, limit=1)[0]
    data = open(clip.path, "rb").read()  # noqa: SIM115 - a closed clip, read once
    part = request(addr, f"/media/{clip.id}", headers={"Range": "bytes=10-1009"})
    assert part.status == 206 and part.body == data[10:1010]
    assert part.headers["content-range"] == f"bytes 10-1009/{len(data)}"
    whole = request(addr, f"/media/{clip.id}")
    assert whole.status == 200 and whole.body == data
    assert request(addr, f"/media/{clip.id}", headers={"Range": "bytes=99999999-"}).status == 416
    for path in (
        "/media/../../etc/passwd",
        "/media/..%2f..%2fetc%2fpasswd",
        "/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/static/../app.py",
        "/static/..%2fapp.py",
        "/media/" + clip.path.replace("/", "%2f"),
        "/media/00000001%00",
    ):
        resp = request(addr, path)
        assert 400 <= resp.status < 500, path
        assert b"root:" not in resp.body and b"import" not in resp.body


def test_the_server_is_closed_from_its_own_loop_thread(tmp_path) -> None:
    """Closed from another thread, the loop could be in select on the closed sockets and
    die of EBADF; close_server hands the close to the loop, which then ends by itself."""
    with dashboard(tmp_path) as d:
        server = make_server(d.app, host="127.0.0.1", port=0, threads=2)
        closed_on = []
        real_close = server.close

        def noting_close() -> None:
            closed_on.append(threading.current_thread().name)
            real_close()

        server.close = noting_close
        thread = threading.Thread(target=server.run, name="loop", daemon=True)
        thread.start()
        assert request(("127.0.0.1", int(server.effective_port)), "/api/health").status == 200
        close_server(server, running=True)
        thread.join(5)
        assert not thread.is_alive()
        assert closed_on == ["loop"]
        never_run = make_server(d.app, host="127.0.0.1", port=0, threads=2)
        close_server(never_run, running=False)  # no loop to hand it to: closed here
        assert never_run.socket is None or never_run.socket.fileno() == -1
