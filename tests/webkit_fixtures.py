"""A real WebKit engine for the browser tests: WebKitGTK's MiniBrowser driven by Debian's
``WebKitWebDriver`` (package ``webkit2gtk-driver``) through selenium, on an Xvfb screen.

Safari and every iPhone browser are WebKit; what plays in Chromium may not play there.
selenium's own WebKitGTK options send a ``browserName`` the driver rejects, so the
session asks with raw capabilities (``webkitgtk:browserOptions``: MiniBrowser in
automation mode). H.264 plays through GStreamer (``gstreamer1.0-libav``).

Use :func:`webkit` as a context manager (one browser, module-scoped in the tests that need
it); pages are opened with ``driver.get`` and read with ``driver.execute_script``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from tests.harness import wait_until
from tests.web_fixtures import free_port

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
#: A phone's screen, as the Chromium tests use (tests.browser_fixtures.PHONE).
PHONE = (390, 844)

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="the selenium package is not installed (dev extra)"
)
for _tool, _package in (
    ("WebKitWebDriver", "webkit2gtk-driver"),
    ("Xvfb", "xvfb"),
):
    if shutil.which(_tool) is None:
        pytest.skip(
            f"{_tool} is missing: install {_package} (./dev.sh test does)", allow_module_level=True
        )
if not os.access(MINIBROWSER, os.X_OK):
    pytest.skip(f"{MINIBROWSER} is missing (libwebkit2gtk-4.1-0)", allow_module_level=True)


@contextlib.contextmanager
def xvfb() -> Iterator[str]:
    """An Xvfb screen; its ``DISPLAY``."""
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        number = proc.stdout.readline().decode().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def webkit(size: tuple[int, int] = PHONE) -> Iterator:
    """A MiniBrowser window of ``size`` (CSS pixels) under WebKitWebDriver; the selenium
    driver."""
    from selenium.webdriver.common.options import ArgOptions
    from selenium.webdriver.remote.client_config import ClientConfig
    from selenium.webdriver.remote.remote_connection import RemoteConnection

    with xvfb() as display:
        port = free_port()
        driver_proc = subprocess.Popen(
            ["WebKitWebDriver", f"--port={port}"],
            env={**os.environ, "DISPLAY": display},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"

        def listening() -> bool:
            try:
                with urllib.request.urlopen(url + "/status", timeout=1):
                    return True
            except OSError:
                return False

        try:
            assert wait_until(listening, 15), "WebKitWebDriver did not start"
            options = ArgOptions()
            options.set_capability(
                "webkitgtk:browserOptions", {"binary": MINIBROWSER, "args": ["--automation"]}
            )
            connection = RemoteConnection(client_config=ClientConfig(remote_server_addr=url))
            driver = webdriver.Remote(command_executor=connection, options=options)
            try:
                driver.set_window_size(*size)
                yield driver
            finally:
                driver.quit()
        finally:
            driver_proc.terminate()
            driver_proc.wait(10)


def wait_js(driver, condition: str, timeout_s: float = 10.0) -> bool:
    """Wait until the JavaScript expression ``condition`` is true in the page (polled)."""
    return wait_until(lambda: bool(driver.execute_script(f"return !!({condition});")), timeout_s)


def video_state(driver, selector: str = "video") -> dict:
    """The state of the page's ``selector`` video: src, readyState, currentTime, duration,
    seeking, paused, ended, error code."""
    return driver.execute_script(
        "const v = document.querySelector(arguments[0]);"
        "return { src: v.currentSrc, ready: v.readyState, time: v.currentTime, "
        "duration: v.duration, seeking: v.seeking, paused: v.paused, ended: v.ended, "
        "error: v.error && v.error.code };",
        selector,
    )
