"""A recording process killed with SIGKILL loses at most the last second, and a restart
recovers the open segment, indexes it and records on."""

import os
import signal
import time

from appliance.library import Kind
from appliance.media.segment import complete_length
from appliance.ports import PTS_PER_SECOND
from appliance.states import Event, State
from tests.harness import Appliance, decode_counters, partials, run_child, wait_until
from tests.mp4tools import provenance

CONFIG = """\
video_width = 320
video_height = 240
video_fps = 30
video_bitrate = 400000
segment_seconds = 4.0
min_free_bytes = 0
min_free_percent = 0.0
"""


def closed_clips(root):
    found = []
    for folder, _dirs, files in os.walk(os.path.join(root, "DCIM", "LOOP")):
        found += [os.path.join(folder, f) for f in files if f.endswith(".mp4")]
    return sorted(found)


def fragments_end(path):
    """Bytes of whole fragments written so far (-1 once the file is renamed)."""
    try:
        return complete_length(path)
    except FileNotFoundError:
        return -1


def test_sigkill_loses_at_most_the_last_second_and_a_restart_recovers(tmp_path):
    root = tmp_path / "card"
    config = tmp_path / "dashcam.toml"
    config.write_text(CONFIG)
    child = run_child(config, root, "--no-web")
    try:
        # Closed segments first; then a partial that has just begun, so that the kill
        # lands inside it (segments are 4 s; the kill comes under 3 s into it).
        assert wait_until(lambda: len(closed_clips(root)) >= 2, 30), (
            child.stderr.read1().decode() if child.poll() is not None else "no segments"
        )
        seen = partials(root)
        fresh = {}

        def new_partial():
            found = [p for p in partials(root) if p not in seen]
            fresh.update(path=found[0]) if found else None
            return bool(found)

        assert wait_until(new_partial, 10)
        path = fresh["path"]
        start = fragments_end(path)
        assert wait_until(lambda: fragments_end(path) > start, 5)
        grown = fragments_end(path)
        assert wait_until(lambda: fragments_end(path) > grown, 5)
        # The worst moment: just before the next fragment completes (keyframes every 1 s).
        boundary = time.monotonic()
        wait_until(lambda: time.monotonic() >= boundary + 0.9, 2)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        killed_at_us = time.monotonic() * PTS_PER_SECOND
        child.wait(10)
    assert child.returncode == -signal.SIGKILL

    closed = closed_clips(root)
    (partial,) = partials(root)
    assert partial == path
    # Every closed segment decodes whole: frame counters contiguous, none missing.
    for path in closed:
        counters = decode_counters(path)
        first, _ = provenance(path)
        assert counters == list(range(first, first + len(counters))), path
        assert complete_length(path) == os.path.getsize(path)

    # The open one decodes up to at most 1 s (one keyframe interval) before the kill.
    first_frame, first_pts_us = provenance(partial)

    # Restart on the same card: the partial is recovered, indexed, and recording goes on.
    with Appliance(root) as app:
        ctl = app.controller
        recovered_path = partial[: -len(".partial")]
        assert wait_until(lambda: os.path.exists(recovered_path), 10)
        assert not [p for p in partials(root) if p == partial]
        counters = decode_counters(recovered_path)
        assert counters == list(range(first_frame, first_frame + len(counters)))
        last_frame_us = first_pts_us + (len(counters) * PTS_PER_SECOND) / 30
        lost_s = (killed_at_us - last_frame_us) / PTS_PER_SECOND
        print(f"lost {lost_s:.3f} s of video to SIGKILL")
        assert lost_s <= 1.0 + 0.1, f"lost {lost_s:.3f} s of video"
        item = next(
            i for i in app.library.page(kinds={Kind.LOOP}, limit=100) if i.path == recovered_path
        )
        assert item.kind is Kind.LOOP
        # Records on, with sequence numbers after the recovered one.
        segments = app.wait_segments(2)
        assert all(s.seq > item.seq for s in segments)
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)


def test_a_protect_pressed_before_a_power_cut_keeps_the_open_segment(tmp_path):
    """The protect mark of the open segment is on the card before the cut: the partial a
    SIGKILL leaves is recovered into PROTECTED, not into the loop."""
    import json
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "card"
    config = tmp_path / "dashcam.toml"
    config.write_text(
        CONFIG.replace("segment_seconds = 4.0", "segment_seconds = 60.0")
        + f'web_host = "127.0.0.1"\nweb_port = {port}\n'
    )
    child = run_child(config, root)

    def protect() -> int:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/incidents", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                return resp.status
        except OSError:
            return 0

    marks = root / "DCIM" / "PROTECTING"
    try:
        assert wait_until(lambda: len(partials(root)) == 1 and protect() == 202, 30), (
            child.stderr.read1().decode() if child.poll() is not None else "no dashboard"
        )
        (partial,) = partials(root)
        seq = int(os.path.basename(partial)[:8])
        assert wait_until(lambda: marks.is_file() and str(seq) in marks.read_text().split(), 10)
        header = complete_length(partial)  # ftyp + moov: no frame yet
        assert wait_until(lambda: complete_length(partial) > header, 10)  # a whole fragment
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert partials(root) == [partial]  # the cut left it open, in the loop folder

    with Appliance(root, autostart=False) as app:
        lib = app.library
        assert wait_until(lambda: seq in {i.seq for i in lib.page(limit=100)}, 15)
        item = lib.get(seq)
        assert item.kind is Kind.PROTECTED, json.dumps(str(item))
        assert os.path.dirname(item.path) == str(root / "DCIM" / "PROTECTED")
        assert marks.read_text().split() == []  # nothing left marked
