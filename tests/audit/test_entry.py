"""Log entries: canonical, flat and versioned; commitments salted; dwellings opaque."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit._entry import (
    EntryError,
    canonical_entry,
    commitment,
    dwelling_reference,
    new_salt,
    verify_commitment,
)

BASE: dict[str, Any] = {"v": 1, "seq": 0, "time": "2026-11-25T08:00:00Z", "event": "release"}


def test_canonical_bytes_are_sorted_compact_json() -> None:
    """Keys are sorted and there is no whitespace: the same entry gives the same bytes."""
    entry = {**BASE, "recipient": "albertslund/visitation", "fields": ["vejnavn", "husnr"]}
    data = canonical_entry(entry)
    assert data == (
        b'{"event":"release","fields":["vejnavn","husnr"],"recipient":"albertslund/visitation",'
        b'"seq":0,"time":"2026-11-25T08:00:00Z","v":1}'
    )
    assert canonical_entry(dict(reversed(list(entry.items())))) == data


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"v": 2}, "v: must be 1"),
        ({"seq": -1}, "seq: must be a non-negative integer"),
        ({"seq": True}, "seq: must be a non-negative integer"),
        ({"time": "2026-11-25 08:00"}, "time: must be RFC 3339 UTC"),
        ({"event": "gossip"}, "event: must be one of"),
        ({"count": 1.5}, "count: floats are not allowed"),
        ({"count": 2**53}, "count: integers must lie within"),
        ({"count": -(2**53)}, "count: integers must lie within"),
        ({"nested": {"a": 1}}, "nested: values are integers"),
        ({"Recipient": "x"}, "keys are lower-case ASCII"),
        ({"næste": "x"}, "keys are lower-case ASCII"),
        ({"note": "line one\nline two"}, "note: text must be one printable line"),
    ],
)
def test_format_rules(change: dict[str, Any], rule: str) -> None:
    """Each rule of the entry format is enforced with a message naming the key."""
    with pytest.raises(EntryError, match=rule):
        canonical_entry({**BASE, **change})


def test_missing_required_key() -> None:
    """Sequence number, time, event and version are required."""
    with pytest.raises(EntryError, match="event: required"):
        canonical_entry({k: v for k, v in BASE.items() if k != "event"})


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
        st.integers(-(2**53) + 1, 2**53 - 1) | st.booleans() | st.none(),
        max_size=8,
    )
)
def test_canonical_round_trips(extra: dict[str, Any]) -> None:
    """Any flat entry parses back to the same values."""
    entry = {**extra, **BASE}
    assert json.loads(canonical_entry(entry)) == entry


def test_commitment_depends_on_salt_and_content() -> None:
    """The same content under another salt commits differently; a changed byte fails."""
    content = b'{"dwellings":[...]}'
    salt = new_salt()
    value = commitment(salt, content)
    assert verify_commitment(value, salt, content)
    assert not verify_commitment(value, salt, content + b" ")
    assert not verify_commitment(value, new_salt(), content)
    with pytest.raises(EntryError, match="salt: must be 32 random bytes"):
        commitment(b"short", content)


def test_dwelling_reference_is_keyed() -> None:
    """One dwelling has one reference under one key, and another under another key."""
    key, other = b"k" * 32, b"o" * 32
    assert dwelling_reference(key, "dw-0123") == dwelling_reference(key, "dw-0123")
    assert dwelling_reference(key, "dw-0123") != dwelling_reference(key, "dw-0124")
    assert dwelling_reference(key, "dw-0123") != dwelling_reference(other, "dw-0123")
    assert "0123" not in dwelling_reference(key, "dw-0123")
