"""The SSRF guard: which addresses and URLs webhooks may never point at."""

from __future__ import annotations

import ipaddress

import pytest

from tests.unit.webhooks.resolvers import TableResolver
from timetracker.webhooks.ssrf import AddressGuard, ForbiddenTargetError, forbidden_reason

FORBIDDEN = [
    "127.0.0.1",  # loopback
    "127.255.0.9",
    "::1",
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "fd12:3456::1",  # unique local
    "169.254.1.1",  # link-local
    "fe80::1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "224.0.0.1",  # multicast
    "ff02::1",
    "240.0.0.1",  # reserved
    "0.0.0.0",  # unspecified
    "::",
    "::ffff:127.0.0.1",  # IPv4-mapped IPv6
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "169.254.169.254",  # metadata
    "fd00:ec2::254",
    "192.0.2.1",  # documentation: not global
]
ALWAYS_FORBIDDEN = ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "224.0.0.1"]
PUBLIC = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_a_non_public_address_is_forbidden(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address), allow_private=False) is not None


@pytest.mark.parametrize("address", ALWAYS_FORBIDDEN)
def test_metadata_and_multicast_stay_forbidden_where_private_networks_are_allowed(
    address: str,
) -> None:
    assert forbidden_reason(ipaddress.ip_address(address), allow_private=True) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::1", "100.64.0.1"])
def test_private_networks_are_allowed_when_configured(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_is_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",  # http without WEBHOOKS_ALLOW_HTTP
        "ftp://example.test/hook",
        "https://user:pw@public.test/hook",
        "https:///nohost",
        "not a url",
        "https://127.0.0.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://inside.test/hook",  # a name that resolves to a private address
        "https://mixed.test/hook",  # one public and one private answer
        "https://unknown.test/hook",  # a name that does not resolve
    ],
)
async def test_a_forbidden_url_is_refused(url: str) -> None:
    resolver = TableResolver(
        {
            "public.test": ["93.184.216.34"],
            "inside.test": ["10.0.0.5"],
            "mixed.test": ["93.184.216.34", "192.168.0.7"],
        }
    )
    with pytest.raises(ForbiddenTargetError):
        await AddressGuard(resolver=resolver).check_url(url)


async def test_a_public_https_url_is_accepted() -> None:
    resolver = TableResolver({"public.test": ["93.184.216.34", "2606:4700:4700::1111"]})
    await AddressGuard(resolver=resolver).check_url("https://public.test/hook")
    await AddressGuard(resolver=resolver).check_url("https://93.184.216.34/hook")
    assert resolver.asked == ["public.test"]


async def test_plain_http_is_accepted_only_when_allowed() -> None:
    resolver = TableResolver({"public.test": ["93.184.216.34"]})
    await AddressGuard(allow_http=True, resolver=resolver).check_url("http://public.test/")
