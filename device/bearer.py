"""Which bearer carries the unit's traffic to the broker: Wi-Fi, cellular, or something wired.

The kernel's IPv4 routing table (``/proc/net/route``) is read the way ``ip route get`` decides:
the most specific route that matches the broker's address, the lowest metric among equals. Its
interface names the bearer: a wireless LAN interface (``/sys/class/net/IF/wireless``, or a name
starting ``wl``) is ``wifi``; a WWAN interface (``DEVTYPE=wwan`` in its uevent, as ModemManager's
QMI/MBIM data ports are, or a name starting ``ww`` or ``ppp``) is ``cellular``; any other
interface is ``wired``; no route at all is ``none``. Standard library only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
from pathlib import Path

ROUTES = Path("/proc/net/route")
SYS_NET = Path("/sys/class/net")

WIFI, CELLULAR, WIRED, NONE = "wifi", "cellular", "wired", "none"


def route_interface(address: str, routes: str) -> str | None:
    """The interface the kernel sends ``address`` out of, per the ``/proc/net/route`` text."""
    try:
        target = int(ipaddress.IPv4Address(address))
    except ValueError:
        return None
    best: tuple[int, int, str] | None = None  # (-prefix length, metric, interface)
    for line in routes.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        iface, dest, flags, metric, mask = f[0], f[1], int(f[3], 16), int(f[6]), f[7]
        if not flags & 0x1:  # RTF_UP
            continue
        dest_n, mask_n = _address(dest), _address(mask)
        if target & mask_n != dest_n & mask_n:
            continue
        key = (-bin(mask_n).count("1"), metric, iface)
        if best is None or key < best:
            best = key
    return best[2] if best else None


def _address(field: str) -> int:
    """The table prints each address's network-order bytes read as a native integer, in hex."""
    return int.from_bytes(struct.pack("=I", int(field, 16)), "big")


def kind_of(iface: str, sys_net: Path = SYS_NET) -> str:
    """``wifi``, ``cellular`` or ``wired`` for one network interface."""
    where = sys_net / iface
    uevent = ""
    with contextlib.suppress(OSError):
        uevent = (where / "uevent").read_text()
    if (where / "wireless").exists() or (where / "phy80211").exists() or iface.startswith("wl"):
        return WIFI
    if "DEVTYPE=wwan" in uevent or iface.startswith(("ww", "ppp")):
        return CELLULAR
    return WIRED


def bearer_of(sock: object, *, routes: Path = ROUTES, sys_net: Path = SYS_NET) -> str:
    """The bearer under a connected socket (``none`` when it is not connected or not IPv4)."""
    if not isinstance(sock, socket.socket):
        return NONE
    try:
        peer = sock.getpeername()[0]
        if ipaddress.ip_address(peer).is_loopback:
            return WIRED  # a broker on the unit itself (a bench setup): no radio involved
        iface = route_interface(peer, routes.read_text())
    except (OSError, ValueError):
        return NONE
    return kind_of(iface, sys_net) if iface else NONE
