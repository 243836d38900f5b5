"""hw/deploy/install.sh and uninstall.sh in a dry run: the files they write, the commands
they would run, and ``systemd-analyze verify`` on the produced unit."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.config import load
from tests.harness import tmpfs
from tests.test_storage_faults import (
    in_error_with_its_led,
    make,
    records_again,
    retried_and_still_failing,
)

DEPLOY = Path(__file__).resolve().parent.parent / "hw" / "deploy"
INSTALL = DEPLOY / "install.sh"
UNINSTALL = DEPLOY / "uninstall.sh"
UNIT = "etc/systemd/system/dashcam.service"
RULE = "etc/polkit-1/rules.d/50-dashcam.rules"
CONFIG = "etc/dashcam/dashcam.toml"


ZERO_2_W = "Raspberry Pi Zero 2 W Rev 1.0"
PI_5 = "Raspberry Pi 5 Model B Rev 1.0"


def sh(
    script: Path, *args: str, arch: str | None = "arm64", model: str = ZERO_2_W
) -> subprocess.CompletedProcess:
    """Run a deploy script; ``arch`` is the architecture it sees (None: this machine's),
    ``model`` the board (the device tree's model string)."""
    env = dict(os.environ)
    env.pop("DASHCAM_INSTALL_ARCH", None)
    if arch is not None:
        env["DASHCAM_INSTALL_ARCH"] = arch
    env["DASHCAM_INSTALL_MODEL"] = model
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def unit_sections(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes="#")
    parser.optionxform = str  # keys are case-sensitive in units
    parser.read(path)
    return parser


def commands_of(out: str) -> list[str]:
    """The commands a dry run printed, in order."""
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def shell_assignments(path: Path) -> dict[str, str]:
    """``KEY="value"`` lines of a shell environment file, as the shell would read them."""
    result = subprocess.run(
        ["bash", "-c", f'set -a; . "{path}"; env -0'],
        capture_output=True,
        check=True,
        env={},
    )
    pairs = (item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.isupper() and k not in ("PWD", "SHLVL", "_")}


@pytest.fixture
def installed(tmp_path) -> tuple[Path, str]:
    root = tmp_path / "root"
    result = sh(INSTALL, "--dry-run", "--root", str(root))
    assert result.returncode == 0, result.stderr
    return root, result.stdout


def test_dry_run_prints_the_commands(installed):
    _, out = installed
    commands = [line[2:] for line in out.splitlines() if line.startswith("+ ")]
    apt = next(c for c in commands if c.startswith("apt-get install"))
    for package in ("python3-picamera2", "python3-lgpio", "polkitd", "fake-hwclock"):
        assert package in apt.split()
    assert "python3 -m venv --system-site-packages /opt/dashcam/venv" in commands
    assert any(c.startswith("/opt/dashcam/venv/bin/pip install --upgrade /") for c in commands)
    assert any(c.startswith("useradd --system") and "video\\,gpio" in c for c in commands)
    assert "systemctl enable fake-hwclock.service avahi-daemon.service" in commands
    assert "hostnamectl set-hostname dashcam" in commands
    assert commands[-2:] == ["systemctl daemon-reload", "systemctl enable --now dashcam.service"]


def test_the_unit_is_a_watched_service_that_always_restarts(installed):
    root, _ = installed
    unit = unit_sections(root / UNIT)
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "always"
    assert service["WatchdogSec"] == "30"
    assert service["User"] == "dashcam"
    assert service["ExecStart"] == (
        "/opt/dashcam/venv/bin/dashcam run --config /etc/dashcam/dashcam.toml"
    )
    assert service["AmbientCapabilities"] == "CAP_SYS_TIME"
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "@" not in (root / UNIT).read_text(), "a template variable was left"


def test_systemd_analyze_verifies_the_unit(installed):
    systemd_analyze = shutil.which("systemd-analyze")
    units = Path("/usr/lib/systemd/system")
    if systemd_analyze is None or not (units / "multi-user.target").exists():
        pytest.skip("systemd-analyze or the system's units are missing (apt install systemd)")
    root, _ = installed
    # The root needs the system's units (the unit's dependencies), and the entry point the
    # dry run only logged: the venv's pip install would put it there.
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    entry = root / "opt/dashcam/venv/bin/dashcam"
    entry.parent.mkdir(parents=True)
    entry.write_text("#!/bin/sh\n")
    entry.chmod(0o755)
    result = subprocess.run(
        [systemd_analyze, f"--root={root}", "verify", "/" + UNIT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dashcam.service" not in result.stdout + result.stderr

    entry.unlink()  # and verify does catch a wrong ExecStart
    result = subprocess.run(
        [systemd_analyze, f"--root={root}", "verify", "/" + UNIT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "is not executable" in result.stderr


def test_the_polkit_rule_allows_power_off_and_restart_only(installed):
    root, _ = installed
    rule = (root / RULE).read_text()
    assert 'subject.user == "dashcam"' in rule
    actions = {line.strip().strip('",') for line in rule.splitlines() if "org.freedesktop" in line}
    assert actions == {
        "org.freedesktop.login1.power-off",
        "org.freedesktop.login1.power-off-multiple-sessions",
        "org.freedesktop.login1.reboot",
        "org.freedesktop.login1.reboot-multiple-sessions",
    }
    assert rule.count("{") == rule.count("}") and rule.count("(") == rule.count(")")
    assert "polkit.Result.YES" in rule and "polkit.Result.AUTH" not in rule


def test_the_config_it_writes_is_valid_and_kept_on_reinstall(installed):
    root, _ = installed
    config, _ = load(root / CONFIG)
    assert config.storage_root == "/var/lib/dashcam/data"
    (root / CONFIG).write_text('storage_root = "/media/card"\n')
    again = sh(INSTALL, "--dry-run", "--root", str(root))
    assert again.returncode == 0 and "kept /etc/dashcam/dashcam.toml" in again.stdout
    assert load(root / CONFIG)[0].storage_root == "/media/card"


def test_the_device_key_is_made_once_for_the_service_user_alone(installed):
    """install.sh makes the Ed25519 key that signs each clip's link (openssl, as on the
    Pi): the private key 0600 and the service user's (the chown of /etc/dashcam), the
    public key exported beside it; a reinstall keeps it (a new key is a new device)."""
    from appliance.chain import load_key, load_public

    root, out = installed
    private = root / "etc/dashcam/device-key.pem"
    public = root / "etc/dashcam/device-key.pub"
    assert private.stat().st_mode & 0o777 == 0o600
    assert public.stat().st_mode & 0o777 == 0o644
    key = load_key(str(private))  # what the appliance reads at start
    assert load_public(public.read_bytes()) == key.public_raw
    commands = [line[2:] for line in out.splitlines() if line.startswith("+ ")]
    assert "chown -R dashcam:dashcam /etc/dashcam" in commands
    assert "openssl" in next(c for c in commands if c.startswith("apt-get install")).split()
    before = private.read_bytes()
    again = sh(INSTALL, "--dry-run", "--root", str(root))
    assert again.returncode == 0 and "kept /etc/dashcam/device-key.pem" in again.stdout
    assert private.read_bytes() == before


def test_the_config_holding_the_password_is_mode_600_from_install_on(installed):
    root, out = installed
    assert (root / CONFIG).stat().st_mode & 0o777 == 0o600  # a new install
    assert "chown -R dashcam:dashcam /etc/dashcam" in commands_of(out)  # the service's own
    (root / CONFIG).chmod(0o644)  # as an older install left it
    again = sh(INSTALL, "--dry-run", "--root", str(root))
    assert again.returncode == 0, again.stderr
    assert (root / CONFIG).stat().st_mode & 0o777 == 0o600


def test_temporary_files_of_the_service_are_in_ram_never_on_the_card(installed):
    root, _ = installed
    service = unit_sections(root / UNIT)["Service"]
    assert service["RuntimeDirectory"] == "dashcam"
    assert service["RuntimeDirectoryMode"] == "0700"
    lines = (root / UNIT).read_text().splitlines()
    assert "Environment=TMPDIR=/run/dashcam" in lines


def test_options_reach_every_file(tmp_path):
    root = tmp_path / "root"
    result = sh(
        INSTALL,
        "--dry-run",
        "--root",
        str(root),
        "--user",
        "car",
        "--prefix",
        "/srv/dc",
        "--storage",
        "/media/card",
        "--keep-hostname",
    )
    assert result.returncode == 0, result.stderr
    service = unit_sections(root / UNIT)["Service"]
    assert service["User"] == "car"
    assert service["ExecStart"].startswith("/srv/dc/venv/bin/dashcam run")
    assert 'subject.user == "car"' in (root / RULE).read_text()
    assert load(root / CONFIG)[0].storage_root == "/media/card"
    assert "hostnamectl" not in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--dry-run"],  # no --root
        ["--dry-run", "--root", "R", "--user", "bad user"],
        ["--dry-run", "--root", "R", "--storage", "relative/path"],
        ["--dry-run", "--root", "R", "--frobnicate"],
    ],
)
def test_bad_arguments_are_refused(tmp_path, args):
    args = [str(tmp_path / "r") if a == "R" else a for a in args]
    result = sh(INSTALL, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("install.sh:")
    assert not (tmp_path / "r" / UNIT).exists()


def test_uninstall_removes_the_service_and_keeps_the_recordings(installed):
    root, _ = installed
    (root / "opt/dashcam/venv/bin").mkdir(parents=True)
    result = sh(UNINSTALL, "--dry-run", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert "+ systemctl disable --now dashcam.service" in result.stdout
    assert not (root / UNIT).exists() and not (root / RULE).exists()
    assert not (root / "opt/dashcam").exists()
    assert (root / CONFIG).exists() and (root / "var/lib/dashcam/data").is_dir()

    result = sh(UNINSTALL, "--dry-run", "--root", str(root), "--purge")
    assert result.returncode == 0, result.stderr
    assert not (root / "etc/dashcam").exists()
    assert not (root / "var/lib/dashcam").exists()

    assert "+ userdel dashcam" in result.stdout


def test_the_service_runs_in_a_home_it_owns_with_lg_wd(installed):
    root, out = installed
    service = unit_sections(root / UNIT)["Service"]
    assert service["WorkingDirectory"] == "/var/lib/dashcam"
    environment = [
        line.split("=", 1)[1]
        for line in (root / UNIT).read_text().splitlines()
        if line.startswith("Environment=")
    ]
    assert "LG_WD=/var/lib/dashcam" in " ".join(environment).split()

    commands = [line[2:] for line in out.splitlines() if line.startswith("+ ")]
    assert any(
        c.startswith("useradd --system --home-dir /var/lib/dashcam --create-home") for c in commands
    )
    # Owned by the service user even when the user existed before the install.
    assert "install -d -o dashcam -g dashcam -m 0755 /var/lib/dashcam /var/lib/dashcam/data" in (
        commands
    )
    assert (root / "var/lib/dashcam").is_dir()


def test_the_unit_starts_before_the_network(installed):
    root, _ = installed
    unit = unit_sections(root / UNIT)["Unit"]
    ordering = " ".join(unit.get(key, "") for key in ("After", "Wants", "Requires", "BindsTo"))
    assert "network" not in ordering
    assert "DefaultDependencies" not in unit  # the default: sysinit, basic, not the network


def test_recording_waits_for_the_clock_and_never_for_avahi(installed):
    """fake-hwclock restores the clock before the first file name; avahi (and the D-Bus it
    needs) is pulled in but not waited for: mDNS is for the phone, never for recording."""
    root, _ = installed
    unit = unit_sections(root / UNIT)["Unit"]
    assert unit["After"].split() == ["local-fs.target", "fake-hwclock.service"]
    assert unit["Wants"].split() == ["fake-hwclock.service", "avahi-daemon.service"]
    for key in ("Requires", "BindsTo", "Requisite", "Before"):
        assert key not in unit, key


def test_a_missing_storage_folder_does_not_stop_the_service_starting(installed):
    """systemd refuses to start a unit whose ReadWritePaths= entry is missing (226/NAMESPACE)
    unless it has the "-" prefix: a card not mounted at boot must not stop the service."""
    root, _ = installed
    service = unit_sections(root / UNIT)["Service"]
    assert service["ReadWritePaths"].split() == ["-/var/lib/dashcam/data", "/etc/dashcam"]


def test_the_appliance_started_without_its_storage_folder(tmp_path):
    """What the service then does: a folder it may create is made and recorded into; one it
    may not (a card's mount point under a folder it cannot write) is an error, probed until
    the folder is there, and recording starts by itself then."""
    made = tmp_path / "data"
    app = make(made)  # the harness makes the folder; take it away before the start
    made.rmdir()
    with app:
        app.wait_segments(2)
        assert str(app.segments[-1].path).startswith(str(made))

    with tmpfs(tmp_path / "media", 8 * 1024 * 1024) as media:
        card = media / "card"
        app = make(card)
        card.rmdir()
        subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
        with app:
            in_error_with_its_led(app)
            retried_and_still_failing(app)
            assert not card.exists()
            subprocess.run(["mount", "-o", "remount,rw", str(media)], check=True)
            card.mkdir()  # the card is there
            records_again(app)


@pytest.mark.parametrize("arch", ["armhf", "armel", "armv7l", "armv6l", "armv8l", "i386"])
def test_a_32_bit_os_is_refused_before_anything_changes(tmp_path, arch):
    root = tmp_path / "root"
    result = sh(INSTALL, "--dry-run", "--root", str(root), arch=arch)
    assert result.returncode == 1
    assert result.stderr.startswith(f"install.sh: this is a 32-bit OS ({arch})")
    assert "Raspberry Pi OS Lite (64-bit)" in result.stderr and "Zero 2 W" in result.stderr
    assert "PyAV" in result.stderr and "Nothing was changed" in result.stderr
    assert "+ " not in result.stdout and "wrote" not in result.stdout
    assert not root.exists()


@pytest.mark.parametrize("arch", ["arm64", "aarch64", "amd64"])
def test_a_64_bit_os_is_installed(tmp_path, arch):
    root = tmp_path / "root"
    result = sh(INSTALL, "--dry-run", "--root", str(root), arch=arch)
    assert result.returncode == 0, result.stderr
    assert (root / UNIT).exists()


POLKIT_HARNESS = """
const fs = require("fs");
const rules = [];
const polkit = {
    Result: {YES: "yes", NO: "no", AUTH_ADMIN: "auth_admin"},
    addRule: (rule) => rules.push(rule),
};
new Function("polkit", fs.readFileSync(process.argv[2], "utf8"))(polkit);
const answers = {};
for (const user of ["dashcam", "pi", "root"]) {
    for (const id of process.argv.slice(3)) {
        const verdicts = rules.map((rule) => rule({id: id}, {user: user}));
        answers[user + " " + id] = verdicts.find((v) => v !== undefined) || null;
    }
}
console.log(JSON.stringify(answers));
"""


def test_the_polkit_rule_runs_and_answers_only_the_service_user(installed, tmp_path):
    """polkitd (Bookworm's 122, with duktape) runs the rule as JavaScript: run it in node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt install nodejs) to run the rule")
    root, _ = installed
    harness = tmp_path / "harness.js"
    harness.write_text(POLKIT_HARNESS)
    allowed = [
        "org.freedesktop.login1.power-off",
        "org.freedesktop.login1.power-off-multiple-sessions",
        "org.freedesktop.login1.reboot",
        "org.freedesktop.login1.reboot-multiple-sessions",
    ]
    others = ["org.freedesktop.login1.hibernate", "org.freedesktop.systemd1.manage-units"]
    result = subprocess.run(
        [node, str(harness), str(root / RULE), *allowed, *others],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    for user in ("dashcam", "pi", "root"):
        for action in allowed + others:
            want = "yes" if user == "dashcam" and action in allowed else None
            assert answers[f"{user} {action}"] == want, (user, action)


@pytest.mark.parametrize(("reported", "refused"), [("armhf", True), ("arm64", False)])
def test_the_architecture_comes_from_dpkg_by_default(tmp_path, reported, refused):
    """Without the override the script asks dpkg (the userland's, not the kernel's): a 32-bit
    Raspberry Pi OS on a Pi 4 runs a 64-bit kernel, so ``uname -m`` says aarch64 there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, answer in (("dpkg", reported), ("uname", "aarch64")):
        fake = bin_dir / name
        fake.write_text(f"#!/bin/sh\necho {answer}\n")
        fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "DASHCAM_INSTALL_ARCH"}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    result = subprocess.run(
        ["bash", str(INSTALL), "--dry-run", "--root", str(tmp_path / "root")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    if refused:
        assert result.returncode == 1 and "this is a 32-bit OS (armhf)" in result.stderr
        assert not (tmp_path / "root").exists()
    else:
        assert result.returncode == 0, result.stderr


# -- the service user's groups; I2C, the serial port and gpsd ----------------------------

GPSD_DEFAULTS = "etc/default/gpsd"
SERIAL_OFF_UART_ON = ["raspi-config nonint do_serial_cons 1", "raspi-config nonint do_serial_hw 0"]


def test_the_service_user_may_open_the_camera_the_pins_and_the_i2c_bus(installed):
    """Pi OS's udev rules give /dev/video*, /dev/media* and /dev/dma_heap/* to video,
    /dev/gpiochip* to gpio and /dev/i2c-* to i2c (mode 0660): the user and the unit have
    all three, also for a user an older install made (usermod), and the groups exist."""
    root, out = installed
    commands = commands_of(out)
    for group in ("video", "gpio", "i2c"):
        assert f"groupadd --system --force {group}" in commands
    useradd = next(c for c in commands if c.startswith("useradd "))
    assert "--groups video\\,gpio\\,i2c dashcam" in useradd
    usermod = "usermod --append --groups video\\,gpio\\,i2c dashcam"
    assert usermod in commands
    assert commands.index(useradd) < commands.index(usermod)
    service = unit_sections(root / UNIT)["Service"]
    assert service["SupplementaryGroups"].split() == ["video", "gpio", "i2c"]
    assert "dialout" not in (root / UNIT).read_text()  # gpsd opens the receiver, not we


def test_without_options_no_interface_or_gpsd_is_touched(installed):
    root, out = installed
    commands = commands_of(out)
    assert not any("raspi-config" in c or "gpsd" in c for c in commands)
    assert not (root / GPSD_DEFAULTS).exists()
    assert load(root / CONFIG)[0].gps == "none"
    assert "reboot" not in out


def test_enable_i2c_switches_the_bus_on_and_asks_for_a_reboot(tmp_path):
    root = tmp_path / "root"
    result = sh(INSTALL, "--dry-run", "--root", str(root), "--enable-i2c")
    assert result.returncode == 0, result.stderr
    commands = commands_of(result.stdout)
    assert "raspi-config nonint do_i2c 0" in commands  # 0: enable (raspi-config's "yes")
    apt = next(c for c in commands if c.startswith("apt-get install")).split()
    assert "raspi-config" in apt and "gpsd" not in apt
    assert not any("serial" in c for c in commands)
    assert commands[-2:] == ["systemctl daemon-reload", "systemctl enable --now dashcam.service"]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("reboot needed (sudo reboot): I2C")
    assert 'gsensor = "mpu6050", "lis3dh" or "adxl345"' in result.stdout


@pytest.mark.parametrize(("model", "device"), [(ZERO_2_W, "/dev/serial0"), (PI_5, "/dev/ttyAMA0")])
def test_gps_serial_frees_the_uart_for_gpsd(tmp_path, model, device):
    """The login console leaves the UART, the UART is switched on, gpsd reads it from boot
    (on a Pi 5 /dev/serial0 is the debug connector: the GPIO 14/15 UART is ttyAMA0)."""
    root = tmp_path / "root"
    result = sh(INSTALL, "--dry-run", "--root", str(root), "--gps-serial", model=model)
    assert result.returncode == 0, result.stderr
    commands = commands_of(result.stdout)
    apt = next(c for c in commands if c.startswith("apt-get install")).split()
    assert {"gpsd", "gpsd-clients", "raspi-config"} <= set(apt)
    at = commands.index(SERIAL_OFF_UART_ON[0])
    assert commands[at : at + 2] == SERIAL_OFF_UART_ON
    assert "raspi-config nonint do_i2c 0" not in commands
    assert "systemctl enable gpsd.socket gpsd.service" in commands
    assert "systemctl restart gpsd.service" in commands
    assert commands[-2:] == ["systemctl daemon-reload", "systemctl enable --now dashcam.service"]
    assert shell_assignments(root / GPSD_DEFAULTS) == {
        "DEVICES": device,
        "GPSD_OPTIONS": "-n",
        "USBAUTO": "false",
    }
    assert load(root / CONFIG)[0].gps == "gpsd"  # a new config reads it
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("reboot needed (sudo reboot): ") and "serial" in last


def test_gps_device_points_gpsd_at_a_usb_receiver(tmp_path):
    root = tmp_path / "root"
    device = "/dev/serial/by-id/usb-u-blox_GNSS_receiver-if00"
    result = sh(INSTALL, "--dry-run", "--root", str(root), "--gps-device", device)
    assert result.returncode == 0, result.stderr
    commands = commands_of(result.stdout)
    assert not any("raspi-config" in c for c in commands)  # no UART, no reboot
    assert "systemctl enable gpsd.socket gpsd.service" in commands
    assert shell_assignments(root / GPSD_DEFAULTS) == {
        "DEVICES": device,
        "GPSD_OPTIONS": "-n",
        "USBAUTO": "true",
    }
    assert load(root / CONFIG)[0].gps == "gpsd"
    assert "reboot" not in result.stdout


def test_gps_serial_with_another_device_and_i2c_together(tmp_path):
    root = tmp_path / "root"
    result = sh(
        INSTALL,
        "--dry-run",
        "--root",
        str(root),
        "--enable-i2c",
        "--gps-serial",
        "--gps-device",
        "/dev/ttyAMA0",
    )
    assert result.returncode == 0, result.stderr
    commands = commands_of(result.stdout)
    assert "raspi-config nonint do_i2c 0" in commands
    assert all(c in commands for c in SERIAL_OFF_UART_ON)
    gpsd = shell_assignments(root / GPSD_DEFAULTS)
    assert gpsd["DEVICES"] == "/dev/ttyAMA0" and gpsd["USBAUTO"] == "false"  # on the UART
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("reboot needed (sudo reboot): I2C") and "serial" in last


def test_a_kept_config_is_not_edited_but_the_gps_key_is_named(installed):
    root, _ = installed
    (root / CONFIG).write_text('storage_root = "/media/card"\n')
    result = sh(INSTALL, "--dry-run", "--root", str(root), "--gps-serial")
    assert result.returncode == 0, result.stderr
    assert (root / CONFIG).read_text() == 'storage_root = "/media/card"\n'
    assert 'set gps = "gpsd" in /etc/dashcam/dashcam.toml' in result.stdout

    (root / CONFIG).write_text('gps = "gpsd"\n')  # already set: nothing to say
    result = sh(INSTALL, "--dry-run", "--root", str(root), "--gps-serial")
    assert result.returncode == 0 and 'set gps = "gpsd"' not in result.stdout


@pytest.mark.parametrize(
    "device", ["ttyACM0", "/dev/tty ACM0", '/dev/ttyACM0"; rm -rf /', "/etc/passwd", ""]
)
def test_a_bad_gps_device_is_refused(tmp_path, device):
    result = sh(INSTALL, "--dry-run", "--root", str(tmp_path / "r"), "--gps-device", device)
    assert result.returncode == 2
    assert result.stderr.startswith("install.sh:")
    assert not (tmp_path / "r").exists()


def test_uninstall_says_what_it_leaves_of_the_interfaces_and_gpsd(tmp_path):
    root = tmp_path / "root"
    assert (
        sh(INSTALL, "--dry-run", "--root", str(root), "--enable-i2c", "--gps-serial").returncode
        == 0
    )
    result = sh(UNINSTALL, "--dry-run", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert (root / GPSD_DEFAULTS).exists()
    out = result.stdout
    assert "left as they are: I2C, the serial port and gpsd" in out
    for undo in ("do_i2c 1", "do_serial_cons 0", "apt purge gpsd"):
        assert undo in out
    assert not any("raspi-config" in c or "gpsd" in c for c in commands_of(out))
