"""The fast canonical JSON writes exactly what the rfc8785 package writes, or refuses alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit._canonical import canonical_json, parse
from audit._verify import VerificationError, _check_entry, parse_entry

# Every code point, lone surrogates and controls included.
TEXT = st.text(st.characters(codec=None, categories=None), max_size=12)
KEYS = st.one_of(st.text(st.characters(max_codepoint=0x7F), max_size=6), TEXT)
INTEGERS = st.one_of(
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.integers(min_value=-(2**70), max_value=2**70),
)
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, TEXT, st.floats(width=64))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)


def _outcome(dump: Any, value: Any) -> bytes | str:
    try:
        return bytes(dump(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as error:
        return type(error).__name__


@settings(max_examples=2000, deadline=None)
@given(JSON)
def test_the_same_bytes_as_rfc8785(value: Any) -> None:
    """Any JSON value: the same bytes, or the same kind of refusal."""
    assert _outcome(canonical_json, value) == _outcome(rfc8785.dumps, value)


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, "\u00e6\u00f8\u00e5", "\x00\x1f\x7f\u2028", '"\\/']},
        {"n": 2**53 - 1, "m": -(2**53) + 1, "z": 0, "e": ""},
        {"nested": {"z": [], "a": {}}, "A": "x"},
    ],
)
def test_examples_the_broker_writes(value: Any) -> None:
    """Keys out of order, escapes, non-ASCII text, the integer limits, nesting."""
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "entry", [b'{"n":1e400,"seq":0,"v":1}', b'{"n":9007199254740993,"seq":0,"v":1}']
)
def test_an_entry_with_no_canonical_form_fails_verification(entry: bytes) -> None:
    """Infinity or an integer beyond 2^53 in a stored entry is a verification failure."""
    with pytest.raises(VerificationError, match="canonical") as failed:
        parse_entry(0, entry)
    assert failed.value.seq == 0


def _verdict(entry: bytes) -> str:
    try:
        parse_entry(0, entry)
    except VerificationError as error:
        return error.reason
    return "ok"


def _slow_verdict(entry: bytes) -> str:
    """The check as it was before parse: json.loads, then rfc8785 over the whole value."""
    try:
        document = json.loads(entry)
    except ValueError:
        return "not JSON"
    if not isinstance(document, dict):
        return "not a JSON object"
    try:
        canonical: bytes | None = rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        canonical = None
    if canonical != entry:
        return "not in RFC 8785 canonical form"
    try:
        _check_entry(0, document)
    except VerificationError as error:
        return error.reason
    return "ok"


@settings(max_examples=2000, deadline=None)
@given(
    st.dictionaries(KEYS, JSON, max_size=4),
    st.sampled_from(["rfc8785", "python", "sorted", "spaced"]),
)
def test_a_stored_entry_is_judged_as_the_rfc8785_package_judges_it(
    fields: dict[str, Any], writer: str
) -> None:
    """Canonical or not, as rfc8785 says: entries written canonically and not, any values."""
    document = {**fields, "v": 1, "seq": 0}
    try:
        if writer == "rfc8785":
            entry = rfc8785.dumps(document)
        else:
            separators = (", ", ": ") if writer == "spaced" else (",", ":")
            text = json.dumps(
                document, ensure_ascii=False, separators=separators, sort_keys=writer == "sorted"
            )
            entry = text.encode("utf-8", errors="surrogatepass")
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return
    assert _verdict(entry) == _slow_verdict(entry)


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ('{"a":[1,"x",true,null,{"b":"æ"}]}', True),
        ('{"a":1.5}', False),
        ('{"a":NaN}', False),
        ('{"a":9007199254740992}', False),
        ('{"æ":1}', True),
        ('{"\U0001f600":1}', False),
        ('{"a":"1234567890123456"}', True),
        ('{"a":-1234567890123456}', False),
    ],
)
def test_parse_says_whether_a_value_is_plain(text: str, plain: bool) -> None:
    assert parse(text)[1] is plain
