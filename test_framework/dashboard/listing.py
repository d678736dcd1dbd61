"""Lists that scale: the dashboard's results, runs and scenarios pages filter on the server
(agent, status, dates, name, spec key, a search box) and show one page at a time, with the
count of what matched. The filters are GET parameters, so a filtered page is a link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from ..choices import Status

PER_PAGE = 25


@dataclass
class Listing:
    page: Page[Any]
    count: int
    filters: dict[str, str]  # the filters in force, as given (for the form and the links)
    problems: list[str]

    @property
    def rows(self) -> list[Any]:
        return list(self.page.object_list)

    def link(self, page: int) -> str:
        """The query string of another page with the same filters."""
        return "?" + urlencode({**{k: v for k, v in self.filters.items() if v}, "page": page})

    @property
    def previous_link(self) -> str:
        return self.link(self.page.previous_page_number()) if self.page.has_previous() else ""

    @property
    def next_link(self) -> str:
        return self.link(self.page.next_page_number()) if self.page.has_next() else ""

    @property
    def first_link(self) -> str:
        return self.link(1) if self.page.number > 2 else ""

    @property
    def last_link(self) -> str:
        last = self.page.paginator.num_pages
        return self.link(last) if self.page.number < last - 1 else ""

    @property
    def filtered(self) -> bool:
        return any(self.filters.values())


def _day(raw: str, name: str, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"{name}: not a date (use YYYY-MM-DD).")
        return None


def _agent(raw: str, problems: list[str]) -> int | None:
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    problems.append("agent: choose one from the list.")
    return None


def paginate(
    request: HttpRequest, qs: QuerySet[Any], filters: dict[str, str], problems: list[str]
) -> Listing:
    paginator = Paginator(qs, PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))  # out of range or junk: the nearest page
    return Listing(page, paginator.count, filters, problems)


def _given(request: HttpRequest, *names: str) -> dict[str, str]:
    return {n: request.GET.get(n, "").strip()[:200] for n in names}


STATUSES = [s.value for s in Status]


def _number(raw: str) -> int | None:
    """A row's number as a person types it ("42" or "#42"), or None."""
    digits = raw.lstrip("#")
    return int(digits) if digits.isdigit() else None


def _common(qs: QuerySet[Any], f: dict[str, str], problems: list[str], day: str) -> QuerySet[Any]:
    """The filters results and runs share: agent, status, and from / to on the `day` field."""
    if (agent := _agent(f["agent"], problems)) is not None:
        qs = qs.filter(agent_id=agent)
    if f["status"]:
        if f["status"] in STATUSES:
            qs = qs.filter(status=f["status"])
        else:
            problems.append("status: choose one from the list.")
    if (start := _day(f["from"], "from", problems)) is not None:
        qs = qs.filter(**{f"{day}__date__gte": start})
    if (end := _day(f["to"], "to", problems)) is not None:
        qs = qs.filter(**{f"{day}__date__lte": end})
    return qs


def results(request: HttpRequest, qs: QuerySet[Any]) -> Listing:
    """Results, newest first: q (name or id), agent, status, from / to (start date), key (a
    spec case's key among its runs)."""
    f = _given(request, "q", "agent", "status", "from", "to", "key")
    problems: list[str] = []
    if f["q"]:
        by_name = Q(name__icontains=f["q"]) | Q(agent_name__icontains=f["q"])
        number = _number(f["q"])
        qs = qs.filter(by_name | Q(pk=number)) if number is not None else qs.filter(by_name)
    qs = _common(qs, f, problems, "created_at")
    if f["key"]:
        qs = qs.filter(runs__scenario_key=f["key"]).distinct()
    return paginate(request, qs.order_by("-id"), f, problems)


def runs(request: HttpRequest, qs: QuerySet[Any]) -> Listing:
    """Runs, newest first: q (scenario name), agent, status, result, from / to, key."""
    f = _given(request, "q", "agent", "status", "result", "from", "to", "key")
    problems: list[str] = []
    if f["q"]:
        qs = qs.filter(Q(scenario__name__icontains=f["q"]) | Q(case__name__icontains=f["q"]))
    qs = _common(qs, f, problems, "timestamp")
    if f["result"]:
        if (number := _number(f["result"])) is not None:
            qs = qs.filter(result_id=number)
        else:
            problems.append("result: a result's number.")
    if f["key"]:
        qs = qs.filter(scenario_key=f["key"])
    return paginate(request, qs.order_by("-id"), f, problems)


def scenarios(request: HttpRequest, qs: QuerySet[Any]) -> Listing:
    """Scenarios, in the order they were made: q (name or expected outcome), agent, type."""
    f = _given(request, "q", "agent", "type")
    problems: list[str] = []
    if f["q"]:
        qs = qs.filter(Q(name__icontains=f["q"]) | Q(expected_outcome_prompt__icontains=f["q"]))
    if (agent := _agent(f["agent"], problems)) is not None:
        qs = qs.filter(agent_id=agent)
    if f["type"]:
        qs = qs.filter(scenario_type=f["type"])
    return paginate(request, qs.order_by("id"), f, problems)
