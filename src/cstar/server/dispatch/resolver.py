"""Which address a delivery dials: names resolved here, in Python, and every answer checked.

The HTTP client (:mod:`cstar.server.dispatch.sender`) never resolves a name itself outside
``--dev``: it is handed the one address to dial for each host (:mod:`.clients`), and that address
has passed :func:`dialable` first. So the check and the connection use the same answer:
re-pointing DNS between check and use gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Protocol

from cstar.server.domain.addresses import is_forbidden_hostname, is_forbidden_ip

DEV_HINT = "deliveries to private networks are allowed only when the server runs --dev"


class TargetRefused(OSError):
    """A connection to a loopback, private, link-local or otherwise non-public address."""

    @classmethod
    def resolved(cls, host: str, addresses: list[str]) -> TargetRefused:
        """Every address ``host`` resolves to is non-public."""
        shown = ", ".join(addresses) if addresses else "no address"
        return cls(f"refused: {host} resolves only to non-public addresses ({shown}); {DEV_HINT}")

    @classmethod
    def mixed(cls, host: str, addresses: list[str]) -> TargetRefused:
        """``host`` has non-public addresses, and the egress proxy would choose among them."""
        shown = ", ".join(addresses)
        return cls(
            f"refused: {host} resolves to non-public addresses ({shown}); through the egress "
            f"proxy every address of a name must be public; {DEV_HINT}"
        )

    @classmethod
    def dialled(cls, address: str) -> TargetRefused:
        """A connection to ``address`` was about to be made."""
        return cls(f"refused: connecting to {address}, not a public IP address; {DEV_HINT}")


class Resolver(Protocol):
    """Answers the addresses of a host name, in the order to try them."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    """The machine's resolver (``getaddrinfo``, off the event loop's thread)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


class SafeResolver:
    """Another resolver's answers without the non-public ones, or refusal when none is left.

    A name with public and private addresses is tried on its public ones only; with ``strict``
    (deliveries through the egress proxy, which resolves the name again and picks an address
    itself) such a name is refused.
    """

    def __init__(self, inner: Resolver | None = None, *, strict: bool = False) -> None:
        self._inner = inner or SystemResolver()
        self._strict = strict

    async def resolve(self, host: str, port: int) -> list[str]:
        if is_forbidden_hostname(host):
            raise TargetRefused.resolved(host, [])
        answers = await self._inner.resolve(host, port)
        allowed = [a for a in answers if not _is_forbidden(a)]
        if not allowed:
            raise TargetRefused.resolved(host, sorted(set(answers)))
        if self._strict and len(allowed) < len(answers):
            raise TargetRefused.mixed(host, sorted({a for a in answers if _is_forbidden(a)}))
        return allowed


def dialable(address: str) -> str:
    """``address`` if a connection may be made to it, else :class:`TargetRefused`.

    The last check before an address is handed to the HTTP client, whatever resolver answered
    it. Only a strict IP literal passes: anything else would be resolved again by the client.
    """
    if _is_forbidden(address):
        raise TargetRefused.dialled(address)
    return address


def _is_forbidden(address: str) -> bool:
    try:
        return is_forbidden_ip(ipaddress.ip_address(address))
    except ValueError:
        return True
