"""Settings in plain words, in a real browser (Debian's Chromium) against a real
``dashcam run --sim`` child, at 390x844 and 844x390: clip length in minutes and seconds,
quality as resolution and Mbit/s, the reserve in GB and in minutes of video; Save sends
only the keys that changed (the request body is read as it leaves the page) and says which
apply after a restart.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.browser_fixtures import (
    LANDSCAPE,
    PHONE,
    get_json,
    module_fixtures,
    phone_page,
)

#: A realistic start: 90 s clips at 8 Mbit/s, the default 512 MiB reserve (0.54 GB shown:
#: saving something else must not round it).
CONFIG = """\
segment_seconds = 90.0
video_bitrate = 8000000
min_free_bytes = 536870912
led_brightness = 1.0
"""
START = {
    "segment_seconds": 90.0,
    "video_width": 320,
    "video_height": 240,
    "video_bitrate": 8_000_000,
    "min_free_bytes": 536870912,
    "min_free_percent": 0.0,
    "led_brightness": 1.0,
    "autostart": True,
}


server, browser = module_fixtures(CONFIG, "settings")


def put_settings(base: str, body: dict) -> None:
    req = urllib.request.Request(
        base + "/api/settings", data=json.dumps(body).encode(), method="PUT"
    )
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


@pytest.fixture
def settings_page(browser, server, request):
    """The Settings tab at the start values, with every PUT body the page sends."""
    put_settings(server, START)
    viewport = getattr(request, "param", PHONE)
    with phone_page(browser, server, viewport) as page:
        sent: list[dict] = []
        page.on(
            "request",
            lambda r: (
                sent.append(json.loads(r.post_data))
                if r.method == "PUT" and r.url.endswith("/api/settings")
                else None
            ),
        )
        page.click("a[data-tab='settings']")
        page.wait_for_function("document.querySelector('[name=clip_min]').value === '1'")
        yield page, sent
    put_settings(server, START)


def save(page, sent: list, count: int) -> str:
    page.evaluate("document.getElementById('settings-msg').textContent = ''")
    page.click("#settings button[type=submit]")
    page.wait_for_function("document.getElementById('settings-msg').textContent !== ''")
    assert len(sent) == count, sent
    return page.text_content("#settings-msg")


def field(page, name: str) -> str:
    return page.input_value(f"[name={name}]")


def test_settings_read_in_plain_words(settings_page, server):
    page, _ = settings_page
    assert (field(page, "clip_min"), field(page, "clip_sec")) == ("1", "30")
    assert field(page, "resolution") == "320x240"
    assert page.text_content("[name=resolution] option:checked") == "320 × 240"
    assert field(page, "bitrate_mbps") == "8"
    assert field(page, "reserve_gb") == "0.54"
    assert page.text_content("#quality-hint") == "About 3.6 GB per hour of driving."
    # 536870912 bytes at 8 Mbit/s: 536.87 s, about 9 minutes.
    assert page.text_content("#reserve-hint") == (
        "The oldest loop clips are deleted to keep 537 MB free: "
        "room for about 9 min of video at 8 Mbit/s."
    )
    page.fill("[name=reserve_gb]", "2")  # the explanation follows the field
    assert "keep 2.0 GB free: room for about 33 min" in page.text_content("#reserve-hint")
    labels = page.eval_on_selector_all(
        "#settings [data-keys]",
        "els => Object.fromEntries(els.map(e => [e.dataset.keys, "
        "e.querySelector('.when').textContent]))",
    )
    restart = set(get_json(server, "/api/settings")["restart"])
    for keys, when in labels.items():
        assert (when == "· after a restart") == any(k in restart for k in keys.split()), keys


@pytest.mark.parametrize("settings_page", [PHONE, LANDSCAPE], indirect=True, ids=["p", "l"])
def test_save_sends_only_the_keys_that_changed(settings_page, server):
    page, sent = settings_page
    assert save(page, sent, 0) == "Nothing changed."

    page.fill("[name=clip_min]", "2")
    page.fill("[name=clip_sec]", "0")
    assert save(page, sent, 1) == "Saved: Clip length applied now."
    assert sent[-1] == {"segment_seconds": 120}
    assert get_json(server, "/api/settings")["settings"]["segment_seconds"] == 120

    page.select_option("[name=resolution]", "1280x720")
    page.fill("[name=bitrate_mbps]", "4")
    text = save(page, sent, 2)
    assert sent[-1] == {"video_width": 1280, "video_height": 720, "video_bitrate": 4_000_000}
    assert text == "Saved. Applies after a restart: Resolution, Quality."
    # The form shows what was saved (not the running values, which wait for the restart).
    assert field(page, "resolution") == "1280x720"

    page.fill("[name=led_brightness]", "0.5")
    page.uncheck("[name=autostart]")
    assert save(page, sent, 3) == "Saved: LED brightness, Start recording at power-on applied now."
    assert sent[-1] == {"led_brightness": 0.5, "autostart": False}
    after = get_json(server, "/api/settings")["settings"]
    assert after["min_free_bytes"] == 536870912  # never sent, never rounded
    assert (after["led_brightness"], after["autostart"]) == (0.5, False)


def test_a_refused_value_says_why_and_changes_nothing(settings_page, server):
    page, sent = settings_page
    page.fill("[name=clip_min]", "0")
    page.fill("[name=clip_sec]", "0")
    text = save(page, sent, 1)
    assert sent[-1] == {"segment_seconds": 0}
    # The field's name, never the config key (the API's message keeps the key for machines).
    assert text.startswith("Not saved: Clip length (in seconds): must be from 1.0 to 600.0"), text
    assert "_" not in text, text
    assert get_json(server, "/api/settings")["settings"]["segment_seconds"] == 90
