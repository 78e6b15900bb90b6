r"""RFC 8785 (JCS) canonical JSON, fast for the values the broker writes.

For JSON made only of text, integers within the IEEE 754 safe range, booleans,
null, arrays and objects whose keys are ASCII, the standard library's
``json.dumps`` with sorted keys, no spaces and no ASCII escaping writes exactly
the RFC 8785 bytes: the same string escapes (the short ones, else ``\u00xx`` in
lower case), integers in plain decimal, and key order by code point, which for
ASCII keys is RFC 8785's UTF-16 order. A property test holds the two to the same
bytes. Anything else (a float, a larger integer, a non-ASCII key, a lone
surrogate) goes to the ``rfc8785`` package, which also names what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ["canonical_json"]

_SAFE_INTEGER = 2**53 - 1


def _plain(value: Any) -> bool:
    if isinstance(value, str | bool) or value is None:
        return True
    if isinstance(value, int):
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and key.isascii() and _plain(item) for key, item in value.items()
        )
    return False


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical bytes of ``value``.

    Raises:
        rfc8785.CanonicalizationError: ``value`` has no canonical form (e.g. NaN, or
            an integer beyond the safe range).
        TypeError: ``value`` holds something that is not JSON.
    """
    if _plain(value):
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says what is wrong
            pass
    return rfc8785.dumps(value)
