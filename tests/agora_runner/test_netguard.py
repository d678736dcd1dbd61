"""The session endpoint may not lead our server into its own network."""
from __future__ import annotations

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
