"""The one place that chooses gpiozero's pin factory."""

from __future__ import annotations


def make_pin_factory(simulated: bool):
    """gpiozero's mock pins (with PWM) off the Pi, its default (lgpio) factory on it.

    Args:
        simulated: True for mock pins that tests and the terminal panel drive.
    """
    if simulated:
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    from gpiozero.pins.lgpio import LGPIOFactory

    return LGPIOFactory()
