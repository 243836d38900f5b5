"""The export as a core service (issue 22, finding 1): its folder is the card layout's,
building it touches nothing, and its refusals need no web code."""

from __future__ import annotations

import os

import pytest

from appliance import export_service
from appliance.items import DCIM, EXPORT_DIR
from appliance.library import Library
from tests.test_library import FakeClock, FakeDisk, local_time, make_lib


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local_time(2024, 5, 1, 12, 30))


@pytest.fixture
def disk() -> FakeDisk:
    return FakeDisk(total=100 * 2**20, free=100 * 2**20)


def test_the_folder_is_the_card_layouts_and_building_touches_nothing(tmp_path, clock, disk):
    folder = tmp_path / DCIM / EXPORT_DIR
    folder.mkdir(parents=True)
    (folder / "incident-00000001.mp4").write_bytes(b"an earlier run's")
    lib = make_lib(tmp_path, clock, disk)
    service = export_service.Exports(lib, lambda: "km/h")
    assert service.folder == lib.card.export_dir == str(folder)
    assert service.path(7) == str(folder / "incident-00000007.mp4")
    assert os.listdir(folder) == ["incident-00000001.mp4"]  # kept until cleared
    assert len(lib) == 0  # never an item
    service.clear()
    assert os.listdir(folder) == []


def test_clear_never_walks_a_symlinked_folder(tmp_path, clock, disk):
    lib = make_lib(tmp_path / "card", clock, disk)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.mp4").write_bytes(b"not the card's")
    os.symlink(elsewhere, lib.card.export_dir)
    export_service.Exports(lib, lambda: "km/h").clear()
    assert [p.name for p in elsewhere.iterdir()] == ["mine.mp4"]


def test_an_incident_still_recording_or_a_second_export_is_refused_in_words(tmp_path, clock, disk):
    lib = make_lib(tmp_path, clock, disk)
    service = export_service.Exports(lib, lambda: "km/h")
    with pytest.raises(export_service.StillRecording, match="still recording"):
        service.export(3, [], complete=False)
    assert service._one.acquire(blocking=False)  # an export running
    try:
        with pytest.raises(export_service.ExportBusy, match="an export is running"):
            service.export(3, [], complete=True)
    finally:
        service._one.release()
    assert not os.path.exists(lib.card.export_dir)  # nothing made for a refusal


def test_the_controller_clears_old_exports_once_it_has_scanned_the_card(tmp_path):
    from tests.harness import Appliance

    folder = tmp_path / "card" / DCIM / EXPORT_DIR
    folder.mkdir(parents=True)
    (folder / "incident-00000001.mp4").write_bytes(b"old")
    app = Appliance(tmp_path / "card", autostart=False)
    assert isinstance(app.library, Library)
    assert os.listdir(folder) == ["incident-00000001.mp4"]  # built, not started
    with app:
        assert os.listdir(folder) == []
