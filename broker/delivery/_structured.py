"""RFC 8941 structured fields, parsed by ``http-sfv`` and held in the broker's own types.

Dictionaries, inner lists, parameters and every RFC 8941 bare item type: what HTTP
Message Signatures (RFC 9421) and Content-Digest (RFC 9530) carry. ``http-sfv``
parses RFC 9651, which adds dates and display strings; those are refused here, as
RFC 8941 has neither. The parser raises a bare ``ValueError`` (no message, so no
header value can leak); the caller names the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList as SfInnerList
from http_sfv.item import Item as SfItem
from http_sfv.types import DisplayString
from http_sfv.types import Token as SfToken

__all__ = [
    "KEY",
    "MAX_INTEGER",
    "PRINTABLE",
    "Bare",
    "InnerList",
    "Item",
    "Params",
    "Token",
    "parse_dictionary",
]

KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
"""A dictionary or parameter key."""
MAX_INTEGER = 999_999_999_999_999  # RFC 8941 section 3.3.1: at most 15 digits
PRINTABLE = re.compile(r"[\x20-\x7e]*")
"""What a string may hold."""


@dataclass(frozen=True, slots=True)
class Token:
    """A token (RFC 8941 section 3.3.4)."""

    value: str


Bare = int | Decimal | str | Token | bytes | bool
Params = dict[str, Bare]


@dataclass(frozen=True, slots=True)
class Item:
    """A bare item with its parameters."""

    value: Bare
    params: Params


@dataclass(frozen=True, slots=True)
class InnerList:
    """An inner list of items, with its parameters."""

    items: tuple[Item, ...]
    params: Params


def parse_dictionary(text: str) -> dict[str, Item | InnerList]:
    """Parse a structured-field dictionary.

    Raises:
        ValueError: not a valid RFC 8941 dictionary (without a message).
    """
    if not text.isascii():
        raise ValueError
    if not text.strip(" "):
        return {}  # RFC 8941 section 4.2.2: an empty dictionary (http-sfv refuses it)
    parsed = Dictionary()
    try:
        parsed.parse(text.encode("ascii"))
    except ValueError:
        raise ValueError from None
    return {key: _member(member) for key, member in parsed.items()}


def _member(member: SfItem | SfInnerList) -> Item | InnerList:
    if isinstance(member, SfInnerList):
        return InnerList(tuple(_item(item) for item in member), _params(member.params))
    return _item(member)


def _item(item: SfItem) -> Item:
    return Item(_bare(item.value), _params(item.params))


def _params(params: dict[str, object]) -> Params:
    return {key: _bare(value) for key, value in params.items()}


def _bare(value: object) -> Bare:
    if isinstance(value, SfToken):
        return Token(str(value))
    # RFC 9651's display strings (a str) and dates are no RFC 8941 items.
    if isinstance(value, int | Decimal | str | bytes | bool) and not isinstance(
        value, DisplayString
    ):
        return value
    raise ValueError
