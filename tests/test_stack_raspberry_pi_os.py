"""The core and camera tests on each Raspberry Pi OS release's package versions.

``tests/stacks/<release>.txt`` pins what the release's apt packages give the venv through
its system site packages, each number with where it comes from (see :mod:`tests.stacks`).
"""

from __future__ import annotations

import pytest

from tests import stacks

pytestmark = [pytest.mark.slow, pytest.mark.stack]


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_the_releases_versions_run_the_core_and_camera_tests(release):
    constraints = (stacks.STACKS / f"{release}.txt").read_text()
    run = stacks.x86_lane_run(release, constraints, sorted(stacks.pins(constraints)))
    print(f"{release} lane: {run.summary} in {run.seconds:.0f} s wall")
    assert run.returncode == 0, run.output[-6000:]
