"""``python -m tests.stacks prepare``: build every lane's environment, run no test.

``./dev.sh test`` runs this beside the suite (building is mostly downloading), and the
lanes' tests after it, when the suite no longer needs the processor: timing tests in either
fail on a machine running both at once. A lane whose environment could not be built here
builds it again when its test runs, and fails there with the reason.
"""

from __future__ import annotations

import shutil
import sys
import time

from tests import stacks


def prepare() -> int:
    """Build the floors, bookworm, trixie and arm64 environments; 1 if one failed."""
    status = 0
    jobs = [
        ("floors", lambda: stacks.x86_lane("floors", stacks.floor_constraints())),
        *(
            (
                release,
                lambda r=release: stacks.x86_lane(r, (stacks.STACKS / f"{r}.txt").read_text()),
            )
            for release in ("bookworm", "trixie")
        ),
    ]
    if all(shutil.which(t) for t in ("debootstrap", "dpkg-deb", "qemu-aarch64-static")):
        jobs.append(("arm64", stacks.arm64_root))
    for name, build in jobs:
        started = time.monotonic()
        try:
            build()
        except Exception as exc:  # noqa: BLE001 - reported; the lane's test builds it again
            status = 1
            print(f"{name}: not built: {exc}", flush=True)
        else:
            print(f"{name}: ready in {time.monotonic() - started:.0f} s", flush=True)
    return status


if __name__ == "__main__":
    if sys.argv[1:] != ["prepare"]:
        sys.exit("usage: python -m tests.stacks prepare")
    sys.exit(prepare())
