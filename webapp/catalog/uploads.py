"""An upload handler that refuses an annotation file as soon as its bytes pass IMPORT_MAX_UPLOAD_BYTES.

Why a handler: a form's size check runs after Django has received the whole file into memory or a temporary file.
This handler sits first in the chain and passes each chunk on to the storing handlers only while the total is within
the limit; past it, `SkipFile` makes Django drop what it holds and read the rest of that file without keeping it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_protect


def describe_size(n_bytes: int) -> str:
    """'200 MB', '64 KB', '900 bytes' (binary units): the limit as an admin set it."""
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n_bytes >= size and n_bytes % size == 0:
            return f"{n_bytes // size} {unit}"
    return f"{n_bytes} bytes"


class UploadLimit(FileUploadHandler):
    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.refused: str | None = None  # the field name of a refused file

    def new_file(self, field_name, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.refused = self.field_name
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler in the chain builds the file

    def message(self) -> str:
        return f"Annotation files over {describe_size(self.limit)}: use the import command instead."


def upload_form_view(
    form_view: Callable[[HttpRequest, UploadLimit], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """An upload form's view with `UploadLimit` first in the handler chain, then the CSRF check.

    Stack it under `@csrf_exempt` and the role decorators: the outer view is exempt only so the handler goes in
    before the CSRF check reads the body; `form_view` itself is CSRF-protected, so the check still runs.
    """
    protected = csrf_protect(form_view)

    @wraps(form_view)
    def view(request: HttpRequest) -> HttpResponse:
        limit = UploadLimit(request, settings.IMPORT_MAX_UPLOAD_BYTES)
        request.upload_handlers.insert(0, limit)
        return protected(request, limit)

    return view
