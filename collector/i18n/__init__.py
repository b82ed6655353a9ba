"""The support tools' own language: en, sv and pl from one gettext catalog.

One domain (``linewatch``) serves the console's templates and Python code and
the CLI. Catalogs live as ``.po`` text under ``collector/i18n/locale`` and are
compiled in memory on first use (Babel), so there is no binary ``.mo`` in the
repository and no build step: what is reviewed is what runs.

English is the source language: its "catalog" is the msgids themselves.
``make i18n`` re-extracts the messages (``babel.cfg``) and merges them into
the catalogs; ``tests/test_i18n_catalogs.py`` fails when any message lacks a
Swedish or Polish translation.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterable
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DOMAIN = "linewatch"
LOCALE_DIR = Path(__file__).with_name("locale")
UI_LANGUAGES = ("en", "sv", "pl")
DEFAULT_LANGUAGE = "en"

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LOCALE_DIR",
    "N_",
    "UI_LANGUAGES",
    "catalog_path",
    "from_accept_language",
    "from_environment",
    "normalize",
    "translations",
]


def N_(message: str) -> str:
    """Mark a module-level string for extraction; translate it where it is shown."""
    return message


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog of ``language`` (English and unknowns: the msgids).

    Fuzzy entries are left out, as gettext does: a guess is not a translation.
    """
    language = normalize(language) or DEFAULT_LANGUAGE
    if language == "en":
        return NullTranslations()
    path = catalog_path(language)
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def normalize(tag: str | None) -> str | None:
    """``sv_SE.UTF-8``, ``sv-SE``, ``SV`` -> ``sv``; anything not served -> None."""
    if not tag:
        return None
    base = tag.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_")
    if base.upper() in ("C", "POSIX"):
        return None  # Babel reads these as en_US_POSIX; gettext as "no translation"
    try:
        lang = Locale.parse(base).language
    except (ValueError, UnknownLocaleError):
        lang = base.split("_", 1)[0].lower()
    return lang if lang in UI_LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best served language of an ``Accept-Language`` header, by q-value."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = normalize(tag) if tag.strip() != "*" else None
        if lang is not None and q > 0:
            ranked.append((-q, index, lang))
    return min(ranked)[2] if ranked else None


def from_environment(environ: dict[str, str] | None = None,
                     names: Iterable[str] = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"),
                     ) -> str | None:
    """The language gettext would pick from the environment (first served one)."""
    env = os.environ if environ is None else environ
    for name in names:
        value = env.get(name)
        if not value:
            continue
        for tag in value.split(":"):  # LANGUAGE is a colon-separated list
            lang = normalize(tag)
            if lang is not None:
                return lang
            if tag in ("C", "POSIX", "C.UTF-8", "C.utf8"):
                return "en"
        if name != "LANGUAGE":
            break  # the first set variable of the LC_* chain decides, as in glibc
    return None
