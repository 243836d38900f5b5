"""Shared set-up for the dashboard tests: an appliance on simulated hardware plus the app.

Fakes only at the boundary: the simulated camera and mock pins (from the harness), a clock
the test can set, and recorders for the clock and power actions.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from falcon import testing as testing_helpers

from appliance.ports import Clock
from hw.panel import VirtualPanel
from tests.harness import Appliance
from web.app import DashboardApp, create_app


class FakeClock(Clock):
    """A wall clock the test sets (the appliance's clock is behind); monotonic is real."""

    def __init__(self, wall_s: float) -> None:
        self.wall_s = wall_s
        self._lock = threading.Lock()

    def wall(self) -> float:
        with self._lock:
            return self.wall_s

    def set(self, wall_s: float) -> None:
        with self._lock:
            self.wall_s = wall_s


@dataclass
class Dashboard:
    """An appliance, its dashboard app, and what the app's injected actions recorded."""

    appliance: Appliance
    app: DashboardApp
    config_path: Path
    clock: FakeClock
    clock_sets: list[float] = field(default_factory=list)
    power_calls: list[str] = field(default_factory=list)


#: Host names the test apps answer to: falcon.testing's default ``Host`` (IP literals such
#: as 127.0.0.1, which the real-server tests use, always pass).
TEST_HOSTS = (testing_helpers.DEFAULT_HOST,)


@contextlib.contextmanager
def dashboard(
    tmp_path: Path,
    *,
    panel: bool = True,
    wall_s: float = 1.8e9,
    allowed_hosts=TEST_HOSTS,
    monotonic=time.monotonic,
    **overrides,
):
    """An appliance on simulated hardware with its dashboard app (no server).

    ``allowed_hosts`` and ``monotonic`` go to ``create_app``; the other keywords are config
    overrides.
    """
    clock = FakeClock(wall_s)
    appliance = Appliance(
        tmp_path / "card",
        clock=clock,
        # The power action the controller performs after its safe shutdown, recorded.
        power_off=lambda request: dash.power_calls.append(request.value),
        **overrides,
    )
    config_path = tmp_path / "dashcam.toml"
    dash: Dashboard | None = None

    def set_clock(epoch_s: float) -> None:
        dash.clock_sets.append(epoch_s)
        clock.set(epoch_s)

    with appliance:
        app = create_app(
            appliance.controller,
            appliance.library,
            config_path=config_path,
            panel=VirtualPanel(appliance.panel) if panel else None,
            set_clock=set_clock,
            power=True,
            allowed_hosts=allowed_hosts,
            monotonic=monotonic,
        )
        dash = Dashboard(appliance, app, config_path, clock)
        try:
            yield dash
        finally:
            app.close_streams()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_drive(d: Dashboard, **drive_kw):
    """``d``'s app with the network drive mounted at ``/dav``, as the composition root
    mounts it (``drive_kw`` goes to ``create_dav_app``); ``close_streams`` is ``d.app``'s."""
    from web.dav import MOUNT_PATH, create_dav_app
    from web.server import mount

    ctl, lib = d.appliance.controller, d.appliance.library
    dav = create_dav_app(lib, lambda: ctl.config.web_password, **drive_kw)
    app = mount(d.app, MOUNT_PATH, lambda: dav)
    app.close_streams = d.app.close_streams
    return app


def temp_bytes(folder) -> int:
    """Bytes this process holds in temporary files in ``folder``: open files directly in it
    that have no name (``tempfile.TemporaryFile``, which Waitress spills to)."""
    total = 0
    folder = os.path.realpath(folder)
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            name = target.removesuffix(" (deleted)")
            if name != target and os.path.dirname(name) == folder:
                total += os.stat(f"/proc/self/fd/{fd}").st_size
        except OSError:
            pass  # closed meanwhile
    return total


def record_incident(d: Dashboard):
    """Protect while the second clip records, wait for the clip after, stop recording.

    Returns:
        The incident (:class:`appliance.incident.Incident`): the clip before, the one
        recording and the next.
    """
    from appliance.states import Event, State
    from tests.harness import wait_until

    ctl = d.appliance.controller
    lib = d.appliance.library
    [closed] = d.appliance.wait_segments(1)[:1]
    assert wait_until(lambda: (ctl.status.segment_seq or 0) > closed.seq, 10)
    ctl.post(Event.PROTECT_PRESSED)
    assert wait_until(lambda: lib.incidents()[:1] and lib.incidents()[0].complete, 30)
    ctl.post(Event.STOP_RECORDING)
    assert ctl.wait_for_state(State.IDLE)
    return lib.incidents()[0]


def file_counters(path: str) -> list[int]:
    """The burned-in frame counter of every frame decoded from the file at ``path``."""
    import av

    from hw.camera.sim import read_frame_counter

    with av.open(path) as container:
        return [read_frame_counter(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
