"""The HTTP API under hostile input: every case gets a 4xx (or is cut off),
never a 5xx, and the collector keeps serving with no traceback in its log.

Wire-level cases (header floods, slow bodies, 10 MB bodies) talk raw TCP to a
real ``linewatch collector serve`` process. Content cases (deep JSON, unicode
and SQL metacharacters in account ids, notes and queries) run against the app
on a real TCP socket, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from collector_harness import Running, batch, fresh_db, ping_ok, running_collector, target
from stack import CollectorProcess, create_token, http_json, need_collector

from probes.model import encode

BODY_TIMEOUT_S = 1.0


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[CollectorProcess, str]]:
    need_collector()
    db = str(tmp_path / "collector.db")
    token = create_token(db, "agent")
    config = tmp_path / "collector.toml"
    config.write_text(f"body_read_timeout_s = {BODY_TIMEOUT_S}\n")
    proc = CollectorProcess(db, tmp_path / "collector.log", extra_args=["--config", str(config)])
    proc.start()
    try:
        yield proc, token
    finally:
        proc.stop()


def _raw(port: int, data: bytes, timeout: float = 10.0, pause_after: int | None = None,
         drip_s: float = 0.0) -> bytes:
    """Send ``data`` (the part after ``pause_after`` a byte at a time every
    ``drip_s``) and read the answer until the server closes or answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        head = data if pause_after is None else data[:pause_after]
        with_contextless_send(sock, head)
        if pause_after is not None:
            deadline = time.monotonic() + timeout
            for byte in data[pause_after:]:
                if time.monotonic() > deadline:
                    break
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break  # the server gave up on us: that is the point
                time.sleep(drip_s)
                sock.setblocking(False)
                try:
                    early = sock.recv(65536)
                except BlockingIOError:
                    early = b""
                finally:
                    sock.setblocking(True)
                    sock.settimeout(timeout)
                if early:
                    return early
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def with_contextless_send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed on an over-long head before reading it all


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _still_serving(proc: CollectorProcess, token: str) -> None:
    status, _ = http_json("GET", f"{proc.url}/healthz")
    assert status == 200
    status, answer = http_json("POST", f"{proc.url}/v1/ingest", token,
                               encode(batch([ping_ok("H-1")])))
    assert status == 200 and answer["accepted"] == 1
    log = proc.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_header_floods_are_refused_and_the_service_stays_up(
    collector: tuple[CollectorProcess, str],
) -> None:
    proc, token = collector
    many = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))
    answer = _raw(proc.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert _status(answer) in (400, 431)
    huge = b"X-Huge: " + b"h" * 65536 + b"\r\n"
    answer = _raw(proc.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + huge + b"\r\n")
    assert _status(answer) in (400, 431)
    long_line = b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _status(_raw(proc.port, long_line)) in (400, 414, 431)
    _still_serving(proc, token)


def test_a_slowly_dribbled_body_is_cut_off(collector: tuple[CollectorProcess, str]) -> None:
    proc, token = collector
    body = encode(batch([ping_ok("S-1")]))
    request = (b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + token.encode() + b"\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
    started = time.monotonic()
    answer = _raw(proc.port, request, timeout=BODY_TIMEOUT_S * 8,
                  pause_after=request.index(b"\r\n\r\n") + 4, drip_s=0.2)
    took = time.monotonic() - started
    assert _status(answer) == 408, answer[:300]
    assert took < BODY_TIMEOUT_S * 6
    _still_serving(proc, token)


def test_ten_megabyte_bodies_get_413_without_being_read(
    collector: tuple[CollectorProcess, str],
) -> None:
    proc, token = collector
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    ten_mb = 10 * 1024 * 1024
    # Declared: refused from the header alone (only the head is sent).
    head = (b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + auth + b"Content-Length: %d\r\n\r\n" % ten_mb)
    assert _status(_raw(proc.port, head + b"[" * 1024)) == 413
    # Undeclared (chunked): refused once the limit is crossed, not at the end.
    chunk = b"[" * 1_048_576
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10)) + b"0\r\n\r\n"
    head = (b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + auth + b"Transfer-Encoding: chunked\r\n\r\n")
    assert _status(_raw(proc.port, head + chunked, timeout=30)) == 413
    _still_serving(proc, token)


# --- content: deep JSON, unicode and SQL metacharacters on both stores ----------------------

# Account ids are restricted by the contract (letters, digits, ". _ : -"); free
# text (notes) and node names in answers carry anything.
NASTY_IDS = [
    "A' OR 1=1 --",
    '"; DROP TABLE accounts; --',
    "100%_match\\",
    "עברית-ACC-١٢٣",  # RTL letters and Arabic-Indic digits
    "ACC-🚀-emoji",
    "\x00nul",
    "x" * 10_000,
    "line\nbreak",
]
NASTY_TEXT = [
    "' OR ''=' ; SELECT * FROM tokens; --",
    '"; DROP TABLE accounts; --',
    "100%_match \\ \\' \\\"",
    "עברית ١٢٣ — the customer wrote right to left",
    "🚀 emoji, Ω≈ç√∫, and a zero-width\u200bjoiner",
    "$1 $$quoted$$ E'\\x00'",
]


@pytest.fixture(params=["sqlite", "postgres"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    async with fresh_db(request.param, tmp_path) as db, running_collector(db) as running:
        await running.put_inventory([target("A-1")])
        yield running


async def test_deeply_nested_json_is_a_4xx_on_every_json_route(api: Running) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    routes = [
        ("POST", "/v1/ingest", "agent"), ("POST", "/v1/precall", "ivr"),
        ("POST", "/v1/accounts/A-1/notes", "support"),
        ("POST", "/v1/accounts/A-1/check", "support"),
        ("PUT", "/v1/inventory", "admin"),
    ]
    tried = 0
    for body in (deep, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"[" * 100_000):
        for method, path, role in routes:
            resp = await api.client.request(
                method, path, data=body,
                headers={**api.auth(role), "Content-Type": "application/json"})
            assert 400 <= resp.status < 500, (path, resp.status, await resp.text())
            assert "error" in await resp.json()
            tried += 1
    assert (await api.client.get("/healthz")).status == 200
    print(f"{tried} deeply nested bodies refused")


async def test_unicode_and_sql_metacharacters_are_stored_verbatim_or_refused(
    api: Running,
) -> None:
    for account in NASTY_IDS:
        resp = await api.client.put(
            "/v1/inventory", json=[{"account": account, "node": "N-1", "technology": "docsis",
                                    "host": "127.0.0.1", "plan_down_mbps": 100,
                                    "plan_up_mbps": 10}],
            headers=api.auth("admin"))
        assert resp.status in (400, 422), (account[:20], resp.status, await resp.text())
        path = "/v1/accounts/" + urllib.parse.quote(account, safe="")
        for suffix in ("", "/history", "/downtime"):
            resp = await api.client.get(path + suffix, headers=api.auth("support"))
            assert resp.status in (400, 404), (account[:20], suffix, resp.status)
        resp = await api.client.post("/v1/precall", json={"account": account},
                                     headers=api.auth("ivr"))
        assert resp.status in (400, 404, 422), (account[:20], resp.status)
    for text in NASTY_TEXT:
        resp = await api.client.post("/v1/accounts/A-1/notes", json={"text": text},
                                     headers=api.auth("support"))
        assert resp.status == 201, await resp.text()
    history = await (await api.client.get("/v1/accounts/A-1/history",
                                          headers=api.auth("support"))).json()
    notes = [e for e in history["events"] if e.get("kind") == "note"]
    stored = {e.get("text") or e.get("detail") for e in notes}
    assert set(NASTY_TEXT) <= stored, set(NASTY_TEXT) - stored
    # NUL cannot be stored by PostgreSQL: refused on both stores alike.
    for field in ({"text": "nul\x00inside"}, ):
        resp = await api.client.post("/v1/accounts/A-1/notes", json=field,
                                     headers=api.auth("support"))
        assert resp.status == 422, await resp.text()
    resp = await api.client.put(
        "/v1/inventory", json=[{"account": "A-2", "node": "N-1", "technology": "docsis",
                                "host": "127.0.0.1\x00; DROP", "plan_down_mbps": 100,
                                "plan_up_mbps": 10, "snmp_profile": "x\x00y"}],
        headers=api.auth("admin"))
    assert resp.status in (200, 400, 422), (resp.status, await resp.text())
    # Undecodable percent-escapes (a lone UTF-16 surrogate, invalid UTF-8) and
    # metacharacters in query parameters.
    for raw_path in ("/v1/accounts/%ED%A0%80", "/v1/accounts/%FF%FE",
                     "/v1/accounts/A-1/downtime?since=1'%20OR%201=1&until=%00",
                     "/v1/accounts/A-1/history?limit=-1;DROP",
                     "/v1/agents/%27;DROP/jobs?wait=1e999"):
        resp = await api.client.get(raw_path, headers=api.auth("admin"))
        # Unknown query parameters are ignored (history has no limit): never a 5xx.
        want_4xx = "%ED" in raw_path or "%FF" in raw_path or "since=" in raw_path
        assert resp.status < 500 and (not want_4xx or resp.status >= 400), (
            raw_path, resp.status, await resp.text())
    assert (await api.client.get("/healthz")).status == 200


async def test_regression_csv_with_a_bare_carriage_return_is_a_422_not_a_500(
    api: Running,
) -> None:
    """Found by schemathesis: csv.Error escaped the inventory parser."""
    for body in ("á7²\U000bfb62cK\r?", 'account,host\r"unterminated\n', "a\x00b,c\n1,2\n"):
        resp = await api.client.put("/v1/inventory", data=body.encode(),
                                    headers={**api.auth("admin"), "Content-Type": "text/csv"})
        assert resp.status == 422, (body, resp.status, await resp.text())
        assert "line" in (await resp.json())["error"]
