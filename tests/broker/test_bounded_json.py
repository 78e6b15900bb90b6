"""The one JSON parse for untrusted input: json.loads within the depth bound, refused past it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import run_broker
from databases import Database
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import bounded_json
from broker.bounded_json import MAX_DEPTH, NestedTooDeep
from tests.broker.test_privacy import PLANTED, _assert_absent

# Strings full of what the depth measure must see through: quotes, backslashes, brackets.
_TEXT = st.text(alphabet=st.sampled_from('ab"\\[]{}/\n\u00e6\U0001f600'), max_size=8)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def _nest(value: Any, levels: int) -> Any:
    for level in range(levels):
        value = [value] if level % 2 else {'[\\"{': value}
    return value


_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(document=_DOCUMENTS, extra=st.integers(min_value=0, max_value=40))
def test_within_the_bound_it_is_json_loads_and_past_it_a_named_refusal(
    document: Any, extra: int
) -> None:
    """Any document parses as json.loads does while it nests at most 32 deep; deeper is refused."""
    nested = _nest(document, extra)
    for text in (json.dumps(nested), json.dumps(nested, ensure_ascii=False, indent=1)):
        if _depth(nested) <= MAX_DEPTH:
            assert bounded_json.loads(text) == json.loads(text)
            assert bounded_json.loads(text.encode()) == json.loads(text.encode())
        else:
            with pytest.raises(NestedTooDeep, match=r"^JSON nested deeper than 32 levels"):
                bounded_json.loads(text.encode())


def test_the_limit_is_exact() -> None:
    """32 levels of arrays or objects parse; 33 are refused."""
    assert _depth(bounded_json.loads("[" * 32 + "]" * 32)) == 32
    assert _depth(bounded_json.loads('{"a":' * 32 + "1" + "}" * 32)) == 32
    for text in ("[" * 33 + "]" * 33, '{"a":' * 33 + "1" + "}" * 33):
        with pytest.raises(NestedTooDeep):
            bounded_json.loads(text)


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, '{"a":[' * 50_000, "[" * 100_000 + "]" * 100_000, "[" * 40 + "x"],
    ids=["unclosed", "unclosed objects", "closed", "deep garbage"],
)
def test_a_deep_document_is_refused_without_recursion(text: str) -> None:
    """100,000 open brackets: a named refusal, never RecursionError."""
    with pytest.raises(NestedTooDeep) as refused:
        bounded_json.loads(text.encode())
    assert refused.value.msg == "JSON nested deeper than 32 levels"
    assert refused.value.doc == ""  # the document is not carried in the error


@pytest.mark.parametrize("text", ["[[[", "]]]", "[1, 2", '{"a": "[[[[[[', "[1]]", "", '"\\"'])
def test_what_is_not_json_is_refused_as_json_loads_refuses_it(text: str) -> None:
    """A document that is not JSON gets json.loads's own error, not the depth rule."""
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as refused:
        bounded_json.loads(text)
    assert type(refused.value) is json.JSONDecodeError
    assert (refused.value.msg, refused.value.pos) == (expected.value.msg, expected.value.pos)


def test_bytes_in_any_json_encoding_parse_and_bad_bytes_fail_as_before() -> None:
    """UTF-16 and UTF-32 bytes parse as with json.loads; bytes that are not text fail alike."""
    document = {"vejnavn": "Prøvevej [1]", "phases": [[["x"]]]}
    for encoding in ("utf-8", "utf-16", "utf-32-le"):
        assert bounded_json.loads(json.dumps(document).encode(encoding)) == document
    with pytest.raises(UnicodeDecodeError):
        bounded_json.loads(b'{"a": "\xff"}')


def test_the_cli_refuses_a_deep_upload_naming_the_rule(database: Database, tmp_path: Path) -> None:
    """`broker ingest` of `[` x 100,000: exit 1 and the depth rule, no traceback, nothing echoed."""
    upload = tmp_path / "schedule.json"
    upload.write_text(f'{{"note": "{PLANTED["CPR"]}", "departments": ' + "[" * 100_000)
    result = run_broker(database, tmp_path, "ingest", str(upload), "--org", "bo-vest")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "  JSON nested deeper than 32 levels" in result.stderr.splitlines()
    _assert_absent((result.stdout + result.stderr).encode(), "the command's output")


def test_a_number_of_too_many_digits_is_refused_as_not_json() -> None:
    """Python converts at most 4,300 digits; more is bad JSON here, not a ValueError escaping."""
    with pytest.raises(json.JSONDecodeError):
        bounded_json.loads('{"departments": [' + "1" * 5000 + "]}")
