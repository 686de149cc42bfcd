"""One catalogue for every word a person reads: French first, English available (issue 18).

The source strings are English (gettext's msgids, marked `_()` in Python and in the templates,
`N_()` for plain data such as the labels); `locales/fr/LC_MESSAGES/parcours.po` holds their
French. The .po is compiled in memory at first use, so what is in git is what is served: there is
no compiled file to forget. `make messages` extracts the strings again and merges them into the
catalogue; a unit test fails while a string has no French.

Dates and numbers follow the language through Babel's CLDR data: 03/12/2026 and 72,4 % in French.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path

from babel import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

LANGUAGES = ("fr", "en")
DEFAULT = "fr"
COOKIE = "parcours_lang"  # the language a person chose with the switch, for every page
DOMAIN = "parcours"
LOCALES = Path(__file__).parent / "locales"
# The CLDR locale each language formats dates and numbers with.
FORMATS = {"fr": "fr_FR", "en": "en_GB"}
NAMES = {"fr": "Français", "en": "English"}


def catalogue_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The language's catalogue; English is the source language and needs none."""
    if lang == "en":
        return NullTranslations()
    with catalogue_path(lang).open("rb") as po:
        catalogue = read_po(po, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def _accepted(header: str | None) -> list[str]:
    """The languages of an Accept-Language header, most wanted first."""
    ranked = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag or tag == "*":
            continue
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def choose(asked: str | None = None, chosen: str | None = None, accept_language: str | None = None) -> str:
    """The language of a page: the one asked in the address (the switch), else the one chosen
    before (its cookie), else the browser's first that we speak, else French."""
    for lang in (asked, chosen):
        if lang in LANGUAGES:
            return lang
    for tag in _accepted(accept_language):
        found = negotiate_locale([tag.replace("_", "-")], list(LANGUAGES), sep="-")
        if found:
            return found
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT


@dataclass(frozen=True)
class Words:
    """What a page says in one language: its sentences, the labels of codes, dates and numbers."""

    lang: str = DEFAULT

    @property
    def _t(self) -> NullTranslations:
        return translations(self.lang)

    def _(self, message: str, **values) -> str:
        text = self._t.gettext(message)
        return text % values if values else text

    def n_(self, singular: str, plural: str, n: int, **values) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text % {"n": self.number(n), **values}

    def label(self, labels: dict[str, str], code) -> str:
        """The words for a code (a code that has none shows as itself)."""
        message = labels.get(str(code)) if code is not None else None
        return self._(message) if message else str(code if code is not None else "—")

    def choices(self, labels: dict[str, str]) -> list[tuple[str, str]]:
        return [(code, self._(message)) for code, message in labels.items()]

    def date(self, value: date | str | None) -> str:
        """03/12/2026 in French."""
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        return format_date(value, "short" if self.lang == "fr" else "dd/MM/yyyy", locale=FORMATS[self.lang])

    def moment(self, value: datetime | str | None) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return format_datetime(value, "dd/MM/yyyy HH:mm", locale=FORMATS[self.lang])

    def number(self, value, digits: int = 0) -> str:
        """12 345 in French, 12,345 in English; a withheld figure ('s') as itself."""
        if value is None:
            return "—"
        if isinstance(value, str):
            return value
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, pattern, locale=FORMATS[self.lang])

    def percent(self, rate, digits: int = 1) -> str:
        """A share from 0 to 1 as 72,4 % in French."""
        if rate is None:
            return "—"
        if isinstance(rate, str):
            return rate
        # French writes a (narrow, unbreakable) space before the sign, English none.
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + (" %" if self.lang == "fr" else "%")
        return format_percent(rate, pattern, locale=FORMATS[self.lang])
