"""The agent polling the line has gone silent: nothing can be said about the
line until it pushes again (``collector.agents`` decides who is silent)."""

from __future__ import annotations

from collector.model import Evidence
from collector.verdicts.messages import format_time
from collector.verdicts.rules.core import Finding


def agent_silent(agent: str, since: float, interval_s: float, limit_s: float) -> Finding:
    """No batch from ``agent`` since ``since`` (its last push), longer than
    ``limit_s`` (three of its ``interval_s`` poll cycles): the account's last
    verdict rests on readings nobody is renewing, so it is unknown. The start
    time, not the duration, is the value: the evidence stays the same while
    the silence lasts."""
    return Finding(
        "unknown",
        "agent_silent",
        [
            Evidence(
                fact="agent_silent_since",
                value=since,
                threshold=f"a push every <= {limit_s:g} s ({limit_s / interval_s:g} polls "
                f"of {interval_s:g} s)",
                unit="unix_s",
                detail=f"agent {agent} silent since {format_time(since)}",
            )
        ],
    )
