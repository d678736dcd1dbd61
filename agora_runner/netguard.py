"""The session endpoint is a request our server makes to a URL a user typed: it must not reach
our own network, or anyone's. Destinations are resolved first, and every address that is not
globally routable is refused unless an allow-list names the host: the IANA special-purpose
registries' entries that are not globally reachable (loopback, private, carrier-grade NAT,
link-local with cloud metadata at 169.254.169.254, documentation, benchmarking, 6to4, Teredo,
unique-local, …), multicast and broadcast, IPv6 outside global unicast (2000::/3), and whatever
Python's own `is_global` refuses. An address that carries an IPv4 address (IPv4-mapped,
NAT64's 64:ff9b::/96, 6to4, IPv4-compatible) is judged by the address it carries as well."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from .errors import SessionEndpointError

ALLOW_ALL = "*"

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not globally reachable, from the IANA IPv4 and IPv6 Special-Purpose Address Registries
# (entries marked False or N/A), the multicast blocks and the broadcast address. Entries marked
# True inside a refused block (e.g. 192.0.0.9, an anycast address) are refused with it: no
# session endpoint lives there.
NOT_GLOBAL: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0/8", "this-network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT (shared)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001::/32", "Teredo"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6)"),
    ("fc00::/7", "unique-local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)
_NETWORKS = sorted(
    ((ipaddress.ip_network(net), name) for net, name in NOT_GLOBAL),
    key=lambda item: -item[0].prefixlen,
)  # the most specific entry names an address
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def carried(ip: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: IPv4-mapped, NAT64 (64:ff9b::/96), 6to4,
    IPv4-compatible."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def kind(ip: IP) -> str | None:
    """Why our server must not call `ip`, or None for a globally routable address."""
    inner = carried(ip)
    if inner is not None:
        inner_kind = kind(inner)
        if inner_kind is not None:
            return inner_kind
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return None  # the connection goes to the IPv4 address itself
    for network, name in _NETWORKS:
        if ip.version == network.version and ip in network:
            return name
    if isinstance(ip, ipaddress.IPv6Address) and ip not in GLOBAL_UNICAST_V6 and ip not in NAT64:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def allowed(host: str, port: int, allow: tuple[str, ...]) -> bool:
    host = host.lower().strip("[]")
    return ALLOW_ALL in allow or host in allow or f"{host}:{port}" in allow


def check_destination(
    url: str, allow: tuple[str, ...] = (), what: str = "session endpoint"
) -> str | None:
    """Raise SessionEndpointError if `url` leads somewhere our server must not call (`what`
    names it in the message). Returns the address that was checked (to connect to that one and
    no other: a second lookup could answer differently, a DNS rebinding), or None for an
    allowed host or an address literal."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. "http://[::1/"
        raise SessionEndpointError(f"{what} URL is not a valid http(s) URL") from None
    if not host or parts.scheme not in ("http", "https"):
        raise SessionEndpointError(f"{what} URL is not a valid http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise SessionEndpointError(f"{what} URL has an invalid port") from None
    if allowed(host, port, allow):
        return None
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise SessionEndpointError(
            f"the {what}'s host {host!r} does not resolve", permanent=False
        ) from None
    checked = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        why = kind(ip)
        if why is not None:
            raise SessionEndpointError(
                f"the {what}'s host {host!r} resolves to {ip} ({why} address); this "
                "server does not "
                "call such addresses (an administrator can allow the host with "
                "CEKURA_SESSION_ENDPOINT_ALLOW)"
            )
        checked.append(ip)
    if not checked:
        raise SessionEndpointError(f"the {what}'s host {host!r} does not resolve", permanent=False)
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None  # an address literal: the request goes there anyway
    except ValueError:
        return str(checked[0])


def pinned(url: str, ip: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL, headers, httpx request extensions) to reach `url` at the checked address `ip`
    (None: as it is): the host replaced by the address, while the Host header and TLS (SNI, the
    certificate check) still name the host."""
    if ip is None:
        return url, {}, {}
    parts = urlsplit(url)
    extensions: dict[str, Any] = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return pinned_url(url, ip), {"Host": parts.netloc.rpartition("@")[2]}, extensions


def pinned_url(url: str, ip: str) -> str:
    """`url` with its host replaced by the checked address `ip` (the port and path kept)."""
    parts = urlsplit(url)
    netloc = f"[{ip}]" if ":" in ip else ip
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()
