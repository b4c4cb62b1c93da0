"""Which network addresses a webhook may point at.

Outside ``--dev`` a delivery may only reach globally routable unicast addresses. This module holds
that rule; the URL check at save time and the connect-time check of the dispatcher both use it.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Host names that always mean "this machine" or a cloud metadata service.
_FORBIDDEN_HOSTNAMES = frozenset({"localhost", "metadata.google.internal", "metadata"})


def parse_ip(host: str) -> IPAddress | None:
    """The address in an IP-literal host (brackets and a zone id allowed), else ``None``."""
    candidate = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def is_forbidden_ip(address: IPAddress) -> bool:
    """True for loopback, private, link-local (cloud metadata), multicast, unspecified, reserved.

    ``is_global`` is the positive rule: it is false for every special-purpose range of the IANA
    registries (100.64/10 shared space, 192.0.0/24, documentation ranges, ULAs, ...). IPv4 mapped
    into IPv6 (``::ffff:127.0.0.1``) and NAT64 forms are judged by the IPv4 address inside.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_forbidden_ip(address.ipv4_mapped)
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return is_forbidden_ip(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_multicast or not address.is_global


def is_forbidden_hostname(host: str) -> bool:
    """Names that resolve to this machine or to metadata services wherever they are looked up."""
    name = host.rstrip(".").lower()
    return name in _FORBIDDEN_HOSTNAMES or name.endswith(".localhost")
