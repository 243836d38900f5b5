"""Tests for the media library: layout, sequence numbers, paging, protection, pruning."""

from __future__ import annotations

import io
import logging
import os
import threading
import time

import pytest
from PIL import Image

from appliance.errors import NotFound
from appliance.library import (
    Item,
    Kind,
    Library,
    PruneResult,
    SegmentPlan,
    StorageFigures,
)
from appliance.ports import Clock, DiskUsage

MiB = 1024 * 1024


def local_time(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> float:
    """Seconds since the epoch of a local wall-clock time."""
    return time.mktime((year, month, day, hour, minute, 0, 0, 0, -1))


class FakeClock(Clock):
    """A wall clock tests set (and set back) by hand."""

    def __init__(self, wall_s: float) -> None:
        self.wall_s = wall_s
        self.mono_s = 0.0

    def wall(self) -> float:
        return self.wall_s

    def monotonic(self) -> float:
        return self.mono_s


class FakeDisk:
    """A disk of fixed total whose free space tests set by hand."""

    def __init__(self, total: int, free: int) -> None:
        self.total = total
        self.free = free
        self.calls = 0

    def __call__(self, path: str) -> DiskUsage:
        self.calls += 1
        return DiskUsage(self.total, self.free)


def jpeg_bytes(width: int = 1280, height: int = 720, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local_time(2024, 5, 1, 12, 30))


@pytest.fixture
def disk() -> FakeDisk:
    return FakeDisk(total=100 * MiB, free=100 * MiB)


def make_lib(root, clock, disk, **kwargs) -> Library:
    kwargs.setdefault("min_free_bytes", 0)
    kwargs.setdefault("min_free_percent", 0.0)
    lib = Library(root, clock=clock, disk_usage=disk, **kwargs)
    lib.scan()
    return lib


@pytest.fixture
def lib(tmp_path, clock, disk) -> Library:
    return make_lib(tmp_path, clock, disk)


def record(lib: Library, size: int = 1000, duration_s: float | None = 60.0) -> Item:
    """Record one whole segment of ``size`` bytes."""
    plan = lib.begin_segment()
    with open(plan.partial_path, "wb") as f:
        f.write(b"\0" * size)
    return lib.finish_segment(plan, duration_s)


def open_segment(lib: Library, size: int = 1000) -> SegmentPlan:
    plan = lib.begin_segment()
    with open(plan.partial_path, "wb") as f:
        f.write(b"\0" * size)
    return plan


def finish(lib: Library, plan: SegmentPlan) -> Item:
    return lib.finish_segment(plan, 60.0)


def next_seq(lib: Library) -> int:
    """The sequence number the next clip or photo gets, as persisted in DCIM/SEQUENCE."""
    with open(lib.sequence_path) as f:
        return int(f.read())


def files_under(root) -> set[str]:
    found = set()
    for folder, _, names in os.walk(root):
        for name in names:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


# ------------------------------------------------------------------- layout and names


def test_scan_creates_the_layout(tmp_path, lib):
    for sub in ("LOOP", "PROTECTED", "PHOTO", "THUMB", "LOST"):
        assert (tmp_path / "DCIM" / sub).is_dir()
    assert (tmp_path / "DCIM" / "SEQUENCE").read_text().strip() == "1"


def test_segment_names_and_folders(tmp_path, lib):
    plan = lib.begin_segment()
    day_dir = tmp_path / "DCIM" / "LOOP" / "2024-05-01"
    assert plan.seq == 1
    assert plan.final_path == str(day_dir / "00000001_20240501-123000.mp4")
    assert plan.partial_path == plan.final_path + ".partial"
    assert day_dir.is_dir()
    with open(plan.partial_path, "wb") as f:
        f.write(b"x" * 1234)
    item = lib.finish_segment(plan, 59.5)
    assert item == Item(
        seq=1,
        kind=Kind.LOOP,
        path=plan.final_path,
        size=1234,
        day="2024-05-01",
        stamp="20240501-123000",
        thumb=None,
        duration_s=59.5,
    )
    assert item.id == "00000001"
    assert item.name == "00000001_20240501-123000.mp4"
    assert item.is_video
    assert os.path.exists(plan.final_path)
    assert not os.path.exists(plan.partial_path)
    assert (tmp_path / "DCIM" / "SEQUENCE").read_text().strip() == "2"


def test_photo_is_stored_with_a_thumbnail(tmp_path, lib, clock):
    clock.wall_s = local_time(2024, 5, 2, 8, 5)
    data = jpeg_bytes(1920, 1080)
    item = lib.add_photo(data)
    assert item.kind is Kind.PHOTO
    assert not item.is_video
    assert item.path == str(tmp_path / "DCIM/PHOTO/2024-05-02/00000001_20240502-080500.jpg")
    assert item.size == len(data)
    with open(item.path, "rb") as f:
        assert f.read() == data
    assert item.thumb == str(tmp_path / "DCIM/THUMB/00000001.jpg")
    with Image.open(item.thumb) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (320, 180)
    assert lib.get(item.seq) == item
    assert not any(name.endswith(".partial") for name in files_under(tmp_path))


def test_photo_that_is_not_an_image_is_refused(tmp_path, lib):
    before = files_under(tmp_path)
    with pytest.raises(ValueError):
        lib.add_photo(b"not a jpeg")
    assert files_under(tmp_path) == before
    assert lib.counts()[Kind.PHOTO] == 0


def test_set_thumbnail_before_and_after_finish(tmp_path, lib):
    plan = open_segment(lib)
    lib.set_thumbnail(plan.seq, b"thumb-a")
    item = finish(lib, plan)
    assert item.thumb == str(tmp_path / "DCIM/THUMB/00000001.jpg")
    second = record(lib)
    assert second.thumb is None
    lib.set_thumbnail(second.seq, b"thumb-b")
    assert lib.get(second.seq).thumb == str(tmp_path / "DCIM/THUMB/00000002.jpg")
    with open(lib.get(second.seq).thumb, "rb") as f:
        assert f.read() == b"thumb-b"


def test_thumbnails_are_found_by_scan(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    a = record(lib)
    b = record(lib)
    lib.set_thumbnail(a.seq, b"t")
    again = make_lib(tmp_path, clock, disk)
    assert again.get(a.seq).thumb == str(tmp_path / "DCIM/THUMB/00000001.jpg")
    assert again.get(b.seq).thumb is None
    assert again.get(a.seq).size == a.size
    assert again.get(a.seq).duration_s is None  # not kept across restarts


def test_nothing_is_created_before_scan(tmp_path, clock, disk):
    lib = Library(tmp_path, clock=clock, disk_usage=disk)
    with pytest.raises(RuntimeError):
        lib.begin_segment()


# ------------------------------------------------------------------- sequence numbers


def test_sequence_persists_across_libraries(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    seqs = [record(lib).seq, lib.add_photo(jpeg_bytes()).seq, record(lib).seq]
    assert seqs == [1, 2, 3]
    again = make_lib(tmp_path, clock, disk)
    assert record(again).seq == 4
    assert [it.seq for it in again.page()] == [4, 3, 2, 1]


def test_allocated_but_unused_numbers_are_not_reused(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    record(lib)
    lib.begin_segment()  # power cut before the recorder wrote a byte
    again = make_lib(tmp_path, clock, disk)
    assert record(again).seq == 3


def test_deleted_sequence_file_never_repeats_numbers(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    for _ in range(3):
        record(lib)
    lib.add_photo(jpeg_bytes())
    os.unlink(tmp_path / "DCIM" / "SEQUENCE")
    again = make_lib(tmp_path, clock, disk)
    assert record(again).seq == 5


@pytest.mark.parametrize("content", ["2\n", "garbage", ""])
def test_stale_or_broken_sequence_file_never_repeats_numbers(tmp_path, clock, disk, content):
    lib = make_lib(tmp_path, clock, disk)
    for _ in range(6):
        record(lib)
    (tmp_path / "DCIM" / "SEQUENCE").write_text(content)
    again = make_lib(tmp_path, clock, disk)
    assert record(again).seq == 7
    assert (tmp_path / "DCIM" / "SEQUENCE").read_text().strip() == "8"


def test_numbers_of_partials_and_lost_files_are_not_reused(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    record(lib)
    open_segment(lib)  # seq 2 left as a partial
    lost = tmp_path / "DCIM" / "LOST" / "00000009_20240501-123000.mp4.partial"
    lost.write_bytes(b"x")
    os.unlink(tmp_path / "DCIM" / "SEQUENCE")
    again = make_lib(tmp_path, clock, disk)
    assert record(again).seq == 10


def test_persisted_number_ahead_of_the_card_is_kept(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    record(lib)
    (tmp_path / "DCIM" / "SEQUENCE").write_text("500\n")
    again = make_lib(tmp_path, clock, disk)
    assert record(again).seq == 500


def test_concurrent_creation_gives_unique_numbers(lib):
    seqs: list[int] = []
    seqs_lock = threading.Lock()
    errors: list[BaseException] = []
    photo = jpeg_bytes(64, 48)

    def work(make_photos: bool) -> None:
        try:
            for _ in range(15):
                item = lib.add_photo(photo) if make_photos else record(lib, 10)
                with seqs_lock:
                    seqs.append(item.seq)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(seqs) == list(range(1, 61))
    assert [it.seq for it in lib.page(limit=100)] == list(range(60, 0, -1))


# ------------------------------------------------------------------- clock set back


def test_clock_set_back_orders_by_sequence(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    clock.wall_s = local_time(2030, 6, 1)
    old_a = record(lib, 100)
    old_b = record(lib, 100)
    clock.wall_s = 0.0  # the Pi booted without a clock
    new_a = record(lib, 100)
    clock.wall_s = local_time(2001, 1, 1)
    new_b = record(lib, 100)
    assert new_a.stamp < old_a.stamp  # the names lie about the order
    assert [it.seq for it in lib.page()] == [new_b.seq, new_a.seq, old_b.seq, old_a.seq]
    assert lib.days() == [new_b.day, new_a.day, old_a.day]

    # After a restart the order is still by sequence, and pruning takes the truly oldest.
    again = make_lib(tmp_path, clock, disk, min_free_bytes=200)
    assert [it.seq for it in again.page()] == [new_b.seq, new_a.seq, old_b.seq, old_a.seq]
    disk.free = 50
    result = again.prune()
    assert result.deleted == [old_a.seq, old_b.seq]
    assert result.ok
    assert not os.path.exists(old_a.path)
    assert os.path.exists(new_a.path)
    assert record(again).seq == new_b.seq + 1


# ------------------------------------------------------------------- paging


@pytest.fixture
def mixed(lib, clock):
    """12 items over three days: loops, protected clips and photos interleaved."""
    photo = jpeg_bytes(64, 48)
    made: list[Item] = []
    for day in (1, 2, 3):
        clock.wall_s = local_time(2024, 5, day)
        for i in range(4):
            made.append(lib.add_photo(photo) if i == 3 else record(lib, 100))
    lib.protect(2)
    lib.protect(7)
    return lib


def test_page_is_newest_first(mixed):
    items = mixed.page()
    assert [it.seq for it in items] == list(range(12, 0, -1))
    assert [it.seq for it in mixed.page(limit=3)] == [12, 11, 10]


def test_page_filters_by_kind(mixed):
    assert [it.seq for it in mixed.page(kinds={Kind.PHOTO})] == [12, 8, 4]
    assert [it.seq for it in mixed.page(kinds={Kind.PROTECTED})] == [7, 2]
    loops = mixed.page(kinds={Kind.LOOP})
    assert [it.seq for it in loops] == [11, 10, 9, 6, 5, 3, 1]
    assert all(it.kind is Kind.LOOP for it in loops)
    videos = mixed.page(kinds={Kind.LOOP, Kind.PROTECTED})
    assert [it.seq for it in videos] == [11, 10, 9, 7, 6, 5, 3, 2, 1]
    assert mixed.page(kinds=set()) == []


def test_page_filters_by_day(mixed):
    assert [it.seq for it in mixed.page(day="2024-05-02")] == [8, 7, 6, 5]
    assert [it.seq for it in mixed.page(day="2024-05-02", kinds={Kind.LOOP})] == [6, 5]
    assert mixed.page(day="1999-01-01") == []
    assert mixed.days() == ["2024-05-03", "2024-05-02", "2024-05-01"]


@pytest.mark.parametrize(
    ("kinds", "day"),
    [(None, None), ({Kind.LOOP, Kind.PHOTO}, None), (None, "2024-05-02"), ({Kind.LOOP}, None)],
)
def test_cursor_paging_has_no_duplicate_and_no_gap(mixed, kinds, day):
    everything = [it.seq for it in mixed.page(kinds=kinds, day=day, limit=1000)]
    seen: list[int] = []
    before = None
    while True:
        page = mixed.page(kinds=kinds, day=day, before=before, limit=3)
        if not page:
            break
        assert len(page) <= 3
        seen.extend(it.seq for it in page)
        before = page[-1].seq
    assert seen == everything
    assert len(set(seen)) == len(seen)


def test_cursor_survives_deletion_between_pages(mixed):
    first = mixed.page(limit=4)
    assert [it.seq for it in first] == [12, 11, 10, 9]
    mixed.delete(8)
    mixed.delete(9)
    assert [it.seq for it in mixed.page(before=first[-1].seq, limit=3)] == [7, 6, 5]


def test_page_rejects_a_bad_limit(lib):
    with pytest.raises(ValueError):
        lib.page(limit=0)


def test_counts_and_storage(mixed, disk):
    assert mixed.counts() == {Kind.LOOP: 7, Kind.PROTECTED: 2, Kind.PHOTO: 3}
    disk.free = 40 * MiB
    figures = mixed.storage()
    photo_bytes = sum(it.size for it in mixed.page(kinds={Kind.PHOTO}))
    assert figures == StorageFigures(
        total=100 * MiB, free=40 * MiB, loop=700, protected=200, photos=photo_bytes, reserve=0
    )
    assert len(mixed) == 12


def test_reserve_is_the_larger_of_bytes_and_percent(tmp_path, clock, disk):
    by_percent = make_lib(tmp_path, clock, disk, min_free_bytes=1 * MiB, min_free_percent=10.0)
    assert by_percent.storage().reserve == 10 * MiB
    by_bytes = make_lib(tmp_path, clock, disk, min_free_bytes=20 * MiB, min_free_percent=10.0)
    assert by_bytes.storage().reserve == 20 * MiB


# ------------------------------------------------------------------- protect, unprotect, delete


def test_protect_and_unprotect_move_files_and_index(tmp_path, lib):
    item = record(lib, 300)
    lib.set_thumbnail(item.seq, b"t")
    protected = lib.protect(item.seq)
    assert protected.kind is Kind.PROTECTED
    assert protected.path == str(tmp_path / "DCIM/PROTECTED" / item.name)
    assert os.path.exists(protected.path)
    assert not os.path.exists(item.path)
    assert protected.thumb is not None and os.path.exists(protected.thumb)
    assert lib.get(item.seq) == protected
    assert lib.counts() == {Kind.LOOP: 0, Kind.PROTECTED: 1, Kind.PHOTO: 0}
    assert lib.storage().protected == 300
    assert lib.storage().loop == 0
    assert lib.protect(item.seq) == protected  # already protected: no change

    back = lib.unprotect(item.seq)
    assert back.kind is Kind.LOOP
    assert back.path == item.path  # its day folder
    assert os.path.exists(item.path)
    assert not os.path.exists(protected.path)
    assert lib.counts() == {Kind.LOOP: 1, Kind.PROTECTED: 0, Kind.PHOTO: 0}
    assert lib.storage().loop == 300
    assert lib.page(kinds={Kind.LOOP}) == [back]


def test_unprotect_recreates_a_missing_day_folder(tmp_path, lib):
    item = record(lib)
    lib.protect(item.seq)
    os.rmdir(os.path.dirname(item.path))
    assert lib.unprotect(item.seq).path == item.path
    assert os.path.exists(item.path)


def test_photos_cannot_be_protected(lib):
    photo = lib.add_photo(jpeg_bytes(64, 48))
    with pytest.raises(ValueError):
        lib.protect(photo.seq)
    with pytest.raises(ValueError):
        lib.unprotect(photo.seq)
    assert lib.get(photo.seq).kind is Kind.PHOTO


def test_delete_removes_file_thumbnail_and_index(tmp_path, lib):
    clip = record(lib, 500)
    lib.set_thumbnail(clip.seq, b"t")
    photo = lib.add_photo(jpeg_bytes(64, 48))
    thumb = lib.get(clip.seq).thumb
    lib.delete(clip.seq)
    assert not os.path.exists(clip.path)
    assert not os.path.exists(thumb)
    assert not os.path.exists(os.path.dirname(clip.path))  # the emptied day folder goes
    with pytest.raises(NotFound):
        lib.get(clip.seq)
    assert lib.storage().loop == 0
    lib.delete(photo.seq)
    assert not os.path.exists(photo.path)
    assert not os.path.exists(photo.thumb)
    assert lib.page() == []
    assert files_under(tmp_path / "DCIM") == {"SEQUENCE"}


def test_delete_refuses_the_segment_being_written(lib):
    plan = open_segment(lib)
    with pytest.raises(ValueError):
        lib.delete(plan.seq)
    assert os.path.exists(plan.partial_path)


def test_unknown_seq_is_not_found(lib):
    record(lib)
    for call in (lib.get, lib.delete, lib.protect, lib.unprotect):
        with pytest.raises(NotFound) as excinfo:
            call(99)
        assert isinstance(excinfo.value, KeyError)
        assert "00000099" in str(excinfo.value)
    with pytest.raises(NotFound):
        lib.set_thumbnail(99, b"t")
    assert lib.counts()[Kind.LOOP] == 1


# ------------------------------------------------------------------- incident protection


def test_incident_protects_previous_current_and_next(tmp_path, lib):
    older = record(lib)
    previous = record(lib)
    current = open_segment(lib)
    now = lib.protect_incident(current.seq)
    assert [it.seq for it in now] == [previous.seq]
    assert lib.get(previous.seq).kind is Kind.PROTECTED
    assert lib.get(older.seq).kind is Kind.LOOP

    closed = finish(lib, current)
    assert closed.kind is Kind.PROTECTED
    assert closed.path == str(tmp_path / "DCIM/PROTECTED" / os.path.basename(current.final_path))
    assert not os.path.exists(current.final_path)

    nxt = finish(lib, open_segment(lib))
    assert nxt.kind is Kind.PROTECTED
    after = finish(lib, open_segment(lib))
    assert after.kind is Kind.LOOP
    assert [it.seq for it in lib.page(kinds={Kind.PROTECTED})] == [
        nxt.seq,
        closed.seq,
        previous.seq,
    ]


def test_incident_pressed_as_segments_switch_keeps_the_one_already_begun(lib):
    older = record(lib)
    previous = record(lib)
    just_closed = record(lib)
    begun = open_segment(lib)  # the next segment began before the press was handled
    now = lib.protect_incident(just_closed.seq)
    assert sorted(it.seq for it in now) == [previous.seq, just_closed.seq]
    assert lib.get(older.seq).kind is Kind.LOOP
    assert finish(lib, begun).kind is Kind.PROTECTED  # the next segment, not the one after
    assert finish(lib, open_segment(lib)).kind is Kind.LOOP


def test_incident_while_the_previous_segment_is_still_closing(lib):
    previous = open_segment(lib)
    current = open_segment(lib)  # the recorder switched before finishing the previous
    assert lib.protect_incident(current.seq) == []
    assert finish(lib, previous).kind is Kind.PROTECTED
    assert finish(lib, current).kind is Kind.PROTECTED


def test_incident_skips_photos_when_looking_for_the_previous_clip(lib):
    previous = record(lib)
    photo = lib.add_photo(jpeg_bytes(64, 48))
    current = open_segment(lib)
    assert [it.seq for it in lib.protect_incident(current.seq)] == [previous.seq]
    assert lib.get(photo.seq).kind is Kind.PHOTO


def test_recording_stopped_cancels_the_next_segment(lib):
    record(lib)
    current = open_segment(lib)
    lib.protect_incident(current.seq)
    assert finish(lib, current).kind is Kind.PROTECTED
    lib.recording_stopped()
    assert record(lib).kind is Kind.LOOP


def test_incident_without_recording_protects_the_newest_clip(lib):
    older = record(lib)
    newest = record(lib)
    lib.add_photo(jpeg_bytes(64, 48))
    assert [it.seq for it in lib.protect_incident(None)] == [newest.seq]
    assert lib.get(older.seq).kind is Kind.LOOP
    assert record(lib).kind is Kind.LOOP  # nothing pending
    assert lib.protect_incident(None)[0].kind is Kind.PROTECTED


def test_incident_on_an_empty_card_protects_nothing(lib):
    assert lib.protect_incident(None) == []
    plan = open_segment(lib)
    assert lib.protect_incident(plan.seq) == []
    assert finish(lib, plan).kind is Kind.PROTECTED


# ------------------------------------------------------------------- protected quota


def test_protected_quota_deletes_the_oldest_protected(tmp_path, clock):
    disk = FakeDisk(total=1000, free=1000)
    lib = make_lib(tmp_path, clock, disk, protected_quota_percent=30.0)  # 300 bytes
    clips = [record(lib, 100) for _ in range(5)]
    for clip in clips[:3]:
        lib.protect(clip.seq)
    assert lib.storage().protected == 300
    lib.protect(clips[3].seq)
    assert [it.seq for it in lib.page(kinds={Kind.PROTECTED})] == [
        clips[3].seq,
        clips[2].seq,
        clips[1].seq,
    ]
    assert not os.path.exists(os.path.join(tmp_path, "DCIM/PROTECTED", clips[0].name))
    assert lib.storage().protected == 300
    assert lib.get(clips[4].seq).kind is Kind.LOOP


def test_protected_quota_never_deletes_the_clip_being_protected(tmp_path, clock):
    disk = FakeDisk(total=1000, free=1000)
    lib = make_lib(tmp_path, clock, disk, protected_quota_percent=30.0)
    small = record(lib, 100)
    lib.protect(small.seq)
    big = record(lib, 500)  # alone over the quota
    assert lib.protect(big.seq).kind is Kind.PROTECTED
    assert [it.seq for it in lib.page(kinds={Kind.PROTECTED})] == [big.seq]
    assert os.path.exists(lib.get(big.seq).path)


def test_protected_quota_keeps_the_whole_incident(tmp_path, clock):
    disk = FakeDisk(total=1000, free=1000)
    lib = make_lib(tmp_path, clock, disk, protected_quota_percent=30.0)
    old = record(lib, 100)
    lib.protect(old.seq)
    previous = record(lib, 150)
    current = open_segment(lib, 150)
    lib.protect_incident(current.seq)  # 250 protected: under the quota
    assert lib.get(old.seq).kind is Kind.PROTECTED
    closed = finish(lib, current)  # 400: the oldest goes, never the incident's clips
    assert closed.kind is Kind.PROTECTED
    with pytest.raises(NotFound):
        lib.get(old.seq)
    assert lib.get(previous.seq).kind is Kind.PROTECTED
    nxt = finish(lib, open_segment(lib, 150))  # 550: only the incident is left
    assert [it.seq for it in lib.page(kinds={Kind.PROTECTED})] == [
        nxt.seq,
        closed.seq,
        previous.seq,
    ]


# ------------------------------------------------------------------- pruning


def test_prune_frees_until_the_reserve_holds(tmp_path, clock):
    disk = FakeDisk(total=10_000, free=10_000)
    lib = make_lib(tmp_path, clock, disk, min_free_bytes=1000)
    clips = [record(lib, 100) for _ in range(10)]
    disk.free = 1000
    assert lib.prune() == PruneResult([], 0, True)
    disk.free = 750  # needs 250: three clips
    calls = disk.calls
    result = lib.prune()
    assert disk.calls == calls + 1  # free space read once
    assert result == PruneResult([c.seq for c in clips[:3]], 300, True)
    for clip in clips[:3]:
        assert not os.path.exists(clip.path)
        with pytest.raises(NotFound):
            lib.get(clip.seq)
    assert all(os.path.exists(c.path) for c in clips[3:])
    assert lib.storage().loop == 700


def test_prune_keeps_headroom_on_top_of_the_reserve(tmp_path, clock):
    disk = FakeDisk(total=10_000, free=10_000)
    lib = make_lib(tmp_path, clock, disk, min_free_bytes=1000)
    clips = [record(lib, 100) for _ in range(3)]
    disk.free = 1000
    result = lib.prune(headroom_bytes=150)
    assert result == PruneResult([clips[0].seq, clips[1].seq], 200, True)
    disk.free = 1000
    assert lib.prune(headroom_bytes=500) == PruneResult([clips[2].seq], 100, False)


def test_headroom_counts_against_the_loop_quota(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk, loop_quota_bytes=500)
    clips = [record(lib, 100) for _ in range(5)]
    assert lib.prune().deleted == []
    assert lib.prune(headroom_bytes=250).deleted == [clips[0].seq, clips[1].seq, clips[2].seq]


def test_prune_uses_the_percent_reserve(tmp_path, clock):
    disk = FakeDisk(total=10_000, free=10_000)
    lib = make_lib(tmp_path, clock, disk, min_free_bytes=10, min_free_percent=20.0)
    clips = [record(lib, 100) for _ in range(5)]
    disk.free = 1900
    assert lib.prune().deleted == [clips[0].seq]


def test_prune_never_touches_writing_protected_or_photos(tmp_path, clock):
    disk = FakeDisk(total=100_000, free=100_000)
    lib = make_lib(tmp_path, clock, disk, min_free_bytes=50_000)
    photo = lib.add_photo(jpeg_bytes(64, 48))
    kept = record(lib, 100)
    lib.protect(kept.seq)
    loops = [record(lib, 100) for _ in range(3)]
    writing = open_segment(lib, 100)
    disk.free = 0
    result = lib.prune(writing=writing.seq)
    assert result.deleted == [c.seq for c in loops]
    assert result.freed_bytes == 300
    assert result.ok is False  # only protected data, photos and the open segment are left
    assert os.path.exists(writing.partial_path)
    assert os.path.exists(lib.get(kept.seq).path)
    assert os.path.exists(photo.path)
    assert lib.counts() == {Kind.LOOP: 0, Kind.PROTECTED: 1, Kind.PHOTO: 1}
    assert finish(lib, writing).kind is Kind.LOOP


def test_prune_skips_the_writing_seq_it_is_given(tmp_path, clock):
    disk = FakeDisk(total=10_000, free=10_000)
    lib = make_lib(tmp_path, clock, disk, min_free_bytes=1000)
    a = record(lib, 100)
    b = record(lib, 100)
    disk.free = 850
    assert lib.prune(writing=a.seq).deleted == [b.seq]
    assert os.path.exists(a.path)


def test_prune_respects_the_loop_quota(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk, loop_quota_bytes=450)
    clips = [record(lib, 100) for _ in range(7)]
    photo = lib.add_photo(jpeg_bytes(64, 48))
    result = lib.prune()
    assert result.deleted == [c.seq for c in clips[:3]]
    assert result.ok
    assert lib.storage().loop == 400
    assert os.path.exists(photo.path)
    assert lib.prune().deleted == []


def test_prune_on_an_empty_card_reports_not_ok(tmp_path, clock):
    disk = FakeDisk(total=1000, free=10)
    lib = make_lib(tmp_path, clock, disk, min_free_bytes=100)
    assert lib.prune() == PruneResult([], 0, False)


def test_prune_removes_emptied_day_folders_but_not_the_open_one(tmp_path, clock):
    disk = FakeDisk(total=10_000, free=10_000)
    lib = make_lib(tmp_path, clock, disk, min_free_bytes=1000)
    clock.wall_s = local_time(2024, 5, 1)
    old = record(lib, 100)
    clock.wall_s = local_time(2024, 5, 2)
    today = record(lib, 100)
    writing = open_segment(lib, 10)
    disk.free = 0
    lib.prune(writing=writing.seq)
    assert not os.path.exists(os.path.dirname(old.path))
    assert not os.path.exists(today.path)
    assert os.path.isdir(os.path.dirname(writing.partial_path))
    assert lib.days() == []


# ------------------------------------------------------------------- recovery and scan


def test_left_over_partials_are_returned_and_adopted(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    good = open_segment(lib, 700)
    bad = open_segment(lib, 5)
    again = Library(tmp_path, clock=clock, disk_usage=disk, min_free_bytes=0)
    assert again.scan() == [good.partial_path, bad.partial_path]
    assert again.counts()[Kind.LOOP] == 0

    item = again.adopt_partial(good.partial_path, 42.0)
    assert item is not None
    assert item.seq == good.seq
    assert item.kind is Kind.LOOP
    assert item.path == good.final_path
    assert item.size == 700
    assert item.duration_s == 42.0
    assert os.path.exists(good.final_path)
    assert not os.path.exists(good.partial_path)
    assert again.get(good.seq) == item

    assert again.adopt_partial(bad.partial_path, None) is None
    lost = tmp_path / "DCIM" / "LOST" / os.path.basename(bad.partial_path)
    assert lost.exists()
    assert not os.path.exists(bad.partial_path)
    with pytest.raises(NotFound):
        again.get(bad.seq)
    assert record(again).seq == bad.seq + 1
    assert make_lib(tmp_path, clock, disk).scan() == []


def test_unrecoverable_partial_loses_its_thumbnail(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    plan = open_segment(lib)
    lib.set_thumbnail(plan.seq, b"t")
    thumb = tmp_path / "DCIM" / "THUMB" / f"{plan.seq:08d}.jpg"
    assert thumb.exists()
    again = make_lib(tmp_path, clock, disk)
    assert again.adopt_partial(plan.partial_path, None) is None
    assert not thumb.exists()


def test_finish_segment_without_a_file_fails_cleanly(lib):
    plan = lib.begin_segment()
    with pytest.raises(FileNotFoundError):
        lib.finish_segment(plan, 1.0)
    with pytest.raises(ValueError):
        lib.finish_segment(plan, 1.0)  # no longer open
    assert lib.page() == []
    assert record(lib).seq == plan.seq + 1


def test_adopt_partial_refuses_other_names(tmp_path, lib):
    other = tmp_path / "DCIM" / "LOOP" / "notes.txt"
    other.write_text("x")
    with pytest.raises(ValueError):
        lib.adopt_partial(str(other), 1.0)
    assert other.exists()


def test_photo_partials_go_to_lost_at_scan(tmp_path, clock, disk):
    folder = tmp_path / "DCIM" / "PHOTO" / "2024-05-01"
    folder.mkdir(parents=True)
    (folder / "00000003_20240501-120000.jpg.partial").write_bytes(b"half")
    lib = make_lib(tmp_path, clock, disk)
    assert lib.counts()[Kind.PHOTO] == 0
    assert (tmp_path / "DCIM/LOST/00000003_20240501-120000.jpg.partial").exists()
    assert lib.add_photo(jpeg_bytes(64, 48)).seq == 4


def test_unexpected_names_are_ignored_with_a_warning(tmp_path, clock, disk, caplog):
    lib = make_lib(tmp_path, clock, disk)
    clip = record(lib)
    day = os.path.dirname(clip.path)
    strays = [
        os.path.join(day, "IMG_0001.mp4"),
        os.path.join(day, "00000002_20240501-123000.jpg"),  # a photo in the loop
        os.path.join(tmp_path, "DCIM/PROTECTED/readme.txt"),
        os.path.join(tmp_path, "DCIM/THUMB/cover.png"),
    ]
    for path in strays:
        with open(path, "wb") as f:
            f.write(b"x")
    os.mkdir(os.path.join(tmp_path, "DCIM/LOOP/holiday"))
    with caplog.at_level(logging.WARNING, logger="appliance.library"):
        again = make_lib(tmp_path, clock, disk)
    assert [it.seq for it in again.page()] == [clip.seq]
    warned = " ".join(r.getMessage() for r in caplog.records)
    for name in ("IMG_0001.mp4", "00000002_20240501-123000.jpg", "readme.txt", "cover.png"):
        assert name in warned
    assert "holiday" in warned
    assert all(os.path.exists(p) for p in strays)


def test_scan_finds_every_kind(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    a = record(lib, 10)
    b = record(lib, 20)
    lib.protect(b.seq)
    p = lib.add_photo(jpeg_bytes(64, 48))
    again = make_lib(tmp_path, clock, disk)
    assert again.counts() == {Kind.LOOP: 1, Kind.PROTECTED: 1, Kind.PHOTO: 1}
    assert again.get(a.seq).path == a.path
    assert again.get(b.seq).kind is Kind.PROTECTED
    assert again.get(p.seq).thumb == p.thumb
    figures = again.storage()
    assert (figures.loop, figures.protected, figures.photos) == (10, 20, p.size)


# ------------------------------------------------------------------- symlinks on the card


@pytest.fixture
def outside(tmp_path):
    """A file outside the card that a planted symlink points at."""
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_bytes(b"not for the card")
    return path


def test_symlinks_are_skipped_at_scan_in_every_folder(tmp_path, clock, disk, outside, caplog):
    card = tmp_path / "card"
    lib = make_lib(card, clock, disk)
    clip = record(lib)
    photo = lib.add_photo(jpeg_bytes(64, 48))
    dcim = card / "DCIM"
    day = os.path.basename(os.path.dirname(clip.path))
    photo_day = os.path.basename(os.path.dirname(photo.path))
    planted = {
        "LOOP": dcim / "LOOP" / day / "00000050_20240501-123000.mp4",
        "LOOP partial": dcim / "LOOP" / day / "00000051_20240501-123000.mp4.partial",
        "PROTECTED": dcim / "PROTECTED" / "00000052_20240501-123000.mp4",
        "PHOTO": dcim / "PHOTO" / photo_day / "00000053_20240501-123000.jpg",
        "THUMB": dcim / "THUMB" / f"{clip.seq:08d}.jpg",  # a clip's thumbnail replaced
        "LOST": dcim / "LOST" / "00000900_20240501-123000.mp4.partial",
    }
    os.unlink(dcim / "THUMB" / f"{clip.seq:08d}.jpg") if clip.thumb else None
    for link in planted.values():
        os.symlink(outside, link)
    os.symlink(outside.parent, dcim / "LOOP" / "2024-05-02")  # a day folder that is a link
    # A clip replaced by a symlink keeps its name but is no longer indexed.
    os.unlink(clip.path)
    os.symlink(outside, clip.path)
    with caplog.at_level(logging.WARNING, logger="appliance.library"):
        again = make_lib(card, clock, disk)
        partials = again.scan()
    assert [it.seq for it in again.page()] == [photo.seq]
    assert partials == []
    assert again.get(photo.seq).thumb == photo.thumb
    assert next_seq(again) < 900  # a link in LOST does not count either
    warned = " ".join(r.getMessage() for r in caplog.records)
    for link in [*planted.values(), clip.path]:
        assert os.path.basename(link) in warned, link
    assert "2024-05-02" in warned
    assert outside.read_bytes() == b"not for the card"
    assert all(os.path.islink(p) for p in planted.values())  # left alone, not followed


def test_fifos_and_folders_with_media_names_are_skipped_at_scan(tmp_path, clock, disk, caplog):
    """A FIFO would hang whoever opens it (recovery, thumbnails, the jobs thread)."""
    card = tmp_path / "card"
    lib = make_lib(card, clock, disk)
    clip = record(lib)
    dcim = card / "DCIM"
    day = os.path.basename(os.path.dirname(clip.path))
    fifos = [
        dcim / "LOOP" / day / "00000060_20240501-123000.mp4.partial",
        dcim / "PROTECTED" / "00000061_20240501-123000.mp4",
        dcim / "THUMB" / "00000062.jpg",
    ]
    for path in fifos:
        os.mkfifo(path)
    (dcim / "LOOP" / day / "00000063_20240501-123000.mp4").mkdir()
    with caplog.at_level(logging.WARNING, logger="appliance.library"):
        again = make_lib(card, clock, disk)
        partials = again.scan()
    assert [it.seq for it in again.page()] == [clip.seq]
    assert partials == []
    warned = " ".join(r.getMessage() for r in caplog.records)
    for name in [p.name for p in fifos] + ["00000063_20240501-123000.mp4"]:
        assert name in warned, name


@pytest.mark.parametrize("name", ["SEQUENCE", "PROTECTING"])
@pytest.mark.parametrize("planted", ["fifo", "symlink"])
def test_the_librarys_own_files_replaced_never_hang_or_follow(
    tmp_path, clock, disk, outside, name, planted
):
    card = tmp_path / "card"
    lib = make_lib(card, clock, disk)
    clip = record(lib)
    path = card / "DCIM" / name
    path.unlink(missing_ok=True)
    if planted == "fifo":
        os.mkfifo(path)
    else:
        outside.write_text("999999\n")
        os.symlink(outside, path)
    again = make_lib(card, clock, disk)
    done = threading.Event()
    threading.Thread(target=lambda: (again.scan(), done.set()), daemon=True).start()
    assert done.wait(10), f"scan hung on a {planted} as {name}"
    assert [it.seq for it in again.page()] == [clip.seq]
    assert next_seq(again) == clip.seq + 1  # the link's number was not read


@pytest.mark.parametrize("folder", ["LOOP", "PROTECTED", "PHOTO", "THUMB", "LOST", ""])
def test_a_layout_folder_that_is_a_symlink_is_refused(tmp_path, clock, disk, outside, folder):
    card = tmp_path / "card"
    make_lib(card, clock, disk)
    path = card / "DCIM" / folder if folder else card / "DCIM"
    os.rename(path, tmp_path / "moved")
    os.symlink(outside.parent, path)
    lib = Library(card, clock=clock, disk_usage=disk)
    with pytest.raises(OSError, match="symlink"):
        lib.scan()
    assert os.listdir(outside.parent) == ["secret.txt"]


def test_moving_and_deleting_never_follow_a_symlink(tmp_path, clock, disk, outside):
    card = tmp_path / "card"
    lib = make_lib(card, clock, disk)
    a, b = record(lib), record(lib)
    # Replaced by links after the scan: protect moves the link, delete removes the link.
    for item in (a, b):
        os.unlink(item.path)
        os.symlink(outside, item.path)
    moved = lib.protect(a.seq)
    assert os.path.islink(moved.path)
    lib.delete(b.seq)
    lib.delete(a.seq)
    assert not os.path.lexists(moved.path) and not os.path.lexists(b.path)
    assert outside.read_bytes() == b"not for the card"


def test_a_thumbnail_is_never_written_through_a_planted_link(tmp_path, clock, disk, outside):
    card = tmp_path / "card"
    lib = make_lib(card, clock, disk)
    clip = record(lib)
    thumb = card / "DCIM" / "THUMB" / f"{clip.seq:08d}.jpg"
    os.symlink(outside, str(thumb) + ".tmp")
    lib.set_thumbnail(clip.seq, jpeg_bytes(32, 24))
    assert outside.read_bytes() == b"not for the card"
    assert not os.path.islink(thumb) and thumb.read_bytes()[:2] == b"\xff\xd8"


# ------------------------------------------------------------------- LOST is capped


def test_lost_keeps_the_newest_within_its_caps(tmp_path, clock, disk):
    from appliance.card.scan import LOST_MAX_BYTES, LOST_MAX_FILES

    card = tmp_path / "card"
    make_lib(card, clock, disk)
    lost = card / "DCIM" / "LOST"
    for seq in range(1, LOST_MAX_FILES + 6):
        (lost / f"{seq:08d}_20240501-123000.mp4.partial").write_bytes(b"x" * 800)
    lib = make_lib(card, clock, disk)
    names = sorted(os.listdir(lost))
    assert len(names) == LOST_MAX_FILES
    assert names[0].startswith(f"{6:08d}_")  # the five oldest went
    assert next_seq(lib) == LOST_MAX_FILES + 6  # their numbers are still never reused
    # A big one: the bytes cap pushes out the oldest until it holds.
    with open(lost / f"{100:08d}_20240501-123000.mp4.partial", "wb") as fh:
        fh.truncate(LOST_MAX_BYTES - 10 * 800)  # sparse: costs no space
    make_lib(card, clock, disk)
    sizes = [os.path.getsize(lost / n) for n in os.listdir(lost)]
    assert sum(sizes) <= LOST_MAX_BYTES
    assert len(sizes) == 11


def test_an_unrecoverable_partial_moved_to_lost_trims_it(tmp_path, clock, disk):
    from appliance.card.scan import LOST_MAX_FILES

    card = tmp_path / "card"
    lost = card / "DCIM" / "LOST"
    lost.mkdir(parents=True)
    for seq in range(100, 100 + LOST_MAX_FILES):  # earlier kills, already at the cap
        (lost / f"{seq:08d}_20240501-123000.mp4.partial").write_bytes(b"x")
    lib = make_lib(card, clock, disk)
    plan = open_segment(lib)
    assert lib.adopt_partial(plan.partial_path, None) is None
    assert len(os.listdir(lost)) == LOST_MAX_FILES
    assert not (lost / f"{100:08d}_20240501-123000.mp4.partial").exists()
    assert os.path.exists(lost / os.path.basename(plan.partial_path))
