"""The session endpoint may not lead our server into its own network."""
from __future__ import annotations

import contextlib

import httpx
import pytest
import respx

from agora_runner.errors import SessionEndpointError
from agora_runner.netguard import check_destination
from agora_runner.session import fetch_join_details
from agora_runner.types import SessionEndpointConfig


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8765/session", "loopback"),
        ("http://localhost/session", "loopback"),
        ("http://[::1]/session", "loopback"),
        ("http://[::ffff:127.0.0.1]/session", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/session", "private"),
        ("https://192.168.0.10/session", "private"),
        ("http://0.0.0.0:80/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
    ],
)
def test_internal_destinations_are_refused(url: str, kind: str) -> None:
    with pytest.raises(SessionEndpointError, match=rf"\({kind} address\)"):
        check_destination(url)


def test_allow_list_and_public_addresses() -> None:
    check_destination("http://127.0.0.1:8765/session", ("127.0.0.1",))
    check_destination("http://127.0.0.1:8765/session", ("127.0.0.1:8765",))
    with pytest.raises(SessionEndpointError):
        check_destination("http://127.0.0.1:9999/session", ("127.0.0.1:8765",))
    check_destination("http://10.0.0.1/", ("*",))
    check_destination("https://8.8.8.8/session")  # a public address literal: fine
    with pytest.raises(SessionEndpointError, match="does not resolve"):
        check_destination("https://no-such-host.invalid/session")
    with pytest.raises(SessionEndpointError, match="not a valid http"):
        check_destination("file:///etc/passwd")


@respx.mock
def test_a_refused_endpoint_is_never_called() -> None:
    route = respx.post("http://127.0.0.1:9/session").mock(return_value=httpx.Response(200, json={}))
    config = SessionEndpointConfig(url="http://127.0.0.1:9/session", client_id="c", secret="s", allow_hosts=())
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

    config = SessionEndpointConfig(url="https://agent.example.com:8443/session?x=1", client_id="c", secret="s", allow_hosts=())
    client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    with contextlib.suppress(SessionEndpointError):  # what the answer holds does not matter here
        fetch_join_details(config, join_uid=1, client=client)
    assert lookups == ["agent.example.com"]  # resolved once, by the guard
    (request,) = seen
    assert request.url.host == "8.8.4.4" and request.url.port == 8443 and request.url.path == "/session"
    assert request.headers["Host"] == "agent.example.com:8443"
    assert request.extensions["sni_hostname"] == "agent.example.com"
