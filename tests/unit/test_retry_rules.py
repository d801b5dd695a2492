"""Which failed model calls are tried again and after how long: rate limits as long as the provider asks,
server errors and timeouts with growing waits, and a refusal (a 4xx) never."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import litellm
import pytest

from agents.llm.retry import RETRY_AFTER_CAP, Malformed, retry_plan

REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


@pytest.fixture(autouse=True)
def backoff(settings):
    settings.SWARM_LLM_BACKOFF = 1.0
    settings.SWARM_LLM_BACKOFF_MAX = 30.0
    settings.SWARM_LLM_TIMEOUT = 120


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST)


def rate_limited(**headers: str) -> litellm.RateLimitError:
    return litellm.RateLimitError("slow down", "openai", "m", response=answer(429, **headers))


def test_a_rate_limit_waits_as_long_as_retry_after_says():
    assert retry_plan(rate_limited(**{"retry-after": "7"}), attempt=0) == (True, 7.0, "rate limited (429)")
    assert retry_plan(rate_limited(**{"retry-after-ms": "1500"}), attempt=3)[1] == 1.5


def test_retry_after_as_a_date_waits_until_then():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    retry, delay, _ = retry_plan(rate_limited(**{"retry-after": when}), attempt=0)
    assert retry and 25 <= delay <= 30


def test_a_provider_asking_for_an_hour_is_tried_again_after_the_cap():
    assert retry_plan(rate_limited(**{"retry-after": "3600"}), attempt=0)[1] == RETRY_AFTER_CAP


def test_a_rate_limit_without_retry_after_backs_off_like_other_transient_failures():
    retry, delay, _ = retry_plan(rate_limited(**{"retry-after": "soon"}), attempt=2)
    assert retry and 2.0 <= delay <= 4.0  # 1 s doubled twice, with jitter of up to half


@pytest.mark.parametrize(
    "failure, reason",
    [
        (litellm.InternalServerError("boom", "openai", "m", response=answer(500)), "server error (500)"),
        (litellm.ServiceUnavailableError("down", "openai", "m", response=answer(503)), "server error (503)"),
        (litellm.Timeout("slow", "m", "openai"), "timed out after 120 s"),
        (litellm.APIConnectionError("reset", "openai", "m", request=REQUEST), "the connection failed"),
        (Malformed("no choices"), "the reply was malformed (no choices)"),
    ],
)
def test_transient_failures_are_tried_again_and_say_why(failure, reason):
    retry, delay, why = retry_plan(failure, attempt=0)
    assert retry and why.startswith(reason)
    assert 0.5 <= delay <= 1.0


def test_a_reply_that_is_not_json_is_tried_again():
    try:
        try:
            json.loads("<html>bad gateway</html>")
        except json.JSONDecodeError as exc:
            raise RuntimeError("could not read the reply") from exc
    except RuntimeError as failure:
        assert retry_plan(failure, attempt=0)[::2] == (True, "the reply was not valid JSON")


def test_the_wait_doubles_with_each_attempt_up_to_the_maximum():
    failure = litellm.InternalServerError("boom", "openai", "m", response=answer(502))
    for attempt, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (8, 16), (15, 30), (15, 30)]):
        delay = retry_plan(failure, attempt)[1]
        assert low <= delay <= high, (attempt, delay)


@pytest.mark.parametrize(
    "failure, reason",
    [
        (litellm.AuthenticationError("bad key", "openai", "m", response=answer(401)), "refused (401)"),
        (litellm.BadRequestError("no such model", "m", "openai", response=answer(400)), "refused (400)"),
        (ValueError("a bug of ours"), "failed"),
    ],
)
def test_a_refusal_is_not_tried_again(failure, reason):
    assert retry_plan(failure, attempt=0) == (False, 0.0, reason)
