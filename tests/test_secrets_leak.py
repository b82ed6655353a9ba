"""Secrets never leak: real collector, fleet and agent processes with known,
distinctive secrets — the SNMP community the fleet answers and the agent
sends, SNMPv3 auth/priv keys in a credential set the agent loads, and the
agent/admin/support tokens. After polls, a check, console pages, failed
sign-ins and API calls carrying wrong tokens that embed those secrets, and an
agent config error, every log line, both /metrics pages, every API answer and
every console page is searched for each secret. None may appear.

The fleet speaks no SNMPv3, so the v3 set is loaded and validated by the agent
but polls nothing; the community is the secret actually on the wire.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack import LINEWATCH, REPO, Stack, http_json, need_collector

COMMUNITY = "c0mmunity-Zq7PxW3"
AUTH_KEY = "authKey-Hb82LmQa19"
PRIV_KEY = "privKey-Tt55NcRe04"
V3_SET = f"""
[credentials.v3-core]
version = "3"
user = "linewatch"
auth_protocol = "SHA256"
auth_key = "{AUTH_KEY}"
priv_protocol = "AES"
priv_key = "{PRIV_KEY}"
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    need_collector()
    s = Stack(tmp_path, modems=30, nodes=2, ping=False, community=COMMUNITY, agent_tail=V3_SET)
    try:
        yield s
    finally:
        s.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
           cookies: dict[str, str] | None = None) -> tuple[int, str]:
    """One request. Cookies are kept by hand: the console marks them Secure on
    loopback, which a client cookie jar would not send over http://."""
    headers = dict(headers or {})
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    req = urllib.request.Request(url, data=data, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        resp = opener.open(req, timeout=30)
    except urllib.error.HTTPError as exc:
        resp = exc
    with resp:
        if cookies is not None:
            for header in resp.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                cookies[name.strip()] = rest.split(";", 1)[0]
        return resp.status, resp.read().decode("utf-8", "replace")


def _console_pages(stack: Stack, account: str, token: str) -> list[str]:
    """Sign in (after two wrong tokens that embed secrets) and read pages."""
    cookies: dict[str, str] = {}
    base = stack.collector.url
    pages = []
    for attempt in (f"{COMMUNITY}-{AUTH_KEY}", PRIV_KEY, token):
        status, form = _fetch(f"{base}/console/signin", cookies=cookies)
        assert status == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        body = urllib.parse.urlencode({"csrf": csrf, "token": attempt, "next": "/console/"})
        status, page = _fetch(f"{base}/console/signin", body.encode(),
                              {"Content-Type": "application/x-www-form-urlencoded"}, cookies)
        pages.append(page)
        assert status == (303 if attempt == token else 401), (status, page[:300])
    for path in ("/console/", f"/console/accounts/{account}", "/console/ops"):
        status, page = _fetch(f"{base}{path}", cookies=cookies)
        assert status == 200, (path, status)
        pages.append(page)
    return pages


def test_no_secret_appears_in_logs_metrics_answers_or_console_pages(stack: Stack) -> None:
    secrets = {
        "community": COMMUNITY, "v3 auth key": AUTH_KEY, "v3 priv key": PRIV_KEY,
        "agent token": stack.agent_token, "admin token": stack.admin_token,
        "support token": stack.support_token,
    }
    config_text = stack.config_path.read_text()
    # The search would find them: the agent's config holds the SNMP secrets.
    assert COMMUNITY in config_text and AUTH_KEY in config_text and PRIV_KEY in config_text

    stack.start_agent()
    stack.wait_metric('linewatch_agent_pushes_total{outcome="ok"}', 2, timeout_s=60)
    account = stack.targets[0].account
    # The community works: polls with it come back as readings, not timeouts.
    deadline = time.monotonic() + 30
    while stack.verdict(account) == "unknown" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stack.verdict(account) != "unknown"

    seen: list[str] = []
    base = stack.collector.url
    for token in (stack.support_token, stack.admin_token, f"{COMMUNITY}{AUTH_KEY}"):
        for path in (f"/v1/accounts/{account}", f"/v1/accounts/{account}/history", "/v1/nodes"):
            status, answer = http_json("GET", f"{base}{path}", token)
            seen.append(repr(answer))
    status, answer = http_json("POST", f"{base}/v1/accounts/{account}/check",
                               stack.support_token, b'{"timeout_s": 10}')
    assert status == 200, answer
    seen.append(repr(answer))
    status, answer = http_json("POST", f"{base}/v1/precall", stack.admin_token,
                               f'{{"account": "{account}"}}'.encode())
    seen.append(repr(answer))
    seen.extend(_console_pages(stack, account, stack.support_token))

    # A broken agent config that holds the secrets: the error names the key only.
    bad = stack.tmp / "bad-agent.toml"
    bad.write_text(config_text.replace('version = "3"', 'version = "3"\nuser_typo = "x"'))
    out = subprocess.run([*LINEWATCH, "agent", "run", "--config", str(bad)],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode != 0
    seen.append(out.stdout + out.stderr)

    seen.append(_fetch(f"{base}/metrics")[1])
    seen.append(_fetch(f"http://127.0.0.1:{stack.metrics_port}/metrics")[1])
    stack.stop_agent()
    for log in (stack.collector.log_path, stack.tmp / "agent.log", stack.tmp / "fleet.log"):
        text = log.read_text(errors="replace")
        assert text, f"{log} is empty: nothing was searched"
        seen.append(text)

    leaks = [f"{name} in text #{i}: ...{text[max(0, text.find(value) - 80):][:200]}..."
             for i, text in enumerate(seen) for name, value in secrets.items() if value in text]
    assert not leaks, "\n".join(leaks)
    print(f"searched {len(seen)} texts ({sum(map(len, seen))} chars) for {len(secrets)} secrets")
