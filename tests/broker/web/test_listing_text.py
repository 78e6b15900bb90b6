"""The list's words: every msgid has its Danish, with the same placeholders."""

from __future__ import annotations

import re

from broker.web._listing_text import (
    CHANGE_TEXTS,
    FIELD_LABELS,
    MAIL_TEXTS,
    PERIOD_TEXTS,
    PHASE_LABELS,
    TEXTS,
    gettext_for,
)
from schemas import CATALOGUE, FieldClass, PhaseKind

MSGIDS = [
    *PHASE_LABELS.values(),
    *FIELD_LABELS.values(),
    *PERIOD_TEXTS.values(),
    *CHANGE_TEXTS.values(),
    *TEXTS.values(),
    *MAIL_TEXTS.values(),
]
PLACEHOLDER = re.compile(r"%\(([a-z_]+)\)s")


def test_every_msgid_has_its_danish_with_the_same_placeholders() -> None:
    """Each English msgid is translated, and its placeholders survive the translation."""
    danish = gettext_for("da")
    for msgid in MSGIDS:
        translated = danish(msgid)
        assert translated != msgid or msgid in {"Disposition", "Start"}, msgid
        assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(msgid))
    assert gettext_for("en")("new") == "new"
    assert danish("new") == "ny"
    assert danish("withdrawn") == "udgået"


def test_every_phase_kind_and_released_field_has_a_label() -> None:
    """Labels cover `schemas.PhaseKind` and every releasable field of the catalogue."""
    assert set(PHASE_LABELS) == {kind.value for kind in PhaseKind}
    releasable = {f.name for f in CATALOGUE.fields if f.classification is FieldClass.RELEASE}
    assert set(FIELD_LABELS) == releasable
    danish = gettext_for("da")
    assert [danish(PHASE_LABELS[k]) for k in ("varsling", "genhusning", "haandvaerkeradgang")] == [
        "varsling",
        "genhusning",
        "håndværkeradgang",
    ]
