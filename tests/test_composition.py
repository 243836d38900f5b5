"""The composition root builds each part with what it needs: no attribute is set on
another part after it is made."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_composition_root_sets_no_attribute_on_another_part():
    """``ctl.position``, ``controller.on_clip_closed``, ``gsensor.on_samples``,
    ``watchdog.health``, ``overlay.extra`` and a replay camera's ``overlay`` were set after
    construction; they are constructor parameters now (the watchdog is made after the
    controller it watches, the overlay asks the App for its GPS text, the replay camera
    makes its overlay for the size it scanned)."""
    text = (ROOT / "hw" / "app.py").read_text()
    pattern = re.compile(r"^\s*((?:[a-z_]\w*\.)+[a-z_]\w*)\s*=[^=]", re.MULTILINE)
    own = re.compile(r"self\.\w+$")  # the App's own fields
    found = {name for name in pattern.findall(text) if not own.match(name)}
    assert found == set(), sorted(found)
