"""One short line, not a traceback, for a malformed HTTP request.

aiohttp logs every request its parser refuses (too many headers, an over-long
line, a bad chunk) at ERROR with a full traceback. Those are the client's
fault, already answered with a 4xx, and a hostile client could fill the disk
with them; the log keeps one line per refusal kind at most every
``every_s`` seconds, saying how many were folded into it, and no request bytes
(a header could hold a token).
"""

from __future__ import annotations

import logging
import time

from aiohttp.http_exceptions import HttpProcessingError


class BadRequestLogFilter(logging.Filter):
    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._folded: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        kind = type(exc).__name__
        now = time.monotonic()
        if now - self._last.get(kind, -self.every_s) < self.every_s:
            self._folded[kind] = self._folded.get(kind, 0) + 1
            return False
        self._last[kind] = now
        folded = self._folded.pop(kind, 0)
        record.msg = "refused a malformed HTTP request (%s %s)%s"
        record.args = (exc.code, kind, f"; {folded} more folded" if folded else "")
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


def install(logger_name: str = "aiohttp.server") -> BadRequestLogFilter:
    flt = BadRequestLogFilter()
    logging.getLogger(logger_name).addFilter(flt)
    return flt
