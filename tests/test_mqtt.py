"""Home Assistant over MQTT against a real broker: Debian's mosquitto on loopback, started
by the test on a free port. The appliance is the real App (simulated camera, real card
directory); the test's own paho client watches what arrives and sends the commands.

Shown: the retained discovery configs, "online", the state after recording, an incident
after a protect press, the protect and photo commands back, the broker killed (SIGKILL)
and started again mid-run (no frame lost, segments keep closing, the bridge reconnects
and sends discovery, availability and state again), the last will when the appliance is
killed, no broker at start, and a broker that wants a password.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.states import Event, State
from hw.app import App, make_camera
from hw.panel import press
from tests.harness import SMALL, run_child, wait_until
from tests.test_app_root import config_for, free_port, started

paho = pytest.importorskip("paho.mqtt.client")
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")

DEVICE = "car-1"
BASE = f"dashcam/{DEVICE}"
#: The configs the appliance always sends (the GPS, health and parking ones come with
#: those parts of the status).
ENTITIES = {
    "sensor/car-1/state",
    "binary_sensor/car-1/recording",
    "sensor/car-1/free_storage",
    "sensor/car-1/last_incident",
    "button/car-1/protect",
    "button/car-1/photo",
}
WAIT_S = 20.0


class Broker:
    """mosquitto on 127.0.0.1:``port`` with a config file written here (no persistence:
    a restart loses every retained message, as a broker without a disk would)."""

    def __init__(self, workdir: Path, port: int, *, users: dict[str, str] | None = None):
        self.port = port
        self.conf = workdir / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "persistence false", "log_dest stderr"]
        if users:
            passwd = workdir / "passwd"
            passwd.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwd), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if os.geteuid() == 0:  # as root mosquitto would switch to its own user
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        assert wait_until(self._answers, 10), self.log.read_text()
        return self

    def _answers(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def kill(self) -> None:
        """SIGKILL: no goodbye to any client."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def broker(tmp_path) -> Iterator[Broker]:
    b = Broker(tmp_path, free_port()).start()
    yield b
    b.kill()


class Watcher:
    """The test's own MQTT client: subscribed to everything, keeps what arrives in order."""

    def __init__(self, port: int, *, user: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self._changed = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"watch-{port}")
        if user:
            self.client.username_pw_set(*user)
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, msg) -> None:
        with self._changed:
            self.messages.append((time.monotonic(), msg.topic, msg.payload, msg.retain))
            self._changed.notify_all()

    def wait_for(
        self, topic: str, test: Callable[[bytes], bool] = lambda _p: True, timeout_s=WAIT_S
    ) -> bytes:
        """The first payload on ``topic`` that passes ``test``, waiting up to the deadline."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for _t, seen, payload, _r in self.messages:
                    if seen == topic and test(payload):
                        return payload
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing on {topic} passed: {self.topics()}")
                self._changed.wait(left)

    def on(self, topic: str) -> list[bytes]:
        with self._changed:
            return [p for _t, seen, p, _r in self.messages if seen == topic]

    def topics(self) -> list[str]:
        with self._changed:
            return sorted({t for _t, t, _p, _r in self.messages})

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def watchers() -> Iterator[Callable[..., Watcher]]:
    made: list[Watcher] = []

    def make(port: int, **kw) -> Watcher:
        made.append(Watcher(port, **kw))
        return made[-1]

    yield make
    for w in made:
        w.close()


def state_is(name: str) -> Callable[[bytes], bool]:
    return lambda p: json.loads(p)["state"] == name


@contextlib.contextmanager
def running(tmp_path: Path, **kw) -> Iterator[App]:
    """The App (simulated camera, no dashboard) with ``kw`` in its config, recording."""
    config = config_for(tmp_path, device_id=DEVICE, mqtt_host="127.0.0.1", **kw)
    app = App(config, None, make_camera("sim", config), simulated=True)
    run = started(app)
    try:
        assert wait_until(lambda: app.controller is not None, 10)
        assert app.controller.wait_for_state(State.RECORDING, timeout_s=WAIT_S)
        yield app
    finally:
        app.request_stop()
        assert run["worker"].join(30)
    assert run["code"] == 0


def closed(app: App) -> int:
    """Loop clips closed so far (each segment that closes is one)."""
    return app.controller.status.counts.get("loop", 0)


def discovery(w: Watcher) -> dict[str, dict]:
    found = {}
    for entity in ENTITIES:
        topic = f"homeassistant/{entity}/config"
        found[entity] = json.loads(w.wait_for(topic, lambda p: bool(p)))
    return found


def test_home_assistant_sees_the_device_its_state_an_incident_and_commands_work(
    tmp_path, broker, watchers
):
    with running(tmp_path, mqtt_port=broker.port) as app:
        w = watchers(broker.port)
        assert w.wait_for(f"{BASE}/availability") == b"online"
        configs = discovery(w)
        ids = {c["unique_id"] for c in configs.values()}
        assert len(ids) == len(ENTITIES)
        assert {json.dumps(c["device"], sort_keys=True) for c in configs.values()} == {
            json.dumps(configs["sensor/car-1/state"]["device"], sort_keys=True)
        }
        assert configs["sensor/car-1/state"]["device"]["identifiers"] == ["dashcam_car-1"]
        state_topic = configs["sensor/car-1/state"]["state_topic"]
        assert state_topic == f"{BASE}/state"
        state = json.loads(w.wait_for(state_topic, state_is("recording")))
        assert state["recording"] is True and state["free_bytes"] > 0

        press(app.panel.protect)  # the protect button, through its (mock) pin
        first = json.loads(w.wait_for(f"{BASE}/incident"))
        assert first["kind"] == "manual" and first["id"] == 1 and "time" in first

        protect = configs["button/car-1/protect"]["command_topic"]
        w.client.publish(protect, "PRESS", qos=1)
        second = json.loads(w.wait_for(f"{BASE}/incident", lambda p: json.loads(p)["id"] == 2))
        assert second["kind"] == "manual"
        assert [i.id for i in app.library.incidents()] == [2, 1]

        w.client.publish(configs["button/car-1/photo"]["command_topic"], "PRESS", qos=1)
        assert wait_until(lambda: app.controller.status.counts.get("photo", 0) == 1, WAIT_S)
        w.client.publish(f"{BASE}/command/record", "PRESS", qos=1)  # not a command
        w.client.publish(protect, "nonsense", qos=1)  # not a press
        w.wait_for(state_topic, lambda p: json.loads(p)["counts"].get("photo") == 1)
        assert len(app.library.incidents()) == 2 and app.mqtt.commands == 2
        assert len(w.on(f"{BASE}/incident")) == 2  # each incident once
        assert app.controller.state is State.RECORDING
    # A clean stop leaves "offline", retained.
    assert w.wait_for(f"{BASE}/availability", lambda p: p == b"offline")


def test_a_flood_of_commands_is_one_press_a_second(tmp_path, broker, watchers):
    with running(tmp_path, mqtt_port=broker.port) as app:
        w = watchers(broker.port)
        w.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        began = time.monotonic()
        for _ in range(50):
            w.client.publish(f"{BASE}/command/protect", "PRESS", qos=1)
        assert wait_until(lambda: app.mqtt.commands + app.mqtt.commands_dropped >= 50, WAIT_S)
        if time.monotonic() - began < 1.0:  # all 50 within a second: one taken
            assert app.mqtt.commands == 1, app.mqtt.commands
        assert app.mqtt.commands <= 1 + (time.monotonic() - began)
        assert wait_until(lambda: len(app.library.incidents()) == app.mqtt.commands, WAIT_S)
        taken = app.mqtt.commands
        assert wait_until(lambda: time.monotonic() - began > 1.2, 5)  # the spacing is over
        w.client.publish(f"{BASE}/command/protect", "PRESS", qos=1)
        assert wait_until(lambda: len(app.library.incidents()) == taken + 1, WAIT_S)
        assert app.controller.state is State.RECORDING


def test_state_messages_come_at_most_once_a_second(tmp_path, broker, watchers):
    w = watchers(broker.port)
    with running(tmp_path, mqtt_port=broker.port, segment_seconds=1.0) as app:
        w.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        for _ in range(6):  # each photo changes the counts: snapshots that all differ
            app.controller.post(Event.PHOTO_PRESSED)
        assert wait_until(lambda: app.controller.status.counts.get("photo", 0) == 6, WAIT_S)
        w.wait_for(f"{BASE}/state", lambda p: json.loads(p)["counts"].get("photo") == 6)
    with w._changed:
        sent = [(t, json.loads(p)) for t, topic, p, _r in w.messages if topic == f"{BASE}/state"]
    gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:], strict=False)]
    # At most one a second: sent 1 s apart, received so less the broker's and the
    # watcher's delays on a loaded machine (unspaced, the photos' states come ms apart).
    assert gaps and min(gaps) > 0.5, gaps
    photos = [body["counts"].get("photo", 0) for _t, body in sent]
    assert photos[-1] == 6 and photos == sorted(photos), photos  # the newest is sent last


def test_the_broker_killed_and_restarted_costs_no_frame_and_the_bridge_comes_back(
    tmp_path, broker, watchers
):
    with running(tmp_path, mqtt_port=broker.port, segment_seconds=1.0) as app:
        w = watchers(broker.port)
        w.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        w.wait_for(f"{BASE}/state", state_is("recording"))
        broker.kill()
        assert wait_until(lambda: not app.mqtt.connected, WAIT_S)
        before = closed(app)
        # Away: segments keep closing, with no frame dropped; a protect press is kept.
        assert wait_until(lambda: closed(app) >= before + 3, WAIT_S)
        app.controller.post(Event.PROTECT_PRESSED)
        assert wait_until(lambda: len(app.library.incidents()) == 1, WAIT_S)
        assert app.controller.status.frames_dropped == 0
        assert app.controller.state is State.RECORDING

        broker.start()  # the same port; every retained message is gone
        again = watchers(broker.port)
        assert again.wait_for(f"{BASE}/availability") == b"online"
        assert len(discovery(again)) == len(ENTITIES)  # sent again
        after = json.loads(again.wait_for(f"{BASE}/state", state_is("recording")))
        assert after["frames_dropped"] == 0
        incident = json.loads(again.wait_for(f"{BASE}/incident"))
        assert incident["id"] == 1  # the one pressed while away, sent once it could be
        assert app.controller.status.frames_dropped == 0


def test_no_broker_at_start_records_anyway_and_connects_when_one_comes(tmp_path, watchers):
    port = free_port()  # nothing listens there yet
    with running(tmp_path, mqtt_port=port, segment_seconds=1.0) as app:
        assert wait_until(lambda: closed(app) >= 2, WAIT_S)
        assert app.mqtt is not None and not app.mqtt.connected
        assert app.controller.status.frames_dropped == 0
        broker = Broker(tmp_path, port).start()
        try:
            w = watchers(port)
            assert w.wait_for(f"{BASE}/availability") == b"online"
            w.wait_for(f"{BASE}/state", state_is("recording"))
        finally:
            broker.kill()


def test_a_broker_that_never_answers_costs_nothing_and_the_stop_is_bounded(tmp_path):
    with socket.socket() as silent:  # takes the connection, never says CONNACK
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with running(tmp_path, mqtt_port=port, segment_seconds=1.0) as app:
            assert wait_until(lambda: closed(app) >= 2, WAIT_S)
            for _ in range(3):
                app.controller.post(Event.PHOTO_PRESSED)
            assert wait_until(lambda: app.controller.status.counts.get("photo", 0) == 3, WAIT_S)
            assert not app.mqtt.connected
            assert app.controller.status.frames_dropped == 0
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 10  # the bridge's stop waits a bounded time


def test_paho_is_not_imported_when_mqtt_is_off():
    code = (
        "import sys; from appliance.config import Config; import hw.app; "
        "from hw.mqtt import start_mqtt; assert start_mqtt(Config(), None, None) is None; "
        "assert 'paho' not in sys.modules, 'paho imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_broker_with_a_password(tmp_path, watchers):
    broker = Broker(tmp_path, free_port(), users={"dashcam": "s3cret", "ha": "other"}).start()
    try:
        w = watchers(broker.port, user=("ha", "other"))
        with running(
            tmp_path, mqtt_port=broker.port, mqtt_username="dashcam", mqtt_password="s3cret"
        ):
            assert w.wait_for(f"{BASE}/availability") == b"online"
            w.wait_for(f"{BASE}/state", state_is("recording"))
    finally:
        broker.kill()


def test_a_wrong_password_is_refused_and_logged_and_recording_goes_on(tmp_path, caplog):
    broker = Broker(tmp_path, free_port(), users={"dashcam": "s3cret"}).start()
    try:
        with running(
            tmp_path,
            mqtt_port=broker.port,
            mqtt_username="dashcam",
            mqtt_password="wrong",
            segment_seconds=1.0,
        ) as app:
            assert wait_until(lambda: "refused the connection" in caplog.text, WAIT_S)
            before = closed(app)
            assert wait_until(lambda: closed(app) >= before + 2, WAIT_S)
            assert not app.mqtt.connected and app.controller.status.frames_dropped == 0
    finally:
        broker.kill()
    refused = [r for r in caplog.records if r.name == "hw.mqtt" and r.levelno >= logging.WARNING]
    assert len(refused) == 1, [r.getMessage() for r in refused]  # once, not at each retry


def test_the_appliance_killed_leaves_offline_by_the_last_will(tmp_path, broker, watchers):
    root = tmp_path / "card"
    config = tmp_path / "dashcam.toml"
    settings = {
        **SMALL,
        "device_id": DEVICE,
        "mqtt_host": "127.0.0.1",
        "mqtt_port": broker.port,
        "power_off_command": ["true"],
    }
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    w = watchers(broker.port)
    child = run_child(config, root, "--no-web")
    try:
        try:
            w.wait_for(f"{BASE}/availability", lambda p: p == b"online")
        except AssertionError:
            child.kill()
            raise AssertionError(child.communicate(timeout=10)[1].decode()[-3000:]) from None
        w.wait_for(f"{BASE}/state", state_is("recording"))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert w.wait_for(f"{BASE}/availability", lambda p: p == b"offline") == b"offline"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_doctor_says_whether_the_broker_takes_the_camera(tmp_path):
    from appliance.config import Config
    from hw.doctor import FAIL, OK, SKIP
    from hw.doctor_sensors import check_mqtt, sensor_checks

    assert check_mqtt(Config()).status == SKIP
    broker = Broker(tmp_path, free_port(), users={"dashcam": "s3cret"}).start()
    try:
        good = Config(
            mqtt_host="127.0.0.1",
            mqtt_port=broker.port,
            mqtt_username="dashcam",
            mqtt_password="s3cret",
            device_id=DEVICE,
        )
        checks = {c.name: c for c in sensor_checks(good, simulated=True)}
        check = checks["Home Assistant (MQTT)"]
        assert check.status == OK, check
        assert "accepts dashcam" in check.found and f"{BASE}/" in check.found
        assert "s3cret" not in check.found + check.fix
        wrong = check_mqtt(good.replace(mqtt_password="nope"))
        assert wrong.status == FAIL and "refused" in wrong.found, wrong
        assert "mqtt_password" in wrong.fix
    finally:
        broker.kill()
    began = time.monotonic()
    away = check_mqtt(good)  # the broker is gone: nothing listens on its port
    assert away.status == FAIL and "cannot be reached" in away.found, away
    assert time.monotonic() - began < 5
