"""The one message catalogue: every msgid the pages use has its Danish, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from broker.web._i18n import catalogue_path, gettext_for

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\(([a-z_]+)\)s")
KEYWORDS = {"_": None, "gettext": None, "N_": None}
TEMPLATES = "broker/web/templates/**.html"
OPTIONS = {TEMPLATES: {"extensions": "jinja2.ext.i18n", "trim_blocks": "true"}}


def _used() -> dict[str, str]:
    """Every msgid marked in a template or in the broker's code, with where it is."""
    found: dict[str, str] = {}
    method_map = [(TEMPLATES, "jinja2"), ("broker/**.py", "python")]
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS, options_map=OPTIONS
    ):
        assert isinstance(message, str), (filename, lineno)
        found.setdefault(message, f"{filename}:{lineno}")
    return found


def test_the_extraction_sees_templates_and_code() -> None:
    """The scan finds msgids of both kinds (it is not vacuous)."""
    used = _used()
    assert used["Sign in"].startswith("broker/web/templates/")
    assert used["rehousing"].startswith("broker/web/_listing_text.py")
    assert used["The form has expired"].startswith("broker/web/_shell.py")


def test_every_msgid_in_use_has_its_danish() -> None:
    """No template or N_() text is shown in English to a Danish reader by omission."""
    with catalogue_path("da").open("rb") as file:
        danish = {str(m.id): str(m.string) for m in read_po(file, locale="da") if m.id}
    missing = {msgid: where for msgid, where in _used().items() if not danish.get(msgid)}
    assert missing == {}


def test_each_msgid_is_translated_once() -> None:
    """A msgid written twice (two merges adding the same text) would let one Danish hide another."""
    entries = catalogue_path("da").read_text(encoding="utf-8").split("\n\n")
    msgids = [
        entry[entry.index("msgid ") : entry.index("msgstr ")]
        for entry in entries
        if "msgid " in entry and "msgstr " in entry
    ]
    assert sorted({m for m in msgids if msgids.count(m) > 1}) == []


def test_translations_keep_their_placeholders() -> None:
    """Each Danish text has exactly the msgid's %(name)s placeholders."""
    gettext = gettext_for("da")
    for msgid in _used():
        assert sorted(PLACEHOLDER.findall(gettext(msgid))) == sorted(PLACEHOLDER.findall(msgid))


def test_english_is_the_msgid() -> None:
    """The English catalogue shows the msgid; Danish is the default for anything else."""
    assert gettext_for("en")("Sign in") == "Sign in"
    assert gettext_for("da")("Sign in") == "Log ind"
    assert gettext_for("xx")("Sign in") == "Log ind"
