"""Delivery targets: a webhook URL in the one form in which it is stored, judged and dialled.

A URL is read with yarl; the dispatcher's sender refuses a URL whose host its HTTP client would
read differently, so the host judged here is the host the client dials. yarl maps a non-ASCII
host through IDNA (UTS 46): fullwidth digits, the full stops U+3002, U+FF0E and U+FF61 and
enclosed alphanumerics become ASCII (``127.0.0.1`` in fullwidth digits and ideographic full stops
is ``127.0.0.1``); names become punycode. It also lower-cases the host, compresses IPv6 literals
and drops a default port. The normalised URL is what is stored and shown, so what the user sees
is what is dialled.

On that ASCII host this module refuses what no resolver can use: an empty label, a label over 63
or a host over 253 characters, a character other than a letter, digit, ``-`` or ``_``, and a host
that ends in a number but is not four decimal numbers (``127.1``, ``0x7f.1``, ``2130706433``,
``0177.0.0.1``, ``1.2.3.4.5``; the WHATWG URL standard's rule). Outside ``--dev`` it also refuses a
host that is or names a non-public address (:mod:`cstar.server.domain.addresses`).

No name is resolved here: the dispatcher checks every address it dials when it connects.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from yarl import URL

from cstar.server.domain.addresses import (
    IPAddress,
    is_forbidden_hostname,
    is_forbidden_ip,
    parse_ip,
)

HOST_MAX = 253
LABEL_MAX = 63

_LABEL_CHARACTERS = re.compile(r"[A-Za-z0-9_-]+")
#: A last label that makes a host an IPv4 address (WHATWG URL standard, "ends in a number").
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_DEV_ONLY = "such targets are accepted only when the server runs --dev"


class InvalidTarget(ValueError):
    """Why a URL cannot be a delivery target; the message is written for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_target(text: str, *, dev: bool) -> URL:
    """``text`` read by yarl, in normal form, or :class:`InvalidTarget` saying why not.

    Outside ``dev`` only ``https://`` to a public host passes; in ``dev`` ``http://`` and
    non-public hosts pass too, but a malformed host never does.
    """
    try:
        # Twice: when IDNA 2008 refuses a name, yarl falls back to IDNA 2003, which leaves the
        # case of ASCII labels alone; read again, the ASCII result is lower-cased like any other.
        url = URL(str(URL(text)))
        _readable = url.host  # decodes xn-- labels: refuses one that IDNA cannot read
    except UnicodeError as exc:  # IDNA refused the host; a ValueError too, so caught first
        raise InvalidTarget(f"url host is not a valid host name: {exc}") from None
    except ValueError as exc:
        reason = str(exc).removeprefix("Invalid URL: ")
        raise InvalidTarget(f"url is not a valid URL: {reason}") from None
    except Exception:  # yarl is not proof against every input: IndexError on "https://[]@/"
        raise InvalidTarget("url is not a valid URL") from None
    _check_scheme(url.scheme, dev=dev)
    host = url.raw_host
    if not url.absolute or not host:
        raise InvalidTarget("url must include a host name")
    if url.raw_user is not None or url.raw_password is not None or _has_userinfo(text):
        raise InvalidTarget("url must not contain credentials (user:password@)")
    if url.explicit_port == 0:
        raise InvalidTarget("url must not use port 0")
    address = _host_address(host, dev=dev)
    if not dev and _is_non_public(host, address):
        raise _non_public(f"{host} is" if address is not None else f"{host} names")
    return url


def _check_scheme(scheme: str, *, dev: bool) -> None:
    allowed = ("https", "http") if dev else ("https",)
    if scheme in allowed:
        return
    if scheme == "http":
        raise InvalidTarget(
            "url must use https:// (http:// is accepted only when the server runs --dev)"
        )
    raise InvalidTarget("url must be an https:// URL")


def _has_userinfo(text: str) -> bool:
    """yarl drops an empty ``user@``; refuse it rather than silently change the URL."""
    try:
        return "@" in urlsplit(text).netloc
    except ValueError:  # pragma: no cover - yarl parsed it, so urlsplit does too
        return False


def _non_public(subject: str) -> InvalidTarget:
    return InvalidTarget(
        f"url host {subject} a loopback, private or otherwise non-public address; {_DEV_ONLY}"
    )


def _host_address(host: str, *, dev: bool) -> IPAddress | None:
    """The IP literal ``host`` is, ``None`` for a valid name; raises for a malformed host."""
    if ":" in host:  # an IPv6 literal, which yarl has already validated and compressed
        address = parse_ip(host)
        if address is None:  # pragma: no cover - yarl refuses these
            raise InvalidTarget(f"url host [{host}] is not a valid IPv6 address")
        return address
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        return _ipv4(host, dev=dev)
    if len(name) > HOST_MAX:
        raise InvalidTarget(
            f"url host is {len(name)} characters long; a host name has at most {HOST_MAX}"
        )
    for label in labels:
        if not label:
            raise InvalidTarget(
                f"url host {host} has an empty label (a leading dot or two dots in a row)"
            )
        if len(label) > LABEL_MAX:
            raise InvalidTarget(
                f"url host has a label of {len(label)} characters; "
                f"each dot-separated part of a host name has at most {LABEL_MAX}"
            )
        if not _LABEL_CHARACTERS.fullmatch(label):
            bad = next(ch for ch in label if not _LABEL_CHARACTERS.fullmatch(ch))
            raise InvalidTarget(
                f"url host {host} contains {bad!r}; a host name has only letters, digits, "
                "'-' and '_' (and dots between them)"
            )
    return None


def _ipv4(host: str, *, dev: bool) -> ipaddress.IPv4Address:
    """A host that ends in a number must be a dotted quad, written exactly so.

    Other spellings (``127.1``, ``0x7f.1``, ``2130706433``) are refused rather than rewritten:
    HTTP clients and resolvers disagree on them: some refuse to dial them, others read an address.
    """
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        pass
    else:
        return address
    meant = parse_ip(host.removesuffix("."))
    if meant is not None and not dev and is_forbidden_ip(meant):
        raise _non_public(f"{host} means {meant},")
    hint = f" (write {meant})" if meant is not None else ""
    raise InvalidTarget(
        f"url host {host} is not a valid IPv4 address: write an IPv4 address as four decimal "
        f"numbers from 0 to 255, without leading zeros or a trailing dot{hint}"
    )


def _is_non_public(host: str, address: IPAddress | None) -> bool:
    if address is not None:
        return is_forbidden_ip(address)
    return is_forbidden_hostname(host)
