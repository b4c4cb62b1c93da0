"""Which network addresses a webhook may point at.

Outside ``--dev`` a delivery may only reach globally routable unicast addresses. This module holds
that rule; the URL check at save time and the connect-time check of the dispatcher both use it.
"""

from __future__ import annotations

import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Host names that always mean "this machine" or a cloud metadata service.
_FORBIDDEN_HOSTNAMES = frozenset({"localhost", "metadata.google.internal", "metadata"})

#: Ranges refused whatever this Python's ``is_global`` says (older patch releases call some of
#: them global). Embedded-IPv4 forms (mapped, NAT64, 6to4) are judged by the IPv4 inside, except
#: IPv4-compatible IPv6 (``::/96``, ``[::127.0.0.1]``): deprecated since RFC 4291, never a real
#: target, and Python 3.11 calls ``::7f00:1`` global, so the whole range is refused.
_ALWAYS_FORBIDDEN = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_SHORTHAND = re.compile(r"(?:0[xX][0-9a-fA-F]+|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]+|[0-9]+)){0,3}")


def parse_ip(host: str) -> IPAddress | None:
    """The address in an IP-literal host, else ``None``.

    Accepts brackets and zone ids, and every IPv4 spelling the system resolver accepts without
    DNS (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``), since an HTTP client would
    connect to exactly that address.
    """
    candidate = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        pass
    if _IPV4_SHORTHAND.fullmatch(candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def is_forbidden_ip(address: IPAddress) -> bool:
    """True for loopback, private, link-local (cloud metadata), multicast, unspecified, reserved,
    documentation and every other special-purpose range: anything not globally routable."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_forbidden_ip(embedded)
    if any(
        address in network for network in _ALWAYS_FORBIDDEN if network.version == address.version
    ):
        return True
    return address.is_multicast or not address.is_global


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def is_forbidden_hostname(host: str) -> bool:
    """Names that resolve to this machine or to metadata services wherever they are looked up."""
    name = host.rstrip(".").lower()
    return name in _FORBIDDEN_HOSTNAMES or name.endswith(".localhost")
