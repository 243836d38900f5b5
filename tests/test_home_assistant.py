"""The Home Assistant messages (appliance/home_assistant.py) without a broker: discovery
configs, state payloads from status dicts made by hand, incidents and command parsing."""

from __future__ import annotations

import json
import logging

import pytest

from appliance.home_assistant import COMMANDS, HomeAssistant, node_id
from appliance.states import Event

STATUS = {
    "version": 7,
    "state": "recording",
    "since_wall": 1_790_000_000.0,
    "recording": True,
    "segment": "00000042",
    "segment_seq": 42,
    "segment_elapsed_s": 3.2,
    "last_still": None,
    "counts": {"loop": 3, "protected": 1, "photo": 0},
    "storage": {
        "total": 32_000_000_000,
        "free": 8_000_000_000,
        "loop": 1,
        "protected": 2,
        "photos": 0,
        "reserve": 3,
    },
    "camera": {"name": "sim", "width": 320, "height": 240, "fps": 30},
    "last_error": None,
    "frames_dropped": 0,
    "notice": None,
    "wants_recording": True,
    "gps": None,
}
HEALTH = {"cpu_temp_c": 71.5, "warning": None, "throttled": False}
PARKING = {"parked": True, "events": 3, "since_wall": 1_790_000_100.0}


def ha() -> HomeAssistant:
    return HomeAssistant("car.1", sw_version="0.1.0")


def configs(messages) -> dict[str, dict]:
    return {m.topic: (m.json() if m.payload else None) for m in messages}


def test_every_discovery_config_is_one_device_with_unique_ids_and_its_own_topics() -> None:
    h = ha()
    messages = h.discovery(STATUS)
    assert all(m.retain and m.qos == 1 for m in messages)
    found = {t: c for t, c in configs(messages).items() if c is not None}
    assert set(found) == {
        "homeassistant/sensor/car_1/state/config",
        "homeassistant/binary_sensor/car_1/recording/config",
        "homeassistant/sensor/car_1/free_storage/config",
        "homeassistant/sensor/car_1/last_incident/config",
        "homeassistant/button/car_1/protect/config",
        "homeassistant/button/car_1/photo/config",
    }
    ids = [c["unique_id"] for c in found.values()]
    assert len(set(ids)) == len(ids) and all(i.startswith("dashcam_car_1_") for i in ids)
    assert not any("object_id" in c for c in found.values())  # gone in Home Assistant 2026.4
    devices = {json.dumps(c["device"], sort_keys=True) for c in found.values()}
    assert len(devices) == 1
    device = next(iter(found.values()))["device"]
    assert device["identifiers"] == ["dashcam_car_1"] and device["sw_version"] == "0.1.0"
    assert device["name"] == "Dashcam car.1"
    assert {c["availability_topic"] for c in found.values()} == {"dashcam/car_1/availability"}
    state = found["homeassistant/sensor/car_1/state/config"]
    assert state["state_topic"] == h.state_topic == "dashcam/car_1/state"
    protect = found["homeassistant/button/car_1/protect/config"]
    assert protect["command_topic"] == "dashcam/car_1/command/protect"
    assert protect["payload_press"] == "PRESS"


def test_the_optional_parts_bring_their_entities_or_remove_them() -> None:
    h = ha()
    without = configs(h.discovery(STATUS))
    removed = {t for t, c in without.items() if c is None}
    assert removed == {
        "homeassistant/device_tracker/car_1/position/config",
        "homeassistant/sensor/car_1/cpu_temperature/config",
        "homeassistant/binary_sensor/car_1/problem/config",
        "homeassistant/binary_sensor/car_1/parked/config",
        "homeassistant/sensor/car_1/parking_events/config",
    }
    gps = {"fix": True, "mode": 3, "speed_mps": 13.9, "speed_text": "50 km/h"}
    full = {**STATUS, "gps": {**gps, "lat": 52.5, "lon": 13.4}, "health": HEALTH}
    full["parking"] = PARKING
    assert h.sections(full) == {"gps", "health", "parking"}
    made = configs(h.discovery(full))
    assert all(c is not None for c in made.values())
    temp = made["homeassistant/sensor/car_1/cpu_temperature/config"]
    assert temp["state_topic"] == "dashcam/car_1/health"
    assert temp["value_template"] == "{{ value_json.cpu_temp_c }}"
    assert temp["device_class"] == "temperature" and temp["unit_of_measurement"] == "°C"
    problem = made["homeassistant/binary_sensor/car_1/problem/config"]
    assert problem["device_class"] == "problem" and "warning" in problem["value_template"]
    parked = made["homeassistant/binary_sensor/car_1/parked/config"]
    assert parked["state_topic"] == "dashcam/car_1/parking" and "parked" in parked["value_template"]
    events = made["homeassistant/sensor/car_1/parking_events/config"]
    assert events["value_template"] == "{{ value_json.events }}"
    tracker = made["homeassistant/device_tracker/car_1/position/config"]
    assert tracker["json_attributes_topic"] == "dashcam/car_1/position"


def test_the_state_payload_is_built_from_the_status_dict() -> None:
    h = ha()
    (state,) = h.state(STATUS)
    assert state.topic == "dashcam/car_1/state" and state.retain
    body = state.json()
    assert body["state"] == "recording" and body["recording"] is True
    assert body["free_bytes"] == 8_000_000_000 and body["free_percent"] == 25.0
    assert body["frames_dropped"] == 0 and body["segment"] == "00000042"
    assert body["counts"] == {"loop": 3, "protected": 1, "photo": 0}
    assert "segment_elapsed_s" not in body  # changes at every snapshot: no message for it


def test_position_health_and_parking_have_their_own_messages() -> None:
    h = ha()
    gps = {"fix": True, "mode": 3, "speed_mps": 13.9, "lat": 52.5, "lon": 13.4}
    messages = h.state({**STATUS, "gps": gps, "health": HEALTH, "parking": PARKING})
    by_topic = {m.topic: m.json() for m in messages}
    assert by_topic["dashcam/car_1/position"] == {
        "latitude": 52.5,
        "longitude": 13.4,
        "speed_mps": 13.9,
    }
    assert all(m.retain for m in messages)  # Home Assistant restarted reads them again
    assert by_topic["dashcam/car_1/health"] == HEALTH
    assert by_topic["dashcam/car_1/parking"] == PARKING
    no_fix = {"fix": False, "mode": 1, "speed_mps": None, "lat": None, "lon": None}
    topics = [m.topic for m in h.state({**STATUS, "gps": no_fix, "health": None})]
    assert topics == ["dashcam/car_1/state"]  # the last known position stays retained


def test_health_and_parking_are_strict_json_whatever_the_dicts_hold() -> None:
    odd = {"cpu_temp_c": float("nan"), "warning": None, "flags": ("a", 1), "since": object()}
    by_topic = {m.topic: m for m in ha().state({**STATUS, "health": odd})}
    text = by_topic["dashcam/car_1/health"].payload
    body = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in {text}"))
    assert body["cpu_temp_c"] is None and body["flags"] == ["a", 1]
    assert body["since"].startswith("<object")


def test_an_incident_carries_its_kind_time_and_position_when_known() -> None:
    h = ha()
    manual = {"id": 4, "kind": "manual", "wall_s": 1_790_000_000.0, "clips": [7, 8]}
    msg = h.incident({**manual, "peak_g": None, "lat": None, "lon": None})
    assert msg.topic == "dashcam/car_1/incident" and msg.retain and msg.qos == 1
    assert msg.json() == {
        "id": 4,
        "kind": "manual",
        "time": "2026-09-21T14:13:20+00:00",
        "wall_s": 1_790_000_000.0,
        "clips": [7, 8],
    }
    parked = h.incident({**manual, "kind": "parking", "peak_g": 0.4, "lat": 52.5, "lon": 13.4})
    body = parked.json()
    assert body["kind"] == "parking" and body["peak_g"] == 0.4
    assert (body["latitude"], body["longitude"]) == (52.5, 13.4)


def test_availability_is_retained_online_or_offline() -> None:
    h = ha()
    assert (h.availability(True).payload, h.availability(False).payload) == ("online", "offline")
    assert h.availability(False).retain and h.availability(False).topic.endswith("/availability")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_button_press_is_its_event(name) -> None:
    h = ha()
    assert h.command(h.command_topic(name), b"PRESS") is COMMANDS[name]
    assert h.command(h.command_topic(name), "PRESS") is COMMANDS[name]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("dashcam/car_1/command/record", b"PRESS"),  # not a command
        ("dashcam/car_1/command/protect/x", b"PRESS"),  # deeper
        ("dashcam/other/command/protect", b"PRESS"),  # another device
        ("dashcam/car_1/command/", b"PRESS"),
        ("dashcam/car_1/command/protect", b""),
        ("dashcam/car_1/command/protect", b"press now"),
        ("dashcam/car_1/command/protect", b"\xff\xfe"),  # not UTF-8
        ("dashcam/car_1/command/protect", b"PRESS" * 100),  # too long
        ("dashcam/car_1/command/photo", None),
        (None, b"PRESS"),
    ],
)
def test_anything_else_is_refused_and_logged_never_raised(topic, payload, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="appliance.home_assistant"):
        assert ha().command(topic, payload) is None
    assert "refused" in caplog.text


def test_the_node_is_one_safe_topic_level() -> None:
    assert node_id("van-07") == "van-07"
    assert node_id("my car/#+") == "my_car"
    assert node_id("...") == "dashcam"
    assert Event.PROTECT_PRESSED in COMMANDS.values()
