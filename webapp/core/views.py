"""Permission-checked media serving with Range support."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from webapp.core import storage
from webapp.core.decorators import curator_required
from webapp.core.ranges import ranged_file_response

# Only these top-level folders of the storage root are served to curators; checkpoints, uploads and
# exports are not media.
SERVED_PREFIXES = ("media/", "derived/")


@require_safe
@curator_required
def media(request: HttpRequest, path: str) -> HttpResponse:
    try:
        resolved = storage.resolve(path)
    except storage.UnsafePath:
        raise Http404("not a media path") from None
    if not storage.relative(resolved).startswith(SERVED_PREFIXES):  # checked after resolving `..`
        raise Http404("not a media path")
    if not resolved.is_file():
        raise Http404("no such media file")
    return ranged_file_response(request, resolved)
