"""Spellings of non-public hosts, and malformed hosts, shared by the save-time tests (the API
answers 400) and the connect-time tests (a URL forced into the database is never dialled)."""

from __future__ import annotations

#: (family, host as typed in a URL, its normal form, or ``None`` when it is refused even in --dev
#: as malformed). Every one means, or embeds, a loopback address, so a connect-time test can listen
#: there. Written with escapes so the reader sees which code points are in play.
LOOPBACK_SPELLINGS: list[tuple[str, str, str | None]] = [
    ("ideographic full stop U+3002", "127\u30020\u30020\u30021", "127.0.0.1"),
    ("fullwidth full stop U+FF0E", "127\uff0e0\uff0e0\uff0e1", "127.0.0.1"),
    ("halfwidth ideographic full stop U+FF61", "127\uff610\uff610\uff611", "127.0.0.1"),
    ("fullwidth digits", "\uff11\uff12\uff17.\uff10.\uff10.\uff11", "127.0.0.1"),
    (
        "fullwidth digits and full stops",
        "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11",
        "127.0.0.1",
    ),
    ("enclosed alphanumerics", "\u2460\u2461\u2466.0.0.1", "127.0.0.1"),
    ("mathematical bold digits", "\U0001d7cf\U0001d7d0\U0001d7d5.0.0.1", "127.0.0.1"),
    ("zero-width space", "12\u200b7.0.0.1", None),
    ("zero-width joiner", "127.0\u200d.0.1", None),
    ("soft hyphen", "127.0.0\u00ad.1", None),
    ("word joiner", "\u2060127.0.0.1", None),
    ("trailing dot", "127.0.0.1.", None),
    ("short form", "127.1", None),
    ("hex and short", "0x7f.1", None),
    ("hex integer", "0x7f000001", None),
    ("integer", "2130706433", None),
    ("octal", "0177.0.0.1", None),
    ("IPv4-mapped IPv6", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"),
    ("IPv4-mapped IPv6 in hex", "[::ffff:7f00:1]", "[::ffff:7f00:1]"),
    ("IPv4-compatible IPv6", "[::127.0.0.1]", "[::7f00:1]"),
    ("NAT64 well-known prefix", "[64:ff9b::127.0.0.1]", "[64:ff9b::7f00:1]"),
    ("6to4", "[2002:7f00:1::]", "[2002:7f00:1::]"),
    ("IPv6 loopback", "[::1]", "[::1]"),
    ("IPv6 loopback, long form", "[0:0:0:0:0:0:0:1]", "[::1]"),
    ("localhost", "localhost", "localhost"),
    ("LOCALHOST with a trailing dot", "LOCALHOST.", "localhost."),
    ("a name under localhost", "foo.localhost", "foo.localhost"),
    ("fullwidth localhost", "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54", "localhost"),
]

#: Other non-public addresses spelled so that a check of the raw text misses them.
OTHER_PRIVATE_SPELLINGS: list[tuple[str, str, str | None]] = [
    ("metadata, ideographic full stops", "169\u3002254\u3002169\u3002254", "169.254.169.254"),
    (
        "metadata, enclosed alphanumerics",
        "\u2460\u2465\u2468.\u2461\u2464\u2463.169.254",
        "169.254.169.254",
    ),
    ("10/8, fullwidth digits", "\uff11\uff10.0.0.1", "10.0.0.1"),
    ("192.168/16, halfwidth full stops", "192\uff61168\uff610\uff611", "192.168.0.1"),
    ("10/8, NAT64", "[64:ff9b::10.0.0.1]", "[64:ff9b::a00:1]"),
    ("192.168/16, 6to4", "[2002:c0a8:1::]", "[2002:c0a8:1::]"),
    ("metadata, IPv4-mapped", "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]"),
]

#: (family, host): refused in every mode, --dev included: no resolver can use them.
MALFORMED_HOSTS: list[tuple[str, str]] = [
    ("empty label", "a..b"),
    ("leading dot", ".example.com"),
    ("two trailing dots", "example.com.."),
    ("label of 64 characters", "a" * 64 + ".example.com"),
    ("host of 254 characters", ".".join(["a" * 63] * 3 + ["b" * 62])),
    ("IDNA maps a character to an empty label", "\u2488.com"),
    ("punycode that does not decode", "xn--zz.com"),
    ("punycode that does not round-trip", "xn--abc-.com"),
    ("character not allowed in a host name", "a*b.example.com"),
    ("percent-encoded host", "ex%41mple.com"),
    ("five numbers", "1.2.3.4.5"),
    ("number over 255", "256.0.0.1"),
]
