"""The inventory contract grows for headends: optional mac/headend/headend_port
columns on lines (old CSVs stay valid, errors name line and column), a headends
CSV told apart by its header, PUT /v1/inventory (CSV and JSON) and the agent's
assignment on SQLite and PostgreSQL, and the agent's [headend] config and local
headends CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from collector_harness import Running, fresh_db, running_collector, target

from agent.config import ConfigError, parse_config
from agent.inventory import AssignmentError, load_local_headends
from probes.inventory import (
    InventoryError,
    format_headends,
    format_inventory,
    is_headend_csv,
    normalise_mac,
    parse_headends,
    parse_inventory,
    parse_inventory_document,
)
from probes.model import Assignment, Headend, decode_as

OLD = ("account,host,technology,node,plan_down_mbps,plan_up_mbps,snmp_port,agent\n"
       "A1,10.0.0.1,docsis,N1,100,10,161,\n"
       "A2,10.0.0.2,dsl,N1,50,5,,north\n")
NEW = ("account,host,technology,node,plan_down_mbps,plan_up_mbps,mac,headend,headend_port\n"
       "A1,10.0.0.1,docsis,N1,100,10,00-10-18-AA-BB-CC,,\n"
       "A2,10.0.0.2,dsl,N1,50,5,,dslam-1,ADSL-0/1/5\n"
       "A3,10.0.0.3,gpon,N1,500,100,0010.18aa.bbcd,,HWTC1A2B3C4D\n")
HEADENDS = ("headend,host,kind,nodes,snmp_port,credentials,agent\n"
            "cmts-1,10.1.0.1,cmts,N1;N2,1161,cmts,\n"
            "dslam-1,10.1.0.2,dslam,N1,,,north\n"
            "olt-1,10.1.0.3,olt,,,,\n")


def test_old_csvs_parse_as_before() -> None:
    targets = parse_inventory(OLD)
    assert [(t.account, t.mac, t.headend, t.headend_port) for t in targets] == [
        ("A1", None, None, None), ("A2", None, None, None)]
    # written back without the new columns when no line uses them
    assert format_inventory(targets).splitlines()[0].endswith(",agent")
    assert parse_inventory(format_inventory(targets)) == targets


def test_mac_headend_and_port_columns_are_normalised_and_round_trip() -> None:
    targets = parse_inventory(NEW)
    assert [(t.mac, t.headend, t.headend_port) for t in targets] == [
        ("00:10:18:aa:bb:cc", None, None),
        (None, "dslam-1", "ADSL-0/1/5"),
        ("00:10:18:aa:bb:cd", None, "HWTC1A2B3C4D"),
    ]
    assert parse_inventory(format_inventory(targets)) == targets
    assert normalise_mac("0:1b:2:3:4:5") == "00:1b:02:03:04:05"
    assert normalise_mac("00:10:18:aa:bb") is None


@pytest.mark.parametrize(("cell", "reason"), [
    ("mac=00:10:18", "line 3: mac='00:10:18' is not a MAC address"),
    ("headend=bad id", "line 3:"),
])
def test_errors_name_the_line_and_the_column(cell: str, reason: str) -> None:
    column, value = cell.split("=")
    rows = NEW.splitlines()
    header = rows[0].split(",")
    cells = rows[2].split(",")
    cells[header.index(column)] = value
    text = "\n".join([rows[0], rows[1], ",".join(cells)]) + "\n"
    with pytest.raises(InventoryError) as err:
        parse_inventory(text)
    assert str(err.value).startswith(reason)
    assert column in str(err.value)


def test_headends_csv_is_told_apart_by_its_header() -> None:
    assert is_headend_csv(HEADENDS) and not is_headend_csv(NEW) and not is_headend_csv(OLD)
    doc = parse_inventory_document(HEADENDS)
    assert doc.targets == []
    cmts, dslam, olt = doc.headends
    assert (cmts.nodes, cmts.port, cmts.credentials) == (["N1", "N2"], 1161, "cmts")
    assert (dslam.agent, dslam.port, olt.nodes) == ("north", 161, [])
    assert parse_headends(format_headends(doc.headends)) == doc.headends
    assert parse_inventory_document(NEW).headends == []
    with pytest.raises(InventoryError, match=r"line 2: .*kind"):
        parse_headends("headend,host,kind,nodes\nr1,10.0.0.9,router,N1\n")
    with pytest.raises(InventoryError, match="line 3: headend cmts-1 appears twice"):
        parse_headends("headend,host,kind,nodes\ncmts-1,h,cmts,N1\ncmts-1,h,cmts,N2\n")
    with pytest.raises(InventoryError, match="line 1: missing column"):
        parse_headends("headend,host,nodes\ncmts-1,h,N1\n")


# --- the collector -------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgres"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    async with fresh_db(request.param, tmp_path) as db, running_collector(db) as running:
        yield running


async def _put(api: Running, body: str | bytes, content_type: str) -> tuple[int, dict]:
    resp = await api.client.put("/v1/inventory", data=body, headers={
        **api.auth("admin"), "Content-Type": content_type})
    return resp.status, await resp.json()


async def test_headends_csv_reaches_each_agents_assignment(api: Running) -> None:
    assert await _put(api, NEW, "text/csv") == (200, {"targets": 3})
    assert await _put(api, HEADENDS, "text/csv") == (200, {"targets": 0, "headends": 3})
    resp = await api.client.get("/v1/agents/north/assignment", headers=api.auth("agent"))
    north = decode_as(await resp.read(), Assignment)
    assert sorted(h.headend for h in north.headends) == ["cmts-1", "dslam-1", "olt-1"]
    assert {t.account: t.mac for t in north.targets}["A1"] == "00:10:18:aa:bb:cc"
    resp = await api.client.get("/v1/agents/south/assignment", headers=api.auth("agent"))
    south = decode_as(await resp.read(), Assignment)
    assert sorted(h.headend for h in south.headends) == ["cmts-1", "olt-1"]  # not north's
    # an upsert by id: the CMTS moves to port 161
    body = msgspec.json.encode({"headends": [Headend(headend="cmts-1", host="10.1.0.1",
                                                     kind="cmts", nodes=["N1"])]})
    assert await _put(api, body, "application/json") == (200, {"targets": 0, "headends": 1})
    stored = {h.headend: h for h in await api.collector.store.list_headends()}
    assert (stored["cmts-1"].port, stored["cmts-1"].nodes, len(stored)) == (161, ["N1"], 3)


async def test_json_object_upload_and_the_old_json_list(api: Running) -> None:
    both = msgspec.json.encode({"targets": [target("T1")], "headends": [
        Headend(headend="olt-9", host="10.1.0.9", kind="olt")]})
    assert await _put(api, both, "application/json") == (200, {"targets": 1, "headends": 1})
    assert await _put(api, msgspec.json.encode([target("T2")]), "application/json") == (
        200, {"targets": 1})
    status, answer = await _put(api, b'{"headends": [{"headend": "x"}]}', "application/json")
    assert status == 422 and "host" in answer["error"]
    status, answer = await _put(api, b'{"routers": []}', "application/json")
    assert status == 422


async def test_a_headend_id_may_not_be_an_account(api: Running) -> None:
    assert await _put(api, NEW, "text/csv") == (200, {"targets": 3})
    status, answer = await _put(
        api, "headend,host,kind,nodes\nA2,10.1.0.5,dslam,N1\n", "text/csv")
    assert (status, answer) == (422, {"error": "headend id A2 is also an account"})
    assert await _put(api, HEADENDS, "text/csv") == (200, {"targets": 0, "headends": 3})
    status, answer = await _put(
        api, "account,host,technology,node,plan_down_mbps,plan_up_mbps\n"
             "olt-1,10.0.0.7,gpon,N1,100,10\n", "text/csv")
    assert (status, answer) == (422, {"error": "headend id olt-1 is also an account"})


async def test_headends_csv_errors_name_the_line(api: Running) -> None:
    status, answer = await _put(api, "headend,host,kind,nodes\nc1,h,cmts,N1\nc2,,cmts,N1\n",
                                "text/csv")
    assert (status, answer) == (422, {"error": "line 3: host is empty"})


# --- the agent -----------------------------------------------------------------------------

def test_agent_headend_section_defaults_and_paths(tmp_path: Path) -> None:
    config = parse_config({"agent": {"name": "north"}}, base_dir=tmp_path)
    h = config.headend
    assert (h.enabled, h.interval_s, h.max_rows, h.concurrency) == (True, 60.0, 20_000, 4)
    config = parse_config({"agent": {"name": "north"}, "headend": {
        "interval_s": 30, "inventory": "headends.csv", "profiles": "/etc/p.toml"}},
        base_dir=tmp_path)
    assert config.headend.inventory == str(tmp_path / "headends.csv")
    assert config.headend.profiles == "/etc/p.toml"
    with pytest.raises(ConfigError, match="headend"):
        parse_config({"agent": {"name": "n"}, "headend": {"interval": 30}})


async def test_local_headends_csv_keeps_this_agents_rows(tmp_path: Path) -> None:
    path = tmp_path / "headends.csv"
    path.write_text(HEADENDS)
    assert [h.headend for h in await load_local_headends(str(path), "south")] == [
        "cmts-1", "olt-1"]
    assert len(await load_local_headends(str(path), "north")) == 3
    path.write_text("headend,host,kind,nodes\nx,h,cmts,N 1,extra\n")
    with pytest.raises(AssignmentError, match="line 2"):
        await load_local_headends(str(path), "north")
