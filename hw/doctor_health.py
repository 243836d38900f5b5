"""``dashcam doctor``'s Health section: the SoC's temperature against the thermal steps,
the firmware's throttling flags (now and since boot) and under-voltage in plain words,
and the card's writes since install against its rated endurance.

It reads what the health watch reads (:class:`hw.health_sysfs.SysfsHealth`) once, and
the card's write total from the watch's file without writing it (the service may be
running beside it).
"""

from __future__ import annotations

import os

from appliance.config import Config
from appliance.health import (
    WEAR_FILE,
    WEAR_WARN_PERCENT,
    CardWear,
    ThermalPolicy,
    ThermalStep,
    flags_words,
    throttle_flags,
)
from appliance.items import DCIM
from hw.doctor import OK, SKIP, WARN, Check
from hw.health_sysfs import SysfsHealth

HEAT_FIX = (
    "keep the camera out of direct sun when parked, give the case air (its vents free), "
    "and put a heatsink on the SoC; recording goes on, at a lower rate while hot"
)
POWER_FIX = (
    "use a supply that holds 5.1 V under load (a Pi 4: 3 A, a Pi 5: 5 A; a Zero 2 W: "
    "2.5 A) and a short, thick USB cable; many car sockets' adapters sag when the engine "
    "starts"
)
CARD_FIX = "copy what you keep and replace the card with a high-endurance one"


def _size(n_bytes: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} bytes"


def health_checks(config: Config, root: str = "/") -> list[Check]:
    """The Health section's checks, reading ``sys`` and ``proc`` under ``root``."""
    source = SysfsHealth(config.storage_root, root=root)
    reading = source.read()
    checks = [_temperature(config, reading.cpu_temp_c)]
    now = throttle_flags(reading.throttled)
    since = throttle_flags(reading.throttled, since_boot=True)
    if now is None:
        checks.append(Check("throttling", SKIP, "not shown here (no get_throttled: not a Pi)"))
    else:
        found = f"now: {flags_words(now)}; since boot: {flags_words(since)}"
        bad = any(now.values()) or any(since.values())
        checks.append(Check("throttling", WARN if bad else OK, found, HEAT_FIX if bad else ""))
    checks.append(_under_voltage(now, since, reading.under_voltage_alarm))
    checks.append(_card_wear(config, source, reading.card_written_bytes, reading.boot_id))
    return checks


def _temperature(config: Config, temp_c: float | None) -> Check:
    if temp_c is None:
        return Check("temperature", SKIP, "not shown here (no thermal_zone0)")
    policy = ThermalPolicy(config.thermal_warm_c, config.thermal_hot_c, config.video_fps)
    step = policy.update(temp_c)
    found = (
        f"{temp_c:.0f} °C, {step.value} (warm from {config.thermal_warm_c:g} °C: no preview, "
        f"lower bit rate; hot from {config.thermal_hot_c:g} °C: lower frame rate)"
    )
    if step is ThermalStep.NORMAL:
        return Check("temperature", OK, found)
    return Check("temperature", WARN, found, HEAT_FIX)


def _under_voltage(now, since, alarm: bool | None) -> Check:
    if now is None and alarm is None:
        return Check("under-voltage", SKIP, "not shown here (no get_throttled, no rpi_volt)")
    if (now or {}).get("under_voltage") or alarm:
        return Check("under-voltage", WARN, "now: the supply is too weak", POWER_FIX)
    if (since or {}).get("under_voltage"):
        return Check("under-voltage", WARN, "not now, but since boot", POWER_FIX)
    return Check("under-voltage", OK, "none since boot" if since is not None else "none now")


def _card_wear(config: Config, source: SysfsHealth, counter: int | None, boot_id) -> Check:
    device = source.block_device()
    wear = CardWear(os.path.join(config.storage_root, DCIM, WEAR_FILE))
    total = wear.peek(counter, boot_id)
    if total is None:
        return Check("card wear", SKIP, "no block counters for the storage's device")
    where = f" ({device})" if device else ""
    since = "since install" if wear.total_bytes is not None else "since boot (no count kept yet)"
    found = f"{_size(total)} written {since}{where}"
    endurance_bytes = config.card_endurance_tb * 1e12
    if not endurance_bytes:
        return Check("card wear", OK, f"{found}; rated endurance unknown (card_endurance_tb)")
    percent = 100.0 * total / endurance_bytes
    found += f": about {percent:.0f} % of its rated {config.card_endurance_tb:g} TB"
    if percent >= WEAR_WARN_PERCENT:
        return Check("card wear", WARN, found, CARD_FIX)
    return Check("card wear", OK, found)
