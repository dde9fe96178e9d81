"""Where an integration may send: URL checks, the address guard, and URLs as they are shown.

A tenant's user names the URL, and the admin unit sends from inside the
platform's network, so a URL must not reach what only the platform reaches:
http and https only (https for Slack and Teams), no loopback, private,
link-local, shared, multicast or reserved address, whether written in the URL
or what its host name resolves to at the moment of sending (the resolver below
answers only with allowed addresses, so a name that changes its answer between
the check and the connection gains nothing), and no redirects. The system
configuration's `integrations.allow_private_networks` lifts the address rule
for development and tests.

URLs are secrets of a kind (Slack's and Teams' carry their token in the path,
others in the query), so they are stored sealed and shown masked.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

MAX_URL = 2048
MASK = "****"
HTTPS_ONLY = ("slack", "teams")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(OSError):
    """The destination is an address integrations may not reach."""


def address_problem(ip: IpAddress, allow_private: bool) -> str:
    """Why the address may not be reached ('' when it may)."""
    if allow_private:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified or not ip.is_global:
        kind = ("a loopback" if ip.is_loopback else "a link-local" if ip.is_link_local
                else "a private" if ip.is_private else "a non-public")
        return (f"{ip} is {kind} address; integrations send to public addresses only "
                "(integrations.allow_private_networks in the system configuration lifts this)")
    return ""


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def url_problem(url: str, kind: str, allow_private: bool) -> str:
    """What is wrong with a target URL ('' when nothing is); never repeats the URL itself."""
    if len(url) > MAX_URL:
        return f"at most {MAX_URL} characters"
    if MASK in url:
        return "send the whole URL: responses show it masked"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    schemes = ("https",) if kind in HTTPS_ONLY else ("http", "https")
    if parts.scheme not in schemes:
        return f"an {' or '.join(schemes)} URL"
    host = parts.hostname or ""
    if not host or any(c.isspace() for c in url) or (port is not None and port == 0):
        return "a URL with a host, such as https://example.com/hooks/agentmesh"
    literal = _literal(host)
    if literal is not None:
        return address_problem(literal, allow_private)
    if not allow_private and (host == "localhost" or host.endswith((".localhost", ".local", ".internal"))):
        return f"{host} is a local name; integrations send to public addresses only"
    return ""


def shown_url(url: str, kind: str) -> str:
    """The URL without its secrets: no user info, query values masked, Slack's and Teams' path masked."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path
    if kind in HTTPS_ONLY and path.strip("/"):
        path = "/" + path.strip("/").split("/", 1)[0] + "/" + MASK
    query = "&".join(f"{pair.split('=', 1)[0]}={MASK}" for pair in parts.query.split("&") if pair)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver and answers only addresses integrations may reach."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()
        self.allow_private = False

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        allowed = [a for a in answers if not address_problem(ipaddress.ip_address(a["host"]), self.allow_private)]
        if not allowed:
            first = ipaddress.ip_address(answers[0]["host"]) if answers else None
            raise BlockedAddress(address_problem(first, False) if first is not None else f"{host}: no address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def literal_problem(url: str, allow_private: bool) -> str:
    """The address rule for a URL whose host is written as an address (the resolver never sees those)."""
    literal = _literal(urlsplit(url).hostname or "")
    return address_problem(literal, allow_private) if literal is not None else ""
