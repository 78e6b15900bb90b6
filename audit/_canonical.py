r"""RFC 8785 (JCS) canonical JSON, fast for the values the broker writes.

For JSON made only of text, integers within the IEEE 754 safe range, booleans,
null, arrays and objects whose keys are ASCII, the standard library's
``json.dumps`` with sorted keys, no spaces and no ASCII escaping writes exactly
the RFC 8785 bytes: the same string escapes (the short ones, else ``\u00xx`` in
lower case), integers in plain decimal, and key order by code point, which for
ASCII keys is RFC 8785's UTF-16 order. A property test holds the two to the same
bytes. Anything else (a float, a larger integer, a non-ASCII key, a lone
surrogate) goes to the ``rfc8785`` package, which also names what is wrong.

Whether a value is of that plain kind is known for free while it is parsed:
:func:`parse` has the parser report a float, a constant, a large integer or a
non-ASCII key as it meets one, so a verifier that reads a stored entry need not
walk it again (``canonical_json(value, plain=True)``).

Where the ``orjson`` package is installed (the broker installs it; a verifier
alone need not), plain values are parsed and written by it, a few times faster:
its compact output with sorted keys is the same RFC 8785 bytes for plain values
(the property test holds it to that); a float or a long integer is then found by
one walk over the parsed value's numbers instead of by the parser.
"""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

import rfc8785

_orjson: ModuleType | None
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard library does it, more slowly
    _orjson = None

__all__ = ["canonical_json", "parse"]

_SAFE_INTEGER = 2**53 - 1
_SAFE_DIGITS = 15
"""An integer of at most this many digits is within the safe range."""
_ASTRAL_BYTES = re.compile(b"[\xf0-\xf4]")
"""The first bytes of the UTF-8 sequences of the characters beyond U+FFFF."""
_ASTRAL_TEXT = re.compile("[\U00010000-\U0010ffff]")
_ORJSON_OPTIONS = 0
if _orjson is not None:
    _ORJSON_OPTIONS = (
        _orjson.OPT_SORT_KEYS
        | _orjson.OPT_PASSTHROUGH_DATACLASS
        | _orjson.OPT_PASSTHROUGH_DATETIME
        | _orjson.OPT_PASSTHROUGH_SUBCLASS
    )


class _NotPlain(Exception):  # noqa: N818 - a signal inside parse, never raised out of it
    """The parser met a float or a constant."""


def _not_plain(_text: str) -> Any:
    raise _NotPlain


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > _SAFE_DIGITS:
        raise _NotPlain
    return int(text)


_DECODER = json.JSONDecoder(parse_float=_not_plain, parse_constant=_not_plain, parse_int=_integer)


def _within_bmp(data: bytes | str) -> bool:
    """Whether ``data`` holds no character beyond U+FFFF (found by a search, not a walk)."""
    if data.isascii():
        return True
    if isinstance(data, bytes):
        return _ASTRAL_BYTES.search(data) is None
    return _ASTRAL_TEXT.search(data) is None


def _safe_numbers(value: Any) -> bool:
    """Whether a parsed value holds no float and no integer beyond the safe range."""
    kind = type(value)
    if kind is list:
        try:
            "".join(value)
        except TypeError:
            pass  # not all text: walked below
        else:
            return True  # a list of text, checked at C speed
    if kind is dict or kind is list:
        for item in value.values() if kind is dict else value:
            kind = type(item)
            if kind is int:
                if not -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                    return False
            elif kind is float or ((kind is dict or kind is list) and not _safe_numbers(item)):
                return False
        return True
    if kind is int:
        return bool(-_SAFE_INTEGER <= value <= _SAFE_INTEGER)
    return kind is not float


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


def parse(data: bytes | str) -> tuple[Any, bool]:
    """Parse JSON text; return the value and whether it is plain (see the module's text).

    Plain is decided without walking the value: the parser reports a float or a
    constant (NaN, the infinities) or an integer of more than 15 digits (it may lie
    beyond the safe range) as it meets one, and a character beyond the Basic
    Multilingual Plane (where code point order and RFC 8785's UTF-16 order of keys
    part) is found by a byte search. Either makes the value not plain, and it is
    then walked and, if need be, written by the ``rfc8785`` package.

    Raises:
        ValueError: ``data`` is not JSON.
    """
    if _orjson is not None:
        try:
            value = _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # NaN, a long integer, a lone surrogate or not JSON: json decides below
        else:
            if _within_bmp(data) and _safe_numbers(value):
                return value, True
            # Not plain: parsed again as json parses it (orjson reads an integer beyond
            # 64 bits as a float; json keeps it an integer, which has no canonical form).
    try:
        text = data.decode("utf-8", "surrogatepass") if isinstance(data, bytes) else data
        value = _DECODER.decode(text)
    except (_NotPlain, UnicodeDecodeError):
        # A float, a constant or a long integer, or text that is not UTF-8: parsed as
        # json reads it.
        return json.loads(data), False
    return value, _within_bmp(data)


def canonical_json(value: Any, *, plain: bool | None = None) -> bytes:
    """Return the RFC 8785 canonical bytes of ``value``.

    ``plain`` True says the value is known to be plain (:func:`parse` said so): it is
    not walked again to find out.

    Raises:
        rfc8785.CanonicalizationError: ``value`` has no canonical form (e.g. NaN, or
            an integer beyond the safe range).
        TypeError: ``value`` holds something that is not JSON.
    """
    if plain or (plain is None and _plain(value)):
        if _orjson is not None:
            try:
                return bytes(_orjson.dumps(value, option=_ORJSON_OPTIONS))
            except TypeError:
                pass  # a lone surrogate, or a subclass orjson leaves to json
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says what is wrong
            pass
    return rfc8785.dumps(value)
