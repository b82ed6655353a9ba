"""Every cause a rule can emit has an action for the support agent and a
customer message in every language, and the customer texts render whole:
no '?' left where a value was missing. Checked over the rules' own list of
causes, so a cause added later without its texts fails here."""

from __future__ import annotations

import string
import time
from typing import get_args

import pytest

from collector.model import LANGUAGES
from collector.verdicts import messages
from collector.verdicts.messages import ACTIONS, CUSTOMER, customer_message, format_time
from collector.verdicts.rules.core import PRIORITY, VERDICT_OF, Cause

CAUSES = get_args(Cause)
# The only value a customer text may use (customer-safe: the outage start).
CUSTOMER_PARAMS = {"since": format_time(time.time() - 3600)}


def test_the_causes_are_the_rules_own_list() -> None:
    assert set(CAUSES) == set(PRIORITY) == set(VERDICT_OF)
    for new in ("mgmt_path", "headend_ranging", "dark_line", "plant", "dark"):
        assert new in CAUSES


@pytest.mark.parametrize("cause", CAUSES)
def test_each_cause_has_an_action_and_whole_customer_texts(cause: str) -> None:
    assert ACTIONS.get(cause), f"no action for {cause}"
    key = messages._CUSTOMER_KEY.get(cause, cause)
    texts = CUSTOMER[key]
    assert set(texts) == set(LANGUAGES) == {"en", "sv", "pl"}
    rendered = customer_message(cause, CUSTOMER_PARAMS)
    for lang in LANGUAGES:
        template = texts[lang]
        # Every field the text uses is one the judge always gives (strict render).
        strict = string.Formatter().vformat(template, (), dict(CUSTOMER_PARAMS))
        assert rendered[lang] == strict
        assert rendered[lang].count("?") == template.count("?"), "a '?' placeholder was left"
        assert rendered[lang].strip() and "{" not in rendered[lang]


def test_new_cases_say_what_the_issue_asks_in_all_three_languages() -> None:
    plant = customer_message("plant", CUSTOMER_PARAMS)
    assert "A technician is needed for the line in your area" in plant["en"]
    assert "En tekniker behövs för ledningen i ditt område" in plant["sv"]
    assert "Potrzebny jest technik do linii w Twojej okolicy" in plant["pl"]
    power = customer_message("dark", CUSTOMER_PARAMS)
    assert "check that the modem has power" in power["en"]
    assert "modemet har ström" in power["sv"] and "modem ma zasilanie" in power["pl"]
    # mgmt_path has its own text now, not the generic "no information" one
    mgmt = customer_message("mgmt_path", CUSTOMER_PARAMS)
    unknown = customer_message("stale", CUSTOMER_PARAMS)
    for lang in LANGUAGES:
        assert mgmt[lang] != unknown[lang]
    assert "sees your modem connected" in mgmt["en"] and "actually working?" in mgmt["en"]
    assert "ser att ditt modem är anslutet" in mgmt["sv"]
    assert "widzi, że Twój modem jest podłączony" in mgmt["pl"]
    # customer-safe: no internal wording (headend, CMTS, management network)
    for lang in LANGUAGES:
        for word in ("CMTS", "headend", "SNMP", "management"):
            assert word not in mgmt[lang]
