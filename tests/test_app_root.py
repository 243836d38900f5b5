"""The composition root (:class:`hw.app.App`) in this process: real sockets, a real
Waitress server, the simulated camera, a real card directory. The power-off command is the
only fake (a recording runner): nothing is ever powered off or rebooted."""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from appliance.config import Config
from appliance.errors import ConfigError
from appliance.health import NoReadings
from appliance.states import Event, State
from appliance.worker import Worker
from hw.app import RESTART_EXIT_CODE, App, bind_web, make_camera
from tests import picamera2_standin
from tests.camera_fixtures import make_sim_mp4
from tests.harness import SMALL, wait_until
from web.security import LOGIN_FREE_FAILURES

ROOT = Path(__file__).resolve().parent.parent

POWER_OFF = ("dashcam-test-power-off",)


class Commands:
    """Stands in for ``subprocess.run``: records the power commands, runs nothing."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def __call__(self, argv, **_kw) -> subprocess.CompletedProcess:
        self.seen.append(list(argv))
        return subprocess.CompletedProcess(argv, 0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def config_for(tmp_path: Path, **kw) -> Config:
    settings = {
        **SMALL,
        "segment_seconds": 60.0,
        "power_off_command": POWER_OFF,
        "web_host": "127.0.0.1",
        "web_port": free_port(),
        **kw,
    }
    return Config(storage_root=str(tmp_path / "card"), **settings)


def started(app: App) -> dict:
    """Run ``app`` on a worker; returns where its exit code will be."""
    result: dict = {}
    app_worker = Worker(lambda: result.update(code=app.run()), "test-app").start()
    result["worker"] = app_worker
    return result


def status(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as resp:
        return json.load(resp)


def answers(port: int, state: str) -> bool:
    try:
        return status(port)["state"] == state
    except OSError:
        return False


def post(port: int, path: str) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status


def clips(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "card").rglob("*.mp4"))


def nobody_listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def on_the_pi_path(tmp_path: Path) -> tuple[App, int, Commands]:
    """An App on the real power-off path (the pins fail off a Pi and are logged), serving
    the dashboard on a free port; returns it, the port and the recorded commands."""
    config = config_for(tmp_path)
    listeners = bind_web(config)
    commands = Commands()
    camera = make_camera("sim", config)
    app = App(
        config,
        str(tmp_path / "dashcam.toml"),
        camera,
        simulated=False,
        listeners=listeners,
        run_command=commands,
    )
    return app, listeners[0].getsockname()[1], commands


def test_a_stop_of_the_service_closes_everything_in_order_and_leaves_the_power_on(tmp_path):
    app, port, commands = on_the_pi_path(tmp_path)
    run = started(app)
    try:
        assert wait_until(lambda: answers(port, "recording"), 30), "the dashboard never answered"
    finally:
        app.request_stop()
        assert run["worker"].join(30)
    assert run["code"] == 0
    assert app.controller.state is State.OFF
    assert commands.seen == [], "a stop of the service must leave the power on"
    assert [p.suffix for p in clips(tmp_path)] == [".mp4"]  # the open segment was closed
    assert not list((tmp_path / "card").rglob("*.partial"))
    assert nobody_listens(port), "the dashboard's socket must be closed"
    assert not app._web_worker.alive


@pytest.mark.parametrize(
    ("path", "command"),
    [("/api/system/shutdown", list(POWER_OFF)), ("/api/system/restart", ["systemctl", "reboot"])],
)
def test_the_dashboards_wish_is_performed_after_the_safe_shutdown(tmp_path, path, command):
    app, port, commands = on_the_pi_path(tmp_path)
    run = started(app)
    try:
        assert wait_until(lambda: answers(port, "recording"), 30)
        assert post(port, path) == 202
        assert run["worker"].join(30), "the appliance did not end after the shutdown"
    finally:
        app.request_stop()
        run["worker"].join(30)
    assert run["code"] == 0
    assert commands.seen == [command]
    assert clips(tmp_path), "the segment is closed before the power goes"


def test_a_held_record_button_in_simulation_ends_the_run_without_powering_off(tmp_path):
    config = config_for(tmp_path)
    commands = Commands()
    app = App(config, None, make_camera("sim", config), simulated=True, run_command=commands)
    run = started(app)
    try:
        assert wait_until(lambda: app.panel is not None and app.panel.led.value > 0, 30)
        app.controller.post(Event.RECORD_HELD)
        assert run["worker"].join(30)
    finally:
        app.request_stop()
        run["worker"].join(30)
    assert run["code"] == 0 and app.controller.state is State.OFF
    assert commands.seen == []
    assert not app.panel.led_driver.alive, "the LED's worker ends with the panel"


def test_bound_sockets_that_are_never_served_are_closed_by_stop(tmp_path):
    config = config_for(tmp_path)
    listeners = bind_web(config)
    port = listeners[0].getsockname()[1]
    app = App(config, None, make_camera("sim", config), simulated=True, listeners=listeners)
    app.stop()  # nothing started: nothing to shut down, the sockets still closed
    assert [sock.fileno() for sock in listeners] == [-1] * len(listeners)
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # the port is this machine's again
    assert not clips(tmp_path)


def test_a_port_in_use_names_web_port(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        config = config_for(tmp_path, web_port=holder.getsockname()[1])
        with pytest.raises(ConfigError, match=r"^web_port: port \d+ is already in use"):
            bind_web(config)
    finally:
        holder.close()


def test_a_replay_camera_without_a_file_says_what_is_needed(tmp_path):
    with pytest.raises(SystemExit, match="--replay MP4"):
        make_camera("replay", config_for(tmp_path))


def _dav(
    port: int, path: str, method: str = "PROPFIND", host: str | None = None, auth: str = ""
) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/dav/{path}", method=method)
    if method == "PROPFIND":
        request.add_header("Depth", "1")
    if host is not None:
        request.add_header("Host", host)
    if auth:
        request.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_app_serves_the_network_drive_beside_the_dashboard(tmp_path):
    """The drive answers beside the dashboard, read-only by default, host-checked."""
    app, port, _ = on_the_pi_path(tmp_path)
    run = started(app)
    try:
        assert wait_until(lambda: answers(port, "recording"), 30)
        assert _dav(port, "") == 207
        app.controller.post(Event.STOP_RECORDING)
        assert app.controller.wait_for_state(State.IDLE)
        (clip,) = clips(tmp_path)
        day = clip.parent.name
        assert _dav(port, f"Loop/{day}/") == 207
        assert _dav(port, f"Loop/{day}/{clip.name}", method="GET") == 200
        assert _dav(port, f"Loop/{day}/{clip.name}", method="DELETE") in (403, 405)
        assert clip.exists()
        assert _dav(port, "", host="evil.example") == 421
    finally:
        app.request_stop()
        assert run["worker"].join(30)


def test_the_drive_and_the_login_share_one_throttle_of_wrong_passwords(tmp_path):
    """The composition root gives the drive the dashboard's login throttle."""
    config = config_for(tmp_path, web_password="correct horse", autostart=False)
    listeners = bind_web(config)
    port = listeners[0].getsockname()[1]
    app = App(config, None, make_camera("sim", config), simulated=True, listeners=listeners)
    run = started(app)
    try:
        assert wait_until(lambda: _health(port), 30)
        wrong = "Basic " + base64.b64encode(b"dashcam:guess").decode()
        codes = [_dav(port, "", auth=wrong) for _ in range(LOGIN_FREE_FAILURES)]
        assert codes == [401] * (LOGIN_FREE_FAILURES - 1) + [429]
        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/session",
            data=json.dumps({"password": "correct horse"}).encode(),
            headers={"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(login, timeout=10)
        assert refused.value.code == 429  # the right password waits as long
    finally:
        app.request_stop()
        assert run["worker"].join(30)


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_in_simulation_a_bump_from_the_dashboard_is_an_impact_incident(tmp_path):
    from appliance.incident import IncidentKind

    config = config_for(tmp_path)
    listeners = bind_web(config)
    port = listeners[0].getsockname()[1]
    app = App(config, None, make_camera("sim", config), simulated=True, listeners=listeners)
    run = started(app)
    try:
        assert wait_until(lambda: answers(port, "recording"), 30)
        assert wait_until(lambda: app.gsensor.detector.calibrated, 10)
        assert post(port, "/api/panel/bump") == 202
        assert wait_until(lambda: len(app.library.incidents()) == 1, 10)
        (incident,) = app.library.incidents()
        assert incident.kind is IncidentKind.IMPACT and incident.peak_g > 1.5
    finally:
        app.request_stop()
        assert run["worker"].join(30)
    assert not app.gsensor._worker.alive


# -- a camera that cannot be closed: a fresh process ---------------------------------------

STUCK_LINE = "camera could not be closed; exiting so systemd starts a fresh process"


@pytest.fixture(scope="module")
def sensor_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the stand-in camera's sensor sees: 2 s of the simulated camera, 320x240."""
    return make_sim_mp4(tmp_path_factory.mktemp("sensor") / "sensor.mp4")


def test_a_camera_that_cannot_be_closed_ends_the_app_for_a_fresh_process(
    tmp_path, request, sensor_mp4, caplog
):
    """picamera2 #1264: the ribbon cable moves, frames stop and ``stop_recording`` blocks;
    the camera stays held by this process. The App stops as a service stop does (the clip
    closed, the dashboard closed, the power on) and ends with the restart status."""
    board = picamera2_standin.install_for(request, picamera2_standin.Board(source=sensor_mp4))
    config = config_for(tmp_path, overlay=False)
    listeners = bind_web(config)
    port = listeners[0].getsockname()[1]
    commands = Commands()
    camera = make_camera("picamera2", config)
    app = App(config, None, camera, simulated=False, listeners=listeners, run_command=commands)
    caplog.set_level(logging.INFO)
    run = started(app)
    try:
        assert wait_until(lambda: answers(port, "recording"), 30)
        assert wait_until(lambda: app.controller.recorder.status.frames_written > 5, 10)
        board.hang_stop = True
        board.quiet = True
        assert run["worker"].join(40), "the appliance stayed up with a camera it cannot reopen"
    finally:
        app.request_stop()
        run["worker"].join(30)
    assert run["code"] == RESTART_EXIT_CODE != 0
    assert STUCK_LINE in caplog.text
    assert "could not be closed" in app.restart_reason
    assert app.controller.state is State.OFF
    assert commands.seen == [] and "the power stays on" in caplog.text
    assert [p.suffix for p in clips(tmp_path)] == [".mp4"]  # the clip closed
    assert not list((tmp_path / "card").rglob("*.partial"))
    assert nobody_listens(port), "the dashboard's socket must be closed"
    assert len(board.called("Picamera2")) == 1  # never a second open of a held camera


#: ``dashcam run`` as the CLI runs it (:func:`hw.app.serve`), on the stand-in picamera2
#: whose stop blocks for ever, as picamera2's does then: nothing ever unblocks it, and
#: picamera2 closes every camera it opened at exit.
STUCK_CHILD = """
import sys, threading
from pathlib import Path
from appliance.config import Config
from hw.app import App, make_camera, serve
from hw.logs import configure_logging
from tests import picamera2_standin
from tests.harness import SMALL, wait_until

board = picamera2_standin.Board(source=Path(sys.argv[1]))
installing = picamera2_standin.installed(board)
installing.__enter__()  # never left: nothing unblocks the stop
configure_logging("INFO")
config = Config(**{**SMALL, "segment_seconds": 60.0, "overlay": False, "storage_root": sys.argv[2]})
app = App(config, None, make_camera("picamera2", config), simulated=True)


def cable_works_loose():
    wait_until(lambda: app.controller and app.controller.recorder.status.frames_written > 5, 30)
    board.hang_stop = True
    board.quiet = True


threading.Thread(target=cable_works_loose, daemon=True).start()
sys.exit(serve(app))
"""


def test_the_process_ends_with_the_restart_status_though_the_camera_never_closes(
    tmp_path, sensor_mp4
):
    card = tmp_path / "card"
    child = subprocess.Popen(
        [sys.executable, "-c", STUCK_CHILD, str(sensor_mp4), str(card)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        _, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        _, err = child.communicate()
        pytest.fail("the process never ended:\n" + err.decode(errors="replace")[-3000:])
    log_text = err.decode(errors="replace")
    assert child.returncode == RESTART_EXIT_CODE, log_text[-3000:]
    assert STUCK_LINE in log_text
    assert "the power stays on" in log_text
    assert [p.suffix for p in card.rglob("*.mp4")] == [".mp4"]
    assert not list(card.rglob("*.partial"))


def test_in_simulation_the_health_watch_runs_but_reads_nothing_of_the_host(tmp_path):
    """The host's temperature and disk are not the Pi's: a hot laptop must not slow the
    simulated camera down nor pause its preview."""
    config = config_for(tmp_path)
    app = App(config, None, make_camera("sim", config), simulated=True)
    run = started(app)
    try:
        assert wait_until(lambda: app.controller is not None and app.controller.status.health, 30)
        # (this machine has no thermal zone: the source itself says nothing is read)
        assert isinstance(app.controller.health.source, NoReadings)
        health = app.controller.status.health
        assert health["cpu_temp_c"] is None and health["throttled_now"] is None
        assert health["thermal_step"] == "normal" and health["preview"] is True
        assert health["card_written_bytes"] is None and health["warning"] is None
    finally:
        app.request_stop()
        assert run["worker"].join(30)
    assert run["code"] == 0
    assert wait_until(lambda: "health" not in {t.name for t in threading.enumerate()}, 5)
