"""JSON from outside the broker, parsed with its nesting bounded.

Python's parser recurses once per nested array or object: ``[`` repeated
100,000 times ends in ``RecursionError``. Every untrusted JSON document (API
bodies, schedule uploads, the receiver's deliveries) is parsed here instead, and
one nested deeper than :data:`MAX_DEPTH` is refused before the parser sees it.

The depth is measured without recursion, by byte operations that run at C speed:
escapes and strings are cut out, every byte but a bracket is dropped, and each
round removes the innermost bracket pairs (the leaves of the nesting tree), so a
valid document of depth *d* is empty after *d* rounds.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "NestedTooDeep", "loads"]

MAX_DEPTH = 32
"""The deepest nesting of arrays and objects accepted. A schedule upload or a release is
about seven levels deep (upload, departments, department, dwellings, dwelling, phases, phase)."""

# An escaped backslash or quote; matched left to right, a run of backslashes pairs up as in JSON.
_ESCAPE = re.compile(rb'\\[\\"]')
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_NEITHER_BRACKET_NOR_QUOTE = bytes(sorted(set(range(256)) - set(b'[]{}"')))


class NestedTooDeep(json.JSONDecodeError):
    """The document nests arrays and objects deeper than the limit."""

    def __init__(self, limit: int) -> None:
        """Name the rule, e.g. ``JSON nested deeper than 32 levels``; the document is not kept."""
        super().__init__(f"JSON nested deeper than {limit} levels", "", 0)
        self.limit = limit


def _utf8(data: str | bytes) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass")
    encoding = json.detect_encoding(data)
    if encoding.startswith("utf-8"):
        return data
    return data.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")


def _unmatched(document: bytes, limit: int) -> bytes:
    """Return the brackets left after removing ``limit`` levels of matched pairs."""
    # 1. Escaped backslashes and quotes go: every quote left opens or closes a string.
    if b"\\" in document:
        document = _ESCAPE.sub(b"", document)
    # 2. Only quotes and brackets (of one kind: the parser checks that they match) are kept.
    #    Two adjacent quotes can go: every bracket keeps its side of every string.
    marks = document.translate(_ONE_KIND, delete=_NEITHER_BRACKET_NOR_QUOTE).replace(b'""', b"")
    # 3. What lies between the quotes left (every second piece) is in a string: it cannot nest.
    brackets = b"".join(marks.split(b'"')[::2]) if b'"' in marks else marks
    for _ in range(limit):
        if not brackets:
            break
        brackets = brackets.replace(b"[]", b"")
    return brackets


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Return the parsed document, as ``json.loads`` would.

    Raises:
        NestedTooDeep: nested deeper than ``max_depth`` (a ``json.JSONDecodeError``).
        json.JSONDecodeError: not JSON, or a number of more than 4,300 digits.
        UnicodeDecodeError: bytes that are not UTF-8, UTF-16 or UTF-32 (as ``json.loads``).
    """
    left = _unmatched(_utf8(data), max_depth)
    # A pair still there, or more opening brackets than the limit: deeper than allowed. What
    # else is left is a few unmatched brackets: not JSON, and the parser says where, without
    # nesting deeper than the brackets there are.
    if b"[]" in left or left.count(b"[") > max_depth:
        raise NestedTooDeep(max_depth)
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except ValueError:
        # A number of more digits than Python converts (4,300): not JSON it reads. Raised
        # as the parser's own error, so every caller refuses it as it refuses bad JSON.
        raise json.JSONDecodeError("a number has too many digits", "", 0) from None
