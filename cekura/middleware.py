"""Request guards that hold for every view, API and dashboard alike."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL_MESSAGE = "Null characters are not allowed."


def reject_null_characters(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A NUL in a query parameter is a 400 before any view runs: PostgreSQL cannot hold one in
    a text column, so a filter carrying it would fail in the database (a 500), and no honest
    client sends one. Bodies are checked by their parser (cekura.parsers) and serializers."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if any(
            "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
        ):
            if request.path.startswith(("/test_framework/", "/api/")):
                return JsonResponse({"detail": NUL_MESSAGE}, status=400)
            return HttpResponseBadRequest(NUL_MESSAGE)
        return get_response(request)

    return middleware
