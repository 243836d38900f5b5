"""Shared by the browser tests: a ``dashcam run --sim`` child on a free port, Debian's
Chromium driven by Playwright, and phone-sized pages on the dashboard.

Each test module makes its own module-scoped fixtures from :func:`sim_server` (with
the config lines it needs) and :func:`chromium`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import wait_until
from tests.web_fixtures import free_port

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
LANDSCAPE = {"width": 844, "height": 390}
#: Runs a test once in portrait and once in landscape.
VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, LANDSCAPE], ids=["portrait", "landscape"])

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (dev extra)"
)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (./dev.sh test does)",
        allow_module_level=True,
    )

CONFIG = """\
video_width = 320
video_height = 240
video_fps = 30
video_bitrate = 400000
preview_width = 320
preview_height = 240
segment_seconds = 2.0
min_free_bytes = 0
min_free_percent = 0.0
web_host = "127.0.0.1"
web_port = {port}
"""


def get_json(base: str, path: str):
    with urllib.request.urlopen(base + path, timeout=5) as resp:
        return json.load(resp)


def post(base: str, path: str, body: dict | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(base + path, data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status


def _with_lines(base: str, extra: str) -> str:
    """``base`` TOML with ``extra``'s lines, which replace base lines of the same key."""
    keys = {line.split("=")[0].strip() for line in extra.splitlines() if "=" in line}
    kept = [line for line in base.splitlines() if line.split("=")[0].strip() not in keys]
    return "\n".join(kept) + "\n" + extra


@contextlib.contextmanager
def sim_server(tmp: Path, extra_config: str = "", port: int | None = None) -> Iterator[str]:
    """A ``dashcam run --sim`` child recording on a free port; SIGTERM at the end.

    ``extra_config``: TOML lines added to (or replacing keys of) the small :data:`CONFIG`.
    ``port``: this one instead of a free one (a restart: the same ``tmp`` and ``port`` again).

    Yields:
        The base URL (``http://127.0.0.1:<port>``).
    """
    port = port or free_port()
    config = tmp / "dashcam.toml"
    config.write_text(_with_lines(CONFIG.format(port=port), extra_config))
    log_path = tmp / "dashcam.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    child = subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim"]
        + ["--config", str(config), "--storage", str(tmp / "card")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return get_json(base, "/api/health")["state"] == "recording"
        except OSError:
            return False

    try:
        assert wait_until(healthy, 30), log_path.read_text()[-3000:]
        yield base
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        finally:
            if child.poll() is None:
                child.kill()
            log.close()
    assert child.returncode == 0, log_path.read_text()[-3000:]


@contextlib.contextmanager
def chromium() -> Iterator:
    """Debian's Chromium, headless."""
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield b
        finally:
            b.close()


#: Installed before the page's scripts: every toast shown (kind and text) and every change of
#: a control's pending state, in order, in ``window.seen`` (toasts leave after seconds).
RECORDER = """
window.seen = { toasts: [], pending: [] };
new MutationObserver((records) => {
  for (const r of records) {
    if (r.type === "attributes") {
      seen.pending.push(`${r.target.id}:${r.target.dataset.pending}`);
      continue;
    }
    for (const n of r.addedNodes) {
      if (n.classList && n.classList.contains("toast")) {
        seen.toasts.push({ kind: n.dataset.kind, text: n.textContent });
      }
    }
  }
}).observe(document, { subtree: true, childList: true, attributes: true,
  attributeFilter: ["data-pending"] });
"""


def toasts(page, kind: str | None = None) -> list[str]:
    """The texts of the toasts shown so far (of one kind, if given)."""
    return [t["text"] for t in page.evaluate("seen.toasts") if kind is None or t["kind"] == kind]


@contextlib.contextmanager
def phone_page(browser, base: str, viewport=PHONE, *, theme: str | None = None, **context_args):
    """A page on the dashboard, connected (live); page errors fail the test at the end.

    ``theme`` is stored as this phone's choice before the page loads.
    """
    options = {"device_scale_factor": 2, "is_mobile": True, "bypass_csp": True}  # bypass: for
    context = browser.new_context(viewport=viewport, **{**options, **context_args})  # evaluate
    if theme is not None:
        context.add_init_script(f"localStorage.setItem('dashcam.theme', {json.dumps(theme)})")
    context.add_init_script(RECORDER)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Not "load": the live view's endless MJPEG may hold the load event back on a busy machine;
    # the page is ready once the live stream and its first snapshot are in.
    page.goto(base + "/", wait_until="domcontentloaded")
    page.wait_for_selector("#link[data-live='true']", timeout=10_000)
    page.wait_for_function("status !== null")  # the first snapshot: what comes next is news
    try:
        yield page
    finally:
        context.close()
    assert errors == []


def module_fixtures(extra_config: str = "", folder: str = "browser"):
    """A module's ``server`` (a simulation with ``extra_config``) and ``browser`` fixtures,
    each made once per module: ``server, browser = module_fixtures(CONFIG)``."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        with sim_server(tmp_path_factory.mktemp(folder), extra_config) as base:
            yield base

    @pytest.fixture(scope="module")
    def browser():
        with chromium() as b:
            yield b

    return server, browser
