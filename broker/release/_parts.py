"""Releases in parts: a large release is sent as numbered parts, each checkable on its own.

A release whose dwellings and withdrawn keys together number more than the part
size (``BROKER_RELEASE_PART_DWELLINGS``) is cut into parts: the records and the
withdrawn keys, in key order, ``part_dwellings`` at a time. Each part is a release
document of its own: the release's header, ``part`` (from 1) and ``parts``, and its
slice of ``dwellings`` and ``withdrawn``.

The disclosure-log entry then commits to the release's **manifest** rather than to
one body: the release id, the part size, and per part the SHA-256 of its RFC 8785
bytes, its first and last key and its counts. A recipient checks a part against
the manifest and the manifest against the entry's commitment, so each part is
proven on record alone; it applies the release once it holds every part the
manifest lists, and never a part set that is incomplete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from audit import canonical_json, parse_json
from broker.errors import BrokerError

__all__ = ["PartError", "assemble", "check_part", "cut_parts", "manifest", "split"]

_SLICED = ("dwellings", "withdrawn")
_PART_KEYS = ("part", "parts")


class PartError(BrokerError):
    """A part that does not belong to its manifest, or a set of parts that is not whole."""


def _items(content: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The release's records and withdrawn keys as one list in key order."""
    records = [(str(record["key"]), record) for record in content.get("dwellings") or []]
    withdrawn = [(str(key), None) for key in content.get("withdrawn") or []]
    return sorted([*records, *withdrawn], key=lambda item: item[0])


def split(content: Mapping[str, Any], part_dwellings: int) -> list[dict[str, Any]]:
    """Return ``content`` cut into parts of at most ``part_dwellings`` records and keys.

    One part when it holds no more than that: the caller sends such a release whole.
    """
    items = _items(content)
    header = {key: value for key, value in content.items() if key not in _SLICED}
    chunks = [items[i : i + part_dwellings] for i in range(0, len(items), part_dwellings)] or [[]]
    return [
        {
            **header,
            "part": number,
            "parts": len(chunks),
            "dwellings": [item for _, item in chunk if item is not None],
            "withdrawn": [key for key, item in chunk if item is None],
        }
        for number, chunk in enumerate(chunks, start=1)
    ]


def manifest(
    release_id: str,
    parts: Sequence[Mapping[str, Any]],
    part_dwellings: int,
    cut: Sequence[bytes] | None = None,
) -> dict[str, Any]:
    """Return the manifest the log entry commits to: per part its hash, key range and counts.

    ``cut`` are the parts' RFC 8785 bytes when the caller has them already.
    """
    listed = []
    for number, part in enumerate(parts):
        keys = sorted(
            [str(record["key"]) for record in part["dwellings"]] + list(part["withdrawn"])
        )
        data = cut[number] if cut is not None else canonical_json(dict(part))
        listed.append(
            {
                "part": part["part"],
                "sha256": hashlib.sha256(data).hexdigest(),
                "first_key": keys[0] if keys else None,
                "last_key": keys[-1] if keys else None,
                "dwellings": len(part["dwellings"]),
                "withdrawn": len(part["withdrawn"]),
            }
        )
    return {"release_id": release_id, "part_dwellings": part_dwellings, "parts": listed}


def check_part(listed: Mapping[str, Any], part: Mapping[str, Any]) -> int:
    """Check that ``part`` is one the manifest ``listed`` names, byte for byte; return its number.

    Raises:
        PartError: it names another release, a part the manifest does not list, or its
            bytes are not the ones the manifest's hash is of.
    """
    try:
        entries = list(listed["parts"])
        number = part["part"]
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise PartError("the part's number is not a positive integer")
        if part["parts"] != len(entries) or number > len(entries):
            raise PartError(f"part {number} of {part['parts']}: the manifest lists {len(entries)}")
        if part.get("release_id") != listed["release_id"]:
            raise PartError("the part is of another release than its manifest")
        stated = entries[number - 1]["sha256"]
    except (KeyError, TypeError):
        raise PartError("the manifest or the part is malformed") from None
    if hashlib.sha256(canonical_json(dict(part))).hexdigest() != stated:
        raise PartError(f"part {number} is not the part the manifest's hash is of")
    return int(number)


def assemble(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the whole release from its parts, all of them, in order.

    Raises:
        PartError: a part is missing, doubled or out of order.
    """
    count = len(parts)
    if not count or [p.get("part") for p in parts] != list(range(1, count + 1)):
        raise PartError("the parts are not all there, in order")
    if any(p.get("parts") != count for p in parts):
        raise PartError("the parts disagree on how many there are")
    headers = [
        {k: v for k, v in p.items() if k not in _SLICED and k not in _PART_KEYS} for p in parts
    ]
    header = headers[0]
    if any(other != header for other in headers[1:]):
        raise PartError("the parts are not of one release")
    return {
        **header,
        "dwellings": [record for p in parts for record in p["dwellings"]],
        "withdrawn": [key for p in parts for key in p["withdrawn"]],
    }


def cut_parts(content: bytes, listed: bytes) -> list[bytes]:
    """Return the RFC 8785 bytes of each part of ``content``, as its manifest ``listed`` says.

    The check of a release given whole with its manifest (the API's body of it): the
    content is cut again with the part size the manifest states, and each part must be
    the one whose hash it lists. Delivery does not cut again: it sends the parts stored
    when the release was put on record.

    Raises:
        PartError: the content does not cut into the parts the manifest lists.
    """
    document = json.loads(listed)
    whole, plain = parse_json(content)
    parts = split(whole, int(document["part_dwellings"]))
    cut_bytes = [canonical_json(part, plain=plain or None) for part in parts]
    hashes = [hashlib.sha256(part).hexdigest() for part in cut_bytes]
    if hashes != [str(item["sha256"]) for item in document["parts"]]:
        raise PartError(f"release {document['release_id']}: its parts are not those on record")
    return cut_bytes
