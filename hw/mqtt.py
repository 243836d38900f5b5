"""Home Assistant over MQTT: the paho-mqtt client that sends :mod:`appliance.home_assistant`'s
messages and hands its commands to the controller.

Off unless ``mqtt_host`` is set; paho is imported only then. The broker never costs the
recording anything:

- paho connects and reconnects by itself on its own network thread (``connect_async``,
  ``loop_start``, ``reconnect_delay_set``); a broker that is not there at start, refuses,
  or goes away mid-run only delays the messages;
- the controller's status callback only puts the newest snapshot in a one-place mailbox
  (an older one not yet sent is dropped) and wakes the bridge's own thread, which
  publishes at most one state message a second;
- the library is watched the same way; each new incident is published once;
- every connect (the first, and each after a broker restart, which loses retained
  messages) sends the birth (``online``), the discovery configs and the latest state
  again; the last will (``offline``) is left with the broker at connect;
- a command (``<prefix>/<device>/command/protect`` or ``photo``, payload ``PRESS``) is
  posted to the controller as the button's event, at most one of a kind a second;
  anything else is logged and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.config import Config
from appliance.home_assistant import HomeAssistant, Message
from appliance.worker import Worker, run_once

log = logging.getLogger(__name__)

#: Least seconds between two state messages (the newest snapshot waits, older ones go).
STATE_INTERVAL_S = 1.0
#: paho's wait before reconnecting, doubled after each failure up to the second figure.
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
#: Seconds the broker waits without a packet before it sends the last will.
KEEPALIVE_S = 30
#: paho's bound on messages of QoS 1 waiting for the broker (discovery, incidents).
MAX_QUEUED = 200
#: Longest wait at a clean stop for ``offline`` to reach the broker, and for paho's
#: thread to end (it may be in a connect attempt).
STOP_WAIT_S = 2.0
#: Least seconds between two commands of one kind taken (a button is not pressed faster).
COMMAND_SPACING_S = 1.0
#: Longest wait for the broker's answer in ``dashcam doctor``.
PROBE_TIMEOUT_S = 5.0
#: paho's ``MQTT_ERR_NO_CONN`` (paho is imported only when MQTT is on).
_NO_CONN = 4


def device_name(device_id: str | None) -> str:
    """This camera's id on the broker: ``device_id``, else the host name."""
    return device_id or socket.gethostname() or "dashcam"


def software_version() -> str:
    """The installed package's version, or "unknown" (run from a checkout)."""
    from importlib import metadata

    try:
        return metadata.version("dashcam")
    except metadata.PackageNotFoundError:
        return "unknown"


def make_client(client_id: str) -> Any:
    """A paho-mqtt 2.x client with the version-2 callbacks (the default ``client_factory``)."""
    import paho.mqtt.client as mqtt

    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)


class MqttBridge:
    """The appliance's status, incidents and commands over MQTT, with Home Assistant
    discovery.

    Args:
        config: ``mqtt_*`` and ``device_id`` are read.
        controller: Its status is published (``subscribe``); commands are ``post``-ed.
        library: Its incidents are published (``incidents``, ``subscribe``).
        client_factory: Makes the paho client from a client id.
        interval_s: Least seconds between two state messages.
        monotonic: The clock that spaces them.
    """

    def __init__(
        self,
        config: Config,
        controller: Any,
        library: Any,
        *,
        client_factory: Callable[[str], Any] = make_client,
        interval_s: float = STATE_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.controller = controller
        self.library = library
        self.ha = HomeAssistant(
            device_name(config.device_id),
            topic_prefix=config.mqtt_topic_prefix,
            discovery_prefix=config.mqtt_discovery_prefix,
            sw_version=software_version(),
        )
        self._client_factory = client_factory
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._wake = threading.Condition()
        self._pending: Any = None  # the newest status not yet sent (older ones dropped)
        self._latest: Any = None  # the newest status seen
        self._connects = 0  # connects not yet answered with the birth
        self._incidents_changed = True
        self._sent_state: list[Message] = []
        self._sections: frozenset[str] | None = None  # those of the last discovery sent
        self._last_incident = 0  # the newest incident id published (or there at start)
        self._refused = None  # the last refusal logged (logged once, not at every retry)
        self._up = False  # connected and accepted (paho's thread)
        self._unsubscribe: list[Callable[[], None]] = []
        self._client: Any = None
        self._worker = Worker(self._run, "mqtt")
        #: Counts of messages handed to paho, of commands taken and dropped (for the tests).
        self.published = 0
        self.commands = self.commands_dropped = 0
        self._last_command: dict[Any, float] = {}  # paho's thread only

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> MqttBridge:
        """Connect in the background and start publishing; never raises for the broker.

        Raises:
            ImportError: paho-mqtt is not installed.
        """
        cfg, ha = self.config, self.ha
        try:
            known = self.library.incidents()
        except Exception:  # noqa: BLE001 - none known: every incident is new
            log.exception("mqtt: the incidents cannot be read")
            known = []
        self._last_incident = max((i.id for i in known), default=0)  # only new ones go
        client = self._client = self._client_factory(f"dashcam-{ha.node}")
        if cfg.mqtt_username is not None:
            client.username_pw_set(cfg.mqtt_username, cfg.mqtt_password)
        will = ha.availability(False)
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(cfg.mqtt_host, cfg.mqtt_port, keepalive=KEEPALIVE_S)
        self._worker.start()
        client.loop_start()
        self._unsubscribe.append(self.controller.subscribe(self._on_status))
        self._unsubscribe.append(self.library.subscribe(self._on_library))
        log.info(
            "mqtt: publishing to %s:%d as %s (Home Assistant discovery under %s/)",
            cfg.mqtt_host,
            cfg.mqtt_port,
            ha.base,
            cfg.mqtt_discovery_prefix,
        )
        return self

    def close(self) -> None:
        """Say ``offline`` if connected, disconnect and stop both threads (bounded)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        with self._wake:
            self._worker.stopping.set()
            self._wake.notify_all()
        self._worker.stop(STOP_WAIT_S)
        client = self._client
        if client is None:
            return
        try:
            if client.is_connected():
                info = self._publish(self.ha.availability(False))
                if info is not None:
                    info.wait_for_publish(STOP_WAIT_S)
            client.disconnect()
        except Exception as exc:  # noqa: BLE001 - a broker never fails the stop
            log.warning("mqtt: clean disconnect failed: %s", exc)
        # loop_stop joins paho's thread without a bound; it may be in a connect attempt.
        run_once(client.loop_stop, "mqtt-stop").join(STOP_WAIT_S)

    @property
    def connected(self) -> bool:
        """True while the broker has the connection."""
        return self._client is not None and self._client.is_connected()

    # -- callbacks: other threads; each only hands over -------------------------------

    def _on_status(self, status: Any) -> None:
        """The controller's thread: keep the newest snapshot, wake the bridge."""
        with self._wake:
            self._pending = self._latest = status
            self._incidents_changed = True  # an incident comes with a status of its own
            self._wake.notify_all()

    def _on_library(self) -> None:
        with self._wake:
            self._incidents_changed = True
            self._wake.notify_all()

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties=None) -> None:
        """paho's thread: subscribe to the commands, have the bridge send the birth."""
        if reason_code.is_failure:
            if str(reason_code) != self._refused:
                log.error("mqtt: the broker refused the connection: %s", reason_code)
            self._refused = str(reason_code)
            return
        self._refused, self._up = None, True
        log.info("mqtt: connected to %s:%d", self.config.mqtt_host, self.config.mqtt_port)
        client.subscribe(self.ha.command_subscription, qos=1)
        with self._wake:
            self._connects += 1
            self._wake.notify_all()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties=None) -> None:
        was, self._up = self._up, False
        if was and not self._worker.stopping.is_set():  # not after each refused retry
            log.warning("mqtt: connection lost (%s); reconnecting by itself", reason_code)

    def _on_message(self, _client, _userdata, message) -> None:
        """paho's thread: a command becomes the button's event; anything else is dropped,
        and so is a command repeated within :data:`COMMAND_SPACING_S` (a flood of presses
        would fill the controller's queue and the card's protected share)."""
        event = self.ha.command(message.topic, message.payload)
        if event is None:
            return
        now = self._monotonic()
        last = self._last_command.get(event)
        if last is not None and now - last < COMMAND_SPACING_S:
            self.commands_dropped += 1
            if self.commands_dropped == 1 or self.commands_dropped % 100 == 0:
                log.warning(
                    "mqtt: command %s repeated within %.0f s: dropped (%d so far)",
                    event.value,
                    COMMAND_SPACING_S,
                    self.commands_dropped,
                )
            return
        self._last_command[event] = now
        log.info("mqtt: command %s", event.value)
        self.commands += 1
        self.controller.post(event)

    # -- the bridge's thread ------------------------------------------------------------

    def _run(self) -> None:
        next_state_at = 0.0
        stopping = self._worker.stopping
        while True:
            with self._wake:
                while True:
                    if stopping.is_set():
                        return
                    wait_s = max(0.0, next_state_at - self._monotonic())
                    if self._connects or self._incidents_changed:
                        break
                    if self._pending is not None and wait_s == 0.0:
                        break
                    self._wake.wait(wait_s if self._pending is not None else None)
                birth, self._connects = self._connects > 0, 0
                incidents, self._incidents_changed = self._incidents_changed, False
                status = None
                if birth or self._monotonic() >= next_state_at:
                    status, self._pending = self._pending, None
                latest = self._latest
            try:
                data = None if latest is None else latest.to_dict()
                if birth:
                    self._send_birth(data)
                if data is not None and (status is not None or birth):
                    self._send_state(data, force=birth)
                    next_state_at = self._monotonic() + self._interval_s
                if incidents:
                    self._send_incidents()
            except Exception:  # noqa: BLE001 - a message never stops the bridge
                log.exception("mqtt: publishing failed")

    def _publish(self, message: Message) -> Any:
        """Hand ``message`` to paho; its info, or None when it was not taken."""
        info = self._client.publish(
            message.topic, message.payload, qos=message.qos, retain=message.retain
        )
        if info.rc != 0:  # not connected (QoS 0 dropped; QoS 1 queued) or paho's queue full
            return info if message.qos and info.rc == _NO_CONN else None
        self.published += 1
        return info

    def _send_birth(self, status: dict[str, Any] | None) -> None:
        self._publish(self.ha.availability(True))
        self._send_discovery(status)

    def _send_discovery(self, status: dict[str, Any] | None) -> None:
        for message in self.ha.discovery(status):
            self._publish(message)
        self._sections = self.ha.sections(status or {})

    def _send_state(self, status: dict[str, Any], force: bool = False) -> None:
        if not self._client.is_connected():
            return  # sent again on connect
        if self._sections != self.ha.sections(status):  # GPS, health or parking came or went
            self._send_discovery(status)
        messages = self.ha.state(status)
        if messages == self._sent_state and not force:
            return
        for message in messages:
            self._publish(message)
        self._sent_state = messages

    def _send_incidents(self) -> None:
        new = [i for i in self.library.incidents() if i.id > self._last_incident]
        for incident in sorted(new, key=lambda i: i.id):
            if self._publish(self.ha.incident(incident.to_dict())) is None:
                return  # paho's queue is full: tried again at the next change
            self._last_incident = incident.id


def probe(
    config: Config,
    timeout_s: float = PROBE_TIMEOUT_S,
    client_factory: Callable[[str], Any] = make_client,
) -> str | None:
    """Connect to the broker once, as ``dashcam doctor`` does (its own client id, so the
    running appliance's connection is left alone).

    Returns:
        None if the broker accepted the connection, else why not, in words.
    """
    cfg = config
    answered = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(_client, _userdata, _flags, reason_code, _properties=None) -> None:
        result["reason"] = reason_code
        answered.set()

    try:
        client = client_factory(f"dashcam-{HomeAssistant(device_name(cfg.device_id)).node}-doctor")
    except ImportError as exc:
        return f"paho-mqtt cannot be imported ({exc})"
    if cfg.mqtt_username is not None:
        client.username_pw_set(cfg.mqtt_username, cfg.mqtt_password)
    client.on_connect = on_connect
    client.connect_timeout = timeout_s
    try:
        client.connect(cfg.mqtt_host, cfg.mqtt_port, keepalive=max(5, int(timeout_s) * 2))
    except (OSError, ValueError) as exc:
        return f"{cfg.mqtt_host}:{cfg.mqtt_port} cannot be reached: {exc}"
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            return f"{cfg.mqtt_host}:{cfg.mqtt_port} takes the connection but does not answer"
        reason = result["reason"]
        if reason.is_failure:
            return f"{cfg.mqtt_host}:{cfg.mqtt_port} refused the connection: {reason}"
        return None
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()
        run_once(client.loop_stop, "mqtt-probe-stop").join(STOP_WAIT_S)


def start_mqtt(config: Config, controller: Any, library: Any, **kw: Any) -> MqttBridge | None:
    """The MQTT bridge of ``config``, started; None when ``mqtt_host`` is empty, or when
    paho-mqtt is missing (logged: recording goes on without it)."""
    if not config.mqtt_host:
        return None
    bridge = None
    try:
        bridge = MqttBridge(config, controller, library, **kw)
        return bridge.start()
    except Exception as exc:  # noqa: BLE001 - recording goes on without MQTT
        log.error(
            "mqtt: cannot start (%s: %s): recording goes on without it", type(exc).__name__, exc
        )
        if bridge is not None:
            with contextlib.suppress(Exception):
                bridge.close()
        return None
