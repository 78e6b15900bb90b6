"""The design system's macros (``templates/_macros.html``) render the expected DKFDS markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broker.web._shell import environment
from broker.web._static import STATIC_DIR, static_url

TEMPLATES = Path(__file__).resolve().parents[3] / "broker" / "web" / "templates"


def _render(call: str, lang: str = "da", **context: object) -> str:
    source = '{% import "_macros.html" as ui %}' + call
    html = environment(lang).from_string(source).render(**context)
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


def _markup(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


def test_icon() -> None:
    """A DKFDS icon from the vendored sprite (its URL with the content hash), hidden from AT."""
    sprite = static_url("dkfds/img/all-svg-icons.svg")
    assert _render('{{ ui.icon("lock") }}') == (
        '<svg class="icon-svg" focusable="false" aria-hidden="true">'
        f'<use href="{sprite}#lock"></use></svg>'
    )


def test_every_icon_the_templates_use_is_in_the_sprite() -> None:
    """Each ``ui.icon("name")`` in a template names a symbol of the vendored sprite."""
    sprite = (STATIC_DIR / "dkfds" / "img" / "all-svg-icons.svg").read_text(encoding="utf-8")
    symbols = set(re.findall(r'<symbol id="([^"]+)"', sprite))
    used = {
        name
        for template in TEMPLATES.rglob("*.html")
        for name in re.findall(r'ui\.icon\("([^"]+)"\)', template.read_text(encoding="utf-8"))
    }
    assert {"lock", "language"} <= used
    assert used <= symbols


def test_button() -> None:
    """A primary submit button by default; variant, name and value when given."""
    assert _render('{{ ui.button("Gem") }}') == (
        '<button type="submit" class="button button-primary">Gem</button>'
    )
    assert _render('{{ ui.button("Send", variant="secondary", name="svar", value="ja") }}') == (
        '<button type="submit" class="button button-secondary" name="svar" value="ja">Send</button>'
    )


def test_button_escapes_its_text() -> None:
    """Text is escaped (autoescape): markup in a value never becomes markup."""
    assert "&lt;b&gt;" in _render("{{ ui.button(text) }}", text="<b>")


def test_csrf_field() -> None:
    """The hidden field every form carries."""
    assert _render('{{ ui.csrf_field("abc") }}') == (
        '<input type="hidden" name="csrf_token" value="abc">'
    )


def test_text_field_without_error() -> None:
    """Label, input with its value and width, and a hint tied to it by aria-describedby."""
    assert _render(
        '{{ ui.text_field("gade", "Vejnavn", value="Demovej", hint="Som på brevet") }}'
    ) == _markup(
        """
        <div class="form-group">
          <label class="form-label" for="gade">Vejnavn</label>
          <span class="form-hint" id="gade-hint">Som på brevet</span>
          <input class="form-input input-width-m" id="gade" name="gade" type="text"
            value="Demovej" aria-describedby="gade-hint">
        </div>
        """
    )


def test_text_field_with_error() -> None:
    """An error marks the group, says "Fejl:" to screen readers and is described by the input."""
    message = '<span class="sr-only">Fejl: </span>Indtast din organisation'
    assert _render(
        '{{ ui.text_field("org", "Organisation", value="x", error="Indtast din organisation") }}'
    ) == _markup(
        f"""
        <div class="form-group form-error">
          <label class="form-label" for="org">Organisation</label>
          <span class="form-error-message" id="org-error">{message}</span>
          <input class="form-input input-width-m" id="org" name="org" type="text" value="x"
            aria-describedby="org-error" aria-invalid="true">
        </div>
        """
    )


def test_a_password_field_never_shows_a_value() -> None:
    """A password input carries no value attribute, whatever was passed."""
    html = _render(
        '{{ ui.text_field("password", "Adgangskode", value="hemmelig", type="password") }}'
    )
    assert "hemmelig" not in html
    assert 'type="password">' in html


def test_select_field() -> None:
    """A label and a drop-down of (value, text) pairs, the chosen one selected."""
    options = [("", "Vælg"), ("auditor", "revisor"), ("admin", "administrator")]
    assert _render(
        '{{ ui.select_field("role", "Rolle", options, value="auditor") }}', options=options
    ) == _markup(
        """
        <div class="form-group">
          <label class="form-label" for="role">Rolle</label>
          <select class="form-select" id="role" name="role">
            <option value="">Vælg</option>
            <option value="auditor" selected>revisor</option>
            <option value="admin">administrator</option>
          </select>
        </div>
        """
    )


def test_select_field_with_hint_and_error() -> None:
    """The hint and the error describe the drop-down; the group is marked in error."""
    html = _render(
        '{{ ui.select_field("role", "Rolle", [("", "Vælg")], hint=hint, error=error) }}',
        hint="Hvad må den",
        error="Vælg en rolle",
    )
    assert html.startswith('<div class="form-group form-error">')
    assert '<span class="form-hint" id="role-hint">Hvad må den</span>' in html
    assert '<span class="sr-only">Fejl: </span>Vælg en rolle</span>' in html
    assert 'aria-describedby="role-hint role-error" aria-invalid="true">' in html


def test_error_summary() -> None:
    """Each problem links to its field; a problem without a field is plain text."""
    assert _render(
        "{{ ui.error_summary(errors) }}",
        errors=[("org", "Indtast din organisation"), (None, "Prøv igen")],
    ) == _markup(
        """
        <div class="alert alert-error" role="alert" aria-labelledby="error-summary-heading"
          tabindex="-1">
          <div class="alert-body">
            <h2 class="alert-heading" id="error-summary-heading">Der er et problem</h2>
            <ul class="alert-text nobullet-list">
              <li><a class="function-link" href="#org">Indtast din organisation</a></li>
              <li>Prøv igen</li>
            </ul>
          </div>
        </div>
        """
    )
    assert _render("{{ ui.error_summary([]) }}") == ""


def test_error_summary_in_english() -> None:
    """The heading comes from the catalogue in the reader's language."""
    assert "There is a problem" in _render("{{ ui.error_summary([('a', 'b')]) }}", lang="en")


def test_table() -> None:
    """A caption, column headings with scope, one row per item."""
    assert _render(
        "{{ ui.table('Boliger', ['Vejnavn', 'Nr.'], [['Demovej', '1A'], ['Prøvestien', '2']]) }}"
    ) == _markup(
        """
        <div class="table--responsive-scroll">
        <table class="table">
          <caption>Boliger</caption>
          <thead><tr><th scope="col">Vejnavn</th><th scope="col">Nr.</th></tr></thead>
          <tbody>
            <tr><td>Demovej</td><td>1A</td></tr>
            <tr><td>Prøvestien</td><td>2</td></tr>
          </tbody>
        </table>
        </div>
        """
    )


def test_data_table_takes_its_rows_from_the_call() -> None:
    """The same table around rows a page writes itself (links in cells); compact on demand."""
    call = (
        "{% call ui.data_table('Tjek', ['Adresse'], compact=True) %}"
        '<tr><td><a href="/x">Demovej 1</a></td></tr>{% endcall %}'
    )
    assert _render(call) == _markup(
        """
        <div class="table--responsive-scroll">
        <table class="table table--compact">
          <caption>Tjek</caption>
          <thead><tr><th scope="col">Adresse</th></tr></thead>
          <tbody><tr><td><a href="/x">Demovej 1</a></td></tr></tbody>
        </table>
        </div>
        """
    )


@pytest.mark.parametrize(
    ("kind", "role"),
    [("info", "status"), ("success", "status"), ("error", "alert"), ("warning", "alert")],
)
def test_notice(kind: str, role: str) -> None:
    """A notice of each kind; errors and warnings are announced at once (role=alert)."""
    assert _render(f'{{{{ ui.notice("Gemt", kind="{kind}", heading="Kvittering") }}}}') == _markup(
        f"""
        <div class="alert alert-{kind}" role="{role}">
          <div class="alert-body">
            <p class="alert-heading">Kvittering</p>
            <p class="alert-text">Gemt</p>
          </div>
        </div>
        """
    )
