"""DAR-style address fields: lenient parsing, strict canonical forms.

Every function takes raw text and returns the canonical form, or raises
``ValueError`` whose message states the rule. Messages never contain the
input: an address field may hold a personal value typed into the wrong column.
"""

from __future__ import annotations

import re
import uuid

__all__ = [
    "ADDRESS_FIELDS",
    "format_address",
    "parse_adresseid",
    "parse_doer",
    "parse_etage",
    "parse_etage_doer",
    "parse_husnr",
    "parse_kommunekode",
    "parse_postnr",
    "parse_postnrnavn",
    "parse_vejnavn",
]

ADDRESS_FIELDS = (
    "adresseid",
    "vejnavn",
    "husnr",
    "etage",
    "doer",
    "postnr",
    "postnrnavn",
    "kommunekode",
)
"""The DAR address fields of a dwelling, in their usual order."""

_LETTERS = "A-Za-zÆØÅæøåÄÖÜäöüÉéÈèÁáÓóÍíÚú"
_VEJNAVN = re.compile(rf"^[{_LETTERS}0-9][{_LETTERS}0-9 .,'/-]{{0,39}}$")
_POSTNRNAVN = re.compile(rf"^[{_LETTERS}][{_LETTERS} .'-]{{0,39}}$")
_HUSNR = re.compile(r"^([1-9][0-9]{0,2})\s*([A-Za-z]?)$")
_ETAGE_NUM = re.compile(r"^([0-9]{1,2})\.?$")
_ETAGE_KL = re.compile(r"^k([2-9])$")
# A door is tv/th/mf or a short door number: digits with at most one letter
# before or after, or one letter alone, or two numbers joined by / or -.
# A first name ("ole", "anna") is deliberately not a door.
_DOER = re.compile(r"^(?:tv|th|mf|[a-zæøå]?[0-9]{1,3}[a-zæøå]?|[a-zæøå]|[0-9]{1,2}[/-][0-9]{1,2})$")
_FOUR_DIGITS = re.compile(r"^[0-9]{3,4}$")
_SPACES = re.compile(r"\s+")

_ETAGE_WORDS = {
    "st": "st",
    "stuen": "st",
    "stue": "st",
    "kl": "kl",
    "k": "kl",
    "kælder": "kl",
    "kaelder": "kl",
    "k1": "kl",
}
_DOER_WORDS = {"tv": "tv", "th": "th", "mf": "mf"}
_MAX_DOER = 4
_MAX_ETAGE = 99


def _squash(raw: str) -> str:
    return _SPACES.sub(" ", raw.strip())


def parse_adresseid(raw: str) -> str:
    """Return the DAR address id as a lower-case UUID string.

    Raises:
        ValueError: the text is not a UUID.
    """
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise ValueError("must be a DAR address UUID") from None


def parse_vejnavn(raw: str) -> str:
    """Return the street name with surrounding and repeated spaces removed.

    Raises:
        ValueError: empty, longer than 40 characters or holding other characters.
    """
    value = _squash(raw)
    if not _VEJNAVN.match(value):
        raise ValueError("must be a street name of 1-40 letters, digits, spaces or .,'/-")
    return value


def parse_husnr(raw: str) -> str:
    """Return the house number canonically: ``12`` or ``12A``.

    Raises:
        ValueError: not a number 1-999 with an optional letter.
    """
    match = _HUSNR.match(raw.strip())
    if match is None:
        raise ValueError("must be a number 1-999 with an optional letter")
    return match.group(1) + match.group(2).upper()


def parse_etage(raw: str) -> str | None:
    """Return the floor as ``st``, ``kl``, ``k2``-``k9`` or ``1``-``99``; ``None`` if blank.

    Raises:
        ValueError: anything else.
    """
    value = raw.strip().lower().rstrip(".").strip()
    if not value:
        return None
    if value in _ETAGE_WORDS:
        return _ETAGE_WORDS[value]
    if _ETAGE_KL.match(value):
        return value
    match = _ETAGE_NUM.match(value)
    if match is not None and 1 <= int(match.group(1)) <= _MAX_ETAGE:
        return str(int(match.group(1)))
    raise ValueError("must be st, kl, k2-k9 or a floor number 1-99")


def parse_doer(raw: str) -> str | None:
    """Return the door as ``tv``, ``th``, ``mf`` or a short door number; ``None`` if blank.

    Raises:
        ValueError: anything else, a name typed into the door column included.
    """
    value = raw.strip().lower().replace(".", "").replace(" ", "")
    if not value:
        return None
    if value in _DOER_WORDS:
        return value
    if len(value) <= _MAX_DOER and _DOER.match(value):
        return value
    raise ValueError("must be tv, th, mf or a door number of up to 4 characters")


_ETAGE_DOER = re.compile(
    r"^(?P<etage>stuen|st|kl|k[2-9]|[0-9]{1,2})\.?\s*,?\s*(?P<doer>tv|th|mf|[0-9a-zæøå/-]{1,4})?\.?$"
)


def parse_etage_doer(raw: str) -> tuple[str | None, str | None]:
    """Split a combined floor-and-door text such as ``1.tv``, ``sttv`` or ``st. th``.

    Returns:
        The canonical floor and door; either may be ``None``.

    Raises:
        ValueError: the text is not a floor optionally followed by a door.
    """
    value = raw.strip().lower()
    if not value:
        return None, None
    match = _ETAGE_DOER.match(value)
    if match is None:
        raise ValueError("must be a floor optionally followed by a door, e.g. 1. tv or st th")
    etage = parse_etage(match.group("etage"))
    doer_raw = match.group("doer")
    return etage, (parse_doer(doer_raw) if doer_raw else None)


def _four_digits(raw: str, rule: str) -> str:
    value = raw.strip().removesuffix(".0")  # spreadsheets turn codes into floats
    if not _FOUR_DIGITS.match(value):
        raise ValueError(rule)
    return value.zfill(4)


def parse_postnr(raw: str) -> str:
    """Return the postcode as four digits (a dropped leading zero is restored).

    Raises:
        ValueError: not three or four digits.
    """
    return _four_digits(raw, "must be a postcode of 4 digits")


def parse_kommunekode(raw: str) -> str:
    """Return the municipality code as four digits, e.g. ``0165``.

    Raises:
        ValueError: not three or four digits.
    """
    return _four_digits(raw, "must be a municipality code of 4 digits")


def parse_postnrnavn(raw: str) -> str:
    """Return the postal district name with spaces squashed.

    Raises:
        ValueError: empty, longer than 40 characters or holding digits or symbols.
    """
    value = _squash(raw)
    if not _POSTNRNAVN.match(value):
        raise ValueError("must be a postal district name of 1-40 letters")
    return value


def format_address(  # noqa: PLR0913 - the DAR fields are the signature
    vejnavn: str,
    husnr: str,
    *,
    etage: str | None,
    doer: str | None,
    postnr: str,
    postnrnavn: str,
) -> str:
    """Return the one-line canonical form: ``Vejnavn 12A, 1. tv, 2620 Albertslund``."""
    unit = ""
    if etage is not None and doer is not None:
        unit = f", {etage}. {doer}"
    elif etage is not None:
        unit = f", {etage}."
    elif doer is not None:
        unit = f", {doer}"
    return f"{vejnavn} {husnr}{unit}, {postnr} {postnrnavn}"
