"""Request body parsers of the API."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser (the browsable API's forms), refusing files: no operation takes one, and a file
    nobody reads should not be received silently."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        if parsed.files:
            raise ParseError("No operation of this API takes a file: send JSON.")
        return parsed


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser. JSON nested deeper than Python's recursion limit (``[[[[...``, a few hundred kilobytes)
    makes the standard library raise RecursionError, which is no ValueError: DRF would answer 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
