"""Error pages of the product's own: a person who follows a stale link or an unknown id sees a
page that says what happened and where to go, never Django's debug page (which lists every
URL pattern) — whatever DEBUG says. The API keeps its JSON bodies ({"detail": …})."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

API_PREFIXES = ("/test_framework/", "/api/", "/schedules/v")

PAGES = {
    400: ("Bad request", "The request could not be read. Go back and try again."),
    403: (
        "Not allowed",
        "You are signed in, but this page or action is not open to you. If you followed a "
        "link, it may belong to another organization.",
    ),
    404: (
        "Not found",
        "There is nothing here: the address is wrong, or what it named was deleted or belongs "
        "to another organization.",
    ),
    500: (
        "Something went wrong on our side",
        "The error was logged. Try again in a moment; if it keeps happening, tell your "
        "operator what you did.",
    ),
}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def error_page(request: HttpRequest, status: int) -> HttpResponse:
    title, message = PAGES[status]
    if is_api(request):
        response: HttpResponse = JsonResponse({"detail": title + "."}, status=status)
    else:
        # Rendered without the request's context processors: a 500 may come from them.
        html = render_to_string(
            "dashboard/error.html",
            {
                "status": status,
                "title": title,
                "message": message,
                "signed_in": _signed_in(request),
            },
        )
        response = HttpResponse(html, status=status)
    response.friendly = True  # type: ignore[attr-defined]
    return response


def _signed_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    try:
        return bool(user is not None and user.is_authenticated)
    except Exception:  # the session store is what failed
        return False


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    return error_page(request, 500)


def friendly_errors(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """With DEBUG on, Django answers 404s, 403s and 500s with its debug pages instead of the
    handlers above: swap them for ours on every page but the API's (which answers JSON)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if (
            settings.DEBUG
            and response.status_code in (403, 404, 500)
            and not getattr(response, "friendly", False)
            and "text/html" in response.get("Content-Type", "")
            and not is_api(request)
        ):
            return error_page(request, response.status_code)
        return response

    return middleware
