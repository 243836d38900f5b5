"""How config values are checked and shown in messages: the kinds of value a key declares
(a number in bounds, a flag, text, a choice, a command line) and the upload keys' own forms
(an rclone remote, kinds, networks, a rate, a folder name).

Each rule's :meth:`Rule.check` takes the key's name and its value, raises
:class:`ConfigError` naming the key, and returns the value as the config holds it; its
:meth:`Rule.schema` is the JSON Schema that documents the same rule (the OpenAPI
document). :mod:`appliance.config` declares one rule per key in its fields' metadata.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.errors import ConfigError


def shown(value: Any) -> str:
    """``value`` for an error message: huge numbers described, long text cut."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**21:
        digits = int(abs(value).bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text_error(value: Any) -> str | None:
    """Why ``value`` cannot be a string of the config file, or None."""
    if not isinstance(value, str) or not value:
        return "expected a non-empty string"
    if "\0" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (no lone surrogates)"
    return None


class Rule:
    """How one key's value is checked, and the JSON Schema that documents it."""

    def check(self, name: str, value: Any) -> Any:
        """``value`` as the config holds it.

        Raises:
            ConfigError: ``name: what is wrong, got <value>``.
        """
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the values :meth:`check` takes."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Number(Rule):
    """A number from ``lo`` to ``hi`` (inclusive); ``integer``: a whole one (never
    ``true``, never ``2.0``), else any finite one, kept as a float; ``even``: a multiple
    of two (video sizes)."""

    lo: int | float
    hi: int | float
    integer: bool = False
    even: bool = False

    @property
    def kind(self) -> str:
        """ "int" or "float"."""
        return "int" if self.integer else "float"

    def check(self, name: str, value: Any) -> int | float:
        ok_type = (
            isinstance(value, int) and not isinstance(value, bool)
            if self.integer
            else isinstance(value, int | float) and not isinstance(value, bool)
        )
        if not ok_type:
            expected = "an integer" if self.integer else "a number"
            raise ConfigError(f"{name}: expected {expected}, got {shown(value)}")
        lo, hi = self.lo, self.hi
        # NaN compares false with everything: test for it before the bounds.
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(
                f"{name}: must be from {lo} to {hi}, got {shown(value)} (not a finite number)"
            )
        if not lo <= value <= hi:
            raise ConfigError(f"{name}: must be from {lo} to {hi}, got {shown(value)}")
        if self.even and value % 2:
            raise ConfigError(f"{name}: must be even, got {shown(value)}")
        return value if self.integer else float(value)  # in bounds: the float exists

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "integer" if self.integer else "number",
            "minimum": self.lo,
            "maximum": self.hi,
        }
        if self.even:
            out["multipleOf"] = 2
        return out


@dataclass(frozen=True, slots=True)
class Flag(Rule):
    """``true`` or ``false``."""

    def check(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {shown(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True, slots=True)
class Text(Rule):
    """Non-empty text that a TOML file can hold (no NUL, no lone surrogate)."""

    def check(self, name: str, value: Any) -> str:
        if (why := text_error(value)) is not None:
            raise ConfigError(f"{name}: {why}, got {shown(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


@dataclass(frozen=True, slots=True)
class Argv(Rule):
    """A command line: a list of at least one non-empty text, kept as a tuple."""

    def check(self, name: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise ConfigError(f"{name}: expected a list of non-empty strings, got {shown(value)}")
        for arg in value:
            if (why := text_error(arg)) is not None:
                raise ConfigError(f"{name}: expected a list of non-empty strings: {why}")
        return tuple(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}


@dataclass(frozen=True, slots=True)
class Choice(Rule):
    """One of ``options``, of the same type (``1`` is not ``True``)."""

    options: tuple[Any, ...]

    def check(self, name: str, value: Any) -> Any:
        if not any(type(value) is type(c) and value == c for c in self.options):
            allowed = ", ".join(repr(c) for c in self.options)
            raise ConfigError(f"{name}: expected one of {allowed}, got {shown(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.options)}


@dataclass(frozen=True, slots=True)
class Custom(Rule):
    """A form of its own: ``test(name, value)`` raises :class:`ConfigError` or returns."""

    test: Callable[[str, Any], None]
    json_schema: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, value: Any) -> Any:
        self.test(name, value)
        return value

    def schema(self) -> dict[str, Any]:
        return dict(self.json_schema)


#: An rclone remote as ``rclone config`` names it, then its path: ``nas:dashcam/``. Only a
#: named remote (no ``:backend,option=...:`` string, which could carry secrets); the name
#: may not begin with "-" (it would read as an option).
_REMOTE = re.compile(r"[A-Za-z0-9_.+@][A-Za-z0-9_.+@ -]{0,63}:[^\x00-\x1f\x7f]{0,200}")
#: rclone's ``--bwlimit`` for one rate: a number, then an optional unit (none: KiB/s).
_BWLIMIT = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,3})?)([bkmgtBKMGT]?)")
_BW_UNITS = {"": 1024, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
#: The most ``upload_bandwidth`` may say: 10 GiB/s (more than any link the Pi has).
MAX_BANDWIDTH_BYTES_S = 10 * 1024**3
#: A device's folder on the remote: one safe path component.
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_UPLOAD_KINDS = ("protected", "photo", "loop")


def check_upload_remote(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string such as 'nas:dashcam/', got {shown(value)}")
    if value and (not _REMOTE.fullmatch(value) or value.rstrip() != value):
        raise ConfigError(
            f"{name}: expected an rclone remote made with 'rclone config' and a path, such "
            f"as 'nas:dashcam/' (name: letters, digits, _ . + @ - and spaces, not first "
            f"'-'; no control characters), or '' for no upload; got {shown(value)}"
        )


def check_upload_kinds(name: str, value: Any) -> None:
    allowed = ", ".join(repr(k) for k in _UPLOAD_KINDS)
    if (
        not isinstance(value, tuple)
        or not value
        or any(k not in _UPLOAD_KINDS for k in value)
        or len(set(value)) != len(value)
    ):
        raise ConfigError(
            f"{name}: expected a list of different kinds out of {allowed} (at least one), "
            f"got {shown(value)}"
        )


def check_upload_when(name: str, value: Any) -> None:
    if value == "any":
        return
    ok = isinstance(value, tuple) and value and all(text_error(s) is None for s in value)
    if not ok or any(len(s.encode("utf-8")) > 32 for s in value):
        raise ConfigError(
            f'{name}: expected "any" (any network) or a list of Wi-Fi names (SSIDs of 1 to '
            f'32 bytes), e.g. ["HomeWiFi"]; got {shown(value)}'
        )


def bandwidth_bytes_s(value: int | str) -> int:
    """``upload_bandwidth`` in bytes per second (0: no cap).

    An integer is bytes per second; a string is rclone's ``--bwlimit`` for one rate
    (``"512k"``, ``"2M"``, ``"1.5M"``; no unit: KiB/s, as rclone reads it) or ``"off"``.

    Raises:
        ConfigError: Not one of those, or over 10 GiB/s.
    """
    name = "upload_bandwidth"
    if isinstance(value, int) and not isinstance(value, bool):
        rate = value
    elif isinstance(value, str) and (value == "off" or (m := _BWLIMIT.fullmatch(value))):
        rate = 0 if value == "off" else int(float(m[1]) * _BW_UNITS[m[2].lower()])
    else:
        raise ConfigError(
            f"{name}: expected bytes per second (an integer, 0: no cap) or rclone's rate "
            f"such as '512k', '2M' or 'off' (one rate: no timetable, no up:down pair); "
            f"got {shown(value)}"
        )
    if not 0 <= rate <= MAX_BANDWIDTH_BYTES_S:
        raise ConfigError(f"{name}: must be from 0 to 10 GiB/s, got {shown(value)}")
    return rate


def check_upload_bandwidth(name: str, value: Any) -> None:
    bandwidth_bytes_s(value)


#: A broker's host name or address: no spaces, no scheme, no port (``mqtt_port`` has it).
_HOST = re.compile(r"[A-Za-z0-9._:%\[\]-]{1,253}")
#: Topic levels of one's own: no wildcard, no empty level, no leading "$" or "/".
_TOPIC_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,7}")


def check_mqtt_host(name: str, value: Any) -> None:
    # One ":" is a port given here; an IPv6 address has more.
    if not isinstance(value, str) or (
        value and (not _HOST.fullmatch(value) or value.count(":") == 1)
    ):
        raise ConfigError(
            f"{name}: expected the broker's host name or address, e.g. 'homeassistant.local' "
            f"or '192.168.1.10' (no scheme, no port: mqtt_port), or '' for no MQTT; "
            f"got {shown(value)}"
        )


def check_topic_prefix(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _TOPIC_PREFIX.fullmatch(value):
        raise ConfigError(
            f"{name}: expected MQTT topic levels of letters, digits, '_' and '-' joined by '/' "
            f"(no '+', '#', empty level or leading '/'), e.g. 'dashcam'; got {shown(value)}"
        )


def check_device_id(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _DEVICE_ID.fullmatch(value):
        raise ConfigError(
            f"{name}: expected one folder name of 1 to 63 letters, digits, '.', '_' or '-' "
            f"(not first '.', '_' or '-'), got {shown(value)}"
        )
