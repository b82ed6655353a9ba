"""Customer notices (issue 17, part 5): the inventory's optional ``language``
column (CSV and JSON, kept by SQLite and PostgreSQL), and the outage webhooks
carrying each affected account's notice in its language, received by a real
aiohttp receiver from a real collector; the pre-call answer defaults to it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from collector_harness import dark, fresh_db, running_collector, target
from test_webhooks import SECRET, _config, _healthy, _wait, receiver

from collector.app import COLLECTOR
from collector.verdicts.messages import NOTICES, outage_notice, spoken_duration
from probes.inventory import InventoryError, format_inventory, parse_inventory

OLD = "account,host,technology,node,plan_down_mbps,plan_up_mbps\nA1,10.0.0.1,docsis,N-1,100,10\n"
NEW = ("account,host,technology,node,plan_down_mbps,plan_up_mbps,language\n"
       "A1,10.0.0.1,docsis,N-1,100,10,sv\n"
       "A2,10.0.0.2,dsl,N-1,100,10,\n"
       "A3,10.0.0.3,gpon,N-1,100,10, PL \n")


def test_the_language_column_is_optional_and_round_trips() -> None:
    [old] = parse_inventory(OLD)
    assert old.language is None
    assert "language" not in format_inventory([old]), "older readers see the columns they know"
    targets = parse_inventory(NEW)
    assert [t.language for t in targets] == ["sv", None, "pl"]
    written = format_inventory(targets)
    assert written.splitlines()[0].endswith(",agent,language")
    assert parse_inventory(written) == targets


@pytest.mark.parametrize(("value", "shown"), [("de", "'de'"), ("english", "'english'"),
                                              ("sv-SE", "'sv-SE'")])
def test_a_bad_language_names_the_line_and_the_column(value: str, shown: str) -> None:
    text = NEW.replace("A3,10.0.0.3,gpon,N-1,100,10, PL ", f"A3,10.0.0.3,gpon,N-1,100,10,{value}")
    with pytest.raises(InventoryError) as err:
        parse_inventory(text)
    assert str(err.value) == f"line 4, column language: {shown} is not one of en, sv, pl"


def test_notices_are_whole_and_customer_safe_in_every_language() -> None:
    for what, texts in NOTICES.items():
        assert set(texts) == {"en", "sv", "pl"}, what
    for lang in ("en", "sv", "pl"):
        for text in (outage_notice("opened", lang), outage_notice("closed", lang, 7500.0),
                     outage_notice("closed", lang, 0.0)):
            assert text.strip() and "{" not in text and "?" not in text
            assert "N-1" not in text and "10.0.0" not in text and "UTC" not in text
    assert "we know about the outage in your area" in outage_notice("opened", "en").lower()
    closed = outage_notice("closed", "en", 7500.0)
    assert "is fixed" in closed and "2 hours and 5 minutes" in closed and "credit" in closed
    assert "2 timmar och 5 minuter" in outage_notice("closed", "sv", 7500.0)
    assert "2 godziny i 5 minut" in outage_notice("closed", "pl", 7500.0)
    assert "credit" not in outage_notice("closed", "en", 0.0), "no downtime, no credit"
    assert spoken_duration(30, "pl") == "1 minuta" and spoken_duration(12 * 60, "pl") == "12 minut"
    assert spoken_duration(22 * 60, "pl") == "22 minuty"
    assert spoken_duration(2 * 86400 + 3 * 3600, "sv") == "2 dagar och 3 timmar"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_json_and_csv_uploads_keep_the_language_in_the_store(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_db(backend, tmp_path) as db:
        async with running_collector(db) as api:
            lines = [msgspec.structs.replace(target("A1"), language="pl"), target("A2")]
            await api.put_inventory(lines)
            resp = await api.client.put("/v1/inventory", data=NEW.replace("A1,", "C1,"),
                                        headers={**api.auth("admin"), "Content-Type": "text/csv"})
            assert resp.status == 200, await resp.text()
            resp = await api.client.put(
                "/v1/inventory", data=b'[{"account":"A9","host":"10.0.0.9","technology":"dsl",'
                b'"node":"N-1","plan_down_mbps":1,"plan_up_mbps":1,"language":"de"}]',
                headers={**api.auth("admin"), "Content-Type": "application/json"})
            assert resp.status == 422 and "language" in await resp.text()
            resp = await api.client.put("/v1/inventory", data=NEW.replace(",sv", ",xx"),
                                        headers={**api.auth("admin"), "Content-Type": "text/csv"})
            assert resp.status == 422
            assert "line 2, column language" in await resp.text()
        async with running_collector(db) as again:  # read back from the store
            store = again.app[COLLECTOR].store
            assert (await store.get_target("A1")).language == "pl"  # type: ignore[union-attr]
            assert (await store.get_target("A2")).language is None  # type: ignore[union-attr]
            stored = {t.account: t.language for t in await store.list_targets()}
            assert stored == {"A1": "pl", "A2": None, "C1": "sv", "A3": "pl"}
            loaded = again.app[COLLECTOR].targets
            assert loaded["A1"].language == "pl" and loaded["A3"].language == "pl"


async def test_precall_defaults_to_the_accounts_language(tmp_path: Path) -> None:
    async with fresh_db("sqlite", tmp_path) as db, \
            running_collector(db, default_language="sv") as api:
        await api.put_inventory([msgspec.structs.replace(target("A1"), language="pl"),
                                 target("A2")])

        async def precall(body: dict[str, str], accept: str | None = None) -> str:
            headers = api.auth("ivr") | ({"Accept-Language": accept} if accept else {})
            resp = await api.client.post("/v1/precall", json=body, headers=headers)
            assert resp.status == 200
            return str((await resp.json())["language"])

        assert await precall({"account": "A1"}) == "pl"  # the inventory's
        assert await precall({"account": "A2"}) == "sv"  # the config's default
        assert await precall({"account": "A1", "language": "en"}) == "en"  # the caller's
        assert await precall({"account": "A1"}, "en-GB") == "en"
        assert await precall({"account": "A1"}, "de, fr;q=0.5") == "pl"


async def test_outage_webhooks_carry_each_accounts_notice_in_its_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LW_TEST_HOOK_SECRET", SECRET)
    languages = {"A0": "sv", "A1": "pl", "A2": "en"}  # the rest: default_language
    lines = [msgspec.structs.replace(target(f"A{i}", "N-1"), language=languages.get(f"A{i}"))
             for i in range(8)]
    want = {t.account: languages.get(t.account, "pl") for t in lines}
    async with receiver() as rx, fresh_db("sqlite", tmp_path) as db, \
            running_collector(db, **_config(rx.url), default_language="pl") as api:
        await api.put_inventory(lines)
        await api.ingest(_healthy(8))
        await api.ingest([r for i in range(6) for r in dark(f"A{i}")])  # 6 of 8: outage
        await _wait(lambda: rx.ok("outage.opened"), "outage.opened delivered")
        opened = rx.ok("outage.opened")[0]["body"]["data"]
        assert opened["node"] == "N-1" and opened["accounts"] == sorted(want)
        notices = {n["account"]: n for n in opened["notices"]}
        assert set(notices) == set(want)
        for account, notice in notices.items():
            assert notice["language"] == want[account], account
            assert notice["message"] == outage_notice("opened", want[account])

        await asyncio.sleep(1.0)
        await api.ingest(_healthy(8))  # back; closes after the 1 s hold
        await asyncio.sleep(1.2)
        await api.ingest(_healthy(8))
        await _wait(lambda: rx.ok("outage.closed"), "outage.closed delivered")
        report = rx.ok("outage.closed")[0]["body"]["data"]
        credits = {c["account"]: c["downtime_s"] for c in report["credits"]}
        notices = {n["account"]: n for n in report["notices"]}
        assert set(notices) == set(credits) == set(want)
        for account, notice in notices.items():
            lang = want[account]
            assert notice["language"] == lang
            assert notice["message"] == outage_notice("closed", lang, credits[account])
            assert "N-1" not in notice["message"]
        # An area outage is downtime for all its accounts (dark or not): each is told its own.
        for account, seconds in credits.items():
            assert seconds > 0
            assert spoken_duration(seconds, want[account]) in notices[account]["message"]
        assert "kreditering" in notices["A0"]["message"] and "rekompensata" in notices["A7"][
            "message"]
        assert rx.bad_signatures == 0
