"""Storage faults while recording: the card's folder removed, the card unmounted (pulled),
turned read-only, failing with EIO, full under a write (ENOSPC). Each puts the appliance
in ERROR with its LED pattern, the status keeps answering, recording resumes by itself
once the card is back, and a shutdown (what SIGTERM does) returns within 3 s with the card
gone.

Real file systems where root allows (a tmpfs mounted, unmounted, remounted read-only).
A tmpfs refuses a read-only remount while a file is open for writing, and cannot return
EIO: those two are injected at the file-system port (``FailingFS``), as the card's sync
or rename failing.
"""

import errno
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from appliance.ports import Clock, FileSystem
from appliance.states import Event, State
from hw.panel import STATE_PATTERNS
from tests.harness import Appliance, mount_tmpfs, tmpfs, wait_until
from tests.test_controller_faults import FailingFS

CARD_BYTES = 32 * 1024 * 1024
RETRY_S = 0.3
SHUTDOWN_LIMIT_S = 3.0


def run(*args):
    subprocess.run(list(args), check=True, capture_output=True)


@pytest.fixture
def card(tmp_path):
    with tmpfs(tmp_path / "card", CARD_BYTES) as mount:
        yield mount


def remove_folder(root):
    """The card's folder disappears at once (renamed away, then deleted)."""
    gone = root.with_name(root.name + "-removed")
    os.rename(root, gone)
    shutil.rmtree(gone, ignore_errors=True)


def make(root, **kw):
    return Appliance(root, retry_interval_s=RETRY_S, **kw)


def in_error_with_its_led(app):
    ctl = app.controller
    assert ctl.wait_for_state(State.ERROR, timeout_s=10), ctl.state
    assert wait_until(lambda: app.panel.led_pattern is STATE_PATTERNS[State.ERROR], 5)
    assert ctl.status.last_error
    # The status keeps answering: a fresh snapshot on request.
    version = ctl.status.version
    ctl.refresh()
    assert ctl.wait_for_change(version, 5).version > version
    assert not ctl.status.recording


def retried_and_still_failing(app):
    """A retry has probed the card and failed: the state stays ERROR."""
    ctl = app.controller
    assert wait_until(lambda: (ctl.status.last_error or "").startswith("storage:"), 10)
    assert ctl.state is State.ERROR


def records_again(app, timeout_s=15):
    ctl = app.controller
    assert ctl.wait_for_state(State.RECORDING, timeout_s=timeout_s), ctl.state
    before = len(app.segments)
    app.wait_segments(before + 2, timeout_s=timeout_s)
    newest = app.segments[-1]
    assert os.path.exists(newest.path), newest.path


def shuts_down_quickly(app):
    t0 = time.monotonic()
    app.controller.shutdown(timeout_s=10)
    elapsed = time.monotonic() - t0
    assert app.controller.stopped.is_set()
    assert app.controller.state is State.OFF
    assert elapsed < SHUTDOWN_LIMIT_S, f"shutdown took {elapsed:.2f} s"


def test_the_card_folder_removed_and_put_back(tmp_path):
    root = tmp_path / "card"
    with make(root) as app:
        app.wait_segments(2)
        old_seqs = {s.seq for s in app.segments}
        remove_folder(root)
        in_error_with_its_led(app)
        root.mkdir()  # the card is back (empty)
        records_again(app)
        assert min(s.seq for s in app.segments[-2:]) > max(old_seqs)  # numbers never reused
        assert str(app.segments[-1].path).startswith(str(root))


@pytest.mark.parametrize("moment", ["at once", "in error"])
def test_shutdown_with_the_card_folder_gone_is_quick(tmp_path, moment):
    root = tmp_path / "card"
    with make(root) as app:
        app.wait_segments(1)
        remove_folder(root)
        if moment == "in error":
            in_error_with_its_led(app)
        shuts_down_quickly(app)


def test_the_card_unmounted_and_mounted_again(card):
    with make(card) as app:
        app.wait_segments(2)
        old_seqs = {s.seq for s in app.segments}
        run("umount", "-l", str(card))  # pulled: the mount point is an empty folder now
        in_error_with_its_led(app)
        # Nothing is written to the folder under the mount point while the card is out.
        retried_and_still_failing(app)
        assert os.listdir(card) == []
        mount_tmpfs(card, CARD_BYTES)  # put back (a fresh card: the layout is made again)
        records_again(app)
        assert min(s.seq for s in app.segments[-2:]) > max(old_seqs)


def test_shutdown_with_the_card_unmounted_is_quick(card):
    with make(card) as app:
        app.wait_segments(1)
        run("umount", "-l", str(card))
        in_error_with_its_led(app)
        shuts_down_quickly(app)


def test_a_card_turned_read_only(card):
    with make(card, autostart=False) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        run("mount", "-o", "remount,ro", str(card))
        ctl.post(Event.START_RECORDING)  # the wish to record survives the fault
        in_error_with_its_led(app)
        assert "Read-only" in ctl.status.last_error or "read-only" in ctl.status.last_error
        retried_and_still_failing(app)  # the probe write fails while read-only
        run("mount", "-o", "remount,rw", str(card))
        records_again(app)


def test_a_card_read_only_at_boot(card):
    """The first scan cannot create the layout: ERROR at once, recording once writable."""
    run("mount", "-o", "remount,ro", str(card))
    with make(card) as app:
        in_error_with_its_led(app)
        retried_and_still_failing(app)
        run("mount", "-o", "remount,rw", str(card))
        records_again(app)


def test_a_photo_on_a_read_only_card(card):
    with make(card, autostart=False) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        run("mount", "-o", "remount,ro", str(card))
        ctl.post(Event.PHOTO_PRESSED)
        in_error_with_its_led(app)
        run("mount", "-o", "remount,rw", str(card))
        assert ctl.wait_for_state(State.IDLE, timeout_s=10)
        ctl.post(Event.PHOTO_PRESSED)
        assert wait_until(lambda: ctl.status.counts.get("photo", 0) == 1, 10)


@pytest.mark.parametrize("error", [errno.EIO, errno.EROFS], ids=["EIO", "EROFS"])
@pytest.mark.parametrize("call", ["sync", "rename"])
def test_a_failing_card_while_recording(tmp_path, error, call):
    """EIO cannot come from a tmpfs, nor read-only with a file open: injected at the port."""
    fs = FailingFS()
    fs.error = error
    with make(tmp_path / "card", fs=fs) as app:
        app.wait_segments(2)
        fs.failing.add(call)
        in_error_with_its_led(app)
        assert call in fs.raised
        retried_and_still_failing(app)
        fs.failing.clear()
        records_again(app)
        shuts_down_quickly(app)


def test_enospc_under_a_write(card):
    """The card fills under an open segment (another file takes the space), so a
    fragment's write fails with ENOSPC: ERROR; recording resumes once the space is back."""
    with make(card, segment_seconds=30.0) as app:
        ctl = app.controller
        assert wait_until(lambda: ctl.status.recording, 10)
        filler = card / "filler.bin"
        with open(filler, "wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        in_error_with_its_led(app)
        assert "space" in ctl.status.last_error.lower()
        retried_and_still_failing(app)  # the probe write fails on the full card
        filler.unlink()
        assert ctl.wait_for_state(State.RECORDING, timeout_s=10)
        assert wait_until(lambda: ctl.status.recording, 10)
        written = ctl.recorder.frames_written
        assert wait_until(lambda: ctl.recorder.frames_written > written + 30, 10)
        shuts_down_quickly(app)


class HangingFS(FileSystem):
    """A card whose syncs block (a pulled USB stick can hang I/O) until released."""

    def __init__(self):
        self.hang = threading.Event()
        self.release = threading.Event()
        self.hung = threading.Event()

    def sync(self, fd):
        if self.hang.is_set():
            self.hung.set()
            self.release.wait(30)
        super().sync(fd)


def test_shutdown_with_a_card_that_hangs_is_quick(tmp_path):
    fs = HangingFS()
    with make(tmp_path / "card", fs=fs) as app:
        try:
            app.wait_segments(1)
            fs.hang.set()
            assert fs.hung.wait(10)  # the recorder is stuck in a sync
            shuts_down_quickly(app)
        finally:
            fs.release.set()


class FixedClock(Clock):
    """A wall clock stopped at one moment, so the next segment's name is known."""

    def wall(self):
        return 1_714_563_000.0


def test_a_symlink_planted_where_the_next_segment_goes_is_not_written_through(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not for the card")
    root = tmp_path / "card"
    with make(root, clock=FixedClock(), autostart=False) as app:
        ctl, lib = app.controller, app.library
        assert ctl.wait_for_state(State.IDLE)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(FixedClock().wall()))
        day = time.strftime("%Y-%m-%d", time.localtime(FixedClock().wall()))
        folder = root / "DCIM" / "LOOP" / day
        folder.mkdir(exist_ok=True)
        first = int(Path(lib.sequence_path).read_text())  # the next number to be used
        for seq in range(first, first + 2):
            os.symlink(outside, folder / f"{seq:08d}_{stamp}.mp4.partial")
        ctl.post(Event.START_RECORDING)
        records_again(app)
        assert outside.read_bytes() == b"not for the card"
        assert all(s.seq >= first + 2 for s in app.segments)


def test_a_day_folder_that_is_a_symlink_is_not_written_into(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "card"
    with make(root, clock=FixedClock(), autostart=False) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        day = time.strftime("%Y-%m-%d", time.localtime(FixedClock().wall()))
        os.symlink(elsewhere, root / "DCIM" / "LOOP" / day)
        os.symlink(elsewhere, root / "DCIM" / "PHOTO" / day)
        ctl.post(Event.START_RECORDING)
        records_again(app)
        ctl.post(Event.PHOTO_PRESSED)
        assert wait_until(lambda: ctl.status.counts.get("photo", 0) == 1, 10)
        assert os.listdir(elsewhere) == []
        assert not os.path.islink(root / "DCIM" / "LOOP" / day)
