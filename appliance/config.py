"""The appliance's configuration: one frozen dataclass read from one TOML file.

Every key is validated; a wrong key or value raises :class:`ConfigError` whose message
names the key and says what is allowed. With no file at all the defaults apply.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError

#: Where ``dashcam`` looks for its config when no ``--config`` is given.
DEFAULT_CONFIG_PATHS = ("/etc/dashcam/dashcam.toml", "~/.config/dashcam/dashcam.toml")


def _default_storage_root() -> str:
    return os.path.expanduser("~/dashcam-data")


# Each field carries its check in its metadata: (kind, lower, upper) or a custom callable.
def _int(lo: int | None = None, hi: int | None = None, *, even: bool = False) -> dict:
    return {"check": ("int", lo, hi, even)}


def _float(lo: float | None = None, hi: float | None = None) -> dict:
    return {"check": ("float", lo, hi, False)}


_PIN = _int(0, 27)


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the appliance can be told. Units are in the names."""

    storage_root: str = field(default_factory=_default_storage_root, metadata={"check": "path"})
    segment_seconds: float = field(default=60.0, metadata=_float(1.0, 600.0))
    video_width: int = field(default=1920, metadata=_int(160, 4096, even=True))
    video_height: int = field(default=1080, metadata=_int(120, 2160, even=True))
    video_fps: int = field(default=30, metadata=_int(1, 120))
    video_bitrate: int = field(default=8_000_000, metadata=_int(100_000, 50_000_000))
    keyframe_interval_s: float = field(default=1.0, metadata=_float(0.1, 1.0))
    preview_width: int = field(default=640, metadata=_int(160, 1920, even=True))
    preview_height: int = field(default=360, metadata=_int(120, 1080, even=True))
    preview_fps: int = field(default=10, metadata=_int(1, 30))
    min_free_bytes: int = field(default=512 * 1024 * 1024, metadata=_int(0))
    min_free_percent: float = field(default=5.0, metadata=_float(0.0, 50.0))
    loop_quota_bytes: int | None = field(
        default=None, metadata={"check": ("int", 1, None, False), "optional": True}
    )
    protected_quota_percent: float = field(default=30.0, metadata=_float(0.0, 90.0))
    prune_interval_s: float = field(default=10.0, metadata=_float(0.5, 3600.0))
    record_pin: int = field(default=17, metadata=_PIN)
    photo_pin: int = field(default=27, metadata=_PIN)
    protect_pin: int = field(default=22, metadata=_PIN)
    led_pin: int = field(default=12, metadata=_PIN)
    hold_time_s: float = field(default=3.0, metadata=_float(0.5, 30.0))
    debounce_s: float = field(default=0.05, metadata=_float(0.0, 1.0))
    led_brightness: float = field(default=1.0, metadata=_float(0.05, 1.0))
    autostart: bool = field(default=True, metadata={"check": "bool"})
    web_host: str = field(default="0.0.0.0", metadata={"check": "str"})
    web_port: int = field(default=8080, metadata=_int(1, 65535))
    web_threads: int = field(default=8, metadata=_int(2, 64))
    web_password: str | None = field(default=None, metadata={"check": "str", "optional": True})
    preview_max_viewers: int = field(default=3, metadata=_int(1, 16))
    camera: str = field(
        default="auto", metadata={"check": ("choice", "auto", "picamera2", "sim", "replay")}
    )
    replay_path: str | None = field(default=None, metadata={"check": "path", "optional": True})
    camera_rotation: int = field(default=0, metadata={"check": ("choice", 0, 180)})
    camera_hflip: bool = field(default=False, metadata={"check": "bool"})
    camera_vflip: bool = field(default=False, metadata={"check": "bool"})
    camera_hdr: bool = field(default=False, metadata={"check": "bool"})
    power_loss_pin: int | None = field(default=None, metadata={**_PIN, "optional": True})
    power_loss_active_low: bool = field(default=True, metadata={"check": "bool"})
    power_loss_grace_s: float = field(default=5.0, metadata=_float(0.0, 120.0))
    power_off_command: tuple[str, ...] = field(
        default=("systemctl", "poweroff"), metadata={"check": "argv"}
    )

    def __post_init__(self) -> None:
        if isinstance(self.power_off_command, list):  # from TOML: keep the config hashable
            object.__setattr__(self, "power_off_command", tuple(self.power_off_command))
        for f in fields(self):
            _check(f, getattr(self, f.name))
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
        if self.camera == "replay" and not self.replay_path:
            raise ConfigError("replay_path: required when camera = 'replay'")

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied and validated (unknown keys named)."""
        _reject_unknown(changes)
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in fields(Config)}


def _reject_unknown(keys: Any) -> None:
    unknown = sorted(set(keys) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"unknown config key {unknown[0]!r}; allowed keys: {', '.join(sorted(_FIELDS))}"
        )


def _check(f: dataclasses.Field, value: Any) -> None:
    name = f.name
    check = f.metadata.get("check")
    if value is None and f.metadata.get("optional"):
        return
    if check == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
    elif check == "argv":
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(a, str) and a and "\0" not in a for a in value)
        ):
            raise ConfigError(f"{name}: expected a list of non-empty strings, got {value!r}")
    elif check in ("str", "path"):
        if not isinstance(value, str) or not value or "\0" in value:
            raise ConfigError(f"{name}: expected a non-empty string, got {value!r}")
    elif isinstance(check, tuple) and check[0] == "choice":
        if value not in check[1:]:
            allowed = ", ".join(repr(c) for c in check[1:])
            raise ConfigError(f"{name}: expected one of {allowed}, got {value!r}")
    elif isinstance(check, tuple):
        kind, lo, hi, even = check
        ok_type = (
            isinstance(value, int) and not isinstance(value, bool)
            if kind == "int"
            else isinstance(value, int | float) and not isinstance(value, bool)
        )
        if not ok_type:
            expected = "an integer" if kind == "int" else "a number"
            raise ConfigError(f"{name}: expected {expected}, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
            raise ConfigError(f"{name}: must be {bounds}, got {value!r}")
        if even and value % 2:
            raise ConfigError(f"{name}: must be even, got {value!r}")


def from_mapping(data: dict[str, Any], *, source: str = "config") -> Config:
    """Build a :class:`Config` from a flat mapping (a parsed TOML file, web settings)."""
    try:
        _reject_unknown(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    values = dict(data)
    for key in (
        "segment_seconds",
        "keyframe_interval_s",
        "min_free_percent",
        "led_brightness",
        "protected_quota_percent",
        "prune_interval_s",
        "hold_time_s",
        "debounce_s",
        "power_loss_grace_s",
    ):
        if isinstance(values.get(key), int) and not isinstance(values.get(key), bool):
            values[key] = float(values[key])
    try:
        return Config(**values)
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
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    nested = sorted(k for k, v in data.items() if isinstance(v, dict))
    if nested:
        raise ConfigError(f"{p}: unknown config key {nested[0]!r} (the file has no sections)")
    return from_mapping(data, source=str(p)), p


def dump(config: Config) -> str:
    """The config as TOML text, only the keys that differ from the defaults."""
    default = Config()
    lines = []
    for f in fields(config):
        value = getattr(config, f.name)
        if value == getattr(default, f.name) or value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = _toml_str(value)
        elif isinstance(value, tuple):
            text = "[" + ", ".join(_toml_str(v) for v in value) + "]"
        else:
            text = repr(value)
        lines.append(f"{f.name} = {text}")
    return "\n".join(lines) + ("\n" if lines else "")


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def save(config: Config, path: str | os.PathLike) -> None:
    """Write ``config`` to ``path`` atomically (temp file, fsync, rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(dump(config))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)
