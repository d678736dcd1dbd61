"""The session endpoint is a request our server makes to a URL a user typed: it must not reach
our own network. Destinations are resolved first; loopback, private, link-local (cloud
metadata at 169.254.169.254 among them), reserved, multicast and unspecified addresses are
refused unless an allow-list names the host."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from .errors import SessionEndpointError

ALLOW_ALL = "*"


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name, flag in (
        ("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified), ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast), ("private", ip.is_private), ("reserved", ip.is_reserved),
    ):
        if flag:
            return name
    return None


def allowed(host: str, port: int, allow: tuple[str, ...]) -> bool:
    host = host.lower().strip("[]")
    return ALLOW_ALL in allow or host in allow or f"{host}:{port}" in allow


def check_destination(url: str, allow: tuple[str, ...] = ()) -> str | None:
    """Raise SessionEndpointError if `url` leads somewhere our server must not call. Returns
    the address that was checked (to connect to that one and no other: a second lookup could
    answer differently, a DNS rebinding), or None for an allowed host or an address literal."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host or parts.scheme not in ("http", "https"):
        raise SessionEndpointError("session endpoint URL is not a valid http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise SessionEndpointError("session endpoint URL has an invalid port") from None
    if allowed(host, port, allow):
        return None
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise SessionEndpointError(f"the session endpoint's host {host!r} does not resolve", permanent=False) from None
    checked = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        kind = _kind(ip)
        if kind is not None:
            raise SessionEndpointError(
                f"the session endpoint's host {host!r} resolves to {ip} ({kind} address); this server does not "
                "call such addresses (an administrator can allow the host with CEKURA_SESSION_ENDPOINT_ALLOW)"
            )
        checked.append(ip)
    if not checked:
        raise SessionEndpointError(f"the session endpoint's host {host!r} does not resolve", permanent=False)
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None  # an address literal: the request goes there anyway
    except ValueError:
        return str(checked[0])


def pinned_url(url: str, ip: str) -> str:
    """`url` with its host replaced by the checked address `ip` (the port and path kept)."""
    parts = urlsplit(url)
    netloc = f"[{ip}]" if ":" in ip else ip
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()
