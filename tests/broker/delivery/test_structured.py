"""The structured-field parser holds to RFC 8941, though http-sfv parses RFC 9651."""

from __future__ import annotations

from decimal import Decimal

import pytest

from broker.delivery._structured import InnerList, Item, Token, parse_dictionary


@pytest.mark.parametrize(
    "text",
    ["a=@1659578233", 'a=%"f%c3%bc"', "a=(1 @2)", "a=1;created=@1", 'a=1;n=%"x"', "a=1,", "A=1"],
)
def test_what_rfc_8941_has_not_is_refused(text: str) -> None:
    """RFC 9651's dates and display strings, and what neither allows, raise a bare ValueError."""
    with pytest.raises(ValueError, match=r"^$"):
        parse_dictionary(text)


def test_every_rfc_8941_item_type_in_the_brokers_types() -> None:
    """Integers, decimals, strings, tokens, byte sequences, booleans; inner lists; parameters."""
    parsed = parse_dictionary('a=1;b=2.5, c=("x" tok);d=:aGk=:, e, f=?0')
    assert parsed == {
        "a": Item(1, {"b": Decimal("2.5")}),
        "c": InnerList((Item("x", {}), Item(Token("tok"), {})), {"d": b"hi"}),
        "e": Item(value=True, params={}),
        "f": Item(value=False, params={}),
    }
    assert type(parsed["c"].items[0].value) is str  # type: ignore[union-attr]
    assert parse_dictionary("") == parse_dictionary("  ") == {}
