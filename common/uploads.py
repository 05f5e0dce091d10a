"""What the portal accepts as a file, and how it hands a stored file back.

Three layers, the outermost first:

- :class:`RequestSizeLimitMiddleware` refuses a request whose body is larger than any form or API call needs
  (413), before anything reads it: a form's fields and the API's JSON are at most ``DATA_UPLOAD_MAX_MEMORY_SIZE``
  (DRF reads JSON past Django's own check of that setting), a form with a file at most about twice
  ``UPLOAD_MAX_BYTES``.
- :class:`SizeLimitedUploadHandler` stops keeping a file once it passes ``UPLOAD_MAX_BYTES``, in memory or on
  disk. The form still receives a contentless file of the true size, so it says "too large" next to the field
  and keeps what else was typed.
- :func:`check_attachment` decides what a meeting attachment may be: a document, slides, a picture, a table or
  an archive whose content is what its name says; never a web page, an image that can hold script (SVG), or a
  program.

:func:`download_response` serves a stored file back as a download that no browser renders or runs in the
portal's origin.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header, parse_header_parameters


def size_text(count: int) -> str:
    """``10 MB``, ``2.5 MB``, ``512 KB``: sizes as people read them (binary units, as the settings are)."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= factor:
            return f"{count / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


# --- the whole request -----------------------------------------------------------------------------------------
def body_limit(content_type: str) -> int | None:
    """The largest body a request of this media type may have, or None for no limit
    (DATA_UPLOAD_MAX_MEMORY_SIZE = None)."""
    fields = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if content_type == "multipart/form-data":
        # Room for a file somewhat over the limit, so that the form (not this refusal) says it is too large.
        return 2 * settings.UPLOAD_MAX_BYTES + (fields or 0)
    return fields


def max_request_bytes(request: HttpRequest) -> int | None:
    """The largest body this request may have, or None for no limit."""
    return body_limit(request.content_type)


def _length(declared: str | None) -> int:
    try:
        return int(declared or 0)
    except ValueError:
        return 0


class RequestSizeLimitMiddleware:
    """Refuses (413) a request whose declared body is larger than :func:`max_request_bytes`, unread.

    Django reads no body without a Content-Length, so the declared length is the most that can be read. The
    refusal must also close the connection (:func:`close_if_refused_unread`, where gunicorn can be told).
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        limit = max_request_bytes(request)
        if limit is not None and _length(request.META.get("CONTENT_LENGTH")) > limit:
            return request_too_large(request, limit)
        return self.get_response(request)


def close_if_refused_unread(req: Any) -> None:
    """gunicorn's ``pre_request`` hook (gunicorn.conf.py): a request that :class:`RequestSizeLimitMiddleware`
    will refuse unread is answered with ``Connection: close``, and the connection is closed.

    Otherwise gunicorn answers ``Connection: keep-alive``, then reads and drops at most 64 KiB of the unread
    body and, when more is left, closes the connection it said it would keep: a proxy that sends the next
    request on that connection gets an error. The application cannot say it in the response: gunicorn drops a
    Connection header that an application sets (a hop-by-hop header, which WSGI leaves to the server), so the
    request is marked here, before it reaches Django, by the same rule the middleware applies.
    """
    headers = dict(req.headers)  # gunicorn gives the names in upper case
    content_type, _ = parse_header_parameters(headers.get("CONTENT-TYPE", ""))
    limit = body_limit(content_type)
    if limit is not None and _length(headers.get("CONTENT-LENGTH")) > limit:
        req.force_close()


def request_too_large(request: HttpRequest, limit: int) -> HttpResponse:
    if request.content_type == "multipart/form-data":
        message = (
            f"The file is larger than the portal accepts (at most {size_text(settings.UPLOAD_MAX_BYTES)}); "
            "nothing was saved."
        )
    else:
        message = (
            f"The request is larger than the portal accepts (at most {size_text(limit)}); nothing was saved."
        )
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=413)
    return render(request, "common/request_too_large.html", {"message": message}, status=413)


# --- one file ----------------------------------------------------------------------------------------------------
class TooLargeUpload(UploadedFile):
    """A file that was over ``UPLOAD_MAX_BYTES``: its name and true size, none of its content."""

    def __init__(self, name: str, content_type: str, size: int) -> None:
        super().__init__(io.BytesIO(), name=name, content_type=content_type, size=size)


class SizeLimitedUploadHandler(FileUploadHandler):
    """First of the upload handlers: passes a file on to Django's (memory, then temporary file) while it is
    within ``UPLOAD_MAX_BYTES``; past that, passes nothing more and hands the form a :class:`TooLargeUpload`."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received = start + len(raw_data)
        if self.received > settings.UPLOAD_MAX_BYTES:
            return None  # the handlers after this one get no more of it
        return raw_data

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if self.received > settings.UPLOAD_MAX_BYTES:
            return TooLargeUpload(self.file_name or "", self.content_type or "", self.received)
        return None  # within the limit: the next handler's file


def check_size(upload: UploadedFile, limit: int | None = None) -> None:
    """Refuse a file larger than ``limit`` (default ``UPLOAD_MAX_BYTES``), saying how large it is."""
    limit = settings.UPLOAD_MAX_BYTES if limit is None else min(limit, settings.UPLOAD_MAX_BYTES)
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            f"The file is too large ({size_text(upload.size)}): at most {size_text(limit)}.", code="too_large"
        )


# --- what a meeting attachment may be -----------------------------------------------------------------------
ZIP = (b"PK\x03\x04",)  # Office Open XML and OpenDocument files are zip archives
OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)  # the older Office formats


@dataclass(frozen=True)
class FileType:
    """A kind of file a meeting attachment may be: what it is called, the Content-Type it is served with, and
    how its content must start (empty: text, which must not be markup, a script or binary)."""

    what: str
    content_type: str
    starts_with: tuple[bytes, ...] = ()


ATTACHMENT_TYPES: dict[str, FileType] = {
    "pdf": FileType("a PDF document", "application/pdf", (b"%PDF-",)),
    "pptx": FileType(
        "a PowerPoint presentation",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ZIP,
    ),
    "ppt": FileType("a PowerPoint presentation", "application/vnd.ms-powerpoint", OLE),
    "docx": FileType(
        "a Word document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ZIP
    ),
    "doc": FileType("a Word document", "application/msword", OLE),
    "xlsx": FileType(
        "an Excel workbook", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ZIP
    ),
    "xls": FileType("an Excel workbook", "application/vnd.ms-excel", OLE),
    "odp": FileType("an OpenDocument presentation", "application/vnd.oasis.opendocument.presentation", ZIP),
    "odt": FileType("an OpenDocument text", "application/vnd.oasis.opendocument.text", ZIP),
    "ods": FileType("an OpenDocument spreadsheet", "application/vnd.oasis.opendocument.spreadsheet", ZIP),
    "png": FileType("a PNG picture", "image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": FileType("a JPEG picture", "image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": FileType("a JPEG picture", "image/jpeg", (b"\xff\xd8\xff",)),
    "gif": FileType("a GIF picture", "image/gif", (b"GIF87a", b"GIF89a")),
    "zip": FileType("a zip archive", "application/zip", ZIP),
    "gz": FileType("a gzip archive", "application/gzip", (b"\x1f\x8b",)),
    "tgz": FileType("a gzip archive", "application/gzip", (b"\x1f\x8b",)),
    "txt": FileType("a text file", "text/plain; charset=utf-8"),
    "md": FileType("a Markdown text", "text/markdown; charset=utf-8"),
    "csv": FileType("a CSV table", "text/csv; charset=utf-8"),
    "json": FileType("a JSON file", "application/json"),
}
# A text that starts like one of these is a web page, a picture that can hold script, or a program.
MARKUP_OR_SCRIPT = (b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<svg", b"<?xml", b"#!")
HEAD_BYTES = 1024


def extension_of(file_name: str) -> str:
    return file_name.rsplit(".", 1)[1].lower() if "." in file_name.strip(".") else ""


def check_attachment(upload: UploadedFile) -> FileType:
    """The kind of file an uploaded attachment is; ValidationError (saying why) if it may not be attached."""
    check_size(upload)
    name = upload.name or ""
    extension = extension_of(name)
    kind = ATTACHMENT_TYPES.get(extension)
    if kind is None:
        accepted = ", ".join(f".{ext}" for ext in ATTACHMENT_TYPES)
        found = f"a .{extension} file is not" if extension else "a file name without an extension is not"
        raise ValidationError(
            f"Attach a document, slides, a picture, a table or an archive ({accepted}); {found} accepted.",
            code="file_type",
        )
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    if kind.starts_with:
        if not head.startswith(kind.starts_with):
            raise ValidationError(
                f"This file is not {kind.what}, though its name ends in .{extension}.", code="file_content"
            )
    elif b"\0" in head or head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(MARKUP_OR_SCRIPT):
        raise ValidationError(
            f"This file is not {kind.what}: it holds a web page, a script or a program.", code="file_content"
        )
    return kind


# --- handing a stored file back -------------------------------------------------------------------------------
def served_content_type(file_name: str) -> str:
    """The Content-Type a stored file is served with: by its name, from the accepted types only. Whatever
    the uploader's browser claimed (text/html, image/svg+xml) is never served back."""
    kind = ATTACHMENT_TYPES.get(extension_of(file_name))
    return kind.content_type if kind else "application/octet-stream"


def download_response(content: bytes, file_name: str) -> HttpResponse:
    """A stored file as a download: never shown inline, never sniffed, and sandboxed should a browser render it
    anyway; kept by no shared cache (only logged-in members may read it)."""
    response = HttpResponse(content, content_type=served_content_type(file_name))
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=file_name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    patch_cache_control(response, private=True)
    return response
