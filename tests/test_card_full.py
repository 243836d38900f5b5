"""Card full, on a real 48 MiB tmpfs: the loop wraps three times, the reserve holds,
protected clips and photos stay, the newest footage is always there; with only protected
data left the storage-full state shows, and recording resumes once space is freed."""

import os
import shutil
import threading

import av
import numpy as np
import pytest

from appliance.library import Kind
from appliance.states import Event, State
from hw.camera.replay import ReplayCamera
from hw.panel import STATE_PATTERNS
from tests.harness import Appliance, partials, tmpfs, wait_until

CARD_BYTES = 48 * 1024 * 1024
RESERVE_BYTES = 4 * 1024 * 1024


@pytest.fixture
def card(tmp_path):
    with tmpfs(tmp_path / "card", CARD_BYTES) as mount:
        yield mount


@pytest.fixture(scope="module")
def noise_mp4(tmp_path_factory):
    """Two seconds of 320x240 noise at ~4 MB/s: fills a small card fast, in real time."""
    path = tmp_path_factory.mktemp("src") / "noise.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"preset": "ultrafast", "qp": "4", "g": "30", "bf": "0"}
        for _ in range(60):
            image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    return path


class FreeSpaceWatch:
    """Samples the card's free space every few milliseconds on its own thread."""

    def __init__(self, path):
        self.path = path
        self.lowest = shutil.disk_usage(path).free
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.005):
            self.lowest = min(self.lowest, shutil.disk_usage(self.path).free)
            self.samples += 1

    def stop(self):
        self._stop.set()
        self._thread.join()


def test_the_loop_wraps_a_full_card_and_keeps_the_reserve(card, noise_mp4):
    camera = ReplayCamera(noise_mp4)
    with Appliance(
        card, camera=camera, min_free_bytes=RESERVE_BYTES, protected_quota_percent=30.0
    ) as app:
        ctl, lib = app.controller, app.library
        watch = FreeSpaceWatch(card)
        # An incident and two photos early on: they must survive every wrap.
        app.wait_segments(2)
        app.press(app.panel.protect)
        app.press(app.panel.photo)
        assert wait_until(lambda: ctl.status.counts.get("photo", 0) == 1, 5)
        app.press(app.panel.photo)
        assert wait_until(lambda: ctl.status.counts.get("photo", 0) == 2, 5)
        assert wait_until(lambda: ctl.status.counts.get("protected", 0) >= 3, 10)
        keep = {i.seq: i.size for i in lib.page(kinds={Kind.PHOTO, Kind.PROTECTED}, limit=100)}

        # Wrap the card three times: three cards' worth of loop video written.
        already = len(app.segments)

        def written() -> int:
            return sum(s.size for s in app.segments[already:])

        assert wait_until(lambda: written() >= 3 * CARD_BYTES, 120), f"wrote {written()} bytes"
        watch.stop()
        assert ctl.state is State.RECORDING
        assert watch.lowest >= RESERVE_BYTES, f"free space fell to {watch.lowest} bytes"
        assert watch.samples > 100
        # Every segment was still there when it had closed: none is missing between the
        # first and the last (the numbers in between are the photos').
        photos = {i.seq for i in lib.page(kinds={Kind.PHOTO}, limit=100)}
        noted = [s.seq for s in app.segments]
        missing = set(range(noted[0], noted[-1] + 1)) - set(noted) - photos
        assert not missing, f"segments deleted before they were seen: {sorted(missing)}"
        # Protected clips and photos intact.
        for seq, size in keep.items():
            item = lib.get(seq)
            assert item.size == size and os.path.getsize(item.path) == size
        # The newest footage is there; the oldest loop clips are the ones that went.
        loop = lib.page(kinds={Kind.LOOP}, limit=1000)
        newest_closed = max(s.seq for s in app.segments)
        assert loop[0].seq == newest_closed
        assert len(app.segments) > len(loop) + 3
        assert [i.seq for i in loop] == sorted((i.seq for i in loop), reverse=True)

        # Only protected data left: protect every loop clip and let protection fill the card.
        lib.protected_quota_percent = 95.0
        for item in lib.page(kinds={Kind.LOOP}, limit=1000):
            lib.protect(item.seq)
        assert ctl.wait_for_state(State.STORAGE_FULL, timeout_s=20)
        assert wait_until(lambda: app.panel.led_pattern is STATE_PATTERNS[State.STORAGE_FULL])
        assert wait_until(lambda: not partials(card), 5)  # the open segment was closed
        assert not ctl.status.recording
        assert ctl.status.storage.free >= RESERVE_BYTES

        # Space comes back (clips deleted, as from the dashboard): recording resumes by itself.
        before = len(app.segments)
        for item in lib.page(kinds={Kind.PROTECTED}, limit=1000)[:-3][::-1][:6]:
            lib.delete(item.seq)
        assert ctl.wait_for_state(State.RECORDING, timeout_s=20)
        app.wait_segments(before + 1, timeout_s=10)
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)
