"""``dashcam doctor``: checks the camera, pins, storage, clock, service, the devices the
service may open (in :mod:`hw.doctor_access`) and the sensors (in :mod:`hw.doctor_sensors`);
says what to fix. Every probe of the system is injected (camera listing, picamera2's
features, memory information, pin factory, mount table, disk usage, clock, the command
runner, the device nodes and the user and group databases), so the checks run the same on
a Pi and in tests."""

from __future__ import annotations

import calendar
import contextlib
import os
import pwd
import shlex
import stat
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.config import Config
from appliance.ports import Clock, DiskUsageFn, real_disk_usage
from appliance.wiring import Button

OK, WARN, FAIL, SKIP = "ok", "WARN", "FAIL", "skip"

#: Wall-clock times before this are not plausible (2024-01-01 UTC).
EARLIEST_PLAUSIBLE_S = 1_704_067_200

SERVICE = "dashcam.service"
FAKE_HWCLOCK_DATA = "/etc/fake-hwclock.data"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, the verdict, what was found, the fix."""

    name: str
    status: str
    found: str
    fix: str = ""


def probe_cameras() -> list[dict[str, Any]]:
    """The cameras libcamera sees, through picamera2 (raises ImportError without it)."""
    from picamera2 import Picamera2

    return Picamera2.global_camera_info()


def probe_sensor_modes() -> list[dict[str, Any]]:
    """The first camera's sensor modes (``Picamera2.sensor_modes``); it opens the camera,
    so it fails while the service records."""
    from picamera2 import Picamera2

    picam = Picamera2(0)
    try:
        return list(picam.sensor_modes)
    finally:
        picam.close()


def probe_picamera2_features() -> Any:
    """The installed picamera2's features (``Picamera2Features``; see hw/camera/picamera2)."""
    from hw.camera.picamera2 import picamera2_features

    return picamera2_features()


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


#: Bytes of the V4L2 buffers of one hardware encoder: 16 x 512 KB (picamera2 #972).
ENCODER_CMA_BYTES = 16 * 512 * 1024
#: Share of the CMA the camera may take; the rest is for the ISP, the display, the kernel.
CMA_CAMERA_SHARE = 0.8
#: The CMA current Raspberry Pi OS gives a Zero 2 W or a Pi 3 (more on a Pi 4 or 5): the
#: vc4-kms-v3d overlay in its config.txt includes cma-overlay.dts, whose default is 256 MB
#: (raspberrypi/linux arch/arm/boot/dts/overlays; cma-64 to cma-256 select less or more,
#: above 256 needs 1 GB of RAM). picamera2 #46 (a Zero 2: "the CMA area defaults to
#: 256MB") and #1358 (a Zero 2 W, 2026: CmaTotal 262144 kB). 64 MB was older set-ups'.
CMA_DEFAULT_BYTES = 256 * 2**20


def cma_needed_bytes(config: Config) -> tuple[int, str]:
    """About how much CMA the Picamera2 backend takes at the configured sizes.

    Each buffer set holds a raw frame (taken as 10-bit packed at the main size: a sensor
    mode is at least that large), the main YUV420 frame and the lores YUV420 frame; the
    H.264 and the preview's MJPEG encoder hold 16 x 512 KB each.

    Returns:
        The bytes, and how they add up.
    """
    from hw.camera.picamera2 import BUFFER_COUNT_HD, BUFFER_COUNT_SD

    w, h = config.video_width, config.video_height
    buffers = BUFFER_COUNT_HD if w * h >= 1280 * 720 else BUFFER_COUNT_SD
    main = w * h * 3 // 2
    lores = config.preview_width * config.preview_height * 3 // 2
    raw = w * h * 5 // 4
    total = buffers * (raw + main + lores) + 2 * ENCODER_CMA_BYTES
    how = (
        f"{buffers} x (raw {raw / 2**20:.1f} + main {main / 2**20:.1f} + lores "
        f"{lores / 2**20:.1f} MiB) + 2 encoders x {_mib(ENCODER_CMA_BYTES)}"
    )
    return total, how


def read_meminfo(path: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per key (its ``kB`` values times 1024)."""
    found = {}
    for line in Path(path).read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            found[key.strip()] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return found


def _unit_environment(text: str) -> dict[str, str]:
    """``systemctl show -p Environment``'s value as a mapping (values may be quoted)."""
    try:
        items = shlex.split(text)
    except ValueError:
        items = text.split()
    return dict(item.split("=", 1) for item in items if "=" in item)


def _writable_by(path: str, user: str) -> bool | None:
    """Whether ``user`` may create files in ``path`` (None: unknown user, or no stat)."""
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return None
    try:
        st = os.stat(path)
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return False  # not even root
    except OSError:
        return None
    if account.pw_uid == 0:
        return True
    if st.st_uid == account.pw_uid:
        return bool(st.st_mode & stat.S_IWUSR)
    if st.st_gid == account.pw_gid:
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)


class Doctor:
    """Runs the checks for one configuration.

    Args:
        config: The appliance's configuration.
        simulated: Checking a simulated set-up (camera and pins simulated).
        camera_probe: Lists the attached cameras (``Picamera2.global_camera_info``).
        sensor_modes_probe: The first camera's sensor modes (``Picamera2.sensor_modes``).
        picamera2_features: The installed picamera2's features (``Picamera2Features``).
        meminfo_path: The memory information (``/proc/meminfo`` format).
        pin_factory: The gpiozero pin factory to claim the pins with.
        disk_usage: Total and free bytes of the storage.
        mounts_path: The mount table (``/proc/self/mounts`` format).
        clock: Wall clock.
        fake_hwclock_path: Where fake-hwclock keeps the time saved at shutdown.
        run: Runs ``systemctl`` (``subprocess.run``'s interface).
        dev_dir: Where the device nodes are (``/dev``).
        accounts: The user and group databases the device checks read
            (``hw.doctor_access.Accounts``; the ``pwd`` and ``grp`` modules by default).
        sysfs_root: Where the health checks find ``sys`` and ``proc`` (``/``).
    """

    def __init__(
        self,
        config: Config,
        *,
        simulated: bool = False,
        camera_probe: Callable[[], list[dict[str, Any]]] = probe_cameras,
        sensor_modes_probe: Callable[[], list[dict[str, Any]]] = probe_sensor_modes,
        picamera2_features: Callable[[], Any] = probe_picamera2_features,
        meminfo_path: str = "/proc/meminfo",
        pin_factory: Any = None,
        disk_usage: DiskUsageFn = real_disk_usage,
        mounts_path: str = "/proc/self/mounts",
        clock: Clock | None = None,
        fake_hwclock_path: str = FAKE_HWCLOCK_DATA,
        run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
        dev_dir: str = "/dev",
        accounts: Any = None,
        sysfs_root: str = "/",
    ) -> None:
        self.config = config
        self.simulated = simulated
        self._camera_probe = camera_probe
        self._sensor_modes_probe = sensor_modes_probe
        self._picamera2_features = picamera2_features
        self._meminfo_path = meminfo_path
        self._pin_factory = pin_factory
        self._disk_usage = disk_usage
        self._mounts_path = mounts_path
        self._clock = clock or Clock()
        self._fake_hwclock_path = fake_hwclock_path
        self._run = run
        self._dev_dir = dev_dir
        self._accounts = accounts
        self._sysfs_root = sysfs_root

    def run(self) -> list[Check]:
        """All checks, in report order."""
        from hw.doctor_sensors import sensor_checks  # they import the sensors' drivers

        return [
            self.check_camera(),
            self.check_picamera2(),
            self.check_cma(),
            self.check_pins(),
            *self.check_storage(),
            self.check_clock(),
            self.check_service(),
            self.check_service_directory(),
            *self.check_device_access(),
            *sensor_checks(self.config, self.simulated),
            *self.check_health(),
        ]

    def _camera_simulated(self) -> bool:
        kind = self.config.camera
        return kind in ("sim", "replay") or (kind == "auto" and self.simulated)

    # -- camera -----------------------------------------------------------------------

    def check_camera(self) -> Check:
        kind = self.config.camera
        if self._camera_simulated():
            return Check("camera", SKIP, f"{'simulated' if kind != 'replay' else 'replay'} camera")
        try:
            cameras = self._camera_probe()
        except ImportError:
            return Check(
                "camera",
                FAIL,
                "picamera2 is not installed (or the venv cannot see it)",
                "sudo apt install python3-picamera2; the venv needs --system-site-packages "
                "(hw/deploy/install.sh makes it so)",
            )
        except Exception as exc:  # noqa: BLE001 - libcamera's errors are the finding
            return Check("camera", FAIL, f"libcamera failed: {exc}", "reboot; then check the cable")
        if not cameras:
            return Check(
                "camera",
                FAIL,
                "no camera detected",
                "power off, reseat the ribbon cable (contacts towards the board on the Pi, "
                "the lock closed), then check with: rpicam-hello --list-cameras",
            )
        first = cameras[0]
        model = first.get("Model", "unknown")
        note = " (Camera Module 3: autofocus, HDR)" if str(model).startswith("imx708") else ""
        return Check("camera", OK, f"{model}{note}, {len(cameras)} camera(s); {self._mode()}")

    def _mode(self) -> str:
        """The sensor mode the video would be read from (hw/camera/picamera2_modes.py)."""
        from hw.camera.picamera2_modes import choose_sensor_mode

        cfg = self.config
        try:
            modes = self._sensor_modes_probe()
        except Exception as exc:  # noqa: BLE001 - busy while the service records
            return f"sensor mode not read ({exc}; the camera is busy while dashcam records)"
        size = (cfg.video_width, cfg.video_height)
        choice = choose_sensor_mode(modes, size, cfg.video_fps)
        return f"{size[0]}x{size[1]} at {cfg.video_fps} fps from sensor mode {choice}"

    def check_picamera2(self) -> Check:
        """The release and what it offers: a keyframe on request, a bounded still wait."""
        if self._camera_simulated():
            return Check("picamera2", SKIP, "simulated camera")
        try:
            features = self._picamera2_features()
        except Exception as exc:  # noqa: BLE001 - a broken install is the finding
            return Check("picamera2", WARN, f"its features cannot be read: {exc}")
        if not features.available:
            return Check("picamera2", SKIP, f"not importable ({features.error}): see camera")
        version = features.version or "version unknown"
        missing = []
        late = (
            "a recording starts at the next periodic keyframe, up to "
            f"{self.config.keyframe_interval_s:g} s late"
        )
        fix = "sudo apt update && sudo apt full-upgrade (python3-picamera2 0.3.32 or newer)"
        if not features.force_key_frame:
            missing.append(f"no H264Encoder.force_key_frame (0.3.32): {late}")
        elif not features.keyframe_on_request:
            missing.append(
                f"{features.encoder or 'the encoder'}'s forced keyframe is refused by this "
                f"PyAV (14 or later): {late}"
            )
            fix = "nothing to do: recording is unaffected, only its start waits for a keyframe"
        if not features.wait_timeout:
            missing.append("no Picamera2.wait(timeout=) (0.3.17): the still wait is bounded here")
        if missing:
            return Check("picamera2", WARN, f"{version}: " + "; ".join(missing), fix)
        return Check(
            "picamera2", OK, f"{version}: force_key_frame (keyframe on request), wait(timeout=)"
        )

    def check_cma(self) -> Check:
        """The contiguous memory (CMA) the camera's buffers come from, against their size."""
        if self._camera_simulated():
            return Check("CMA", SKIP, "simulated camera")
        cfg = self.config
        try:
            info = read_meminfo(self._meminfo_path)
        except OSError as exc:
            return Check("CMA", WARN, f"{self._meminfo_path} not readable: {exc.strerror}")
        total, free = info.get("CmaTotal"), info.get("CmaFree")
        if not total:
            return Check(
                "CMA",
                WARN,
                "the kernel reports no CMA (CmaTotal): the camera cannot allocate its buffers",
                "on a Pi, /boot/firmware/config.txt needs dtoverlay=vc4-kms-v3d (the default)",
            )
        needed, how = cma_needed_bytes(cfg)
        found = (
            f"CmaTotal {_mib(total)}, CmaFree {_mib(free or 0)}; "
            f"{cfg.video_width}x{cfg.video_height} needs about {_mib(needed)} ({how})"
        )
        if needed > total * CMA_CAMERA_SHARE:
            fix = "lower video_width and video_height"
            if total < CMA_DEFAULT_BYTES:
                fix = (
                    "raise the CMA to 256 MB, current Raspberry Pi OS's default on a Zero 2 W "
                    "or a Pi 3 (dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt gives it, "
                    "or set dtoverlay=vc4-kms-v3d,cma-256 there), then reboot; or " + fix
                )
            return Check("CMA", WARN, f"{found}: more than {CMA_CAMERA_SHARE:.0%} of it", fix)
        if total < CMA_DEFAULT_BYTES:
            found += (
                f"; less than the {_mib(CMA_DEFAULT_BYTES)} current Raspberry Pi OS gives by "
                "default (dtoverlay=vc4-kms-v3d): an older set-up?"
            )
        return Check("CMA", OK, found)

    # -- pins -------------------------------------------------------------------------

    def check_pins(self) -> Check:
        from gpiozero import PWMLED, DigitalInputDevice
        from gpiozero import Button as GpioButton

        cfg = self.config
        pins = {button.value: getattr(cfg, f"{button}_pin") for button in Button}
        listing = ", ".join(f"{k} {v}" for k, v in pins.items()) + f", LED {cfg.led_pin}"
        if cfg.power_loss_pin is not None:
            listing += f", power loss {cfg.power_loss_pin}"
        if cfg.ignition_pin is not None:
            listing += f", ignition {cfg.ignition_pin}"
        devices = []
        try:
            factory = self._pin_factory
            if factory is None:
                from hw.pins import make_pin_factory

                factory = make_pin_factory(self.simulated)
            for pin in pins.values():
                devices.append(GpioButton(pin, pull_up=True, pin_factory=factory))
            devices.append(PWMLED(cfg.led_pin, pin_factory=factory))
            if cfg.power_loss_pin is not None:
                devices.append(
                    DigitalInputDevice(
                        cfg.power_loss_pin, pull_up=cfg.power_loss_active_low, pin_factory=factory
                    )
                )
            if cfg.ignition_pin is not None:
                devices.append(
                    DigitalInputDevice(
                        cfg.ignition_pin, pull_up=cfg.ignition_active_low, pin_factory=factory
                    )
                )
        except Exception as exc:  # noqa: BLE001 - gpiozero/lgpio errors are the finding
            text = str(exc) or type(exc).__name__
            if "busy" in text.lower():
                return Check(
                    "pins",
                    WARN,
                    f"BCM {listing}: in use ({text})",
                    "normal while the service runs; stop it to check the pins: "
                    "sudo systemctl stop dashcam",
                )
            return Check(
                "pins",
                FAIL,
                f"BCM {listing}: {text}",
                "sudo apt install python3-lgpio; the service user must be in the gpio group",
            )
        finally:
            for device in devices:
                device.close()
        from hw.pins import describe_pin_factory  # the chip too: a Pi 5's moved (hw/pins.py)

        kind = describe_pin_factory(factory)
        return Check("pins", OK, f"BCM {listing} ({kind}, buttons with pull-ups)")

    # -- storage ----------------------------------------------------------------------

    def _mount_of(self, path: str) -> tuple[str, str, str, list[str]] | None:
        """(device, mount point, file system, options) of the mount holding ``path``."""
        try:
            lines = Path(self._mounts_path).read_text().splitlines()
        except OSError:
            return None
        real = os.path.realpath(path)
        best = None
        for line in lines:
            parts = line.split()
            if len(parts) < 4:
                continue
            device, mount_point, fstype, options = parts[:4]
            mount_point = mount_point.replace("\\040", " ")
            inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
            if inside and (best is None or len(mount_point) >= len(best[1])):
                best = (device, mount_point, fstype, options.split(","))
        return best

    def check_storage(self) -> list[Check]:
        cfg = self.config
        root = cfg.storage_root
        if not os.path.isdir(root):
            return [
                Check(
                    "storage",
                    FAIL,
                    f"{root} does not exist",
                    "mount the card there, or set storage_root in /etc/dashcam/dashcam.toml",
                )
            ]
        checks = []
        mount = self._mount_of(root)
        read_only = False
        if mount is None:
            checks.append(Check("file system", WARN, "mount table not readable"))
        else:
            device, mount_point, fstype, options = mount
            where = f"{fstype} on {device}, mounted at {mount_point}"
            if "ro" in options:
                read_only = True
                checks.append(
                    Check(
                        "file system",
                        FAIL,
                        f"{where}: read-only",
                        "the kernel remounts a failing card read-only: back it up, run fsck "
                        "(or replace the card), then reboot",
                    )
                )
            elif fstype in ("tmpfs", "ramfs", "overlay"):
                checks.append(
                    Check(
                        "file system",
                        WARN,
                        f"{where}: recordings vanish at power-off",
                        "put storage_root on a real partition (outside the read-only overlay)",
                    )
                )
            else:
                checks.append(Check("file system", OK, where))
        if not read_only:
            probe = Path(root) / ".dashcam-doctor-probe"
            try:
                with open(probe, "wb") as fh:
                    fh.write(b"probe")
                    fh.flush()
                    os.fsync(fh.fileno())
                probe.unlink()
            except OSError as exc:
                checks.append(
                    Check(
                        "writable",
                        FAIL,
                        f"cannot write to {root}: {exc.strerror or exc}",
                        "check the card and the owner of storage_root (the service user)",
                    )
                )
            else:
                checks.append(Check("writable", OK, f"{root} (write, fsync, delete)"))
        checks.append(self._check_free(root))
        return checks

    def _check_free(self, root: str) -> Check:
        cfg = self.config
        usage = self._disk_usage(root)
        reserve = max(cfg.min_free_bytes, int(usage.total * cfg.min_free_percent / 100))
        segment = int(cfg.video_bitrate / 8 * cfg.segment_seconds * 1.5)
        found = f"{_gib(usage.free)} free of {_gib(usage.total)} (reserve {_gib(reserve)})"
        minutes = usage.total * 8 / cfg.video_bitrate / 60
        if usage.free < reserve + segment:
            return Check(
                "free space",
                FAIL,
                f"card nearly full: {found}",
                "the loop deletes its oldest clips by itself; if it cannot, protected clips "
                "and photos fill the card: delete some from the dashboard or use a larger card",
            )
        if usage.free < 2 * (reserve + segment):
            return Check("free space", WARN, f"{found}: little room", "delete protected clips")
        return Check("free space", OK, f"{found}, ~{minutes:.0f} min of video")

    # -- clock ------------------------------------------------------------------------

    def check_clock(self) -> Check:
        now_s = self._clock.wall()
        shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now_s))
        if now_s < EARLIEST_PLAUSIBLE_S:
            return Check(
                "clock",
                FAIL,
                f"{shown}: not a plausible date",
                "set it from the phone (the dashboard offers it), or give the Pi internet "
                "(NTP); sudo apt install fake-hwclock keeps it moving forward between boots",
            )
        saved = self._fake_hwclock_saved_s()
        if saved is None:
            if self.simulated:
                return Check("clock", OK, shown)
            return Check(
                "clock",
                WARN,
                f"{shown}; fake-hwclock has saved no time",
                "sudo apt install fake-hwclock (hw/deploy/install.sh does)",
            )
        if now_s + 60 < saved:
            return Check(
                "clock",
                FAIL,
                f"{shown} is behind the time saved at the last shutdown "
                f"({time.strftime('%Y-%m-%d %H:%M', time.gmtime(saved))} UTC)",
                "set it from the phone (the dashboard offers it)",
            )
        return Check("clock", OK, f"{shown} (fake-hwclock keeps it moving forward)")

    def _fake_hwclock_saved_s(self) -> float | None:
        try:
            text = Path(self._fake_hwclock_path).read_text().strip()
            return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S")))
        except (OSError, ValueError):
            return None

    # -- service ----------------------------------------------------------------------

    def check_service(self) -> Check:
        def systemctl(*args: str) -> str:
            result = self._run(
                ["systemctl", *args, SERVICE], capture_output=True, text=True, timeout=10
            )
            errors = (result.stderr or "").strip().splitlines()
            last_error = errors[-1] if errors else ""
            return (result.stdout or "").strip() or last_error or f"exit {result.returncode}"

        try:
            enabled = systemctl("is-enabled")
            active = systemctl("is-active")
        except (OSError, subprocess.SubprocessError) as exc:
            return Check("service", SKIP, f"systemctl not available ({exc})")
        if enabled != "enabled":
            known = ("disabled", "masked", "static", "indirect", "linked", "generated")
            state = enabled if enabled in known else f"not installed ({enabled})"
            return Check(
                "service",
                WARN,
                f"{SERVICE} is {state}: it will not start at boot",
                "sudo hw/deploy/install.sh",
            )
        if active != "active":
            return Check(
                "service",
                FAIL,
                f"{SERVICE} is enabled but {active}",
                "journalctl -u dashcam -b  (shows why it stopped)",
            )
        return Check("service", OK, f"{SERVICE} enabled and active (watchdog on)")

    def _unit_properties(self, *names: str) -> dict[str, str] | str:
        """The unit's properties (``systemctl show -p``), or why they cannot be read."""
        command = ["systemctl", "show", SERVICE]
        for name in ("LoadState", *names):
            command += ["-p", name]
        try:
            result = self._run(command, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"systemctl not available ({exc})"
        props = {}
        for line in (result.stdout or "").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                props[key] = value
        if not props:
            errors = (result.stderr or "").strip().splitlines()
            return f"systemctl show failed: {errors[-1] if errors else '?'}"
        return props

    def check_service_directory(self) -> Check:
        """The unit's working directory and LG_WD: lgpio makes its pipe there at import."""
        name = "service dir"
        props = self._unit_properties("User", "WorkingDirectory", "Environment")
        if isinstance(props, str):
            return Check(name, SKIP, props)
        if props.get("LoadState") != "loaded":
            return Check(name, SKIP, f"{SERVICE} is not installed")
        user = props.get("User") or "root"
        raw_workdir = props.get("WorkingDirectory", "")
        workdir = raw_workdir.lstrip("!-")  # "!" (systemctl's "-"): may be missing
        if workdir == "~":
            with contextlib.suppress(KeyError):
                workdir = pwd.getpwnam(user).pw_dir
        lg_wd = _unit_environment(props.get("Environment", "")).get("LG_WD", "")
        shown = f"WorkingDirectory={workdir or '(none: /)'}, LG_WD={lg_wd or '(unset)'}"
        fix = "sudo hw/deploy/install.sh (sets both to a directory the service user owns)"
        if workdir and not os.path.isdir(workdir) and raw_workdir == workdir:
            return Check(
                name,
                FAIL,
                f"{shown}: WorkingDirectory {workdir} does not exist; systemd cannot start "
                "the service (status 200/CHDIR)",
                fix,
            )
        pipe_dir = lg_wd or workdir or "/"
        writable = _writable_by(pipe_dir, user) if os.path.isdir(pipe_dir) else False
        if writable is False:
            why = "does not exist" if not os.path.isdir(pipe_dir) else f"{user} cannot write to"
            return Check(
                name,
                WARN,
                f"{shown}: lgpio makes its pipe in {pipe_dir}, which {why}; the appliance "
                "falls back to a private temporary directory",
                fix,
            )
        if writable is None:
            return Check(
                name, WARN, f"{shown}: cannot tell whether the service user {user} may write", fix
            )
        return Check(name, OK, f"{shown} (writable by {user})")

    # -- devices the service may open ---------------------------------------------------

    def check_device_access(self) -> list[Check]:
        """The camera's devices, the GPIO chips and the G-sensor's I2C bus, as the service
        user (its uid and groups, the unit's SupplementaryGroups=), not as the caller."""
        from hw.doctor_access import Accounts, device_access_checks

        return device_access_checks(
            self.config,
            camera=not self._camera_simulated(),
            pins=not self.simulated,
            unit=lambda: self._unit_properties("User", "Group", "SupplementaryGroups"),
            dev_dir=self._dev_dir,
            accounts=self._accounts or Accounts(),
        )

    # -- health -----------------------------------------------------------------------

    def check_health(self) -> list[Check]:
        """The Health section: temperature, throttling, under-voltage, card writes."""
        from hw.doctor_health import health_checks

        return health_checks(self.config, self._sysfs_root)


def format_report(checks: Sequence[Check]) -> str:
    """The checks as a table, then the fixes, numbered."""
    width = max(len(c.name) for c in checks)
    lines = [f"{'CHECK':<{width}}  {'RESULT':<6}  FOUND", f"{'-' * width}  ------  -----"]
    lines += [f"{c.name:<{width}}  {c.status:<6}  {c.found}" for c in checks]
    fixes = [c for c in checks if c.fix and c.status in (FAIL, WARN)]
    if fixes:
        lines += ["", "To fix:"]
        lines += [f"  {i}. {c.name}: {c.fix}" for i, c in enumerate(fixes, 1)]
    else:
        lines += ["", "Nothing to fix."]
    return "\n".join(lines) + "\n"


def exit_code(checks: Sequence[Check]) -> int:
    """1 if any check failed, else 0."""
    return 1 if any(c.status == FAIL for c in checks) else 0
