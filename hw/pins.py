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
    working directory, an ``LG_WD`` removed or read-only) makes the import fail, and the
    service would fail at every start. The unit sets a good ``LG_WD``; this covers the rest.

    Args:
        environ: The environment lgpio will read (the process's own).

    Returns:
        The private directory chosen, or None when lgpio's own choice is writable.
    """
    wanted = environ.get("LG_WD") or None
    if wanted is None:
        try:
            wanted = os.getcwd()
        except OSError:  # the working directory was removed
            wanted = None
    if wanted is not None and os.path.isdir(wanted) and os.access(wanted, os.W_OK | os.X_OK):
        return None
    path = tempfile.mkdtemp(prefix="dashcam-lgpio-")  # private: one pipe set per process
    log.warning(
        "lgpio cannot make its pipe in %s (%s): it goes to %s; set WorkingDirectory= and "
        "LG_WD in the unit to a directory the service user owns",
        wanted,
        "LG_WD" if environ.get("LG_WD") else "the working directory",
        path,
    )
    environ["LG_WD"] = path
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
