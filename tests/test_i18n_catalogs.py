"""Every message of the console and the CLI has a Swedish and a Polish translation.

The messages are extracted from the source as ``make i18n`` does (babel.cfg:
Python ``_``/``N_``/``ngettext`` and the console's Jinja2 templates), so a
new English string without its translations fails here, named.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from collector.i18n import (
    UI_LANGUAGES,
    catalog_path,
    from_accept_language,
    from_environment,
    normalize,
    translations,
)

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{(\w+)(?:[:!][^}]*)?\}")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str | tuple[str, ...], str]]:
    pot = tmp_path_factory.mktemp("i18n") / "linewatch.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(pybabel), "-q", "extract", "-F", "babel.cfg", "--no-location",
                    "-k", "N_", "-k", "ngettext:1,2", "-o", str(pot), "."],
                   cwd=ROOT, check=True, timeout=120)
    with pot.open("rb") as fh:
        catalog = read_po(fh)
    return [(m.id, str(m.id)) for m in catalog if m.id]


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


@pytest.mark.parametrize("language", [lang for lang in UI_LANGUAGES if lang != "en"])
def test_every_message_is_translated(language: str, extracted: list) -> None:
    with catalog_path(language).open("rb") as fh:
        catalog = read_po(fh, locale=language)
    plurals = catalog.num_plurals
    missing: list[str] = []
    wrong: list[str] = []
    for msgid, _key in extracted:
        message = catalog.get(msgid)
        ids = msgid if isinstance(msgid, tuple) else (msgid,)
        if message is None or message.fuzzy:
            missing.append(ids[0])
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or (isinstance(msgid, tuple) and len(strings) != plurals):
            missing.append(ids[0])
            continue
        # a translation may drop a placeholder only where a plural form makes it
        # implicit ("one hour"); it may never invent one the code does not pass
        wanted = set().union(*(_placeholders(i) for i in ids))
        for text in strings:
            if not _placeholders(text) <= wanted:
                wrong.append(f"{ids[0]!r} -> {text!r}")
    assert not missing, f"{len(missing)} message(s) without a {language} translation " \
                        f"(run `make i18n`, then translate): {missing[:40]}"
    assert not wrong, f"{language} translations with unknown placeholders: {wrong[:20]}"


def test_catalogs_compile_and_translate() -> None:
    for language in UI_LANGUAGES:
        assert translations(language).gettext("") is not None
    assert translations("en").gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(("tag", "expected"), [
    ("sv_SE.UTF-8", "sv"), ("pl-PL", "pl"), ("EN", "en"), ("de_DE", None), ("", None),
    ("C", None),
])
def test_normalize(tag: str, expected: str | None) -> None:
    assert normalize(tag) == expected


@pytest.mark.parametrize(("header", "expected"), [
    ("pl-PL,pl;q=0.9,en;q=0.8", "pl"),
    ("de-DE,sv;q=0.5,en;q=0.7", "en"),
    ("de, fr;q=0.9", None),
    ("sv;q=0, pl;q=0.1", "pl"),
    ("garbage;;q=x,,", None),
])
def test_accept_language(header: str, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_environment_follows_glibc_order() -> None:
    assert from_environment({"LANG": "sv_SE.UTF-8"}) == "sv"
    assert from_environment({"LC_MESSAGES": "pl_PL.UTF-8", "LANG": "sv_SE.UTF-8"}) == "pl"
    assert from_environment({"LC_ALL": "C.UTF-8", "LANG": "pl_PL.UTF-8"}) == "en"
    assert from_environment({"LANGUAGE": "de:sv", "LANG": "pl_PL.UTF-8"}) == "sv"
    assert from_environment({}) is None
