"""The catalogs' upkeep: extract every message (Python, Jinja templates, static/js) and check that
each language's .po file translates all of them with the same {placeholders}. `convscope i18n`."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from app.config import PACKAGE_DIR, STATIC_DIR, TEMPLATES_DIR
from app.i18n import LANGS, LOCALE_DIR, po_path

PY_KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}  # _(), gettext(), ... and N_ marks
JS_KEYWORDS = {"t": None}  # static/js's gettext; only there: in Python `t` is an ordinary name (t["macs"])
JINJA = "jinja2.ext:babel_extract"
_PLACEHOLDER = re.compile(r"\{(\w*)\}|%\((\w+)\)s")


Source = tuple[Path, str, list[tuple[str, str]], dict[str, dict[str, str]], dict[str, object]]


def sources() -> list[Source]:
    """(folder, its name in locations, method map, options, keywords) for each place messages live."""
    jinja_opts = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}
    return [
        (PACKAGE_DIR, "app", [("**.py", "python")], {}, PY_KEYWORDS),
        (TEMPLATES_DIR, "templates", [("**.html", JINJA)], {"**.html": jinja_opts}, DEFAULT_KEYWORDS),
        (STATIC_DIR / "js", "static/js", [("**.js", "javascript")], {"**.js": {"parse_template_string": "true"}},
         JS_KEYWORDS),
    ]


def extract() -> Catalog:
    """Every message id in the source, with its locations relative to the repository root."""
    cat = Catalog(project="convscope", charset="utf-8")
    for folder, rel, methods, options, keywords in sources():
        if not folder.is_dir():
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
                str(folder), methods, options_map=options, keywords=keywords):
            if isinstance(message, tuple):
                message = message[0]
            if message:
                cat.add(message, None, [(f"{rel}/{filename}", lineno)], auto_comments=comments, context=context)
    return cat


def update() -> dict[str, int]:
    """Merge the extracted messages into every language's .po (new ones untranslated, gone ones dropped)."""
    template = extract()
    counts = {}
    for lang in LANGS[1:]:
        path = po_path(lang)
        if path.exists():
            with path.open("rb") as f:
                cat = read_po(f, locale=lang)
        else:
            cat = Catalog(locale=lang, project="convscope", charset="utf-8")
        cat.update(template, no_fuzzy_matching=True)
        cat.obsolete.clear()
        cat.fuzzy = False
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, cat, width=100, sort_output=False, omit_header=False)
        counts[lang] = len(cat)
    return counts


def _placeholders(s: str) -> set[str]:
    return {a or b for a, b in _PLACEHOLDER.findall(s)}


def check() -> list[str]:
    """Problems, one line each: a message missing from a catalog, untranslated, fuzzy, or with other placeholders."""
    template = extract()
    problems = []
    for lang in LANGS[1:]:
        path = po_path(lang)
        if not path.exists():
            return [f"{path}: missing (run: convscope i18n extract)"]
        with path.open("rb") as f:
            cat = read_po(f, locale=lang)
        for m in template:
            if not m.id:
                continue
            t = cat.get(m.id)
            where = f"{m.locations[0][0]}:{m.locations[0][1]}" if m.locations else "?"
            if t is None:
                problems.append(f"{lang}: not in the catalog ({where}): {m.id!r}")
            elif not t.string:
                problems.append(f"{lang}: untranslated ({where}): {m.id!r}")
            elif t.fuzzy:
                problems.append(f"{lang}: fuzzy ({where}): {m.id!r}")
            elif _placeholders(str(m.id)) != _placeholders(str(t.string)):
                problems.append(f"{lang}: placeholders differ ({where}): {m.id!r} -> {t.string!r}")
    return problems


__all__ = ["LOCALE_DIR", "check", "extract", "update"]
