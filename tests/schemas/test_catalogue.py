"""The field catalogue classifies every known source field, and the JSON contract is current."""

from __future__ import annotations

from schemas import CATALOGUE, FieldClass, heading_key
from schemas.export import DEFAULT_DIR, render


def test_every_heading_belongs_to_one_field() -> None:
    """No heading is claimed by two fields."""
    keys = [heading_key(h) for field in CATALOGUE.fields for h in field.headings]
    assert len(keys) == len(set(keys))


def test_classification_of_key_fields() -> None:
    """Address fields are releasable, the tenancy number internal, personal data dropped."""
    classes = {field.name: field.classification for field in CATALOGUE.fields}
    assert classes["vejnavn"] is FieldClass.RELEASE
    assert classes["adresseid"] is FieldClass.RELEASE
    assert classes["lejemaalsnr"] is FieldClass.INTERNAL
    for personal in (
        "lejer_navn",
        "cpr",
        "telefon",
        "email",
        "bemaerkning",
        "saerlige_behov",
        "genhusningsadresse",
        "husstand",
    ):
        assert classes[personal] is FieldClass.DROP, personal
    assert all(
        field.classification is FieldClass.DROP
        for field in CATALOGUE.fields
        if field.level == "person"
    )


def test_heading_key_folds_danish_letters() -> None:
    """Headings match whatever the case, Danish letters and punctuation."""
    assert heading_key("Lejemålsnr") == heading_key("LEJEMAALSNR") == heading_key("Lejemaals-nr.")
    assert heading_key("Dør") == "doer"


def test_exported_json_is_current() -> None:
    """The committed files in schemas/json are what the models export (`make schemas`)."""
    expected = render()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in DEFAULT_DIR.glob("*.json")}
    assert sorted(on_disk) == sorted(expected)
    stale = [name for name, text in expected.items() if on_disk[name] != text]
    assert not stale, f"stale: {stale}; run `make schemas`"
