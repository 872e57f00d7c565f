"""The API's JSON parser: a body nested too deeply for Python's parser is a bad request, not a 500."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser


class JSONParser(DRFJSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            # `'[' * 50000` exhausts the interpreter's recursion limit inside json.loads.
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
