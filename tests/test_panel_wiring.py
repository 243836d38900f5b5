"""The buttons' names and the default pins come from one definition (appliance.wiring):
the panel, the case's part table and the wiring diagram agree with it."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.config import Config
from appliance.states import Event
from appliance.wiring import BUTTON_WIRES, LED_GND_HEADER_PIN, LED_WIRE, Button
from cad import parts
from hw.panel import Panel, VirtualPanel

ROOT = Path(__file__).resolve().parent.parent
DIAGRAM = ROOT / "hw" / "deploy" / "wiring.svg"


def test_the_wiring_diagram_shows_the_default_pins():
    labels = set(re.findall(r">pin (\d+): ([^<]+)<", DIAGRAM.read_text()))
    for wire in BUTTON_WIRES.values():
        assert (str(wire.header_pin), f"BCM {wire.bcm}") in labels
    assert (str(LED_WIRE.header_pin), f"BCM {LED_WIRE.bcm} (PWM)") in labels
    assert (str(LED_GND_HEADER_PIN), "GND") in labels


def test_the_case_places_the_buttons_and_the_led_of_the_wiring():
    assert [(b.key, b.bcm, b.pin) for b in parts.BUTTONS] == [
        (button.value, wire.bcm, wire.header_pin) for button, wire in BUTTON_WIRES.items()
    ]
    for led in (parts.LED, parts.LED_5MM):
        assert (led.bcm, led.pin, led.gnd_pin) == (
            LED_WIRE.bcm,
            LED_WIRE.header_pin,
            LED_GND_HEADER_PIN,
        )


@pytest.fixture
def virtual():
    posted: list[Event] = []
    done = threading.Event()

    def post(event: Event) -> None:
        posted.append(event)
        done.set()

    config = Config(debounce_s=0.0)
    panel = Panel(config, post, pin_factory=MockFactory(pin_class=MockPWMPin))
    yield VirtualPanel(panel), posted, done
    panel.close()


@pytest.mark.parametrize(
    ("name", "event"),
    [(Button.PHOTO, Event.PHOTO_PRESSED), (Button.PROTECT, Event.PROTECT_PRESSED)],
)
def test_each_button_of_the_wiring_can_be_pressed_by_its_name(virtual, name, event):
    panel, posted, done = virtual
    panel.press(str(name))
    assert done.wait(5)
    assert posted == [event]


@pytest.mark.parametrize("name", ["shutter", "", "RECORD", 1, None])
def test_a_name_that_is_not_a_button_is_a_key_error_and_presses_nothing(virtual, name):
    panel, posted, _ = virtual
    with pytest.raises(KeyError):
        panel.press(name)
    assert posted == []
