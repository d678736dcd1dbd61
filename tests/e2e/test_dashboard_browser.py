"""The dashboard in a real browser (Debian's Chromium driven by Playwright): sign in,
configure an Agora agent and test its endpoint, write a scenario, run it against the demo
agent through a real worker, watch it complete, open the run, play the audio and seek from
the transcript. Screenshots of each page, at desktop and phone width, are kept as artifacts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from cekura.accounts.services import user_create
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CHROMIUM = os.environ.get("CEKURA_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = (
    Path(
        os.environ.get(
            "CEKURA_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
        )
    )
    / "dashboard"
)
PASSWORD = "a-long-enough-passphrase-42"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser(monkeypatch: Any) -> Iterator[Any]:
    # Playwright's sync API keeps an event loop on this thread, so Django takes the ORM calls
    # the test makes in between for async code (allowed here), and gives them a database
    # connection of their own (asgiref's Local keeps it in a context variable, not the
    # thread's): closed below, while that loop still runs, or it outlives the session and the
    # test database cannot be dropped.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run "
            "does"
        )
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield b
        from django.db import connections

        connections.close_all()
        b.close()


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def until(page: Any, expression: str, timeout: float = 20.0) -> None:
    """Wait until `expression` is true in the page. (Playwright's wait_for_function builds its
    predicate with eval, which the dashboard's Content-Security-Policy refuses; evaluate does
    not.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.1)


def fits_phone(browser: Any, base: str, storage: Any, path: str, name: str) -> None:
    """The page at phone width: no sideways scrolling, and a screenshot."""
    ctx = browser.new_context(viewport=PHONE, storage_state=storage)
    page = ctx.new_page()
    page.goto(base + path)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    shoot(page, f"phone-{name}")
    ctx.close()
    assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at phone width"


def test_configure_run_watch_and_listen(
    browser: Any, live_server: Any, worker_stack: Any, settings: Any
) -> None:
    stack, tmp = worker_stack
    org = OrganizationFactory(credits=10)
    user_create(username="ada", password=PASSWORD, organization=org)
    base = live_server.url
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)

    # Sign in.
    page.goto(base + "/results/")
    assert "/login/" in page.url
    shoot(page, "01-login")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/results/")

    # Agents: the provider grid, then the Agora form, then Test endpoint.
    page.click("text=Agents")
    page.click("text=New agent")
    shoot(page, "02-providers")
    page.click("[data-provider=agora]")
    page.fill("input[name=agent_name]", "Sunny Clinic")
    page.fill("input[name=session_endpoint_url]", stack.endpoint_url)
    page.fill("input[name=client_id]", DEMO_CLIENT_ID)
    page.fill("input[name=secret]", DEMO_SECRET)
    assert page.input_value("select[name=request_method]") == "POST"
    assert page.input_value("input[name=auth_header_name]") == "X-Cekura-Secret"
    assert page.input_value("input[name=join_uid]") == "1"
    page.click("text=Save agent")
    page.wait_for_selector("text=Test endpoint")
    assert page.text_content("[data-secret-state]") == "set"
    assert DEMO_SECRET not in page.content()
    page.click("#test-endpoint")
    page.wait_for_selector("#findings")
    assert "the endpoint is ready for runs." in page.text_content("#test-verdict")
    shoot(page, "03-agent")

    # A scenario, then Run from the list through the Configure Run dialog.
    page.click("text=Scenarios")
    page.click("text=New scenario")
    page.select_option("select[name=scenario_type]", "conditional_actions")
    page.fill("input[name=name]", "Booking")
    page.fill("input[name=first_message]", "Hi, I would like to book an appointment.")
    page.fill("input[name=step_when]", "asks for a day")
    page.fill("input[name=step_say]", "Thursday would be great.")
    page.fill("textarea[name=expected_outcome_prompt]", 'Books it: "appointment is on Thursday".')
    page.click("text=Save scenario")
    page.wait_for_selector("#scenario-table")
    page.check("input.pick")
    page.click("#run-selected")
    assert page.is_visible("#voice-webrtc") and "WebRTC" in page.text_content("#voice-webrtc")
    assert page.text_content("#run-dialog legend") == "VOICE"
    # The repetitions hint answers for the frequency typed.
    page.fill("#run-frequency", "20")
    page.wait_for_selector("#power-answer >> text=With frequency 20")
    assert "runs per scenario in both results" in page.text_content("#power-answer")
    page.fill("#run-frequency", "1")
    shoot(page, "04-configure-run")
    page.fill("#run-dialog input[name=name]", "browser run")
    page.click("#run-start")
    page.wait_for_url("**/results/*/")
    shoot(page, "05-result-running")

    # Live progress: the page follows the run to its end without a manual reload.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if page.text_content("[data-field=status]") in (
            "completed",
            "failed",
            "cancelled",
            "timeout",
        ):
            break
        assert stack.alive(), (tmp / "logs" / "worker.log").read_text()[-3000:]
        time.sleep(1)
    else:
        pytest.fail("the run did not end:\n" + (tmp / "logs" / "worker.log").read_text()[-3000:])
    page.wait_for_selector("text=Runs")
    assert page.text_content("[data-field=status]") == "completed"
    assert page.text_content("[data-field=progress]") == "1/1"
    page.wait_for_selector("#latency-plot")
    shoot(page, "06-result-done")

    # The run: status, run type, ended reason, metrics, transcript synchronised with audio.
    page.click("table.list a[href^='/runs/']")
    page.wait_for_selector("#transcript li")
    facts = page.text_content("#run-facts")
    assert "completed" in facts and "Agora" in facts and "agent-ended-call" in facts
    assert "Latency" in page.text_content("table.metrics")
    until(page, "document.querySelector('#audio').readyState >= 1")
    duration = page.evaluate("document.querySelector('#audio').duration")
    lines = page.query_selector_all("#transcript li")
    assert len(lines) >= 4 and duration > 5
    target = lines[2]
    start = float(target.get_attribute("data-start"))
    target.click()
    until(page, f"Math.abs(document.querySelector('#audio').currentTime - {start}) < 1.5")
    # The clicked line is the one highlighted while it plays (the server answers byte ranges,
    # so the seek lands at once).
    page.wait_for_selector(
        f'#transcript li.playing[data-start="{target.get_attribute("data-start")}"]'
    )
    assert len(page.query_selector_all("#transcript li.playing")) == 1
    # The waveform was drawn from both tracks.
    assert page.evaluate(
        "(() => { const c = document.getElementById('waveform'); return c.width > 0; })()"
    )
    shoot(page, "07-run")
    run_path = page.url.replace(base, "")

    # Compare the result with itself: nothing changed.
    page.goto(base + "/results/")
    page.click("#compare-link")
    page.select_option("select[name=baseline]", index=1)
    page.select_option("select[name=candidate]", index=1)
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare-table")
    assert "no clear change" in page.text_content("#compare-table")
    shoot(page, "08-compare")

    # The agent's trend: its one result on the chart, the comparison a click away.
    page.goto(base + "/agents/")
    page.click("text=Trends")
    page.wait_for_selector("#pass-trend")
    assert "browser run" in page.text_content("#trend-table")
    shoot(page, "08b-trends")

    # A schedule, read back in words; a webhook, its secret never shown.
    page.click("text=Schedules")
    page.fill("#schedule-form input[name=name]", "Weekday mornings")
    page.fill("#schedule-form input[name=expression]", "0 9 * * 1-5")
    page.fill("#schedule-form input[name=timezone]", "Europe/Berlin")
    page.click("text=Create schedule")
    page.wait_for_selector("text=At 09:00, Monday through Friday (Europe/Berlin)")
    shoot(page, "09-schedules")
    page.click("text=Webhooks")
    page.fill("#webhook-form input[name=url]", "https://hooks.example.com/cekura")
    page.fill("#webhook-form input[name=secret]", "whsec-browser")
    page.click("text=Add webhook")
    page.wait_for_selector("#webhooks-table >> text=https://hooks.example.com/cekura")
    assert "whsec-browser" not in page.content()
    shoot(page, "10-webhooks")

    storage = ctx.storage_state()
    for path, name in (
        ("/results/", "results"),
        ("/scenarios/", "scenarios"),
        ("/agents/", "agents"),
        ("/keys/", "keys"),
        ("/schedules/", "schedules"),
        ("/webhooks/", "webhooks"),
        ("/results/compare/", "compare"),
        (run_path, "run"),
    ):
        fits_phone(browser, base, storage, path, name)
    ctx.close()


@pytest.mark.e2e(stack=False)  # a browser and the live server only: no stack of processes
def test_daily_use(browser: Any, live_server: Any) -> None:
    """What a person meets on the first day, without a call: long lists, a result that failed,
    credits running out, a refresh after creating a key, a stale link, the phone."""
    from cekura.accounts.models import ApiKey
    from common.vocabulary import EndedReason
    from test_framework.choices import Status
    from tests.factories import AgentFactory, ResultFactory, RunFactory, ScenarioFactory

    org = OrganizationFactory(credits=1)
    user_create(username="ada", password=PASSWORD, organization=org)
    agent = AgentFactory(organization=org, agent_name="Clinic")
    scenarios = [ScenarioFactory(agent=agent, name=f"Case {i}") for i in range(2)]
    results = [ResultFactory(agent=agent, name=f"nightly {i}", finished=True) for i in range(105)]
    broken = results[-1]
    for _ in range(2):
        RunFactory(
            result=broken,
            scenario=scenarios[0],
            status=Status.FAILED,
            success=False,
            ended_reason=EndedReason.CALL_NOT_CONNECTED,
            error_message="the agent did not join the channel within 20 s",
        )
    base = live_server.url
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    page.goto(base + "/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/results/")

    # 105 results: 25 to a page, the oldest reached through the pager.
    assert "105 results · page 1 of 5" in page.text_content("#list-count")
    assert page.text_content("#credits").strip() == "1 credit"
    page.click("#last-page")
    page.wait_for_selector("text=page 5 of 5")
    assert page.is_visible(f"text=nightly 0 #{results[0].pk}")
    shoot(page, "11-results-last-page")

    # The result whose runs all failed says why, in words, and reads failed.
    page.goto(base + f"/results/{broken.pk}/")
    why = page.text_content("#why-failed")
    assert "2 runs: the agent never joined the channel." in " ".join(why.split())
    assert page.text_content("#results-table [data-field=status]") == "failed"
    assert page.is_visible("#why-failed >> text=Test endpoint")
    shoot(page, "12-result-failed")

    # The run dialog: the cost, and Start disabled with the shortfall at 1 credit.
    page.goto(base + "/scenarios/")
    page.check("#select-all")
    page.click("#run-selected")
    page.fill("#run-frequency", "2")
    assert "4 runs" in page.text_content("#run-cost")
    assert page.is_disabled("#run-start")
    assert "Needs 4 credits, you have 1." in " ".join(page.text_content("#run-short").split())
    shoot(page, "13-run-dialog-short")
    page.click("#run-cancel")

    # A refresh after creating a key makes no second key; Revoke asks first.
    page.goto(base + "/keys/")
    page.fill("input[name=name]", "ci")
    page.click("text=Create key")
    page.wait_for_selector("#new-key")
    page.reload()
    assert ApiKey.objects.filter(organization=org).count() == 1
    assert not page.is_visible("#new-key")  # shown once
    page.once("dialog", lambda d: d.dismiss())
    page.click("text=Revoke")
    assert ApiKey.objects.get(organization=org).revoked_at is None
    page.once("dialog", lambda d: d.accept())
    page.click("text=Revoke")
    page.wait_for_selector("text=revoked")
    assert ApiKey.objects.get(organization=org).revoked_at is not None

    # Scripted steps as two fields, rows added with a button.
    page.goto(base + "/scenarios/new/")
    page.fill("input[name=name]", "Reschedule")
    page.select_option("select[name=scenario_type]", "conditional_actions")
    assert not page.is_visible("textarea[name=instructions]")
    page.fill("input[name=first_message]", "Hi, I need to move my appointment.")
    page.fill("#step-rows li:nth-child(1) input[name=step_when]", "asks which day")
    page.fill("#step-rows li:nth-child(1) input[name=step_say]", "Tuesday, please.")
    page.click("#add-step")
    page.fill("#step-rows li:nth-child(2) input[name=step_say]", "Thanks, goodbye.")
    page.fill("textarea[name=expected_outcome_prompt]", "Moves it to Tuesday")
    shoot(page, "15-scripted-steps")
    page.click("text=Save scenario")
    page.wait_for_selector("#scenario-table")
    from test_framework.models import Scenario

    steps = Scenario.objects.get(name="Reschedule").conditional_actions["conditions"]
    assert [(x["condition"], x["action"]) for x in steps] == [
        ("asks which day", "Tuesday, please."),
        ("", "Thanks, goodbye."),
    ]
    # A metric of one's own, attached to that scenario.
    page.click("header >> text=Metrics")
    page.click("text=New metric")
    page.fill("input[name=name]", "Never says Monday")
    page.select_option("select[name=type]", "custom_code")
    page.fill("textarea[name=rule_patterns]", "Monday")
    page.select_option("select[name=rule_expect]", "absent")
    page.check("text=Reschedule (Clinic)")
    page.click("text=Save metric")
    page.wait_for_selector("#metrics-table >> text=Never says Monday")
    assert "Reschedule" in page.text_content("#metrics-table")

    # A stale link: our page, not a debug page.
    page.goto(base + "/results/999999/")
    assert page.is_visible("#error-page") and "URLconf" not in page.content()
    shoot(page, "14-not-found")

    for path, name in (  # every other page, at desktop width
        ("/runs/", "16-runs"),
        ("/credits/", "17-credits"),
        ("/personalities/", "18-personalities"),
        ("/metrics/", "19-metrics"),
        (f"/agents/{agent.pk}/trends/", "20-trends"),
    ):
        page.goto(base + path)
        shoot(page, name)
    storage = ctx.storage_state()
    for path, name in (
        ("/runs/", "runs"),
        (f"/results/{broken.pk}/", "result-failed"),
        ("/credits/", "credits"),
        (f"/agents/{agent.pk}/trends/", "trends"),
        (f"/agents/{agent.pk}/", "agent"),
        ("/results/999999/", "not-found"),
        ("/metrics/", "metrics"),
        ("/metrics/new/", "metric-new"),
        ("/personalities/", "personalities"),
        ("/personalities/new/", "personality-new"),
        ("/agents/new/", "providers"),
        ("/scenarios/new/", "scenario-new"),
    ):
        fits_phone(browser, base, storage, path, name)
    ctx.close()
