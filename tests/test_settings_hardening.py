"""Bad settings never reach the disk, and no setting can stop the appliance.

Through the dashboard's settings API (falcon's TestClient on a real controller, a real
library on a temp dir and the simulated camera), the LED on gpiozero's mock pins, and the
``dashcam`` command: non-finite numbers and huge integers are refused with a 4xx naming the
key, the config file stays byte for byte as it was, and the controller and LED threads go
on; byte sizes are checked against the card; a change that cannot be applied or saved
changes nothing; a saved file keeps the user's comments and loads at the next start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from falcon import testing
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance import config as config_mod
from appliance.config import MAX_BYTES, Config, bounds, settable
from appliance.errors import ConfigError
from appliance.library import Kind
from appliance.ports import DiskUsage
from appliance.states import Event, State
from hw.panel import STATE_PATTERNS, Panel
from tests.harness import partials, tmpfs, wait_until
from tests.web_fixtures import dashboard
from tests.webclient import request, serve
from web.app import create_app

SAME = {"Origin": "http://falconframework.org", "Sec-Fetch-Site": "same-origin"}
GiB = 1024**3

#: The user's file: comments, blank lines, odd spacing, a default written on purpose.
USER_FILE = """\
# Dash camera in the blue car.
segment_seconds = 1.0   # short clips for the tests

# The reserve (the default, written on purpose)
min_free_percent = 5.0
video_fps=30

# loop_quota_bytes = 1000
led_brightness = 1.0 # full
"""

BOUNDS = bounds()
FLOAT_SETTINGS = sorted(k for k in settable() if k in BOUNDS and BOUNDS[k][0] == "float")
INT_SETTINGS = sorted(k for k in settable() if k in BOUNDS and BOUNDS[k][0] == "int")
#: JSON number literals that Python's json reads as non-finite floats.
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"]
HUGE = [10**30, 2**63, -(2**63), 2**64, 10**400, 10**4000]
#: Out of every bound, yet plain JSON that any JSON layer passes on: the config layer's
#: refusal (422 naming the key) is what shows.
PAST_BOUNDS = ["1e308", "-1e308", "1.7976931348623157e308", str(2**62), str(-(2**62))]


def _cases():
    """(body, the key the refusal must name)."""
    for key in FLOAT_SETTINGS + INT_SETTINGS:
        for literal in NON_FINITE:
            yield f'{{"{key}": {literal}}}', key
        for number in HUGE + PAST_BOUNDS:
            yield f'{{"{key}": {number}}}', key
    # A good change beside a bad one is not applied either.
    yield '{"segment_seconds": 5, "led_brightness": NaN}', "led_brightness"
    yield f'{{"min_free_percent": 1.0, "min_free_bytes": {10**30}}}', "min_free_bytes"


CASES = list(_cases())


def _case_id(case):
    body, _ = case
    return body if len(body) < 60 else body[:50] + "..."


def test_the_bodies_are_what_json_writes_with_allow_nan():
    for value, literal in ((float("nan"), "NaN"), (float("inf"), "Infinity")):
        assert json.dumps({"k": value}, allow_nan=True) == f'{{"k": {literal}}}'
        assert json.dumps({"k": -value}, allow_nan=True).endswith(f"{literal}}}")
    assert json.loads('{"k": 1e309}')["k"] == float("inf")
    assert {k for _, k in CASES} == set(FLOAT_SETTINGS) | set(INT_SETTINGS)
    assert "led_brightness" in FLOAT_SETTINGS and "min_free_bytes" in INT_SETTINGS


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """One appliance (idle) whose settings take every hostile value in turn."""
    tmp = tmp_path_factory.mktemp("hostile")
    with dashboard(tmp, autostart=False) as d:
        assert d.appliance.controller.wait_for_state(State.IDLE)
        d.config_path.write_text(USER_FILE)
        yield d


def assert_still_working(d, client):
    """The controller thread answers (a photo is taken) and the LED thread runs."""
    ctl = d.appliance.controller
    before = ctl.status.last_still
    assert client.simulate_post("/api/photos").status_code == 202
    assert wait_until(lambda: ctl.status.last_still != before, 10), "no photo: controller dead?"
    status = client.simulate_get("/api/status")
    assert status.status_code == 200 and status.json["last_still"] == ctl.status.last_still
    assert d.appliance.panel.led_driver.alive


def assert_nothing_changed(d, before: Config, file_bytes: bytes):
    assert d.config_path.read_bytes() == file_bytes
    assert sorted(os.listdir(d.config_path.parent)) == ["card", "dashcam.toml"]  # no temp
    ctl = d.appliance.controller
    assert ctl.config == before
    assert ctl.recorder.segment_seconds == before.segment_seconds
    assert ctl.library.min_free_bytes == before.min_free_bytes
    assert ctl.library.min_free_percent == before.min_free_percent
    assert ctl.library.protected_quota_percent == before.protected_quota_percent
    assert d.appliance.panel.led_driver.brightness == before.led_brightness


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_a_hostile_number_is_refused_and_changes_nothing(hostile, case):
    body, key = case
    d = hostile
    client = testing.TestClient(d.app, headers=SAME)
    before = d.appliance.controller.config
    resp = client.simulate_put(
        "/api/settings", body=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= resp.status_code < 500, (resp.status, resp.text[:300])
    description = resp.json["description"]
    assert len(description) < 400  # a huge number is described, not echoed
    if body.split(": ")[-1].rstrip("}") in PAST_BOUNDS:
        assert resp.status_code == 422, resp.text
    if resp.status_code == 422:  # else the JSON layer refused it first (400)
        assert description.startswith(f"settings: {key}: "), description
    assert_nothing_changed(d, before, USER_FILE.encode())
    assert_still_working(d, client)


# --- one validator: the API and the TOML file, same words from the same function ---------


def raised_in(function, action) -> list[str]:
    """Run ``action``; the messages of the exceptions that passed through ``function``.

    A tracer watches only ``function``'s frames (``sys.settrace``; the one in place is put
    back): what it records was raised in ``function`` or in what it called.
    """
    seen: list[str] = []
    code = function.__code__

    def local(frame, event, arg):
        if event == "exception":
            seen.append(str(arg[1]))
        return local

    def calls(frame, event, arg):
        return local if frame.f_code is code else None

    before = sys.gettrace()
    sys.settrace(calls)
    try:
        action()
    finally:
        sys.settrace(before)
    return seen


#: (key, the value as TOML writes it, as JSON sends it): out of bounds, odd where even is
#: required, wrong types, an optional key's wrong type. (NaN, infinities and integers past
#: 64 bits never reach the config from the API: its JSON reader refuses them, 400.)
SAME_WORDS = [
    ("segment_seconds", "0", 0),
    ("video_width", "321", 321),
    ("video_height", "1081", 1081),
    ("video_bitrate", "1.5", 1.5),
    ("autostart", '"yes"', "yes"),
    ("segment_seconds", '"60"', "60"),
    ("led_brightness", "1e308", 1e308),
    ("min_free_percent", "-0.5", -0.5),
    ("min_free_bytes", "-1", -1),
    ("preview_max_viewers", "100", 100),
    ("loop_quota_bytes", '"x"', "x"),
    ("protected_quota_percent", "true", True),
    ("min_free_bytes", str(2**62), 2**62),
]


@pytest.mark.parametrize(("key", "toml", "sent"), SAME_WORDS, ids=lambda v: str(v)[:20])
def test_a_bad_value_gets_the_same_message_from_the_same_function_by_api_and_toml(
    hostile, tmp_path, key, toml, sent
):
    """Issue 22: one validator. The file and the API's body each end in
    :func:`appliance.config.check_value`, which raises the message both show."""
    with pytest.raises(ConfigError) as direct:
        config_mod.check_value(key, sent)
    words = str(direct.value)
    assert words.startswith(f"{key}: ")

    path = tmp_path / "dashcam.toml"
    path.write_text(f"{key} = {toml}\n")
    loaded: list[str] = []

    def load() -> None:
        with pytest.raises(ConfigError) as caught:
            config_mod.load(path)
        loaded.append(str(caught.value))

    assert raised_in(config_mod.check_value, load) == [words]
    assert loaded == [f"{path}: {words}"]

    d = hostile
    client = testing.TestClient(d.app, headers=SAME)
    before = d.appliance.controller.config
    answers = []

    def put() -> None:
        body = json.dumps({key: sent}, allow_nan=True)
        headers = {"Content-Type": "application/json"}
        answers.append(client.simulate_put("/api/settings", body=body, headers=headers))

    assert raised_in(config_mod.check_value, put) == [words]  # once: checked by one code
    (resp,) = answers
    assert resp.status_code == 422, resp.text
    assert resp.json["description"] == f"settings: {words}"
    assert_nothing_changed(d, before, USER_FILE.encode())


def test_every_settable_key_refuses_through_the_api_in_the_config_words(hostile):
    """The settings body is refused as the config refuses the value, word for word (this
    compared web.schema's copy of the checks with the config's before issue 22)."""
    samples = [0, -1, 1, 2, 3, 0.5, 1e9, 2**62, True, None, "1", 321, 100_000, 4096, 0.04]
    client = testing.TestClient(hostile.app, headers=SAME)
    compared = 0
    for key in settable():
        for value in samples:
            try:
                Config().replace(**{key: value})
                continue  # allowed by the config: not sent (it would be applied)
            except ConfigError as exc:
                words = str(exc)
            if "web_threads" in words:
                continue  # a rule across keys, not the value's own
            resp = client.simulate_put("/api/settings", json={key: value})
            assert resp.status_code == 422, (key, value, resp.text)
            assert resp.json["description"] == f"settings: {words}", (key, value)
            compared += 1
    assert compared > 50


def test_after_every_refusal_a_good_change_still_works_and_keeps_the_file(hostile):
    d = hostile
    client = testing.TestClient(d.app, headers=SAME)
    resp = client.simulate_put("/api/settings", json={"segment_seconds": 2, "led_brightness": 0.5})
    assert resp.status_code == 200, resp.text
    assert d.config_path.read_text() == USER_FILE.replace(
        "segment_seconds = 1.0 ", "segment_seconds = 2.0 "
    ).replace("led_brightness = 1.0 # full", "led_brightness = 0.5 # full")
    assert d.appliance.controller.recorder.segment_seconds == 2.0
    assert wait_until(lambda: d.appliance.led_pin.state == 0.5, 5)  # starting: full steps
    assert_still_working(d, client)


# --- the card -----------------------------------------------------------------------------


class Card:
    """The card's size as the file system would report it (injected disk usage)."""

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.free_bytes = total_bytes * 3 // 4
        self.gone = threading.Event()

    def __call__(self, path: str) -> DiskUsage:
        if self.gone.is_set():
            raise FileNotFoundError(2, "No such file or directory", path)
        return DiskUsage(self.total_bytes, self.free_bytes)


@pytest.fixture
def card_dash(tmp_path):
    card = Card(8 * GiB)
    with dashboard(tmp_path, autostart=False, disk_usage=card) as d:
        assert d.appliance.controller.wait_for_state(State.IDLE)
        d.config_path.write_text(USER_FILE)
        d.card = card
        yield d


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ({"min_free_bytes": 4 * GiB + 1}, r"settings: min_free_bytes: must be at most half"),
        ({"min_free_bytes": MAX_BYTES}, r"settings: min_free_bytes: must be at most half"),
        ({"loop_quota_bytes": 8 * GiB + 1}, r"settings: loop_quota_bytes: must be at most"),
        ({"loop_quota_bytes": MAX_BYTES + 1}, r"settings: loop_quota_bytes: must be from 1"),
    ],
)
def test_byte_sizes_must_fit_the_card(card_dash, body, pattern):
    d = card_dash
    client = testing.TestClient(d.app, headers=SAME)
    before = d.appliance.controller.config
    resp = client.simulate_put("/api/settings", json=body)
    assert resp.status_code == 422, resp.text
    assert pattern.split(": ")[1] in resp.json["description"]
    assert resp.json["description"].startswith(pattern.replace("\\", "")[:30])
    assert_nothing_changed(d, before, USER_FILE.encode())
    assert d.appliance.controller.state is State.IDLE  # no pruning spree, no storage full
    assert_still_working(d, client)


def test_sizes_that_fit_the_card_are_taken(card_dash):
    d = card_dash
    client = testing.TestClient(d.app, headers=SAME)
    resp = client.simulate_put(
        "/api/settings", json={"min_free_bytes": 4 * GiB, "loop_quota_bytes": 8 * GiB}
    )
    assert resp.status_code == 200, resp.text
    assert d.appliance.controller.library.min_free_bytes == 4 * GiB
    saved = config_mod.load(d.config_path)[0]
    assert (saved.min_free_bytes, saved.loop_quota_bytes) == (4 * GiB, 8 * GiB)
    resp = client.simulate_put("/api/settings", json={"loop_quota_bytes": None})
    assert resp.status_code == 200 and config_mod.load(d.config_path)[0].loop_quota_bytes is None


def test_a_reserve_that_pruning_cannot_make_room_for_is_refused(card_dash):
    d = card_dash
    ctl = d.appliance.controller
    # Protected clips, photos and other files fill all but 1 GiB; no loop clip to prune.
    d.card.free_bytes = GiB
    before = ctl.config
    for body, key in (
        ({"min_free_bytes": 2 * GiB}, "min_free_bytes"),
        ({"min_free_bytes": 0, "min_free_percent": 25}, "min_free_percent"),
    ):
        resp = testing.TestClient(d.app, headers=SAME).simulate_put("/api/settings", json=body)
        assert resp.status_code == 422, resp.text
        description = resp.json["description"]
        assert description.startswith(f"settings: {key}: a reserve of "), description
        assert "cannot be kept" in description
        assert_nothing_changed(d, before, USER_FILE.encode())
    assert ctl.state is State.IDLE
    # What pruning can make room for is taken, and a smaller reserve always is.
    client = testing.TestClient(d.app, headers=SAME)
    assert (
        client.simulate_put("/api/settings", json={"min_free_bytes": GiB // 2}).status == "200 OK"
    )
    d.card.free_bytes = GiB // 4
    assert (
        client.simulate_put("/api/settings", json={"min_free_bytes": GiB // 8}).status == "200 OK"
    )
    assert ctl.library.min_free_bytes == GiB // 8
    assert_still_working(d, client)


def test_a_protected_quota_below_what_protected_clips_hold_is_refused(card_dash):
    d = card_dash
    ctl = d.appliance.controller
    ctl.post(Event.START_RECORDING)
    d.appliance.wait_segments(1)
    client = testing.TestClient(d.app, headers=SAME)
    assert client.simulate_post("/api/incidents").status_code == 202
    assert wait_until(lambda: d.appliance.library.storage().protected > 0, 10)
    ctl.post(Event.STOP_RECORDING)  # the protected open segment closes: sizes stay put
    assert ctl.wait_for_state(State.IDLE)
    assert wait_until(lambda: not partials(d.appliance.config.storage_root), 10)
    held = d.appliance.library.storage().protected
    d.card.total_bytes = held * 10  # protected clips hold 10 % of this card
    text = USER_FILE + "min_free_bytes = 0  # a small card\n"
    d.config_path.write_text(text)
    before = ctl.config
    protected = [i.seq for i in d.appliance.library.page(kinds={Kind.PROTECTED}, limit=100)]
    resp = client.simulate_put("/api/settings", json={"protected_quota_percent": 5})
    assert resp.status_code == 422, resp.text
    assert resp.json["description"].startswith("settings: protected_quota_percent: ")
    assert "delete some first" in resp.json["description"]
    assert_nothing_changed(d, before, text.encode())
    resp = client.simulate_put("/api/settings", json={"protected_quota_percent": 10})
    assert resp.status_code == 200, resp.text
    kept = [i.seq for i in d.appliance.library.page(kinds={Kind.PROTECTED}, limit=100)]
    assert kept == protected  # a quota that holds them all deletes nothing


def test_a_file_edited_past_the_card_is_named_and_kept(card_dash):
    d = card_dash
    client = testing.TestClient(d.app, headers=SAME)
    text = USER_FILE + f"loop_quota_bytes = {9 * GiB}\n"
    d.config_path.write_text(text)
    before = d.appliance.controller.config
    resp = client.simulate_put("/api/settings", json={"segment_seconds": 5})
    assert resp.status_code == 422
    assert resp.json["description"].startswith(f"{d.config_path}: loop_quota_bytes: ")
    assert_nothing_changed(d, before, text.encode())


def test_without_the_card_sizes_cannot_change_but_the_rest_can(card_dash):
    d = card_dash
    client = testing.TestClient(d.app, headers=SAME)
    before = d.appliance.controller.config
    d.card.gone.set()
    try:
        resp = client.simulate_put("/api/settings", json={"min_free_bytes": GiB})
        assert resp.status_code == 503, resp.text
        assert "min_free_bytes cannot be changed now" in resp.json["description"]
        assert_nothing_changed(d, before, USER_FILE.encode())
        resp = client.simulate_put("/api/settings", json={"led_brightness": 0.5})
        assert resp.status_code == 200, resp.text
    finally:
        d.card.gone.clear()
    assert config_mod.load(d.config_path)[0].led_brightness == 0.5


# --- a change that cannot be applied or saved changes nothing -----------------------------


def _app(d, **kwargs):
    """The dashboard app over ``d``'s appliance with other injected parts."""
    kwargs.setdefault("config_path", d.config_path)
    return create_app(d.appliance.controller, d.appliance.library, **kwargs)


def _put(app, body):
    """PUT /api/settings as the dashboard's own page at 127.0.0.1 sends it."""
    client = testing.TestClient(app)
    return client.simulate_put(
        "/api/settings",
        json=body,
        host="127.0.0.1",
        headers={"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"},
    )


@pytest.fixture
def dash(tmp_path):
    with dashboard(tmp_path, autostart=False) as d:
        assert d.appliance.controller.wait_for_state(State.IDLE)
        d.config_path.write_text(USER_FILE)
        yield d


def test_a_failing_apply_is_undone_and_writes_nothing(dash):
    d = dash
    calls = []

    def broken_led(config) -> None:  # the LED's PWM chip is gone: it follows the settings
        calls.append(config.led_brightness)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")

    app = _app(d)
    d.appliance.controller.settings.subscribe(broken_led)
    before = d.appliance.controller.config
    resp = _put(app, {"segment_seconds": 5, "min_free_bytes": GiB, "led_brightness": 0.5})
    assert resp.status_code == 503, resp.text
    assert "could not be applied" in resp.json["description"]
    assert "nothing was changed" in resp.json["description"]
    assert calls == [0.5, before.led_brightness]  # tried, then put back
    assert_nothing_changed(d, before, USER_FILE.encode())
    assert_still_working(d, testing.TestClient(d.app, headers=SAME))


def test_a_config_folder_that_is_a_file_answers_507_and_changes_nothing(dash, tmp_path):
    d = dash
    blocker = tmp_path / "etc"
    blocker.write_text("not a folder\n")
    app = _app(d, config_path=blocker / "dashcam.toml")
    before = d.appliance.controller.config
    resp = _put(app, {"segment_seconds": 5, "led_brightness": 0.5})
    assert resp.status_code == 507, resp.text
    assert "could not be saved to dashcam.toml" in resp.json["description"]
    assert d.appliance.controller.config == before
    assert d.appliance.panel.led_driver.brightness == before.led_brightness
    assert blocker.read_text() == "not a folder\n"
    assert_still_working(d, testing.TestClient(d.app, headers=SAME))


def test_a_read_only_config_folder_answers_507_and_changes_nothing(dash, tmp_path):
    d = dash
    with tmpfs(tmp_path / "ro", 1024 * 1024) as folder:
        path = folder / "dashcam.toml"
        path.write_text(USER_FILE)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        app = _app(d, config_path=path)
        before = d.appliance.controller.config
        resp = _put(app, {"segment_seconds": 5})
        assert resp.status_code == 507, resp.text
        assert "Read-only file system" in resp.json["description"]
        assert path.read_text() == USER_FILE
        assert d.appliance.controller.config == before
        assert d.appliance.controller.recorder.segment_seconds == before.segment_seconds
    assert_still_working(d, testing.TestClient(d.app, headers=SAME))


def test_a_broken_config_file_is_named_and_left_alone(dash):
    d = dash
    d.config_path.write_text("segment_seconds = = 3\n# mine\n")
    before = d.appliance.controller.config
    resp = testing.TestClient(d.app, headers=SAME).simulate_put(
        "/api/settings", json={"segment_seconds": 5}
    )
    assert resp.status_code == 409, resp.text
    assert "not valid TOML" in resp.json["description"]
    assert_nothing_changed(d, before, b"segment_seconds = = 3\n# mine\n")


# --- the file keeps its comments and loads at the next start ------------------------------


def test_the_saved_file_keeps_comments_layout_and_keys_written_on_purpose(dash):
    d = dash
    client = testing.TestClient(d.app, headers=SAME)
    resp = client.simulate_put(
        "/api/settings",
        json={"video_fps": 25, "min_free_percent": 5, "loop_quota_bytes": 10**9, "autostart": True},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json["restart_needed"] == ["video_fps"]
    # autostart = true equals the default and was not in the file: not added;
    # min_free_percent = 5 equals what the file says: that line is not touched.
    assert d.config_path.read_text() == USER_FILE.replace("video_fps=30", "video_fps=25") + (
        "loop_quota_bytes = 1000000000\n"
    )


NEXT_START = """\
# written by hand, then changed from the phone
video_width = 320
video_height = 240
video_bitrate = 400000   # low for the test
segment_seconds = 2.0
min_free_bytes = 0
min_free_percent = 0.0
"""


def test_a_file_written_by_the_settings_api_loads_at_the_next_start(dash, tmp_path):
    d = dash
    d.config_path.write_text(NEXT_START)
    client = testing.TestClient(d.app, headers=SAME)
    resp = client.simulate_put(
        "/api/settings",
        json={
            "segment_seconds": 1.5,
            "video_bitrate": 500_000,
            "loop_quota_bytes": 10**9,
            "led_brightness": 0.25,
            "preview_max_viewers": 2,
        },
    )
    assert resp.status_code == 200, resp.text
    written = d.config_path.read_text()
    assert written.startswith("# written by hand, then changed from the phone\n")
    assert "video_bitrate = 500000   # low for the test\n" in written
    check = subprocess.run(
        [sys.executable, "-m", "hw.cli", "check-config", str(d.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    returncode, err = run_until_a_clip(d.config_path, tmp_path / "next")
    assert returncode == 0, err
    assert f"config: {d.config_path}" in err


def run_until_a_clip(config_path, root):
    """Run ``dashcam run --sim`` with ``config_path`` until a clip is closed; SIGTERM it.

    Returns:
        Its exit code and its log (standard error).
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim", "--no-web"]
        + ["--config", str(config_path), "--storage", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        loop = root / "DCIM" / "LOOP"
        assert wait_until(lambda: loop.is_dir() and any(loop.rglob("*.mp4")), 30), (
            child.stderr.read() if child.poll() is not None else "no closed clip"
        )
    finally:
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
    return child.returncode, err


def test_the_start_lowers_a_reserve_larger_than_half_the_card_and_records(tmp_path):
    """A card smaller than the config was written for still records (the key is named)."""
    path = tmp_path / "dashcam.toml"
    path.write_text(
        f"min_free_bytes = {MAX_BYTES}\nsegment_seconds = 1\n"
        "video_width = 320\nvideo_height = 240\nvideo_bitrate = 400000\n"
    )
    with tmpfs(tmp_path / "card", 64 * 1024 * 1024) as root:
        returncode, err = run_until_a_clip(path, root)
    assert returncode == 0, err
    assert "min_free_bytes:" in err and "does not fit this card" in err
    assert "Traceback" not in err


def test_fit_to_card_lowers_only_what_does_not_fit():
    card = 8 * 1024**3
    fitted, messages = config_mod.fit_to_card(
        Config(min_free_bytes=MAX_BYTES, loop_quota_bytes=MAX_BYTES, segment_seconds=30.0), card
    )
    assert (fitted.min_free_bytes, fitted.loop_quota_bytes) == (card // 2, card)
    assert fitted.segment_seconds == 30.0
    assert [m.split(":")[0] for m in messages] == ["min_free_bytes", "loop_quota_bytes"]
    config_mod.check_against_card(fitted, card)
    same = Config(min_free_bytes=1024)
    assert config_mod.fit_to_card(same, card) == (same, [])


# --- the LED ------------------------------------------------------------------------------


class FlakyPWMPin(MockPWMPin):
    """A mock PWM pin whose writes fail while ``failing`` is set (a PWM chip that errs)."""

    failing = False

    def _set_state(self, value):
        if self.failing:
            raise OSError(5, "Input/output error")
        super()._set_state(value)


@pytest.fixture
def panel():
    factory = MockFactory(pin_class=FlakyPWMPin)
    panel = Panel(Config(), lambda event: None, pin_factory=factory)
    try:
        yield panel, factory.pin(Config().led_pin)
    finally:
        panel.close()


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -float("inf"), 1.5, -0.1, 10**30, 10**400, True, "1", None],
    ids=repr,
)
def test_the_panel_refuses_a_bad_brightness_before_the_led_thread_sees_it(panel, value):
    p, pin = panel
    p.set_brightness(0.5)
    assert wait_until(lambda: pin.state == 0.5, 5)
    with pytest.raises(ValueError, match="led_brightness"):
        p.set_brightness(value)
    assert p.led_driver.brightness == 0.5
    p.set_brightness(0.25)  # the thread still plays, at the new brightness
    assert wait_until(lambda: pin.state == 0.25, 5)
    assert p.led_driver.alive


@pytest.mark.parametrize("value", [0.01, 0.0, 1.5, float("nan"), True, "1"], ids=repr)
def test_the_panel_refuses_a_brightness_with_the_config_s_own_check(panel, value):
    """Issue 22: the LED's brightness is checked once, by the config's rule (0.05 to 1.0),
    not a third time by the panel with its own bounds."""
    p, _pin = panel
    with pytest.raises(ConfigError) as direct:
        config_mod.check_value("led_brightness", value)
    with pytest.raises(ConfigError) as caught:
        p.set_brightness(value)
    assert str(caught.value) == str(direct.value)
    assert p.led_driver.brightness == Config().led_brightness


def test_the_led_thread_survives_a_failing_pin_and_recovers(panel, caplog):
    p, pin = panel
    pin.failing = True
    p.led_driver.show(STATE_PATTERNS[State.RECORDING])  # a steady light: one write
    assert wait_until(lambda: "the LED failed" in caplog.text, 5)
    assert p.led_driver.alive
    pin.failing = False
    assert wait_until(lambda: pin.state == 1.0, 5)  # retried: solid at full brightness
    p.set_brightness(0.5)
    assert wait_until(lambda: pin.state == 0.5, 5)
    assert p.led_driver.alive


def test_over_the_wire_hostile_settings_change_nothing_and_a_good_one_saves(dash):
    d = dash
    ctl = d.appliance.controller
    before = ctl.config
    with serve(d.app) as addr:
        own = {
            "Origin": f"http://{addr[0]}:{addr[1]}",
            "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/json",
        }
        for body in (
            b'{"segment_seconds": NaN}',
            b'{"led_brightness": Infinity}',
            b'{"min_free_percent": -Infinity}',
            b'{"protected_quota_percent": 1e309}',
            b'{"segment_seconds": 1e308}',
            b'{"min_free_bytes": 1000000000000000000000000000000}',
            b'{"min_free_bytes": 4611686018427387904}',
        ):
            resp = request(addr, "/api/settings", method="PUT", headers=own, body=body)
            assert 400 <= resp.status < 500, (body, resp.status, resp.body)
            assert json.loads(resp.body)["description"]
            assert_nothing_changed(d, before, USER_FILE.encode())
            assert request(addr, "/api/status").status == 200
        body = b'{"segment_seconds": 3}'
        resp = request(addr, "/api/settings", method="PUT", headers=own, body=body)
        assert resp.status == 200, resp.body
    assert d.config_path.read_text() == USER_FILE.replace(
        "segment_seconds = 1.0 ", "segment_seconds = 3.0 "
    )
    assert ctl.recorder.segment_seconds == 3.0
    assert_still_working(d, testing.TestClient(d.app, headers=SAME))
