from __future__ import annotations

import httpx
import pytest
import respx

from agora_runner.__main__ import main
from agora_runner.checker import check_endpoint
from agora_runner.demo.defaults import DEMO_APP_ID, DEMO_CLIENT_ID, DEMO_SECRET
from agora_runner.tokens import mint_rtc_token, parse
from agora_runner.types import SessionEndpointConfig

APP, CERT = "ab" * 16, "cd" * 16
URL = "https://agent.example.com/session"


def cfg(url: str = URL, secret: str = "s") -> SessionEndpointConfig:
    return SessionEndpointConfig(url=url, client_id="c", secret=secret)


def answer(**kw: object) -> httpx.Response:
    body = {
        "agora_app_id": APP,
        "agora_channel": "room",
        "agora_token": mint_rtc_token(app_id=APP, app_certificate=CERT, channel="room", uid=1),
        **kw,
    }
    return httpx.Response(200, json=body)


def fails(report: object) -> list[str]:
    return [f.message for f in report.findings if f.level == "fail"]  # type: ignore[attr-defined]


@respx.mock
def test_a_good_endpoint_passes() -> None:
    respx.post(URL).mock(return_value=answer())
    report = check_endpoint(cfg())
    assert report.ok, report.findings
    assert any("admits uid 1" in f.message for f in report.findings)


@respx.mock
@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (httpx.Response(401), "refused the credentials"),
        (
            httpx.Response(200, json={"agora_channel": "room"}),
            "missing or empty agora_app_id, agora_token",
        ),
        (answer(encryption_mode="aes_999"), "not a known Agora mode"),
        (
            answer(encryption_mode="aes_256_gcm2", encryption_key="k", encryption_salt="***"),
            "not valid base64",
        ),
        (
            answer(
                agora_token=mint_rtc_token(app_id=APP, app_certificate=CERT, channel="room", uid=2)
            ),
            "is for uid 2, not uid 1",
        ),
        (
            answer(
                agora_token=mint_rtc_token(app_id=APP, app_certificate=CERT, channel="other", uid=1)
            ),
            "for channel 'other'",
        ),
        (answer(agora_token="006abc"), "not an AccessToken2"),
    ],
)
def test_each_contract_problem_is_said_plainly(response: httpx.Response, problem: str) -> None:
    respx.post(URL).mock(return_value=response)
    report = check_endpoint(cfg())
    assert not report.ok
    assert any(problem in m for m in fails(report)), fails(report)


@respx.mock
def test_expired_token_is_reported() -> None:
    respx.post(URL).mock(return_value=answer())
    token_issue = parse(
        mint_rtc_token(app_id=APP, app_certificate=CERT, channel="room", uid=1)
    ).issue_ts
    report = check_endpoint(cfg(), now=token_issue + 86400 + 120)
    assert any("expired" in m for m in fails(report))


def test_join_reports_the_agent_and_cli_exit_codes(
    demo_stack: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = demo_stack.endpoint_url  # type: ignore[attr-defined]
    report = check_endpoint(
        cfg(url, DEMO_SECRET).__class__(url=url, client_id=DEMO_CLIENT_ID, secret=DEMO_SECRET),
        join_seconds=8,
        local_app_ids=(DEMO_APP_ID,),
        local_address=demo_stack.channel_address,
    )  # type: ignore[attr-defined]
    assert report.ok, report.findings
    assert any("agent spoke after" in f.message for f in report.findings)

    monkeypatch.setenv("MY_SECRET", DEMO_SECRET)
    monkeypatch.setenv("CEKURA_LOCAL_CHANNEL", demo_stack.channel_address)  # type: ignore[attr-defined]
    assert (
        main(
            [
                "check-endpoint",
                "--url",
                url + "?fault=never_join",
                "--client-id",
                DEMO_CLIENT_ID,
                "--secret-env",
                "MY_SECRET",
                "--join",
                "2",
            ]
        )
        == 1
    )
    assert "no agent joined the channel within 2 s" in capsys.readouterr().out
    assert (
        main(
            [
                "check-endpoint",
                "--url",
                url + "?encryption=aes_256_gcm2&agent_key=x",
                "--client-id",
                DEMO_CLIENT_ID,
                "--secret-env",
                "MY_SECRET",
                "--join",
                "4",
            ]
        )
        == 1
    )
    assert "could not be decrypted" in capsys.readouterr().out
    assert (
        main(
            [
                "check-endpoint",
                "--url",
                url,
                "--client-id",
                DEMO_CLIENT_ID,
                "--secret-env",
                "MY_SECRET",
                "--method",
                "GET",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "RESULT: the endpoint is ready" in out and DEMO_SECRET not in out
    monkeypatch.delenv("MY_SECRET")
    assert (
        main(["check-endpoint", "--url", url, "--client-id", "x", "--secret-env", "MY_SECRET"]) == 2
    )
