"""Property-based API fuzzing: schemathesis generates requests from the
collector's own /v1/openapi.json (valid and invalid bodies, paths, queries)
for every operation, and each one is sent with every role's token, with a
wrong token and with none, to a real ``linewatch collector serve`` process.

Every answer must be no 5xx, a documented status code, and match the
documented schema; the service must still be healthy afterwards.
CI runs a bounded number of examples per operation (derandomized, no example
database); LINEWATCH_SCHEMATHESIS_EXAMPLES=500 runs more on demand.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from stack import CollectorProcess, create_token, http_json, need_collector

EXAMPLES = int(os.environ.get("LINEWATCH_SCHEMATHESIS_EXAMPLES", "25"))
ROLES = ("agent", "support", "ivr", "admin")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
TRIED: Counter[str] = Counter()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CollectorProcess, dict]]:
    need_collector()
    tmp = tmp_path_factory.mktemp("schemathesis")
    db = str(tmp / "collector.db")
    tokens = {role: create_token(db, role) for role in ROLES}
    config = tmp / "collector.toml"
    # Short waits so generated checks and long polls answer at once; no
    # failure limit, since most generated requests carry a wrong token.
    config.write_text("check_timeout_s = 0.1\ncheck_timeout_max_s = 0.2\n"
                      "jobs_wait_max_s = 0.2\nauth_failure_limit = 0\n")
    proc = CollectorProcess(db, tmp / "collector.log", extra_args=["--config", str(config)])
    proc.start()
    try:
        yield proc, tokens
    finally:
        proc.stop()
        print("schemathesis requests by operation:", dict(TRIED), "total", sum(TRIED.values()))
        log = (tmp / "collector.log").read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]


def test_every_operation_with_every_role(served: tuple[CollectorProcess, dict]) -> None:
    proc, tokens = served
    api_schema = schemathesis.openapi.from_url(f"{proc.url}/v1/openapi.json")
    principals = [*(f"Bearer {t}" for t in tokens.values()), "Bearer wrong-token", None]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, "the OpenAPI document lost operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzzer(operation, mode, proc.url, principals)()
            except Unsatisfiable:  # nothing to get wrong (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label


def _fuzzer(operation: Any, mode: GenerationMode, base_url: str,
            principals: list[str | None]) -> Any:
    """One hypothesis test for one operation: valid (positive) or schema-
    violating (negative) cases, each sent once per principal."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 50,
              database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        for authorization in principals:
            headers = dict(case.headers or {})
            headers.pop("Authorization", None)
            if authorization:
                headers["Authorization"] = authorization
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS,
                                   timeout=10)
            TRIED[f"{operation.label} ({mode.value})"] += 1

    return fuzz


def test_still_healthy_after_fuzzing(served: tuple[CollectorProcess, dict]) -> None:
    proc, tokens = served
    assert sum(TRIED.values()) > 0, "the fuzzing test did not run first"
    status, _ = http_json("GET", f"{proc.url}/healthz")
    assert status == 200
    status, answer = http_json("GET", f"{proc.url}/v1/nodes", tokens["support"])
    assert status == 200, answer

