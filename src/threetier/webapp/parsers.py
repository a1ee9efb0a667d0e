"""The API's JSON parser: DRF's, plus a bound on nesting.

Python's decoder recurses once per level, so a 100,000-deep body raised RecursionError
(a 500). The depth is checked first on the raw text, without building anything, and a
body nested deeper than limits.JSON_MAX_DEPTH is a 400 like any other malformed JSON.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from threetier.webapp.limits import JSON_MAX_DEPTH


STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(text: bytes, limit: int) -> int:
    """How deeply `text` nests [ and { outside strings, counting up to `limit` + 1."""
    brackets = STRING.sub(b"", text).translate(None, NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        else:
            depth -= 1
    return deepest


class BoundedJSONParser(JSONParser):
    """JSON whose nesting is at most JSON_MAX_DEPTH; deeper or malformed is a 400."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        if json_depth(raw, JSON_MAX_DEPTH) > JSON_MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels")
        return super().parse(BytesIO(raw), media_type, parser_context)
