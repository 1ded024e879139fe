"""The SSRF guard: where a webhook may point, checked at creation and at every connection.

A URL is checked when a webhook is created or changed (the scheme, then every address its
host resolves to), and again each time a delivery connects: the connector resolves the
host through `GuardedResolver`, which refuses the connection when any answer is a
forbidden address. A name that resolved to a public address when checked and to a private
one a moment later (DNS rebinding) is so refused at connect time; an IP literal in the
URL is checked before each request, since aiohttp connects to it without resolving.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

from aiohttp import ClientTimeout, TCPConnector
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services: refused even where private networks are allowed.
ALWAYS_FORBIDDEN = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
RESOLVE_SECONDS = 5.0  # a name that takes longer to resolve is refused at creation
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class ForbiddenTargetError(Exception):
    """The webhook URL, or an address its host resolves to, may not be delivered to."""


def forbidden_reason(address: IPAddress, allow_private: bool) -> str | None:
    """Why deliveries may not go to `address` (None when they may).

    IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 IPv6 addresses are judged by the IPv4 address
    they carry. With `allow_private` (development, tests) only the metadata addresses,
    multicast and the unspecified address stay refused.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return forbidden_reason(address.ipv4_mapped, allow_private)
        if address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            return forbidden_reason(embedded, allow_private)
    if address in ALWAYS_FORBIDDEN:
        return "a cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if allow_private:
        return None
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "a CGNAT address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally (None for a name)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class SystemResolver(AbstractResolver):
    """The system's resolver (getaddrinfo in a thread), usable before any loop runs."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=family
        )
        return [
            {
                "hostname": host,
                "host": str(info[4][0]),
                "port": int(info[4][1]),
                "family": info[0],
                "proto": info[2],
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for info in infos
        ]

    async def close(self) -> None:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves through `inner` and refuses any forbidden answer (so no connection is made)."""

    def __init__(self, inner: AbstractResolver, allow_private: bool) -> None:
        self.inner = inner
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        if not answers:
            raise ForbiddenTargetError(f"{host} does not resolve.")
        for answer in answers:
            reason = forbidden_reason(ipaddress.ip_address(answer["host"]), self.allow_private)
            if reason is not None:
                raise ForbiddenTargetError(f"{host} resolves to {answer['host']}, {reason}.")
        return answers

    async def close(self) -> None:
        # The inner resolver is the guard's, shared by every connector: it stays open.
        return None


@dataclass
class AddressGuard:
    """The policy (settings `WEBHOOKS_ALLOW_HTTP`, `WEBHOOKS_ALLOW_PRIVATE_NETWORKS`) and the
    resolver it checks names with (the system's by default)."""

    allow_http: bool = False
    allow_private: bool = False
    resolver: AbstractResolver = field(default_factory=SystemResolver)

    async def check_url(self, url: str) -> None:
        """Refuse a URL deliveries may not go to: scheme, credentials, every address."""
        try:
            parsed = URL(url)
            host = parsed.host
        except ValueError:  # UnicodeError too
            raise ForbiddenTargetError("Not a valid URL.") from None
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parsed.scheme not in schemes:
            allowed = " or ".join(f"{s}://" for s in schemes)
            raise ForbiddenTargetError(f"Only {allowed} URLs are allowed.")
        if not host:
            raise ForbiddenTargetError("The URL has no host.")
        if parsed.user is not None or parsed.password is not None:
            raise ForbiddenTargetError("Credentials in the URL are not allowed.")
        self.check_literal(host)
        if literal_address(host) is None:
            guarded = GuardedResolver(self.resolver, self.allow_private)
            port = parsed.port or 443
            try:
                async with asyncio.timeout(RESOLVE_SECONDS):
                    await guarded.resolve(host, port, socket.AF_UNSPEC)
            except TimeoutError:
                raise ForbiddenTargetError(f"{host} did not resolve in time.") from None
            except (OSError, ValueError) as exc:  # ValueError: a name IDNA cannot encode
                raise ForbiddenTargetError(f"{host} does not resolve: {exc}.") from None

    def check_literal(self, host: str) -> None:
        """Refuse a host that is a forbidden IP literal (names are checked when resolved)."""
        address = literal_address(host)
        if address is None:
            return
        reason = forbidden_reason(address, self.allow_private)
        if reason is not None:
            raise ForbiddenTargetError(f"{address} is {reason}.")

    def connector(self, limit: int, limit_per_host: int) -> TCPConnector:
        """A connector that resolves every connection anew through the guard (no DNS cache)."""
        return TCPConnector(
            resolver=GuardedResolver(self.resolver, self.allow_private),
            use_dns_cache=False,
            family=socket.AF_UNSPEC,
            limit=limit,
            limit_per_host=limit_per_host,
        )


DELIVERY_TIMEOUT = ClientTimeout(total=10, connect=5)
