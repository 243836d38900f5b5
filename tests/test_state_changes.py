"""State changes one way: a change made to the library by a request (the dashboard, the
drive) is reported by the library, and the controller publishes it; no caller repairs the
status afterwards with ``refresh()``."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

from appliance.library import Kind
from appliance.states import Event, State
from tests.harness import Appliance, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _counts(app) -> dict[str, int]:
    return app.controller.status.counts


def test_a_library_change_reaches_the_status_without_refresh(tmp_path):
    with Appliance(tmp_path / "card", autostart=True, segment_seconds=1.0) as app:
        app.wait_segments(2)
        app.controller.post(Event.STOP_RECORDING)
        assert app.controller.wait_for_state(State.IDLE)
        app.controller.post(Event.PHOTO_PRESSED)
        assert wait_until(lambda: _counts(app)["photo"] == 1, 10)
        lib = app.library
        clip = next(i for i in lib.page(kinds={Kind.LOOP}, limit=10))
        photo = next(i for i in lib.page(kinds={Kind.PHOTO}, limit=10))
        loop = _counts(app)["loop"]
        # Each change as a request makes it: through the library, no refresh() after it.
        lib.protect(clip.seq)
        assert wait_until(lambda: _counts(app)["protected"] == 1, 5), _counts(app)
        assert _counts(app)["loop"] == loop - 1
        lib.unprotect(clip.seq)
        assert wait_until(lambda: _counts(app)["protected"] == 0, 5), _counts(app)
        lib.delete(photo.seq)
        assert wait_until(lambda: _counts(app)["photo"] == 0, 5), _counts(app)


def test_a_failing_watcher_never_undoes_a_change(tmp_path):
    with Appliance(tmp_path / "card", autostart=False) as app:
        assert app.controller.wait_for_state(State.IDLE)
        app.controller.post(Event.PHOTO_PRESSED)
        assert wait_until(lambda: _counts(app)["photo"] == 1, 10)
        photo = next(i for i in app.library.page(kinds={Kind.PHOTO}, limit=10))

        def broken() -> None:
            raise RuntimeError("a watcher that fails")

        app.library.subscribe(broken)
        app.library.delete(photo.seq)  # does not raise
        assert wait_until(lambda: _counts(app)["photo"] == 0, 5)


def test_wake_waiters_ends_a_wait_without_publishing(tmp_path):
    with Appliance(tmp_path / "card", autostart=False) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        version = ctl.status.version
        woke = threading.Event()
        seen = []

        def wait() -> None:
            seen.append(ctl.wait_for_change(version + 1000, 30.0).version)
            woke.set()

        waiter = threading.Thread(target=wait)
        waiter.start()
        assert not woke.wait(0.2)  # still waiting: nothing newer than version + 1000
        ctl.wake_waiters()
        assert woke.wait(5), "wake_waiters did not end the wait"
        waiter.join(5)
        assert seen[0] < version + 1000


def test_no_refresh_repairs_a_change_in_web_or_hw():
    """``git grep -n "refresh()" web hw``: the dashboard and the composition root never
    refresh the status after a change (gallery.py did, hw/app.py's drive "as the dashboard
    deletes" did, web/app.py woke the streams by publishing)."""
    out = subprocess.run(
        ["git", "grep", "-n", "refresh()", "--", "web", "hw"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    files = {line.split(":", 1)[0] for line in out.stdout.splitlines()}
    assert files == set(), out.stdout


def test_resources_change_the_library_only_through_its_public_calls():
    """No resource touches the library's or the controller's insides (fields starting
    with an underscore) or the recorder."""
    pattern = re.compile(r"(?:library|controller)\._\w+|\.recorder\b")
    found = [
        f"{path.relative_to(ROOT)}:{match.group(0)}"
        for path in sorted((ROOT / "web" / "resources").glob("*.py"))
        for match in pattern.finditer(path.read_text())
    ]
    assert found == []
