from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
import respx

from agora_runner.errors import SessionEndpointError
from agora_runner.runner import fetch_with_retries
from agora_runner.session import fetch_join_details, parse_join_details
from agora_runner.types import CallerScript, CallSpec, SessionEndpointConfig

URL = "https://agent.example.com/session"
SECRET = "top-secret-value"
TOKEN = "007eJxSECRETTOKENVALUE"
GOOD = {"agora_app_id": "a" * 32, "agora_channel": "room", "agora_token": TOKEN}


def config(**kw: object) -> SessionEndpointConfig:
    return SessionEndpointConfig(**{"url": URL, "client_id": "client-1", "secret": SECRET, **kw})  # type: ignore[arg-type]


@respx.mock
def test_post_sends_client_id_in_json_and_secret_in_default_header() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=GOOD))
    join = fetch_join_details(config(), join_uid=1)
    sent = route.calls.last.request
    assert json.loads(sent.content) == {"client_id": "client-1"}
    assert sent.headers["X-Cekura-Secret"] == SECRET
    assert (join.app_id, join.channel, join.token, join.uid, join.encryption) == (
        "a" * 32,
        "room",
        TOKEN,
        1,
        None,
    )
    assert TOKEN not in repr(join)


@respx.mock
def test_get_sends_client_id_as_query_and_secret_in_configured_header() -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(200, json=GOOD))
    fetch_join_details(config(method="GET", header_name="X-Api-Key"), join_uid=7)
    sent = route.calls.last.request
    assert sent.url.params["client_id"] == "client-1"
    assert sent.headers["X-Api-Key"] == SECRET
    assert "X-Cekura-Secret" not in sent.headers


@respx.mock
def test_agent_variables_are_sent_only_when_present() -> None:
    """A spec case's test_profile.agent_variables: a JSON field of the POST body, a
    JSON-encoded query parameter for GET, absent otherwise."""
    variables = {"order_id": "ORD-4471", "tier": {"level": 2}}
    post = respx.post(URL).mock(return_value=httpx.Response(200, json=GOOD))
    fetch_join_details(config(agent_variables=variables), join_uid=1)
    assert json.loads(post.calls.last.request.content) == {
        "client_id": "client-1",
        "agent_variables": variables,
    }
    get = respx.get(URL).mock(return_value=httpx.Response(200, json=GOOD))
    fetch_join_details(config(method="GET", agent_variables=variables), join_uid=1)
    assert json.loads(get.calls.last.request.url.params["agent_variables"]) == variables
    fetch_join_details(config(method="GET", agent_variables={}), join_uid=1)
    assert "agent_variables" not in get.calls.last.request.url.params
    assert "ORD-4471" not in repr(config(agent_variables=variables))


def test_encryption_fields_are_checked_and_decoded() -> None:
    salt = base64.b64encode(bytes(range(1, 33))).decode()
    join = parse_join_details(
        {**GOOD, "encryption_mode": "aes_256_gcm2", "encryption_key": "k", "encryption_salt": salt},
        join_uid=1,
    )
    assert join.encryption is not None
    assert (join.encryption.mode, join.encryption.salt) == (8, bytes(range(1, 33)))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"agora_channel": "x", "agora_token": TOKEN}, "missing or empty agora_app_id"),
        ({**GOOD, "agora_token": ""}, "missing or empty agora_token"),
        ({**GOOD, "encryption_mode": "rot13", "encryption_key": "k"}, "not a known Agora mode"),
        (
            {
                **GOOD,
                "encryption_mode": "aes_128_gcm",
                "encryption_key": "k",
                "encryption_salt": "%%%",
            },
            "not valid base64",
        ),
        (
            {
                **GOOD,
                "encryption_mode": "aes_128_gcm",
                "encryption_key": "k",
                "encryption_salt": base64.b64encode(b"short").decode(),
            },
            "32 bytes",
        ),
        (
            {**GOOD, "encryption_mode": "aes_256_gcm2", "encryption_key": "k"},
            "encryption_salt is required",
        ),
        (
            {
                **GOOD,
                "encryption_mode": "aes_256_gcm2",
                "encryption_key": "k",
                "encryption_salt": base64.b64encode(bytes(32)).decode(),
            },
            "all zero",
        ),
        ({**GOOD, "encryption_mode": "aes_128_gcm"}, "encryption_key is required"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_answers_outside_the_contract_say_what_is_wrong(body: object, reason: str) -> None:
    with pytest.raises(SessionEndpointError, match=reason) as err:
        parse_join_details(body, join_uid=1)
    assert TOKEN not in err.value.message


@respx.mock
@pytest.mark.parametrize(
    ("response", "reason", "permanent"),
    [
        (httpx.Response(401, text=SECRET), "refused the credentials", True),
        (httpx.Response(404), "HTTP 404", True),
        (httpx.Response(503), "HTTP 503", False),
        (
            httpx.Response(302, headers={"Location": "https://elsewhere.example.com"}),
            "redirect",
            True,
        ),
        (httpx.Response(200, text="<html>" + SECRET), "not valid JSON", True),
        (httpx.Response(200, content=b"{" + b" " * 70000 + b"}"), "larger than", True),
    ],
)
def test_endpoint_failures_are_classified_and_never_echo_secrets(
    response: httpx.Response, reason: str, permanent: bool
) -> None:
    respx.post(URL).mock(return_value=response)
    with pytest.raises(SessionEndpointError, match=reason) as err:
        fetch_join_details(config(), join_uid=1)
    assert err.value.permanent is permanent
    assert SECRET not in err.value.message


@respx.mock
def test_timeout_is_transient_and_retried_a_bounded_number_of_times() -> None:
    route = respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    spec = CallSpec(endpoint=config(timeout_seconds=0.5), join_uid=1, caller=CallerScript())
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    with pytest.raises(
        SessionEndpointError, match=r"did not answer within 0.5 s \(after 3 attempts\)"
    ):
        fetch_with_retries(spec, sleep=sleep)
    assert route.call_count == 3 and sleeps == [1.0, 2.0]


@respx.mock
def test_permanent_failure_is_not_retried() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(403))
    spec = CallSpec(endpoint=config(), join_uid=1, caller=CallerScript())
    with pytest.raises(SessionEndpointError):
        fetch_with_retries(spec, sleep=asyncio.sleep)
    assert route.call_count == 1


def test_unreachable_endpoint_is_a_clear_error() -> None:
    with pytest.raises(SessionEndpointError, match="could not connect"):
        fetch_join_details(config(url="http://127.0.0.1:9/session", timeout_seconds=2), join_uid=1)
    with pytest.raises(SessionEndpointError, match="http:// or https://"):
        fetch_join_details(config(url="ftp://example.com/x"), join_uid=1)
