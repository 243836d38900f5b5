"""The open clip's GPS track survives a power cut (appliance/track_recorder.py, the journal):
real recorder, library and files; the GPS receiver fed by the test, and file systems
that fail, count or model a power cut at the file-system port (the hardware boundary).

A power cut is modelled as in tests/test_power_cut.py: by what ``fdatasync`` made
durable. The port notes each file's bytes (by inode, so a rename keeps them) when it is
synced; the card a cut leaves is the card's folders with each file's durable bytes
(nothing for a file never synced)."""

from __future__ import annotations

import errno
import glob
import logging
import os
import shutil
import threading
import time

import pytest

from appliance.gps_track import Fix
from appliance.library import Library
from appliance.media.segment import recover
from appliance.ports import FileSystem
from appliance.states import Event, State
from appliance.track_recorder import JOURNAL_SYNC_S, TrackRecorder, journal_line, read_journal
from tests.harness import Appliance, partials, run_child, wait_until
from tests.test_track_recorder import (
    NO_FIX,
    feed,
    journals,
    next_segment,
    read_points,
    stop,
    tracked,
)
from tests.track_fixtures import moving, wire_gps

#: Reports per second fed while recording (a 10 Hz receiver).
RATE_HZ = 10


def fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


class DurableCard(FileSystem):
    """Notes, at every sync, the bytes the synced file holds: what a power cut keeps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._durable: dict[int, bytes] = {}  # inode -> bytes at its last sync

    def sync(self, fd: int) -> None:
        super().sync(fd)
        with open(fd_path(fd), "rb") as f:
            data = f.read()
        with self._lock:
            self._durable[os.fstat(fd).st_ino] = data

    def cut(self, root: str, to: str) -> float:
        """Copy the card at ``root`` to ``to`` as a power cut now would leave it; returns
        the moment of the cut (monotonic)."""
        with self._lock:
            durable = dict(self._durable)
            cut_at = time.monotonic()
        for folder, _dirs, files in os.walk(root):
            target = os.path.join(to, os.path.relpath(folder, root))
            os.makedirs(target, exist_ok=True)
            for name in files:
                try:
                    ino = os.lstat(os.path.join(folder, name)).st_ino
                except FileNotFoundError:  # deleted while walked
                    continue
                with open(os.path.join(target, name), "wb") as f:
                    f.write(durable.get(ino, b""))
        return cut_at


@pytest.fixture(scope="module")
def cut_card(tmp_path_factory):
    """A card as a power cut left it while the appliance recorded with fixes coming in:
    (its folder, the seq of the clip that was open, the (time, fix) fed, the cut's time)."""
    work = tmp_path_factory.mktemp("cut")
    card = DurableCard()
    with Appliance(work / "card", segment_seconds=60.0, fs=card) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        assert wait_until(lambda: a.controller.status.segment_seq is not None, 10)
        seq = a.controller.status.segment_seq
        source, tracks = wire_gps(a)
        lons = iter(13.4 + n * 1e-4 for n in range(1000))
        # The journal is synced at the first fix, then once a second: the cut comes
        # half-way between two syncs.
        fed = feed(source, [moving(next(lons)) for _ in range(35)], 1 / RATE_HZ, time)
        cut_at = card.cut(str(work / "card"), str(work / "after"))
        # Fixes still coming after the cut: none may show.
        fed += feed(source, [moving(next(lons)) for _ in range(RATE_HZ)], 1 / RATE_HZ, time)
        assert a.controller.status.segment_seq == seq  # the cut fell inside one clip
        stop(a, tracks)
    return work / "after", seq, fed, cut_at


def copy_of(cut_card, tmp_path):
    after, seq, fed, cut_at = cut_card
    root = tmp_path / "card"
    shutil.copytree(after, root)
    return root, seq, fed, cut_at


def test_a_power_cut_loses_at_most_the_last_second_of_the_open_clips_track(
    cut_card, tmp_path
) -> None:
    root, seq, fed, cut_at = copy_of(cut_card, tmp_path)
    assert [os.path.basename(p)[:8] for p in partials(root)] == [f"{seq:08d}"]
    assert journals_in(root) == [f"{seq:08d}.part"]
    with Appliance(root, segment_seconds=60.0) as a:
        _, tracks = wire_gps(a)
        try:
            assert wait_until(lambda: journals(a.library) == [], 15)
        finally:
            tracks.close()
        item = a.library.get(seq)  # the video recovered too
        assert not item.path.endswith(".partial")
        assert tracked(a.library) == [seq]
        points = read_points(a.library, seq)
    lons = [p["lon"] for p in points]
    sent = [fix.lon_deg for _, fix in fed]
    # The points are the fixes sent first, in order, none after the cut ...
    assert lons == pytest.approx(sent[: len(lons)], abs=1e-7)
    before_cut = [(at, fix) for at, fix in fed if at < cut_at]
    assert 0 < len(lons) < len(before_cut)  # the fixes of the last half second are lost
    # ... and every fix sent more than a second before the cut is there.
    lost = before_cut[len(lons) :]
    lost_s = cut_at - lost[0][0] if lost else 0.0
    print(f"power cut: {len(lost)} fixes lost, the oldest sent {lost_s:.3f} s before the cut")
    assert lost_s <= JOURNAL_SYNC_S + 0.5, f"lost fixes sent {lost_s:.3f} s before the cut"
    # The SRT beside it: a cue per point.
    with open(a.library.track_paths(a.library.get(seq))[1], encoding="utf-8") as f:
        assert len(f.read().strip().split("\n\n")) == len(points)


def journals_in(root) -> list[str]:
    return sorted(n for n in os.listdir(root / "DCIM" / "TRACK") if n.endswith(".part"))


def test_a_journal_waits_for_its_clip_to_be_recovered(cut_card, tmp_path, caplog) -> None:
    """At start the tracks worker may look before the controller's jobs thread has
    recovered the clip: the journal stays until the clip's partial is taken in."""
    caplog.set_level(logging.INFO, logger="appliance.track_recorder")
    root, seq, fed, _ = copy_of(cut_card, tmp_path)
    library = Library(root, min_free_bytes=0, min_free_percent=0.0)
    (partial,) = library.scan()  # the scan found it; nothing has recovered it yet
    with Appliance(tmp_path / "other", autostart=False) as idle:  # a recorder not recording
        tracks = TrackRecorder(library, idle.controller.recorder, idle.controller.clock).start()
        try:
            assert wait_until(lambda: any("waits for its clip" in m for m in caplog.messages))
            assert journals_in(root) == [f"{seq:08d}.part"]
            assert not glob.glob(os.path.join(root, "DCIM", "**", "*.gpx"), recursive=True)
            recovered = recover(partial)  # as the controller's jobs thread does
            library.adopt_partial(partial, recovered.duration_s)
            assert wait_until(lambda: journals_in(root) == [], 10)
        finally:
            tracks.close()
    points = read_points(library, seq)
    assert [p["lon"] for p in points] == pytest.approx(
        [fix.lon_deg for _, fix in fed[: len(points)]], abs=1e-7
    )


class CountedSyncs(FileSystem):
    """Notes every sync: when, on which thread, of which file."""

    def __init__(self) -> None:
        self.syncs: list[tuple[float, str, str]] = []

    def sync(self, fd: int) -> None:
        self.syncs.append((time.monotonic(), threading.current_thread().name, fd_path(fd)))
        super().sync(fd)


def test_the_journal_is_synced_at_most_once_a_second_on_the_tracks_thread(tmp_path) -> None:
    card = CountedSyncs()
    with Appliance(tmp_path / "card", segment_seconds=2.0, fs=card) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        first = next_segment(a)
        seen: set[str] = set()
        # 20 reports a second for 5 s, over two rollovers.
        fixes = [moving(13.4 + n * 1e-4) for n in range(100)]
        source.subscribe(lambda _fix: seen.update(journals(a.library)))
        fed = feed(source, fixes, 0.05, time)
        stop(a, tracks)
    clips = [s.seq for s in a.segments if s.seq >= first]
    assert len(clips) >= 3
    assert seen  # a journal was on the card while its clip recorded
    by_journal: dict[str, list[float]] = {}
    for at, thread, path in card.syncs:
        if path.endswith(".part"):
            assert thread == "tracks"  # never the GPS's, the controller's or the recorder's
            by_journal.setdefault(os.path.basename(path), []).append(at)
    assert len(by_journal) >= 2
    total = sum(len(times) for times in by_journal.values())
    span_s = fed[-1][0] - fed[0][0]
    print(f"journal syncs: {total} for {len(fed)} reports over {span_s:.1f} s")
    for name, times in by_journal.items():
        gaps = [b - a_ for a_, b in zip(times, times[1:], strict=False)]
        assert all(g >= JOURNAL_SYNC_S - 0.01 for g in gaps), (name, gaps)
    assert total <= span_s / JOURNAL_SYNC_S + len(by_journal) + 1
    assert journals(a.library) == []  # every clip closed normally: no journal left
    assert set(clips[:-1]) <= set(tracked(a.library))


class FailingJournalSyncs(FileSystem):
    """A card whose syncs of a track journal fail (EIO); all else works."""

    def sync(self, fd: int) -> None:
        if fd_path(fd).endswith(".part"):
            raise OSError(errno.EIO, "Input/output error")
        super().sync(fd)


def test_a_journal_that_cannot_be_synced_is_logged_once_and_stops_nothing(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="appliance.track_recorder")
    with Appliance(tmp_path / "card", segment_seconds=1.0, fs=FailingJournalSyncs()) as a:
        assert a.controller.wait_for_state(State.RECORDING)
        source, tracks = wire_gps(a)
        first = next_segment(a)
        feed(source, [moving(13.4 + n * 1e-4) for n in range(40)], 0.1, time)
        assert a.controller.state is State.RECORDING
        stop(a, tracks)
    clips = [s.seq for s in a.segments if s.seq >= first]
    assert len(clips) >= 3
    failed = [m for m in caplog.messages if "journal" in m and "Input/output error" in m]
    assert len(failed) == 1, caplog.messages
    assert set(clips[:-1]) <= set(tracked(a.library))  # the tracks are written all the same
    assert journals(a.library) == []
    assert a.controller.recorder.frames_dropped == 0


@pytest.fixture(scope="module")
def recorded_card(tmp_path_factory):
    """A card with two clips recorded without GPS: (its folder, their seqs)."""
    root = tmp_path_factory.mktemp("recorded") / "card"
    with Appliance(root, segment_seconds=1.0) as a:
        a.wait_segments(2)
        a.controller.post(Event.STOP_RECORDING)
        assert a.controller.wait_for_state(State.IDLE)
    return root, [s.seq for s in a.segments[:2]]


def restart_with_gps(root) -> Library:
    """Start the appliance on ``root`` with the GPS wired; returns its library once the
    tracks worker has gone through TRACK."""
    with Appliance(root, segment_seconds=60.0, autostart=False) as a:
        _, tracks = wire_gps(a)
        tracks.close(wait_s=20)  # the tidy runs first on its thread; close waits for it
        assert not tracks._worker.alive
    return a.library


def write_journal(root, seq: int, data: bytes) -> str:
    path = os.path.join(root, "DCIM", "TRACK", f"{seq:08d}.part")
    with open(path, "wb") as f:
        f.write(data)
    return path


def lines(fixes: list[Fix]) -> bytes:
    return b"".join(journal_line(0.5 * n, fix) for n, fix in enumerate(fixes))


def test_a_torn_last_line_is_ignored(recorded_card, tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="appliance.track_recorder")
    src, (seq, other) = recorded_card
    root = tmp_path / "card"
    shutil.copytree(src, root)
    fixes = [moving(13.4 + n * 1e-4) for n in range(5)] + [NO_FIX, moving(13.5)]
    whole = lines(fixes)
    torn = journal_line(3.5, moving(13.6))[:-7]  # the power cut came mid-line
    path = write_journal(root, seq, whole + torn)
    track, bad = read_journal(path)
    assert (track.fixes, bad) == (fixes, 0)
    assert track.times_s == [0.5 * n for n in range(len(fixes))]
    library = restart_with_gps(root)
    assert not os.path.exists(path)
    points = read_points(library, seq)
    assert [p["lon"] for p in points] == pytest.approx([f.lon_deg for f in fixes if f.has_fix])
    assert [p["t_s"] for p in points] == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
    assert not caplog.messages  # a torn line is no error
    # Garbage inside a journal (a card that wrote rubbish) skips those lines, said once.
    garbage = b"\xff\x00,,\n1,2\n"
    write_journal(root, other, lines(fixes[:2]) + garbage + lines(fixes[:1]))
    library = restart_with_gps(root)
    assert len(read_points(library, other)) == 3
    assert [m for m in caplog.messages if "2 lines unreadable" in m]


def test_a_journal_of_no_clip_is_deleted_and_a_written_track_is_kept(
    recorded_card, tmp_path
) -> None:
    src, (seq, other) = recorded_card
    root = tmp_path / "card"
    shutil.copytree(src, root)
    track = os.path.join(root, "DCIM", "TRACK")
    orphan = write_journal(root, 99999999, lines([moving(13.4)]))
    # A track written before the power cut, its journal not yet deleted: the track stays.
    written = [os.path.join(track, f"{other:08d}.{ext}") for ext in ("gpx", "srt")]
    gpx = b"<gpx>the track written from memory</gpx>"
    for path, data in zip(written, (gpx, b"1\n"), strict=True):
        with open(path, "wb") as f:
            f.write(data)
    stale = write_journal(root, other, lines([moving(13.4)]))
    library = restart_with_gps(root)
    assert not os.path.exists(orphan) and not os.path.exists(stale)
    # Moved beside its clip (where an older version had left it in TRACK), as it was.
    assert os.listdir(track) == []
    beside = library.track_paths(library.get(other))
    with open(beside[0], "rb") as f:
        assert f.read() == gpx
    assert seq not in tracked(library)


@pytest.fixture
def gpsfake(tmp_path):
    """A real gpsd fed by gpsfake with the drive of tests/nmea.py (see tests/test_gps.py)."""
    from tests.test_gps import START, _gpsfake

    yield from _gpsfake(tmp_path, START)


def test_a_sigkilled_appliance_keeps_the_open_clips_track(tmp_path, gpsfake) -> None:
    """The whole appliance (``dashcam run``) reading a real gpsd, killed with SIGKILL in
    the middle of a clip; the App started again on the card writes the clip's track from
    its journal (the kernel keeps every line written, synced or not)."""
    import signal

    from appliance.config import Config
    from hw.app import App, make_camera
    from tests.harness import SMALL
    from tests.test_crash import CONFIG
    from tests.web_fixtures import free_port

    root = tmp_path / "card"
    config = tmp_path / "dashcam.toml"
    config.write_text(
        CONFIG.replace("segment_seconds = 4.0", "segment_seconds = 60.0")
        + f'gps = "gpsd"\ngps_port = {gpsfake}\n'
    )
    child = run_child(config, root, "--no-web")

    def journaled() -> int:
        found = journals_in(root) if (root / "DCIM" / "TRACK").is_dir() else []
        return len(read_journal(str(root / "DCIM" / "TRACK" / found[0]))[0].points) if found else 0

    try:
        assert wait_until(lambda: journaled() >= 10 or child.poll() is not None, 60), (
            f"{journaled()} points journaled"
        )
        assert child.poll() is None, child.stderr.read1().decode()[-2000:]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    (name,) = journals_in(root)
    seq = int(name[:8])
    kept, bad = read_journal(str(root / "DCIM" / "TRACK" / name))
    assert len(kept.points) >= 10 and bad == 0
    assert [os.path.basename(p)[:8] for p in partials(root)] == [name[:8]]

    again = Config(
        storage_root=str(root),
        **{**SMALL, "segment_seconds": 60.0},
        gps="gpsd",
        gps_port=free_port(),  # no gpsd there any more: retried, never fatal
        power_off_command=("true",),
    )
    app = App(again, None, make_camera("sim", again), simulated=True)
    try:
        app.start()
        assert wait_until(lambda: journals_in(root) == [], 20)
    finally:
        app.request_stop()
        app.stop()
    item = app.library.get(seq)  # the clip recovered, its track beside it
    assert item.path.endswith(".mp4")
    points = read_points(app.library, seq)
    assert [p["lon"] for p in points] == pytest.approx([f.lon_deg for f in kept.points], abs=1e-7)
    assert [p["lat"] for p in points] == pytest.approx([f.lat_deg for f in kept.points], abs=1e-7)
    assert [p["t_s"] for p in points] == pytest.approx(
        [t for t, f in zip(kept.times_s, kept.fixes, strict=True) if f.has_fix], abs=1e-3
    )
