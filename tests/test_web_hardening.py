"""Hostile HTTP against the dashboard on a real Waitress server over loopback.

One test (or more) per finding of the hardening issue: DNS rebinding (Host allowlist),
login back-off, broken JSON and Unicode, aliased ids, huge Range digits, validators and
conditional requests, symlinks on the card, body limits, session expiry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import select
import socket
import stat
import threading
import time
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote

import pytest

from appliance.library import Kind
from appliance.states import Event, State
from tests.harness import wait_until
from tests.web_fixtures import dashboard
from tests.webclient import Stream, request, serve
from web import security
from web.security import MAX_BODY_BYTES, SESSION_COOKIE
from web.server import (
    MAX_CONNECTIONS_PER_CLIENT,
    PIPELINE_BACKLOG_BYTES,
    WAITRESS_OPTIONS,
    Channel,
    RequestBudget,
    close_server,
    make_server,
)

PASSWORD = "correct horse"
JSON = {"Content-Type": "application/json"}


class FakeMonotonic:
    """The dashboard's session and back-off clock, moved by the test."""

    def __init__(self) -> None:
        self.now_s = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now_s

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now_s += seconds


@contextlib.contextmanager
def served(tmp_path, **kw):
    """A recording appliance, its dashboard on Waitress; yields (dashboard, (host, port))."""
    kw.setdefault("autostart", True)
    with dashboard(tmp_path, **kw) as d:
        if kw["autostart"]:
            assert d.appliance.controller.wait_for_state(State.RECORDING)
        with serve(d.app) as addr:
            yield d, addr


@pytest.fixture
def open_mode(tmp_path):
    with served(tmp_path / "open", allowed_hosts=None) as (d, addr):
        yield d, addr


@pytest.fixture
def clock():
    return FakeMonotonic()


@pytest.fixture
def locked(tmp_path, clock):
    with served(tmp_path / "locked", web_password=PASSWORD, monotonic=clock) as (d, addr):
        yield d, addr


@pytest.fixture
def clip(open_mode):
    d, addr = open_mode
    d.appliance.wait_segments(1)
    item = d.appliance.library.page(kinds={Kind.LOOP}, limit=1)[0]
    with open(item.path, "rb") as f:
        return item, f.read()


def login(addr, password=PASSWORD, source=None):
    body = json.dumps({"password": password}).encode()
    return request(addr, "/api/session", method="POST", headers=JSON, body=body, source=source)


def cookie_of(resp) -> dict[str, str]:
    token = resp.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


def description(resp) -> str:
    return json.loads(resp.body)["description"]


# --- DNS rebinding: the Host allowlist ----------------------------------------------------


def test_a_foreign_host_is_refused_with_421_even_with_a_matching_origin(open_mode):
    d, addr = open_mode
    ctl = d.appliance.controller
    port = addr[1]
    for host in (
        f"evil.example:{port}",
        "evil.example",
        f"127.0.0.1.evil.example:{port}",
        f"localhost.evil.example:{port}",
        f"{socket.gethostname()}.evil.example",
        "127.1",  # not a dotted quad; a browser would have sent 127.0.0.1
        f"127.0.0.1:{port}@evil.example",
        "[::1",
        f"[::1]x:{port}",
        f"127.0.0.1:{port}0000",
        f"127.0.0.1:{port}:{port}",
        "local\u0125ost",
        " ",
    ):
        origin = {"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
        stop = request(addr, "/api/recording/stop", method="POST", headers=origin, host=host)
        assert stop.status == 421, host
        assert "does not answer to the host" in description(stop)
        assert stop.headers["x-content-type-options"] == "nosniff"
        for path in ("/api/status", "/api/items", "/", "/api/health"):
            assert request(addr, path, host=host).status == 421, (host, path)
    assert request(addr, "/api/status", host=None).status == 421  # no Host at all
    assert not ctl.wait_for_state(State.IDLE, timeout_s=0.3)  # still recording


def test_its_own_names_and_ip_literals_pass_with_or_without_a_port(open_mode):
    d, addr = open_mode
    port = addr[1]
    name = socket.gethostname()
    for host in (
        "127.0.0.1",
        "192.168.4.1",
        "localhost",
        "LOCALHOST",
        name,
        name.upper(),
        f"{name}.local",
        f"{name}.local.",
        "[::1]",
        "[fe80::1]",
    ):
        for with_port in (host, f"{host}:{port}"):
            assert request(addr, "/api/health", host=with_port).status == 200, with_port
    own = f"{name}.local:{port}"
    headers = {"Origin": f"http://{own}", "Sec-Fetch-Site": "same-origin"}
    assert request(addr, "/api/photos", method="POST", headers=headers, host=own).status == 202


def test_a_port_past_65535_is_no_port_of_this_appliance(open_mode):
    d, addr = open_mode
    for host in ("127.0.0.1:99999", "localhost:65536", "[::1]:70000", "localhost:00000080000"):
        assert request(addr, "/api/health", host=host).status == 421, host
    assert request(addr, "/api/health", host="localhost:65535").status == 200


def test_allowed_host_names_are_injectable(tmp_path):
    with served(tmp_path, autostart=False, allowed_hosts=["dashcam.example"]) as (d, addr):
        assert request(addr, "/api/health", host="dashcam.example:8080").status == 200
        assert request(addr, "/api/health", host=socket.gethostname()).status == 421
        assert request(addr, "/api/health", host="localhost").status == 421
        assert request(addr, "/api/health", host="10.0.0.7").status == 200


# --- login back-off -----------------------------------------------------------------------


def test_a_burst_of_wrong_passwords_is_throttled_per_address(locked, clock):
    d, addr = locked
    answers = [login(addr, f"guess{i}").status for i in range(40)]
    free = security.LOGIN_FREE_FAILURES
    assert answers[: free - 1] == [401] * (free - 1)
    assert answers[free - 1 :] == [429] * (40 - free + 1), answers  # checked 5 of 40
    refused = login(addr, "guess")
    assert int(refused.headers["retry-after"]) >= 1
    assert "too many wrong passwords" in description(refused)
    # While it waits even the right password is not looked at.
    assert login(addr).status == 429
    # Another client (another loopback address) is not slowed down by this one.
    assert login(addr, "nope", source="127.0.0.2").status == 401
    assert login(addr, source="127.0.0.2").status == 204


def test_the_wait_doubles_with_each_further_wrong_password_and_a_right_one_resets(locked, clock):
    d, addr = locked
    free = security.LOGIN_FREE_FAILURES
    for _ in range(free - 1):
        assert login(addr, "wrong").status == 401
    waits = []
    for _ in range(12):
        resp = login(addr, "wrong")
        assert resp.status == 429
        waits.append(int(resp.headers["retry-after"]))
        assert login(addr, "wrong").status == 429  # not counted: not even looked at
        clock.advance(waits[-1] - 0.5)
        assert login(addr, "wrong").status == 429
        clock.advance(0.5)
    assert waits[:5] == [1, 2, 4, 8, 16]
    assert max(waits) == security.LOGIN_MAX_DELAY_S
    assert login(addr).status == 204  # the wait is over: the right password gets in
    for _ in range(free - 1):  # ... and the count starts again from zero
        assert login(addr, "wrong").status == 401


# --- JSON and Unicode ---------------------------------------------------------------------


def test_a_lone_surrogate_or_deep_nesting_is_a_400_with_a_message(locked):
    d, addr = locked
    for body in (
        b'{"password": "\\ud800"}',
        b'{"password": "abc\\udfff"}',
        b'{"\\ud83d": 1}',
        b'{"password": ' + b"[" * 1500 + b"]" * 1500 + b"}",
        b'{"password": ' + b'{"a":' * 1500 + b"1" + b"}" * 1500 + b"}",
        b'{"password": ' + b"[" * 40 + b"]" * 40 + b"}",
    ):
        resp = request(addr, "/api/session", method="POST", headers=JSON, body=body)
        assert resp.status == 400, body[:40]
        assert "not valid JSON" in description(resp)
        assert any(w in description(resp) for w in ("surrogate", "nested")), description(resp)
    # Invalid UTF-8 and broken JSON too.
    for body in (b'{"password": "\xff"}', b'{"password": ', b"\xed\xa0\x80"):
        assert request(addr, "/api/session", method="POST", headers=JSON, body=body).status == 400


@pytest.mark.parametrize(
    "number",
    ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1" * 40, "-" + "9" * 20, "9" * 5000],
)
def test_non_finite_numbers_and_huge_integers_are_refused_before_anything_is_saved(
    open_mode, number
):
    d, addr = open_mode
    own = {**JSON, "Origin": f"http://{addr[0]}:{addr[1]}"}
    before = d.appliance.controller.config
    for key in ("segment_seconds", "min_free_percent", "led_brightness", "min_free_bytes"):
        body = f'{{"{key}": {number}}}'.encode()
        resp = request(addr, "/api/settings", method="PUT", headers=own, body=body)
        assert resp.status == 400, (key, number)
        assert "not valid JSON" in description(resp)
    body = f'{{"epoch_ms": {number}}}'.encode()
    assert request(addr, "/api/system/clock", method="POST", headers=own, body=body).status == 400
    assert not d.config_path.exists()
    assert d.appliance.controller.config == before
    assert d.appliance.controller.state is State.RECORDING


def test_the_json_reader_accepts_what_is_fine():
    data = security.parse_json(b'{"a": [1, 2.5, -3e2, "\\u00e9\\ud83d\\ude00", {"b": null}]}')
    assert data == {"a": [1, 2.5, -300.0, "\u00e9\U0001f600", {"b": None}]}
    assert security.parse_json(str(2**63 - 1).encode()) == 2**63 - 1
    nested = b"[" * security.MAX_JSON_DEPTH + b"]" * security.MAX_JSON_DEPTH
    assert security.parse_json(nested) is not None
    with pytest.raises(ValueError, match="nested"):
        security.parse_json(b"[" + nested + b"]")
    with pytest.raises(ValueError, match="too large"):
        security.parse_json(str(2**63).encode())


# --- ids and ranges -----------------------------------------------------------------------


def _digits(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) for c in text)


def test_ids_are_ascii_digits_only_and_never_alias_a_real_item(open_mode, clip):
    d, addr = open_mode
    item, _ = clip
    seq = str(item.seq)
    assert request(addr, f"/media/{seq}").status == 200
    aliases = [
        f"{seq}%0a",
        f"{seq}%0d",
        f"{seq}%0d%0a",
        f"{seq}%20",
        f"%20{seq}",
        f"+{seq}",
        f"{seq}_0"[: len(seq) + 2],
        quote(_digits(seq, 0x660)),  # Arabic-Indic
        quote(_digits(seq, 0x6F0)),  # Extended Arabic-Indic
        quote(_digits(seq, 0x966)),  # Devanagari
        quote(_digits(seq, 0xFF10)),  # full-width
        quote(_digits(seq, 0x1D7CE)),  # mathematical bold
    ]
    for alias in aliases:
        for path in (f"/media/{alias}", f"/media/{alias}/thumb", f"/api/items/{alias}"):
            resp = request(addr, path)
            assert resp.status == 404, path
            assert "1 to 12 digits" in description(resp)
        own = {"Origin": f"http://{addr[0]}:{addr[1]}"}
        gone = request(addr, f"/api/items/{alias}", method="DELETE", headers=own)
        assert gone.status == 404
    assert request(addr, f"/media/{seq}").status == 200  # nothing was deleted
    for query in (
        "day=" + quote("2025-01-0\u0661"),
        "day=2025-01-01%0a",
        "before=" + quote(_digits("10", 0x660)),
        "limit=" + quote(_digits("5", 0xFF10)),
        "limit=5%0a",
        "before=1_0",
    ):
        resp = request(addr, f"/api/items?{query}")
        assert resp.status == 400, query
        assert "expected" in description(resp)


def test_range_digits_are_bounded_and_never_answer_500(open_mode, clip):
    d, addr = open_mode
    item, data = clip
    size = len(data)
    huge = "9" * 5000
    cases = {
        f"bytes={huge}-": (416, None),
        f"bytes={huge}-{huge}": (416, None),
        f"bytes=0-{huge}": (206, data),
        f"bytes=-{huge}": (206, data),
        f"bytes={'0' * 5000}5-9": (206, data[5:10]),
        f"bytes=10-{'0' * 5000}19": (206, data[10:20]),
        "bytes=\u0661-\u0669": (200, data),  # non-ASCII digits: not a range we know
        "bytes=0-1, 5-6": (200, data),
        "items=0-1": (200, data),
    }
    for header, (status, body) in cases.items():
        resp = request(addr, f"/media/{item.seq}", headers={"Range": header})
        assert resp.status == status, header[:40]
        if body is not None:
            assert resp.body == body, header[:40]
        if status == 416:
            assert resp.headers["content-range"] == f"bytes */{size}"


# --- validators, conditional requests, nosniff --------------------------------------------


def test_media_has_etag_and_last_modified_and_answers_304(open_mode, clip):
    d, addr = open_mode
    item, data = clip
    for path in (f"/media/{item.seq}", f"/media/{item.seq}/thumb"):
        if path.endswith("thumb"):
            assert wait_until(lambda: d.appliance.library.get(item.seq).thumb is not None, 10)
        first = request(addr, path)
        assert first.status == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 4
        when = parsedate_to_datetime(modified)
        assert abs(when.timestamp() - os.stat(d.appliance.library.get(item.seq).path).st_mtime) < 5
        for headers in (
            {"If-None-Match": etag},
            {"If-None-Match": f'"other", W/{etag}'},
            {"If-None-Match": "*"},
            {"If-Modified-Since": modified},
            {"If-Modified-Since": format_datetime(when.replace(year=when.year + 1), usegmt=True)},
        ):
            again = request(addr, path, headers=headers)
            assert again.status == 304, headers
            assert again.body == b"" and again.headers["etag"] == etag
        for headers in (
            {"If-None-Match": '"other"'},
            {"If-None-Match": '"other"', "If-Modified-Since": modified},  # tags win
            {"If-Modified-Since": format_datetime(when.replace(year=2001), usegmt=True)},
            {"If-Modified-Since": "not a date"},
        ):
            assert request(addr, path, headers=headers).status == 200, headers


def test_if_range_with_a_stale_validator_serves_the_whole_file(open_mode, clip):
    d, addr = open_mode
    item, data = clip
    path = f"/media/{item.seq}"
    head = request(addr, path, method="HEAD")
    etag, modified = head.headers["etag"], head.headers["last-modified"]
    rng = {"Range": "bytes=100-199"}
    for validator in (etag, modified):
        part = request(addr, path, headers={**rng, "If-Range": validator})
        assert part.status == 206 and part.body == data[100:200], validator
    old = format_datetime(parsedate_to_datetime(modified).replace(year=2001), usegmt=True)
    for validator in ('"stale"', f"W/{etag}", old, "garbage"):
        whole = request(addr, path, headers={**rng, "If-Range": validator})
        assert whole.status == 200 and whole.body == data, validator
        assert "content-range" not in whole.headers


def test_every_response_says_nosniff(open_mode, clip):
    d, addr = open_mode
    item, _ = clip
    for path, method in (
        ("/api/status", "GET"),
        ("/api/nothing", "GET"),
        (f"/media/{item.seq}", "GET"),
        (f"/media/{item.seq}", "HEAD"),
        ("/", "GET"),
        ("/static/app.css", "GET"),
        ("/api/status", "DELETE"),
    ):
        resp = request(addr, path, method=method)
        assert resp.headers.get("x-content-type-options") == "nosniff", (method, path)
    with Stream(addr, "/api/events") as events:
        assert events.headers["x-content-type-options"] == "nosniff"
    # Waitress's own answers (a request it cannot parse, a body too large) too.
    with socket.create_connection(addr, timeout=10) as sock:
        sock.sendall(b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400") and b"X-Content-Type-Options: nosniff" in answer


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


# --- symlinks on the card -----------------------------------------------------------------


def test_a_symlink_planted_for_a_clip_or_thumbnail_is_refused(open_mode, tmp_path):
    d, addr = open_mode
    lib = d.appliance.library
    d.appliance.wait_segments(3)
    assert wait_until(lambda: all(i.thumb for i in lib.page(kinds={Kind.LOOP}, limit=3)), 10)
    a, b, c = lib.page(kinds={Kind.LOOP}, limit=3)
    os.replace(_symlink_to("/etc/passwd", a.path), a.path)
    os.replace(_symlink_to("/etc/passwd", b.thumb), b.thumb)
    fifo = c.path + ".fifo"
    os.mkfifo(fifo)
    os.replace(fifo, c.path)
    for path in (f"/media/{a.seq}", f"/media/{b.seq}/thumb", f"/media/{c.seq}"):
        for method in ("GET", "HEAD"):
            resp = request(addr, path, method=method)
            assert resp.status == 404, (method, path)
            assert b"root:" not in resp.body
    assert "symbolic link" in description(request(addr, f"/media/{a.seq}"))
    assert "regular file" in description(request(addr, f"/media/{c.seq}"))
    assert d.appliance.controller.state is State.RECORDING


def test_a_folder_swapped_for_a_symlink_is_refused(open_mode, tmp_path):
    d, addr = open_mode
    ctl, lib = d.appliance.controller, d.appliance.library
    d.appliance.wait_segments(1)
    ctl.post(Event.STOP_RECORDING)  # nothing is written while the folder is swapped
    assert ctl.wait_for_state(State.IDLE)
    item = lib.page(kinds={Kind.LOOP}, limit=1)[0]
    assert request(addr, f"/media/{item.seq}").status == 200
    # The clip's day folder becomes a symlink to a folder off the card with the same name.
    elsewhere = tmp_path / "elsewhere"
    os.makedirs(elsewhere)
    (elsewhere / os.path.basename(item.path)).write_bytes(b"not from the card")
    day_dir = os.path.dirname(item.path)
    os.replace(day_dir, day_dir + ".real")
    try:
        os.symlink(elsewhere, day_dir)
        resp = request(addr, f"/media/{item.seq}")
        assert resp.status == 404 and b"not from the card" not in resp.body
        assert "symbolic link" in description(resp)
    finally:
        os.unlink(day_dir)
        os.replace(day_dir + ".real", day_dir)
    assert request(addr, f"/media/{item.seq}").status == 200


def _symlink_to(target: str, beside: str) -> str:
    link = beside + ".link"
    os.symlink(target, link)
    assert stat.S_ISLNK(os.lstat(link).st_mode)
    return link


# --- request bodies -----------------------------------------------------------------------


def test_an_oversized_body_gets_its_413_from_the_headers_before_it_is_sent(open_mode):
    d, addr = open_mode
    with socket.create_connection(addr, timeout=10) as sock:
        sock.sendall(
            b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
        )
        answer = _read_all(sock)  # the server answers and closes without the body
    assert answer.startswith(b"HTTP/1.1 413"), answer[:60]
    # Chunked: refused as soon as the chunks pass the limit, long before the end.
    with socket.create_connection(addr, timeout=10) as sock:
        sock.sendall(
            b"PUT /api/settings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        # One chunk declared as 1 MiB; a bit over the limit of it is sent, then nothing.
        sock.sendall(b"100000\r\n" + b" " * (MAX_BODY_BYTES + 2048))
        answer = _read_all(sock)  # no last chunk was sent: the body never ended
    assert answer.startswith(b"HTTP/1.1 413"), answer[:60]
    # A body within the limit is still fine, and the limit is below Waitress's spill to a
    # temporary file: no body ever reaches the card's file system.
    body = json.dumps({"segment_seconds": 2, "pad": " " * (MAX_BODY_BYTES - 100)}).encode()
    own = {**JSON, "Origin": f"http://{addr[0]}:{addr[1]}"}
    resp = request(addr, "/api/settings", method="PUT", headers=own, body=body)
    assert resp.status == 422 and "pad" in description(resp)
    server = make_server(d.app, host="127.0.0.1", port=0, threads=2)
    try:
        assert MAX_BODY_BYTES < server.adj.max_request_body_size < server.adj.inbuf_overflow
        assert server.adj.max_request_body_size == WAITRESS_OPTIONS["max_request_body_size"]
    finally:
        close_server(server, running=False)


# --- sessions -----------------------------------------------------------------------------


def test_sessions_expire_when_idle_and_after_their_maximum_age(locked, clock):
    d, addr = locked
    assert request(addr, "/api/status").status == 401
    cookie = cookie_of(login(addr))
    assert request(addr, "/api/status", headers=cookie).status == 200
    clock.advance(security.SESSION_IDLE_S + 1)
    assert request(addr, "/api/status", headers=cookie).status == 401
    # Used often enough it still ends SESSION_MAX_S after its login.
    resp = login(addr)
    assert f"Max-Age={int(security.SESSION_MAX_S)}" in resp.headers["set-cookie"]
    cookie = cookie_of(resp)
    step_s = security.SESSION_IDLE_S / 2
    for _ in range(int(security.SESSION_MAX_S // step_s) - 1):
        clock.advance(step_s)
        assert request(addr, "/api/status", headers=cookie).status == 200
    clock.advance(step_s + 1)
    assert request(addr, "/api/status", headers=cookie).status == 401


def test_a_password_change_ends_every_session(locked):
    d, addr = locked
    ctl = d.appliance.controller
    cookies = [cookie_of(login(addr)) for _ in range(3)]
    assert all(request(addr, "/api/status", headers=c).status == 200 for c in cookies)
    # The running config's password changes (apply_config takes only the live keys).
    ctl.config = dataclasses.replace(ctl.config, web_password="another one")
    assert all(request(addr, "/api/status", headers=c).status == 401 for c in cookies)
    assert login(addr).status == 401
    fresh = cookie_of(login(addr, "another one"))
    assert request(addr, "/api/status", headers=fresh).status == 200
    # Back to the old password: the sessions of before do not come back.
    ctl.config = dataclasses.replace(ctl.config, web_password=PASSWORD)
    assert all(request(addr, "/api/status", headers=c).status == 401 for c in cookies)
    assert request(addr, "/api/status", headers=fresh).status == 401


def test_logout_clears_the_cookie_with_samesite_strict(locked):
    d, addr = locked
    cookie = cookie_of(login(addr))
    own = {**cookie, "Origin": f"http://{addr[0]}:{addr[1]}"}
    out = request(addr, "/api/session", method="DELETE", headers=own)
    assert out.status == 204
    set_cookie = out.headers["set-cookie"]
    assert "SameSite=Strict" in set_cookie and "SameSite=Lax" not in set_cookie
    assert f"{SESSION_COOKIE}=;" in set_cookie.replace('=""', "=")
    expires = parsedate_to_datetime(set_cookie.split("expires=")[1].split(";")[0])
    assert expires <= parsedate_to_datetime(out.headers["date"])  # the browser drops it now
    assert request(addr, "/api/status", headers=cookie).status == 401


def test_sessions_made_under_a_password_do_not_survive_its_removal_and_return():
    sessions = security.Sessions(FakeMonotonic())
    token = sessions.new("a")
    assert sessions.valid(token, "a")
    assert not sessions.valid(token, None)
    assert not sessions.valid(token, "a") and len(sessions) == 0


# --- pipelining ---------------------------------------------------------------------------


def test_pipelined_requests_are_all_answered_in_order_once_the_client_reads(open_mode, clip):
    d, addr = open_mode
    item, data = clip
    # More than the kernel's send buffer takes (up to 4 MiB) in the first 8 KiB that Waitress
    # reads (short requests: about 180 of them), and the backlog: some park.
    n = (6 * 2**20 + 4 * PIPELINE_BACKLOG_BYTES) // len(data) + 20
    plain = f"GET /media/{item.seq} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    ranged = f"GET /media/{item.seq} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=%d-\r\n\r\n"
    payload = "".join(ranged % i if i % 10 == 9 else plain for i in range(n)).encode()
    payload += b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    parks = Channel.parks_total
    with socket.socket() as sock:
        # A small window (chosen at connect) keeps the kernel's buffers small too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.settimeout(10)
        sock.connect(addr)
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        assert wait_until(lambda: Channel.parks_total > parks, 10)  # unread: it parked
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        answer = _read_all(sock)
        sender.join(10)
    parts = answer.split(b"HTTP/1.1 ")[1:]
    assert len(parts) == n + 1
    for i, part in enumerate(parts[:-1]):
        if i % 10 == 9:
            assert part.startswith(b"206 ") and part.endswith(b"\r\n\r\n" + data[i:]), i
        else:
            assert part.startswith(b"200 ") and part.endswith(b"\r\n\r\n" + data), i
    assert parts[-1].startswith(b"200 ") and b'"ok": true' in parts[-1]


# --- connections per client ---------------------------------------------------------------


def test_one_address_gets_at_most_its_share_of_connections(open_mode):
    d, addr = open_mode
    cap = MAX_CONNECTIONS_PER_CLIENT
    socks = []
    try:
        for _ in range(cap + 5):
            sock = socket.socket()
            sock.bind(("127.0.0.2", 0))
            sock.settimeout(5)
            sock.connect(addr)  # the kernel completes it; Waitress decides after accept
            sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
            socks.append(sock)
        # The refused ones are closed at once (readable: EOF or reset); give it a second.
        refused: set[socket.socket] = set()
        deadline = time.monotonic() + 1.0
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([s for s in socks if s not in refused], [], [], left)
            for sock in ready:
                with contextlib.suppress(ConnectionResetError):
                    assert sock.recv(1) == b""
                refused.add(sock)
        closed = [sock in refused for sock in socks]
        assert closed.count(False) == cap and closed.count(True) == 5, closed
        # Other clients are served as usual, and so is this one once it closes some.
        assert request(addr, "/api/status", source="127.0.0.3").status == 200
        assert request(addr, "/api/status").status == 200
        for sock in socks[:3]:
            sock.close()
        assert wait_until(lambda: _status_from("127.0.0.2", addr) == 200, 5), (
            "the address stayed locked out"
        )
    finally:
        for sock in socks:
            sock.close()


def _status_from(source: str, addr) -> int | None:
    try:
        return request(addr, "/api/status", source=source).status
    except OSError:
        return None


def test_the_login_back_off_counts_an_ipv6_client_by_its_64_prefix():
    clock = FakeMonotonic()
    throttle = security.LoginThrottle(clock)
    for i in range(security.LOGIN_FREE_FAILURES):
        throttle.failed(f"2001:db8:1:2::{i + 1:x}")  # a new privacy address each time
    assert throttle.wait_s("2001:db8:1:2:ffff::9") == security.LOGIN_BASE_DELAY_S
    assert throttle.wait_s("2001:db8:1:3::1") == 0  # another network
    assert throttle.wait_s("::ffff:192.0.2.7") == throttle.wait_s("192.0.2.7") == 0
    throttle.failed("::ffff:192.0.2.7")
    assert throttle.key("::ffff:192.0.2.7") == "192.0.2.7"


def test_a_client_that_stops_reading_is_dropped_after_the_stall_timeout(tmp_path):
    with dashboard(tmp_path, autostart=True) as d:
        assert d.appliance.controller.wait_for_state(State.RECORDING)
        item = d.appliance.wait_segments(1)[0]
        with serve(d.app, stalled_client_s=3.0) as addr:
            channels = addr.server.active_channels
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.bind(("127.0.0.2", 0))
                sock.connect(addr)

                def stalled() -> list:
                    return [c for c in list(channels.values()) if c.addr[0] == "127.0.0.2"]

                # The server took the connection (it keeps the channel until it drops it).
                assert wait_until(lambda: bool(stalled()), 5)
                # Answers far past what the kernel buffers (up to tcp_wmem's 4 MiB: a hundred
                # of this short clip once fitted there, and nothing waited in the server).
                size = os.path.getsize(item.path)
                asked = math.ceil(24 * 2**20 / size)
                one = f"GET /media/{item.seq} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                sock.sendall(one * asked)  # never read
                # Dropped by the server's stall check or by the kernel's TCP_USER_TIMEOUT,
                # both set from stalled_client_s (a poll on a loaded machine may miss the
                # 3 s in which bytes wait, so the proof is what the client finds).
                assert wait_until(lambda: not stalled(), 15), "the stalled client was kept"
                sock.settimeout(10)
                received, ended = 0, False
                try:
                    while chunk := sock.recv(1 << 16):
                        received += len(chunk)
                    ended = True
                except ConnectionResetError:
                    ended = True
                assert ended
                assert received < asked * size / 2, "the server sent it everything it asked"
            assert request(addr, f"/media/{item.seq}").status == 200


# --- request budget per client ------------------------------------------------------------


def test_the_request_budget_allows_a_burst_then_its_rate():
    clock = FakeMonotonic()
    budget = RequestBudget(rate_per_s=10.0, burst=5, monotonic=clock)
    assert [budget.take("10.0.0.9") for _ in range(5)] == [0.0] * 5
    assert budget.take("10.0.0.9") == pytest.approx(0.1)
    assert budget.take("10.0.0.8") == 0.0  # another client has its own
    clock.advance(0.1)
    assert budget.take("10.0.0.9") == 0.0
    assert budget.take("10.0.0.9") > 0
    clock.advance(60)
    assert [budget.take("10.0.0.9") for _ in range(5)] == [0.0] * 5  # no more than the burst
    assert budget.take("10.0.0.9") > 0


def test_one_address_flooding_requests_is_slowed_down_and_still_answered(tmp_path):
    rate_per_s, burst, n = 40.0, 20, 100
    with dashboard(tmp_path, autostart=False) as d:
        budget = RequestBudget(rate_per_s=rate_per_s, burst=burst)
        with serve(d.app, request_budget=budget) as addr:
            defers = Channel.defers_total
            payload = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * (n - 1)
            payload += b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            got: list[bytes] = []
            with socket.socket() as sock:
                sock.bind(("127.0.0.2", 0))
                sock.settimeout(10)
                sock.connect(addr)
                t0 = time.monotonic()
                sock.sendall(payload)
                reader = threading.Thread(target=lambda: got.append(_read_all(sock)))
                reader.start()
                # Meanwhile another client is answered at once, again and again.
                while reader.is_alive():
                    assert request(addr, "/api/health").status == 200
                    assert request(addr, "/api/health", source="127.0.0.3").status == 200
                    reader.join(0.05)
                elapsed_s = time.monotonic() - t0
            assert got and got[0].count(b"HTTP/1.1 200 OK") == n  # every one, in the end
            assert Channel.defers_total > defers
            # The token bucket cannot have let them through faster than this.
            assert elapsed_s >= (n - burst - 1) / rate_per_s * 0.9


def test_a_request_trickled_a_byte_at_a_time_is_cut_off_at_the_deadline(tmp_path):
    with dashboard(tmp_path, autostart=False) as d, serve(d.app, request_deadline_s=1.0) as addr:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
            sock.settimeout(10)
            sock.connect(addr)
            sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            t0 = time.monotonic()
            pause = threading.Event()
            closed = False
            while not closed and time.monotonic() - t0 < 8:
                try:
                    sock.send(b"X")  # never silent long enough for Waitress's own timeout
                    readable, _, _ = select.select([sock], [], [], 0.2)
                    closed = bool(readable) and sock.recv(1) == b""
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                pause.wait(0.05)
            assert closed, "a trickling request kept its connection"
            assert time.monotonic() - t0 >= 1.0
        # Between requests a kept-alive connection runs no deadline (only Waitress's own
        # idle timeout); a new request starts a new one.
        with Stream(addr, "/api/status", headers={"Connection": "keep-alive"}) as s:
            s.read_body()
            (channel,) = [
                c for c in addr.server.active_channels.values() if c.addr[0] == "127.0.0.1"
            ]
            assert wait_until(lambda: channel.request_started is None, 5)
            s.sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert wait_until(lambda: channel.request_started is not None, 5)
            s.sock.sendall(b"\r\n")
            assert s._until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
            assert wait_until(lambda: channel.request_started is None, 5)


# --- a failing card under a request -----------------------------------------------------


def test_a_card_that_fails_under_a_request_answers_503_and_the_recording_goes_on(tmp_path):
    """Protect, unprotect and delete on a card that fails (EIO, read-only): 503, not 500."""
    from tests.test_controller_faults import FailingFS

    fs = FailingFS()
    with served(tmp_path / "failing", fs=fs) as (d, addr):
        d.appliance.wait_segments(1)
        item = d.appliance.library.page(kinds={Kind.LOOP}, limit=1)[0]
        fs.failing.add("rename")
        for errno_ in (errno.EIO, errno.EROFS):
            fs.error = errno_
            resp = request(addr, f"/api/items/{item.id}/protection", method="PUT", headers=JSON)
            assert resp.status == 503, resp.body
            assert "the card cannot be used now" in json.loads(resp.body)["description"]
            assert resp.headers.get("retry-after") == "5"
        assert "rename" in fs.raised
        fs.failing.clear()
        assert d.appliance.library.get(item.seq).kind is Kind.LOOP  # nothing half-moved
        resp = request(addr, "/api/status")
        assert resp.status == 200
        before = d.appliance.controller.recorder.frames_written
        assert wait_until(lambda: d.appliance.controller.recorder.frames_written > before + 10)
