"""/v1/openapi.json documents every route of the app, and real answers
validate against the documented schemas (jsonschema, OpenAPI 3.1 = 2020-12)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from collector_harness import Running, dark, docsis_ok, ping_ok, running_collector, target
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from collector.routes.table import ROUTES


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_collector(str(tmp_path / "c.db")) as running:
        await running.put_inventory([target(f"A{i}") for i in range(6)])
        yield running


async def _document(api: Running) -> dict[str, Any]:
    resp = await api.client.get("/v1/openapi.json")
    assert resp.status == 200
    return await resp.json()


def _is_api(path: str) -> bool:
    """The JSON API and ops routes (the web console's HTML pages are not API)."""
    return path.startswith("/v1/") or path in ("/healthz", "/metrics")


async def test_every_route_of_the_app_is_documented_and_nothing_else(api: Running) -> None:
    doc = await _document(api)
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    for resource in api.app.router.resources():
        for route in resource:
            if route.method != "HEAD" and _is_api(resource.canonical):
                served.add((route.method, resource.canonical))
    assert served == documented
    assert served == {(r.method, r.path) for r in ROUTES}


def _validator(doc: dict[str, Any], path: str, method: str, status: int) -> Any:
    response = doc["paths"][path][method.lower()]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:openapi", resource)
    ref = schema["$ref"].replace("#", "urn:openapi#") if "$ref" in schema else None
    wrapped = {"$ref": ref} if ref else schema
    return jsonschema.Draft202012Validator(wrapped, registry=registry)


async def test_answers_validate_against_the_documented_schemas(api: Running) -> None:
    doc = await _document(api)
    await api.ingest([r for i in range(6) for r in (docsis_ok(f"A{i}"), ping_ok(f"A{i}"))])
    await api.ingest([r for i in range(6) for r in dark(f"A{i}")])
    await api.client.post("/v1/accounts/A1/notes", json={"text": "hi"},
                          headers=api.auth("support"))
    calls: list[tuple[str, str, str, dict[str, Any] | None, str]] = [
        ("GET", "/v1/accounts/A1", "/v1/accounts/{account}", None, "support"),
        ("GET", "/v1/accounts/A1/history", "/v1/accounts/{account}/history", None, "support"),
        ("GET", "/v1/accounts/A1/downtime", "/v1/accounts/{account}/downtime", None, "support"),
        ("POST", "/v1/accounts/A1/notes", "/v1/accounts/{account}/notes", {"text": "x"},
         "support"),
        ("POST", "/v1/accounts/A1/check", "/v1/accounts/{account}/check", {"timeout_s": 0.05},
         "support"),
        ("POST", "/v1/precall", "/v1/precall", {"account": "A1"}, "ivr"),
        ("GET", "/v1/nodes", "/v1/nodes", None, "support"),
        ("GET", "/v1/agents/default/assignment", "/v1/agents/{agent}/assignment", None, "agent"),
        ("GET", "/v1/agents/default/jobs", "/v1/agents/{agent}/jobs", None, "agent"),
        ("GET", "/healthz", "/healthz", None, "agent"),
        # error answers are documented too
        ("GET", "/v1/accounts/nobody", "/v1/accounts/{account}", None, "support"),
        ("GET", "/v1/nodes", "/v1/nodes", None, "ivr"),
        ("POST", "/v1/precall", "/v1/precall", {"account": 5}, "ivr"),
    ]
    checked = 0
    for method, url, template, body, role in calls:
        resp = await api.client.request(method, url, json=body, headers=api.auth(role))
        answer = await resp.json()
        _validator(doc, template, method, resp.status).validate(answer)
        checked += 1
    ingest = await api.ingest([ping_ok("A2", time.time())])
    _validator(doc, "/v1/ingest", "POST", 200).validate(ingest)
    assert checked == len(calls)


async def test_a_wrong_answer_would_fail_validation(api: Running) -> None:
    doc = await _document(api)
    validator = _validator(doc, "/v1/precall", "POST", 200)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"account": "A1", "language": "de", "status": "ok",
                            "play_outage_message": False, "route_to_agent": False,
                            "message": "x"})
