"""The page behind a share link: anyone with the link reads the linked results (runs,
transcripts, metrics, recordings) and nothing else of the organization, until the link
expires or is revoked; then, as for an unknown token, 404."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cekura.ranged import stored_file_response

from .. import selectors
from ..models import ShareLink

# The token is in the path: keep it out of other sites' logs (Referer), caches and indexes.
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


def _link(token: str) -> ShareLink:
    link = selectors.share_link_open(token=token)
    if link is None:
        raise Http404("This link does not exist, has expired or was revoked.")
    return link


def _with_headers(response: HttpResponseBase) -> HttpResponseBase:
    for name, value in PRIVATE_HEADERS.items():
        response[name] = value
    return response


@require_GET
def share_page(request: HttpRequest, token: str) -> HttpResponseBase:
    link = _link(token)
    runs_by_result: dict[int, list[dict[str, Any]]] = {}
    for run in selectors.share_link_runs(link=link).order_by("id"):
        runs_by_result.setdefault(run.result_id, []).append(
            {
                "run": run,
                "metrics": (run.evaluation or {}).get("metrics", []),
                "ended_reason": run.ended_reason,
                "transcript": run.transcript_object or [],
            }
        )
    results = [
        {"result": r, "counts": selectors.result_progress(r), "runs": runs_by_result.get(r.pk, [])}
        for r in link.results.order_by("id")
    ]
    return _with_headers(
        render(request, "dashboard/share.html", {"link": link, "token": token, "results": results})
    )


@require_GET
def share_recording(request: HttpRequest, token: str, run_id: int) -> HttpResponseBase:
    link = _link(token)
    run = selectors.share_link_runs(link=link).filter(pk=run_id).first()
    if run is None or not run.recording:
        raise Http404("This run has no recording.")
    return _with_headers(
        stored_file_response(request, run.recording, "audio/wav", f"run-{run.pk}.wav")
    )
