from __future__ import annotations

from django.http import HttpRequest, JsonResponse


def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """A path under the API that names nothing: DRF's 404 body."""
    return JsonResponse({"detail": "Not found."}, status=404)
