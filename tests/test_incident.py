"""Tests for incidents: which clips an incident takes, its record on the card, its listing."""

from __future__ import annotations

import json
import logging
import os
import threading

import pytest

from appliance.incident import (
    INCIDENTS_FILE,
    INCIDENTS_MAX,
    Incident,
    IncidentKind,
    Incidents,
    Selection,
    select_clips,
)
from appliance.library import Kind, Library
from appliance.ports import FileSystem
from appliance.states import Event, State
from tests.harness import Appliance, wait_until
from tests.test_library import (
    FakeClock,
    FakeDisk,
    finish,
    local_time,
    make_lib,
    open_segment,
    record,
)

MiB = 1024 * 1024


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local_time(2024, 5, 1, 12, 30))


@pytest.fixture
def disk() -> FakeDisk:
    return FakeDisk(total=100 * MiB, free=100 * MiB)


@pytest.fixture
def lib(tmp_path, clock, disk) -> Library:
    return make_lib(tmp_path, clock, disk)


def newest_before(closed: list[int]):
    def find(seq: int | None) -> int | None:
        below = [s for s in closed if seq is None or s < seq]
        return max(below, default=None)

    return find


# ------------------------------------------------------------------- which clips


def test_select_takes_the_previous_the_current_and_awaits_the_next():
    assert select_clips(7, {7}, newest_before([3, 5, 6])) == Selection(
        now=(6,), marked=(7,), next_segment=True, clips=(6, 7)
    )


def test_select_between_two_segments_takes_the_one_already_begun_as_the_next():
    chosen = select_clips(7, {8}, newest_before([5, 6, 7]))
    assert chosen == Selection(now=(6, 7), marked=(8,), next_segment=False, clips=(6, 7, 8))


def test_select_marks_a_previous_segment_that_is_still_closing():
    chosen = select_clips(7, {6, 7}, newest_before([5]))
    assert chosen == Selection(now=(), marked=(6, 7), next_segment=True, clips=(6, 7))


def test_select_without_recording_takes_the_newest_clip_alone():
    assert select_clips(None, set(), newest_before([4, 9])) == Selection(
        now=(9,), marked=(), next_segment=False, clips=(9,)
    )
    assert select_clips(None, set(), newest_before([])) == Selection((), (), False, ())


# ------------------------------------------------------------------- the record


def test_an_incident_is_listed_with_its_kind_time_and_clips(lib, clock):
    record(lib)
    previous = record(lib)
    current = open_segment(lib)
    lib.protect_incident(current.seq)
    (incident,) = lib.incidents()
    assert incident.kind is IncidentKind.MANUAL
    assert incident.wall_s == clock.wall_s
    assert incident.clips == (previous.seq, current.seq)
    assert incident.id == 1 and not incident.complete  # the next segment is awaited

    finish(lib, current)
    nxt = open_segment(lib)
    (incident,) = lib.incidents()
    assert incident.clips == (previous.seq, current.seq, nxt.seq) and not incident.complete
    finish(lib, nxt)
    (incident,) = lib.incidents()
    assert incident.complete
    assert incident.to_dict() == {
        "id": 1,
        "kind": "manual",
        "wall_s": clock.wall_s,
        "clips": [previous.seq, current.seq, nxt.seq],
        "complete": True,
        "peak_g": None,
        "lat": None,
        "lon": None,
    }
    assert all(lib.get(seq).kind is Kind.PROTECTED for seq in incident.clips)


def test_incidents_are_listed_newest_first_and_survive_a_restart(tmp_path, lib, clock, disk):
    first = record(lib)
    lib.protect_incident(None)
    clock.wall_s += 60
    second = record(lib)
    lib.protect_incident(None)
    listed = lib.incidents()
    assert [(i.id, i.clips) for i in listed] == [(2, (second.seq,)), (1, (first.seq,))]

    again = make_lib(tmp_path, clock, disk)
    assert again.incidents() == listed
    record(again)
    again.protect_incident(None)
    assert [i.id for i in again.incidents()] == [3, 2, 1]


def test_an_incident_awaiting_the_next_segment_is_complete_once_recording_stops(lib):
    current = open_segment(lib)
    lib.protect_incident(current.seq)
    finish(lib, current)
    assert not lib.incidents()[0].complete
    lib.recording_stopped()
    assert lib.incidents()[0].complete
    assert lib.incidents()[0].clips == (current.seq,)


def test_a_press_with_nothing_recorded_makes_no_incident(lib):
    assert lib.protect_incident(None) == []
    assert lib.incidents() == []


def test_a_marked_partial_left_by_a_power_cut_stays_in_its_incident(tmp_path, lib, clock, disk):
    previous = record(lib)
    cut = open_segment(lib)
    lib.protect_incident(cut.seq)  # then the power goes: the library is never closed
    again = Library(tmp_path, clock=clock, disk_usage=disk, min_free_bytes=0, min_free_percent=0)
    assert again.scan() == [cut.partial_path]
    adopted = again.adopt_partial(cut.partial_path, 1.5)
    assert adopted.kind is Kind.PROTECTED
    (incident,) = again.incidents()
    assert incident.clips == (previous.seq, cut.seq) and incident.complete
    assert (tmp_path / "DCIM" / "PROTECTING").read_text() == ""


# ------------------------------------------------------------------- a hostile card


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"incidents": 5}', b"[1, 2]", b"\xff\xfe", b'{"other": []}'],
)
def test_an_unreadable_record_starts_the_list_again(tmp_path, clock, disk, caplog, content):
    make_lib(tmp_path, clock, disk)
    (tmp_path / "DCIM" / INCIDENTS_FILE).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        lib = make_lib(tmp_path, clock, disk)
    assert lib.incidents() == []
    assert INCIDENTS_FILE in caplog.text
    record(lib)
    lib.protect_incident(None)
    assert [i.id for i in make_lib(tmp_path, clock, disk).incidents()] == [1]


def test_bad_rows_are_skipped_and_good_ones_kept(tmp_path, clock, disk, caplog):
    make_lib(tmp_path, clock, disk)
    good = {"id": 4, "kind": "manual", "wall_s": 1.5, "clips": [3, 2]}
    rows = [
        good,
        {"id": 0, "kind": "manual", "wall_s": 1.0, "clips": []},
        {"id": 5, "kind": "meteor", "wall_s": 1.0, "clips": []},
        {"id": 6, "kind": "manual", "wall_s": "noon", "clips": []},
        {"id": 7, "kind": "manual", "wall_s": 1.0, "clips": [-1]},
        {"id": True, "kind": "manual", "wall_s": 1.0, "clips": []},
        {"kind": "manual"},
        "nonsense",
    ]
    (tmp_path / "DCIM" / INCIDENTS_FILE).write_text(json.dumps({"incidents": rows}))
    with caplog.at_level(logging.WARNING):
        lib = make_lib(tmp_path, clock, disk)
    assert lib.incidents() == [Incident(4, IncidentKind.MANUAL, 1.5, (2, 3))]
    assert caplog.text.count("skipping a record") == len(rows) - 1


@pytest.mark.parametrize("planted", ["fifo", "symlink"])
def test_the_record_is_never_read_through_a_fifo_or_a_link(tmp_path, clock, disk, planted):
    make_lib(tmp_path, clock, disk)
    path = tmp_path / "DCIM" / INCIDENTS_FILE
    outside = tmp_path / "outside.json"
    outside.write_text(
        json.dumps({"incidents": [{"id": 9, "kind": "manual", "wall_s": 1, "clips": []}]})
    )
    if planted == "fifo":
        os.mkfifo(path)
    else:
        os.symlink(outside, path)
    done = threading.Event()
    result: list = []
    threading.Thread(
        target=lambda: (result.append(make_lib(tmp_path, clock, disk)), done.set()), daemon=True
    ).start()
    assert done.wait(10), f"the scan hung on a {planted}"
    lib = result[0]
    assert lib.incidents() == []
    record(lib)
    lib.protect_incident(None)  # written by rename: the planted thing is replaced, not used
    assert not os.path.islink(path) and path.is_file()
    assert json.loads(outside.read_text())["incidents"][0]["id"] == 9


class _FailingFs(FileSystem):
    """A card that stops taking writes."""

    def __init__(self) -> None:
        self.broken = False

    def sync(self, fd: int) -> None:
        if self.broken:
            raise OSError(5, "Input/output error")
        super().sync(fd)


def test_a_card_that_fails_to_take_the_record_still_protects(tmp_path, clock, disk, caplog):
    fs = _FailingFs()
    lib = make_lib(tmp_path, clock, disk, fs=fs)
    previous = record(lib)
    current = open_segment(lib)
    fs.broken = True
    with caplog.at_level(logging.WARNING):
        now = lib.protect_incident(current.seq)
    assert [it.seq for it in now] == [previous.seq]
    assert "cannot write" in caplog.text
    assert lib.incidents()[0].clips == (previous.seq, current.seq)


def test_the_record_keeps_the_newest_incidents(tmp_path):
    class NoSync(FileSystem):  # thousands of records: the sync is not what is tested
        def sync(self, fd: int) -> None:
            pass

    dcim = tmp_path / "DCIM"
    dcim.mkdir()
    book = Incidents(str(dcim), NoSync())
    book.load((), ())
    for n in range(INCIDENTS_MAX + 5):
        book.begin(IncidentKind.MANUAL, float(n), Selection((n,), (), False, (n,)))
        book.end_moment()
    listed = book.incidents()
    assert len(listed) == INCIDENTS_MAX
    assert listed[0].id == INCIDENTS_MAX + 5 and listed[-1].id == 6
    again = Incidents(str(dcim), NoSync())
    again.load((), ())
    assert again.incidents() == listed


def test_from_dict_reads_what_to_dict_wrote():
    incident = Incident(3, IncidentKind.MANUAL, 12.5, (4, 5, 6))
    assert Incident.from_dict(incident.to_dict()) == incident
    with pytest.raises(ValueError):
        Incident.from_dict({"id": 3, "kind": "manual", "wall_s": 1.0, "clips": "4,5"})


# ------------------------------------------------------------------- through the appliance


def test_the_protect_button_records_an_incident_that_a_restart_lists(tmp_path):
    with Appliance(tmp_path) as app:
        ctl = app.controller
        app.wait_segments(2)
        before = app.segments[-1].seq
        assert wait_until(lambda: (ctl.status.segment_seq or 0) > before, 5)
        app.press(app.panel.protect)
        assert wait_until(lambda: len(app.library.incidents()) == 1, 5)
        assert wait_until(lambda: app.library.incidents()[0].complete, 10)  # the next closed
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)
    (incident,) = app.library.incidents()
    assert incident.kind is IncidentKind.MANUAL
    first = incident.clips[0]
    assert first >= before and incident.clips == (first, first + 1, first + 2)
    assert all(app.library.get(seq).kind is Kind.PROTECTED for seq in incident.clips)
    with Appliance(tmp_path, autostart=False) as again:
        assert again.controller.wait_for_state(State.IDLE)
        assert again.library.incidents() == [incident]


def test_an_impact_is_recorded_with_its_kind_and_peak_and_read_back(lib):
    record(lib)
    current = open_segment(lib)
    lib.protect_incident(current.seq, IncidentKind.IMPACT, peak_g=6.25)
    (incident,) = lib.incidents()
    assert incident.kind is IncidentKind.IMPACT and incident.peak_g == 6.25
    again = Incident.from_dict(incident.to_dict())
    assert again.peak_g == 6.25 and again.kind is IncidentKind.IMPACT
    for bad in (-1, float("nan"), "6", True):
        with pytest.raises(ValueError, match="peak_g"):
            Incident.from_dict({**incident.to_dict(), "peak_g": bad})
