"""The fast canonical JSON writes exactly what the rfc8785 package writes, or refuses alike.

Each property is checked twice: with ``orjson`` (as the broker runs) and with the
standard library alone (as a verifier installed without it runs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import _canonical
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


IMPLEMENTATIONS = pytest.mark.parametrize("implementation", ["orjson", "json"])


@contextmanager
def using(implementation: str) -> Iterator[None]:
    """Parse and write with orjson, or with the standard library as if it were absent."""
    installed = _canonical._orjson
    assert installed is not None, "the broker installs orjson"
    if implementation == "json":
        _canonical._orjson = None
    try:
        yield
    finally:
        _canonical._orjson = installed


def _outcome(dump: Any, value: Any) -> bytes | str:
    try:
        return bytes(dump(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as error:
        return type(error).__name__


@IMPLEMENTATIONS
@settings(max_examples=2000, deadline=None)
@given(value=JSON)
def test_the_same_bytes_as_rfc8785(implementation: str, value: Any) -> None:
    """Any JSON value: the same bytes, or the same kind of refusal."""
    with using(implementation):
        assert _outcome(canonical_json, value) == _outcome(rfc8785.dumps, value)


@IMPLEMENTATIONS
@settings(max_examples=1000, deadline=None)
@given(value=JSON)
def test_a_parsed_value_is_written_as_rfc8785_writes_it(implementation: str, value: Any) -> None:
    """Parsed back from any JSON text, a value said plain is written as rfc8785 writes it."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except ValueError:
        return
    with using(implementation):
        try:
            parsed, plain = parse(text)
        except ValueError:
            return  # a lone surrogate json writes but no parser need read
        written = _outcome(lambda v: canonical_json(v, plain=plain or None), parsed)
    assert written == _outcome(rfc8785.dumps, parsed)


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


@IMPLEMENTATIONS
@pytest.mark.parametrize(
    "entry",
    [
        b'{"n":1e400,"seq":0,"v":1}',
        b'{"n":9007199254740993,"seq":0,"v":1}',
        # rfc8785's bytes of the float 2^64; read as JSON text it is an integer (beyond
        # 64 bits, which orjson alone would read as a float): no canonical form.
        b'{"":18446744073709552000,"seq":0,"v":1}',
    ],
)
def test_an_entry_with_no_canonical_form_fails_verification(
    implementation: str, entry: bytes
) -> None:
    """Infinity or an integer beyond 2^53 in a stored entry is a verification failure."""
    with using(implementation), pytest.raises(VerificationError, match="canonical") as failed:
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


@IMPLEMENTATIONS
@settings(max_examples=2000, deadline=None)
@given(
    fields=st.dictionaries(KEYS, JSON, max_size=4),
    writer=st.sampled_from(["rfc8785", "python", "sorted", "spaced"]),
)
def test_a_stored_entry_is_judged_as_the_rfc8785_package_judges_it(
    implementation: str, fields: dict[str, Any], writer: str
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
    with using(implementation):
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
        ('{"a":-9007199254740992}', False),
        ('{"a":[1,[2,{"b":0.5}]]}', False),
        ('{"a":["x","y",3]}', True),
    ],
)
@IMPLEMENTATIONS
def test_parse_says_whether_a_value_is_plain(implementation: str, text: str, plain: bool) -> None:
    with using(implementation):
        assert parse(text)[1] is plain
        assert parse(text.encode())[1] is plain
