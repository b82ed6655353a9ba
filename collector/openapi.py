"""The OpenAPI 3.1 document served at /v1/openapi.json.

Paths are written by hand (they are the public contract and read best as
such); the schemas are generated from the msgspec types the handlers actually
encode and decode, so the two cannot drift. A test checks every route of the
app is documented and that answers validate against these schemas.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from collector.dispatches import DispatchAnswer, DispatchConflict, DispatchRequest
from collector.model import Event, NodeSummary, Verdict
from collector.outages import CreditsAnswer, OutagesAnswer
from collector.routes.types import (
    AccountStatus,
    CallAnswer,
    CallRequest,
    CheckAnswer,
    CheckRequest,
    DowntimeAnswer,
    ErrorAnswer,
    HealthAnswer,
    HistoryAnswer,
    IngestAnswer,
    InventoryAnswer,
    InventoryUpload,
    NodesAnswer,
    NoteRequest,
    PrecallAnswer,
    PrecallRequest,
)
from collector.store.base import HistoryPoint
from probes.model import Assignment, Batch, JobList, Target

SCHEMA_TYPES: tuple[Any, ...] = (
    AccountStatus, HistoryAnswer, DowntimeAnswer, NoteRequest, Event, CheckRequest,
    CheckAnswer, PrecallRequest, PrecallAnswer, NodesAnswer, NodeSummary, Batch,
    IngestAnswer, Target, InventoryAnswer, InventoryUpload, Assignment, JobList, HealthAnswer,
    ErrorAnswer, Verdict, HistoryPoint, CallRequest, CallAnswer, DispatchRequest,
    DispatchAnswer, DispatchConflict, OutagesAnswer, CreditsAnswer,
)
REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _ok(name: str, description: str = "OK", status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": _json(name)}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed request", 401: "Missing or invalid bearer token",
        403: "Token's role may not call this route", 404: "Unknown account",
        413: "Body too large (on the wire or decompressed)",
        415: "Unsupported Content-Type or Content-Encoding",
        422: "Valid JSON of the wrong shape", 503: "Store unavailable",
        429: "Too many failed authentications from this client (see Retry-After)",
        408: "Body not received within body_read_timeout_s",
    }
    return {str(c): {"description": text[c], "content": _json("ErrorAnswer")} for c in codes}


def _roles(*roles: str) -> dict[str, Any]:
    return {"security": [{"bearer": []}], "x-roles": [*roles, "admin"]}


_ACCOUNT = {
    "name": "account", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
}
_AGENT = {"name": "agent", "in": "path", "required": True,
          "schema": {"type": "string", "minLength": 1, "maxLength": 256}}
_RANGE = [
    {"name": "since", "in": "query", "schema": {"type": "number"},
     "description": "unix seconds; default: until minus 7 days (30 for downtime)"},
    {"name": "until", "in": "query", "schema": {"type": "number"},
     "description": "unix seconds; default: now"},
]
_AUTHED = (400, 401, 403, 429)


def _paths() -> dict[str, Any]:
    return {
        "/v1/accounts/{account}": {"get": {
            "summary": "Verdict, evidence, freshness and latest readings of one account",
            "parameters": [_ACCOUNT], **_roles("support"),
            "responses": {**_ok("AccountStatus"), **_errors(*_AUTHED, 404)},
        }},
        "/v1/accounts/{account}/history": {"get": {
            "summary": "Verdict changes, events (reboots, checks, notes) and key readings",
            "parameters": [_ACCOUNT, *_RANGE], **_roles("support"),
            "responses": {**_ok("HistoryAnswer"), **_errors(*_AUTHED, 404)},
        }},
        "/v1/accounts/{account}/downtime": {"get": {
            "summary": "Seconds without service (area_outage, line_fault, equipment_fault)",
            "parameters": [_ACCOUNT, *_RANGE], **_roles("support"),
            "responses": {**_ok("DowntimeAnswer"), **_errors(*_AUTHED, 404)},
        }},
        "/v1/accounts/{account}/notes": {"post": {
            "summary": "Add a note; the author is the token's name",
            "parameters": [_ACCOUNT], **_roles("support"),
            "requestBody": {"required": True, "content": _json("NoteRequest")},
            "responses": {**_ok("Event", "Created", "201"),
                          **_errors(*_AUTHED, 404, 408, 413, 415, 422)},
        }},
        "/v1/accounts/{account}/check": {"post": {
            "summary": "Run the probes now through the owning agent and wait for the verdict",
            "description": "Answers fresh=true with the new verdict, or fresh=false with "
                           "the last known verdict when the agent did not answer in time.",
            "parameters": [_ACCOUNT], **_roles("support"),
            "requestBody": {"required": False, "content": _json("CheckRequest")},
            "responses": {**_ok("CheckAnswer"), **_errors(*_AUTHED, 404, 408, 413, 415, 422)},
        }},
        "/v1/accounts/{account}/calls": {"post": {
            "summary": "Record a call a support agent took on the account (channel agent)",
            "description": "agent: who took it (default: the token's name). Answers the "
                           "call and the account's calls within repeat_call_window_s.",
            "parameters": [_ACCOUNT], **_roles("support"),
            "requestBody": {"required": False, "content": _json("CallRequest")},
            "responses": {**_ok("CallAnswer", "Created", "201"),
                          **_errors(*_AUTHED, 404, 408, 413, 415, 422)},
        }},
        "/v1/accounts/{account}/dispatches": {"post": {
            "summary": "Record a technician request (field service) for the account's open fault",
            "description": "reason defaults to the verdict and its action, requested_by to "
                           "the token's name. One dispatch per open fault (the line's "
                           "verdict spell, or the node outage / plant fault it is in, "
                           "whose accounts share it): a second is 409 naming the first, "
                           "unless force. Answers the dispatch and its fault's group.",
            "parameters": [_ACCOUNT], **_roles("support"),
            "requestBody": {"required": True, "content": _json("DispatchRequest")},
            "responses": {**_ok("DispatchAnswer", "Created", "201"),
                          "409": {"description": "The fault already has a dispatch",
                                  "content": _json("DispatchConflict")},
                          **_errors(*_AUTHED, 404, 408, 413, 415, 422)},
        }},
        "/v1/outages": {"get": {
            "summary": "Node outages and plant faults, open and closed, with their accounts",
            "description": "Open ones and those closed at or after since (default: 30 days "
                           "before until), newest first, at most 1000. A node outage holds "
                           "every account of its node; a plant fault the modems dark in it.",
            "parameters": _RANGE, **_roles("support"),
            "responses": {**_ok("OutagesAnswer"), **_errors(*_AUTHED)},
        }},
        "/v1/outages/{outage}/credits": {"get": {
            "summary": "Each affected account's downtime within the outage (for billing)",
            "description": "downtime_s is what GET /v1/accounts/{account}/downtime answers "
                           "for since..until (the close, or now while open). format=csv: "
                           "outage,kind,node,account,since,until,downtime_s.",
            "parameters": [
                {"name": "outage", "in": "path", "required": True,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 256}},
                {"name": "format", "in": "query",
                 "schema": {"type": "string", "enum": ["json", "csv"]}},
            ],
            **_roles("support"),
            "responses": {
                "200": {"description": "OK", "content": {
                    **_json("CreditsAnswer"), "text/csv": {"schema": {"type": "string"}}}},
                **_errors(*_AUTHED, 404),
            },
        }},
        "/v1/precall": {"post": {
            "summary": "Customer-safe status for the IVR, before a call reaches an agent",
            "description": "Language from the body, else Accept-Language (q-values), else en. "
                           "Every pre-call is recorded as a call (channel ivr); the "
                           "repeat_call_count-th call within repeat_call_window_s is a "
                           "repeat caller, routed to a person unless the line is ok.",
            "parameters": [{"name": "Accept-Language", "in": "header",
                            "schema": {"type": "string"}}],
            **_roles("ivr"),
            "requestBody": {"required": True, "content": _json("PrecallRequest")},
            "responses": {**_ok("PrecallAnswer"), **_errors(*_AUTHED, 404, 408, 413, 415, 422)},
        }},
        "/v1/nodes": {"get": {
            "summary": "Nodes with account counts per verdict and outage flags; agents with "
                       "their last push and whether they are silent",
            **_roles("support"),
            "responses": {**_ok("NodesAnswer"), **_errors(401, 403, 429)},
        }},
        "/v1/ingest": {"post": {
            "summary": "Push a batch of probe records (idempotent by batch_id)",
            "description": "Body may be gzip- or deflate-compressed (Content-Encoding). "
                           "The answer comes after the batch is stored and judged.",
            **_roles("agent"),
            "requestBody": {"required": True, "content": _json("Batch")},
            "responses": {**_ok("IngestAnswer"), **_errors(*_AUTHED, 408, 413, 415, 422)},
        }},
        "/v1/inventory": {"put": {
            "summary": "Import targets (upsert by account) or headends (by id) from CSV or JSON",
            "description": "CSV: the lines CSV, or the headends CSV "
                           "(headend,host,kind,nodes,...; told apart by its header). "
                           "JSON: a list of Targets, or {targets, headends}.",
            **_roles(),
            "requestBody": {"required": True, "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"oneOf": [
                    {"type": "array", "items": _ref("Target")}, _ref("InventoryUpload"),
                ]}},
            }},
            "responses": {**_ok("InventoryAnswer"), **_errors(*_AUTHED, 408, 413, 415, 422)},
        }},
        "/v1/agents/{agent}/assignment": {"get": {
            "summary": "The targets an agent polls: its rows, plus rows without an agent "
                       "(all of them, or only for the configured default_agent)",
            "parameters": [_AGENT], **_roles("agent"),
            "responses": {**_ok("Assignment"), **_errors(*_AUTHED)},
        }},
        "/v1/agents/{agent}/jobs": {"get": {
            "summary": "Long poll for on-demand checks",
            "parameters": [_AGENT, {"name": "wait", "in": "query",
                                    "schema": {"type": "number", "minimum": 0},
                                    "description": "seconds to wait for a job (capped, 30)"}],
            **_roles("agent"),
            "responses": {**_ok("JobList"), **_errors(*_AUTHED)},
        }},
        "/v1/openapi.json": {"get": {
            "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1",
                                  "content": {"application/json": {"schema": {
                                      "type": "object"}}}}},
        }},
        "/healthz": {"get": {
            "summary": "Store reachable", "security": [],
            "responses": {**_ok("HealthAnswer"),
                          "503": {"description": "Store unavailable",
                                  "content": _json("HealthAnswer")}},
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics", "security": [],
            "responses": {"200": {"description": "text exposition format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
    }


def _any_value(type_: Any) -> dict[str, Any]:
    """``object`` (free-form event data) is any JSON value."""
    if type_ is object:
        return {"description": "any JSON value"}
    raise NotImplementedError


@functools.cache
def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        SCHEMA_TYPES, ref_template=REF, schema_hook=_any_value
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "linewatch collector",
            "version": "1",
            "description": "Verdicts per customer line for support agents and the IVR; "
                           "ingest and jobs for probing agents. Errors are "
                           '{"error": reason}. Roles: x-roles on each operation '
                           "(admin may call everything).",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": _paths(),
    }


@functools.cache
def openapi_document_bytes() -> bytes:
    return msgspec.json.encode(openapi_document())
