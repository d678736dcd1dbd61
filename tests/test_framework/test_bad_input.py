"""Input that once answered 500 (an outside probe's findings): ids and integers past the
database's range, digits that are not 0-9, a 5,000-digit id, JSON nested 5,000 deep, a URL
that does not parse. Each is now a 400 or 404 with a readable body, and nothing is created."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from test_framework import limits
from test_framework.models import AIAgent, Result, Run, Scenario
from tests.factories import ScenarioFactory

HUGE = 2**63
LONG = "9" * 5000
RUN = "/test_framework/v1/scenarios-external/run_scenarios_agora/"


@pytest.fixture
def nothing_created(db: Any) -> Any:
    before = (
        Result.objects.count(),
        Run.objects.count(),
        Scenario.objects.count(),
        AIAgent.objects.count(),
    )
    yield
    assert (
        Result.objects.count(),
        Run.objects.count(),
        Scenario.objects.count(),
        AIAgent.objects.count(),
    ) == before


@pytest.mark.parametrize("pk", [str(HUGE), LONG, "²", "١٢", "-1", "0x1"])
@pytest.mark.parametrize(
    "prefix", ["aiagents", "scenarios", "results", "runs", "personalities", "metrics"]
)
def test_an_id_in_the_path_that_no_row_can_have_is_404(
    client: APIClient, prefix: str, pk: str
) -> None:
    r = client.get(f"/test_framework/v1/{prefix}/{pk}/")
    assert r.status_code == 404 and r["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/test_framework/v1/scenarios/?agent_id={HUGE}", "agent_id"),
        ("/test_framework/v1/scenarios/?agent_id=²", "agent_id"),
        (f"/test_framework/v1/runs/?result_id={LONG}", "result_id"),
        ("/test_framework/v1/runs/?scenario_id=³", "scenario_id"),
        (f"/test_framework/v1/runs/bulk/?run_ids=1,{HUGE}", "run_ids"),
        ("/test_framework/v1/runs/bulk/?run_ids=1,²", "run_ids"),
        ("/test_framework/v1/runs/bulk/?run_ids=" + ",".join(["1"] * 1001), "run_ids"),
    ],
)
def test_a_filter_past_the_range_is_a_400_naming_it(
    client: APIClient, path: str, field: str
) -> None:
    r = client.get(path)
    assert r.status_code == 400 and field in r.json(), r.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scenarios": [HUGE]}, "scenarios"),
        ({"scenarios": ["²"]}, "scenarios"),
        ({"scenarios": [1], "agent_id": LONG}, "agent_id"),
        ({"scenarios": [1], "concurrency_limit": HUGE}, "concurrency_limit"),
        ({"scenarios": [1], "frequency": HUGE}, "frequency"),
        ({"scenarios": [1], "frequency": limits.FREQUENCY + 1}, "frequency"),
        ({"scenarios": [1], "personality_ids": [HUGE]}, "personality_ids"),
    ],
)
def test_a_launch_with_numbers_past_the_range_is_a_400(
    client: APIClient, agent: AIAgent, nothing_created: Any, body: dict, field: str
) -> None:
    r = client.post(RUN, body, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()


def test_a_launch_of_more_runs_than_the_cap_is_a_400_and_creates_nothing(
    client: APIClient, agent: AIAgent, nothing_created: Any
) -> None:
    scenarios = [
        ScenarioFactory(agent=agent, organization=agent.organization).pk for _ in range(11)
    ]
    before = Scenario.objects.count()
    r = client.post(
        RUN,
        {"agent_id": agent.pk, "scenarios": scenarios, "frequency": limits.FREQUENCY},
        format="json",
    )
    assert r.status_code == 400
    assert r.json() == {
        "frequency": ["A launch may start at most 1000 runs; this one would start 1100."]
    }
    Scenario.objects.filter(pk__in=scenarios).delete()  # the fixture counts what was there before
    assert Scenario.objects.count() == before - 11


def test_a_spec_file_of_more_runs_than_the_cap_is_refused_in_a_dry_run(
    client: APIClient, agent: AIAgent
) -> None:
    spec = {
        "version": "1",
        "scenarios": [
            {"name": f"case {i}", "instructions": "Ask.", "frequency": 100} for i in range(11)
        ],
    }
    r = client.post(
        "/test_framework/v1/scenarios/validate_scenarios_json/",
        {"agent_id": agent.pk, "spec": spec},
        format="json",
    )
    assert r.status_code == 400 and r.json() == {
        "frequency": ["A launch may start at most 1000 runs; this one would start 1100."]
    }


def test_json_nested_thousands_deep_is_a_400(
    client: APIClient, agent: AIAgent, nothing_created: Any
) -> None:
    deep = "[" * 5000 + "]" * 5000
    r = client.post(RUN, data=deep, content_type="application/json")
    assert r.status_code == 400 and "nested deeper than 64 levels" in r.json()["detail"]
    r = client.post(
        "/test_framework/v1/scenarios/",
        data='{"name": "S", "tags": ' + "[" * 100 + "]" * 100 + "}",
        content_type="application/json",
    )
    assert r.status_code == 400 and "nested deeper" in r.json()["detail"]
    spec = '{"version": "1", "scenarios": ' + "[" * 5000 + "]" * 5000 + "}"
    r = client.post(
        "/test_framework/v1/scenarios/validate_scenarios_json/",
        {"agent_id": agent.pk, "file": _file(spec)},
        format="multipart",
    )
    assert r.status_code == 400 and "nested deeper" in json.dumps(r.json())


@pytest.mark.parametrize(
    "path",
    [
        "/test_framework/v1/runs/?scenario_key=a%00b",
        "/test_framework/v2/runs/?status=%00",
        "/test_framework/v1/results/?x%00=1",
    ],
)
def test_a_null_character_in_a_query_parameter_is_a_400(client: APIClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 400 and r.json() == {"detail": "Null characters are not allowed."}


def test_a_null_character_in_a_dashboard_query_is_a_400(db: Any) -> None:
    assert Client().get("/results/?q=%00").status_code == 400


def test_a_null_character_anywhere_in_a_json_body_is_a_400(
    client: APIClient, agent: AIAgent, nothing_created: Any
) -> None:
    r = client.post(
        "/test_framework/v1/scenarios/",
        data='{"name": "S", "metadata": {"k": ["a\\u0000"]}}',
        content_type="application/json",
    )
    assert r.status_code == 400 and r.json() == {
        "detail": "JSON parse error - null characters are not allowed"
    }
    r = client.post(
        "/test_framework/v1/scenarios/",
        data='{"name": "S", "metadata": {"k\\u0000": 1}}',
        content_type="application/json",
    )
    assert r.status_code == 400
    spec = '{"version": "1", "scenarios": [{"name": "a\\u0000", "instructions": "Ask."}]}'
    r = client.post(
        "/test_framework/v1/scenarios/validate_scenarios_json/",
        {"agent_id": agent.pk, "file": _file(spec)},
        format="multipart",
    )
    assert r.status_code == 400 and "null characters are not allowed" in json.dumps(r.json())


def _file(text: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("cekura.tests.json", text.encode(), content_type="application/json")


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/",
        "http://[::1]:99999/session",
        "http://agent.example.com:port/",
        "http:///nohost",
    ],
)
def test_a_session_endpoint_url_that_does_not_parse_is_a_field_error(
    client: APIClient, nothing_created: Any, url: str
) -> None:
    body = {
        "agent_name": "A",
        "description": "",
        "inbound": True,
        "agora_data": {"session_endpoint_url": url, "client_id": "c"},
        "agora_api_key": "s",
    }
    r = client.post("/test_framework/v1/aiagents/", body, format="json")
    assert r.status_code == 400 and r.json() == {
        "agora_data": {"session_endpoint_url": ["Enter a valid http:// or https:// URL."]}
    }


@pytest.mark.parametrize(
    "path",
    [
        f"/runs/{HUGE}/",
        f"/results/{LONG}/",
        f"/agents/{HUGE}/",
        f"/share/abc/runs/{HUGE}/recording.wav",
    ],
)
def test_dashboard_and_share_paths_past_the_range_are_404(db: Any, path: str) -> None:
    from django.contrib.auth.models import User

    User.objects.create_user("ada", password="pw")
    c = Client()
    c.force_login(User.objects.get(username="ada"))
    assert c.get(path).status_code == 404


def test_an_error_report_shows_no_secret(rf: Any, settings: Any) -> None:
    """The debug page (DEBUG on, a developer's choice) and the mail to ADMINS: a submitted
    secret, a secret in a local variable or in a dict are starred out."""
    import sys

    from django.views.debug import ExceptionReporter

    # Made at run time: the report quotes this test's source lines, which must not hold them.
    secrets = [
        "-".join([kind, "secret", str(n)])
        for n, kind in enumerate(["post", "header", "local", "dict"], 1)
    ]
    request = rf.post(
        "/test_framework/v1/aiagents/", {"agent_name": "A", "agora_api_key": secrets[0]}
    )
    request.META["HTTP_X_CEKURA_API_KEY"] = secrets[1]

    def view(agora_api_key: str, body: dict) -> None:
        raise RuntimeError("boom")

    try:
        view(secrets[2], {"agora_data": {"client_id": "c"}, "agora_api_key": secrets[3]})
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
        page = reporter.get_traceback_html() + reporter.get_traceback_text()
    for secret in [
        "-".join([kind, "secret", str(n)])
        for n, kind in enumerate(["post", "header", "local", "dict"], 1)
    ]:
        assert secret not in page, secret
    assert "agent_name" in page  # the rest is still there
