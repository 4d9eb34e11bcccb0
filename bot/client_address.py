"""The client's address behind a reverse proxy (``server.trusted_proxies``).

Behind nginx every connection comes from the proxy's address, so whatever is counted per
address (failed desk sign-ins, web chat limits) would count everyone together. The
proxy says who its client was in ``X-Forwarded-For`` (or RFC 7239 ``Forwarded``), but a
client can send that header too: a hop is believed only when the connection comes from a
trusted proxy, and the client is the rightmost address in the chain that is not one of
the trusted proxies (everything to its left was written by someone we do not trust).

The middleware gives handlers a request whose ``remote`` is that address, so every part
of the app reads ``request.remote`` as before.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

HEADERS = ("X-Forwarded-For", "Forwarded")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses and CIDR ranges as networks; ``ValueError`` names a wrong one."""
    result = []
    for value in values:
        try:
            result.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address or a CIDR range") from exc
    return tuple(result)


def parse_address(value: str) -> Address | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:80``."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientAddress:
    """Finds the client's address of a request from the trusted proxies' header."""

    def __init__(self, trusted: Sequence[Network], header: str = "X-Forwarded-For") -> None:
        if header not in HEADERS:
            raise ValueError(f"header must be one of {', '.join(HEADERS)}")
        self.trusted = tuple(trusted)
        self.header = header

    def _is_trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)

    def _hops(self, request: web.BaseRequest) -> list[str]:
        if self.header == "Forwarded":
            return [str(hop.get("for", "")) for hop in request.forwarded]
        values = request.headers.getall(self.header, [])
        return [hop for value in values for hop in value.split(",")]

    def of(self, request: web.BaseRequest) -> str | None:
        """The client's address: the connection's, unless it comes from a trusted proxy."""
        peer = request.remote
        if not self.trusted or not self._is_trusted(parse_address(peer or "")):
            return peer
        client = peer
        for hop in reversed(self._hops(request)):
            address = parse_address(hop)
            if address is None:
                break  # garbled: the last address we could believe stands
            client = str(address)
            if not self._is_trusted(address):
                break
        return client

    def middleware(self) -> Middleware:
        @web.middleware
        async def client_address(request: web.Request, handler: Handler) -> web.StreamResponse:
            address = self.of(request)
            if address is not None and address != request.remote:
                request = request.clone(remote=address)
            return await handler(request)

        return client_address
