"""Console pages from Jinja2 templates: autoescaped, in the agent's language and zone.

One environment per app (aiohttp-jinja2), templates under ``templates/``.
Every ``{{ value }}`` is escaped; what is already HTML (the SVG charts of
``charts.py``, ``<time>`` tags) is ``Markup`` built from escaped parts.

The UI language and zone of a request are a ``Ui``: the signed-in agent's
choice (kept with the session), else ``Accept-Language``, else the collector's
``[console] language``; the zone is ``[console] timezone`` (default: the
host's). Templates translate with Jinja2's i18n extension (``{% trans %}``,
``_()``, new-style: placeholders are escaped); the gettext functions it calls
read the translations of the page being rendered from a context variable,
set for the (synchronous) render only, so concurrent requests in other
languages never see each other's.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import time
from dataclasses import dataclass, field
from gettext import NullTranslations
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from collector.i18n import DEFAULT_LANGUAGE, UI_LANGUAGES, from_accept_language, translations
from collector.i18n import words as _words
from collector.i18n.clock import local_text, relative_text, utc_text, zone

__all__ = ["TEMPLATES", "UI_DEFAULTS", "Ui", "UiDefaults", "fragment", "setup_templates",
           "template_env", "ui_for"]

TEMPLATES = Path(__file__).with_name("templates")
LANGUAGE_NAMES = {"en": "English", "sv": "Svenska", "pl": "Polski"}

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT",
                        "Universal", "Zulu", "Etc/GMT", "GMT"})
_TRANSLATIONS: contextvars.ContextVar[NullTranslations] = contextvars.ContextVar(
    "console_translations")


def _gettext(message: str) -> str:
    return _TRANSLATIONS.get(translations(DEFAULT_LANGUAGE)).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return _TRANSLATIONS.get(translations(DEFAULT_LANGUAGE)).ngettext(singular, plural, n)


@dataclass(frozen=True)
class UiDefaults:
    """The collector's ``[console]`` settings, checked at start-up."""

    language: str = DEFAULT_LANGUAGE
    timezone: str | None = None  # None: the host's zone


@dataclass(frozen=True)
class Ui:
    """One page's language, zone and clock: what every time and word is shown in."""

    language: str
    tz: dt.tzinfo
    now: float = field(default_factory=time.time)

    @property
    def tr(self) -> NullTranslations:
        return translations(self.language)

    def gettext(self, message: str) -> str:
        return self.tr.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.tr.ngettext(singular, plural, n)

    @property
    def zone_name(self) -> str:
        """The IANA name, with UTC's aliases (Etc/UTC, Zulu...) said as 'UTC'."""
        name = str(getattr(self.tz, "key", None) or self.tz)
        return "UTC" if name in _UTC_NAMES else name

    def local(self, ts: float, *, seconds: bool = False) -> str:
        """'2026-03-29 03:15 CEST' in the site's zone."""
        return local_text(ts, self.tz, self.language, seconds=seconds)

    def relative(self, ts: float) -> str:
        return relative_text(ts, self.now, self.language)

    def when(self, ts: float | None) -> Markup:
        """``<time>``: relative and local, UTC on hover (the ``title``)."""
        if ts is None:
            return Markup(escape(self.gettext("never")))
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
        return Markup('<time datetime="{}" title="{}">{} ({})</time>').format(
            iso, utc_text(ts), self.relative(ts), self.local(ts))

    def stamp(self, ts: float | None) -> Markup:
        """``<time>`` with the local time only (tables of many rows)."""
        if ts is None:
            return Markup(escape(self.gettext("never")))
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            iso, utc_text(ts), self.local(ts))

    def verdict(self, name: str, *, short: bool = False) -> str:
        word = _words.verdict_word(name, self.gettext, short=short)
        if name == "ok" and word[:2].lower() == "ok":
            return "OK" + word[2:]  # an abbreviation, not a word to capitalise
        return word[:1].upper() + word[1:]

    def fact(self, fact: str) -> str:
        word = _words.fact_word(fact, self.gettext)
        return word[:1].upper() + word[1:]


def ui_for(request: web.Request, chosen: str | None) -> Ui:
    """The request's UI: the session's language, else Accept-Language, else config."""
    defaults: UiDefaults = request.app.get(UI_DEFAULTS) or UiDefaults()
    language = (chosen if chosen in UI_LANGUAGES else None) \
        or from_accept_language(request.headers.get("Accept-Language")) \
        or defaults.language
    return Ui(language=language, tz=zone(defaults.timezone))


UI_DEFAULTS = web.AppKey("console_ui_defaults", UiDefaults)


def setup_templates(app: web.Application, defaults: UiDefaults,
                    helpers: dict[str, Any] | None = None) -> None:
    """The app's Jinja2 environment with ``helpers`` as template globals;
    ``defaults`` are checked here (a bad zone fails)."""
    zone(defaults.timezone)
    if defaults.language not in UI_LANGUAGES:
        raise ValueError(f"[console] language must be one of {', '.join(UI_LANGUAGES)}")
    app[UI_DEFAULTS] = defaults
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"],
        trim_blocks=True, lstrip_blocks=True, default_helpers=False)
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.policies["ext.i18n.trimmed"] = True  # msgids without the templates' line breaks
    env.globals.update(LANGUAGE_NAMES=LANGUAGE_NAMES, UI_LANGUAGES=UI_LANGUAGES,
                       **(helpers or {}))


def template_env(app: web.Application) -> jinja2.Environment:
    return aiohttp_jinja2.get_env(app)


def fragment(request: web.Request, ui: Ui, template: str, **context: Any) -> str:
    """A template rendered in ``ui``'s language (a page, or rows for a JSON answer)."""
    token = _TRANSLATIONS.set(ui.tr)
    try:
        return aiohttp_jinja2.render_string(template, request, {"ui": ui, **context})
    finally:
        _TRANSLATIONS.reset(token)

