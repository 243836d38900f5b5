"""The dashboard's JSON API through falcon.testing.TestClient: every endpoint, bad input too."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from falcon import testing

from appliance import config as config_mod
from appliance.gps_track import Fix, clock_step
from appliance.library import Kind
from appliance.preview import HubFull, PreviewHub
from appliance.states import Event, State
from tests.harness import partials, wait_until
from tests.web_fixtures import dashboard
from web.app import ROUTES
from web.openapi import build
from web.security import MAX_BODY_BYTES

SAME = {"Origin": "http://falconframework.org", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def dash(tmp_path):
    with dashboard(tmp_path, autostart=False) as d:
        assert d.appliance.controller.wait_for_state(State.IDLE)
        yield d


@pytest.fixture
def client(dash):
    return testing.TestClient(dash.app, headers=SAME)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """An appliance with clips (some protected) and a photo, recording stopped."""
    tmp = tmp_path_factory.mktemp("media")
    with dashboard(tmp, autostart=True) as d:
        ctl = d.appliance.controller
        d.appliance.wait_segments(3)
        d.appliance.press(d.appliance.panel.photo)
        assert wait_until(lambda: ctl.status.last_still is not None, 5)
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)
        assert wait_until(lambda: all(i.thumb for i in d.appliance.library.page(limit=100)), 5)
        yield d


def snapshot(library):
    """Every item and every file on the card: proves that nothing changed."""
    files = sorted(
        os.path.join(r, f) for r, _, fs in os.walk(library.root) for f in fs if "SEQUENCE" not in f
    )
    return [(i.seq, i.kind, i.path) for i in library.page(limit=1000)], files


def assert_error(resp, status: int, pattern: str = ""):
    assert resp.status_code == status, (resp.status, resp.text)
    body = resp.json
    assert body.get("description"), f"no message in {body}"
    assert re.search(pattern, body["description"]), body["description"]


# --- the document ------------------------------------------------------------------------


def test_openapi_document_describes_every_route_and_method_and_nothing_else(client, dash):
    served = client.simulate_get("/api/openapi.json").json
    assert served == json.loads(json.dumps(build(ROUTES)))
    assert served["openapi"].startswith("3.1")
    documented = {
        (path, method.upper())
        for path, ops in served["paths"].items()
        for method in ops
        if method != "parameters"
    }
    routed = set()
    samples = {"seq": "1", "button": "photo"}
    for template, _cls, suffix in ROUTES:
        if not template.startswith(("/api/", "/media/")):
            continue
        path = re.sub(r"{(\w+):\w+}", r"{\1}", template)
        example = re.sub(r"{\w+:(\w+)}", lambda m: samples[m.group(1)], template)
        resource = dash.app._router.find(example)[0]
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
            attr = f"on_{method.lower()}" + (f"_{suffix}" if suffix else "")
            if hasattr(resource, attr):
                routed.add((path, method))
    assert documented == routed
    for path, ops in served["paths"].items():
        for method, op in ops.items():
            if method != "parameters":
                assert op["operationId"] and op["responses"], (path, method)


# --- status and commands -----------------------------------------------------------------


def test_health_and_status(client, dash):
    assert client.simulate_get("/api/health").json == {"ok": True, "state": "idle"}
    status = client.simulate_get("/api/status").json
    assert status["state"] == "idle" and status["recording"] is False
    assert status["clock_ms"] == int(dash.clock.wall() * 1000)
    assert set(status["storage"]) >= {"total", "free", "loop", "protected", "photos"}


def test_commands_start_stop_photo_and_protect(client, dash):
    ctl = dash.appliance.controller
    resp = client.simulate_post("/api/recording/start")
    assert resp.status_code == 202 and resp.json == {"event": "start_recording"}
    assert ctl.wait_for_state(State.RECORDING, timeout_s=5)
    dash.appliance.wait_segments(1)
    assert client.simulate_post("/api/photos").status_code == 202
    assert wait_until(lambda: ctl.status.last_still is not None, 5)
    assert dash.appliance.library.get(ctl.status.last_still).kind is Kind.PHOTO
    assert client.simulate_post("/api/incidents").status_code == 202
    assert wait_until(lambda: ctl.status.counts["protected"] >= 1, 5)
    assert client.simulate_post("/api/recording/stop").status_code == 202
    assert ctl.wait_for_state(State.IDLE, timeout_s=5)


def test_commands_take_no_get(client):
    for path in ("/api/recording/start", "/api/photos", "/api/system/shutdown"):
        assert client.simulate_get(path).status_code == 405
    # GET /api/incidents only lists them: it protects nothing
    assert client.simulate_get("/api/incidents").json == []
    assert client.app.controller.status.counts["protected"] == 0


# --- library -----------------------------------------------------------------------------


def test_items_pages_cover_the_library_newest_first_without_overlap(media):
    client = testing.TestClient(media.app, headers=SAME)
    everything = [i.seq for i in media.appliance.library.page(limit=1000)]
    seen, before = [], None
    while True:
        params = {"limit": 2, **({"before": before} if before else {})}
        page = client.simulate_get("/api/items", params=params).json
        seen += [i["seq"] for i in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == everything == sorted(everything, reverse=True)
    photos = client.simulate_get("/api/items", query_string="kind=photo").json["items"]
    assert photos and all(i["kind"] == "photo" and not i["video"] for i in photos)
    clips = client.simulate_get("/api/items", query_string="kind=loop&kind=protected").json
    assert {i["kind"] for i in clips["items"]} <= {"loop", "protected"}
    assert len(clips["items"]) + len(photos) == len(everything)
    day = media.appliance.library.days()[0]
    by_day = client.simulate_get("/api/items", params={"day": day}).json["items"]
    assert by_day and all(i["day"] == day for i in by_day)
    assert client.simulate_get("/api/items", params={"day": "1999-01-01"}).json["items"] == []
    days = client.simulate_get("/api/days").json
    assert days["days"] == media.appliance.library.days()
    assert sum(days["counts"].values()) == len(everything)
    item = client.simulate_get("/api/items").json["items"][0]
    assert "path" not in item and not item["url"].startswith("/DCIM")


@pytest.mark.parametrize(
    ("query", "pattern"),
    [
        ("kind=video", "kind"),
        ("kind=..%2f", "kind"),
        ("day=2024-1-1", "day"),
        ("day=2026-13-45", "day"),
        ("day=2026-02-30", "day"),
        ("day=..%2f..%2fetc", "day"),
        ("before=-1", "before"),
        ("before=abc", "before"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=1.5", "limit"),
        ("path=/etc/passwd", "unknown parameter 'path'"),
    ],
)
def test_items_bad_query_is_400_with_a_message(client, query, pattern):
    assert_error(client.simulate_get("/api/items", query_string=query), 400, pattern)


def test_item_get_protect_unprotect_delete(tmp_path):
    with dashboard(tmp_path, autostart=True) as d:
        client = testing.TestClient(d.app, headers=SAME)
        d.appliance.wait_segments(2)
        ctl, lib = d.appliance.controller, d.appliance.library
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)
        seq = lib.page(kinds={Kind.LOOP}, limit=1)[0].seq
        item = client.simulate_get(f"/api/items/{seq:08d}").json
        assert item["seq"] == seq and item["kind"] == "loop"
        assert client.simulate_get(f"/api/items/{seq}").json["id"] == f"{seq:08d}"
        resp = client.simulate_put(f"/api/items/{seq:08d}/protection")
        assert resp.status_code == 200 and resp.json["kind"] == "protected"
        assert lib.get(seq).kind is Kind.PROTECTED and os.path.exists(lib.get(seq).path)
        resp = client.simulate_delete(f"/api/items/{seq:08d}/protection")
        assert resp.json["kind"] == "loop" and lib.get(seq).kind is Kind.LOOP
        path = lib.get(seq).path
        assert client.simulate_delete(f"/api/items/{seq:08d}").status_code == 204
        assert_error(client.simulate_get(f"/api/items/{seq:08d}"), 404, "no item")
        assert wait_until(lambda: not os.path.exists(path), 5)
        # The status (counts) follows without a state change.
        assert wait_until(lambda: ctl.status.counts["loop"] == len(lib.page(kinds={Kind.LOOP})))


def test_protecting_a_photo_or_deleting_the_open_segment_is_a_conflict(tmp_path):
    with dashboard(tmp_path, autostart=True) as d:
        client = testing.TestClient(d.app, headers=SAME)
        ctl, lib = d.appliance.controller, d.appliance.library
        assert wait_until(lambda: ctl.status.segment_seq is not None, 10)
        open_seq = ctl.status.segment_seq
        assert_error(client.simulate_delete(f"/api/items/{open_seq}"), 409, "being written")
        d.appliance.press(d.appliance.panel.photo)
        assert wait_until(lambda: ctl.status.last_still is not None, 5)
        photo = ctl.status.last_still
        assert_error(client.simulate_put(f"/api/items/{photo}/protection"), 409, "photo")
        assert_error(client.simulate_delete(f"/api/items/{photo}/protection"), 409, "photo")
        assert lib.get(photo).kind is Kind.PHOTO


TRAVERSALS = [
    "/api/items/99999999",
    "/api/items/abc",
    "/api/items/-1",
    "/api/items/1e3",
    "/api/items/..%2f..%2fetc%2fpasswd",
    "/api/items/%2fetc%2fpasswd",
    "/api/items/00000001%00",
    "/media/99999999",
    "/media/..%2f..%2fetc%2fpasswd",
    "/media/..%2fDCIM%2fSEQUENCE",
    "/media/%2fetc%2fpasswd",
    "/media/00000001%00.jpg",
    "/media/%00",
    "/media/1234567890123",
    "/media/99999999/thumb",
    "/media/..%2f..%2fetc%2fpasswd/thumb",
    "/static/..%2fapp.py",
    "/static/..%2f..%2fappliance%2fconfig.py",
    "/static/%2fetc%2fpasswd",
    "/static/index.html%00.png",
    "/DCIM/SEQUENCE",
    "/../../etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_unknown_ids_and_traversal_attempts_are_404_with_a_message(media, path):
    client = testing.TestClient(media.app, headers=SAME)
    before = snapshot(media.appliance.library)
    assert_error(client.simulate_get(path), 404)
    if path.startswith(("/api/items/", "/media/")) and not path.endswith("thumb"):
        for method in ("DELETE",):
            resp = client.simulate_request(method, path)
            assert 400 <= resp.status_code < 500 and resp.json.get("description"), path
        if path.startswith("/api/items/"):
            assert_error(client.simulate_put(path + "/protection"), 404)
            assert_error(client.simulate_delete(path + "/protection"), 404)
    assert snapshot(media.appliance.library) == before


# --- media -------------------------------------------------------------------------------


def test_media_whole_file_ranges_and_416(media):
    client = testing.TestClient(media.app, headers=SAME)
    lib = media.appliance.library
    clip = lib.page(kinds={Kind.LOOP, Kind.PROTECTED}, limit=1)[0]
    data = Path(clip.path).read_bytes()
    size = len(data)
    whole = client.simulate_get(f"/media/{clip.id}")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    assert "content-disposition" not in whole.headers
    part = client.simulate_get(f"/media/{clip.id}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert part.headers["content-length"] == "100"
    safari = client.simulate_get(f"/media/{clip.id}", headers={"Range": "bytes=0-1"})
    assert safari.status_code == 206 and safari.content == data[:2]
    tail = client.simulate_get(f"/media/{clip.id}", headers={"Range": "bytes=-50"})
    assert tail.content == data[-50:] and tail.headers["content-range"].startswith(
        f"bytes {size - 50}-"
    )
    rest = client.simulate_get(f"/media/{clip.id}", headers={"Range": f"bytes={size - 10}-"})
    assert rest.content == data[-10:]
    beyond = client.simulate_get(f"/media/{clip.id}", headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    head = client.simulate_head(f"/media/{clip.id}", headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10"
    download = client.simulate_get(f"/media/{clip.id}", params={"download": "1"})
    disposition = download.headers["content-disposition"]
    assert "attachment" in disposition and f"dashcam_{clip.stamp}_{clip.id}.mp4" in disposition
    photo = lib.page(kinds={Kind.PHOTO}, limit=1)[0]
    still = client.simulate_get(f"/media/{photo.id}")
    assert still.headers["content-type"] == "image/jpeg" and still.content[:2] == b"\xff\xd8"
    thumb = client.simulate_get(f"/media/{clip.id}/thumb")
    assert thumb.status_code == 200 and thumb.content == Path(clip.thumb).read_bytes()


# --- settings ----------------------------------------------------------------------------


def test_settings_update_is_validated_saved_and_applied_live(tmp_path):
    with dashboard(tmp_path, autostart=False) as d:
        client = testing.TestClient(d.app, headers=SAME)
        d.config_path.write_text('storage_root = "/somewhere/else"\nvideo_fps = 25\n')
        got = client.simulate_get("/api/settings").json
        assert got["settings"]["segment_seconds"] == 1.0 and got["password_set"] is False
        resp = client.simulate_put(
            "/api/settings",
            json={
                "segment_seconds": 2,
                "min_free_bytes": 1024,
                "autostart": True,
                "led_brightness": 0.5,
                "video_bitrate": 2_000_000,
                "preview_max_viewers": 2,
            },
        )
        assert resp.status_code == 200, resp.text
        assert resp.json["restart_needed"] == ["video_bitrate"]
        ctl = d.appliance.controller
        assert ctl.config.segment_seconds == 2.0 and ctl.recorder.segment_seconds == 2.0
        assert ctl.library.min_free_bytes == 1024 and ctl.config.autostart is True
        assert d.appliance.panel.led_driver.brightness == 0.5
        assert d.app.hub.max_viewers == 2
        assert ctl.config.video_bitrate == 400_000  # the running encoder keeps its rate
        saved, _ = config_mod.load(d.config_path)
        assert saved.segment_seconds == 2.0 and saved.video_bitrate == 2_000_000
        assert saved.storage_root == "/somewhere/else" and saved.video_fps == 25  # kept


@pytest.mark.parametrize(
    ("body", "status", "pattern"),
    [
        ({"segment_seconds": "60"}, 422, "segment_seconds: expected a number"),
        ({"segment_seconds": True}, 422, "segment_seconds"),
        ({"segment_seconds": None}, 422, "segment_seconds"),
        ({"segment_seconds": 0}, 422, "segment_seconds: must be from 1.0 to 600.0"),
        ({"segment_seconds": 1e9}, 422, "segment_seconds"),
        ({"video_bitrate": 1.5}, 422, "video_bitrate: expected an integer"),
        ({"led_brightness": 2}, 422, "led_brightness"),
        ({"min_free_bytes": -1}, 422, "min_free_bytes"),
        ({"autostart": "yes"}, 422, "autostart: expected true or false"),
        ({"video_width": 321}, 422, "video_width: must be even"),
        ({"preview_max_viewers": 100}, 422, "preview_max_viewers"),
        ({"bogus": 1}, 422, "unknown field 'bogus'"),
        ({"storage_root": "/"}, 422, "unknown field 'storage_root'"),
        ({"web_password": "x"}, 422, "unknown field 'web_password'"),
        ({"segment_seconds": 2, "extra": 1}, 422, "unknown field 'extra'"),
        ({}, 422, "no setting"),
    ],
)
def test_settings_bad_input_changes_nothing(dash, client, body, status, pattern):
    before = dash.appliance.controller.config
    assert_error(client.simulate_put("/api/settings", json=body), status, pattern)
    assert dash.appliance.controller.config == before
    assert not dash.config_path.exists()


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"segment_seconds=2", "application/x-www-form-urlencoded", 415),
        (b'{"segment_seconds": 2}', "text/plain", 415),
        (b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}', "application/json", 413),
    ],
)
def test_settings_bodies_that_are_not_small_json_objects_are_refused(
    dash, client, raw, content_type, status
):
    resp = client.simulate_put("/api/settings", body=raw, headers={"Content-Type": content_type})
    assert_error(resp, status)
    assert not dash.config_path.exists()


# --- system ------------------------------------------------------------------------------


def test_clock_moves_forward_only(client, dash):
    behind_ms = int(dash.clock.wall() * 1000) + 3_600_000
    resp = client.simulate_post("/api/system/clock", json={"epoch_ms": behind_ms})
    assert resp.status_code == 200 and resp.json["changed"] is True
    assert dash.clock_sets == [behind_ms / 1000]
    assert client.simulate_get("/api/status").json["clock_ms"] == behind_ms
    resp = client.simulate_post("/api/system/clock", json={"epoch_ms": behind_ms - 60_000})
    assert resp.json["changed"] is False and len(dash.clock_sets) == 1
    resp = client.simulate_post("/api/system/clock", json={"epoch_ms": behind_ms + 1000})
    assert resp.json["changed"] is False  # within the tolerance


@pytest.mark.parametrize("ahead_ms", [-5000, 0, 1999, 2000, 2001, 2500])
def test_the_phone_and_the_gps_ask_the_same_clock_rule(client, dash, ahead_ms):
    now_ms = int(dash.clock.wall() * 1000)
    resp = client.simulate_post("/api/system/clock", json={"epoch_ms": now_ms + ahead_ms})
    assert resp.status_code == 200, resp.text
    gps = clock_step(Fix(mode=3, time_s=(now_ms + ahead_ms) / 1000), now_ms / 1000)
    assert resp.json["changed"] is (gps is not None) is (ahead_ms > 2000)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ({}, "epoch_ms: expected an integer"),
        ({"epoch_ms": "1800000000000"}, "epoch_ms: expected an integer"),
        ({"epoch_ms": 1.8e12}, "epoch_ms: expected an integer"),
        ({"epoch_ms": True}, "epoch_ms: expected an integer"),
        ({"epoch_ms": 5}, "epoch_ms: must be from"),
        ({"epoch_ms": 10**15}, "epoch_ms: must be from"),
        ({"epoch_ms": 1_800_000_000_000, "cmd": "; rm -rf /"}, "unknown field 'cmd'"),
    ],
)
def test_clock_bad_input(client, dash, body, pattern):
    assert_error(client.simulate_post("/api/system/clock", json=body), 422, pattern)
    assert dash.clock_sets == []


@pytest.mark.parametrize("action", ["restart", "shutdown"])
def test_restart_and_shutdown_close_safely_then_call_the_power_action(client, dash, action):
    ctl = dash.appliance.controller
    client.simulate_post("/api/recording/start")
    assert ctl.wait_for_state(State.RECORDING)
    assert wait_until(lambda: (ctl.status.segment_elapsed_s or 0) > 0.5, 5)
    resp = client.simulate_post(f"/api/system/{action}")
    assert resp.status_code == 202 and resp.json == {"action": action}
    assert ctl.stopped.wait(15) and ctl.state is State.OFF
    assert dash.power_calls == [action]
    assert dash.appliance.segments and dash.appliance.segments[-1].frames > 0
    assert not partials(dash.appliance.config.storage_root)


def test_without_power_and_clock_actions_the_system_endpoints_say_so(tmp_path):
    from web.app import create_app

    with dashboard(tmp_path, autostart=False) as d:
        app = create_app(
            d.appliance.controller,
            d.appliance.library,
            config_path=d.config_path,
            allowed_hosts=["falconframework.org"],
        )
        client = testing.TestClient(app, headers=SAME)
        assert_error(client.simulate_post("/api/system/shutdown"), 501, "cannot")
        assert_error(
            client.simulate_post("/api/system/clock", json={"epoch_ms": 1_900_000_000_000}),
            501,
        )
        assert_error(client.simulate_get("/api/panel"), 404, "not in simulation")
        # nothing shut down: the appliance reaches IDLE (it may still be starting) and stays
        ctl = d.appliance.controller
        assert ctl.wait_for_state(State.IDLE)
        assert not ctl.stopped.is_set() and ctl.state is State.IDLE


# --- virtual panel -----------------------------------------------------------------------


def test_virtual_panel_presses_the_mock_pins_and_shows_the_led(client, dash):
    ctl = dash.appliance.controller
    panel = client.simulate_get("/api/panel").json
    assert panel["buttons"] == ["record", "photo", "protect"]
    assert panel["led"]["pattern"] == "heartbeat"
    pin = dash.appliance.panel.record.pin
    mark = len(pin.states)
    assert client.simulate_post("/api/panel/buttons/record").status_code == 202
    assert [s.state for s in pin.states[mark:]] == [False, True]  # low (pressed), high
    assert ctl.wait_for_state(State.RECORDING, timeout_s=5)
    assert wait_until(lambda: client.simulate_get("/api/panel").json["led"]["pattern"] == "solid")
    assert client.simulate_get("/api/panel").json["led"]["value"] == 1.0


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/panel/buttons/power", None, 404),
        ("/api/panel/buttons/..%2frecord", None, 404),
        ("/api/panel/buttons/record", {"hold_s": -1}, 422),
        ("/api/panel/buttons/record", {"hold_s": 11}, 422),
        ("/api/panel/buttons/record", {"hold_s": "3"}, 422),
        ("/api/panel/buttons/record", {"hold": 3}, 422),
    ],
)
def test_virtual_panel_bad_input(client, dash, path, body, status):
    pin = dash.appliance.panel.record.pin
    mark = len(pin.states)
    assert_error(client.simulate_post(path, json=body), status)
    assert len(pin.states) == mark
    assert dash.appliance.controller.state is State.IDLE


# --- security ----------------------------------------------------------------------------

UNSAFE = [
    ("POST", "/api/recording/start"),
    ("POST", "/api/recording/stop"),
    ("POST", "/api/photos"),
    ("POST", "/api/incidents"),
    ("DELETE", "/api/items/00000001"),
    ("PUT", "/api/items/00000001/protection"),
    ("DELETE", "/api/items/00000001/protection"),
    ("PUT", "/api/settings"),
    ("POST", "/api/system/clock"),
    ("POST", "/api/system/restart"),
    ("POST", "/api/system/shutdown"),
    ("POST", "/api/panel/buttons/record"),
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
]
FOREIGN = [
    {"Origin": "http://evil.example"},
    {"Origin": "http://falconframework.org.evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://falconframework.org", "Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.parametrize(("method", "path"), UNSAFE)
def test_every_state_changing_request_from_another_origin_is_refused(dash, method, path):
    client = testing.TestClient(dash.app)
    ctl = dash.appliance.controller
    pin = dash.appliance.panel.record.pin
    mark = len(pin.states)
    for headers in FOREIGN:
        resp = client.simulate_request(
            method,
            path,
            json={"segment_seconds": 5, "epoch_ms": 1_900_000_000_000},
            headers=headers,
        )
        assert_error(resp, 403, "refused")
    assert ctl.state is State.IDLE and not ctl.wait_for_state(State.RECORDING, timeout_s=0.3)
    assert len(pin.states) == mark and dash.power_calls == [] and dash.clock_sets == []
    assert ctl.config.segment_seconds == 1.0 and not dash.config_path.exists()


def test_same_origin_and_non_browser_requests_pass(dash):
    client = testing.TestClient(dash.app)
    ctl = dash.appliance.controller
    assert client.simulate_post("/api/recording/start", headers=SAME).status_code == 202
    assert ctl.wait_for_state(State.RECORDING)
    assert client.simulate_post("/api/recording/stop").status_code == 202  # e.g. curl
    assert ctl.wait_for_state(State.IDLE)


def test_oversized_bodies_are_refused_before_reading(client):
    resp = client.simulate_post(
        "/api/system/clock",
        body=b"x" * (MAX_BODY_BYTES + 1),
        headers={"Content-Type": "application/json"},
    )
    assert_error(resp, 413, "limited")


def test_password_guards_everything_but_health_and_login(tmp_path):
    with dashboard(tmp_path, autostart=False, web_password="s3cret") as d:
        client = testing.TestClient(d.app, headers=SAME)
        assert client.simulate_get("/api/health").status_code == 200
        for path in ("/api/status", "/api/items", "/api/settings", "/media/00000001"):
            assert_error(client.simulate_get(path), 401, "log in")
        assert client.simulate_post("/api/recording/start").status_code == 401
        page = client.simulate_get("/")
        assert page.status_code == 303 and page.headers["location"].endswith("/login")
        assert client.simulate_get("/login").status_code == 200
        assert_error(client.simulate_post("/api/session", json={"password": "nope"}), 401)
        assert_error(client.simulate_post("/api/session", json={"password": 1}), 401)
        resp = client.simulate_post("/api/session", json={"password": "s3cret"})
        assert resp.status_code == 204
        cookie = resp.cookies["dashcam_session"]
        assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/"
        auth = {"Cookie": f"dashcam_session={cookie.value}"}
        assert client.simulate_get("/api/status", headers=auth).status_code == 200
        assert "s3cret" not in client.simulate_get("/api/settings", headers=auth).text
        assert client.simulate_get("/api/settings", headers=auth).json["password_set"] is True
        forged = {"Cookie": "dashcam_session=" + "A" * len(cookie.value)}
        assert client.simulate_get("/api/status", headers=forged).status_code == 401
        assert client.simulate_delete("/api/session", headers=auth).status_code == 204
        assert client.simulate_get("/api/status", headers=auth).status_code == 401


# --- page and assets ---------------------------------------------------------------------


def test_page_and_assets_are_local(client):
    page = client.simulate_get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = [a for a in re.findall(r'(?:href|src)="([^"]+)"', page.text) if a[0] != "#"]
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets)
    for asset in assets:
        assert client.simulate_get(asset).status_code == 200, asset
    manifest = client.simulate_get("/manifest.webmanifest").json
    assert manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        assert client.simulate_get(icon["src"]).status_code == 200
    for name in ("app.js", "app.css", "index.html"):
        text = client.simulate_get(f"/static/{name}").text
        assert "http://" not in text and "https://" not in text, name
    etag = client.simulate_get("/static/app.js").headers["etag"]
    assert client.simulate_get("/static/app.js", headers={"If-None-Match": etag}).status_code == 304


# --- the preview hub ---------------------------------------------------------------------


class CountingCamera:
    """Records preview sink changes (a stand-in for the camera's preview switch)."""

    def __init__(self):
        self.sinks = []

    def set_preview_sink(self, sink):
        self.sinks.append(sink)


def test_hub_turns_preview_on_for_the_first_viewer_and_off_after_the_last():
    camera = CountingCamera()
    hub = PreviewHub(camera, max_viewers=3)
    a = hub.join()
    b = hub.join()
    assert camera.sinks == [hub.put]
    c = hub.join()
    with pytest.raises(HubFull):
        hub.join()
    a.leave()
    a.leave()  # idempotent
    b.leave()
    assert camera.sinks == [hub.put] and hub.viewers == 1
    c.leave()
    assert camera.sinks == [hub.put, None] and hub.viewers == 0


def test_hub_gives_every_viewer_the_newest_frame_and_a_slow_one_skips():
    hub = PreviewHub(CountingCamera(), max_viewers=3)
    fast, slow = hub.join(), hub.join()
    hub.put(b"1", 1)
    assert fast.next_frame(1).jpeg == b"1"
    for n in range(2, 11):
        hub.put(str(n).encode(), n)
        assert fast.next_frame(1).jpeg == str(n).encode()
    frame = slow.next_frame(1)
    assert frame.jpeg == b"10" and frame.seq == 10  # frames 1..9 dropped, never queued
    assert slow.next_frame(0.05) is None  # nothing newer
    assert slow.frames_sent == 1 and fast.frames_sent == 10
