"""The composition root builds each part with what it needs: no attribute is set on
another part after it is made, except where the order of construction cannot allow it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Attribute sets the order of construction still needs, each with why.
STILL_SET = {
    # The controller ticks the watchdog (on_tick=watchdog.tick) and the watchdog's health
    # check reads the controller: one of the two is completed after the other is made.
    "self.watchdog.health",
    # The camera (and its overlay) is made by the CLI before the App and its GPS exist.
    "overlay.extra",
    # A replayed file's size is known once the camera has scanned it.
    "camera.overlay",
}


def test_the_composition_root_sets_no_attribute_on_another_part():
    """``ctl.position``, ``controller.on_clip_closed`` and ``gsensor.on_samples`` were set
    after construction; they are constructor parameters now."""
    text = (ROOT / "hw" / "app.py").read_text()
    pattern = re.compile(r"^\s*((?:[a-z_]\w*\.)+[a-z_]\w*)\s*=[^=]", re.MULTILINE)
    own = re.compile(r"self\.\w+$")  # the App's own fields
    found = {name for name in pattern.findall(text) if not own.match(name)}
    assert found <= STILL_SET, sorted(found - STILL_SET)
