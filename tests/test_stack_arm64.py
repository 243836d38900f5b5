"""The media path on Debian trixie's own arm64 Python, PyAV, numpy and Pillow.

A Raspberry Pi runs aarch64 and the apt packages of its release. Here they run under
``qemu-aarch64-static`` (see :mod:`tests.stacks`): the recorder writes segments and a
power cut is modelled on them, a crashed clip is recovered with its thumbnail, and the
overlay is drawn, all with Debian's python3.13, python3-av 14.2, python3-numpy 2.2 and
python3-pil 11.1 as Raspberry Pi OS trixie installs them.
"""

from __future__ import annotations

import shutil

import pytest

from tests import stacks

pytestmark = [pytest.mark.slow, pytest.mark.stack]


def test_segments_recovery_thumbnails_and_the_overlay_work_on_trixies_arm64_packages():
    for tool in ("debootstrap", "dpkg-deb", "qemu-aarch64-static"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (./dev.sh test installs it)")
    home = stacks.arm64_root()
    prefix, env = stacks.arm64_command(home)
    python = home / "root/usr/bin/python3"
    machine = stacks._must(
        [*prefix, str(python), "-c", "import platform; print(platform.machine())"],
        "platform.machine()",
        timeout_s=120,
        env=env,
    )
    assert machine.output.strip() == "aarch64"
    # The trixie lane's numbers are Debian's own: the two lanes test one stack.
    wanted = stacks.pins((stacks.STACKS / "trixie.txt").read_text())
    names = ["av", "numpy", "pillow", "cryptography", "piexif"]
    found = stacks.installed_versions(python, names, env=env, prefix=prefix)
    assert found == {name: wanted[name] for name in names}, "trixie.txt is not what trixie has"

    run = stacks.run_tests(python, stacks.MEDIA_TESTS, timeout_s=1800, env=env, prefix=prefix)
    print(f"arm64 (qemu) media path: {run.summary} in {run.seconds:.0f} s wall")
    assert run.returncode == 0, run.output[-6000:]
    assert " passed" in run.summary and "skipped" not in run.summary, run.summary
