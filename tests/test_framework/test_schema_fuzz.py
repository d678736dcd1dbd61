"""schemathesis over our own OpenAPI schema: generated requests to every v1 operation, sent to
the Django app in-process with a valid API key, over the whole schema (every alias included). No
answer may be a 5xx, every status code answered must be documented, and every answer must match
its schema. The same views answer under three prefixes (v1, v1's -external names, v2): the first
operation of each view is searched at EXAMPLES, its aliases at ALIAS_EXAMPLES (their routing
and schema are still checked, their shared serializers are not searched three times over)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from cekura.accounts.services import api_key_create
from tests.factories import AgentFactory, ScenarioFactory

pytestmark = pytest.mark.slow  # tens of seconds of CPU: make test, not make test-fast

# Per operation; CEKURA_FUZZ_EXAMPLES=200 for a deeper search by hand (about 4 minutes).
EXAMPLES = int(os.environ.get("CEKURA_FUZZ_EXAMPLES", "8"))
ALIAS_EXAMPLES = min(EXAMPLES, 2)


def view_of(path: str) -> str:
    """The operation's path with its alias prefix taken away: one name per view."""
    return path.replace("-external/", "/").replace("/v2/", "/v1/")


@pytest.fixture
def api_schema(db: Any, settings: Any) -> Iterator[Any]:
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    settings.API_RATE_LIMITS = {"api": None, "launch": None}
    cache.clear()
    # As Django's test client does: the test's own transaction outlives each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def key(db: Any, monkeypatch: Any) -> str:
    agent = AgentFactory()
    ScenarioFactory(agent=agent, organization=agent.organization)
    # Launches are accepted and queued; no worker runs them here.
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    return api_key_create(organization=agent.organization)[1]


def test_no_operation_answers_5xx_or_off_schema(api_schema: Any, key: str) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    failures = []
    searched: set[tuple[str, str]] = set()
    for operation in operations:
        view = (operation.method.upper(), view_of(operation.path))
        examples = ALIAS_EXAMPLES if view in searched else EXAMPLES
        searched.add(view)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def probe(case: Any) -> None:
            case.call_and_validate(
                headers={"X-CEKURA-API-KEY": key},
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )

        try:
            probe()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert len(searched) < len(operations)  # aliases were recognised as such
    assert not failures, "\n\n".join(failures)
