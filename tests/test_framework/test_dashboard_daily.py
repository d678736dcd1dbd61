"""The dashboard for daily use (issue 23): failures that explain themselves, lists that scale,
credits in sight, launches that keep their selection, error pages of our own."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from cekura.accounts.models import Organization
from common.vocabulary import EndedReason
from test_framework import explain
from test_framework.choices import Status
from test_framework.models import Result
from tests.factories import AgentFactory, ResultFactory, RunFactory, ScenarioFactory
from tests.test_framework.test_dashboard import signed_in


def run_like(**fields: Any) -> SimpleNamespace:
    base = {
        "status": Status.FAILED,
        "success": False,
        "ended_reason": "",
        "error_message": "",
        "infrastructure": False,
        "post_processing_failed": False,
        "reaped": False,
    }
    return SimpleNamespace(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        (
            {
                "ended_reason": EndedReason.CALL_NOT_CONNECTED,
                "error_message": "the agent did not join the channel within 20 s",
            },
            "agent_never_joined",
        ),
        (
            {
                "ended_reason": EndedReason.CALL_NOT_CONNECTED,
                "error_message": "session endpoint answered HTTP 500",
            },
            "session_endpoint",
        ),
        (
            {
                "ended_reason": EndedReason.CALL_NOT_CONNECTED,
                "error_message": "joining channel refused: invalid token",
            },
            "join_refused",
        ),
        (
            {"error_message": "the pre-trigger webhook did not accept the launch (HTTP 500)"},
            "pre_trigger",
        ),
        ({"post_processing_failed": True, "infrastructure": True}, "scoring"),
        ({"reaped": True, "infrastructure": True}, "worker_stopped"),
        (
            {"infrastructure": True, "ended_reason": EndedReason.PIPELINE_ERROR},
            "our_side",
        ),
        ({"ended_reason": EndedReason.PIPELINE_ERROR}, "scenario"),
        ({"status": Status.TIMEOUT}, "time_limit"),
        ({"status": Status.CANCELLED}, "cancelled"),
        ({"status": Status.COMPLETED}, "not_passed"),
        (
            {"status": Status.COMPLETED, "ended_reason": EndedReason.MAIN_AGENT_DID_NOT_ANSWER},
            "no_answer",
        ),
    ],
)
def test_why_a_run_did_not_succeed(fields: dict[str, Any], key: str) -> None:
    reason = explain.why(run_like(**fields))
    assert reason is not None and reason.key == key
    assert reason.headline and (reason.advice or key == "cancelled")


def test_runs_that_succeeded_or_are_going_need_no_explanation() -> None:
    assert explain.why(run_like(status=Status.COMPLETED, success=True)) is None
    assert explain.why(run_like(status=Status.RUNNING, success=None)) is None
    assert explain.why(run_like(status=Status.COMPLETED, success=None)).key == "not_judged"  # type: ignore[union-attr]


def test_a_result_whose_runs_all_failed_explains_itself(org: Organization) -> None:
    agent = AgentFactory(organization=org)
    result = ResultFactory(agent=agent, status=Status.COMPLETED)
    never = "the agent did not join the channel within 20 s"
    runs = [
        RunFactory(
            result=result,
            status=Status.FAILED,
            success=False,
            ended_reason=EndedReason.CALL_NOT_CONNECTED,
            error_message=never,
        )
        for _ in range(2)
    ]
    c = signed_in(org)
    page = c.get(f"/results/{result.pk}/").content.decode()
    why = page[page.index('id="why-failed"') :]
    assert "<strong>2 runs</strong>: the agent never joined the channel." in why
    assert f'href="/agents/{agent.pk}/#test"' in why and never in why
    assert all(f"/runs/{r.pk}/" in why for r in runs)
    # The API says "completed" (our side did not fail it); a person reads "failed".
    assert 'data-field="status">failed</span>' in page
    assert Result.objects.get(pk=result.pk).status == Status.COMPLETED
    listed = c.get("/results/").content.decode()
    assert 'data-field="status">failed</span>' in listed
    # The run rows as the page updates them live.
    rows = c.get(f"/results/{result.pk}/runs.json").json()["runs"]
    assert rows[0] == {
        "id": runs[0].pk,
        "status": "failed",
        "verdict": "fail",
        "duration": "—",
        "ended": EndedReason.CALL_NOT_CONNECTED.value,
        "why": "the agent never joined the channel",
        "terminal": True,
    }
    other = ResultFactory()
    assert c.get(f"/results/{other.pk}/runs.json").status_code == 404


def test_pass_and_fail_read_as_words_with_an_icon_not_emoji(org: Organization) -> None:
    result = ResultFactory(agent=AgentFactory(organization=org), finished=True)
    RunFactory(result=result, completed=True, success=True, duration_seconds=12.34)
    RunFactory(result=result, completed=True, success=False)
    page = signed_in(org).get(f"/results/{result.pk}/").content.decode()
    assert '<span class="verdict pass"><svg' in page and '<span class="verdict fail"><svg' in page
    assert "✅" not in page and "❌" not in page
    assert "12.3 s" in page


def test_results_are_paged_and_the_oldest_is_reachable(org: Organization) -> None:
    agent = AgentFactory(organization=org, agent_name="Clinic")
    results = [ResultFactory(agent=agent, name=f"nightly {i}") for i in range(105)]
    c = signed_in(org)
    first = c.get("/results/").content.decode()
    assert "105 results · page 1 of 5" in first
    assert first.count("data-result=") == 25 and f"#{results[-1].pk}<" in first
    last = re.search(r'id="last-page" href="([^"]+)"', first)
    assert last is not None
    oldest = c.get("/results/" + last.group(1).replace("&amp;", "&")).content.decode()
    assert "page 5 of 5" in oldest and f"nightly 0 #{results[0].pk}<" in oldest
    assert 'id="next-page"' not in oldest
    # Junk page numbers land on a real page, never an error.
    assert c.get("/results/?page=999").status_code == 200
    assert c.get("/results/?page=x").status_code == 200


def test_results_filters(org: Organization) -> None:
    clinic = AgentFactory(organization=org, agent_name="Clinic")
    shop = AgentFactory(organization=org, agent_name="Shop")
    done = ResultFactory(agent=clinic, name="refunds", status=Status.COMPLETED)
    ResultFactory(agent=shop, name="orders")
    keyed = ResultFactory(agent=shop, name="spec run")
    RunFactory(result=keyed, scenario_key="refund-happy-path")
    old = ResultFactory(agent=shop, name="last year")
    Result.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    c = signed_in(org)

    def names(query: dict[str, Any]) -> set[str]:
        page = c.get("/results/", query).content.decode()
        return set(re.findall(r'<a href="/results/\d+/">(.+?) #\d+</a>', page))

    assert names({"agent": clinic.pk}) == {"refunds"}
    assert names({"status": "completed"}) == {"refunds"}
    assert names({"q": "ORD"}) == {"orders"}
    assert names({"q": f"#{done.pk}"}) == {"refunds"}
    assert names({"key": "refund-happy-path"}) == {"spec run"}
    since = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert "last year" not in names({"from": since}) and len(names({"from": since})) == 3
    assert names({"to": since}) == {"last year"}
    page = c.get("/results/", {"from": "yesterday", "status": "nope"}).content.decode()
    assert "from: not a date (use YYYY-MM-DD)." in page
    assert "status: choose one from the list." in page
    assert "No result matches these filters." not in page or "4 results" in page


def test_runs_page_filters_and_explains(org: Organization) -> None:
    agent = AgentFactory(organization=org)
    booking = ScenarioFactory(agent=agent, name="Booking")
    result = ResultFactory(agent=agent)
    RunFactory(result=result, scenario=booking, completed=True, success=True)
    RunFactory(
        result=result,
        status=Status.FAILED,
        success=False,
        ended_reason=EndedReason.CALL_NOT_CONNECTED,
        error_message="session endpoint answered HTTP 401",
    )
    RunFactory(result=ResultFactory(), completed=True)  # another organization's
    c = signed_in(org)
    page = c.get("/runs/").content.decode()
    assert "2 runs" in page and "the agent&#x27;s session endpoint did not give" in page
    assert "1 run match" in c.get("/runs/", {"q": "book"}).content.decode()
    assert "1 run match" in c.get("/runs/", {"status": "failed"}).content.decode()
    assert "2 runs match" in c.get("/runs/", {"result": result.pk}).content.decode()
    assert "result: a result&#x27;s number." in c.get("/runs/", {"result": "x"}).content.decode()


def test_scenarios_are_paged_and_searchable(org: Organization) -> None:
    agent = AgentFactory(organization=org)
    for i in range(30):
        ScenarioFactory(agent=agent, name=f"Case {i:02d}")
    c = signed_in(org)
    page = c.get("/scenarios/").content.decode()
    assert "30 scenarios · page 1 of 2" in page and page.count('class="pick"') == 25
    assert "Case 29" in c.get("/scenarios/", {"page": 2}).content.decode()
    found = c.get("/scenarios/", {"q": "case 07"}).content.decode()
    assert "1 scenario matches" in found and "Case 07" in found


def test_credits_in_the_header_and_a_refused_launch_keeps_its_selection(
    org: Organization,
) -> None:
    org.credits = 1
    org.save()
    agent = AgentFactory(organization=org)
    picked = [ScenarioFactory(agent=agent) for _ in range(2)]
    c = signed_in(org)
    page = c.get("/scenarios/").content.decode()
    assert 'id="credits"' in page and "1 credit<" in page
    ids = ",".join(str(s.pk) for s in picked)
    r = c.post("/scenarios/run/", {"scenario_ids": ids, "frequency": "3", "name": "nightly"})
    assert r.status_code == 400
    body = r.content.decode()
    assert "Not enough credits: 6 runs need 6 credits, you have 1." in body
    assert f'data-reopen="{ids}"' in body and 'value="nightly"' in body and 'value="3"' in body
    assert Result.objects.count() == 0
    assert "1 credit" in c.get("/credits/").content.decode()


def test_credits_page_adds_for_staff_only(org: Organization) -> None:
    c = signed_in(org)
    assert c.post("/credits/", {"amount": "5"}).status_code == 403
    org.refresh_from_db()
    before = org.credits
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="ada").update(is_staff=True)
    r = c.post("/credits/", {"amount": "5"})
    assert r.status_code == 302 and r["Location"] == "/credits/"  # a refresh adds nothing
    org.refresh_from_db()
    assert org.credits == before + 5
    assert (
        "Amount: a whole number"
        in c.post("/credits/", {"amount": "x"}, follow=True).content.decode()
    )


@pytest.mark.parametrize("debug", [False, True])
def test_error_pages_are_our_own_whatever_debug_says(org: Organization, debug: bool) -> None:
    c = signed_in(org)
    with override_settings(DEBUG=debug):
        for path in ("/results/999999/", "/no-such-page/", "/runs/999999/"):
            r = c.get(path)
            body = r.content.decode()
            assert r.status_code == 404, path
            assert 'id="error-page"' in body and "Not found" in body
            assert "URLconf" not in body and "urlpatterns" not in body.lower()
        api = c.get("/test_framework/v1/no-such-resource/")
        assert api.status_code == 404 and api.json() == {"detail": "Not found."}


def scenario_form(agent: Any, **fields: Any) -> dict[str, Any]:
    return {
        "name": "Book",
        "agent": agent.pk,
        "scenario_type": "conditional_actions",
        "first_message": "Hi there",
        "expected_outcome_prompt": "",
        **fields,
    }


def test_scripted_steps_are_two_fields_and_say_what_is_typed(org: Organization) -> None:
    from test_framework.models import Scenario

    agent = AgentFactory(organization=org)
    c = signed_in(org)
    r = c.post(
        "/scenarios/new/",
        scenario_form(
            agent,
            step_when=["asks which day", ""],
            step_say=["Tuesday, please.", ""],
            expected_outcome_prompt="Booked for Tuesday",
        ),
    )
    assert r.status_code == 302
    scenario = Scenario.objects.get(name="Book")
    assert scenario.conditional_actions["conditions"] == [
        {
            "id": 1,
            "type": "standard",
            "condition": "asks which day",
            "action": "Tuesday, please.",
            "fixed_message": True,
        }
    ]
    page = c.get(f"/scenarios/{scenario.pk}/").content.decode()
    assert 'value="asks which day"' in page and 'value="Tuesday, please."' in page
    # A step with a condition and nothing to say, and a scripted scenario with no steps.
    page = c.post(
        "/scenarios/new/", scenario_form(agent, name="X", step_when=["asks"], step_say=[""])
    ).content.decode()
    assert "Step 1: what should the caller say?" in page
    page = c.post("/scenarios/new/", scenario_form(agent, name="Y")).content.decode()
    assert "needs at least one step" in page
    page = c.post(
        "/scenarios/new/", scenario_form(agent, name="Z", scenario_type="instruction")
    ).content.decode()
    assert "Say what the caller wants" in page
    assert not Scenario.objects.filter(name__in=["X", "Y", "Z"]).exists()


def test_a_scenario_that_checks_nothing_is_warned_and_not_judged(org: Organization) -> None:
    from test_framework.models import Scenario

    agent = AgentFactory(organization=org)
    c = signed_in(org)
    r = c.post(
        "/scenarios/new/",
        scenario_form(agent, step_when=[""], step_say=["Hello?"]),
        follow=True,
    )
    assert "checks nothing yet" in r.content.decode()
    scenario = Scenario.objects.get(name="Book")
    assert 'id="checks-nothing"' in c.get(f"/scenarios/{scenario.pk}/").content.decode()
    result = ResultFactory(agent=agent, finished=True)
    RunFactory(result=result, scenario=scenario, completed=True, success=None)
    page = c.get(f"/results/{result.pk}/").content.decode()
    print(page[page.index("runs-table") :][:1500])
    assert '<span class="verdict none">not judged</span>' in page
    assert "were not judged: the scenario checks nothing of its own" in page


def test_old_say_steps_migrate_to_the_line_itself() -> None:
    import importlib

    spoken = importlib.import_module("test_framework.migrations.0011_steps_without_say").spoken
    assert spoken("say Tuesday please.") == "Tuesday please."
    assert spoken('say "Tuesday, please."') == "Tuesday, please."
    assert spoken("say: thanks") == "Thanks"
    assert spoken("Say that again?") == "Say that again?"  # a real line, left alone
    assert spoken("Tuesday") == "Tuesday"


def test_rescore_rerun_and_export_a_result(org: Organization, monkeypatch: Any) -> None:
    import csv
    import io

    sent: list[int] = []
    monkeypatch.setattr("test_framework.dispatch.send_rescore", sent.append)
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    org.credits = 10
    org.save()
    agent = AgentFactory(organization=org)
    scenario = ScenarioFactory(agent=agent, name="Booking")
    result = ResultFactory(agent=agent, name="nightly", status=Status.COMPLETED, frequency=2)
    metrics = [
        {"name": "Latency", "eval_type": "numeric", "score": 812.0},
        {"name": "Infrastructure Issues", "eval_type": "binary", "passed": True},
    ]
    for ok in (True, False):
        RunFactory(
            result=result,
            scenario=scenario,
            completed=True,
            success=ok,
            evaluation={"metrics": metrics},
            expected_outcome={"passed": ok},
        )
    c = signed_in(org)
    page = c.get(f"/results/{result.pk}/").content.decode()
    assert 'id="rerun"' in page and 'id="rescore"' in page
    # Re-score: in the background, the page following it.
    r = c.post(f"/results/{result.pk}/rescore/")
    assert r.status_code == 302 and sent == [result.pk]
    page = c.get(f"/results/{result.pk}/").content.decode()
    assert 'id="rescore-state" data-state="queued"' in page and "0/2" in page
    # Export: CSV, a row per run with every metric; JSON, what the API answers.
    rows = list(csv.reader(io.StringIO(c.get(f"/results/{result.pk}/export.csv").content.decode())))
    assert rows[0] == [
        "run",
        "scenario",
        "status",
        "success",
        "duration_s",
        "ended_reason",
        "why",
        "expected_outcome",
        "Latency",
        "Infrastructure Issues",
    ]
    assert [r[3] for r in rows[1:]] == ["pass", "fail"] and rows[1][8:] == ["812.0", "pass"]
    assert rows[2][6] == "completed, but did not pass"
    exported = c.get(f"/results/{result.pk}/export.json")
    assert exported["Content-Disposition"] == f'attachment; filename="result-{result.pk}.json"'
    assert exported.json()["id"] == result.pk and len(exported.json()["runs"]) == 2
    # Run again: the same scenarios × frequency as a new result, charged.
    r = c.post(f"/results/{result.pk}/rerun/")
    again = Result.objects.exclude(pk=result.pk).get()
    assert r["Location"] == f"/results/{again.pk}/"
    assert again.runs.count() == 2 and again.name == "nightly (again)"
    org.refresh_from_db()
    assert org.credits == 8


def test_a_spec_files_result_is_rerun_from_its_spec(org: Organization) -> None:
    agent = AgentFactory(organization=org)
    result = ResultFactory(agent=agent, status=Status.COMPLETED)
    RunFactory(result=result, scenario=None, case={"name": "Refund"}, scenario_key="refund")
    r = signed_in(org).post(f"/results/{result.pk}/rerun/", follow=True)
    assert "run the spec file again" in r.content.decode()
    assert Result.objects.count() == 1


def test_delete_and_duplicate_agents_and_scenarios(org: Organization) -> None:
    from test_framework.models import AIAgent, Metric, Scenario

    c = signed_in(org)
    used = AgentFactory(organization=org, agent_name="Used", agora_api_key="s3cret")
    metric = Metric.objects.create(organization=org, name="Polite", eval_type="binary")
    metric.agents.add(used)
    kept = ScenarioFactory(agent=used, name="Kept")
    RunFactory(result=ResultFactory(agent=used), scenario=kept)
    spare = ScenarioFactory(agent=used, name="Spare")
    # Duplicate: settings, secret and metrics, not history.
    r = c.post(f"/agents/{used.pk}/duplicate/")
    copy = AIAgent.objects.get(agent_name="Used (copy)")
    assert r["Location"] == f"/agents/{copy.pk}/"
    assert copy.agora_api_key == "s3cret" and list(copy.metrics.all()) == [metric]
    assert not copy.scenarios.exists()
    c.post(f"/scenarios/{kept.pk}/duplicate/")
    assert Scenario.objects.filter(name="Kept (copy)", agent=used).exists()
    # Delete: soft with history, hard without.
    c.post(f"/scenarios/{kept.pk}/delete/")
    c.post(f"/scenarios/{spare.pk}/delete/")
    assert Scenario.objects.get(pk=kept.pk).archived_at is not None
    assert not Scenario.objects.filter(pk=spare.pk).exists()
    listed = c.get("/scenarios/").content.decode()
    assert "Kept (copy)" in listed and ">Kept<" not in listed
    c.post(f"/agents/{used.pk}/delete/")
    c.post(f"/agents/{copy.pk}/delete/")
    assert AIAgent.objects.get(pk=used.pk).archived_at is not None
    assert not AIAgent.objects.filter(pk=copy.pk).exists()
    agents = c.get("/agents/").content.decode()
    assert ">Used<" not in agents
    assert "/results/" in c.get("/results/").content.decode()  # its results are still listed
    other = AgentFactory()
    assert c.post(f"/agents/{other.pk}/delete/").status_code == 404
    assert AIAgent.objects.filter(pk=other.pk, archived_at=None).exists()


def test_a_recording_downloads_as_a_file(org: Organization) -> None:
    import numpy as np
    from django.core.files.base import ContentFile

    from common.wav import stereo_wav

    run = RunFactory(result=ResultFactory(agent=AgentFactory(organization=org)), completed=True)
    silence = np.zeros(1600, np.int16)
    run.recording.save("r.wav", ContentFile(stereo_wav(silence, silence)))
    c = signed_in(org)
    assert 'id="download-recording"' in c.get(f"/runs/{run.pk}/").content.decode()
    r = c.get(f"/runs/{run.pk}/recording.wav", {"download": "1"})
    assert r["Content-Disposition"] == f'attachment; filename="run-{run.pk}.wav"'
    assert b"".join(r.streaming_content)[:4] == b"RIFF"


def test_personalities_page_creates_and_edits(org: Organization) -> None:
    from test_framework.models import Personality

    c = signed_in(org)
    assert "No personalities yet" in c.get("/personalities/").content.decode()
    form = {
        "name": "Hurried",
        "prompt": "In a hurry; answers in few words.",
        "speed": "1.3",
        "interruption_level": "medium",
        "background_noise": "street",
        "background_noise_snr_db": "10",
    }
    assert c.post("/personalities/new/", form).status_code == 302
    p = Personality.objects.get(organization=org)
    assert (p.speed, p.interruption_level, p.background_noise, p.backchannels) == (
        1.3,
        "medium",
        "street",
        False,
    )
    assert "street at 10 dB" in c.get("/personalities/").content.decode()
    page = c.post(f"/personalities/{p.pk}/", {**form, "speed": "3"}).content.decode()
    assert "Ensure this value is less than or equal to 2.0." in page
    c.post(f"/personalities/{p.pk}/", {**form, "name": "Rushed", "backchannels": "on"})
    p.refresh_from_db()
    assert p.name == "Rushed" and p.backchannels is True
    # It is offered in the run dialog.
    assert "Rushed" in c.get("/scenarios/").content.decode()
    other = Personality.objects.create(organization=AgentFactory().organization, name="x")
    assert c.get(f"/personalities/{other.pk}/").status_code == 404


def test_metrics_page_creates_rules_and_judges_and_attaches_them(org: Organization) -> None:
    from test_framework.models import Metric

    agent = AgentFactory(organization=org, agent_name="Clinic")
    scenario = ScenarioFactory(agent=agent, name="Booking")
    c = signed_in(org)
    rule = {
        "name": "Never says Monday",
        "type": "custom_code",
        "eval_type": "binary",
        "rule_match": "keyword",
        "rule_patterns": "Monday\nmonday's",
        "rule_speaker": "Main Agent",
        "rule_expect": "absent",
        "scenarios": [str(scenario.pk)],
    }
    assert c.post("/metrics/new/", rule).status_code == 302
    m = Metric.objects.get(organization=org)
    assert m.configuration == {
        "rule": {
            "match": "keyword",
            "patterns": ["Monday", "monday's"],
            "speaker": "Main Agent",
            "expect": "absent",
        }
    }
    assert list(m.scenarios.all()) == [scenario] and not m.agents.exists()
    assert m.slug == "never_says_monday"
    page = c.get("/metrics/").content.decode()
    assert "Never says Monday" in page and "Booking" in page
    # A judge without a question, a rule without patterns: the API's messages, nothing saved.
    page = c.post(
        "/metrics/new/", {"name": "Polite", "type": "llm_judge", "eval_type": "binary"}
    ).content.decode()
    assert "An llm_judge metric needs a prompt" in page
    page = c.post("/metrics/new/", {**rule, "name": "Empty", "rule_patterns": ""}).content.decode()
    assert 'class="error"' in page and Metric.objects.count() == 1
    # Edit: attach to the agent instead of the scenario.
    edit = c.get(f"/metrics/{m.pk}/").content.decode()
    assert "monday&#x27;s" in edit or "monday's" in edit
    c.post(f"/metrics/{m.pk}/", {**rule, "scenarios": [], "agents": [str(agent.pk)]})
    m.refresh_from_db()
    assert list(m.agents.all()) == [agent] and not m.scenarios.exists()
