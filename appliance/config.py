"""The appliance's configuration: one frozen dataclass read from one TOML file.

Every key is declared once, as a field of :class:`Config` with its rule
(:mod:`appliance.config_rules`); every value, from the file or the settings API, is
checked by that rule through :func:`check_value`, and the OpenAPI document shows the JSON
Schema derived from it (:func:`json_schema`). A wrong key or value raises
:class:`ConfigError` whose message names the key and says what is allowed. Every number
must be finite and within its bounds; byte sizes are also checked against the card
(:func:`check_against_card`). With no file at all the defaults apply. Saving updates only
the changed keys of the user's file, keeping its comments and layout (tomlkit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import tempfile
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from appliance.config_rules import (
    Argv,
    Choice,
    Custom,
    Flag,
    Number,
    Rule,
    Text,
    check_device_id,
    check_mqtt_host,
    check_topic_prefix,
    check_upload_bandwidth,
    check_upload_kinds,
    check_upload_remote,
    check_upload_when,
)
from appliance.config_rules import shown as _shown
from appliance.errors import ConfigError
from appliance.pruning import reserve_bytes as _reserve  # the one formula of the reserve
from appliance.wiring import BUTTON_WIRES, LED_WIRE, Button

#: Where ``dashcam`` looks for its config when no ``--config`` is given.
DEFAULT_CONFIG_PATHS = ("/etc/dashcam/dashcam.toml", "~/.config/dashcam/dashcam.toml")


#: The largest byte size a key takes: 128 TiB, the most an SD card (SDUC) can address.
#: The card's own size is the tighter bound (:func:`check_against_card`).
MAX_BYTES = 128 * 1024**4


def _default_storage_root() -> str:
    return os.path.expanduser("~/dashcam-data")


# The declaration of every key is its field: its default, and in its metadata its rule
# ("rule": how its value is checked and documented, appliance.config_rules), whether None
# is allowed ("optional") and whether the dashboard may change it ("settable"). The TOML
# file, the settings API and the OpenAPI document all read it (check_value, json_schema).
def _int(lo: int, hi: int, *, even: bool = False) -> dict:
    return {"rule": Number(lo, hi, integer=True, even=even)}


def _float(lo: float, hi: float) -> dict:
    return {"rule": Number(lo, hi)}


def _rule(rule: Rule) -> dict:
    return {"rule": rule}


_FLAG = _rule(Flag())
_TEXT = _rule(Text())


_PIN = _int(0, 27)
_TOPIC = Custom(check_topic_prefix, {"type": "string", "minLength": 1})

# Keys the dashboard may change: applied at once by the running appliance, or at the next
# start. The settings API, the controller and the OpenAPI document all read this.
LIVE = {"settable": "live"}
RESTART = {"settable": "restart"}


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the appliance can be told. Units are in the names."""

    storage_root: str = field(default_factory=_default_storage_root, metadata=_TEXT)
    segment_seconds: float = field(default=60.0, metadata={**_float(1.0, 600.0), **LIVE})
    video_width: int = field(default=1920, metadata={**_int(160, 4096, even=True), **RESTART})
    video_height: int = field(default=1080, metadata={**_int(120, 2160, even=True), **RESTART})
    video_fps: int = field(default=30, metadata={**_int(1, 120), **RESTART})
    video_bitrate: int = field(default=8_000_000, metadata={**_int(100_000, 50_000_000), **RESTART})
    keyframe_interval_s: float = field(default=1.0, metadata=_float(0.1, 1.0))
    preview_width: int = field(default=640, metadata=_int(160, 1920, even=True))
    preview_height: int = field(default=360, metadata=_int(120, 1080, even=True))
    preview_fps: int = field(default=10, metadata={**_int(1, 30), **RESTART})
    min_free_bytes: int = field(default=512 * 1024 * 1024, metadata={**_int(0, MAX_BYTES), **LIVE})
    min_free_percent: float = field(default=5.0, metadata={**_float(0.0, 50.0), **LIVE})
    loop_quota_bytes: int | None = field(
        default=None, metadata={**_int(1, MAX_BYTES), "optional": True, **LIVE}
    )
    protected_quota_percent: float = field(default=30.0, metadata={**_float(0.0, 90.0), **LIVE})
    prune_interval_s: float = field(default=10.0, metadata=_float(0.5, 3600.0))
    record_pin: int = field(default=BUTTON_WIRES[Button.RECORD].bcm, metadata=_PIN)
    photo_pin: int = field(default=BUTTON_WIRES[Button.PHOTO].bcm, metadata=_PIN)
    protect_pin: int = field(default=BUTTON_WIRES[Button.PROTECT].bcm, metadata=_PIN)
    led_pin: int = field(default=LED_WIRE.bcm, metadata=_PIN)
    hold_time_s: float = field(default=3.0, metadata=_float(0.5, 30.0))
    debounce_s: float = field(default=0.05, metadata=_float(0.0, 1.0))
    led_brightness: float = field(default=1.0, metadata={**_float(0.05, 1.0), **LIVE})
    autostart: bool = field(default=True, metadata={**_FLAG, **LIVE})
    web_host: str = field(default="0.0.0.0", metadata=_TEXT)
    web_port: int = field(default=8080, metadata=_int(1, 65535))
    web_threads: int = field(default=8, metadata=_int(2, 64))
    web_password: str | None = field(default=None, metadata={**_TEXT, "optional": True})
    dav_allow_delete: bool = field(default=False, metadata=_FLAG)
    preview_max_viewers: int = field(default=3, metadata={**_int(1, 16), **LIVE})
    camera: str = field(
        default="auto", metadata=_rule(Choice(("auto", "picamera2", "sim", "replay")))
    )
    replay_path: str | None = field(default=None, metadata={**_TEXT, "optional": True})
    camera_rotation: int = field(default=0, metadata=_rule(Choice((0, 180))))
    camera_hflip: bool = field(default=False, metadata=_FLAG)
    camera_vflip: bool = field(default=False, metadata=_FLAG)
    camera_hdr: bool = field(default=False, metadata=_FLAG)
    power_loss_pin: int | None = field(default=None, metadata={**_PIN, "optional": True})
    power_loss_active_low: bool = field(default=True, metadata=_FLAG)
    power_loss_grace_s: float = field(default=5.0, metadata=_float(0.0, 120.0))
    overlay: bool = field(default=True, metadata=_FLAG)
    overlay_format: str = field(default="%Y-%m-%d %H:%M:%S", metadata=_TEXT)
    overlay_position: str = field(
        default="bottom-left",
        metadata=_rule(Choice(("bottom-left", "bottom-right", "top-left", "top-right"))),
    )
    time_zone: str | None = field(default=None, metadata={**_TEXT, "optional": True})
    gps: str = field(default="none", metadata=_rule(Choice(("none", "gpsd"))))
    gps_host: str = field(default="127.0.0.1", metadata=_TEXT)
    gps_port: int = field(default=2947, metadata=_int(1, 65535))
    speed_unit: str = field(default="km/h", metadata=_rule(Choice(("km/h", "mph"))))
    gsensor: str = field(
        default="auto",
        metadata=_rule(Choice(("auto", "none", "sim", "mpu6050", "lis3dh", "adxl345"))),
    )
    gsensor_i2c_bus: int = field(default=1, metadata=_int(0, 31))
    gsensor_address: int | None = field(default=None, metadata={**_int(3, 119), "optional": True})
    gsensor_threshold_g: float = field(default=1.5, metadata=_float(0.5, 16.0))
    # Home Assistant over MQTT (read at start: hw/mqtt.py); mqtt_host "" is off.
    mqtt_host: str = field(
        default="", metadata=_rule(Custom(check_mqtt_host, {"type": "string", "maxLength": 253}))
    )
    mqtt_port: int = field(default=1883, metadata=_int(1, 65535))
    mqtt_username: str | None = field(default=None, metadata={**_TEXT, "optional": True})
    mqtt_password: str | None = field(default=None, metadata={**_TEXT, "optional": True})
    mqtt_topic_prefix: str = field(default="dashcam", metadata=_rule(_TOPIC))
    mqtt_discovery_prefix: str = field(default="homeassistant", metadata=_rule(_TOPIC))
    power_off_command: tuple[str, ...] = field(
        default=("systemctl", "poweroff"), metadata=_rule(Argv())
    )
    # Upload at home (read at start: the dashboard shows them, the file sets them).
    upload_remote: str = field(default="", metadata=_rule(Custom(check_upload_remote)))
    upload_kinds: tuple[str, ...] = field(
        default=("protected", "photo"), metadata=_rule(Custom(check_upload_kinds))
    )
    upload_when: str | tuple[str, ...] = field(
        default="any", metadata=_rule(Custom(check_upload_when))
    )
    upload_bandwidth: str | int = field(default=0, metadata=_rule(Custom(check_upload_bandwidth)))
    device_id: str | None = field(
        default=None, metadata={**_rule(Custom(check_device_id)), "optional": True}
    )
    rclone_config: str | None = field(default=None, metadata={**_TEXT, "optional": True})
    # The device's Ed25519 key that signs each clip's link (appliance/chain.py).
    signing_key: str | None = field(default=None, metadata={**_TEXT, "optional": True})
    # Parking mode (appliance/parking*.py, hw/ignition.py, hw/battery.py).
    parking: bool = field(default=False, metadata={**_FLAG, **LIVE})
    parking_trigger: str = field(
        default="ignition", metadata=_rule(Choice(("ignition", "power_loss")))
    )
    ignition_pin: int | None = field(default=None, metadata={**_PIN, "optional": True})
    ignition_active_low: bool = field(default=True, metadata=_FLAG)
    ignition_off_delay_s: float = field(default=10.0, metadata=_float(0.0, 600.0))
    parking_fps: int = field(default=5, metadata={**_int(1, 30), **LIVE})
    parking_bitrate: int = field(default=1_000_000, metadata={**_int(100_000, 50_000_000), **LIVE})
    parking_preroll_s: float = field(default=10.0, metadata={**_float(1.0, 60.0), **LIVE})
    parking_postroll_s: float = field(default=20.0, metadata={**_float(1.0, 300.0), **LIVE})
    parking_motion: bool = field(default=True, metadata={**_FLAG, **LIVE})
    parking_motion_sensitivity: float = field(default=0.5, metadata={**_float(0.0, 1.0), **LIVE})
    parking_mask_bottom_percent: float = field(default=0.0, metadata={**_float(0.0, 90.0), **LIVE})
    parking_gsensor_threshold_g: float = field(default=0.4, metadata=_float(0.1, 16.0))
    parking_max_hours: float = field(default=24.0, metadata={**_float(0.05, 720.0), **LIVE})
    battery_monitor: str = field(default="none", metadata=_rule(Choice(("none", "ina219"))))
    battery_i2c_bus: int = field(default=1, metadata=_int(0, 31))
    battery_address: int = field(default=0x40, metadata=_int(3, 119))
    battery_cutoff_v: float = field(default=11.8, metadata={**_float(3.0, 30.0), **LIVE})
    # Health watch (appliance/health.py, hw/health_sysfs.py).
    health_interval_s: float = field(default=5.0, metadata=_float(0.5, 300.0))
    # warm < hot (checked below): each bound leaves room for the other.
    thermal_warm_c: float = field(default=75.0, metadata={**_float(40.0, 105.0), **LIVE})
    thermal_hot_c: float = field(default=80.0, metadata={**_float(45.0, 110.0), **LIVE})
    card_endurance_tb: float = field(default=0.0, metadata={**_float(0.0, 100000.0), **LIVE})

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, check_value(f.name, getattr(self, f.name)))
        if (
            self.led_pin in (self.record_pin, self.photo_pin, self.protect_pin)
            or len({self.record_pin, self.photo_pin, self.protect_pin}) != 3
        ):
            raise ConfigError(
                "record_pin, photo_pin, protect_pin and led_pin must be four different BCM pins"
            )
        if self.web_threads < self.preview_max_viewers + 3:
            raise ConfigError(
                "web_threads: must be at least preview_max_viewers + 3 (room for the API "
                f"and the live status), got {self.web_threads} with preview_max_viewers = "
                f"{self.preview_max_viewers}"
            )
        if self.power_loss_pin is not None and self.power_loss_pin in (
            self.record_pin,
            self.photo_pin,
            self.protect_pin,
            self.led_pin,
        ):
            raise ConfigError("power_loss_pin: must differ from the button and LED pins")
        _check_parking_inputs(self)
        _check_clock_text(self.overlay_format, self.time_zone)
        if self.camera == "replay" and not self.replay_path:
            raise ConfigError("replay_path: required when camera = 'replay'")
        if not self.thermal_warm_c < self.thermal_hot_c:
            raise ConfigError(
                f"thermal_warm_c ({self.thermal_warm_c}) must be below thermal_hot_c "
                f"({self.thermal_hot_c}): the bit rate is lowered before the frame rate"
            )
        if self.mqtt_password is not None and self.mqtt_username is None:
            raise ConfigError("mqtt_password: needs mqtt_username (the broker's user)")

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied and validated (unknown keys named)."""
        _reject_unknown(changes)
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in fields(Config)}

#: The INA219's addresses (A0 and A1 each to GND, VS+, SDA or SCL).
INA219_ADDRESSES = range(0x40, 0x50)


def _check_parking_inputs(config: Config) -> None:
    """What says the car is parked, and the battery monitor, fit the other keys."""
    c = config
    if c.ignition_pin is not None:
        others = {c.record_pin, c.photo_pin, c.protect_pin, c.led_pin, c.power_loss_pin}
        if c.ignition_pin in others:
            raise ConfigError(
                f"ignition_pin: must differ from the button, LED and power-loss pins, got "
                f"{c.ignition_pin}"
            )
    if c.parking_trigger == "power_loss" and c.power_loss_pin is None:
        raise ConfigError(
            'parking_trigger: "power_loss" needs power_loss_pin (the UPS HAT\'s power-loss '
            'line); set it, or use "ignition" with ignition_pin'
        )
    if c.battery_monitor == "ina219":
        if c.battery_address not in INA219_ADDRESSES:
            raise ConfigError(
                f"battery_address: an INA219 answers at 0x40 to 0x4f (64 to 79), got "
                f"0x{c.battery_address:02x}"
            )
        if c.gsensor_address == c.battery_address and c.gsensor_i2c_bus == c.battery_i2c_bus:
            raise ConfigError(
                "battery_address: the G-sensor has the same address on the same I2C bus"
            )


def _reject_unknown(keys: Any) -> None:
    """Name the first unknown key and the known keys closest to it (the list of every key
    is too long for a message: the README's table has them all)."""
    unknown = sorted(set(keys) - set(_FIELDS))
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), list(_FIELDS), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else " (the README lists every key)"
        raise ConfigError(f"unknown config key {_shown(key)}{hint}")


def bounds() -> dict[str, tuple[str, int | float, int | float]]:
    """Every numeric key with its kind ("int" or "float") and inclusive bounds."""
    return {
        name: (rule.kind, rule.lo, rule.hi)
        for name, f in _FIELDS.items()
        if isinstance(rule := f.metadata["rule"], Number)
    }


def settable() -> dict[str, bool]:
    """The keys the dashboard may change, each with True if it applies without a restart."""
    return {
        name: f.metadata["settable"] == "live"
        for name, f in _FIELDS.items()
        if "settable" in f.metadata
    }


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of key ``name``'s value, from the rule that checks it.

    It documents the value (the OpenAPI document); the value itself is checked by
    :func:`check_value` only.

    Raises:
        KeyError: ``name`` is not a config key.
    """
    f = _FIELDS[name]
    schema = f.metadata["rule"].schema()
    if f.metadata.get("optional"):
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def check_value(name: str, value: Any) -> Any:
    """``value`` as key ``name`` holds it, checked by the key's declared rule.

    The one check of a value, wherever it comes from: the TOML file, the settings API, a
    part of the appliance (the LED's brightness). A list becomes a tuple (the config is
    hashable), a whole number given for a float key a float.

    Raises:
        ConfigError: ``name: what is wrong, got <value>``, or ``name`` is no config key.
    """
    f = _FIELDS.get(name)
    if f is None:
        _reject_unknown([name])
    if isinstance(value, list):
        value = tuple(value)
    if value is None and f.metadata.get("optional"):
        return None
    return f.metadata["rule"].check(name, value)


def _check_clock_text(overlay_format: str, time_zone: str | None) -> None:
    """Refuse an overlay format strftime cannot use, or a time zone that does not exist."""
    import datetime as dt

    if len(overlay_format) > 64:
        raise ConfigError(f"overlay_format: at most 64 characters, got {_shown(overlay_format)}")
    try:
        dt.datetime(2026, 1, 2, 3, 4, 5).strftime(overlay_format)
    except (ValueError, UnicodeError) as exc:
        raise ConfigError(f"overlay_format: not a strftime format: {exc}") from None
    if time_zone is not None:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"time_zone: unknown zone {_shown(time_zone)} (e.g. 'Europe/Berlin'): {exc}"
            ) from None


def reserve_bytes(config: Config, total_bytes: int) -> int:
    """The bytes the pruner keeps free on a card of ``total_bytes`` under ``config``."""
    return _reserve(total_bytes, config.min_free_bytes, config.min_free_percent)


def reserve_key(config: Config, total_bytes: int) -> str:
    """The key that sets the reserve on a card of ``total_bytes``."""
    by_percent = reserve_bytes(config.replace(min_free_bytes=0), total_bytes)
    return "min_free_bytes" if config.min_free_bytes >= by_percent else "min_free_percent"


def check_against_card(config: Config, total_bytes: int) -> None:
    """Refuse byte sizes that do not fit the card of ``total_bytes``.

    The reserve the pruner keeps free, ``max(min_free_bytes, min_free_percent of the
    card)``, may be at most half the card, so that at least half is left to record on;
    ``loop_quota_bytes`` may be at most the card's size.

    Raises:
        ConfigError: naming the key that does not fit.
    """
    half = total_bytes // 2
    if reserve_bytes(config, total_bytes) > half:
        if reserve_key(config, total_bytes) == "min_free_bytes":
            raise ConfigError(
                f"min_free_bytes: must be at most half the card ({half} of {total_bytes} "
                f"bytes), got {_shown(config.min_free_bytes)}"
            )
        raise ConfigError(  # only if the percentage's bound ever passes 50
            f"min_free_percent: the reserve must be at most half the card, "
            f"got {config.min_free_percent}"
        )
    if config.loop_quota_bytes is not None and config.loop_quota_bytes > total_bytes:
        raise ConfigError(
            f"loop_quota_bytes: must be at most the card's size ({total_bytes} bytes), "
            f"got {_shown(config.loop_quota_bytes)}"
        )


def fit_to_card(config: Config, total_bytes: int) -> tuple[Config, list[str]]:
    """``config`` with the byte sizes that do not fit a card of ``total_bytes`` lowered.

    Start-up uses this instead of refusing: a card smaller than the config was written for
    (another card, a USB stick) still records, with the reserve at half the card and the
    loop quota at the card's size. The settings API refuses such values instead
    (:func:`check_against_card`).

    Returns:
        The config that fits, and one message per key lowered (empty if all fit).
    """
    try:
        check_against_card(config, total_bytes)
    except ConfigError:
        pass
    else:
        return config, []
    changes: dict[str, int] = {}
    if config.min_free_bytes > total_bytes // 2:
        changes["min_free_bytes"] = total_bytes // 2
    if config.loop_quota_bytes is not None and config.loop_quota_bytes > total_bytes:
        changes["loop_quota_bytes"] = max(1, total_bytes)
    messages = [
        f"{key}: {_shown(getattr(config, key))} does not fit this card of {total_bytes} bytes; "
        f"using {value}"
        for key, value in changes.items()
    ]
    fitted = config.replace(**changes)
    check_against_card(fitted, total_bytes)
    return fitted, messages


def from_mapping(data: dict[str, Any], *, source: str = "config") -> Config:
    """Build a :class:`Config` from a flat mapping (a parsed TOML file, web settings)."""
    try:
        _reject_unknown(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        return Config(**data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load(path: str | os.PathLike | None = None) -> tuple[Config, Path | None]:
    """Read the config from ``path``, or the first default location that exists.

    Returns:
        The config and the file it came from (``None`` when the defaults apply).

    Raises:
        ConfigError: the file is missing (when named), not valid TOML, or holds a wrong
            key or value. The message names the file and the key.
    """
    if path is None:
        for candidate in DEFAULT_CONFIG_PATHS:
            p = Path(candidate).expanduser()
            if p.is_file():
                path = p
                break
        else:
            return Config(), None
    p = Path(path).expanduser()
    text = _read(p)
    return from_mapping(_parse(text, p), source=str(p)), p


def _read(p: Path) -> str:
    try:
        # Line ends as they are; a byte order mark (Windows editors) is dropped.
        with open(p, encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None


def _parse(text: str, p: Path | str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    nested = sorted(k for k, v in data.items() if isinstance(v, dict))
    if nested:
        raise ConfigError(f"{p}: unknown config key {_shown(nested[0])} (the file has no sections)")
    return data


def dump(config: Config) -> str:
    """The config as TOML text, only the keys that differ from the defaults."""
    return render(config)


def render(config: Config, text: str = "", *, source: str = "config") -> str:
    """``text`` (a config file's) changed so that it holds ``config``.

    Only keys whose value differs from what ``text`` says are written: a changed key is
    rewritten in place (its comment kept), a new key is added at the end, a key set back
    to none is removed. Comments, order and layout stay; a key the file writes stays
    written, even when it equals the default.

    Raises:
        ConfigError: ``text`` is not a valid config file (named by ``source``).
    """
    import tomlkit  # only saving needs it: kept off the start-up path (import_to_record_s)
    import tomlkit.exceptions

    current = from_mapping(_parse(text, source), source=source)
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:  # tomllib took it: should not happen
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    for f in fields(config):
        value = getattr(config, f.name)
        if value == getattr(current, f.name):
            continue
        if value is None:
            doc.remove(f.name)
        else:
            doc[f.name] = list(value) if isinstance(value, tuple) else value
    out = tomlkit.dumps(doc)
    if out and not out.endswith("\n"):
        out += "\n"
    again = from_mapping(_parse(out, source), source=source)
    if again != config:  # a safety net: what is written must read back the same
        wrong = next(
            f.name for f in fields(config) if getattr(again, f.name) != getattr(config, f.name)
        )
        raise ConfigError(f"{wrong}: cannot be written to the config file as given")
    return out


class StagedSave:
    """A config file written beside its target and synced, not yet in place.

    :meth:`commit` renames it over the target (atomic); :meth:`discard` removes it. The
    settings API stages first, applies, then commits, so a failed apply writes nothing.
    """

    def __init__(self, target: Path, tmp: Path) -> None:
        self.target = target
        self.tmp = tmp

    def commit(self) -> None:
        """Put the staged file in place and sync its folder.

        Raises:
            OSError: the rename failed; the target is unchanged and the staged file gone.
        """
        try:
            os.replace(self.tmp, self.target)
        except OSError:
            self.discard()
            raise
        try:
            fd = os.open(self.target.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return  # the rename is done; only its durability is unconfirmed
        try:
            os.fsync(fd)
        except OSError:
            pass  # some file systems (FAT on /boot) cannot sync a folder
        finally:
            os.close(fd)

    def discard(self) -> None:
        """Remove the staged file (the target stays as it was)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def stage(config: Config, path: str | os.PathLike) -> StagedSave:
    """Write ``config`` into a synced temp file beside ``path`` (see :func:`render`).

    A symlinked ``path`` is written through (its target is replaced, the link stays); the
    file's mode is kept (a new file gets 0600: it may hold the password).

    Raises:
        ConfigError: the file at ``path`` is not a valid config file.
        OSError: the temp file could not be written; nothing changed.
    """
    target = Path(os.path.realpath(Path(path).expanduser()))
    text = _read(target) if target.exists() else ""
    out = render(config, text, source=str(target))
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o600
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(out)
            fh.flush()
            with contextlib.suppress(OSError):  # file systems without modes (FAT)
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return StagedSave(target, tmp)


def save(config: Config, path: str | os.PathLike) -> None:
    """Write ``config`` to ``path`` atomically (temp file, fsync, rename).

    Only the keys that change are rewritten; the file's comments and layout stay (see
    :func:`render`).
    """
    stage(config, path).commit()
