"""Issue 18: one catalogue for every word a person reads, French first; the reader's language from
the switch, their earlier choice or the browser; dates and numbers written as in France."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from shared import i18n
from shared.contracts import labels
from shared.i18n import messages


def plain(text: str) -> str:
    """CLDR separates with (narrow) unbreakable spaces; a reader sees spaces."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def test_every_string_of_the_code_and_templates_has_its_french_and_none_is_stale():
    missing, stale = messages.problems("fr")
    assert missing == [], "run `make messages` and translate these in shared/i18n/locales/fr"
    assert stale == []


def test_every_label_of_every_code_reads_in_french():
    fr = i18n.Words("fr")
    every = [value for name in dir(labels) if name.isupper() and isinstance(getattr(labels, name), dict)
             for value in getattr(labels, name).values()]
    assert len(every) > 70
    untranslated = [message for message in every if fr._(message) == message and message not in SAME_IN_FRENCH]
    assert untranslated == []


SAME_IN_FRENCH = {"motivation", "Date", "Note", "Source", "Contact", "correction", "Pages", "hybride"}


@pytest.mark.parametrize(("asked", "chosen", "browser", "lang"), [
    (None, None, None, "fr"),  # French first
    (None, None, "en-US,en;q=0.9", "en"),
    (None, None, "de-DE,de;q=0.9", "fr"),  # a language we do not speak: French
    (None, None, "en;q=0.5, fr-FR", "fr"),  # the browser's order is by weight, not position
    (None, None, "de, en-GB;q=0.8", "en"),
    (None, "en", "fr-FR", "en"),  # an earlier choice beats the browser
    ("fr", "en", "en-US", "fr"),  # the switch beats both
    ("xx", None, "en", "en"),  # a language we do not have is ignored
    (None, None, "en;q=oops", "en"),
])
def test_the_language_of_a_page(asked, chosen, browser, lang):
    assert i18n.choose(asked, chosen, browser) == lang


def test_dates_and_numbers_are_written_as_in_france():
    fr, en = i18n.Words("fr"), i18n.Words("en")
    assert fr.date(date(2026, 12, 3)) == "03/12/2026"
    assert fr.date("2026-12-03") == "03/12/2026"
    assert en.date(date(2026, 12, 3)) == "03/12/2026"
    assert fr.moment(datetime(2026, 12, 3, 9, 5)) == "03/12/2026 09:05"
    assert plain(fr.percent(0.724)) == "72,4 %"
    assert en.percent(0.724) == "72.4%"
    assert plain(fr.number(15234)) == "15 234"
    assert en.number(15234) == "15,234"
    assert plain(fr.number(4.013, 2)) == "4,01"
    assert fr.number("s") == "s" and fr.percent("s") == "s"  # a withheld figure stays withheld
    assert fr.percent(None) == "—" and fr.date(None) == "—"


def test_labels_and_plurals():
    fr, en = i18n.Words("fr"), i18n.Words("en")
    assert fr.label(labels.SITUATION, "permanent_contract") == "CDI"
    assert fr.label(labels.SITUATION, "fixed_term_6m_plus") == "CDD de 6 mois ou plus"
    assert fr.label(labels.SITUATION, "further_study") == "poursuite d'études ou de formation"
    assert en.label(labels.SITUATION, "permanent_contract") == "permanent contract (CDI)"
    assert fr.label(labels.JOB_FAMILY, "Z9999") == "Z9999"  # a code without words shows as itself
    assert fr.choices(labels.EXEMPT_REASON)[0] == ("deceased", "décédé")
    one = "%(n)s follow-up, most urgent first."
    many = "%(n)s follow-ups, most urgent first."
    assert fr.n_(one, many, 1) == "1 suivi, le plus urgent en premier."
    assert plain(fr.n_(one, many, 1200)) == "1 200 suivis, les plus urgents en premier."
    assert en.n_(one, many, 2) == "2 follow-ups, most urgent first."


def test_no_string_to_translate_hides_inside_an_f_string():
    """Babel's extractor does not look inside f-strings (on Python 3.11 they are one token): a
    `_()` there would never reach the catalogue, and the page would stay in English."""
    import io
    import tokenize
    from pathlib import Path

    hidden = []
    for folder in ("shared", "services", "parcours"):
        for path in (messages.ROOT / folder).rglob("*.py"):
            tokens = tokenize.generate_tokens(io.StringIO(Path(path).read_text()).readline)
            for token in tokens:
                prefix = token.string[:2].lower()
                if token.type == tokenize.STRING and "f" in prefix and ("_(" in token.string):
                    hidden.append(f"{path.relative_to(messages.ROOT)}:{token.start[0]}")
    assert hidden == []
