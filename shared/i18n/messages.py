"""`make messages`: find every string a person reads in the code and the templates, and merge
them into each language's catalogue, where a person writes their translation.

`python -m shared.i18n.messages` updates the catalogues; `--check` only says what is missing
(a string without a translation) or stale (a translation no string asks for any more), as the
unit test does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from shared.i18n import DOMAIN, LANGUAGES, catalogue_path

ROOT = Path(__file__).resolve().parents[2]
# Where the strings are (the tests and the simulator speak to developers, in English).
SOURCES = {
    "shared": [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")],
    "services": [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")],
    "parcours": [("**.py", "python")],
}
KEYWORDS = {**DEFAULT_KEYWORDS, "n_": (1, 2), "N_": None}
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]  # English is the source language


def extract() -> Catalog:
    """Every marked string of the code, with where it is used."""
    found = Catalog(domain=DOMAIN, project="Parcours")
    for folder, methods in SOURCES.items():
        for filename, lineno, message, comments, context in extract_from_dir(
                ROOT / folder, methods, {"**/templates/**.html": {"trimmed": "true"}}, KEYWORDS):
            found.add(message, None, [(f"{folder}/{filename}", lineno)], auto_comments=comments, context=context)
    return found


def read(lang: str) -> Catalog:
    with catalogue_path(lang).open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


def problems(lang: str, found: Catalog | None = None) -> tuple[list[str], list[str]]:
    """(strings with no translation in the catalogue, translations no string asks for)."""
    found = found or extract()
    catalogue = read(lang)
    wanted = {m.id for m in found if m.id}
    missing = []
    for msgid in sorted(wanted, key=str):
        message = catalogue.get(msgid)
        strings = message.string if message else None
        empty = not strings or (isinstance(strings, tuple) and not all(strings))
        if message is None or empty or message.fuzzy:
            missing.append(msgid if isinstance(msgid, str) else msgid[0])
    stale = sorted(str(m.id) for m in catalogue if m.id and m.id not in wanted)
    return missing, stale


def update(lang: str, found: Catalog) -> None:
    path = catalogue_path(lang)
    if path.exists():
        catalogue = read(lang)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalogue = Catalog(locale=lang, domain=DOMAIN, project="Parcours")
    catalogue.update(found, no_fuzzy_matching=True)
    catalogue.obsolete.clear()
    catalogue.fuzzy = False
    catalogue.project, catalogue.version = "Parcours", "1"
    catalogue.header_comment = (f"# Parcours: what a person reads, in {catalogue.locale.english_name}.\n"
                                "# Updated by `make messages`; each msgstr written by a person.")
    with path.open("wb") as po:
        write_po(po, catalogue, width=100, sort_output=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report missing and stale translations")
    args = parser.parse_args(argv)
    found = extract()
    status = 0
    for lang in TRANSLATED:
        if not args.check:
            update(lang, found)
        missing, stale = problems(lang, found)
        print(f"{lang}: {len(found)} strings, {len(missing)} without translation, {len(stale)} stale")
        for msgid in missing:
            print(f"  missing: {msgid}")
        status |= bool(missing or stale)
    return status


if __name__ == "__main__":
    sys.exit(main())
