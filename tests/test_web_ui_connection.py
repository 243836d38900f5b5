"""The page never lies about the camera, in a real browser (Debian's Chromium) against real
``dashcam run --sim`` children: a lost connection shows at once (the state unknown, the
picture marked frozen, the clock stopped, the controls off with the reason) and comes back
by itself; a 401 on the event stream, the live view or a request leads to the login; the
login page follows the theme and tells a throttled address its wait; logout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from tests.browser_fixtures import LANDSCAPE, RECORDER, chromium, phone_page, sim_server
from tests.test_web_ui_live import set_page_hidden
from tests.web_fixtures import free_port

PASSWORD = "correct horse"
WITH_PASSWORD = f'web_password = "{PASSWORD}"\n'
CONTROLS = ("photo", "record", "protect")


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def session_cookie(base: str, password: str = PASSWORD) -> str:
    """A session made by logging in from outside the browser: its cookie's value."""
    req = urllib.request.Request(
        base + "/api/session", data=json.dumps({"password": password}).encode(), method="POST"
    )
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 204
        cookie = SimpleCookie(resp.headers["Set-Cookie"])
    return cookie["dashcam_session"].value


def logged_in(base: str) -> dict:
    """``phone_page`` arguments for a browser holding a fresh session of ``base``."""
    cookie = {"name": "dashcam_session", "value": session_cookie(base), "url": base}
    return {"storage_state": {"cookies": [cookie], "origins": []}}


def drop_session(base: str, token: str) -> None:
    """Log the session out from elsewhere (as another tab of the phone would)."""
    req = urllib.request.Request(base + "/api/session", method="DELETE")
    req.add_header("Cookie", f"dashcam_session={token}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 204


def page_cookie(page) -> str:
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "dashcam_session"]
    return cookie["value"]


LOST = """() => {
  const $ = (id) => document.getElementById(id);
  return { link: document.documentElement.dataset.link, state: $("state").textContent,
    offline: !$("offline").hidden && $("offline").textContent,
    frozen: $("liveview").dataset.frozen === "true" && !$("frozen").hidden,
    frozenText: $("frozen").textContent, clock: $("clock").textContent,
    clockStyle: getComputedStyle($("clock")).textDecorationLine,
    controls: ["photo", "record", "protect"].map((id) => [$(id).disabled, $(id).title]) };
}"""


def wait_ms(page, ms: int) -> None:
    """Let the page run for ``ms`` (its own clock: the test waits on the page, not a sleep)."""
    page.evaluate("window.waitFrom = performance.now()")
    page.wait_for_function(f"performance.now() - window.waitFrom >= {ms}")


def test_a_lost_connection_shows_at_once_and_comes_back_by_itself(browser, tmp_path):
    port = free_port()
    with contextlib.ExitStack() as first:
        base = first.enter_context(sim_server(tmp_path, port=port))
        with phone_page(browser, base) as page:
            page.wait_for_function("document.getElementById('state').dataset.state === 'recording'")
            page.wait_for_function("document.getElementById('liveview').dataset.playing === 'true'")
            first.close()  # the dashcam goes away (the car's Wi-Fi dropped, the Pi restarted)
            page.wait_for_function("document.documentElement.dataset.link === 'lost'", timeout=5000)
            lost = page.evaluate(LOST)
            assert lost["state"] == "No connection", lost
            assert lost["offline"] and "No connection to the dashcam" in lost["offline"], lost
            assert lost["frozen"] and "Frozen" in lost["frozenText"], lost
            assert lost["clockStyle"] == "line-through", lost
            assert lost["controls"] == [[True, "No connection to the dashcam."]] * 3, lost
            wait_ms(page, 1500)
            assert page.evaluate(LOST)["clock"] == lost["clock"]  # stopped, not ticking on
            assert page.evaluate("seen.toasts") == []  # nothing was pending: nothing to say

            with sim_server(tmp_path, port=port):  # back: the page reconnects by itself
                page.wait_for_function(
                    "document.documentElement.dataset.link === 'live'"
                    " && document.getElementById('state').dataset.state === 'recording'",
                    timeout=15_000,
                )
                back = page.evaluate(LOST)
                assert back["offline"] is False and back["frozen"] is False, back
                assert back["controls"] == [[False, ""]] * 3, back
                assert back["clockStyle"] == "none", back
                page.wait_for_function(
                    f"document.getElementById('clock').textContent !== {json.dumps(back['clock'])}"
                )
                page.wait_for_function(
                    "document.getElementById('liveview').dataset.playing === 'true'",
                    timeout=15_000,
                )


def child_of(config: Path) -> int:
    """The pid of this test's ``dashcam run`` child started with ``config``."""
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and str(config).encode() in args:
            return int(proc.name)
    raise AssertionError(f"no child runs with {config}")


def test_a_line_that_goes_quiet_is_found_lost_and_comes_back(browser, tmp_path):
    """The phone walks out of the car's Wi-Fi: no reset arrives, the stream just stops. The
    server is frozen (SIGSTOP): its connections stay open and answer nothing."""
    with sim_server(tmp_path) as base, phone_page(browser, base, LANDSCAPE) as page:
        pid = child_of(tmp_path / "dashcam.toml")
        page.wait_for_function("document.getElementById('state').dataset.state === 'recording'")
        os.kill(pid, signal.SIGSTOP)
        try:
            # At most QUIET_MS + ASK_MS + the 1 s check after the last event.
            page.wait_for_function(
                "document.documentElement.dataset.link === 'lost'", timeout=12_000
            )
            lost = page.evaluate(LOST)
            assert lost["state"] == "No connection" and lost["frozen"], lost
            assert lost["controls"] == [[True, "No connection to the dashcam."]] * 3, lost
            # In landscape the notice keeps to the top bar's row: nothing slides under it.
            top = page.evaluate(
                "[document.querySelector('.top').getBoundingClientRect().bottom,"
                " document.getElementById('photo').getBoundingClientRect().top,"
                " document.getElementById('offline').getBoundingClientRect().bottom]"
            )
            assert top[2] <= top[0] <= top[1], top
        finally:
            os.kill(pid, signal.SIGCONT)
        page.wait_for_function(
            "document.documentElement.dataset.link === 'live'"
            " && document.getElementById('state').dataset.state === 'recording'",
            timeout=15_000,
        )


def test_after_a_restart_with_a_password_the_page_goes_to_the_login(browser, tmp_path):
    """The issue's case: sessions live in memory, so a restart ends them; the event
    stream's reconnection is refused (401) and the page used to retry for ever."""
    port = free_port()
    with contextlib.ExitStack() as first:
        base = first.enter_context(sim_server(tmp_path, WITH_PASSWORD, port=port))
        with phone_page(browser, base, **logged_in(base)) as page:
            first.close()
            page.wait_for_function("document.documentElement.dataset.link === 'lost'")
            with sim_server(tmp_path, WITH_PASSWORD, port=port):
                page.wait_for_url(base + "/login?why=ended", timeout=15_000)
                page.wait_for_selector("#login input[name=password]")
                assert page.text_content("#msg").startswith("Your session has ended")


def test_a_401_on_a_request_or_on_the_live_view_goes_to_the_login(browser, tmp_path):
    with sim_server(tmp_path, WITH_PASSWORD) as base:
        # A request (a button): the answer is a 401.
        with phone_page(browser, base, **logged_in(base)) as page:
            drop_session(base, page_cookie(page))  # logged out elsewhere
            page.click("#photo")
            page.wait_for_url(base + "/login?why=ended")
        # The live view (an <img> stream: its error does not say 401; the page asks).
        with phone_page(browser, base, **logged_in(base)) as page:
            page.wait_for_function("document.getElementById('liveview').dataset.playing === 'true'")
            drop_session(base, page_cookie(page))
            set_page_hidden(page, True)  # the screen goes off: the live view closes ...
            assert page.get_attribute("#preview", "src") is None
            set_page_hidden(page, False)  # ... and on: opened again, refused
            page.wait_for_url(base + "/login?why=ended", timeout=10_000)


def test_logout_ends_the_session_and_says_when_there_is_no_password(browser, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    with sim_server(tmp_path / "a", WITH_PASSWORD) as base:
        with phone_page(browser, base, **logged_in(base)) as page:
            token = page_cookie(page)
            page.click("a[data-tab='settings']")
            page.wait_for_selector("#logout", state="visible")
            assert page.is_hidden("#login-note")
            page.click("#logout")
            page.wait_for_url(base + "/login?why=out")
            page.wait_for_function("document.getElementById('msg').textContent === 'Logged out.'")
            page.goto(base + "/")  # the dashboard is closed to this phone now
            assert page.url == base + "/login"
        req = urllib.request.Request(base + "/api/status")
        req.add_header("Cookie", f"dashcam_session={token}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=5)
        assert refused.value.code == 401
    with sim_server(tmp_path / "b") as base, phone_page(browser, base) as page:
        page.click("a[data-tab='settings']")
        page.wait_for_selector("#login-note", state="visible")
        assert page.is_hidden("#logout")
        assert "No password is set" in page.text_content("#login-note")


@contextlib.contextmanager
def login_page(browser, base: str, theme: str | None = None):
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    if theme:
        context.add_init_script(f"localStorage.setItem('dashcam.theme', {json.dumps(theme)})")
    context.add_init_script(RECORDER)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/")
    assert page.url == base + "/login"
    try:
        yield page
    finally:
        context.close()
    assert errors == []


def test_the_login_page_follows_the_theme_and_explains_a_throttled_wait(browser, tmp_path):
    with sim_server(tmp_path, WITH_PASSWORD) as base:
        for theme, background in (("light", "rgb(244, 245, 247)"), ("dark", "rgb(11, 13, 16)")):
            with login_page(browser, base, theme) as page:
                assert page.evaluate("document.documentElement.dataset.theme") == theme
                body = page.evaluate("getComputedStyle(document.body).backgroundColor")
                assert body == background
        with login_page(browser, base) as page:
            msg = "document.getElementById('msg').textContent"
            for _ in range(10):  # five wrong tries are free, then each one waits
                page.fill("input[name=password]", "wrong")
                page.click("button[type=submit]")
                page.wait_for_function(f"{msg} !== ''")
                if "Too many" in page.text_content("#msg"):
                    break
                assert page.text_content("#msg") == "Wrong password."
                page.evaluate(f"{msg.replace('.textContent', '')}.textContent = ''")
            text = page.text_content("#msg")
            assert "Too many wrong passwords" in text and " s." in text, text
            assert page.get_attribute("#msg", "data-kind") == "error"
            colour = page.evaluate("getComputedStyle(document.getElementById('msg')).color")
            plain = page.evaluate(
                "(() => { const p = document.createElement('p'); p.className = 'note';"
                " document.body.append(p); return getComputedStyle(p).color; })()"
            )
            assert colour != plain  # not the grey of a plain note
            assert page.is_disabled("button[type=submit]")  # while it waits
            page.wait_for_function(
                "!document.querySelector('button[type=submit]').disabled", timeout=15_000
            )
            assert page.text_content("#msg") == "You can try again now."
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
