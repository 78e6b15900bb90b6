"""The pages' one message catalogue: English msgids, Danish first, English second.

``locale/<lang>/LC_MESSAGES/messages.po`` is the only source: it is compiled to a
catalogue in memory at first use (Babel), so there is no ``.mo`` to keep in step.
Every msgid in a template (``_()``, ``{% trans %}``) or marked in code with
:func:`N_` has its Danish there (a test extracts them all and checks).
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "N_",
    "Gettext",
    "catalogue_path",
    "gettext_for",
    "translations",
]

Gettext = Callable[[str], str]
LANGUAGES = ("da", "en")
DEFAULT_LANGUAGE = "da"
_LOCALE = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for a deferred marker
    """Mark ``message`` for the catalogue; it is translated where it is shown."""
    return message


def catalogue_path(lang: str) -> Path:
    """Return the ``messages.po`` of ``lang``."""
    return _LOCALE / lang / "LC_MESSAGES" / "messages.po"


@functools.cache
def translations(lang: str) -> gettext.GNUTranslations:
    """Return the compiled catalogue of ``lang`` (``da`` or ``en``; anything else is ``da``).

    Raises:
        ValueError: the ``.po`` file does not parse.
    """
    chosen = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    with catalogue_path(chosen).open("rb") as file:
        catalog = read_po(file, locale=chosen)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def gettext_for(lang: str) -> Gettext:
    """Return the ``gettext`` of ``lang`` (``da``, the default, or ``en``)."""
    return translations(lang).gettext
