"""``dashcam doctor``'s device checks: may the service open the camera's devices, the GPIO
chips and the G-sensor's I2C bus?

The doctor runs as whoever calls it, often a user in groups the service is not in (on
Raspberry Pi OS the first user is in ``i2c``; the service user was not). So nothing is
opened here: each device node's owner, group and mode bits are compared with the service's
identity as systemd sets it up, the unit's ``User=`` (its uid), ``Group=`` (or the user's
primary group), the user's groups in the group database and the unit's
``SupplementaryGroups=``. ACLs are not read (Raspberry Pi OS's udev rules set none on
these devices).
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.config import Config
from hw.doctor import FAIL, OK, SERVICE, SKIP, Check
from hw.gsensor import DRIVERS

#: Read and write: libcamera, picamera2's DMA heap, lgpio and smbus2 open with O_RDWR.
RW = 0o6


@dataclass(frozen=True)
class Accounts:
    """The user and group databases (the ``pwd`` and ``grp`` modules; fakes in tests)."""

    getpwnam: Callable[[str], Any] = pwd.getpwnam
    getpwuid: Callable[[int], Any] = pwd.getpwuid
    getgrnam: Callable[[str], Any] = grp.getgrnam
    getgrgid: Callable[[int], Any] = grp.getgrgid
    getgrall: Callable[[], list[Any]] = grp.getgrall

    def user_name(self, uid: int) -> str:
        """The user's name, or its number when the database has none."""
        try:
            return self.getpwuid(uid).pw_name
        except KeyError:
            return str(uid)

    def group_name(self, gid: int) -> str:
        """The group's name, or its number when the database has none."""
        try:
            return self.getgrgid(gid).gr_name
        except KeyError:
            return str(gid)


@dataclass(frozen=True)
class ServiceIdentity:
    """Who the service runs as.

    Attributes:
        user: The unit's ``User=`` (root when unset).
        uid: Its uid.
        gids: The primary group, the user's groups and the unit's supplementary groups.
        from_unit: The gids only ``SupplementaryGroups=`` gives.
        unknown_groups: Names in ``Group=`` or ``SupplementaryGroups=`` that are no group
            here (systemd refuses to start such a unit: status 216/GROUP).
    """

    user: str
    uid: int
    gids: frozenset[int]
    from_unit: frozenset[int]
    unknown_groups: tuple[str, ...] = ()


def service_identity(
    user: str, group: str, supplementary: Sequence[str], accounts: Accounts
) -> ServiceIdentity | None:
    """The service's uid and groups, as systemd gives them (None: no such user).

    Args:
        user: ``User=`` (empty: root).
        group: ``Group=`` (empty: the user's primary group).
        supplementary: ``SupplementaryGroups=``, names or numbers.
        accounts: The user and group databases.
    """
    user = user or "root"
    try:
        account = accounts.getpwnam(user)
    except KeyError:
        return None
    primary = account.pw_gid
    unknown = []
    if group:
        gid = _gid(group, accounts)
        if gid is None:
            unknown.append(group)
        else:
            primary = gid
    # systemd calls initgroups() for User=: the groups that list the user as a member.
    member_of = {g.gr_gid for g in accounts.getgrall() if user in g.gr_mem}
    from_unit = set()
    for name in supplementary:
        gid = _gid(name, accounts)
        if gid is None:
            unknown.append(name)
        else:
            from_unit.add(gid)
    gids = {primary} | member_of | from_unit
    return ServiceIdentity(
        user=user,
        uid=account.pw_uid,
        gids=frozenset(gids),
        from_unit=frozenset(from_unit - member_of - {primary}),
        unknown_groups=tuple(unknown),
    )


def _gid(name: str, accounts: Accounts) -> int | None:
    if name.isdigit():
        return int(name)
    try:
        return accounts.getgrnam(name).gr_gid
    except KeyError:
        return None


def grants(st: os.stat_result, who: ServiceIdentity) -> str | None:
    """How ``who`` may read and write a node with this owner and mode, or None if it may not.

    Linux takes the owner's bits if the uid matches, else the group's if a gid matches,
    else the others' (a matching owner with fewer bits is not helped by the group's).

    Returns:
        "root", "owner", "group" or "others".
    """
    if who.uid == 0:
        return "root"
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == who.uid:
        return "owner" if (mode >> 6) & RW == RW else None
    if st.st_gid in who.gids:
        return "group" if (mode >> 3) & RW == RW else None
    return "others" if mode & RW == RW else None


@dataclass(frozen=True)
class Node:
    """A device node and what it is for the service."""

    path: str
    st: os.stat_result
    grant: str | None


def nodes(patterns: Sequence[str], dev_dir: str, who: ServiceIdentity) -> list[Node]:
    """The nodes matching ``patterns`` under ``dev_dir`` (links followed, each node once)."""
    found: dict[tuple[int, int], Node] = {}
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(dev_dir, pattern))):
            try:
                st = os.stat(path)
            except OSError:
                continue  # a dangling link, or gone meanwhile
            key = (st.st_dev, st.st_ino)
            if key not in found:
                found[key] = Node(path, st, grants(st, who))
    return list(found.values())


def describe(node: Node, accounts: Accounts) -> str:
    """``/dev/i2c-1 (root:i2c 0660)``."""
    owner, group = accounts.user_name(node.st.st_uid), accounts.group_name(node.st.st_gid)
    return f"{node.path} ({owner}:{group} {stat.S_IMODE(node.st.st_mode):04o})"


#: The camera's nodes: libcamera opens the media controllers and video nodes (unicam or the
#: Pi 5's CFE, the ISP, the encoders) and the sensor's subdevice (picamera2 too, for the
#: IMX708's HDR); frame buffers come from a DMA heap (picamera2's dma_heap.py opens
#: /dev/dma_heap/vidbuf_cached or linux,cma, read-write).
CAMERA_NODES = ("media*", "video*", "v4l-subdev*", "dma_heap/*")
#: The GPIO character devices lgpio opens for the buttons and the LED.
GPIO_NODES = ("gpiochip*",)
RESTART = "sudo systemctl restart dashcam"


def _through(nodes_ok: Sequence[Node], who: ServiceIdentity, accounts: Accounts) -> str:
    ways = []
    for node in nodes_ok:
        if node.grant == "group":
            name = accounts.group_name(node.st.st_gid)
            unit = " (the unit's SupplementaryGroups=)" if node.st.st_gid in who.from_unit else ""
            way = f"group {name}{unit}"
        else:
            way = {"root": "as root", "owner": "as owner", "others": "its mode for all users"}[
                node.grant
            ]
        if way not in ways:
            ways.append(way)
    return ", ".join(ways)


def check_nodes(
    name: str,
    patterns: Sequence[str],
    who: ServiceIdentity,
    dev_dir: str,
    accounts: Accounts,
    missing: str,
) -> Check:
    """One class of devices: may the service read and write every node of it?"""
    found = nodes(patterns, dev_dir, who)
    if not found:
        return Check(name, SKIP, missing)
    denied = [node for node in found if node.grant is None]
    if not denied:
        if len(found) == 1:
            shown = f"{describe(found[0], accounts)}: {who.user} may open it"
        else:
            kinds = [p for p in patterns if glob.glob(os.path.join(dev_dir, p))]
            listed = ", ".join(os.path.join(dev_dir, p) for p in kinds)
            shown = f"{len(found)} devices ({listed}): {who.user} may open them"
        return Check(name, OK, f"{shown} through {_through(found, who, accounts)}")
    listing = ", ".join(describe(node, accounts) for node in denied[:4])
    if len(denied) > 4:
        listing += f" and {len(denied) - 4} more"
    found_text = f"the service user {who.user} cannot open {listing}"
    groups = sorted(
        {
            accounts.group_name(node.st.st_gid)
            for node in denied
            if (stat.S_IMODE(node.st.st_mode) >> 3) & RW == RW and node.st.st_uid != who.uid
        }
    )
    if groups:
        joined = ",".join(groups)
        fix = (
            f"add the service user to group {' and '.join(groups)}: sudo usermod -aG "
            f"{joined} {who.user}, then {RESTART} (or re-run sudo hw/deploy/install.sh, "
            "which does both)"
        )
    else:
        fix = (
            "their mode lets no group of the service user read and write them: a udev rule "
            "must give them to one, mode 0660 (Raspberry Pi OS: video for the camera, gpio "
            "for GPIO, i2c for I2C)"
        )
    return Check(name, FAIL, found_text, fix)


def device_access_checks(
    config: Config,
    *,
    camera: bool,
    pins: bool,
    unit: Callable[[], dict[str, str] | str],
    dev_dir: str,
    accounts: Accounts,
) -> list[Check]:
    """The device checks, as the service user (see the module's docstring).

    Args:
        config: The appliance's configuration (the G-sensor and its bus).
        camera: The camera is a real one (not simulated).
        pins: The pins are real ones (not mock pins).
        unit: Reads the unit's ``LoadState``, ``User``, ``Group`` and
            ``SupplementaryGroups`` (``systemctl show``), or says why it cannot.
        dev_dir: Where the device nodes are (``/dev``).
        accounts: The user and group databases.
    """
    i2c = config.gsensor in DRIVERS
    if not (camera or pins or i2c):
        return [Check("device access", SKIP, "simulated camera and pins, no G-sensor board")]
    props = unit()
    if isinstance(props, str):
        return [Check("device access", SKIP, props)]
    if props.get("LoadState") != "loaded":
        return [Check("device access", SKIP, f"{SERVICE} is not installed")]
    supplementary = props.get("SupplementaryGroups", "").split()
    who = service_identity(props.get("User", ""), props.get("Group", ""), supplementary, accounts)
    if who is None:
        user = props.get("User")
        return [
            Check(
                "device access",
                FAIL,
                f"the unit's user {user} does not exist",
                "sudo hw/deploy/install.sh (makes it)",
            )
        ]
    checks = []
    if who.unknown_groups:
        names = ", ".join(who.unknown_groups)
        checks.append(
            Check(
                "service groups",
                FAIL,
                f"the unit names {names}, which is no group here: systemd will not start the "
                "service (status 216/GROUP)",
                f"sudo groupadd --system {who.unknown_groups[0]} (or re-run sudo "
                "hw/deploy/install.sh, which makes the groups it names)",
            )
        )
    if camera:
        checks.append(
            check_nodes(
                "camera access",
                CAMERA_NODES,
                who,
                dev_dir,
                accounts,
                f"no {dev_dir}/video* or {dev_dir}/media*: see camera",
            )
        )
    else:
        checks.append(Check("camera access", SKIP, "simulated camera"))
    if pins:
        checks.append(
            check_nodes(
                "GPIO access", GPIO_NODES, who, dev_dir, accounts, f"no {dev_dir}/gpiochip*"
            )
        )
    else:
        checks.append(Check("GPIO access", SKIP, "mock pins"))
    if i2c:
        bus = f"i2c-{config.gsensor_i2c_bus}"
        checks.append(
            check_nodes(
                "I2C access",
                (bus,),
                who,
                dev_dir,
                accounts,
                f"no {dev_dir}/{bus}: I2C is off (see G-sensor)",
            )
        )
    else:
        checks.append(Check("I2C access", SKIP, "no G-sensor board (gsensor)"))
    return checks
