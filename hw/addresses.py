"""The addresses to open the dashboard at, as the terminal shows them at start.

A dashboard bound to every address (``0.0.0.0``, ``::``, ``*``) is shown as each IPv4
address of the machine's interfaces (the LAN's first, loopback last) plus its mDNS name
``<hostname>.local``; one bound to a single address as that address only. The machine's
interfaces are read without new dependencies (:func:`machine_ipv4`): the source address of
the default route, the host name's addresses and ``ip -o -4 addr`` where ``ip`` exists.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable

#: Addresses that mean "every address of this machine".
WILDCARDS = frozenset({"0.0.0.0", "::", "*", ""})
#: A documentation address (TEST-NET-1): a UDP ``connect`` to it sends nothing but picks
#: the default route's source address.
_ROUTE_PROBE = ("192.0.2.1", 9)
#: Longest wait for ``ip -o -4 addr``.
_IP_TIMEOUT_S = 2.0


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _default_route_ipv4() -> list[str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_ROUTE_PROBE)
        except OSError:  # no route at all (no network): nothing to add
            return []
        return [probe.getsockname()[0]]


def _host_name_ipv4() -> list[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except (OSError, UnicodeError):
        return []
    return [info[4][0] for info in infos]


def _ip_command_ipv4() -> list[str]:
    ip = shutil.which("ip")
    if ip is None:
        return []
    try:
        out = subprocess.run(
            [ip, "-o", "-4", "addr", "show"],
            capture_output=True,
            text=True,
            timeout=_IP_TIMEOUT_S,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # "2: wlan0    inet 192.168.1.23/24 brd 192.168.1.255 scope global wlan0 ..."
    words = [line.split() for line in out.splitlines()]
    return [w[w.index("inet") + 1].split("/")[0] for w in words if "inet" in w[:-1]]


def machine_ipv4() -> list[str]:
    """This machine's IPv4 addresses, the default route's first, loopback last, no repeats."""
    found = _default_route_ipv4() + _ip_command_ipv4() + _host_name_ipv4() + ["127.0.0.1"]
    return ordered(found)


def ordered(addresses: Iterable[str]) -> list[str]:
    """The IPv4 ones of ``addresses``, without repeats, in order, loopback ones last."""
    seen: list[str] = []
    for address in addresses:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:  # not IPv4 (a scoped IPv6 link-local address, a name)
            continue
        if address not in seen:
            seen.append(address)
    return [a for a in seen if not _is_loopback(a)] + [a for a in seen if _is_loopback(a)]


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def dashboard_urls(
    bound: Iterable[tuple[str, int]],
    *,
    addresses: Callable[[], list[str]] = machine_ipv4,
    hostname: Callable[[], str] = socket.gethostname,
) -> list[str]:
    """Where to open the dashboard: one line per URL, LAN first, this machine's last.

    Args:
        bound: (address, port) of each listening socket.
        addresses: The machine's IPv4 addresses (see :func:`machine_ipv4`).
        hostname: The machine's host name (its mDNS name is ``<name>.local``).
    """
    lan: list[str] = []
    named: list[str] = []
    local: list[str] = []
    for host, port in bound:
        if host not in WILDCARDS:
            (local if _is_loopback(host) else lan).append(_url(host, port))
            continue
        for address in ordered(addresses()):
            (local if _is_loopback(address) else lan).append(_url(address, port))
        name = hostname().split(".")[0]
        if name and name != "localhost":
            named.append(_url(f"{name}.local", port) + " (needs mDNS: avahi-daemon on the Pi)")
    local = [url + " (this machine only)" for url in local]
    return list(dict.fromkeys(lan + named + local))
