"""Finding a dwelling by its address as typed: ``Demovej 1A 2 tv``, ``demovej 1``, ``Demov``.

An address and a query are both cut into words the same way: lower case, ``æ``,
``ø``, ``å`` spelled ``ae``, ``oe``, ``aa`` (as the ingest matches headings, so
``Aahusvej`` finds ``Åhusvej`` and ``Åhusvej`` finds it too), commas and full stops
as spaces (``1.tv`` is ``1 tv``); a typed floor glued to its door (``sttv``,
``2th``) and ``stuen`` are also read as the canonical form writes them. A query
matches when its words are the address's words from the start of a word of the
street name on: each word in full, the last one as a beginning (it may still be
being typed). ``Torv 3`` finds ``Store Torv 3``;
``demovej 1`` finds number 1, 1A and 10 to 19.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MAX_QUERY", "MIN_QUERY", "address_words", "matches", "query_words"]

MIN_QUERY = 2
"""The fewest characters a query has (after trimming), so that one letter lists nothing."""
MAX_QUERY = 100
"""The most characters a query has: a long address with its postal district fits."""

_FOLD = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa"})
_SEPARATORS = re.compile(r"[\s,.;:]+")
_FLOOR_DOOR = re.compile(r"^(st|kl|k[2-9]|[0-9]{1,2})(tv|th|mf)$")
_WORDS = {"stuen": "st", "stue": "st", "kaelder": "kl"}
_MAX_READINGS = 16
"""The most readings of one query (each ``stuen`` or ``sttv`` may be read two ways)."""


def _words(text: str) -> list[str]:
    return [word for word in _SEPARATORS.split(text.casefold().translate(_FOLD)) if word]


def _readings(word: str) -> list[tuple[str, ...]]:
    """Return the ways to read one typed word: as typed, and as the canonical form writes it."""
    readings: list[tuple[str, ...]] = [(word,)]
    glued = _FLOOR_DOOR.match(word)
    if glued is not None:
        readings.append((glued.group(1), glued.group(2)))
    if word in _WORDS:
        readings.append((_WORDS[word],))
    return readings


def query_words(query: str) -> list[tuple[str, ...]]:
    """Return the readings of a typed query, each as words to match (none: it holds no word).

    A word is read as typed and, when it is one, as the canonical form writes it
    (``stuen`` as ``st``, ``2tv`` as ``2 tv``): a street called ``Stuen`` is still found.
    """
    readings: list[tuple[str, ...]] = [()]
    for word in _words(query):
        longer: list[tuple[str, ...]] = [
            (*before, *reading) for before in readings for reading in _readings(word)
        ]
        readings = longer[:_MAX_READINGS]
    return [reading for reading in readings if reading]


def address_words(address: str, vejnavn: str) -> tuple[list[str], int]:
    """Return a canonical address as words, and how many of them are the street name's."""
    return _words(address), len(_words(vejnavn))


def matches(readings: Sequence[Sequence[str]], words: Sequence[str], street: int) -> bool:
    """Whether a reading is ``words`` from a word of the street name on (the last word begun)."""
    return any(_matches(reading, words, street) for reading in readings)


def _matches(query: Sequence[str], words: Sequence[str], street: int) -> bool:
    if not query:
        return False
    *whole, begun = query
    for start in range(max(street, 1)):
        rest = words[start:]
        if len(rest) < len(query):
            continue
        if list(rest[: len(whole)]) == whole and rest[len(whole)].startswith(begun):
            return True
    return False
