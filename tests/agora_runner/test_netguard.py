"""The session endpoint may not lead our server into its own network."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket

import httpx
import pytest
import respx

from agora_runner.errors import SessionEndpointError
from agora_runner.netguard import check_destination, kind
from agora_runner.session import fetch_join_details
from agora_runner.types import SessionEndpointConfig

# The IANA IPv4 and IPv6 Special-Purpose Address Registries (as of 2025), each block with its
# "Globally Reachable" column, and the multicast blocks. Written out here from the registries,
# not from the guard's own table: every block not globally reachable (False or N/A) is refused
# at its first and last address.
IANA = [
    ("0.0.0.0/8", False),
    ("0.0.0.0/32", False),
    ("10.0.0.0/8", False),
    ("100.64.0.0/10", False),
    ("127.0.0.0/8", False),
    ("169.254.0.0/16", False),
    ("172.16.0.0/12", False),
    ("192.0.0.0/24", False),
    ("192.0.0.0/29", False),
    ("192.0.0.8/32", False),
    ("192.0.0.170/32", False),
    ("192.0.0.171/32", False),
    ("192.0.2.0/24", False),
    ("192.88.99.0/24", None),
    ("192.168.0.0/16", False),
    ("198.18.0.0/15", False),
    ("198.51.100.0/24", False),
    ("203.0.113.0/24", False),
    ("240.0.0.0/4", False),
    ("255.255.255.255/32", False),
    ("224.0.0.0/4", False),  # multicast
    ("::1/128", False),
    ("::/128", False),
    ("::ffff:0:0/96", False),
    ("64:ff9b:1::/48", False),
    ("100::/64", False),
    ("100:0:0:1::/64", False),
    ("2001::/23", False),
    ("2001::/32", None),
    ("2001:2::/48", False),
    ("2001:10::/28", False),
    ("2001:db8::/32", False),
    ("2002::/16", None),
    ("3fff::/20", False),
    ("5f00::/16", False),
    ("fc00::/7", False),
    ("fe80::/10", False),
    ("ff00::/8", False),  # multicast
]
REFUSED = [
    str(addr)
    for block, reachable in IANA
    if not reachable
    for addr in dict.fromkeys([ipaddress.ip_network(block)[0], ipaddress.ip_network(block)[-1]])
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "192.169.0.1",
    "223.255.255.254",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]
# Blocks that carry an IPv4 address: judged by it as well.
CARRIERS = [
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:100.100.100.200",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "::127.0.0.1",
]


class NoConnection(httpx.AsyncBaseTransport):
    """A transport that fails the test if anything is sent."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pytest.fail(f"a request was sent to {request.url.host}")


def literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", REFUSED + CARRIERS)
def test_every_address_that_is_not_globally_routable_is_refused_before_any_connection(
    address: str,
) -> None:
    url = f"http://{literal(address)}:8443/session"
    with pytest.raises(SessionEndpointError, match=r"this server does not call such addresses"):
        check_destination(url)
    config = SessionEndpointConfig(url=url, client_id="c", secret="s", allow_hosts=())
    with pytest.raises(SessionEndpointError, match=r"does not call such addresses"):
        fetch_join_details(config, join_uid=1, client=httpx.AsyncClient(transport=NoConnection()))


@pytest.mark.parametrize("address", REFUSED[::3] + CARRIERS[:3])
def test_a_name_that_resolves_to_such_an_address_is_refused(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = 10 if ":" in address else 2
    monkeypatch.setattr(
        "socket.getaddrinfo", lambda host, port, *a, **kw: [(family, 1, 6, "", (address, port))]
    )
    config = SessionEndpointConfig(
        url="https://agent.example.com/session", client_id="c", secret="s", allow_hosts=()
    )
    with pytest.raises(
        SessionEndpointError,
        match=rf"resolves to {re.escape(str(ipaddress.ip_address(address)))} \(.* address\)",
    ):
        fetch_join_details(config, join_uid=1, client=httpx.AsyncClient(transport=NoConnection()))


@pytest.mark.parametrize("address", PUBLIC)
def test_globally_routable_addresses_pass(address: str) -> None:
    assert kind(ipaddress.ip_address(address)) is None
    check_destination(f"https://{literal(address)}/session")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8765/session", "loopback"),
        ("http://[::1]/session", "loopback"),
        ("http://[::ffff:127.0.0.1]/session", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://100.100.100.200/latest/meta-data/", "carrier-grade NAT (shared)"),
        ("http://10.1.2.3/session", "private"),
        ("https://192.168.0.10/session", "private"),
        ("http://0.0.0.0:80/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[2002:808:808::1]/", "6to4"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),
        ("http://[fd00::1]/", "unique-local (private)"),
    ],
)
def test_the_refusal_says_what_the_address_is(url: str, why: str) -> None:
    with pytest.raises(SessionEndpointError, match=rf"\({re.escape(why)} address\)"):
        check_destination(url)


def test_localhost_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "socket.getaddrinfo", lambda host, port, *a, **kw: [(2, 1, 6, "", ("127.0.0.1", port))]
    )
    with pytest.raises(SessionEndpointError, match=r"\(loopback address\)"):
        check_destination("http://localhost/session")


def test_allow_list_and_public_addresses() -> None:
    check_destination("http://127.0.0.1:8765/session", ("127.0.0.1",))
    check_destination("http://127.0.0.1:8765/session", ("127.0.0.1:8765",))
    with pytest.raises(SessionEndpointError):
        check_destination("http://127.0.0.1:9999/session", ("127.0.0.1:8765",))
    check_destination("http://10.0.0.1/", ("*",))
    check_destination("https://8.8.8.8/session")  # a public address literal: fine


def test_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def nxdomain(*a: object, **kw: object) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr("socket.getaddrinfo", nxdomain)  # no lookup leaves this machine
    with pytest.raises(SessionEndpointError, match="does not resolve"):
        check_destination("https://no-such-host.invalid/session")


def test_not_a_web_url() -> None:
    with pytest.raises(SessionEndpointError, match="not a valid http"):
        check_destination("file:///etc/passwd")


@respx.mock
def test_a_refused_endpoint_is_never_called() -> None:
    route = respx.post("http://127.0.0.1:9/session").mock(return_value=httpx.Response(200, json={}))
    config = SessionEndpointConfig(
        url="http://127.0.0.1:9/session", client_id="c", secret="s", allow_hosts=()
    )
    with pytest.raises(SessionEndpointError, match="loopback"):
        fetch_join_details(config, join_uid=1)
    assert not route.called


def test_the_checked_address_is_the_one_connected_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to a public address when checked and to loopback a
    moment later. The request must go to the checked address, with the name kept for Host
    and TLS."""
    answers = iter(["8.8.4.4", "127.0.0.1", "127.0.0.1"])
    lookups: list[str] = []

    def resolve(host: str, port: int, *a: object, **kw: object) -> list[tuple]:
        lookups.append(host)
        return [(2, 1, 6, "", (next(answers), port))]

    monkeypatch.setattr("socket.getaddrinfo", resolve)
    seen: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:  # the outside server
        seen.append(request)
        return httpx.Response(200, json={"app_id": "a" * 32, "channel": "c", "token": "", "uid": 1})

    config = SessionEndpointConfig(
        url="https://agent.example.com:8443/session?x=1", client_id="c", secret="s", allow_hosts=()
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    with contextlib.suppress(SessionEndpointError):  # what the answer holds does not matter here
        fetch_join_details(config, join_uid=1, client=client)
    assert lookups == ["agent.example.com"]  # resolved once, by the guard
    (request,) = seen
    assert (
        request.url.host == "8.8.4.4"
        and request.url.port == 8443
        and request.url.path == "/session"
    )
    assert request.headers["Host"] == "agent.example.com:8443"
    assert request.extensions["sni_hostname"] == "agent.example.com"
