"""Every runtime dependency's floor in pyproject.toml is a version the suite passed on.

The floors lane (:mod:`tests.stacks`) installs the lowest release of each runtime
dependency that ``pyproject.toml`` admits and runs the recorder, recovery, overlay,
camera and panel tests on them, and the tests of the dashboard, the network drive, the
config file, the sensors, the upload and Home Assistant over MQTT.
"""

from __future__ import annotations

import pytest
from packaging.version import Version

from tests import stacks

pytestmark = [pytest.mark.slow, pytest.mark.stack]


def test_the_lowest_versions_pyproject_admits_run_the_core_camera_and_panel_tests():
    constraints = stacks.floor_constraints()
    lowest = stacks.pins(constraints)
    floors = stacks.runtime_floors()
    # A floor is the version that ran: one that no release matches exactly (">=1.65" when
    # the first release is 1.65.2) would claim a version nobody tested.
    assert {n: Version(lowest[n]) for n in floors} == {n: Version(v) for n, v in floors.items()}, (
        "write each floor in pyproject.toml as the release the floors lane installs"
    )
    run = stacks.x86_lane_run("floors", constraints, sorted(floors), stacks.FLOOR_TESTS)
    print(f"floors lane: {run.summary} in {run.seconds:.0f} s wall")
    assert run.returncode == 0, run.output[-6000:]
