"""The playback API: the incident's export and the ZIP of items
(web/resources/playback.py); the videos themselves are tests/test_web_video.py's."""

from __future__ import annotations

import http.client
import io
import os
import re
import threading
import zipfile
from pathlib import Path

import pytest
from falcon import testing

from appliance.items import EXPORT_DIR
from appliance.ports import DiskUsage, real_disk_usage
from appliance.states import Event
from tests.harness import wait_until
from tests.mp4tools import is_plain_faststart, packet_count
from tests.web_fixtures import dashboard, record_incident
from tests.webclient import serve
from web.resources.playback import MAX_ZIP_ITEMS, Playback

HOSTILE = ("0", "+1", "1_0", "\u0661", "9" * 13, "x", "1.5")


class SwitchableDisk:
    """The card's disk usage, real until the test says how much is free."""

    def __init__(self) -> None:
        self.free: int | None = None

    def __call__(self, path: str) -> DiskUsage:
        real = real_disk_usage(path)
        return real if self.free is None else DiskUsage(real.total, self.free)


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    """(dashboard, client, incident, disk) with one complete incident; recording stopped."""
    tmp = tmp_path_factory.mktemp("playback")
    disk = SwitchableDisk()
    with dashboard(tmp, segment_seconds=2.0, disk_usage=disk) as d:
        yield d, testing.TestClient(d.app), record_incident(d), disk


def playback(d) -> Playback:
    resource = d.app._router.find("/api/items.zip")[0]
    assert isinstance(resource, Playback)
    return resource


def test_exports_of_photos_unknown_or_hostile_ids_are_404s(incident) -> None:
    d, client, inc, _ = incident
    photo = d.appliance.library.add_photo(_jpeg())
    paths = [f"/media/{photo.seq}.mp4", "/api/incidents/99999/export"]
    paths += [f"/api/incidents/{bad}/export" for bad in HOSTILE]
    paths += [f"/api/incidents/{inc.id}/export.zipx", f"/media/{inc.clips[0]}.mp4x"]
    # The HLS playlists and moved fragments are gone: every player gets video.mp4.
    paths += [f"/api/items/{inc.clips[0]}/playlist.m3u8", f"/api/incidents/{inc.id}/playlist.m3u8"]
    paths += [f"/api/incidents/{inc.id}/clips/{inc.clips[1]}/0.m4s"]
    for path in paths:
        resp = client.simulate_get(path)
        assert resp.status_code == 404, path
        assert resp.json["description"], path
    assert client.simulate_post("/api/incidents/99999/export").status_code == 404


def test_the_clip_being_recorded_has_no_video_nor_export_until_closed(tmp_path) -> None:
    with dashboard(tmp_path, segment_seconds=30.0) as d:
        ctl = d.appliance.controller
        client = testing.TestClient(d.app)
        assert wait_until(lambda: ctl.status.segment_seq is not None, 10)
        seq = ctl.status.segment_seq
        resp = client.simulate_get(f"/api/items/{seq}/video.mp4")
        assert resp.status_code == 404
        assert f"{seq:08d}" in resp.json["description"]
        ctl.post(Event.PROTECT_PRESSED)  # the incident waits for this clip to close
        assert wait_until(lambda: d.appliance.library.incidents(), 5)
        [incident] = d.appliance.library.incidents()
        assert not incident.complete
        resp = client.simulate_post(f"/api/incidents/{incident.id}/export")
        assert resp.status_code == 409 and "still recording" in resp.json["description"]


def test_an_incident_exports_to_one_plain_mp4_to_download(incident) -> None:
    d, client, inc, _ = incident
    lib = d.appliance.library
    count = len(lib)
    resp = client.simulate_post(f"/api/incidents/{inc.id}/export")
    assert resp.status_code == 201, resp.text
    body = resp.json
    assert body["url"] == f"/api/incidents/{inc.id}/export"
    assert body["frames"] == sum(packet_count(lib.get(seq).path) for seq in inc.clips)
    folder = os.path.join(lib.root, "DCIM", EXPORT_DIR)
    [name] = [n for n in os.listdir(folder) if n.endswith(".mp4")]  # and its manifest
    path = os.path.join(folder, name)
    assert is_plain_faststart(path) and packet_count(path) == body["frames"]
    assert body["size"] == os.path.getsize(path)
    got = client.simulate_get(body["url"])
    assert got.status_code == 200 and got.content == Path(path).read_bytes()
    assert got.headers["content-disposition"].startswith("attachment;")
    assert body["name"] in got.headers["content-disposition"]
    part = client.simulate_get(body["url"], headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == b"ftypisom"
    assert len(lib) == count  # never an item
    # A second export replaces the first: one file at a time.
    files = sorted(os.listdir(folder))
    assert client.simulate_post(f"/api/incidents/{inc.id}/export").status_code == 201
    assert sorted(os.listdir(folder)) == files


def test_one_export_at_a_time(incident) -> None:
    d, client, inc, _ = incident
    lock = d.appliance.controller.exports._one
    assert lock.acquire(blocking=False)
    try:
        resp = client.simulate_post(f"/api/incidents/{inc.id}/export")
    finally:
        lock.release()
    assert resp.status_code == 409 and "running" in resp.json["description"]
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                client.simulate_post(f"/api/incidents/{inc.id}/export").status_code
            )
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert 201 in results and set(results) <= {201, 409}


def test_an_export_without_room_is_refused_and_records_on(incident) -> None:
    d, client, inc, disk = incident
    disk.free = 1000
    try:
        resp = client.simulate_post(f"/api/incidents/{inc.id}/export")
    finally:
        disk.free = None
    assert resp.status_code == 507
    assert "room" in resp.json["description"]
    folder = os.path.join(d.appliance.library.root, "DCIM", EXPORT_DIR)
    assert os.listdir(folder) == []
    assert client.simulate_get(f"/api/incidents/{inc.id}/export").status_code == 404
    assert all(d.appliance.library.get(seq) for seq in inc.clips)  # protected: kept


def test_old_exports_are_deleted_at_start(tmp_path) -> None:
    folder = tmp_path / "card" / "DCIM" / EXPORT_DIR
    folder.mkdir(parents=True)
    (folder / "incident-00000001.mp4").write_bytes(b"old")
    outside = tmp_path / "keep.mp4"
    outside.write_bytes(b"not ours")
    with dashboard(tmp_path, autostart=False):
        assert os.listdir(folder) == []
    folder.rmdir()
    folder.symlink_to(tmp_path)  # a symlinked folder is never walked
    with dashboard(tmp_path, autostart=False):
        assert outside.read_bytes() == b"not ours"


def test_a_zip_holds_the_items_byte_for_byte(incident) -> None:
    d, client, inc, _ = incident
    lib = d.appliance.library
    items = [lib.get(seq) for seq in inc.clips]
    ids = ",".join(str(i.seq) for i in items)
    resp = client.simulate_get("/api/items.zip", params={"ids": ids + f",{items[0].seq}"})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    disposition = resp.headers["content-disposition"]
    assert re.fullmatch(
        rf'attachment; filename="dashcam_\d{{8}}-\d{{6}}_{len(items)}items\.zip"', disposition
    )
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        names = archive.namelist()
        assert len(names) == len(items)
        for name, item in zip(names, items, strict=True):
            assert name.endswith(f"_{item.id}.mp4")
            assert archive.read(name) == Path(item.path).read_bytes()


@pytest.mark.parametrize(
    ("ids", "said"),
    [
        ("", "ids"),
        ("1,,2", "ids"),
        ("abc", "ids"),
        ("1;2", "ids"),
        ("9" * 13, "ids"),
        (",".join(str(n) for n in range(1, MAX_ZIP_ITEMS + 2)), f"at most {MAX_ZIP_ITEMS}"),
    ],
)
def test_bad_zip_ids_are_a_400_that_says_why(incident, ids, said) -> None:
    _, client, _, _ = incident
    resp = client.simulate_get("/api/items.zip", query_string=f"ids={ids}")
    assert resp.status_code == 400, ids
    assert said in resp.json["description"]
    assert client.simulate_get("/api/items.zip").status_code == 400


def test_a_zip_naming_a_missing_item_is_a_404_that_names_it(incident) -> None:
    _, client, inc, _ = incident
    resp = client.simulate_get("/api/items.zip", params={"ids": f"{inc.clips[0]},777777"})
    assert resp.status_code == 404 and "00777777" in resp.json["description"]


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(out, "JPEG")
    return out.getvalue()


def test_the_zip_is_sent_by_the_real_server_with_its_length_known_up_front(incident) -> None:
    d, _, inc, _ = incident
    items = [d.appliance.library.get(seq) for seq in inc.clips]
    with serve(d.app) as addr:
        conn = http.client.HTTPConnection(*addr, timeout=20)
        conn.request("GET", "/api/items.zip?ids=" + ",".join(str(i.seq) for i in items))
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
    assert resp.status == 200
    # Planned from the card's sizes before the first byte: the phone shows the progress.
    assert int(resp.getheader("Content-Length")) == len(body)
    assert resp.getheader("Transfer-Encoding") is None
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert [archive.read(n) for n in archive.namelist()] == [
            Path(i.path).read_bytes() for i in items
        ]


def test_an_export_folder_swapped_for_a_symlink_is_refused_and_not_written(
    incident, tmp_path
) -> None:
    d, client, inc, _ = incident
    folder = os.path.join(d.appliance.library.root, "DCIM", EXPORT_DIR)
    os.makedirs(folder, exist_ok=True)  # an earlier export made it; this test may run alone
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.mp4").write_bytes(b"not the card's")
    os.symlink(elsewhere, folder)
    try:
        resp = client.simulate_post(f"/api/incidents/{inc.id}/export")
        assert resp.status_code == 503 and "symbolic link" in resp.json["description"]
        assert client.simulate_get(f"/api/incidents/{inc.id}/export").status_code == 404
    finally:
        os.unlink(folder)
    assert [p.name for p in elsewhere.iterdir()] == ["mine.mp4"]
