"""RFC 8941 structured fields, parsed minimally but to the letter.

Dictionaries, inner lists, parameters and every bare item type: what HTTP Message
Signatures (RFC 9421) and Content-Digest (RFC 9530) carry. The parser raises a bare
``ValueError`` (no message, so no header value can leak); the caller names the field.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from decimal import Decimal

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
_SF_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?(\d{1,15})(\.\d{1,3})?(?![\d.])")
_DECIMAL_DIGITS = 12  # RFC 8941 section 3.3.2: at most 12 digits before the point
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")


def parse_dictionary(text: str) -> dict[str, Item | InnerList]:
    """Parse a structured-field dictionary.

    Raises:
        ValueError: not a valid dictionary (without a message).
    """
    return _Parser(text).dictionary()


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


class _Parser:
    """RFC 8941 section 4.2, for dictionaries and all they can hold."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise ValueError
        self.text, self.at = text, 0

    def _peek(self) -> str:
        return self.text[self.at : self.at + 1]

    def _take(self) -> str:
        char = self._peek()
        if not char:
            raise ValueError
        self.at += 1
        return char

    def _skip(self, chars: str) -> None:
        while self._peek() and self._peek() in chars:
            self.at += 1

    def dictionary(self) -> dict[str, Item | InnerList]:
        members: dict[str, Item | InnerList] = {}
        self._skip(" ")
        while self._peek():
            key = self._key()
            if self._peek() == "=":
                self.at += 1
                members[key] = self._inner_list() if self._peek() == "(" else self._item()
            else:
                members[key] = Item(value=True, params=self._params())
            self._skip(" \t")
            if not self._peek():
                break
            if self._take() != ",":
                raise ValueError
            self._skip(" \t")
            if not self._peek():
                raise ValueError
        return members

    def _inner_list(self) -> InnerList:
        self.at += 1
        items: list[Item] = []
        while True:
            self._skip(" ")
            if self._peek() == ")":
                self.at += 1
                return InnerList(tuple(items), self._params())
            items.append(self._item())
            if self._peek() not in (" ", ")"):
                raise ValueError

    def _item(self) -> Item:
        value = self._bare()
        return Item(value, self._params())

    def _params(self) -> Params:
        params: Params = {}
        while self._peek() == ";":
            self.at += 1
            self._skip(" ")
            key = self._key()
            params[key] = True
            if self._peek() == "=":
                self.at += 1
                params[key] = self._bare()
        return params

    def _match(self, pattern: re.Pattern[str]) -> re.Match[str]:
        match = pattern.match(self.text, self.at)
        if match is None:
            raise ValueError
        self.at = match.end()
        return match

    def _key(self) -> str:
        return self._match(KEY).group()

    def _bare(self) -> Bare:
        char = self._peek()
        if char == "-" or char.isdigit():
            return self._number()
        if char == '"':
            return self._string()
        if char == ":":
            return self._bytes()
        if char == "?":
            self.at += 1
            flag = self._take()
            if flag not in "01":
                raise ValueError
            return flag == "1"
        if char == "*" or char.isalpha():
            return Token(self._match(_SF_TOKEN).group())
        raise ValueError

    def _number(self) -> int | Decimal:
        match = self._match(_NUMBER)
        if match.group(2) is None:
            return int(match.group())
        if len(match.group(1)) > _DECIMAL_DIGITS:
            raise ValueError
        return Decimal(match.group())

    def _string(self) -> str:
        self.at += 1
        chars = []
        while (char := self._take()) != '"':
            if char == "\\":
                char = self._take()
                if char not in '"\\':
                    raise ValueError
            elif not " " <= char <= "~":
                raise ValueError
            chars.append(char)
        return "".join(chars)

    def _bytes(self) -> bytes:
        end = self.text.find(":", self.at + 1)
        content = self.text[self.at + 1 : end]
        if end < 0 or not _BASE64.fullmatch(content):
            raise ValueError
        self.at = end + 1
        try:
            return base64.b64decode(content + "=" * (-len(content) % 4), validate=True)
        except binascii.Error:
            raise ValueError from None
