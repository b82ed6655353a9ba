"""Support and IVR routes: account status, history, downtime, notes, checks,
pre-call, nodes. Every account read leaves an audit entry (actor = token name)."""

from __future__ import annotations

import time

from aiohttp import web

from collector import lineview
from collector.calls import Call, CallSummary, summary
from collector.dispatches import (
    SHOWN_S,
    Dispatch,
    DispatchAnswer,
    DispatchConflict,
    DispatchRequest,
    default_reason,
    fault_of,
    new_id,
)
from collector.model import LANGUAGES, Event, Verdict
from collector.readings_view import build_readings
from collector.routes.common import (
    COLLECTOR,
    ApiError,
    Route,
    account_param,
    answer,
    decode_json,
    principal,
    read_body,
    require_json,
    time_range,
)
from collector.routes.types import (
    AccountStatus,
    CallAnswer,
    CallRequest,
    CheckAnswer,
    CheckRequest,
    DowntimeAnswer,
    HistoryAnswer,
    NodesAnswer,
    NoteRequest,
    PrecallAnswer,
    PrecallRequest,
)
from collector.service import Collector
from collector.store.base import AuditEntry
from collector.verdicts import Thresholds
from collector.webhooks import WEBHOOKS
from probes.model import Target

SUPPORT = ("support",)
IVR = ("ivr",)

# Said when the engine has nothing for an account yet (no data since import).
_NO_DATA_MESSAGE = {
    "en": "We cannot see the state of your connection right now.",
    "sv": "Vi kan inte se statusen för din anslutning just nu.",
    "pl": "W tej chwili nie widzimy stanu Twojego połączenia.",
}


async def _target(collector: Collector, account: str) -> Target:
    target = await collector.store.get_target(account)
    if target is None:
        raise ApiError(404, f"unknown account {account}")
    return target


async def _current_verdict(collector: Collector, target: Target) -> Verdict:
    verdict = collector.verdict(target.account) or await collector.store.get_verdict(
        target.account
    )
    return verdict or _no_data_verdict(target)


def _no_data_verdict(target: Target) -> Verdict:
    return Verdict(
        account=target.account,
        node=target.node,
        verdict="unknown",
        since=time.time(),
        confidence=0.0,
        action="No data from this line yet: run a check now.",
        customer_message=dict(_NO_DATA_MESSAGE),
    )


async def _recent_calls(collector: Collector, account: str, now: float) -> CallSummary:
    window = collector.config.repeat_call_window_s
    return summary(await collector.store.calls(account, now - window), window)


async def _emit_repeat(request: web.Request, call: Call, calls_recent: int) -> None:
    """Webhook call.repeat: the ticketing system hears of a repeat caller."""
    await request.app[WEBHOOKS].emit(
        "call.repeat", f"{call.account}:{call.at:.6f}",
        {"call": call, "calls_recent": calls_recent}, call.at,
    )


async def _audit(request: web.Request, account: str, action: str) -> None:
    await request.app[COLLECTOR].store.add_audit(
        AuditEntry(actor=principal(request).name, account=account, action=action, at=time.time())
    )


async def get_account(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    account = account_param(request)
    # One store hop for target, stored verdict and latest records (the status hot path).
    snapshot = await collector.store.account_snapshot(account)
    target = snapshot.target
    if target is None:
        raise ApiError(404, f"unknown account {account}")
    verdict = collector.verdict(account) or snapshot.verdict or _no_data_verdict(target)
    latest = snapshot.latest
    last_seen = collector.last_seen(account)
    if last_seen is None and latest:  # another collector ingested it (shared store)
        last_seen = max(r.started_at + r.duration_s for r in latest.values())
    fresh = last_seen is not None and time.time() - last_seen <= collector.staleness_s
    th = collector.engine.th if collector.engine is not None else Thresholds.default()
    headend = await lineview.headend_view(collector, target, th)
    trend = lineview.trend_view(collector, target, verdict, th)
    await _audit(request, account, "status")
    return answer(
        AccountStatus(
            account=account,
            node=target.node,
            technology=target.technology,
            plan_down_mbps=target.plan_down_mbps,
            plan_up_mbps=target.plan_up_mbps,
            verdict=verdict,
            fresh=fresh,
            last_seen=last_seen,
            latest=latest,
            headend=headend,
            trend=trend,
            calls=await _recent_calls(collector, account, time.time()),
            dispatches=await _account_dispatches(collector, target, verdict, time.time()),
            readings=build_readings(target, latest, th, headend.port if headend else None),
        )
    )


async def post_call(request: web.Request) -> web.Response:
    """A support agent took a call on the account (``linewatch status --call``)."""
    collector = request.app[COLLECTOR]
    account = account_param(request)
    body = await read_body(request, collector.config)
    req = CallRequest()
    if body.strip():
        require_json(request)
        req = decode_json(body, CallRequest)
    target = await _target(collector, account)
    verdict = await _current_verdict(collector, target)
    now = time.time()
    before = await _recent_calls(collector, account, now)
    call = Call(
        account=account, at=now, channel="agent", verdict=verdict.verdict,
        agent=req.agent or principal(request).name,
        repeat=before.count + 1 >= collector.config.repeat_call_count,
    )
    await collector.store.add_call(call)
    await _audit(request, account, "call")
    if call.repeat:
        await _emit_repeat(request, call, before.count + 1)
    return answer(
        CallAnswer(call=call, calls=await _recent_calls(collector, account, now)), status=201
    )


async def _open_fault(collector: Collector, target: Target, verdict: Verdict) -> tuple[str, bool]:
    nodes = [n for n in await collector.node_summaries() if n.node == target.node]
    return fault_of(verdict, nodes[0] if nodes else None)


async def _account_dispatches(
    collector: Collector, target: Target, verdict: Verdict, now: float
) -> list[Dispatch]:
    """The account's own dispatches of the last 30 days and its open group's."""
    fault, grouped = await _open_fault(collector, target, verdict)
    return await collector.store.dispatches(
        account=target.account, fault=fault if grouped else None, since=now - SHOWN_S, limit=50
    )


async def post_dispatch(request: web.Request) -> web.Response:
    """Technician requested: one per open fault (a second one is 409, naming
    the first, unless ``force``); on the timeline as a ``dispatch`` event."""
    collector = request.app[COLLECTOR]
    account = account_param(request)
    require_json(request)
    req = decode_json(await read_body(request, collector.config), DispatchRequest)
    return await request_dispatch(request, account, req)


async def request_dispatch(request: web.Request, account: str,
                           req: DispatchRequest) -> web.Response:
    """``post_dispatch`` after decoding: the console's dispatch form posts a
    form, not JSON, and must refuse, record and notify exactly as the API does."""
    collector = request.app[COLLECTOR]
    if (req.window_start is None) != (req.window_end is None) or (
        req.window_start is not None and req.window_end is not None
        and req.window_end <= req.window_start
    ):
        raise ApiError(422, "window_start and window_end go together, start before end")
    target = await _target(collector, account)
    judged = collector.verdict(account) or await collector.store.get_verdict(account)
    verdict = judged or _no_data_verdict(target)
    fault, grouped = await _open_fault(collector, target, verdict)
    # No data since import: one fault until there is some. Not one per request
    # (the engine judges an account it never judged afresh at each read, since =
    # now) nor a new one when its first tick calls the account unknown.
    if judged is None or (
        not grouped and verdict.verdict == "unknown" and collector.last_seen(account) is None
    ):
        fault = f"line:{account}:unjudged"
    who = req.requested_by or principal(request).name
    dispatch = Dispatch(
        id=new_id(), account=account, node=target.node, at=time.time(),
        verdict=verdict.verdict, reason=req.reason or default_reason(verdict), fault=fault,
        grouped=grouped, window_start=req.window_start, window_end=req.window_end,
        reference=req.reference, requested_by=who, forced=req.force,
    )
    first = await collector.store.add_dispatch(dispatch)
    if first is not None:
        ref = f", ref {first.reference}" if first.reference else ""
        return answer(
            DispatchConflict(
                error=f"a technician was already requested for this fault: {first.id} "
                      f"by {first.requested_by} for {first.account}{ref} (force to add another)",
                first=first,
            ),
            status=409,
        )
    ref = f", ref {dispatch.reference}" if dispatch.reference else ""
    await collector.add_events([
        Event(
            account=account, kind="dispatch", at=dispatch.at, author=who,
            text=f"technician requested by {who}{ref}: {dispatch.reason}",
            data={"dispatch": dispatch.id, "fault": fault},
        )
    ])
    await _audit(request, account, "dispatch")
    await request.app[WEBHOOKS].emit("dispatch.requested", dispatch.id, dispatch, dispatch.at)
    group = await collector.store.dispatches(fault=fault, limit=100)
    return answer(DispatchAnswer(dispatch=dispatch, group=group), status=201)


async def get_history(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    account = account_param(request)
    since, until = time_range(request)
    await _target(collector, account)
    store = collector.store
    result = HistoryAnswer(
        account=account,
        verdicts=await store.verdict_history(account, since, until),
        events=await store.events(account, since, until),
        readings=await store.history(account, since, until),
    )
    await _audit(request, account, "history")
    return answer(result)


async def get_downtime(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    account = account_param(request)
    since, until = time_range(request, default_span_s=30 * 86400.0)
    await _target(collector, account)
    seconds = await collector.store.downtime_seconds(account, since, until)
    await _audit(request, account, "downtime")
    return answer(DowntimeAnswer(account=account, since=since, until=until, downtime_s=seconds))


async def post_note(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    account = account_param(request)
    require_json(request)
    note = decode_json(await read_body(request, collector.config), NoteRequest)
    await _target(collector, account)
    event = Event(
        account=account, kind="note", at=time.time(), text=note.text,
        author=principal(request).name,
    )
    await collector.add_events([event])
    return answer(event, status=201)


async def post_check(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    config = collector.config
    account = account_param(request)
    body = await read_body(request, config)
    req = CheckRequest()
    if body.strip():
        require_json(request)
        req = decode_json(body, CheckRequest)
    target = await _target(collector, account)
    timeout = min(req.timeout_s or config.check_timeout_s, config.check_timeout_max_s)
    probes = req.probes or ["snmp", "ping"]
    job = collector.broker.submit(collector.job_agent(target), account, probes)
    outcome = await collector.broker.wait_result(job.job_id, timeout)
    collector.metrics.checks.labels(outcome).inc()
    verdict = await _current_verdict(collector, target)
    actor = principal(request).name
    await collector.add_events([
        Event(
            account=account, kind="check", at=time.time(), author=actor,
            text=f"check by {actor}: {outcome}, verdict {verdict.verdict}",
            data={"job_id": job.job_id, "outcome": outcome, "probes": list(job.probes),
                  "verdict": verdict.verdict},
        )
    ])
    await _audit(request, account, "check")
    return answer(
        CheckAnswer(account=account, job_id=job.job_id, fresh=outcome == "fresh", verdict=verdict)
    )


def pick_language(
    requested: str | None, accept_language: str | None, default: str = "en"
) -> str:
    """Body ``language`` if supported, else the best Accept-Language match, else
    ``default`` (the account's inventory language: the caller named none)."""
    if requested:
        primary = requested.strip().lower().split("-")[0]
        if primary in LANGUAGES:
            return primary
    best, best_q = default, 0.0
    for item in (accept_language or "").split(",")[:32]:
        tag, _, params = item.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        # Ties keep the earlier entry (the client's order).
        if primary in LANGUAGES and q > best_q and 0 < q <= 1:
            best, best_q = primary, q
    return best


async def post_precall(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    require_json(request)
    req = decode_json(await read_body(request, collector.config), PrecallRequest)
    target = await collector.store.get_target(req.account)
    if target is None:
        raise ApiError(404, "unknown account")
    language = pick_language(req.language, request.headers.get("Accept-Language"),
                             target.language or collector.config.default_language)
    verdict = await _current_verdict(collector, target)
    status = verdict.verdict
    messages = verdict.customer_message or _NO_DATA_MESSAGE
    message = messages.get(language) or messages.get("en") or _NO_DATA_MESSAGE[language]
    config = collector.config
    now = time.time()
    calls_recent = (await _recent_calls(collector, req.account, now)).count + 1
    repeat = calls_recent >= config.repeat_call_count
    call = Call(account=req.account, at=now, channel="ivr", verdict=status, message=message,
                repeat=repeat)
    await collector.store.add_call(call)
    if repeat:
        await _emit_repeat(request, call, calls_recent)
    await _audit(request, req.account, "precall")
    return answer(
        PrecallAnswer(
            account=req.account,
            language=language,  # type: ignore[arg-type]
            status=status,
            play_outage_message=status == "area_outage",
            # A repeat caller with anything unresolved reaches a person, even in an
            # outage: a third recorded message is what makes the floor's worst call.
            route_to_agent=status not in ("ok", "area_outage") or (repeat and status != "ok"),
            message=message,
            repeat_caller=repeat,
            calls_recent=calls_recent,
        )
    )


async def get_nodes(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    nodes = await collector.node_summaries()
    return answer(NodesAnswer(nodes=nodes, agents=collector.agent_statuses()))


ROUTES = [
    Route("GET", "/v1/accounts/{account}", get_account, SUPPORT),
    Route("GET", "/v1/accounts/{account}/history", get_history, SUPPORT),
    Route("GET", "/v1/accounts/{account}/downtime", get_downtime, SUPPORT),
    Route("POST", "/v1/accounts/{account}/notes", post_note, SUPPORT),
    Route("POST", "/v1/accounts/{account}/check", post_check, SUPPORT),
    Route("POST", "/v1/accounts/{account}/calls", post_call, SUPPORT),
    Route("POST", "/v1/accounts/{account}/dispatches", post_dispatch, SUPPORT),
    Route("POST", "/v1/precall", post_precall, IVR),
    Route("GET", "/v1/nodes", get_nodes, SUPPORT),
]
