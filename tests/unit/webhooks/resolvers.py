"""Resolvers that answer what a test says, for names no DNS server knows."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult


def answers(host: str, port: int, addresses: Sequence[str]) -> list[ResolveResult]:
    return [
        {
            "hostname": host,
            "host": address,
            "port": port,
            "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
            "proto": 0,
            "flags": socket.AI_NUMERICHOST,
        }
        for address in addresses
    ]


class TableResolver(AbstractResolver):
    """Answers from a table of names; other names go to the system's resolver."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"{host}: unknown to this test")
        return answers(host, port, self.table[host])

    async def close(self) -> None:
        return None


class RebindingResolver(AbstractResolver):
    """A name that resolves to `first` once (when checked), then to `then` (when connected)."""

    def __init__(self, name: str, first: str, then: str) -> None:
        self.name = name
        self.first = first
        self.then = then
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self.name:
            raise OSError(f"{host}: unknown to this test")
        self.calls += 1
        return answers(host, port, [self.first if self.calls == 1 else self.then])

    async def close(self) -> None:
        return None
