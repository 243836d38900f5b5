"""How config values are checked and shown in messages: text, and the upload keys'
own forms (an rclone remote, kinds, networks, a rate, a folder name).

Each ``check_*`` takes the key's name and its value and raises :class:`ConfigError` naming
the key; :mod:`appliance.config` puts them in its fields' metadata.
"""

from __future__ import annotations

import math
import re
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


def check_device_id(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _DEVICE_ID.fullmatch(value):
        raise ConfigError(
            f"{name}: expected one folder name of 1 to 63 letters, digits, '.', '_' or '-' "
            f"(not first '.', '_' or '-'), got {shown(value)}"
        )
