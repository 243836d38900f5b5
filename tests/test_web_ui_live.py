"""The Live tab in a real browser (Debian's Chromium) against a real ``dashcam run --sim``
child, at 390x844 and 844x390: feedback (toasts, vibration, the controls' pending state),
the live view that streams only while it is watched, full screen, and the controls in
reach of one thumb.
"""

from __future__ import annotations

import errno
import os
import re
import urllib.error
import urllib.request

import pytest

from tests.browser_fixtures import (
    LANDSCAPE,
    PHONE,
    VIEWPORTS,
    get_json,
    module_fixtures,
    phone_page,
    post,
    sim_server,
    toasts,
)
from tests.harness import tmpfs, wait_until

#: One preview viewer at most: whether the page holds the stream is seen from outside, as a
#: second viewer is refused (503) exactly while the page watches.
CONFIG = "preview_max_viewers = 1\n"


server, browser = module_fixtures(CONFIG, "live")


@pytest.fixture
def recording(server):
    """The appliance records at the start and again at the end of the test."""
    post(server, "/api/recording/start")
    assert wait_until(lambda: get_json(server, "/api/status")["state"] == "recording", 10)
    yield server
    post(server, "/api/recording/start")
    assert wait_until(lambda: get_json(server, "/api/status")["state"] == "recording", 10)


def newest_incident(base: str) -> dict | None:
    incidents = get_json(base, "/api/incidents")
    return incidents[0] if incidents else None


def preview_taken(base: str) -> bool:
    """True while another viewer holds the only preview slot (the server refuses a second)."""
    try:
        with urllib.request.urlopen(base + "/api/preview.mjpeg", timeout=5):
            return False  # got the slot: free it again by closing at once
    except urllib.error.HTTPError as exc:
        assert exc.code == 503, exc
        return True


def set_page_hidden(page, hidden: bool) -> None:
    """What a phone does when the screen goes off or another app comes up.

    Headless Chromium always reports a visible page (a second tab in front or a minimised
    window leaves ``document.hidden`` false), so the page's visibility is emulated: the
    two properties and the event, as the browser would change and send them.
    """
    page.evaluate(
        """(hidden) => {
          Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
          Object.defineProperty(document, "visibilityState", { configurable: true,
            get: () => (hidden ? "hidden" : "visible") });
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


# ---------- feedback ----------


@VIEWPORTS
def test_photo_shows_a_toast_and_the_button_goes_pending_then_done(browser, recording, viewport):
    with phone_page(browser, recording, viewport) as page:
        page.evaluate("navigator.vibrate = (p) => { seen.vibrated = p; return true; }")
        before = get_json(recording, "/api/status")["last_still"]
        page.click("#photo")
        page.wait_for_function("seen.toasts.some(t => t.text === 'Photo saved')")
        assert get_json(recording, "/api/status")["last_still"] != before
        page.wait_for_function("document.getElementById('photo').dataset.pending === 'idle'")
        assert page.evaluate("seen.pending.filter(p => p.startsWith('photo:'))") == [
            "photo:pending",
            "photo:done",
            "photo:idle",
        ]
        assert page.evaluate("seen.vibrated") == [40]
        assert page.get_attribute("#toasts", "aria-live") == "polite"


@VIEWPORTS
def test_protect_shows_a_toast_with_the_time_length_and_clip_count_never_clip_numbers(
    browser, recording, viewport
):
    with phone_page(browser, recording, viewport) as page:
        before = newest_incident(recording)
        page.click("#protect")
        page.wait_for_function("seen.toasts.some(t => t.text.startsWith('Incident protected'))")
        incident = newest_incident(recording)
        assert incident is not None and incident != before
        (text,) = [t for t in toasts(page) if t.startswith("Incident")]
        assert "#" not in text, text  # the gallery never shows clip numbers
        when = page.evaluate(f"timeText({incident['wall_s'] * 1000})")
        assert f" · {when} · " in text, (text, when)
        count = re.search(r"(\d+) clips?", text)
        assert count and 1 <= int(count[1]) <= len(incident["clips"]), (text, incident)
        page.wait_for_function("document.getElementById('protect').dataset.pending === 'idle'")
        assert page.evaluate("seen.pending.filter(p => p.startsWith('protect:'))") == [
            "protect:pending",
            "protect:done",
            "protect:idle",
        ]


def test_stop_asks_first_and_keep_recording_changes_nothing(browser, recording):
    with phone_page(browser, recording, LANDSCAPE) as page:
        page.wait_for_function("document.getElementById('state').dataset.state === 'recording'")
        page.click("#record")
        page.wait_for_selector("#stop-confirm[open]")
        assert page.text_content("#stop-title") == "Stop recording?"
        page.click("#stop-confirm button[value=keep]")
        page.wait_for_selector("#stop-confirm", state="hidden")
        assert page.evaluate("seen.pending") == []  # nothing was sent
        assert get_json(recording, "/api/status")["state"] == "recording"
        page.click("#record")
        page.click("#stop-confirm button[value=stop]")
        page.wait_for_function("document.getElementById('state').dataset.state === 'idle'")
        page.wait_for_function("document.getElementById('record').dataset.pending === 'idle'")
        assert page.evaluate("seen.pending.filter(p => p.startsWith('record:'))") == [
            "record:pending",
            "record:done",
            "record:idle",
        ]
        assert get_json(recording, "/api/status")["state"] == "idle"
        page.click("#record")  # starting is one tap
        page.wait_for_function("document.getElementById('state').dataset.state === 'recording'")
        assert page.is_hidden("#stop-confirm")


PILL = """() => { const r = document.getElementById("state").getBoundingClientRect();
  return { text: document.getElementById("state").textContent,
    bg: getComputedStyle(document.getElementById("state")).backgroundColor,
    seen: r.top >= 0 && r.bottom <= innerHeight && r.width > 0 }; }"""


@pytest.mark.parametrize("theme", ["dark", "light", "sunlight"])
def test_not_recording_is_said_in_words_and_colour_on_every_tab(browser, recording, theme):
    with phone_page(browser, recording, theme=theme) as page:
        page.wait_for_function("document.getElementById('state').dataset.state === 'recording'")
        rec = page.evaluate(PILL)
        assert page.title() == "● REC · dashcam"
        post(recording, "/api/recording/stop")
        page.wait_for_function("document.getElementById('state').dataset.state === 'idle'")
        assert page.text_content("#elapsed") == "NOT RECORDING"
        assert page.title() == "Not recording · dashcam"  # the phone's tab switcher too
        for tab in ("live", "gallery", "settings"):
            page.click(f"a[data-tab='{tab}']")
            page.wait_for_function(f"!document.getElementById('tab-{tab}').hidden")
            page.evaluate("window.scrollTo(0, 10_000)")  # the top bar stays
            idle = page.evaluate(PILL)
            assert idle["text"] == "Not recording" and idle["seen"], (tab, idle)
            warn = page.evaluate(
                "getComputedStyle(document.documentElement).getPropertyValue"
                "(document.documentElement.dataset.theme === 'sunlight' ? '--warn-fg' : '--warn')"
            ).strip()
            assert idle["bg"] == page.evaluate(
                "(c) => { const e = document.createElement('i'); e.style.color = c;"
                " document.body.append(e); const v = getComputedStyle(e).color; e.remove();"
                " return v; }",
                warn,
            ), (tab, idle, warn)
            assert idle["bg"] != rec["bg"]


OVERLAP = """() => {
  const boxes = [...document.querySelectorAll(".toast")].map((t) => t.getBoundingClientRect());
  const ids = ["state", "clock", "rec-chip", "photo", "record", "protect"];
  const hits = [];
  for (const id of ids) {
    const r = document.getElementById(id).getBoundingClientRect();
    for (const b of boxes) {
      const apart = b.right <= r.left || r.right <= b.left
        || b.bottom <= r.top || r.bottom <= b.top;
      if (!apart) hits.push(id);
    }
  }
  return { hits, toasts: boxes.length };
}"""


@VIEWPORTS
def test_a_toast_never_covers_the_state_the_clock_the_rec_chip_or_the_controls(
    browser, recording, viewport
):
    with phone_page(browser, recording, viewport) as page:
        for _ in range(3):  # three at once: the most shown
            page.evaluate(
                "toast('Photo saved at 12:00:00, a long line of text to wrap: ' + 'x'.repeat(60))"
            )
        assert page.evaluate(OVERLAP) == {"hits": [], "toasts": 3}
        page.evaluate("toast('IMPACT 2.5 g · protected · 12:00:00 · 0:42, 2 clips', 'impact')")
        assert page.evaluate(OVERLAP)["hits"] == []


def test_a_snapshot_with_a_notice_seen_again_is_not_toasted_again(browser, recording):
    """A new connection starts with the current snapshot, notice included: no repeat."""
    post(recording, "/api/recording/stop")  # idle: no segment change publishes meanwhile
    assert wait_until(lambda: get_json(recording, "/api/status")["state"] == "idle", 10)
    post(recording, "/api/photos")
    assert wait_until(lambda: get_json(recording, "/api/status")["notice"] == "photo", 10)
    with phone_page(browser, recording) as page:  # its first snapshot says "photo"
        assert page.evaluate("status.notice") == "photo"
        page.evaluate("connect()")  # and again on a reconnect
        page.wait_for_function("source.readyState === EventSource.OPEN")
        page.click("#photo")  # a new photo: exactly one toast, for it
        page.wait_for_function("seen.toasts.length > 0")
        page.wait_for_function("document.getElementById('photo').dataset.pending === 'idle'")
        assert toasts(page) == ["Photo saved"]


def test_notices_the_stream_never_delivered_are_toasted_once(browser, recording):
    """The event stream sends only the newest snapshot: one with a notice can be overtaken
    before it is sent (or sent while the phone was away). The photo and the incident are
    still toasted, once each."""
    post(recording, "/api/recording/stop")
    assert wait_until(lambda: get_json(recording, "/api/status")["state"] == "idle", 10)
    with phone_page(browser, recording) as page:
        page.wait_for_function("document.getElementById('state').dataset.state === 'idle'")
        page.wait_for_function("lastIncident !== null")  # the incidents seen so far
        page.evaluate("source.close()")  # the connection drops: no snapshot arrives
        still = get_json(recording, "/api/status")["last_still"]
        post(recording, "/api/photos")
        assert wait_until(lambda: get_json(recording, "/api/status")["last_still"] != still, 10)
        before = newest_incident(recording)
        post(recording, "/api/incidents")
        assert wait_until(lambda: newest_incident(recording) != before, 10)
        post(recording, "/api/recording/start")  # a later snapshot without a notice
        assert wait_until(lambda: get_json(recording, "/api/status")["state"] == "recording")
        assert get_json(recording, "/api/status")["notice"] is None
        page.evaluate("connect()")
        page.wait_for_function("document.getElementById('state').dataset.state === 'recording'")
        page.wait_for_function("seen.toasts.length >= 2")
        page.evaluate("connect()")  # once more: nothing new, no toast
        page.wait_for_function("source.readyState === EventSource.OPEN")
        page.click("#photo")  # a sync point: its toast comes after anything pending
        page.wait_for_function("seen.toasts.length >= 3")
        shown = toasts(page)
        assert shown.count("Photo saved") == 2, shown
        assert [t for t in shown if t.startswith("Incident protected")] == [shown[1]], shown


# ---------- live view ----------


@VIEWPORTS
def test_the_live_view_streams_only_while_the_tab_and_the_page_are_visible(
    browser, server, viewport
):
    with phone_page(browser, server, viewport) as page:
        # It starts by itself: the page holds the only preview slot.
        page.wait_for_function("document.getElementById('liveview').dataset.playing === 'true'")
        assert page.evaluate("document.getElementById('preview').naturalWidth") == 320
        assert preview_taken(server)
        # Another tab: the img loses its source and the server sees the viewer go.
        page.click("a[data-tab='settings']")  # the tab changes on hashchange, a task later
        page.wait_for_function("document.getElementById('preview').getAttribute('src') === null")
        assert wait_until(lambda: not preview_taken(server), 10)
        page.click("a[data-tab='live']")
        page.wait_for_function(
            "document.getElementById('liveview').dataset.playing === 'true'", timeout=15_000
        )
        assert preview_taken(server)
        # The phone's screen goes off: the stream closes; back on: it opens again.
        set_page_hidden(page, True)
        assert page.get_attribute("#preview", "src") is None
        assert wait_until(lambda: not preview_taken(server), 10)
        set_page_hidden(page, False)
        page.wait_for_function(
            "document.getElementById('liveview').dataset.playing === 'true'", timeout=15_000
        )
        assert preview_taken(server)


def test_tapping_the_live_view_goes_full_screen_and_back(browser, server):
    with phone_page(browser, server) as page:
        page.click("#liveview")
        page.wait_for_function("document.fullscreenElement?.id === 'liveview'")
        box = page.evaluate("document.getElementById('liveview').getBoundingClientRect().width")
        assert box == page.evaluate("window.innerWidth")
        page.click("#liveview")
        page.wait_for_function("document.fullscreenElement === null")


COVERAGE = """(id) => {
  const el = document.getElementById(id), r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
  const tabs = document.querySelector('.tabs').getBoundingClientRect();
  return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width,
    height: r.height, ownHit: el.contains(hit), tabsTop: tabs.top,
    view: r.bottom <= innerHeight && r.right <= innerWidth && r.top >= 0 && r.left >= 0 };
}"""


@VIEWPORTS
def test_the_controls_are_in_one_thumbs_reach(browser, server, viewport):
    with phone_page(browser, server, viewport) as page:
        # Scrolled to the bottom of the tab too: the controls stay where they are.
        for scroll in (0, 10_000):
            page.evaluate(f"window.scrollTo(0, {scroll})")
            for control in ("photo", "record", "protect"):
                box = page.evaluate(COVERAGE, control)
                assert box["view"] and box["ownHit"], (control, scroll, box)
                assert box["width"] >= 48 and box["height"] >= 48, (control, box)
                assert box["bottom"] <= box["tabsTop"], (control, box)  # above the tab bar
                if viewport == PHONE:  # the lower third of the screen
                    assert box["top"] >= viewport["height"] * 0.66, (control, box)
                else:  # the right edge
                    assert box["left"] >= viewport["width"] * 0.8, (control, box)
        # The live view is not hidden behind them.
        view = page.evaluate("document.getElementById('liveview').getBoundingClientRect().toJSON()")
        photo = page.evaluate(COVERAGE, "photo")
        page.evaluate("window.scrollTo(0, 0)")
        view = page.evaluate("document.getElementById('liveview').getBoundingClientRect().toJSON()")
        if viewport == PHONE:
            assert view["bottom"] <= page.evaluate(COVERAGE, "record")["top"]
        else:
            assert view["right"] <= photo["left"]
            assert view["bottom"] <= photo["tabsTop"]


CARD_BYTES = 32 * 1024 * 1024
RESERVE_BYTES = 8 * 1024 * 1024


def fill(path, leave_bytes: int) -> None:
    """Write a file on the card until only ``leave_bytes`` are free (or none: ENOSPC)."""
    chunk = b"\0" * (256 * 1024)
    with open(path, "wb", buffering=0) as f:
        try:
            while os.statvfs(path).f_bavail * os.statvfs(path).f_frsize > leave_bytes + len(chunk):
                f.write(chunk)
            if leave_bytes == 0:
                while True:
                    f.write(chunk[:4096])
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def test_a_full_card_and_an_error_are_toasted(browser, tmp_path):
    """On a real 32 MiB tmpfs card: less free than the reserve with nothing left to prune is
    a toast (card full); a card with no room at all fails the photo: an error toast, and the
    photo button shows it failed."""
    with tmpfs(tmp_path / "card", CARD_BYTES) as card:
        extra = f"min_free_bytes = {RESERVE_BYTES}\nprune_interval_s = 0.5\n"
        with sim_server(tmp_path, extra) as base, phone_page(browser, base) as page:
            page.wait_for_function("document.getElementById('state').dataset.state === 'recording'")
            filler = card / "filler.bin"
            fill(filler, RESERVE_BYTES // 2)
            page.wait_for_function("seen.toasts.some(t => t.kind === 'warn')", timeout=15_000)
            assert toasts(page, "warn") == ["Card full: recording paused until space is freed"]
            assert get_json(base, "/api/status")["state"] == "storage_full"
            filler.unlink()
            page.wait_for_function(
                "document.getElementById('state').dataset.state === 'recording'", timeout=15_000
            )
            # No room at all and nothing to prune (else the oldest loop clip would make room
            # for the photo): recording stopped, its clips deleted, the card then filled.
            post(base, "/api/recording/stop")
            page.wait_for_function("document.getElementById('state').dataset.state === 'idle'")
            for item in get_json(base, "/api/items?kind=loop&limit=200")["items"]:
                req = urllib.request.Request(f"{base}/api/items/{item['id']}", method="DELETE")
                urllib.request.urlopen(req, timeout=5).close()
            assert get_json(base, "/api/items?kind=loop")["items"] == []
            fill(filler, 0)
            page.click("#photo")
            page.wait_for_function("seen.pending.includes('photo:failed')", timeout=20_000)
            page.wait_for_function("seen.toasts.some(t => t.kind === 'error')")
            errors = toasts(page, "error")
            assert "Photo saved" not in toasts(page)
            last_error = get_json(base, "/api/status")["last_error"]
            assert last_error in errors or any(e.startswith("Photo failed") for e in errors), (
                errors,
                last_error,
            )
            filler.unlink()


def test_an_impact_is_toasted_with_its_peak(browser, recording):
    """A knock on the simulated G-sensor (the virtual panel's BUMP) protects an incident of
    kind impact: its toast says so, with the peak."""
    assert get_json(recording, "/api/panel")["bump"]
    with phone_page(browser, recording) as page:
        before = newest_incident(recording)
        page.click("#vbtn-bump")
        # The appliance finds the impact once the knock has settled (its peak known).
        assert wait_until(lambda: newest_incident(recording) != before, 30), before
        incident = newest_incident(recording)
        assert incident["kind"] == "impact", incident
        page.wait_for_function("seen.toasts.some(t => t.text.startsWith('IMPACT'))")
        (text,) = [t for t in toasts(page) if t.startswith("IMPACT")]
        assert text.startswith(f"IMPACT {incident['peak_g']:.1f} g · protected · "), text
        assert toasts(page, "impact") == [text]  # its own kind: not the green of a photo
        colours = page.evaluate(
            "() => [...document.querySelectorAll('.toast')].map((t) => t.dataset.kind"
            " + ' ' + getComputedStyle(t).backgroundColor)"
        )
        page.evaluate("toast('Photo saved')")
        photo = page.evaluate(
            "getComputedStyle(document.querySelector('.toast:last-child')).backgroundColor"
        )
        impact = [c for c in colours if c.startswith("impact ")]
        assert impact and impact[0].split(" ", 1)[1] != photo, (colours, photo)


def test_an_error_of_the_live_view_with_no_stream_asked_asks_for_none(browser, recording):
    """WebKit fires ``error`` on the live view's <img> when its src is removed. The handler
    must then do nothing: asking for a new stream there looped for minutes in WebKit against
    a dashcam that refused the stream (401 after a restart with a password)."""
    with phone_page(browser, recording) as page:
        page.wait_for_function("document.getElementById('liveview').dataset.on === 'true'")
        asked = page.evaluate(
            """() => new Promise((done) => {
              const img = document.getElementById('preview');
              img.removeAttribute('src');
              let sets = 0;
              new MutationObserver(() => { if (img.getAttribute('src')) sets++; })
                .observe(img, { attributes: true, attributeFilter: ['src'] });
              img.dispatchEvent(new Event('error'));
              setTimeout(() => done(sets), 300);
            })"""
        )
        assert asked == 0, "an error with no stream asked for asked for a new one"
