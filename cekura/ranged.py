"""File responses that honour a single HTTP byte range, so a browser can seek in a recording
before it has downloaded all of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def _chunks(handle: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    handle.seek(start)
    left = length
    try:
        while left > 0:
            data = handle.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        handle.close()


def ranged_file_response(
    request: HttpRequest, handle: IO[bytes], size: int, content_type: str, filename: str
) -> HttpResponseBase:
    """200 with the whole file, or 206 with the asked range (416 when it lies outside)."""
    header = request.headers.get("Range", "")
    match = _RANGE.match(header.strip())
    if not match or not (match.group(1) or match.group(2)):
        whole = FileResponse(handle, content_type=content_type, filename=filename)
        whole["Accept-Ranges"] = "bytes"
        return whole
    first, last = match.group(1), match.group(2)
    if first:
        start, end = int(first), int(last) if last else size - 1
    else:  # a suffix: the last N bytes
        start, end = max(size - int(last), 0), size - 1
    end = min(end, size - 1)
    if start >= size or start > end:
        handle.close()
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    response = StreamingHttpResponse(
        _chunks(handle, start, end - start + 1), status=206, content_type=content_type
    )
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def stored_file_response(
    request: HttpRequest, stored: FieldFile, content_type: str, filename: str
) -> HttpResponseBase:
    """A stored file (a recording), whole or by range; 404 when storage has lost it."""
    try:
        handle = stored.open("rb")
        size = stored.size
    except FileNotFoundError:
        raise Http404("This run's recording file is missing from storage.") from None
    return ranged_file_response(request, handle, size, content_type, filename)
