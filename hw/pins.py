"""The one place that chooses gpiozero's pin factory."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import MutableMapping

log = logging.getLogger(__name__)


def ensure_lgpio_workdir(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Give lgpio a writable ``LG_WD`` when it would otherwise fail; call before its import.

    lgpio makes its notification pipe (``.lgd-nfyN``) in ``$LG_WD``, else in the current
    directory, when it is imported; an unwritable one (``/`` for a service without a
    working directory) makes the import fail. The unit sets ``LG_WD``; this covers a start
    without it.

    Args:
        environ: The environment lgpio will read (the process's own).

    Returns:
        The directory chosen, or None when ``LG_WD`` was set or the current directory
        is writable.
    """
    if environ.get("LG_WD"):
        return None
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was removed
        cwd = None
    if cwd is not None and os.access(cwd, os.W_OK | os.X_OK):
        return None
    path = tempfile.mkdtemp(prefix="dashcam-lgpio-")  # private: one pipe set per process
    environ["LG_WD"] = path
    log.warning(
        "the working directory %s is not writable: lgpio's pipe goes to %s "
        "(set WorkingDirectory= or LG_WD in the unit)",
        cwd,
        path,
    )
    return path


def make_pin_factory(simulated: bool):
    """gpiozero's mock pins (with PWM) off the Pi, its default (lgpio) factory on it.

    Args:
        simulated: True for mock pins that tests and the terminal panel drive.
    """
    if simulated:
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    ensure_lgpio_workdir()
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    from gpiozero.pins.lgpio import LGPIOFactory

    # lgpio's import changes the working directory to LG_WD; relative paths given on the
    # command line (a config file to save to) must keep meaning what they meant.
    if cwd is not None and os.getcwd() != cwd:
        os.chdir(cwd)
    return LGPIOFactory()
