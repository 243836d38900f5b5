"""The real lgpio package as the service runs it: in an unwritable working directory.

On import, lgpio makes its notification pipe (``.lgd-nfyN``) in ``$LG_WD``, else in the
current directory; a service started in ``/`` cannot, and the import fails. Each case runs
a child process whose working directory is a read-only tmpfs (root ignores directory
permissions, a read-only mount it does not). Off a Raspberry Pi there is no
``/dev/gpiochip*``, so a pin factory stops at opening the chip, one step after the pipe;
the pin itself is claimed only where a gpiochip exists.
"""

from __future__ import annotations

import glob
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.harness import tmpfs

lgpio = pytest.importorskip("lgpio", reason="pip install lgpio (the dev extra has it)")

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "hw" / "deploy" / "install.sh"
UNIT = "etc/systemd/system/dashcam.service"
HAS_GPIOCHIP = bool(glob.glob("/dev/gpiochip*"))
#: What stops gpiozero's lgpio factory off a Pi, past lgpio's start: lgpio's open of the
#: chip, or, in gpiozero 2.0 and 2.0.1 (Raspberry Pi OS's), the board's revision, which
#: they read first to choose the chip (gpiochip4 on any Pi 5).
OFF_A_PI = ("'can not open gpiochip'", "PinUnknownPi: unable to locate Pi revision")


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory no one can write to, not even root: a tmpfs remounted read-only."""
    with tmpfs(tmp_path / "ro", 1024 * 1024, read_only=True) as mount:
        assert not os.access(mount, os.W_OK)
        yield mount


def child(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in ``cwd``, without LG_WD unless given."""
    environ = {k: v for k, v in os.environ.items() if k != "LG_WD"}
    environ["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def is_fifo(path: Path) -> bool:
    return path.exists() and stat.S_ISFIFO(path.stat().st_mode)


#: Make gpiozero's lgpio factory (this imports lgpio), then claim a button's pin.
CLAIM_A_PIN = """
from gpiozero.pins.lgpio import LGPIOFactory
print("imported", flush=True)
factory = LGPIOFactory(chip=0)
print("chip opened", flush=True)
from gpiozero import Button
Button(17, pull_up=True, pin_factory=factory).close()
print("pin claimed", flush=True)
"""


def assert_past_the_pipe(result: subprocess.CompletedProcess) -> None:
    """The pipe was made; what stops the child (off a Pi) is the missing gpiochip only."""
    assert "xCreatePipe" not in result.stderr and ".lgd-nfy" not in result.stderr
    assert result.stdout.startswith("imported\n"), result.stderr
    if HAS_GPIOCHIP:
        assert result.returncode == 0 and "pin claimed" in result.stdout, result.stderr
    else:
        assert result.returncode == 1
        assert any(reason in result.stderr for reason in OFF_A_PI), result.stderr


def test_upstream_lgpio_cannot_start_in_an_unwritable_directory(readonly_dir):
    """The blocker itself: the service in / without LG_WD fails on import, every restart."""
    result = child(CLAIM_A_PIN, readonly_dir)
    assert result.returncode == 1
    assert "xCreatePipe" in result.stderr and f"{readonly_dir}/.lgd-nfy0" in result.stderr
    assert "imported" not in result.stdout


def installed_unit(tmp_path) -> tuple[Path, dict[str, str]]:
    """The unit install.sh writes: (root, {WorkingDirectory, LG_WD})."""
    root = tmp_path / "root"
    result = subprocess.run(
        ["bash", str(INSTALL), "--dry-run", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = {}
    for line in (root / UNIT).read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "WorkingDirectory":
            found[key] = value
        elif key == "Environment":
            found |= dict(item.split("=", 1) for item in value.split())
    return root, found


def test_the_units_lg_wd_lets_lgpio_start_in_an_unwritable_directory(tmp_path, readonly_dir):
    root, unit = installed_unit(tmp_path)
    lg_wd = root / unit["LG_WD"].lstrip("/")
    assert lg_wd.is_dir(), "install.sh creates the directory"
    result = child(CLAIM_A_PIN, readonly_dir, LG_WD=str(lg_wd))
    assert_past_the_pipe(result)
    assert is_fifo(lg_wd / ".lgd-nfy0")
    assert list(readonly_dir.iterdir()) == []


def test_the_units_working_directory_alone_is_enough(tmp_path):
    root, unit = installed_unit(tmp_path)
    home = root / unit["WorkingDirectory"].lstrip("/")
    result = child(CLAIM_A_PIN, home)
    assert_past_the_pipe(result)
    assert is_fifo(home / ".lgd-nfy0")


#: The appliance's own way to the pin factory (hw/pins.py), then a button on it.
APPLIANCE_PINS = """
import os
from hw.pins import make_pin_factory
try:
    factory = make_pin_factory(False)
finally:
    print("LG_WD", os.environ.get("LG_WD"), "cwd", os.getcwd(), flush=True)
from gpiozero import Button
Button(17, pull_up=True, pin_factory=factory).close()
print("pin claimed", flush=True)
"""


@pytest.mark.parametrize("lg_wd", [None, "read-only", "missing"])
def test_make_pin_factory_gives_lgpio_a_writable_directory(tmp_path, readonly_dir, lg_wd):
    """LG_WD unset in an unwritable working directory, or set to one it cannot use."""
    env = {}
    if lg_wd == "read-only":
        env["LG_WD"] = str(readonly_dir)
    elif lg_wd == "missing":
        env["LG_WD"] = str(tmp_path / "removed")
    result = child(APPLIANCE_PINS, readonly_dir, **env)
    assert "xCreatePipe" not in result.stderr and ".lgd-nfy" not in result.stderr, result.stderr
    assert "lgpio cannot make its pipe in" in result.stderr  # the warning says where it went
    chosen = Path(result.stdout.split()[1])
    try:
        assert chosen.parent == Path(tempfile.gettempdir()), chosen
        assert is_fifo(chosen / ".lgd-nfy0")
        if HAS_GPIOCHIP:
            assert result.returncode == 0 and "pin claimed" in result.stdout, result.stderr
        else:  # gpiozero finds no Pi board, after lgpio started
            assert "PinUnknownPi" in result.stderr, result.stderr
    finally:
        for entry in chosen.iterdir():
            entry.unlink()
        chosen.rmdir()


def test_make_pin_factory_keeps_a_given_lg_wd_and_the_working_directory(tmp_path, readonly_dir):
    given = tmp_path / "given"
    given.mkdir()
    result = child(APPLIANCE_PINS, readonly_dir, LG_WD=str(given))
    assert result.stdout.split()[:4] == ["LG_WD", str(given), "cwd", str(readonly_dir)], (
        result.stdout + result.stderr
    )
    assert is_fifo(given / ".lgd-nfy0")


def test_make_pin_factory_leaves_lg_wd_unset_in_a_writable_directory(tmp_path):
    result = child(APPLIANCE_PINS, tmp_path)
    assert result.stdout.split()[:2] == ["LG_WD", "None"], result.stderr
    assert is_fifo(tmp_path / ".lgd-nfy0")


#: The appliance's pin factory with the real gpiozero and lgpio, on the sysfs in $SYSFS.
HEADER_CHIP = """
import logging, os, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from hw.pins import make_pin_factory
factory = make_pin_factory(False, sysfs_root=os.environ["SYSFS"])
print("chip", factory.chip, flush=True)
factory.close()
"""


def test_lgpio_is_opened_on_the_header_chip_that_sysfs_names(tmp_path):
    """Off a Pi, a fake sysfs names gpiochip7 (no such device here): gpiozero's factory is
    asked for it, then the chip is opened past gpiozero's choice, and lgpio's open of that
    chip is what fails. On a Pi, the real sysfs: the factory is on the header's chip."""
    from hw.pins import header_chip
    from tests.test_pins import add_chip

    if HAS_GPIOCHIP:
        sysfs, wanted = "/sys", header_chip("/sys")
        assert wanted is not None, "a Pi whose header chip sysfs does not name"
    else:
        sysfs = tmp_path / "sys"
        add_chip(sysfs, "platform/axi/1000120000.pcie/1f000d0000.gpio", 7, "pinctrl-rp1", 571)
        wanted = header_chip(sysfs)
    result = child(HEADER_CHIP, tmp_path, SYSFS=str(sysfs))
    assert f"the GPIO header is gpiochip{wanted.number} ({wanted.label})" in result.stderr
    if HAS_GPIOCHIP:
        assert result.returncode == 0 and f"chip {wanted.number}\n" in result.stdout, result.stderr
    else:
        assert any(
            f"gpiozero's LGPIOFactory did not open gpiochip7 ({reason.split(': ')[-1]}"
            in result.stderr
            for reason in OFF_A_PI
        ), result.stderr
        assert "opening gpiochip7 past gpiozero's choice" in result.stderr
        assert "in _lgpio_factory_on" in result.stderr  # the real classes, up to lgpio's open
        assert result.returncode == 1 and result.stderr.rstrip().endswith(
            "lgpio.error: 'can not open gpiochip'"
        ), result.stderr
