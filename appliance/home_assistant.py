"""Home Assistant over MQTT: the messages the appliance publishes and the commands it takes.

Pure: no MQTT client here (``hw/mqtt.py`` sends these and hands commands back). The car is
one device in Home Assistant, found by MQTT discovery: each entity has a retained config
under ``<discovery prefix>/<component>/<node>/<key>/config`` whose device block is the
same, so Home Assistant groups them. The values travel on the appliance's own topics under
``<topic prefix>/<node>/``:

- ``availability``: ``online`` (the birth, on each connect) or ``offline`` (the last will,
  and a clean stop), retained;
- ``state``: the state, recording, free storage, frames dropped (:meth:`HomeAssistant.state`);
- ``position``: the GPS's last fix (a ``device_tracker``'s attributes), retained;
- ``incident``: each new incident once (id, kind, time, position when known), retained;
- ``health``, ``parking``: the status's ``health`` and ``parking`` dicts as they are, when
  the status has them (retained, as ``state`` is: Home Assistant restarted reads them);
- ``command/protect``, ``command/photo``: Home Assistant's buttons (payload ``PRESS``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.states import Event

log = logging.getLogger(__name__)

ONLINE = "online"
OFFLINE = "offline"
#: What Home Assistant's MQTT button sends (its ``payload_press``).
PRESS = "PRESS"
#: The commands taken, by the last level of their topic.
COMMANDS = {"protect": Event.PROTECT_PRESSED, "photo": Event.PHOTO_PRESSED}
#: The status's optional parts that bring entities of their own.
SECTIONS = ("gps", "health", "parking")
#: A topic level Home Assistant accepts as a node or object id.
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
#: Longest command payload looked at (a button sends 5 bytes).
MAX_COMMAND_BYTES = 64


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message to publish.

    Attributes:
        topic: Where.
        payload: The text (JSON or a word); empty removes a retained message.
        retain: Kept by the broker for whoever subscribes later.
        qos: 0 (state, sent again on change) or 1 (availability, discovery, incidents).
    """

    topic: str
    payload: str
    retain: bool = False
    qos: int = 0

    def json(self) -> Any:
        """The payload read as JSON."""
        return json.loads(self.payload)


def node_id(device_id: str) -> str:
    """``device_id`` (or a host name) as one topic level Home Assistant takes as an id."""
    return _ID_UNSAFE.sub("_", device_id).strip("_") or "dashcam"


def _plain(value: Any) -> Any:
    """``value`` as strict JSON holds it: a NaN or infinity is None (Home Assistant's
    parser refuses them), a tuple a list, anything else unknown its text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _iso(wall_s: float) -> str:
    return dt.datetime.fromtimestamp(wall_s, dt.UTC).isoformat(timespec="seconds")


def _finite(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


class HomeAssistant:
    """The device's topics, discovery configs, state payloads and command parsing.

    Args:
        device_id: The device's id (``device_id``, else the host name); made topic-safe.
        topic_prefix: The first levels of the appliance's own topics (``mqtt_topic_prefix``).
        discovery_prefix: Home Assistant's discovery prefix (``mqtt_discovery_prefix``).
        sw_version: The software's version, shown on the device page.
        model: The device's model, shown on the device page.
    """

    def __init__(
        self,
        device_id: str,
        *,
        topic_prefix: str = "dashcam",
        discovery_prefix: str = "homeassistant",
        sw_version: str = "unknown",
        model: str = "Raspberry Pi dash camera",
    ) -> None:
        self.node = node_id(device_id)
        self.device_id = device_id
        self.base = f"{topic_prefix}/{self.node}"
        self.discovery_prefix = discovery_prefix
        self.availability_topic = f"{self.base}/availability"
        self.state_topic = f"{self.base}/state"
        self.position_topic = f"{self.base}/position"
        self.incident_topic = f"{self.base}/incident"
        self.health_topic = f"{self.base}/health"
        self.parking_topic = f"{self.base}/parking"
        #: What :meth:`command` takes: subscribe to this.
        self.command_subscription = f"{self.base}/command/+"
        self.device = {
            "identifiers": [f"dashcam_{self.node}"],
            "name": f"Dashcam {device_id}",
            "manufacturer": "dashcam",
            "model": model,
            "sw_version": sw_version,
        }

    def command_topic(self, name: str) -> str:
        """The topic of command ``name`` ("protect" or "photo")."""
        return f"{self.base}/command/{name}"

    # -- availability -------------------------------------------------------------------

    def availability(self, online: bool) -> Message:
        """The birth (``online``) or the last will (``offline``), retained."""
        return Message(self.availability_topic, ONLINE if online else OFFLINE, True, 1)

    # -- discovery ----------------------------------------------------------------------

    def _entity(self, component: str, key: str, name: str, **config: Any) -> Message:
        payload = {
            "name": name,
            # No object_id (deprecated by Home Assistant 2025.10, gone in 2026.4): the entity
            # id comes from the device's name and the entity's.
            "unique_id": f"dashcam_{self.node}_{key}",
            "availability_topic": self.availability_topic,
            "device": self.device,
            **config,
        }
        topic = f"{self.discovery_prefix}/{component}/{self.node}/{key}/config"
        return Message(topic, json.dumps(payload, sort_keys=True), True, 1)

    def _removed(self, component: str, key: str) -> Message:
        """An empty retained config: Home Assistant removes the entity."""
        return Message(f"{self.discovery_prefix}/{component}/{self.node}/{key}/config", "", True, 1)

    def discovery(self, status: Mapping[str, Any] | None = None) -> list[Message]:
        """Every entity's retained discovery config.

        The entities of an optional part of the status (GPS, health, parking) are made
        when ``status`` (``Status.to_dict()``) has that part, and removed (an empty
        config) when it has not, so a part turned off leaves no stale entity.
        """
        status = status or {}
        on_off = "{{ 'ON' if value_json.%s else 'OFF' }}"
        out = [
            self._entity(
                "sensor",
                "state",
                "State",
                state_topic=self.state_topic,
                value_template="{{ value_json.state }}",
                json_attributes_topic=self.state_topic,
                icon="mdi:cctv",
            ),
            self._entity(
                "binary_sensor",
                "recording",
                "Recording",
                state_topic=self.state_topic,
                value_template=on_off % "recording",
                device_class="running",
            ),
            self._entity(
                "sensor",
                "free_storage",
                "Free storage",
                state_topic=self.state_topic,
                value_template="{{ (value_json.free_bytes / 1000000000) | round(2) }}",
                unit_of_measurement="GB",
                device_class="data_size",
                state_class="measurement",
                icon="mdi:micro-sd",
            ),
            self._entity(
                "sensor",
                "last_incident",
                "Last incident",
                state_topic=self.incident_topic,
                value_template="{{ value_json.time }}",
                json_attributes_topic=self.incident_topic,
                device_class="timestamp",
                icon="mdi:alert-octagon",
            ),
            self._entity(
                "button",
                "protect",
                "Protect now",
                command_topic=self.command_topic("protect"),
                payload_press=PRESS,
                icon="mdi:shield-lock",
            ),
            self._entity(
                "button",
                "photo",
                "Photo",
                command_topic=self.command_topic("photo"),
                payload_press=PRESS,
                icon="mdi:camera",
            ),
        ]
        parts = {
            "gps": [
                self._entity(
                    "device_tracker",
                    "position",
                    "Position",
                    json_attributes_topic=self.position_topic,
                    source_type="gps",
                    icon="mdi:car",
                )
            ],
            "health": [
                self._entity(
                    "sensor",
                    "cpu_temperature",
                    "CPU temperature",
                    state_topic=self.health_topic,
                    value_template="{{ value_json.cpu_temp_c }}",
                    unit_of_measurement="°C",
                    device_class="temperature",
                    state_class="measurement",
                ),
                self._entity(
                    "binary_sensor",
                    "problem",
                    "Problem",
                    state_topic=self.health_topic,
                    value_template=on_off % "warning",
                    json_attributes_topic=self.health_topic,
                    device_class="problem",
                ),
            ],
            "parking": [
                self._entity(
                    "binary_sensor",
                    "parked",
                    "Parked",
                    state_topic=self.parking_topic,
                    value_template=on_off % "parked",
                    icon="mdi:parking",
                ),
                self._entity(
                    "sensor",
                    "parking_events",
                    "Events while parked",
                    state_topic=self.parking_topic,
                    value_template="{{ value_json.events }}",
                    state_class="measurement",
                    icon="mdi:car-emergency",
                ),
            ],
        }
        for section, entities in parts.items():
            if isinstance(status.get(section), Mapping):
                out += entities
            else:
                for message in entities:
                    component, _, key = message.topic.split("/")[-4:-1]
                    out.append(self._removed(component, key))
        return out

    @staticmethod
    def sections(status: Mapping[str, Any]) -> frozenset[str]:
        """The optional parts ``status`` has (their entities are in :meth:`discovery`)."""
        return frozenset(s for s in SECTIONS if isinstance(status.get(s), Mapping))

    # -- state --------------------------------------------------------------------------

    def state(self, status: Mapping[str, Any]) -> list[Message]:
        """The state message, and the position, health and parking ones the status has.

        Args:
            status: ``Status.to_dict()``.
        """
        storage = status.get("storage") or {}
        total, free = storage.get("total") or 0, storage.get("free") or 0
        state = {
            "state": status.get("state"),
            "recording": bool(status.get("recording")),
            "wants_recording": bool(status.get("wants_recording")),
            "segment": status.get("segment"),
            "free_bytes": free,
            "total_bytes": total,
            "free_percent": round(100.0 * free / total, 1) if total else None,
            "frames_dropped": status.get("frames_dropped", 0),
            "last_error": status.get("last_error"),
            "counts": dict(status.get("counts") or {}),
        }
        out = [Message(self.state_topic, json.dumps(state, sort_keys=True), True, 0)]
        gps = status.get("gps")
        if isinstance(gps, Mapping) and gps.get("fix"):
            lat, lon = _finite(gps.get("lat")), _finite(gps.get("lon"))
            if lat is not None and lon is not None:
                position = {"latitude": lat, "longitude": lon, "speed_mps": gps.get("speed_mps")}
                out.append(Message(self.position_topic, json.dumps(position, sort_keys=True), True))
        for section, topic in (("health", self.health_topic), ("parking", self.parking_topic)):
            part = status.get(section)
            if isinstance(part, Mapping):
                payload = json.dumps(_plain(part), sort_keys=True, allow_nan=False)
                out.append(Message(topic, payload, True))
        return out

    def incident(self, incident: Mapping[str, Any]) -> Message:
        """One incident's message (retained: the last incident sensor).

        Args:
            incident: ``Incident.to_dict()`` (id, kind, wall_s, clips, peak_g, lat, lon).
        """
        payload: dict[str, Any] = {
            "id": incident["id"],
            "kind": incident["kind"],
            "time": _iso(incident["wall_s"]),
            "wall_s": incident["wall_s"],
            "clips": list(incident.get("clips") or ()),
        }
        if incident.get("peak_g") is not None:
            payload["peak_g"] = incident["peak_g"]
        lat, lon = _finite(incident.get("lat")), _finite(incident.get("lon"))
        if lat is not None and lon is not None:
            payload["latitude"], payload["longitude"] = lat, lon
        return Message(self.incident_topic, json.dumps(payload, sort_keys=True), True, 1)

    # -- commands -----------------------------------------------------------------------

    def command(self, topic: str, payload: bytes | str) -> Event | None:
        """The event a command message asks for, or None (logged) for anything else.

        Only ``<base>/command/protect`` and ``<base>/command/photo`` with ``PRESS`` are
        taken; never raises, whatever arrives.
        """
        try:
            if isinstance(payload, bytes | bytearray):
                if len(payload) > MAX_COMMAND_BYTES:
                    raise ValueError(f"{len(payload)} bytes")
                payload = bytes(payload).decode("utf-8")
            if not isinstance(payload, str) or len(payload) > MAX_COMMAND_BYTES:
                raise ValueError("not text")
            prefix = f"{self.base}/command/"
            name = (
                topic[len(prefix) :]
                if isinstance(topic, str) and topic.startswith(prefix)
                else None
            )
            event = COMMANDS.get(name) if name is not None else None
            if event is None:
                log.warning("mqtt: command topic %r refused (not protect or photo)", topic)
                return None
            if payload.strip() != PRESS:
                log.warning("mqtt: command %s refused: payload %r is not %s", topic, payload, PRESS)
                return None
            return event
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("mqtt: command on %r refused: payload unreadable (%s)", topic, exc)
            return None
