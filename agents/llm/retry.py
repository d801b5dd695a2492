"""Which failed model calls are retried, and after how long.

Rate limits (429, honouring Retry-After), server errors (5xx), timeouts, dropped connections and malformed
replies are retried SWARM_LLM_RETRIES times with exponential backoff and jitter (SWARM_LLM_BACKOFF, capped at
SWARM_LLM_BACKOFF_MAX). Anything else (a 4xx other than 429) is not.
"""

from __future__ import annotations

import json
import random
import time
from email.utils import parsedate_to_datetime

import litellm
from django.conf import settings

RETRY_AFTER_CAP = 120.0  # a provider asking for longer still gets retried after this, not after an hour


class Malformed(Exception):
    """The provider answered, but not with a usable completion."""


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or getattr(exc, "litellm_response_headers", None)
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _caused_by(exc: BaseException, kind: type) -> bool:
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, kind):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def retry_plan(exc: Exception, attempt: int) -> tuple[bool, float, str]:
    """Whether to retry after this failure, after how long, and why (a short phrase for people)."""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, litellm.Timeout) or status == 408:
        reason = f"timed out after {settings.SWARM_LLM_TIMEOUT:g} s"
    elif isinstance(exc, Malformed):
        reason = f"the reply was malformed ({exc})"
    elif _caused_by(exc, json.JSONDecodeError):
        reason = "the reply was not valid JSON"
    elif isinstance(exc, litellm.APIConnectionError | litellm.APIResponseValidationError):
        reason = "the connection failed or the reply was unreadable"
    elif status == 429:
        reason = "rate limited (429)"
    elif isinstance(status, int) and status >= 500:
        reason = f"server error ({status})"
    else:
        return False, 0.0, f"refused ({status})" if status else "failed"
    delay = min(settings.SWARM_LLM_BACKOFF_MAX, settings.SWARM_LLM_BACKOFF * 2**attempt)
    delay *= random.uniform(0.5, 1.0)  # jitter: agents rate-limited together do not come back together
    if status == 429:
        asked = _retry_after(exc)
        if asked is not None:
            delay = min(asked, RETRY_AFTER_CAP)
    return True, delay, reason
