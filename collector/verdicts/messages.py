"""What the support agent is told (English) and what the IVR says (en, sv, pl).

Texts are data keyed by the finding's cause, so wording can be reviewed and
translated without reading rule code. Customer messages are customer-safe:
no addresses, no node names, no internal measurements — only the outage time.
"""

from __future__ import annotations

import string
import time
from collections.abc import Mapping

from collector.i18n import N_
from collector.model import LANGUAGES

# Marked N_ for the support tools' catalogs (collector/i18n): the CLI and the
# console say an action in the reader's language (collector.i18n.words.action_text).
ACTIONS: dict[str, str] = {
    "outage": N_(
        "Don't troubleshoot or dispatch: area outage on node {node} since {since}, "
        "{affected} customers affected ({unreachable} of {affected} modems unreachable)."
    ),
    "agent_silent": N_(
        "The agent polling this line ({agent}) is down, silent since {since}: ops are "
        "alerted. Nothing is known about the line itself: run a check / ask ops."
    ),
    "stale": N_("No fresh data (last result {age} ago): run a check now."),
    "never_seen": N_("No result for this account yet: run a check now."),
    "mgmt_path": N_(
        "The headend sees this modem {state} ({headend_status}) but it does not answer our "
        "management network since {since}: the customer's service is probably up. Don't "
        "dispatch or ship a modem; ops: check the management path (ACL, routing, the modem's "
        "management address). Ask the customer whether the service actually works."
    ),
    "headend_ranging": N_(
        "The CMTS sees the modem but it never completes registration ({headend_status}) since "
        "{since}: its signal does not get through the line. Dispatch a technician for the "
        "line; don't ship a modem."
    ),
    "plant": N_(
        "Plant fault on node {node} since {since}: {members} modems went dark together "
        "({neighbours} and this one). One technician for the plant (tap, amplifier or shared "
        "drop), event {event}: don't dispatch per home and don't ship a modem."
    ),
    "dark_line": N_(
        "Modem unreachable since {since}, and its line was failing before it went dark "
        "({facts}): dispatch a technician for the line. Don't ship a modem."
    ),
    "dark": N_(
        "Modem unreachable since {since} while its node {node} is fine and its readings were "
        "clean before ({history}): have the customer check the power first (lights on, "
        "plugged in, socket works), then the cables; only then replace / ship a modem."
    ),
    "reboot_loop": N_(
        "Modem restarted {reboots} times within {window}: reboot loop, replace / ship a modem. "
        "Don't ask the customer to restart it again."
    ),
    "line": N_("Line out of spec ({facts}): dispatch a technician for the line."),
    "node_degraded": N_(
        "Node {node} is below plan ({below} of {tests} recent throughput tests under "
        "{ratio} of plan): capacity issue known to ops; no dispatch."
    ),
    "ping": N_(
        "Line in spec but {facts} to the modem: likely congestion; watch the node, no dispatch yet."
    ),
    "below_plan": N_(
        "Line in spec but throughput to the modem is below plan ({facts}): "
        "check node load, then the modem."
    ),
    "lan_down": N_(
        "Line in spec but the modem's LAN port is down: have the customer check the cable "
        "to their router; if it stays down, replace / ship a modem."
    ),
    "no_snmp": N_("Modem line readings unavailable ({facts}): run a check; verify SNMP access."),
    "customer_side": N_(
        "Everything up to the modem is in spec ({facts}): the problem is behind the modem — "
        "the customer's own router, WiFi or device."
    ),
    "ok": N_("Nothing wrong on our side: line in spec and modem reachable."),
}

CUSTOMER: dict[str, dict[str, str]] = {
    "outage": {
        "en": (
            "There is a known outage in your area since {since}. Our technicians are working "
            "on it; there is no need to restart your equipment."
        ),
        "sv": (
            "Det finns ett känt avbrott i ditt område sedan {since}. Våra tekniker arbetar med "
            "att åtgärda det; du behöver inte starta om din utrustning."
        ),
        "pl": (
            "Od {since} w Twojej okolicy występuje znana awaria. Nasi technicy pracują nad jej "
            "usunięciem; nie musisz ponownie uruchamiać swojego sprzętu."
        ),
    },
    "unknown": {
        "en": (
            "We do not have up-to-date information about your connection right now. "
            "Please hold while we run a check."
        ),
        "sv": (
            "Vi har just nu ingen aktuell information om din anslutning. "
            "Vänta medan vi gör en kontroll."
        ),
        "pl": (
            "Nie mamy w tej chwili aktualnych informacji o Twoim połączeniu. "
            "Prosimy poczekać, aż przeprowadzimy sprawdzenie."
        ),
    },
    "mgmt_path": {
        "en": (
            "Our equipment sees your modem connected, but we cannot read its details right "
            "now. Is your service actually working? If it is, there is nothing you need to do."
        ),
        "sv": (
            "Vår utrustning ser att ditt modem är anslutet, men vi kan inte läsa av det just "
            "nu. Fungerar din tjänst faktiskt? Om den gör det behöver du inte göra något."
        ),
        "pl": (
            "Nasz sprzęt widzi, że Twój modem jest podłączony, ale w tej chwili nie możemy "
            "odczytać jego danych. Czy usługa faktycznie działa? Jeśli tak, nie musisz nic robić."
        ),
    },
    "plant": {
        "en": (
            "We have found a fault on the cable network serving several homes in your area, "
            "including yours. A technician is needed for the line in your area and is being "
            "arranged; there is no need to restart or replace your modem."
        ),
        "sv": (
            "Vi har hittat ett fel i kabelnätet som försörjer flera hem i ditt område, "
            "däribland ditt. En tekniker behövs för ledningen i ditt område och håller på att "
            "bokas; du behöver inte starta om eller byta ditt modem."
        ),
        "pl": (
            "Wykryliśmy usterkę sieci kablowej obsługującej kilka domów w Twojej okolicy, "
            "w tym Twój. Potrzebny jest technik do linii w Twojej okolicy i właśnie go "
            "umawiamy; nie musisz ponownie uruchamiać ani wymieniać modemu."
        ),
    },
    "dark_line": {
        "en": (
            "We cannot reach your modem, and our measurements show the line to your home was "
            "failing before it stopped. A technician needs to fix the line, and we will "
            "contact you to arrange a visit. Your modem does not need replacing."
        ),
        "sv": (
            "Vi når inte ditt modem, och våra mätningar visar att ledningen till ditt hem "
            "försämrades innan den slutade fungera. En tekniker behöver åtgärda ledningen, och "
            "vi kontaktar dig för att boka ett besök. Ditt modem behöver inte bytas."
        ),
        "pl": (
            "Nie możemy połączyć się z Twoim modemem, a nasze pomiary pokazują, że linia do "
            "Twojego domu psuła się, zanim przestała działać. Linię musi naprawić technik; "
            "skontaktujemy się z Tobą, aby umówić wizytę. Modemu nie trzeba wymieniać."
        ),
    },
    "dark": {
        "en": (
            "We cannot reach your modem, although the network in your area is working. Please "
            "check that the modem has power: its lights are on, it is plugged in and the socket "
            "works. Then check that its cables are connected. If it still does not come back, "
            "we will help you further."
        ),
        "sv": (
            "Vi når inte ditt modem, trots att nätet i ditt område fungerar. Kontrollera att "
            "modemet har ström: att lamporna lyser, att det är inkopplat och att uttaget "
            "fungerar. Kontrollera sedan att kablarna sitter i. Om det ändå inte kommer "
            "tillbaka hjälper vi dig vidare."
        ),
        "pl": (
            "Nie możemy połączyć się z Twoim modemem, choć sieć w Twojej okolicy działa. "
            "Sprawdź, czy modem ma zasilanie: czy świecą się diody, czy jest podłączony i czy "
            "gniazdko działa. Następnie sprawdź, czy kable są podłączone. Jeśli modem nadal nie "
            "zacznie działać, pomożemy Ci dalej."
        ),
    },
    "reboot_loop": {
        "en": (
            "Your modem keeps restarting by itself. This points to a fault in the modem, "
            "and we will arrange a replacement."
        ),
        "sv": (
            "Ditt modem startar om av sig självt gång på gång. Det tyder på ett fel i modemet, "
            "och vi ordnar ett nytt åt dig."
        ),
        "pl": (
            "Twój modem ciągle sam się restartuje. Wskazuje to na usterkę modemu, "
            "dlatego zorganizujemy jego wymianę."
        ),
    },
    "line": {
        "en": (
            "We have found a fault on the line to your home. A technician needs to fix it, "
            "and we will contact you to arrange a visit."
        ),
        "sv": (
            "Vi har hittat ett fel på ledningen till ditt hem. En tekniker behöver åtgärda det, "
            "och vi kontaktar dig för att boka ett besök."
        ),
        "pl": (
            "Wykryliśmy usterkę na linii do Twojego domu. Musi ją usunąć technik, "
            "a my skontaktujemy się z Tobą, aby umówić wizytę."
        ),
    },
    "node_degraded": {
        "en": (
            "The network in your area is congested at the moment, so speeds may be lower than "
            "usual. We are aware of it and working on more capacity."
        ),
        "sv": (
            "Nätet i ditt område är överbelastat just nu, så hastigheten kan vara lägre än "
            "vanligt. Vi känner till problemet och arbetar med att utöka kapaciteten."
        ),
        "pl": (
            "Sieć w Twojej okolicy jest obecnie przeciążona, więc prędkość może być niższa niż "
            "zwykle. Wiemy o tym i pracujemy nad zwiększeniem przepustowości."
        ),
    },
    "slow": {
        "en": (
            "Your connection is working, but it is slower or less stable than it should be. "
            "We are looking into it."
        ),
        "sv": (
            "Din anslutning fungerar, men den är långsammare eller mindre stabil än den borde "
            "vara. Vi undersöker saken."
        ),
        "pl": (
            "Twoje połączenie działa, ale jest wolniejsze lub mniej stabilne, niż powinno. "
            "Sprawdzamy to."
        ),
    },
    "lan_down": {
        "en": (
            "The connection to your modem works, but the modem's network port towards your "
            "equipment does not. Please check the cable between the modem and your router or "
            "computer. If that does not help, we will send you a new modem."
        ),
        "sv": (
            "Anslutningen till ditt modem fungerar, men modemets nätverksport mot din utrustning "
            "gör det inte. Kontrollera kabeln mellan modemet och din router eller dator. Om det "
            "inte hjälper skickar vi ett nytt modem till dig."
        ),
        "pl": (
            "Połączenie z Twoim modemem działa, ale port sieciowy modemu, do którego podłączasz "
            "swój sprzęt, nie działa. Sprawdź kabel między modemem a routerem lub komputerem. "
            "Jeśli to nie pomoże, wyślemy Ci nowy modem."
        ),
    },
    "customer_side": {
        "en": (
            "Everything up to your modem works as it should, and we measured full speed to it. "
            "The problem is most likely in your own router, WiFi or device. Try connecting a "
            "computer directly to the modem with a cable."
        ),
        "sv": (
            "Allt fram till ditt modem fungerar som det ska, och vi har uppmätt full hastighet "
            "dit. Felet ligger troligen i din egen router, ditt wifi eller din enhet. Prova att "
            "ansluta en dator direkt till modemet med en kabel."
        ),
        "pl": (
            "Wszystko aż do Twojego modemu działa prawidłowo i zmierzyliśmy do niego pełną "
            "prędkość. Problem najprawdopodobniej leży w Twoim własnym routerze, sieci Wi-Fi lub "
            "urządzeniu. Spróbuj podłączyć komputer bezpośrednio do modemu kablem."
        ),
    },
    "ok": {
        "en": "We see no fault on your connection: the line and your modem are working normally.",
        "sv": "Vi ser inget fel på din anslutning: ledningen och ditt modem fungerar normalt.",
        "pl": "Nie widzimy usterki Twojego połączenia: linia i modem działają prawidłowo.",
    },
}

# Outage notices (issue 17, part 5): sent to every account of an outage by the
# outage.* / plant_fault.* webhooks, for an SMS gateway to pass on as is. Like
# the texts above they name no node, address or clock time (an SMS is read in
# the customer's time zone, hours later): only the customer's own downtime.
NOTICES: dict[str, dict[str, str]] = {
    "opened": {
        "en": (
            "We know about the outage in your area and are working on it. There is no need "
            "to restart your equipment or to call us."
        ),
        "sv": (
            "Vi känner till avbrottet i ditt område och arbetar med att åtgärda det. Du "
            "behöver inte starta om din utrustning eller ringa oss."
        ),
        "pl": (
            "Wiemy o awarii w Twojej okolicy i pracujemy nad jej usunięciem. Nie musisz "
            "ponownie uruchamiać sprzętu ani do nas dzwonić."
        ),
    },
    "closed": {
        "en": (
            "The outage in your area is fixed and your service is back. You were without "
            "service for {downtime}; a credit for this has been noted on your account."
        ),
        "sv": (
            "Avbrottet i ditt område är åtgärdat och din tjänst fungerar igen. Du var utan "
            "tjänst i {downtime}; en kreditering för detta har noterats på ditt konto."
        ),
        "pl": (
            "Awaria w Twojej okolicy została usunięta i usługa znów działa. Czas przerwy w "
            "usłudze: {downtime}; rekompensata za ten czas została odnotowana na Twoim koncie."
        ),
    },
    # Closed, but this account's own service never went down: no credit is due.
    "closed_no_downtime": {
        "en": "The outage in your area is fixed. Your own service was not interrupted.",
        "sv": "Avbrottet i ditt område är åtgärdat. Din egen tjänst avbröts inte.",
        "pl": "Awaria w Twojej okolicy została usunięta. Twoja usługa nie została przerwana.",
    },
}

# Duration words per language: (one, few, many) — Polish has three plural
# forms (2-4 but not 12-14 take "few"); English and Swedish use one and many.
_UNITS: dict[str, dict[str, tuple[str, str, str]]] = {
    "en": {"day": ("day", "days", "days"), "hour": ("hour", "hours", "hours"),
           "minute": ("minute", "minutes", "minutes")},
    "sv": {"day": ("dag", "dagar", "dagar"), "hour": ("timme", "timmar", "timmar"),
           "minute": ("minut", "minuter", "minuter")},
    "pl": {"day": ("dzień", "dni", "dni"), "hour": ("godzina", "godziny", "godzin"),
           "minute": ("minuta", "minuty", "minut")},
}
_AND = {"en": "and", "sv": "och", "pl": "i"}


def _count(n: int, unit: str, language: str) -> str:
    one, few, many = _UNITS[language][unit]
    if n == 1:
        return f"1 {one}"
    few_form = language == "pl" and n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14)
    return f"{n} {few if few_form else many}"


def spoken_duration(seconds: float, language: str) -> str:
    """A downtime as words a customer reads (``2 hours and 5 minutes``), rounded
    up to the minute so a short outage never reads as none; under two days in
    hours and minutes, longer in days and hours."""
    minutes = max(1, -(-int(seconds) // 60))
    units = ("day", "hour") if minutes >= 2 * 24 * 60 else ("hour", "minute")
    big, small = divmod(round(minutes / 60), 24) if units[0] == "day" else divmod(minutes, 60)
    parts = [_count(n, unit, language) for n, unit in zip((big, small), units, strict=True) if n]
    return f" {_AND[language]} ".join(parts)


def outage_notice(what: str, language: str, downtime_s: float | None = None) -> str:
    """The customer's notice of an outage opened or closed (``what``), in their
    language; a close names their downtime, or that they had none."""
    if what == "closed" and not downtime_s:
        return NOTICES["closed_no_downtime"][language]
    return NOTICES[what][language].format(
        downtime=spoken_duration(downtime_s or 0.0, language))


# Causes sharing one customer text.
_CUSTOMER_KEY: dict[str, str] = {
    "agent_silent": "unknown",
    "headend_ranging": "line",
    "stale": "unknown",
    "never_seen": "unknown",
    "no_snmp": "unknown",
    "ping": "slow",
    "below_plan": "slow",
}


class _Blank(dict[str, object]):
    """Missing template values render as '?' rather than raising."""

    def __missing__(self, key: str) -> str:
        return "?"


_FORMATTER = string.Formatter()


def format_time(ts: float | None) -> str:
    """Unix seconds as ``2026-11-24 01:20 UTC`` (callers are in several time zones)."""
    if ts is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def format_duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


# Rendered texts by (template, values of the fields it uses). Most verdicts
# render the same few texts over and over (every ok account gets the same
# customer message; an outage's accounts differ only by node), and a verdict
# is rendered whenever it changes, so this saves a string.Formatter pass per
# language per change. Bounded: cleared when full.
_CACHE_MAX = 8192
_cache: dict[tuple[str, tuple[object, ...]], str] = {}
_fields_of: dict[str, tuple[str, ...] | None] = {}
_MISSING = object()
_CUSTOMER_JOINED: dict[str, str] = {
    key: "\x00".join(texts[lang] for lang in LANGUAGES) for key, texts in CUSTOMER.items()
}


def _fields(template: str) -> tuple[str, ...] | None:
    """Plain field names of a template; None when it uses attribute/index lookups."""
    names: list[str] = []
    for _text, name, _spec, _conv in _FORMATTER.parse(template):
        if name is None:
            continue
        if not name or "." in name or "[" in name:
            return None
        names.append(name)
    return tuple(names)


def _render(template: str, params: Mapping[str, object]) -> str:
    names = _fields_of.get(template, _MISSING)
    if names is _MISSING:
        names = _fields_of[template] = _fields(template)
    if names is None:
        return _FORMATTER.vformat(template, (), _Blank(params))
    assert isinstance(names, tuple)
    values = [params.get(n, _MISSING) for n in names]
    # The type too: 1, 1.0 and True are equal keys but render differently.
    key = (template, (*values, *map(type, values)))
    try:
        text = _cache.get(key)
    except TypeError:  # an unhashable value: render without the cache
        return _FORMATTER.vformat(template, (), _Blank(params))
    if text is None:
        text = _FORMATTER.vformat(template, (), _Blank(params))
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = text
    return text


def action_for(cause: str, params: Mapping[str, object]) -> str:
    return _render(ACTIONS[cause], params)


def customer_message(cause: str, params: Mapping[str, object]) -> dict[str, str]:
    """Every language at once; a fresh dict each call (callers may keep it)."""
    # All languages rendered as one template: one cache lookup for the set.
    rendered = _render(_CUSTOMER_JOINED[_CUSTOMER_KEY.get(cause, cause)], params)
    return dict(zip(LANGUAGES, rendered.split("\x00"), strict=True))
