"""Keep the crawler off loopback, private and link-local networks (SSRF), for seeds, links and redirects alike.

Two checks, both on every hop (a redirect target is queued as a URL of its own and passes them again):

- the URL: a literal address (``http://10.0.0.5/``, ``http://[::1]/``, legacy forms such as ``http://2130706433/``)
  or a ``localhost`` name that is not public is refused before anything is sent, with or without a proxy;
- the connection: without a proxy the crawler resolves the host itself, refuses the request if any address is not
  public, and connects to the address it checked (so a DNS answer cannot change between check and connect).

A configured forward proxy is trusted: it resolves names itself (the demo and tests reach the mirror through a
proxy on 127.0.0.1). A source with ``allow_private_network: true`` (intranet sources, tests) skips both checks.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LEGACY_V4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")
OPT_IN = "set allow_private_network: true on the source to crawl intranet hosts"


class AddressRefused(Exception):
    """The URL's host is (or resolves to) a loopback, private, link-local or otherwise non-public address."""


def why_not_public(ip: IPAddress) -> str | None:
    """None for a public unicast address, else what it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr, what in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_private", "private"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, attr):
            return what
    return None if ip.is_global else "not a public address"


def literal_address(host: str) -> IPAddress | None:
    """The address a host name spells literally (IPv4, IPv6, decimal/hex/octal IPv4 forms), else None."""
    host = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_V4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def refuse_url_host(host: str) -> str | None:
    """Why a URL host is refused before any request (literal non-public address, localhost names), else None."""
    h = host.strip("[]").lower().rstrip(".")
    if h == "localhost" or h.endswith(".localhost"):
        return f"{host} is a localhost name"
    ip = literal_address(h)
    if ip is not None and (what := why_not_public(ip)):
        return f"{host} is a {what} address"
    return None


def check_resolved(host: str, addresses: Iterable[str]) -> None:
    for addr in addresses:
        what = why_not_public(ipaddress.ip_address(addr.split("%", 1)[0]))
        if what:
            raise AddressRefused(f"{host} resolves to {addr} ({what})")


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with the resolution check: connects only to addresses it has checked."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        check_resolved(host, addresses)
        last: Exception | None = None
        for addr in addresses:
            try:
                return self._inner.connect_tcp(addr, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, *a: Any, **k: Any) -> httpcore.NetworkStream:  # pragma: no cover
        raise AddressRefused("unix sockets are not crawled")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - used by httpcore retries only
        self._inner.sleep(seconds)


def guarded_transport() -> httpx.HTTPTransport:
    """httpx's default transport (same pool limits) whose connections go through :class:`GuardedBackend`."""
    transport = httpx.HTTPTransport()
    # httpx does not take a network backend; its pool is rebuilt with one (httpx is pinned below 0.29).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        http1=True,
        http2=False,
        network_backend=GuardedBackend(),
    )
    return transport
