"""The clock policy is one rule in the core, asked by the dashboard and the GPS alike."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from appliance.clock_policy import CLOCK_STEP_MIN_S, forward_step
from appliance.gps_track import ClockFollower, Fix, clock_step

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("ahead_s", "taken"),
    [(-3600.0, False), (0.0, False), (1.999, False), (2.0, False), (2.001, True), (3600.0, True)],
)
def test_only_a_clock_more_than_the_step_ahead_is_taken(ahead_s, taken):
    now_s = 1_800_000_000.0
    assert CLOCK_STEP_MIN_S == 2.0
    assert (forward_step(now_s + ahead_s, now_s) == now_s + ahead_s) is taken
    assert (forward_step(now_s + ahead_s, now_s) is None) is not taken
    # The GPS asks the same rule: a fix's time is taken exactly when a phone's would be.
    assert (clock_step(Fix(mode=3, time_s=now_s + ahead_s), now_s) is not None) is taken
    sets: list[float] = []
    ClockFollower(sets.append, wall=lambda: now_s).on_fix(Fix(mode=3, time_s=now_s + ahead_s))
    assert bool(sets) is taken


@pytest.mark.parametrize("other_s", [math.nan, math.inf, -math.inf])
def test_a_clock_that_is_not_a_number_is_never_taken(other_s):
    assert forward_step(other_s, 0.0) is None


def test_the_rule_is_written_once_in_the_core():
    """No other module of the appliance, the dashboard or the hardware keeps a tolerance of
    its own for setting the clock (there were two: the dashboard's and the GPS's)."""
    pattern = re.compile(r"^\s*(CLOCK_\w*_S)\s*[:=]", re.MULTILINE)
    found = {
        f"{path.relative_to(ROOT)}:{name}"
        for folder in ("appliance", "web", "hw")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in pattern.findall(path.read_text())
    }
    assert found == {"appliance/clock_policy.py:CLOCK_STEP_MIN_S"}
