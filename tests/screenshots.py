"""The README's screenshots of the phone dashboard: Live, Gallery, an incident in the player,
Settings and Live with the connection lost, in the dark, light and sunlight themes, at
390x844.

Run ``.venv/bin/python -m tests.screenshots`` (not a test: pytest collects only
``test_*.py``). It starts ``dashcam run --sim`` in a temporary folder, records a few clips,
takes two photos and protects an incident, then writes ``web/docs/<view>-<theme>.png``
(a 256-colour palette keeps each file small).
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

from tests.browser_fixtures import PHONE, chromium, get_json, phone_page, post, sim_server
from tests.harness import wait_until

DOCS = Path(__file__).parents[1] / "web" / "docs"
THEMES = ("dark", "light", "sunlight")
#: A wide picture, 4 s clips: a gallery worth looking at within half a minute.
CONFIG = """\
video_width = 640
video_height = 360
preview_width = 640
preview_height = 360
segment_seconds = 4.0
"""


def save_png(page, name: str) -> int:
    """Write the page as ``web/docs/<name>.png`` (palette PNG); returns its size in bytes."""
    shot = Image.open(io.BytesIO(page.screenshot()))
    small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    path = DOCS / f"{name}.png"
    small.save(path, optimize=True)
    return path.stat().st_size


def prepare(base: str) -> dict:
    """Clips, two photos and one complete incident on the simulated card."""
    status = lambda: get_json(base, "/api/status")  # noqa: E731
    assert wait_until(lambda: status()["counts"]["loop"] >= 3, 60)
    for _ in range(2):
        still = status()["last_still"]
        post(base, "/api/photos")
        assert wait_until(lambda s=still: status()["last_still"] != s, 10)
    post(base, "/api/incidents")
    assert wait_until(lambda: get_json(base, "/api/incidents"), 10)
    assert wait_until(lambda: get_json(base, "/api/incidents")[0]["complete"], 30)
    assert wait_until(lambda: status()["counts"]["loop"] >= 4, 30)
    return get_json(base, "/api/incidents")[0]


def shoot(browser, base: str, incident: dict, theme: str) -> dict[str, int]:
    sizes = {}
    with phone_page(browser, base, PHONE, theme=theme, device_scale_factor=2) as page:
        page.wait_for_function("document.getElementById('liveview').dataset.playing === 'true'")
        page.wait_for_function("document.getElementById('lg-loop').textContent !== '0 B'")
        sizes[f"live-{theme}"] = save_png(page, f"live-{theme}")

        page.click("a[data-tab='gallery']")
        page.wait_for_function(
            "[...document.querySelectorAll('#gallery .tile img')]"
            ".filter(i => i.complete && i.naturalWidth > 0).length >= 4"
        )
        sizes[f"gallery-{theme}"] = save_png(page, f"gallery-{theme}")

        page.click("#views .chip[data-kind='events']")
        tile = f"#gallery .tile[data-incident='{incident['id']}']"
        page.wait_for_selector(tile)
        page.click(tile)
        page.wait_for_selector("#player", state="visible")
        page.wait_for_function(
            "document.getElementById('video').readyState >= 2 && "
            "!document.getElementById('video').seeking && "
            "!document.getElementById('timeline').hidden"
        )
        sizes[f"incident-{theme}"] = save_png(page, f"incident-{theme}")
        page.click("#player-close")

        page.click("a[data-tab='settings']")
        page.wait_for_function("document.querySelector('[name=clip_sec]').value !== ''")
        sizes[f"settings-{theme}"] = save_png(page, f"settings-{theme}")

        # The connection lost, as the page shows it the moment the event stream drops (the
        # stream is closed from the page: the appliance records on for the next theme).
        page.click("a[data-tab='live']")
        page.wait_for_function("document.getElementById('liveview').dataset.playing === 'true'")
        page.evaluate("source.close(); setLink(false)")
        page.wait_for_function("document.documentElement.dataset.link === 'lost'")
        sizes[f"offline-{theme}"] = save_png(page, f"offline-{theme}")
    return sizes


def main() -> int:
    DOCS.mkdir(exist_ok=True)
    sizes: dict[str, int] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        sim_server(Path(tmp), CONFIG) as base,
        chromium() as browser,
    ):
        incident = prepare(base)
        for theme in THEMES:
            sizes.update(shoot(browser, base, incident, theme))
    for name, size in sizes.items():
        print(f"web/docs/{name}.png {size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
