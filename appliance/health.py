"""The health watch: what the Pi's temperature, throttling flags and card writes mean.

A :class:`HealthSource` (``hw/health_sysfs.py`` on a Pi, a fake in tests) gives one
:class:`HealthReading` at a time. :class:`HealthWatch` reads it every
``health_interval_s`` on its own thread and:

- steps the thermal policy (:class:`ThermalPolicy`): *normal*, *warm* (above
  ``thermal_warm_c``: no preview, the bit rate lowered) and *hot* (above ``thermal_hot_c``:
  the frame rate capped too); going down each step waits until the temperature is
  :data:`HYSTERESIS_C` below its threshold. Recording never stops for heat alone: the
  controller only gets lower :class:`~appliance.video_rate.ThermalLimits`;
- adds the card's writes since boot to the total since install (:class:`CardWear`, a
  small file on the card: the kernel's counter starts again at every boot);
- keeps the last good segment's time and this boot's boot-to-record time;
- publishes all of it (:meth:`HealthWatch.status`), with one plain-words ``warning`` when
  the driver has something to do.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.card.files import read_small_file, write_atomic
from appliance.config import Config
from appliance.ports import Clock, FileSystem
from appliance.video_rate import NO_LIMITS, ThermalLimits
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: Degrees below a step's threshold the temperature must fall before the step is left.
HYSTERESIS_C = 3.0

#: The bit rate's factor while warm or hot.
WARM_BITRATE_FACTOR = 0.6

#: The lowest frame rate the hot step caps to (it caps to half the configured rate).
HOT_MIN_FPS = 10

#: Seconds between two saves of the card's write total (and at stop).
WEAR_SAVE_INTERVAL_S = 300.0

#: The file on the card (in DCIM) that keeps the write total across boots.
WEAR_FILE = "WEAR"

#: A card's wear, in percent of its rated writes, from which the driver is warned.
WEAR_WARN_PERCENT = 80.0

#: The meaning of the bits of the firmware's ``get_throttled`` (bit: (key, words)); the
#: same four conditions are repeated 16 bits up as "since boot".
THROTTLE_BITS = {
    0: ("under_voltage", "under-voltage"),
    1: ("freq_capped", "ARM frequency capped"),
    2: ("throttled", "throttled"),
    3: ("soft_temp_limit", "soft temperature limit"),
}
#: Where the "since boot" copies of :data:`THROTTLE_BITS` start.
SINCE_BOOT_SHIFT = 16


@dataclass(frozen=True, slots=True)
class HealthReading:
    """One reading of the hardware; None where the device does not show it.

    Attributes:
        cpu_temp_c: The SoC's temperature, °C.
        throttled: The firmware's throttling flags (see :data:`THROTTLE_BITS`).
        under_voltage_alarm: The voltage monitor's alarm (True: under-voltage now).
        card_written_bytes: Bytes written to the card since boot.
        boot_id: This boot's id (a new one at every boot).
        uptime_s: Seconds since the kernel started.
    """

    cpu_temp_c: float | None = None
    throttled: int | None = None
    under_voltage_alarm: bool | None = None
    card_written_bytes: int | None = None
    boot_id: str | None = None
    uptime_s: float | None = None


class HealthSource(Protocol):
    """Where readings come from (``hw.health_sysfs.SysfsHealth``)."""

    def read(self) -> HealthReading:
        """One reading; never raises for a missing file (None)."""
        ...

    def uptime_s(self) -> float | None:
        """Seconds since the kernel started; None if unknown."""
        ...


_FIELD_TYPES = {
    "cpu_temp_c": (int, float),
    "throttled": (int,),
    "under_voltage_alarm": (bool,),
    "card_written_bytes": (int,),
    "boot_id": (str,),
    "uptime_s": (int, float),
}


def checked(reading: HealthReading) -> HealthReading:
    """``reading`` with every field of the wrong type (or a number that is not finite or
    is negative where it cannot be) as None: what cannot be understood is unknown."""
    values = {}
    for name, types in _FIELD_TYPES.items():
        value = getattr(reading, name, None)
        ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
        if ok and isinstance(value, int | float) and not isinstance(value, bool):
            ok = math.isfinite(value) and (name == "cpu_temp_c" or value >= 0)
        values[name] = value if ok else None
    return HealthReading(**values)


class NoReadings:
    """A source that shows nothing (the simulation: the host's temperature and disk are
    not the Pi's and must not lower the simulated camera's rate)."""

    def read(self) -> HealthReading:
        return HealthReading()

    def uptime_s(self) -> float | None:
        return None


def throttle_flags(bits: int | None, since_boot: bool = False) -> dict[str, bool] | None:
    """The named flags of ``get_throttled`` (now, or since boot); None without them."""
    if bits is None:
        return None
    shift = SINCE_BOOT_SHIFT if since_boot else 0
    return {key: bool(bits >> (bit + shift) & 1) for bit, (key, _) in THROTTLE_BITS.items()}


def flags_words(flags: dict[str, bool] | None) -> str:
    """The flags set, in words ("under-voltage, throttled"), "none", or "unknown"."""
    if flags is None:
        return "unknown"
    words = [w for key, w in THROTTLE_BITS.values() if flags.get(key)]
    return ", ".join(words) or "none"


class ThermalStep(enum.StrEnum):
    """The thermal policy's steps, coolest first."""

    NORMAL = "normal"
    WARM = "warm"
    HOT = "hot"


class ThermalPolicy:
    """The thermal steps with their hysteresis.

    Args:
        warm_c: From this temperature: warm.
        hot_c: From this temperature: hot (above ``warm_c``).
        fps: The configured frame rate (hot caps it to half, at least :data:`HOT_MIN_FPS`).
        hysteresis_c: How far below a threshold a step is left.
    """

    def __init__(
        self, warm_c: float, hot_c: float, fps: int, hysteresis_c: float = HYSTERESIS_C
    ) -> None:
        if not warm_c < hot_c:
            raise ValueError(f"warm_c must be below hot_c, got {warm_c} and {hot_c}")
        self.warm_c = warm_c
        self.hot_c = hot_c
        self.fps = fps
        self.hysteresis_c = hysteresis_c
        self.step = ThermalStep.NORMAL

    def update(self, temp_c: float | None) -> ThermalStep:
        """The step for ``temp_c`` coming from the current one (None: unchanged)."""
        if temp_c is None:
            return self.step
        step = self.step
        if temp_c >= self.hot_c:
            step = ThermalStep.HOT
        elif temp_c >= self.warm_c:
            if step is not ThermalStep.HOT or temp_c < self.hot_c - self.hysteresis_c:
                step = ThermalStep.WARM
        elif step is ThermalStep.NORMAL or temp_c < self.warm_c - self.hysteresis_c:
            step = ThermalStep.NORMAL
        elif step is ThermalStep.HOT and temp_c < self.hot_c - self.hysteresis_c:
            step = ThermalStep.WARM
        self.step = step
        return step

    def limits(self, step: ThermalStep | None = None) -> ThermalLimits:
        """What ``step`` (default: the current one) allows the camera."""
        step = self.step if step is None else step
        if step is ThermalStep.NORMAL:
            return NO_LIMITS
        max_fps = None
        if step is ThermalStep.HOT:
            max_fps = min(self.fps, max(HOT_MIN_FPS, self.fps // 2))
        return ThermalLimits(WARM_BITRATE_FACTOR, max_fps, preview=False)


class CardWear:
    """The bytes written to the card since install, kept across boots in ``path``.

    The kernel's counter of the card's writes starts again at every boot: each reading
    adds what it grew by since the last one (all of it after a reboot, seen by a new boot
    id, or by the counter going back). The total is saved atomically and synced, at most
    every ``save_interval_s`` (and at :meth:`save`). The file also keeps this boot's
    boot-to-record time, so a restart of the service does not measure it again.

    Args:
        path: The file (on the card).
        fs: The file-system port the card's writes go through.
        clock: Monotonic clock for the save interval.
        save_interval_s: Least time between two saves.
    """

    def __init__(
        self,
        path: str,
        fs: FileSystem | None = None,
        clock: Clock | None = None,
        save_interval_s: float = WEAR_SAVE_INTERVAL_S,
    ) -> None:
        self.path = path
        self._fs = fs or FileSystem()
        self._clock = clock or Clock()
        self.save_interval_s = save_interval_s
        self.total_bytes: int | None = None  # None until the first counter is seen
        self.boot_id: str | None = None
        self.boot_to_record_s: float | None = None
        self._counter: int | None = None  # the kernel's counter at the last reading
        self._saved_at: float | None = None
        self._dirty = False
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(read_small_file(self.path))
            total, counter = int(data["written_bytes"]), int(data["counter_bytes"])
            if total < 0 or counter < 0:
                raise ValueError("negative byte counts")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("card wear file %s unreadable (%s): the count starts again", self.path, exc)
            return
        self.total_bytes, self._counter = total, counter
        self.boot_id = data.get("boot_id") if isinstance(data.get("boot_id"), str) else None
        b2r = data.get("boot_to_record_s")
        self.boot_to_record_s = float(b2r) if isinstance(b2r, int | float) else None

    def update(self, counter_bytes: int | None, boot_id: str | None) -> int | None:
        """Add the writes since the last reading; returns the total (None: never read)."""
        if counter_bytes is None:
            return self.total_bytes
        rebooted = self._rebooted(boot_id)
        if rebooted:
            self.boot_to_record_s = None
        delta = self._delta(counter_bytes, boot_id)
        self.total_bytes = (self.total_bytes or 0) + delta
        self._counter = counter_bytes
        if boot_id is not None:
            self.boot_id = boot_id
        self._dirty = self._dirty or delta > 0 or rebooted
        now = self._clock.monotonic()
        if self._dirty and (self._saved_at is None or now - self._saved_at >= self.save_interval_s):
            self.save()
        return self.total_bytes

    def _rebooted(self, boot_id: str | None) -> bool:
        return boot_id is not None and self.boot_id is not None and boot_id != self.boot_id

    def _delta(self, counter_bytes: int, boot_id: str | None) -> int:
        """What the counter grew by since the last reading: all of it on the first
        reading since install (this boot's writes so far) or after a reboot (the counter
        started again from 0)."""
        restarted = (
            self._rebooted(boot_id) or self._counter is None or counter_bytes < self._counter
        )
        if self.total_bytes is None or restarted:
            return counter_bytes
        return counter_bytes - self._counter

    def peek(self, counter_bytes: int | None, boot_id: str | None) -> int | None:
        """The total with ``counter_bytes`` counted, changing nothing (``dashcam doctor``
        beside the running service)."""
        if counter_bytes is None:
            return self.total_bytes
        return (self.total_bytes or 0) + self._delta(counter_bytes, boot_id)

    def note_boot_to_record(self, seconds: float) -> None:
        """This boot's first segment came ``seconds`` after the kernel started (saved next)."""
        self.boot_to_record_s = seconds
        self._dirty = True

    def save(self) -> None:
        """Write the total now if it changed (atomically, synced); a failing card is
        logged and the next reading tries again."""
        if not self._dirty or self.total_bytes is None:
            return
        data = {
            "written_bytes": self.total_bytes,
            "counter_bytes": self._counter or 0,
            "boot_id": self.boot_id,
            "boot_to_record_s": self.boot_to_record_s,
        }
        self._saved_at = self._clock.monotonic()
        try:
            write_atomic(self._fs, self.path, json.dumps(data).encode())
        except OSError as exc:
            log.warning("card wear not saved (%s); trying again later", exc)
            return
        self._dirty = False


def _temp_words(temp_c: float | None) -> str:
    return "unknown" if temp_c is None else f"{temp_c:.0f} °C"


class HealthWatch:
    """Reads the health every ``health_interval_s`` and applies what it means.

    Args:
        config: The configuration (thresholds, interval, endurance, frame rate).
        source: Where readings come from.
        wear_path: The card file keeping the write total (:class:`CardWear`); None: no
            total kept (the count starts at each start).
        fs: The file-system port for the wear file.
        clock: Wall and monotonic clocks.
    """

    def __init__(
        self,
        config: Config,
        source: HealthSource,
        wear_path: str | None,
        *,
        fs: FileSystem | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.clock = clock or Clock()
        self.policy = ThermalPolicy(config.thermal_warm_c, config.thermal_hot_c, config.video_fps)
        self._wear_path = wear_path
        self._fs = fs
        self.wear: CardWear | None = None
        self._reading: HealthReading | None = None
        self._under_voltage_seen = False
        self._last_clip_wall: float | None = None
        self._last_clip_mono: float | None = None
        self._boot_to_record_s: float | None = None
        self._waiting_first_segment = True
        self._on_limits: Callable[[ThermalLimits], None] | None = None
        self._on_change: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._worker: Worker | None = None
        self._failing = False  # the source failed at the last reading
        self._published: tuple | None = None  # what the last status change showed

    # --- life cycle -----------------------------------------------------------------

    def start(
        self, on_limits: Callable[[ThermalLimits], None], on_change: Callable[[], None]
    ) -> HealthWatch:
        """Read now (on the caller's thread: the boot is known before the first segment
        opens), then every ``health_interval_s`` on the ``health`` thread.

        Args:
            on_limits: Given the thermal limits at each step change (the controller's
                ``set_thermal_limits``); must not block.
            on_change: Called after a reading that changed what the driver sees (the
                controller publishes the status).
        """
        self._on_limits, self._on_change = on_limits, on_change
        if self._wear_path is not None:
            self.wear = CardWear(self._wear_path, self._fs, self.clock)
        self.read_once()  # the boot is known before the first segment opens
        self._worker = Worker(self._run, "health")
        self._worker.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread; the write total is saved."""
        if self._worker is not None:
            self._worker.stop(timeout_s)

    def follow_settings(self, config: Config) -> None:
        """The live settings changed: new thresholds apply from the next reading."""
        self.config = config
        self.policy.warm_c, self.policy.hot_c = config.thermal_warm_c, config.thermal_hot_c

    def _run(self) -> None:
        worker = self._worker
        assert worker is not None
        try:
            while not worker.stopping.wait(self.config.health_interval_s):
                self.read_once()
        finally:
            if self.wear is not None:
                self.wear.save()

    # --- readings -------------------------------------------------------------------

    def read_once(self) -> None:
        """One reading, applied; a failing source or callback is logged (once while it
        keeps failing), never raised. The status is republished when what the driver
        sees changed (the temperature to the degree, a flag, the step, the wear, the
        warning); the bytes written and the last clip's age follow at the next one."""
        try:
            reading = checked(self.source.read())
            self._apply(reading)
        except Exception as exc:  # noqa: BLE001 - a bad reading never stops the watch
            if not self._failing:
                log.error(
                    "health reading failed: %r (reported once until it works)", exc, exc_info=exc
                )
            self._failing = True
            return
        if self._failing:
            log.info("health readings work again")
            self._failing = False
        shown = self._shown()
        if self._on_change is not None and shown != self._published:
            self._published = shown
            try:
                self._on_change()
            except Exception:  # noqa: BLE001
                log.exception("health on_change failed")

    def _shown(self) -> tuple:
        """What the driver sees of the health (see :meth:`read_once`)."""
        data = self.status()
        temp = data["cpu_temp_c"]
        skip = ("cpu_temp_c", "card_written_bytes", "last_segment_wall", "last_segment_age_s")
        rest = tuple(sorted((k, repr(v)) for k, v in data.items() if k not in skip))
        return (None if temp is None else round(temp), rest)

    def _apply(self, reading: HealthReading) -> None:
        before = self.policy.step
        step = self.policy.update(reading.cpu_temp_c)
        if reading.under_voltage_alarm or (reading.throttled or 0) & 1:
            self._under_voltage_seen = True
        wear = self.wear
        if wear is not None:
            wear.update(reading.card_written_bytes, reading.boot_id)
            if wear.boot_to_record_s is not None and wear.boot_id == reading.boot_id:
                self._boot_to_record_s = wear.boot_to_record_s  # an earlier start this boot
        with self._lock:
            self._reading = reading
        if step is not before:
            limits = self.policy.limits(step)
            log.warning(
                "thermal step %s -> %s at %s (bit rate x%.2f, frame rate cap %s, preview %s)",
                before.value,
                step.value,
                _temp_words(reading.cpu_temp_c),
                limits.bitrate_factor,
                limits.max_fps or "none",
                "on" if limits.preview else "off",
            )
            if self._on_limits is not None:
                self._on_limits(limits)

    def clip_closed(self, wall_s: float) -> None:
        """A segment was closed whole at ``wall_s`` (the recorder's thread; quick)."""
        with self._lock:
            self._last_clip_wall = wall_s
            self._last_clip_mono = self.clock.monotonic()

    def on_status(self, status: Any) -> None:
        """A controller status (its subscriber): the first open segment of this process
        sets boot-to-record, unless an earlier start in this boot did."""
        if not self._waiting_first_segment or getattr(status, "segment_seq", None) is None:
            return
        self._waiting_first_segment = False
        try:
            uptime_s = self.source.uptime_s()
        except Exception:  # noqa: BLE001 - never worth the controller's thread
            log.exception("uptime unreadable")
            return
        if uptime_s is None:
            return
        with self._lock:
            wear = self.wear
            if wear is not None and wear.boot_to_record_s is not None:
                self._boot_to_record_s = wear.boot_to_record_s  # a restart: the boot's first
                return
            self._boot_to_record_s = uptime_s
            if wear is not None:
                wear.note_boot_to_record(uptime_s)
            log.info("boot to record: %.1f s", uptime_s)

    def status(self) -> dict[str, Any]:
        """The health part of the status (see the README's "Health")."""
        with self._lock:
            reading = self._reading or HealthReading()
            last_wall, last_mono = self._last_clip_wall, self._last_clip_mono
            boot_to_record = self._boot_to_record_s
        config = self.config
        wear = self.wear
        written = wear.total_bytes if wear is not None else None
        endurance = int(config.card_endurance_tb * 1e12) if config.card_endurance_tb else None
        wear_percent = None
        if written is not None and endurance:
            wear_percent = round(100.0 * written / endurance, 1)
        now = throttle_flags(reading.throttled)
        since = throttle_flags(reading.throttled, since_boot=True)
        under_now = None
        if now is not None or reading.under_voltage_alarm is not None:
            under_now = bool((now or {}).get("under_voltage") or reading.under_voltage_alarm)
        under_since = None
        if since is not None or under_now is not None:
            under_since = bool((since or {}).get("under_voltage") or self._under_voltage_seen)
        step = self.policy.step
        age = None
        if last_mono is not None:
            age = round(max(0.0, self.clock.monotonic() - last_mono), 1)
        data = {
            "cpu_temp_c": reading.cpu_temp_c,
            "thermal_step": step.value,
            "warm_c": config.thermal_warm_c,
            "hot_c": config.thermal_hot_c,
            "throttled_now": now,
            "throttled_since_boot": since,
            "under_voltage": under_now,
            "under_voltage_since_boot": under_since,
            "card_written_bytes": written,
            "card_endurance_bytes": endurance,
            "card_wear_percent": wear_percent,
            "last_segment_wall": last_wall,
            "last_segment_age_s": age,
            "boot_to_record_s": None if boot_to_record is None else round(boot_to_record, 1),
            "preview": step is ThermalStep.NORMAL,
        }
        data["warning"] = warning(data)
        return data


def warning(health: dict[str, Any]) -> str | None:
    """The one thing the driver should do now, in plain words (the most urgent), or None."""
    if health.get("under_voltage"):
        return "Under-voltage now: the power supply is too weak; check the cable and adapter"
    if health.get("thermal_step") == ThermalStep.HOT.value:
        return (
            f"The camera is hot ({_temp_words(health.get('cpu_temp_c'))}): frame rate lowered, "
            "recording goes on; shade it or let it cool"
        )
    wear = health.get("card_wear_percent")
    if wear is not None and wear >= WEAR_WARN_PERCENT:
        return f"Card: about {wear:.0f} % of its rated writes used; replace it soon"
    if health.get("under_voltage_since_boot"):
        return "Under-voltage since boot: check the power supply"
    return None
