"""The collector's HTTP API against a real server and a real store (SQLite and
PostgreSQL): the role matrix, account reads with audit, notes, pre-call,
on-demand checks with a simulated agent over HTTP, and a node outage."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from collector_harness import (
    Running,
    batch,
    dark,
    docsis_ok,
    fresh_db,
    ping_ok,
    running_collector,
    target,
)

from probes.model import JobList, ProbeRecord, decode_as, encode


@pytest.fixture(params=["sqlite", "postgres"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    async with fresh_db(request.param, tmp_path) as db, running_collector(db) as running:
        await running.put_inventory(
            [target(f"A{i}", "N-1") for i in range(10)]
            + [target(f"B{i}", "N-2") for i in range(5)]
        )
        yield running


# --- the role matrix ----------------------------------------------------------------------

# route -> roles that may call it (admin may call everything; None = public)
MATRIX: list[tuple[str, str, set[str] | None]] = [
    ("GET", "/v1/accounts/A0", {"support"}),
    ("GET", "/v1/accounts/A0/history", {"support"}),
    ("GET", "/v1/accounts/A0/downtime", {"support"}),
    ("POST", "/v1/accounts/A0/notes", {"support"}),
    ("POST", "/v1/accounts/A0/check", {"support"}),
    ("POST", "/v1/accounts/A0/calls", {"support"}),
    ("POST", "/v1/accounts/A0/dispatches", {"support"}),
    ("POST", "/v1/precall", {"ivr"}),
    ("GET", "/v1/outages", {"support"}),
    ("GET", "/v1/outages/node:N-0:1/credits", {"support"}),
    ("GET", "/v1/nodes", {"support"}),
    ("POST", "/v1/ingest", {"agent"}),
    ("PUT", "/v1/inventory", set()),
    ("GET", "/v1/agents/default/assignment", {"agent"}),
    ("GET", "/v1/agents/default/jobs?wait=0", {"agent"}),
    ("GET", "/v1/openapi.json", None),
    ("GET", "/healthz", None),
    ("GET", "/metrics", None),
]
SUCCESS = {"/v1/accounts/A0/notes": 201, "/v1/accounts/A0/calls": 201,
           "/v1/accounts/A0/dispatches": 201,
           # no such outage: past the role check, the route itself answers 404
           "/v1/outages/node:N-0:1/credits": 404}


def _request_body(path: str) -> tuple[bytes | None, str | None]:
    if path.endswith("/notes"):
        return b'{"text": "customer called"}', "application/json"
    if path.endswith("/dispatches"):
        # force: the matrix posts it once per role, all for the same open fault
        return b'{"reference": "FS-1", "force": true}', "application/json"
    if path.endswith("/calls"):
        return b'{"agent": "alice"}', "application/json"
    if path.endswith("/check"):
        return b'{"timeout_s": 0.05}', "application/json"
    if path == "/v1/precall":
        return b'{"account": "A0"}', "application/json"
    if path == "/v1/ingest":
        return encode(batch([ping_ok("A0")])), "application/json"
    if path == "/v1/inventory":
        return encode([target("A0", "N-1")]), "application/json"  # type: ignore[arg-type]
    return None, None


async def test_every_route_answers_each_role_as_designed(api: Running) -> None:
    principals = [*api.tokens, "none", "wrong"]
    failures = []
    for method, path, roles in MATRIX:
        for who in principals:
            headers = {}
            if who == "wrong":
                headers["Authorization"] = "Bearer not-a-real-token"
            elif who != "none":
                headers.update(api.auth(who))
            body, ctype = _request_body(path)
            if ctype:
                headers["Content-Type"] = ctype
            resp = await api.client.request(method, path, data=body, headers=headers)
            if roles is None or who == "admin" or who in roles:
                want = SUCCESS.get(path, 200)
            elif who in ("none", "wrong"):
                want = 401
            else:
                want = 403
            if resp.status != want:
                failures.append(f"{method} {path} as {who}: {resp.status}, want {want}")
            if resp.status == 401:
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            if resp.status in (401, 403):
                assert "error" in await resp.json()
    assert not failures, "\n".join(failures)


async def test_unknown_route_and_method_answer_json_errors(api: Running) -> None:
    resp = await api.client.get("/v1/nope", headers=api.auth("admin"))
    assert resp.status == 404 and "error" in await resp.json()
    resp = await api.client.delete("/v1/nodes", headers=api.auth("admin"))
    assert resp.status == 405


# --- account reads --------------------------------------------------------------------------


async def test_account_status_is_fresh_after_ingest_and_every_read_is_audited(
    api: Running,
) -> None:
    resp = await api.client.get("/v1/accounts/A1", headers=api.auth("support"))
    before = await resp.json()
    assert before["fresh"] is False and before["last_seen"] is None
    assert before["verdict"]["verdict"] == "unknown"

    await api.ingest([docsis_ok("A1"), ping_ok("A1")])
    resp = await api.client.get("/v1/accounts/A1", headers=api.auth("support"))
    status = await resp.json()
    assert resp.status == 200
    assert status["fresh"] is True and time.time() - status["last_seen"] < 10
    assert set(status["latest"]) == {"snmp", "ping"}
    assert status["node"] == "N-1" and status["plan_down_mbps"] == 250.0
    assert status["verdict"]["verdict"] in ("ok", "customer_side")

    await api.client.get("/v1/accounts/A1/history", headers=api.auth("admin"))
    audit = await api.collector.store.audit_log("A1")
    assert [(a.actor, a.action) for a in audit] == [
        ("admin-test", "history"), ("support-test", "status"), ("support-test", "status"),
    ]


async def test_unknown_account_is_404_and_bad_account_is_400(api: Running) -> None:
    for path in ("/v1/accounts/ZZZ", "/v1/accounts/ZZZ/history", "/v1/accounts/ZZZ/downtime"):
        resp = await api.client.get(path, headers=api.auth("support"))
        assert resp.status == 404, path
        assert (await resp.json())["error"] == "unknown account ZZZ"
    resp = await api.client.get("/v1/accounts/a%20b", headers=api.auth("support"))
    assert resp.status == 400
    resp = await api.client.get(
        "/v1/accounts/A1/history?since=abc", headers=api.auth("support")
    )
    assert resp.status == 400


async def test_note_is_kept_with_its_author_and_shows_in_history(api: Running) -> None:
    resp = await api.client.post(
        "/v1/accounts/A2/notes", json={"text": "Customer restarted modem twice"},
        headers=api.auth("support"),
    )
    assert resp.status == 201
    note = await resp.json()
    assert note["author"] == "support-test" and note["kind"] == "note"
    await api.ingest([docsis_ok("A2"), ping_ok("A2")])
    resp = await api.client.get("/v1/accounts/A2/history", headers=api.auth("support"))
    history = await resp.json()
    assert [e["text"] for e in history["events"] if e["kind"] == "note"] == [
        "Customer restarted modem twice"
    ]
    assert history["readings"], "ingested SNMP/ping readings become history points"
    assert any(v["account"] == "A2" for v in history["verdicts"])
    resp = await api.client.post(
        "/v1/accounts/A2/notes", json={"text": ""}, headers=api.auth("support")
    )
    assert resp.status == 422


async def test_downtime_answer_covers_the_asked_period(api: Running) -> None:
    resp = await api.client.get(
        "/v1/accounts/A3/downtime?since=1000&until=2000", headers=api.auth("support")
    )
    assert await resp.json() == {"account": "A3", "since": 1000.0, "until": 2000.0,
                                 "downtime_s": 0.0}


# --- pre-call (IVR) ---------------------------------------------------------------------------


async def _precall(api: Running, body: dict[str, Any], accept: str | None = None) -> Any:
    headers = api.auth("ivr")
    if accept:
        headers["Accept-Language"] = accept
    resp = await api.client.post("/v1/precall", json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_precall_picks_language_from_body_then_accept_language_then_english(
    api: Running,
) -> None:
    assert (await _precall(api, {"account": "A0", "language": "pl"}, "sv"))["language"] == "pl"
    assert (await _precall(api, {"account": "A0"}, "de, sv-SE;q=0.8, en;q=0.5"))[
        "language"
    ] == "sv"
    assert (await _precall(api, {"account": "A0"}, "en;q=0.3, pl;q=0.9"))["language"] == "pl"
    assert (await _precall(api, {"account": "A0", "language": "fi"}, "fr"))["language"] == "en"
    assert (await _precall(api, {"account": "A0"}))["language"] == "en"


async def test_precall_during_outage_is_customer_safe_and_plays_the_outage_message(
    api: Running,
) -> None:
    await api.ingest([r for i in range(10) for r in (docsis_ok(f"A{i}"), ping_ok(f"A{i}"))])
    await api.ingest([r for i in range(10) for r in dark(f"A{i}")])
    answer = await _precall(api, {"account": "A4", "language": "sv"})
    assert answer["status"] == "area_outage"
    assert answer["play_outage_message"] is True and answer["route_to_agent"] is False
    assert set(answer) == {"account", "language", "status", "play_outage_message",
                           "route_to_agent", "message", "repeat_caller", "calls_recent"}
    text = json.dumps(answer)
    for secret in ("N-1", "127.20.", "evidence", "unreachable_share", target("A4").host):
        assert secret not in text
    assert answer["message"]


async def test_precall_routes_to_an_agent_when_not_ok_and_unknown_account_is_404(
    api: Running,
) -> None:
    answer = await _precall(api, {"account": "B1"})  # no data yet: unknown
    assert answer["status"] == "unknown" and answer["route_to_agent"] is True
    resp = await api.client.post("/v1/precall", json={"account": "nobody"},
                                 headers=api.auth("ivr"))
    assert resp.status == 404


async def test_every_precall_is_a_call_and_the_third_in_48_h_reaches_a_person(
    api: Running,
) -> None:
    await api.ingest([r for i in range(10) for r in (docsis_ok(f"A{i}"), ping_ok(f"A{i}"))])
    await api.ingest([r for i in range(10) for r in dark(f"A{i}")])  # N-1 outage
    first = await _precall(api, {"account": "A5", "language": "pl"})
    second = await _precall(api, {"account": "A5"})
    assert (first["calls_recent"], first["repeat_caller"], first["route_to_agent"]) == (
        1, False, False)
    assert (second["calls_recent"], second["repeat_caller"]) == (2, False)
    # A support agent takes the third call: it is recorded with their name.
    resp = await api.client.post("/v1/accounts/A5/calls", json={"agent": "alice"},
                                 headers=api.auth("support"))
    assert resp.status == 201, await resp.text()
    taken = await resp.json()
    assert taken["call"]["channel"] == "agent" and taken["call"]["agent"] == "alice"
    assert taken["call"]["verdict"] == "area_outage" and taken["call"]["repeat"] is True
    assert taken["calls"]["text"] == "3rd call in 48 h"
    fourth = await _precall(api, {"account": "A5"})
    assert fourth["calls_recent"] == 4 and fourth["repeat_caller"] is True
    assert fourth["status"] == "area_outage" and fourth["route_to_agent"] is True
    resp = await api.client.get("/v1/accounts/A5", headers=api.auth("support"))
    calls = (await resp.json())["calls"]
    assert calls["count"] == 4 and calls["text"] == "4th call in 48 h"
    assert [c["channel"] for c in calls["calls"]] == ["ivr", "agent", "ivr", "ivr"]
    assert calls["calls"][-1]["message"] == first["message"]
    assert calls["calls"][-1]["verdict"] == "area_outage"
    # Calls older than the window do not count; an ok line is never routed for it.
    old = await api.collector.store.calls("A5", 0.0)
    assert len(old) == 4
    resp = await api.client.post("/v1/accounts/A6/calls", headers=api.auth("admin"))
    assert (await resp.json())["call"]["agent"] == "admin-test"


async def test_a_repeat_caller_on_an_ok_line_hears_the_ivr(api: Running) -> None:
    await api.ingest([docsis_ok("B2"), ping_ok("B2")])
    answers = [await _precall(api, {"account": "B2"}) for _ in range(3)]
    assert answers[-1]["status"] in ("ok", "customer_side")
    assert answers[-1]["repeat_caller"] is True and answers[-1]["calls_recent"] == 3
    if answers[-1]["status"] == "ok":
        assert answers[-1]["route_to_agent"] is False


async def _dispatch(api: Running, account: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
    return await api.client.post(f"/v1/accounts/{account}/dispatches", json=body,
                                 headers=api.auth("support"))


async def test_one_dispatch_per_open_fault_unless_forced_and_on_status_and_timeline(
    api: Running,
) -> None:
    await api.ingest([docsis_ok("B3"), ping_ok("B3")])
    resp = await _dispatch(api, "B3", {
        "reason": "noisy line", "window_start": 1_800_000_000, "window_end": 1_800_007_200,
        "reference": "FS-1234", "requested_by": "alice"})
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    first = made["dispatch"]
    assert first["requested_by"] == "alice" and first["reference"] == "FS-1234"
    assert first["fault"].startswith("line:B3:") and "grouped" not in first
    assert [d["id"] for d in made["group"]] == [first["id"]]
    again = await _dispatch(api, "B3", {"reference": "FS-9"})
    assert again.status == 409
    refused = await again.json()
    assert refused["first"]["id"] == first["id"]
    assert first["id"] in refused["error"] and "alice" in refused["error"]
    assert "FS-1234" in refused["error"]
    forced = await _dispatch(api, "B3", {"reference": "FS-9", "force": True})
    assert forced.status == 201
    assert (await forced.json())["dispatch"]["requested_by"] == "support-test"
    assert len((await forced.json())["group"]) == 2
    resp = await api.client.get("/v1/accounts/B3", headers=api.auth("support"))
    shown = (await resp.json())["dispatches"]
    assert [d["reference"] for d in shown] == ["FS-1234", "FS-9"]
    resp = await api.client.get("/v1/accounts/B3/history", headers=api.auth("support"))
    timeline = [e for e in (await resp.json())["events"] if e["kind"] == "dispatch"]
    assert len(timeline) == 2 and "FS-1234" in timeline[-1]["text"]
    for bad in ({"window_start": 5}, {"window_start": 9, "window_end": 8},
                {"reference": "x\ny"}, {"colour": "red"}):
        resp = await _dispatch(api, "B3", bad)
        assert resp.status == 422, bad
    assert (await _dispatch(api, "nobody", {})).status == 404
    # No verdict yet (no data since import): still one open fault, not one per request.
    assert (await _dispatch(api, "B4", {})).status == 201
    assert (await _dispatch(api, "B4", {})).status == 409


async def test_a_new_accounts_first_unknown_verdict_is_the_same_open_fault(api: Running) -> None:
    """No data since import: a dispatch before the engine's first word on the
    account and one after it ("unknown", still no data) are for one fault. CI
    once met the collector's tick between two such requests and took the
    second for a new fault (201 instead of 409)."""
    await api.put_inventory([target("C0", "N-3")])
    before = api.collector.verdict("C0")
    assert before is not None and before.verdict == "unknown"
    assert (await _dispatch(api, "C0", {})).status == 201
    await asyncio.sleep(1.1)  # the engine's word on a never-judged account is made at each read
    assert (await _dispatch(api, "C0", {})).status == 409
    await api.collector.tick()  # judged and kept now: unknown, still no data
    assert (await _dispatch(api, "C0", {})).status == 409
    # Once data arrives, the account's faults are its verdict's spells again.
    await api.ingest([docsis_ok("C0"), ping_ok("C0")])
    resp = await _dispatch(api, "C0", {})
    assert resp.status == 201
    assert not (await resp.json())["dispatch"]["fault"].endswith(":unjudged")


async def test_dispatches_for_one_node_outage_are_one_group(api: Running) -> None:
    await api.ingest([r for i in range(10) for r in (docsis_ok(f"A{i}"), ping_ok(f"A{i}"))])
    await api.ingest([r for i in range(10) for r in dark(f"A{i}")])
    resp = await _dispatch(api, "A1", {"reference": "FS-77"})
    assert resp.status == 201
    first = (await resp.json())["dispatch"]
    assert first["grouped"] is True and first["fault"].startswith("outage:N-1:")
    assert first["verdict"] == "area_outage" and first["reason"].startswith("area_outage")
    resp = await _dispatch(api, "A2", {})  # a neighbour in the same outage
    assert resp.status == 409
    assert (await resp.json())["first"]["account"] == "A1"
    resp = await _dispatch(api, "A2", {"force": True, "reference": "FS-78"})
    assert [d["account"] for d in (await resp.json())["group"]] == ["A1", "A2"]
    # Every account of the outage shows its group's dispatches; other nodes do not.
    resp = await api.client.get("/v1/accounts/A7", headers=api.auth("support"))
    assert [d["reference"] for d in (await resp.json())["dispatches"]] == ["FS-77", "FS-78"]
    resp = await api.client.get("/v1/accounts/B0", headers=api.auth("support"))
    assert (await resp.json())["dispatches"] == []


# --- on-demand checks --------------------------------------------------------------------------


async def _simulated_agent(api: Running, agent: str, stop: asyncio.Event) -> int:
    """A real HTTP agent: long-polls jobs and pushes records carrying job_id."""
    done = 0
    headers = api.auth("agent")
    async with aiohttp.ClientSession(base_url=api.base_url, headers=headers) as http:
        for _ in range(50):  # bounded
            if stop.is_set():
                break
            async with http.get(f"/v1/agents/{agent}/jobs", params={"wait": "0.5"}) as resp:
                assert resp.status == 200
                jobs = decode_as(await resp.read(), JobList).jobs
            for job in jobs:
                records: list[ProbeRecord] = []
                for probe in job.probes:
                    make = docsis_ok if probe == "snmp" else ping_ok
                    records.append(make(job.account, job_id=job.job_id))
                async with http.post(
                    "/v1/ingest", data=encode(batch(records)),
                    headers={"Content-Type": "application/json"},
                ) as resp:
                    assert resp.status == 200
                done += 1
    return done


async def test_check_reaches_the_owning_agent_and_answers_fresh(api: Running) -> None:
    stop = asyncio.Event()
    agent = asyncio.create_task(_simulated_agent(api, "default", stop))
    try:
        resp = await api.client.post(
            "/v1/accounts/A5/check", json={"timeout_s": 10}, headers=api.auth("support")
        )
        answer = await resp.json()
    finally:
        stop.set()
        jobs_done = await asyncio.wait_for(agent, 5)
    assert resp.status == 200
    assert answer["fresh"] is True and jobs_done == 1
    assert answer["verdict"]["verdict"] in ("ok", "customer_side")
    events = await api.collector.store.events("A5", 0, time.time() + 1, ["check"])
    assert events[0].author == "support-test" and events[0].data["outcome"] == "fresh"
    status = await (await api.client.get("/v1/accounts/A5", headers=api.auth("support"))).json()
    assert status["fresh"] is True


async def test_check_without_an_agent_times_out_with_the_last_known_verdict(
    api: Running,
) -> None:
    started = time.monotonic()
    resp = await api.client.post(
        "/v1/accounts/A6/check", json={"timeout_s": 0.3}, headers=api.auth("support")
    )
    answer = await resp.json()
    assert resp.status == 200 and answer["fresh"] is False
    assert answer["verdict"]["verdict"] == "unknown"
    assert time.monotonic() - started >= 0.3
    metrics = await (await api.client.get("/metrics")).text()
    assert 'linewatch_checks_total{outcome="no_agent"} 1.0' in metrics
    resp = await api.client.post(
        "/v1/accounts/nobody/check", json={}, headers=api.auth("support")
    )
    assert resp.status == 404


# --- the story: a node goes dark ------------------------------------------------------------------


async def test_node_going_dark_makes_every_account_on_it_area_outage(api: Running) -> None:
    now = time.time()
    await api.ingest([r for a in [*(f"A{i}" for i in range(10)), *(f"B{i}" for i in range(5))]
                      for r in (docsis_ok(a, now - 60), ping_ok(a, now - 60))])
    # 8 of node N-1's 10 modems go dark together; node N-2 stays fine.
    await api.ingest([r for i in range(8) for r in dark(f"A{i}", now)])
    for i in range(10):
        body = await (await api.client.get(f"/v1/accounts/A{i}",
                                           headers=api.auth("support"))).json()
        assert body["verdict"]["verdict"] == "area_outage", (i, body["verdict"])
    for i in range(5):
        body = await (await api.client.get(f"/v1/accounts/B{i}",
                                           headers=api.auth("support"))).json()
        assert body["verdict"]["verdict"] != "area_outage"
    nodes = {n["node"]: n for n in
             (await (await api.client.get("/v1/nodes", headers=api.auth("support"))).json())[
                 "nodes"]}
    assert nodes["N-1"]["outage"] is True and nodes["N-2"]["outage"] is False
    await asyncio.sleep(0.5)  # one engine tick refreshes the gauges
    metrics = await (await api.client.get("/metrics")).text()
    assert 'linewatch_node_outage{node="N-1"} 1.0' in metrics
    assert 'linewatch_node_outage{node="N-2"} 0.0' in metrics
    assert "A0" not in metrics and "127.20." not in metrics


async def test_inventory_csv_errors_name_the_line(api: Running) -> None:
    csv = ("account,host,technology,node,plan_down_mbps,plan_up_mbps\n"
           "C1,127.20.9.1,docsis,N-3,100,10\n"
           "C2,127.20.9.2,fibre,N-3,100,10\n")
    resp = await api.client.put("/v1/inventory", data=csv, headers={
        **api.auth("admin"), "Content-Type": "text/csv"})
    assert resp.status == 422
    assert (await resp.json())["error"].startswith("line 3:")
    good = csv.replace("fibre", "dsl")
    resp = await api.client.put("/v1/inventory", data=good, headers={
        **api.auth("admin"), "Content-Type": "text/csv"})
    assert await resp.json() == {"targets": 2}
    resp = await api.client.get("/v1/agents/default/assignment", headers=api.auth("agent"))
    accounts = {t["account"] for t in (await resp.json())["targets"]}
    assert {"C1", "C2", "A0", "B4"} <= accounts


async def test_inventory_json_hosts_are_checked_and_normalised_as_the_csvs(
    api: Running,
) -> None:
    """A JSON upload's bad host is a 400 naming the target and field at import
    (not 'unresolved' at poll time); good ones are stored in canonical form."""
    admin = {**api.auth("admin"), "Content-Type": "application/json"}
    row = json.loads(encode(target("J1", "N-3")))

    async def put(body: object) -> tuple[int, Any]:
        resp = await api.client.put("/v1/inventory", data=json.dumps(body), headers=admin)
        return resp.status, await resp.json()

    for host, field, body in (
        ("0x7f.1", "host", [{**row, "host": "0x7f.1"}]),
        ("2001:db8::1%eth0", "host", [{**row, "host": "2001:db8::1%eth0"}]),
        ("bad_name-.example", "iperf_host", {"targets": [{**row, "iperf_host": "bad_name-."}]}),
        ("-x", "host", {"headends": [{"headend": "H1", "host": "-x", "kind": "cmts",
                                      "nodes": ["N-3"]}]}),
    ):
        status, answer = await put(body)
        assert status == 400, (host, answer)
        what = "headend H1" if "headends" in str(body)[:12] else "target J1"
        assert answer["error"].startswith(f"{what}, field {field}:"), answer
    status, answer = await put([{**row, "host": "[2001:DB8:0:0::A]", "iperf_host": "Iperf.Lab."}])
    assert (status, answer) == (200, {"targets": 1}), answer
    resp = await api.client.get("/v1/agents/default/assignment", headers=api.auth("agent"))
    stored = next(t for t in (await resp.json())["targets"] if t["account"] == "J1")
    assert (stored["host"], stored["iperf_host"]) == ("2001:db8::a", "iperf.lab")


async def test_assignment_gives_rows_to_their_agent_and_unassigned_rows_to_every_agent(
    api: Running,
) -> None:
    await api.put_inventory([target("E1", "N-3", agent="east"), target("W1", "N-3", agent="west")])

    async def assigned(agent: str) -> set[str]:
        resp = await api.client.get(f"/v1/agents/{agent}/assignment", headers=api.auth("agent"))
        body = await resp.json()
        assert body["agent"] == agent
        return {t["account"] for t in body["targets"]}

    east, west = await assigned("east"), await assigned("west")
    assert "E1" in east and "W1" not in east and "A0" in east
    assert "W1" in west and "E1" not in west and "A0" in west

    # A check on E1 goes to "east" only.
    stop = asyncio.Event()
    agent = asyncio.create_task(_simulated_agent(api, "east", stop))
    try:
        resp = await api.client.post(
            "/v1/accounts/E1/check", json={"timeout_s": 10, "probes": ["snmp"]},
            headers=api.auth("support"),
        )
        answer = await resp.json()
    finally:
        stop.set()
        await asyncio.wait_for(agent, 5)
    assert answer["fresh"] is True
    resp = await api.client.get("/v1/agents/west/jobs?wait=0", headers=api.auth("agent"))
    assert (await resp.json()) == {"jobs": []}


# --- the job broker on its own ---------------------------------------------------------------


async def test_broker_resolves_only_when_every_probe_of_the_right_account_reported() -> None:
    from collector.jobs import JobBroker

    broker = JobBroker()
    job = broker.submit("east", "E1", ["snmp", "ping"])
    waiting = asyncio.create_task(broker.wait_result(job.job_id, 5))
    assert [j.job_id for j in await broker.take("east", 0)] == [job.job_id]
    broker.arrived(job.job_id, "OTHER", ["snmp", "ping"])  # wrong account: ignored
    broker.arrived(job.job_id, "E1", ["snmp"])
    await asyncio.sleep(0.05)
    assert not waiting.done()
    broker.arrived(job.job_id, "E1", ["ping"])
    assert await waiting == "fresh"


async def test_broker_close_answers_waiting_checks_instead_of_failing_them() -> None:
    from collector.jobs import JobBroker

    broker = JobBroker()
    job = broker.submit("east", "E1", ["snmp"])
    waiting = asyncio.create_task(broker.wait_result(job.job_id, 30))
    poll = asyncio.create_task(broker.take("west", 30))
    await asyncio.sleep(0.05)
    broker.close()
    assert await asyncio.wait_for(waiting, 2) == "no_agent"
    assert await asyncio.wait_for(poll, 2) == []
