"""Unit tests for the webhook field rules in ``cstar.server.domain.webhooks``."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cstar import events as catalog
from cstar.server.domain import webhooks as rules
from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.webhooks import (
    EVENTS_MAX,
    NAME_MAX,
    URL_MAX,
    clean_events,
    clean_name,
    clean_url,
)
from tests.spellings import LOOPBACK_SPELLINGS, MALFORMED_HOSTS, OTHER_PRIVATE_SPELLINGS

NON_PUBLIC_MESSAGE = "loopback, private or otherwise non-public"

# ---------------------------------------------------------------------------------------------
# clean_name
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Orders", "Orders"),
        ("  Slack relay  ", "Slack relay"),
        ("\n\tTabbed ends\t\n", "Tabbed ends"),
        ("Caf\u00e9 \u2615 hooks", "Caf\u00e9 \u2615 hooks"),
        ("a", "a"),
        ("x" * NAME_MAX, "x" * NAME_MAX),
        ("  " + "y" * NAME_MAX + "  ", "y" * NAME_MAX),
    ],
)
def test_clean_name_accepts_and_strips(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize("raw", ["", " ", "   \t\n  ", "\r\n"])
def test_clean_name_rejects_empty(raw: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_name(raw)

    assert excinfo.value.param == "name"
    assert "empty" in excinfo.value.message


def test_clean_name_rejects_too_long() -> None:
    assert NAME_MAX == 200
    with pytest.raises(InvalidParameter) as excinfo:
        clean_name("z" * (NAME_MAX + 1))

    assert excinfo.value.param == "name"
    assert str(NAME_MAX) in excinfo.value.message


@pytest.mark.parametrize(
    "raw", ["line\nbreak", "tab\there", "nul\x00", "bell\x07x", "esc\x1b[31m", "del\x7fx", "a\rb"]
)
def test_clean_name_rejects_control_characters(raw: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_name(raw)

    assert excinfo.value.param == "name"
    assert "control" in excinfo.value.message


# ---------------------------------------------------------------------------------------------
# clean_url: accepted
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://example.com", "https://example.com"),
        ("https://example.com/", "https://example.com/"),
        (
            "https://hooks.example.com/cstar/receive?token=abc&x=1#frag",
            "https://hooks.example.com/cstar/receive?token=abc&x=1#frag",
        ),
        ("https://example.com:8443/path", "https://example.com:8443/path"),
        ("https://example.com:443/", "https://example.com/"),  # the default port is dropped
        ("https://example.com:65535/", "https://example.com:65535/"),
        ("HTTPS://Example.COM/Hook", "https://example.com/Hook"),  # scheme, host lower-cased
        ("https://8.8.8.8/hook", "https://8.8.8.8/hook"),
        ("https://1.1.1.1:8443/", "https://1.1.1.1:8443/"),
        ("https://[2606:4700:4700::1111]/hook", "https://[2606:4700:4700::1111]/hook"),
        ("https://[::ffff:8.8.8.8]/", "https://[::ffff:808:808]/"),  # IPv6 compressed
        ("https://172.32.0.1/", "https://172.32.0.1/"),
        ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
        ("https://b\u00fccher.example/", "https://xn--bcher-kva.example/"),  # IDNA: punycode
        ("https://\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com/x", "https://example.com/x"),
        ("https://hooks\u3002example\uff0ecom\uff61/", "https://hooks.example.com./"),
        ("https://example.com./hook", "https://example.com./hook"),  # a name may end in a dot
        ("https://a_b.example.com/", "https://a_b.example.com/"),
        ("https://localhost.example.com/", "https://localhost.example.com/"),
        ("https://mylocalhost/", "https://mylocalhost/"),
        ("https://metadata.example.com/", "https://metadata.example.com/"),
    ],
)
@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_accepts_https_to_public_hosts_in_normal_form(
    url: str, normal: str, dev: bool
) -> None:
    assert clean_url(url, dev=dev) == normal
    assert clean_url(normal, dev=dev) == normal  # the normal form is a fixed point


def test_clean_url_strips_surrounding_whitespace() -> None:
    assert clean_url("  https://example.com/hook \n", dev=False) == "https://example.com/hook"


def test_clean_url_length_limit_applies_after_stripping() -> None:
    base = "https://example.com/"
    exact = base + "a" * (URL_MAX - len(base))
    assert len(exact) == URL_MAX == 2048

    assert clean_url(exact, dev=False) == exact
    assert clean_url("   " + exact + "   ", dev=False) == exact


def test_clean_url_too_long() -> None:
    base = "https://example.com/"
    too_long = base + "a" * (URL_MAX - len(base) + 1)

    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(too_long, dev=True)

    assert excinfo.value.param == "url"
    assert str(URL_MAX) in excinfo.value.message


# ---------------------------------------------------------------------------------------------
# clean_url: scheme
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "HTTP://example.com", "http://8.8.8.8/"]
)
def test_clean_url_http_only_in_dev(url: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=False)

    assert excinfo.value.param == "url"
    assert "https://" in excinfo.value.message
    assert "--dev" in excinfo.value.message
    assert clean_url(url, dev=True) == url.replace("HTTP:", "http:")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "ws://example.com/socket",
        "wss://example.com/socket",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "example.com/hook",
        "//example.com/hook",
        "httpss://example.com",
    ],
)
@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_rejects_other_schemes(url: str, dev: bool) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=dev)

    assert excinfo.value.param == "url"
    assert excinfo.value.message == "url must be an https:// URL"


# ---------------------------------------------------------------------------------------------
# clean_url: structural problems
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["", "   ", "\t\n"])
def test_clean_url_rejects_empty(url: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=True)

    assert excinfo.value.param == "url"
    assert "empty" in excinfo.value.message


@pytest.mark.parametrize(
    "url", ["https://", "https:///path", "https:example.com", "https://:443/", "https://?x=1"]
)
@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_rejects_missing_host(url: str, dev: bool) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=dev)

    assert excinfo.value.param == "url"
    assert "host" in excinfo.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://user@example.com/",
        "https://user:pass@example.com/",
        "https://:pass@example.com/",
        "https://@example.com/",
        "https://admin:secret@8.8.8.8:8443/hook",
    ],
)
@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_rejects_credentials(url: str, dev: bool) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=dev)

    assert excinfo.value.param == "url"
    assert "credentials" in excinfo.value.message


@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_rejects_port_zero(dev: bool) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url("https://example.com:0/hook", dev=dev)

    assert excinfo.value.param == "url"
    assert "port 0" in excinfo.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com:65536/",
        "https://example.com:99999/",
        "https://example.com:abc/",
        "https://example.com:-1/",
        "https://example.com:80a/",
        "https://[::1/",
        "https://[not-an-ip]/",
    ],
)
@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_rejects_malformed(url: str, dev: bool) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=dev)

    assert excinfo.value.param == "url"
    assert "not a valid URL" in excinfo.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://exa mple.com/",
        "https://example.com/a b",
        "https://example.com/\ttab",
        "https://example.com/\nnewline",
        "https://example.com/\rreturn",
        "https://example.com/\x00nul",
        "https://example.com/\x1besc",
        "https://example.com/\x7fdel",
        "https://example.com/\u00a0nbsp",
        "https://example.com/\u2028sep",
        "https://example.com/\u3000ideographic",
    ],
)
@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_rejects_spaces_and_control_characters(url: str, dev: bool) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=dev)

    assert excinfo.value.param == "url"
    assert "spaces or control characters" in excinfo.value.message


# ---------------------------------------------------------------------------------------------
# clean_url: non-public targets
# ---------------------------------------------------------------------------------------------

NON_PUBLIC_URLS = [
    # IPv4 loopback, private, link-local, metadata, shared, unspecified
    "https://127.0.0.1/",
    "https://127.0.0.1:8443/hook",
    "https://127.8.9.10/",
    "https://10.0.0.1/",
    "https://10.255.255.255/",
    "https://172.16.0.1/",
    "https://172.31.255.254/",
    "https://192.168.1.10/",
    "https://169.254.1.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/",
    "https://0.0.0.0/",
    "https://192.0.2.1/",
    "https://224.0.0.1/",
    "https://255.255.255.255/",
    # IPv6 loopback, unspecified, link-local (with zone), ULA (AWS metadata), multicast
    "https://[::1]/",
    "https://[::1]:8443/hook",
    "https://[::]/",
    "https://[fe80::1]/",
    "https://[fe80::1%25eth0]/",
    "https://[fc00::1]/",
    "https://[fd00:ec2::254]/",
    "https://[ff02::1]/",
    # IPv4-mapped IPv6 and NAT64 of non-public IPv4
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:10.0.0.1]/",
    "https://[64:ff9b::7f00:1]/",
    # names that always mean this machine or a metadata service
    "https://localhost/",
    "https://localhost:3000/hook",
    "https://LOCALHOST/",
    "https://localhost./",
    "https://foo.localhost/",
    "https://a.b.Foo.LocalHost./x",
    "https://metadata/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://METADATA.GOOGLE.INTERNAL./",
]


@pytest.mark.parametrize("url", NON_PUBLIC_URLS)
def test_clean_url_rejects_non_public_targets_outside_dev(url: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=False)

    assert excinfo.value.param == "url"
    assert NON_PUBLIC_MESSAGE in excinfo.value.message
    assert "--dev" in excinfo.value.message


#: The normal form of the ``NON_PUBLIC_URLS`` that change when normalised.
NON_PUBLIC_NORMAL = {
    "https://[::ffff:127.0.0.1]/": "https://[::ffff:7f00:1]/",
    "https://[::ffff:169.254.169.254]/": "https://[::ffff:a9fe:a9fe]/",
    "https://[::ffff:10.0.0.1]/": "https://[::ffff:a00:1]/",
    "https://LOCALHOST/": "https://localhost/",
    "https://a.b.Foo.LocalHost./x": "https://a.b.foo.localhost./x",
    "https://METADATA.GOOGLE.INTERNAL./": "https://metadata.google.internal./",
}


@pytest.mark.parametrize("url", NON_PUBLIC_URLS)
def test_clean_url_accepts_non_public_targets_in_dev(url: str) -> None:
    assert clean_url(url, dev=True) == NON_PUBLIC_NORMAL.get(url, url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://localhost:3000/", "http://[::1]/x"]
)
def test_clean_url_accepts_plain_http_to_loopback_in_dev(url: str) -> None:
    assert clean_url(url, dev=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://127.1/",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://0177.0.0.1/",
        "https://0x7f.0.0.1/",
    ],
)
def test_clean_url_rejects_alternative_loopback_ipv4_notations(url: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=False)

    assert excinfo.value.param == "url"


@pytest.mark.parametrize(
    "url",
    [
        "https://nonexistent-host.invalid/",
        "https://hooks.example.test/",
        "https://localtest.me/",
        "https://intranet/",
    ],
)
def test_clean_url_does_not_resolve_names(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[Any] = []

    def no_lookup(*args: Any, **kwargs: Any) -> Any:
        looked_up.append(args)
        raise AssertionError("clean_url must not resolve host names")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    monkeypatch.setattr(socket, "gethostbyname", no_lookup)
    monkeypatch.setattr(socket, "gethostbyname_ex", no_lookup)

    assert clean_url(url, dev=False) == url
    assert looked_up == []


# ---------------------------------------------------------------------------------------------
# clean_url: every spelling of a host is judged, stored and shown in its normal form
# ---------------------------------------------------------------------------------------------

SPELLINGS = LOOPBACK_SPELLINGS + OTHER_PRIVATE_SPELLINGS


@pytest.mark.parametrize(("family", "host", "normal"), SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_clean_url_refuses_every_spelling_of_a_non_public_host_outside_dev(
    family: str, host: str, normal: str | None
) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(f"https://{host}:8443/hook", dev=False)

    assert excinfo.value.param == "url"
    if normal is not None:  # the message names the host as it is dialled
        shown = normal.strip("[]")
        assert f"url host {shown} " in excinfo.value.message
        assert NON_PUBLIC_MESSAGE in excinfo.value.message


@pytest.mark.parametrize(("family", "host", "normal"), SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_clean_url_in_dev_stores_the_normal_form_or_refuses_a_malformed_host(
    family: str, host: str, normal: str | None
) -> None:
    url = f"https://{host}:8443/hook"
    if normal is None:
        with pytest.raises(InvalidParameter) as excinfo:
            clean_url(url, dev=True)
        assert excinfo.value.param == "url"
        assert NON_PUBLIC_MESSAGE not in excinfo.value.message
    else:
        assert clean_url(url, dev=True) == f"https://{normal}:8443/hook"


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("127.1", "url host 127.1 means 127.0.0.1, a loopback"),
        ("0x7f.1", "url host 0x7f.1 means 127.0.0.1, a loopback"),
        ("2130706433", "url host 2130706433 means 127.0.0.1, a loopback"),
        ("0177.0.0.1", "url host 0177.0.0.1 means 127.0.0.1, a loopback"),
        ("127.0.0.1.", "url host 127.0.0.1. means 127.0.0.1, a loopback"),
        ("\uff11\uff12\uff17.0.0.1", "url host 127.0.0.1 is a loopback"),
        ("localhost.", "url host localhost. names a loopback"),
    ],
)
def test_clean_url_says_which_address_a_spelling_means(host: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(f"https://{host}/", dev=False)

    assert excinfo.value.message.startswith(message)
    assert excinfo.value.message.endswith("accepted only when the server runs --dev")


@pytest.mark.parametrize(
    ("host", "hint"),
    [
        ("134744072", "(write 8.8.8.8)"),
        ("0x8.0x8.0x8.0x8", "(write 8.8.8.8)"),
        ("8.8.8.8.", "(write 8.8.8.8)"),
        ("010.8.8.8", "(write 8.8.8.8)"),  # octal 010
        ("1.2.3.4.5", "without leading zeros or a trailing dot"),
        ("example.123", "without leading zeros or a trailing dot"),
    ],
)
@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_refuses_other_spellings_of_ipv4_even_when_public(
    host: str, hint: str, dev: bool
) -> None:
    """A host that ends in a number is an IPv4 address, written as four decimal numbers."""
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(f"https://{host}/", dev=dev)

    assert excinfo.value.param == "url"
    assert f"url host {host} is not a valid IPv4 address" in excinfo.value.message
    assert excinfo.value.message.endswith(hint)


@pytest.mark.parametrize(("family", "host"), MALFORMED_HOSTS, ids=[m[0] for m in MALFORMED_HOSTS])
@pytest.mark.parametrize("dev", [False, True])
def test_clean_url_refuses_a_malformed_host_in_every_mode(
    family: str, host: str, dev: bool
) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(f"https://{host}/hook", dev=dev)

    assert excinfo.value.param == "url"
    assert "url host" in excinfo.value.message


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("a..b", "url host a..b has an empty label (a leading dot or two dots in a row)"),
        (
            "a" * 64 + ".example.com",
            "url host has a label of 64 characters; "
            "each dot-separated part of a host name has at most 63",
        ),
        (
            ".".join(["a" * 63] * 3 + ["b" * 62]),
            "url host is 254 characters long; a host name has at most 253",
        ),
        (
            "a*b.example.com",
            "url host a*b.example.com contains '*'; a host name has only letters, digits, "
            "'-' and '_' (and dots between them)",
        ),
    ],
)
def test_clean_url_says_what_is_wrong_with_a_malformed_host(host: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(f"https://{host}/", dev=True)

    assert excinfo.value.message == message


def test_clean_url_accepts_the_longest_host_and_label() -> None:
    label = "a" * 63
    host = ".".join([label] * 3 + ["b" * 61])
    assert len(host) == 253

    assert clean_url(f"https://{host}/", dev=False) == f"https://{host}/"
    assert clean_url(f"https://{host}./", dev=False) == f"https://{host}./"


def test_clean_url_refuses_a_url_longer_than_the_limit_once_normalised() -> None:
    base = "https://b\u00fccher.example/"  # 28 characters; 35 as punycode
    url = base + "a" * (URL_MAX - len(base))
    assert len(url) == URL_MAX

    with pytest.raises(InvalidParameter) as excinfo:
        clean_url(url, dev=False)

    assert excinfo.value.param == "url"
    assert "once normalised" in excinfo.value.message


_URL_PIECES = st.one_of(
    st.sampled_from(
        [
            *("https://", "http://", "[", "]", ":", "::", "%", "%25", "@", "/", "?", "#", "\\"),
            *(".", "0", "1", "7", "0x", "ff", "xn--", "localhost", "\u3002", "\uff0e", "\u2460"),
            "A",
        ]
    ),
    st.characters(),
)


@example(text="https://[]@/", dev=False)  # yarl raises IndexError on this one
@example(text="https://A.\U00018cd6/p", dev=False)  # IDNA 2003 fallback keeps "A" upper case
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(_URL_PIECES, max_size=30).map("".join), dev=st.booleans())
def test_clean_url_answers_a_fixed_point_or_a_400_for_any_text(text: str, dev: bool) -> None:
    """Whatever a client sends: a 400 on ``url``, or a normal form that normalises to itself."""
    for candidate in (text, "https://" + text):
        refused: InvalidParameter | None = None
        try:
            normal = clean_url(candidate, dev=dev)
        except InvalidParameter as exc:
            refused = exc
        if refused is not None:
            assert refused.param == "url"
        else:
            assert clean_url(normal, dev=dev) == normal


# ---------------------------------------------------------------------------------------------
# clean_events
# ---------------------------------------------------------------------------------------------


def test_clean_events_comma_string() -> None:
    assert clean_events("ticket.created,customer.updated") == (
        "ticket.created",
        "customer.updated",
    )


def test_clean_events_list() -> None:
    assert clean_events(["ticket.created", "customer.updated"]) == (
        "ticket.created",
        "customer.updated",
    )


def test_clean_events_tuple() -> None:
    assert clean_events(("article.published",)) == ("article.published",)


def test_clean_events_single_string() -> None:
    assert clean_events("ticket.closed") == ("ticket.closed",)


def test_clean_events_trims_whitespace() -> None:
    assert clean_events("  ticket.created , customer.updated\t,\narticle.deleted ") == (
        "ticket.created",
        "customer.updated",
        "article.deleted",
    )
    assert clean_events([" ticket.created ", "\tcustomer.updated\n"]) == (
        "ticket.created",
        "customer.updated",
    )


def test_clean_events_deduplicates_keeping_first_occurrence_order() -> None:
    value = "customer.updated,ticket.created,customer.updated, ticket.created,article.deleted"

    assert clean_events(value) == ("customer.updated", "ticket.created", "article.deleted")
    assert clean_events(["ticket.*", "*", "ticket.*", "*"]) == ("ticket.*", "*")


def test_clean_events_returns_a_tuple() -> None:
    assert isinstance(clean_events(["ticket.created"]), tuple)


@pytest.mark.parametrize(
    "pattern", ["*", "ticket.*", "customer.*", "customer_group.*", "survey.*", "boss.*"]
)
def test_clean_events_accepts_wildcards(pattern: str) -> None:
    assert clean_events(pattern) == (pattern,)
    assert clean_events([pattern]) == (pattern,)


def test_clean_events_keeps_wildcards_beside_specific_events() -> None:
    assert clean_events("*,ticket.*,ticket.created") == ("*", "ticket.*", "ticket.created")


def test_clean_events_accepts_every_catalog_event_and_wildcard() -> None:
    everything = [e.name for e in catalog.EVENT_TYPES]
    everything += [f"{r}.*" for r in catalog.resources()]
    everything.append("*")

    assert clean_events(everything) == tuple(everything)
    assert clean_events(",".join(everything)) == tuple(everything)


@pytest.mark.parametrize(
    "pattern",
    [
        "ticket.nope",
        "Ticket.created",
        "TICKET.CREATED",
        "tickets.created",
        "ticket",
        "ticket.",
        "ticket.created.extra",
        "ticket. created",
    ],
)
def test_clean_events_rejects_unknown_names(pattern: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_events(["ticket.created", pattern])

    assert excinfo.value.param == "events"
    assert excinfo.value.message == f"Unknown event type: {pattern}"


@pytest.mark.parametrize(
    "pattern",
    ["*.created", "ticket.**", "ticket*", "ticket.*.*", "**", ".*", "unknown.*", "*.*", "Ticket.*"],
)
def test_clean_events_rejects_bad_wildcards(pattern: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_events(pattern)

    assert excinfo.value.param == "events"
    assert excinfo.value.message == f"Unknown event type: {pattern}"


def test_clean_events_reports_the_first_unknown_entry() -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_events("ticket.created,first.bad,second.bad")

    assert excinfo.value.message == "Unknown event type: first.bad"


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_clean_events_empty_string(value: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_events(value)

    assert excinfo.value.param == "events"
    assert "at least one" in excinfo.value.message


def test_clean_events_empty_list() -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_events([])

    assert excinfo.value.param == "events"
    assert "at least one" in excinfo.value.message


@pytest.mark.parametrize(
    "value",
    [
        "ticket.created,,customer.updated",
        "ticket.created,",
        ",ticket.created",
        "ticket.created, ,customer.updated",
        ",",
        " , ",
    ],
)
def test_clean_events_empty_entries_in_string(value: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_events(value)

    assert excinfo.value.param == "events"
    assert "empty entries" in excinfo.value.message


@pytest.mark.parametrize(
    "value", [[""], ["   "], ["ticket.created", ""], ["", "ticket.created"], ["*", "\t"]]
)
def test_clean_events_empty_entries_in_list(value: list[str]) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        clean_events(value)

    assert excinfo.value.param == "events"
    assert "empty entries" in excinfo.value.message


def test_clean_events_duplicates_collapse_but_count_towards_the_entry_limit() -> None:
    value = ["ticket.created", "ticket.closed", "*"] * 33
    assert len(value) <= EVENTS_MAX
    assert clean_events(value) == ("ticket.created", "ticket.closed", "*")
    assert clean_events(",".join(value)) == ("ticket.created", "ticket.closed", "*")

    too_many = value * 2
    for form in (too_many, ",".join(too_many)):
        with pytest.raises(InvalidParameter) as excinfo:
            clean_events(form)
        assert excinfo.value.param == "events"


def test_clean_events_limit_is_one_hundred() -> None:
    assert EVENTS_MAX == 100


def test_clean_events_more_than_the_limit_of_distinct_patterns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The catalog has fewer than 100 distinct valid patterns, so the limit can only be reached
    # here by lowering it.
    monkeypatch.setattr(rules, "EVENTS_MAX", 3)
    assert clean_events(["ticket.created", "ticket.closed", "*"]) == (
        "ticket.created",
        "ticket.closed",
        "*",
    )

    with pytest.raises(InvalidParameter) as excinfo:
        clean_events(["ticket.created", "ticket.closed", "*", "ticket.*"])

    assert excinfo.value.param == "events"
    assert "at most 3" in excinfo.value.message
