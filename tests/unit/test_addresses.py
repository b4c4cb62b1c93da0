"""Unit tests for ``cstar.server.domain.addresses``: which addresses a webhook may reach."""

from __future__ import annotations

import ipaddress

import pytest

from cstar.server.domain.addresses import (
    IPAddress,
    is_forbidden_hostname,
    is_forbidden_ip,
    parse_ip,
)

# ---------------------------------------------------------------------------------------------
# is_forbidden_ip: truth table
# ---------------------------------------------------------------------------------------------

FORBIDDEN = [
    # IPv4
    "127.0.0.1",  # loopback
    "127.255.255.254",  # loopback, end of range
    "10.0.0.1",  # 10/8
    "10.255.255.255",
    "172.16.0.1",  # 172.16/12
    "172.31.255.255",
    "192.168.0.1",  # 192.168/16
    "192.168.255.255",
    "169.254.169.254",  # link-local, cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # shared address space (CGNAT)
    "100.127.255.254",
    "0.0.0.0",  # unspecified
    "0.1.2.3",  # "this network"
    "224.0.0.1",  # multicast
    "239.255.255.250",  # multicast (SSDP)
    "255.255.255.255",  # limited broadcast
    "240.0.0.1",  # reserved
    "192.0.2.1",  # TEST-NET-1 documentation
    "198.51.100.7",  # TEST-NET-2 documentation
    "203.0.113.9",  # TEST-NET-3 documentation
    "198.18.0.1",  # benchmarking
    # IPv6
    "::1",  # loopback
    "::",  # unspecified
    "fe80::1",  # link-local
    "fc00::1",  # unique local
    "fd00:ec2::254",  # unique local (AWS metadata over IPv6)
    "ff02::1",  # link-local multicast
    "ff0e::1",  # global-scope multicast is still multicast
    "2001:db8::1",  # documentation
    "100::1",  # discard-only
    # IPv4 inside IPv6
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "64:ff9b::7f00:1",  # NAT64 well-known prefix of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.32.0.1",  # just outside 172.16/12
    "172.15.255.255",  # just below 172.16/12
    "100.128.0.1",  # just outside 100.64/10
    "11.0.0.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "::ffff:1.1.1.1",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("text", FORBIDDEN)
def test_is_forbidden_ip_true(text: str) -> None:
    assert is_forbidden_ip(ipaddress.ip_address(text)) is True


@pytest.mark.parametrize("text", ALLOWED)
def test_is_forbidden_ip_false(text: str) -> None:
    assert is_forbidden_ip(ipaddress.ip_address(text)) is False


@pytest.mark.parametrize(
    ("text", "forbidden"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("255.255.255.255", True),
        ("192.0.2.1", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("fd00:ec2::254", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("64:ff9b::7f00:1", True),
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_is_forbidden_ip_truth_table(text: str, forbidden: bool) -> None:
    address = ipaddress.ip_address(text)

    assert is_forbidden_ip(address) is forbidden


def test_multicast_is_forbidden_even_when_the_stdlib_calls_it_global() -> None:
    # 224.0.0.1 is not in the stdlib's private list; the explicit multicast rule catches it.
    address = ipaddress.ip_address("224.0.1.1")

    assert address.is_multicast
    assert is_forbidden_ip(address) is True


@pytest.mark.parametrize("text", ["64:ff9b:1::a00:1", "64:ff9b:1::7f00:1", "64:ff9b:1:ffff::1"])
def test_local_use_nat64_prefix_is_forbidden(text: str) -> None:
    assert is_forbidden_ip(ipaddress.ip_address(text)) is True


@pytest.mark.parametrize("text", ["2002:7f00:1::", "2002:a00:1::", "2002:a9fe:a9fe::"])
def test_6to4_embedding_non_public_ipv4_is_forbidden(text: str) -> None:
    assert is_forbidden_ip(ipaddress.ip_address(text)) is True


@pytest.mark.parametrize(
    "text",
    [
        "::127.0.0.1",  # IPv4-compatible 127.0.0.1 (Python 3.11 calls it global)
        "::7f00:1",
        "::10.0.0.1",
        "::169.254.169.254",
        "::8.8.8.8",  # deprecated (RFC 4291): refused whatever the IPv4 inside
        "::1.2.3.4",
        "::ffff:ffff",
    ],
)
def test_ipv4_compatible_ipv6_is_forbidden(text: str) -> None:
    assert is_forbidden_ip(ipaddress.ip_address(text)) is True


@pytest.mark.parametrize("text", ["2002:808:808::", "2002:101:101::1"])
def test_6to4_embedding_a_public_ipv4_is_allowed(text: str) -> None:
    assert is_forbidden_ip(ipaddress.ip_address(text)) is False


# ---------------------------------------------------------------------------------------------
# parse_ip
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", ipaddress.IPv4Address("127.0.0.1")),
        ("8.8.8.8", ipaddress.IPv4Address("8.8.8.8")),
        ("::1", ipaddress.IPv6Address("::1")),
        ("[::1]", ipaddress.IPv6Address("::1")),
        ("[2606:4700:4700::1111]", ipaddress.IPv6Address("2606:4700:4700::1111")),
        ("fe80::1%eth0", ipaddress.IPv6Address("fe80::1")),
        ("fe80::1%25eth0", ipaddress.IPv6Address("fe80::1")),
        ("[fe80::1%25eth0]", ipaddress.IPv6Address("fe80::1")),
        ("[fe80::1%1]", ipaddress.IPv6Address("fe80::1")),
        ("::ffff:127.0.0.1", ipaddress.IPv6Address("::ffff:7f00:1")),
        ("[::ffff:127.0.0.1]", ipaddress.IPv6Address("::ffff:7f00:1")),
    ],
)
def test_parse_ip_literals(host: str, expected: IPAddress) -> None:
    parsed = parse_ip(host)

    assert parsed == expected
    assert type(parsed) is type(expected)


@pytest.mark.parametrize("host", ["fe80::1%eth0", "[fe80::1%25eth0]"])
def test_parse_ip_drops_the_zone_id(host: str) -> None:
    parsed = parse_ip(host)

    assert isinstance(parsed, ipaddress.IPv6Address)
    assert parsed.scope_id is None


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost",
        "metadata.google.internal",
        "",
        "[]",
        "[example.com]",
        "256.0.0.1",
        "1.2.3.4.5",
        "::g",
        "127.0.0.1.",
        "xn--bcher-kva.example",
    ],
)
def test_parse_ip_names_and_garbage_are_none(host: str) -> None:
    assert parse_ip(host) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("1.2.3", "1.2.0.3"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
    ],
)
def test_parse_ip_reads_ipv4_the_way_the_resolver_does(host: str, expected: str) -> None:
    """Whatever the system resolver turns into an address without DNS, parse_ip sees too."""
    import socket

    resolved = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)[0][4][0]
    assert resolved == expected
    assert parse_ip(host) == ipaddress.IPv4Address(expected)


# ---------------------------------------------------------------------------------------------
# is_forbidden_hostname
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "LocalHost",
        "localhost.",
        "foo.localhost",
        "foo.localhost.",
        "a.b.c.localhost",
        "API.LOCALHOST",
        "metadata",
        "METADATA",
        "metadata.",
        "metadata.google.internal",
        "Metadata.Google.Internal.",
    ],
)
def test_is_forbidden_hostname_true(host: str) -> None:
    assert is_forbidden_hostname(host) is True


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost.example.com",
        "mylocalhost",
        "localhostx",
        "notlocalhost.com",
        "metadata.example.com",
        "google.internal",
        "foo.metadata.google.internal.example",
        "127.0.0.1",
        "",
    ],
)
def test_is_forbidden_hostname_false(host: str) -> None:
    assert is_forbidden_hostname(host) is False
