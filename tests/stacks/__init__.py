"""The stacks a Raspberry Pi really runs, built here and given a part of the suite.

Each lane is a Python environment of its own, made under ``.cache/stacks/`` (kept between
runs on one machine; CI starts without it) and asked to run a list of test files:

* ``floors``: the lowest version of every runtime dependency that ``pyproject.toml``
  admits, resolved by ``uv pip compile --resolution lowest-direct``;
* ``bookworm`` and ``trixie``: the versions Raspberry Pi OS's apt packages give the venv
  (``tests/stacks/<release>.txt``, each number with where it comes from), from the
  package index, on the Python that runs the suite;
* ``arm64``: Debian trixie's own arm64 ``python3.13`` with its ``python3-av``,
  ``python3-numpy`` and ``python3-pil``, unpacked from the Debian archive
  (``debootstrap --download-only`` resolves the packages, ``dpkg-deb -x`` unpacks them:
  no root file system is set up, no maintainer script runs) and run under
  ``qemu-aarch64-static`` called directly (no binfmt). Without maintainer scripts the
  BLAS and LAPACK alternatives are not linked, so the loader is pointed at their folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "stacks"
STACKS = Path(__file__).resolve().parent

#: What the x86 lanes run: the recorder, recovery, overlay, camera and panel tests, and
#: the core's state machine, library and incidents.
CORE_TESTS = (
    "tests/test_stream_copy.py",
    "tests/test_recovery.py",
    "tests/test_power_cut.py",
    "tests/test_crash.py",
    "tests/test_joined.py",
    "tests/test_fragments.py",
    "tests/test_progressive.py",
    "tests/test_overlay.py",
    "tests/test_replay_overlay.py",
    "tests/test_camera_sim.py",
    "tests/test_camera_base.py",
    "tests/test_camera_contract.py",
    "tests/test_camera_motion_rate.py",
    "tests/test_picamera2.py",
    "tests/test_picamera2_upstream.py",
    "tests/test_appliance.py",
    "tests/test_panel_debounce.py",
    "tests/test_pins.py",
    "tests/test_lgpio.py",
    "tests/test_transitions.py",
    "tests/test_library.py",
    "tests/test_pruning.py",
    "tests/test_incident.py",
    "tests/test_evidence_mp4.py",
    "tests/test_chain.py",
    "tests/test_exif.py",
    "tests/test_packet_ring.py",
    "tests/test_motion.py",
    "tests/test_ignition.py",
)

#: What the floors lane runs: :data:`CORE_TESTS` and the tests of every other runtime
#: dependency (Falcon, Waitress and WsgiDAV; tomlkit; smbus2; gpsdclient; rclone; paho-mqtt).
FLOOR_TESTS = (
    *CORE_TESTS,
    "tests/test_web_api.py",
    "tests/test_web_hardening.py",
    "tests/test_web_server.py",
    "tests/test_waitress_internals.py",
    "tests/test_dav.py",
    "tests/test_config.py",
    "tests/test_gsensor.py",
    "tests/test_gps.py",
    "tests/test_upload.py",
    "tests/test_upload_app.py",
    "tests/test_mqtt.py",
    "tests/test_battery.py",
)

#: What runs on arm64 under emulation: segment writing and what a power cut leaves of it,
#: recovery of a crashed clip and its thumbnail, the overlay's drawing (the Pi's path, in
#: picamera2's callback). Not the simulated camera's own overlay test: it encodes 1080p
#: frames with libx264, 73 s under emulation, and no Pi runs the simulated camera.
MEDIA_TESTS = (
    "tests/test_stream_copy.py",
    "tests/test_power_cut.py",
    "tests/test_recovery.py",
    "tests/test_overlay.py",
    "--deselect",
    "tests/test_overlay.py::test_the_simulated_camera_burns_in_each_frames_own_time",
)

#: Debian trixie's arm64 packages the media path needs, beyond python3 itself.
ARM64_PACKAGES = (
    "python3",
    "python3-av",
    "python3-numpy",
    "python3-pil",
    "python3-pytest",
    "python3-falcon",
    "python3-waitress",
    "python3-tomlkit",
    "python3-smbus2",
    "python3-colorzero",
    "python3-cryptography",
    "python3-piexif",
)
#: Pure-Python packages Debian trixie does not have at a version the project admits:
#: from the package index, for the emulated Python (gpiozero at Raspberry Pi OS's).
ARM64_INDEX_PACKAGES = ("gpiozero==2.0.1", "gpsdclient==1.3.2")
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Run:
    """A lane's test run: its command's exit status and output, and how long it took."""

    returncode: int
    output: str
    seconds: float

    @property
    def summary(self) -> str:
        """pytest's last line (``N passed in Ts``)."""
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def _run(cmd: list[str], *, timeout_s: float, **kw) -> Run:
    started = time.monotonic()
    proc = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout_s, **kw
    )
    return Run(proc.returncode, proc.stdout, time.monotonic() - started)


def _check(run: Run, what: str) -> Run:
    if run.returncode != 0:
        raise RuntimeError(f"{what} failed ({run.returncode}):\n{run.output[-4000:]}")
    return run


def _must(cmd: list[str], what: str, *, timeout_s: float, **kw) -> Run:
    """Run ``cmd``; a failure raises with its output."""
    return _check(_run(cmd, timeout_s=timeout_s, **kw), what)


def uv() -> str:
    """The ``uv`` installed beside the suite's Python (the dev extra)."""
    path = Path(sys.executable).with_name("uv")
    if not path.exists():
        found = shutil.which("uv")
        if found is None:
            raise FileNotFoundError("uv is not installed (pip install -e '.[dev]')")
        return found
    return str(path)


def floor_constraints() -> str:
    """``name==version`` lines: the lowest release of each runtime dependency admitted."""
    pyproject = str(ROOT / "pyproject.toml")
    options = ["--resolution", "lowest-direct", "--no-header", "--no-annotate", "--quiet"]
    run = _must(
        [uv(), "pip", "compile", pyproject, *options, "--python", sys.executable],
        "resolving the floors",
        timeout_s=300,
    )
    return run.output


def pins(constraints: str) -> dict[str, str]:
    """The ``name==version`` pins of a constraints text, by lower-case name."""
    out = {}
    for line in constraints.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.strip().lower()] = version.strip()
    return out


def dev_requirements(*names: str) -> list[str]:
    """The dev extra's requirement lines for ``names`` (picamera2, lgpio: test-only)."""
    import tomllib

    from packaging.requirements import Requirement

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return [text for text in dev["dev"] if Requirement(text).name.lower() in names]


def x86_lane(name: str, constraints: str) -> Path:
    """A virtual environment ``.cache/stacks/<name>`` with the project installed under
    ``constraints``, plus pytest, and picamera2 and lgpio: at the constraints' versions
    where pinned, else at the dev extra's; its Python.

    Made again only when the constraints, the extras or ``pyproject.toml`` change.
    """
    home = CACHE / name
    python = home / "bin" / "python"
    wanted = pins(constraints)
    extra = [f"{pkg}=={wanted[pkg]}" for pkg in ("picamera2", "lgpio") if pkg in wanted]
    extra += dev_requirements(*(pkg for pkg in ("picamera2", "lgpio") if pkg not in wanted))
    recipe = "\n".join([constraints, *extra, (ROOT / "pyproject.toml").read_text()])
    stamp = home / "recipe.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == recipe:
        return python
    shutil.rmtree(home, ignore_errors=True)
    home.parent.mkdir(parents=True, exist_ok=True)
    _must(
        [uv(), "venv", "--quiet", "--python", sys.executable, str(home)], "uv venv", timeout_s=120
    )
    constraint_file = home / "constraints.in"
    constraint_file.write_text(constraints)
    env = {**os.environ, "VIRTUAL_ENV": str(home)}
    env.pop("PIP_CONSTRAINT", None)
    _must(
        [uv(), "pip", "install", "--quiet", "-c", str(constraint_file), "-e", str(ROOT), "pytest"]
        + extra,
        f"installing the {name} lane",
        timeout_s=900,
        env=env,
    )
    stamp.write_text(recipe)
    return python


def installed_versions(
    python: Path | str, names: list[str], env: dict | None = None, prefix: list[str] | None = None
) -> dict[str, str]:
    """The versions ``python`` imports, by distribution name (importlib.metadata)."""
    code = (
        "import importlib.metadata as m, sys\n"
        "for n in sys.argv[1:]:\n"
        "    try: print(n, m.version(n))\n"
        "    except m.PackageNotFoundError: print(n, '-')\n"
    )
    run = _must(
        [*(prefix or []), str(python), "-c", code, *names],
        "reading versions",
        timeout_s=300,
        env=env,
    )
    return dict(line.split(" ", 1) for line in run.output.splitlines() if " " in line)


def run_tests(
    python: Path | str, tests: tuple[str, ...], *, timeout_s: float, env=None, prefix=None
) -> Run:
    """pytest on ``tests`` with ``python`` from the repository's root."""
    cmd = [
        *(prefix or []),
        str(python),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        *tests,
    ]
    return _run(cmd, timeout_s=timeout_s, cwd=ROOT, env=env)


def arm64_root() -> Path:
    """Debian trixie's arm64 Python with :data:`ARM64_PACKAGES`, unpacked under
    ``.cache/stacks/trixie-arm64`` (``root/`` and, for the index's packages, ``site/``).

    Made again only when the package lists change.
    """
    home = CACHE / "trixie-arm64"
    root, site, stamp = home / "root", home / "site", home / "packages.txt"
    wanted = "\n".join((DEBIAN_MIRROR, *ARM64_PACKAGES, *ARM64_INDEX_PACKAGES))
    if (root / "usr/bin/python3").exists() and stamp.exists() and stamp.read_text() == wanted:
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    include = "--include=" + ",".join(ARM64_PACKAGES)
    _must(
        ["debootstrap", "--download-only", "--arch=arm64", "--variant=minbase", include]
        + ["trixie", str(root), DEBIAN_MIRROR],
        "debootstrap --download-only",
        timeout_s=900,
    )
    for deb in sorted((root / "var/cache/apt/archives").glob("*.deb")):
        _must(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}", timeout_s=120)
    _must(
        [uv(), "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
        + list(ARM64_INDEX_PACKAGES),
        "the index's packages for arm64",
        timeout_s=300,
    )
    stamp.write_text(wanted)
    return home


def arm64_command(home: Path) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment that run trixie's arm64 ``python3`` here."""
    root = home / "root"
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        raise FileNotFoundError("qemu-aarch64-static is not installed (apt: qemu-user-static)")
    libs = "/usr/lib/aarch64-linux-gnu"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{ROOT}:{home / 'site'}",
        # The BLAS/LAPACK alternatives dpkg would have linked (no maintainer scripts ran).
        "LD_LIBRARY_PATH": f"{libs}/blas:{libs}/lapack",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
    }
    return [qemu, "-L", str(root)], env


def runtime_floors() -> dict[str, str]:
    """Each runtime dependency's lower bound in ``pyproject.toml``, by lower-case name."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for text in project["dependencies"]:
        req = Requirement(text)
        lows = [spec.version for spec in req.specifier if spec.operator == ">="]
        floors[req.name.lower()] = lows[0] if lows else ""
    return floors


def x86_lane_run(
    name: str, constraints: str, checked: list[str], tests: tuple[str, ...] = CORE_TESTS
) -> Run:
    """Build lane ``name``, check it imports the pinned versions of ``checked``, and run
    ``tests`` in it."""
    python = x86_lane(name, constraints)
    wanted = pins(constraints)
    found = installed_versions(python, checked)
    assert found == {pkg: wanted[pkg] for pkg in checked}, f"the {name} lane imports {found}"
    return run_tests(python, tests, timeout_s=1800)
