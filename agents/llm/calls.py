"""One model call, simulated or real: `acomplete(profile, messages, tools, on_wait=..., on_text=...)`, a coroutine
on this process's loop (agents/inflight.py) that holds no thread while it waits; `complete`, the same for code that
waits for the answer; and `probe`, the one tiny call a model profile's "Test connection" makes.

Simulated profiles (`sim/<behaviour>`) reach the offline simulator, a litellm custom provider, without
streaming. Real profiles stream (SWARM_LLM_STREAM; by default only the calls whose text somebody watches) with `stream_options.include_usage`, so tokens and cost
come from the provider's usage, priced by `litellm.completion_cost`. A profile with `api_base` is an
OpenAI-compatible server (model `openai/<name>`); its key is read from `os.environ[profile.api_key_env]`
at call time and is never put in a Turn, an exception, a log line or anything this module returns. Before
every call agents/model_access.py checks that the operator allows the profile's key variable, host and provider
(ModelRefused otherwise), and OpenAI-compatible calls never follow redirects.

Transient failures are retried (retry.py); `on_wait(seconds, reason)` is called before each sleep. Anything
else, or retries exhausted, raises ModelError with the provider's message, secrets redacted (redaction.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable

import httpx
import litellm
from django.conf import settings
from litellm import ModelResponse

from agents import inflight, model_access, turns
from agents.llm import ratelimit
from agents.llm.model_info import model_name, native_tools
from agents.llm.redaction import redact, remember_secret
from agents.llm.retry import Malformed, retry_plan
from agents.llm.text_protocol import as_text_protocol, parse_text_calls, visible
from agents.llm.turn import ToolCall, Turn
from agents.text import clean_chars  # noqa: E402

litellm.suppress_debug_info = True
litellm.telemetry = False
# OpenAI-compatible calls (every profile with an api_base) use this client (and its async twin, _use_async_client):
# it never follows a redirect, so an allowed host cannot send the call, its prompt or its key on to one the operator
# did not allow.
litellm.client_session = httpx.Client(follow_redirects=False)

log = logging.getLogger(__name__)

TEXT_INTERVAL = 0.25  # seconds between on_text calls: at most ~4 a second reach the browser


class ModelError(Exception):
    pass


class ModelRefused(ModelError):
    """The profile names a key variable, host or provider the operator does not allow: nothing was sent."""


class _HookFailed(Exception):
    """A caller's hook raised: not the provider's fault, so never retried."""


async def _hook(fn: Callable, *args) -> None:
    try:
        await inflight.in_thread(fn, *args)
    except Exception as exc:
        raise _HookFailed() from exc


async def _stream(kwargs: dict, native: bool, on_text: Callable[[str], None] | None):
    text, shown, last = "", "", 0.0
    calls: dict[int, dict] = {}  # a tool call's pieces by its index
    usage, finish, seen = None, None, False
    stream = await litellm.acompletion(stream=True, stream_options={"include_usage": True}, **kwargs)
    async for chunk in stream:
        seen = True
        usage = getattr(chunk, "usage", None) or usage
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for piece in choice.delta.tool_calls or []:
            _add_call_piece(calls, piece)
        delta = choice.delta.content
        if delta:
            text += delta
            now = time.monotonic()
            if on_text and now - last >= TEXT_INTERVAL and visible(text, native) != shown:
                shown, last = visible(text, native), now
                await _hook(on_text, shown)
    if on_text and visible(text, native) != shown:
        await _hook(on_text, visible(text, native))
    if not seen:
        raise Malformed("the stream ended without a completion")
    return _assembled(kwargs["model"], text, calls, usage, finish)


def _add_call_piece(calls: dict[int, dict], piece) -> None:
    index = getattr(piece, "index", None) or 0
    call = calls.setdefault(index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
    call["id"] = getattr(piece, "id", None) or call["id"]
    function = getattr(piece, "function", None)
    if function is not None:
        call["function"]["name"] += getattr(function, "name", None) or ""
        call["function"]["arguments"] += getattr(function, "arguments", None) or ""


def _assembled(model: str, text: str, calls: dict[int, dict], usage, finish: str | None) -> ModelResponse:
    """The streamed reply as one completion. Put together here rather than by litellm.stream_chunk_builder, which
    costs a third of the call's CPU again (litellm already ran it once for its own logging)."""
    message: dict = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    tokens = {
        "prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
        "completion_tokens": getattr(usage, "completion_tokens", 0) or 0,
    }
    tokens["total_tokens"] = tokens["prompt_tokens"] + tokens["completion_tokens"]
    choice = {"index": 0, "message": message, "finish_reason": finish or ("tool_calls" if calls else "stop")}
    return ModelResponse(model=model, choices=[choice], usage=tokens)


def _request(profile, messages: list[dict], tools: list[dict], native: bool) -> tuple[dict, list[str]]:
    model, _ = model_name(profile)
    try:  # again at every call: the operator may have narrowed the settings since the profile was saved
        model_access.check(profile.model, profile.api_base, profile.api_key_env)
    except model_access.ProfileRefused as refused:
        raise ModelRefused(f"model profile {profile.name!r} is refused: {refused}") from None
    kwargs: dict = {"model": model, "timeout": settings.SWARM_LLM_TIMEOUT}
    secrets: list[str] = []
    if not profile.simulated:
        kwargs["max_retries"] = 0  # complete() retries, with backoff the runtime can see
        if profile.api_key_env:
            api_key = os.environ.get(profile.api_key_env)
            if not api_key:
                raise ModelError(
                    f"the environment variable {profile.api_key_env} (named by model profile "
                    f"{profile.name!r}) is not set, so there is no API key to call {model}"
                )
            kwargs["api_key"] = api_key
            secrets.append(api_key)
            remember_secret(api_key)
        else:  # an api_base without a key variable (model_access): never let litellm pick one from the environment
            kwargs["api_key"] = "none"  # local OpenAI-compatible servers often take no key; the client needs one
        if profile.api_base:
            kwargs["api_base"] = profile.api_base
        kwargs.update(_prices_for_litellm(profile, model))
    if tools and native:
        kwargs["tools"] = tools
    kwargs["messages"] = messages if native or not tools else as_text_protocol(messages, tools)
    return kwargs, secrets


def _prices_for_litellm(profile, model: str) -> dict:
    """Per-token prices handed to litellm with the call. litellm prices every reply for its own logging (which Swarm
    never reads: `_cost` prices the turn), several times per streamed call; for a model missing from its price map
    that search costs about a third of the call's CPU. Given prices it only multiplies: the profile's own, or 0
    for a model litellm was found not to know. A model litellm prices keeps its price."""
    prices = getattr(profile, "input_usd_per_mtok", None), getattr(profile, "output_usd_per_mtok", None)
    if prices == (None, None):
        if (model, len(litellm.model_cost)) not in _unpriced:
            return {}
        prices = (0, 0)
    return {"input_cost_per_token": float(prices[0] or 0) / 1e6, "output_cost_per_token": float(prices[1] or 0) / 1e6}


def complete(
    profile,
    messages: list[dict],
    tools: list[dict],
    *,
    on_wait: Callable[[float, str], None] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Turn:
    """`acomplete` for code that waits for the answer (a judge): the call runs on this process's loop all the same."""
    with turns.released():  # a wait: never in a step's turn (agents/turns.py)
        return inflight.run(acomplete(profile, messages, tools, on_wait=on_wait, on_text=on_text)).result()


async def acomplete(
    profile,
    messages: list[dict],
    tools: list[dict],
    *,
    on_wait: Callable[[float, str], None] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Turn:
    """One model call for an agent; returns its text, tool calls, usage and cost. While it waits it holds no thread.

    Retries transient failures (retry.py); `on_wait(seconds, reason)` runs before each retry's
    sleep and `on_text(text_so_far)` at most ~4 times a second while a reply streams, then once with the
    whole text. The hooks are synchronous (they may use the ORM): they run in a continuation thread, and
    exceptions they raise propagate unchanged. Raises ModelError when the call fails; cancelling the task
    aborts the request.
    """
    native = native_tools(profile)
    kwargs, secrets = _request(profile, messages, tools, native)
    _use_async_client()
    # "watched": the caller passes on_text only when somebody sees the text (agents/watching.py); nobody else needs a
    # stream, which costs litellm several times the CPU of a plain reply
    mode = settings.SWARM_LLM_STREAM
    stream = bool(mode) and not profile.simulated and (mode is True or on_text is not None)
    attempts = 1 + max(0, settings.SWARM_LLM_RETRIES)
    for attempt in range(attempts):
        await _keep_rate_limit(profile, on_wait)
        try:
            response = await (_stream(kwargs, native, on_text) if stream else litellm.acompletion(**kwargs))
            if not getattr(response, "choices", None):
                raise Malformed("the reply had no choices")
            break
        except _HookFailed as failed:
            raise failed.__cause__ from None
        except Exception as exc:  # provider messages can carry keys or key-bearing URLs: redact before anyone sees them
            if asyncio.current_task().cancelling():
                raise asyncio.CancelledError from None  # cancelled, whatever a library made of it: never retried
            retry, delay, reason = retry_plan(exc, attempt)
            if not retry or attempt + 1 >= attempts:
                tries = f" ({attempt + 1} attempts)" if attempt else ""
                detail = redact(f"{type(exc).__name__}: {exc}", secrets)
                raise ModelError(f"{reason}{tries}: {detail}"[:2000]) from None
            log.warning(
                "model call for profile %s: %s; retry %d of %d in %.1f s",
                profile.name,
                reason,
                attempt + 1,
                attempts - 1,
                delay,
            )
            if on_wait:
                await inflight.in_thread(on_wait, delay, reason)
            await asyncio.sleep(delay)
    return _turn(profile, response, native)


_async_client_pid = 0


def _use_async_client() -> None:
    """This process's client for OpenAI-compatible calls from the loop (like `client_session`: no redirects). It
    belongs to the loop it first runs on: a forked process makes its own."""
    global _async_client_pid
    if _async_client_pid != os.getpid():
        # as many connections as calls may be in flight (httpx's default of 100 would queue the rest)
        limits = httpx.Limits(max_connections=settings.SWARM_INFLIGHT_PER_PROCESS, max_keepalive_connections=100)
        litellm.aclient_session = httpx.AsyncClient(follow_redirects=False, limits=limits)
        _async_client_pid = os.getpid()


RATE_WAIT_SHOWN = 0.5  # seconds: a shorter wait for the profile's rate limit is not worth an event


async def _keep_rate_limit(profile, on_wait: Callable[[float, str], None] | None) -> None:
    """Wait for the profile's next slot under its requests-per-minute limit (shared by every worker), holding
    nothing while it waits."""
    wait = await ratelimit.areserve(profile)
    if wait <= 0:
        return
    if on_wait and wait >= RATE_WAIT_SHOWN:
        await inflight.in_thread(on_wait, wait, ratelimit.reason(profile))
    await asyncio.sleep(wait)


def _turn(profile, response, native: bool) -> Turn:
    choice = response.choices[0].message
    content = choice.content or ""
    calls = []
    if native:
        for tc in choice.tool_calls or []:
            call_id = tc.id or f"call_{uuid.uuid4().hex[:12]}"
            calls.append(ToolCall.from_json(call_id, tc.function.name or "", tc.function.arguments or "{}"))
    else:
        content, calls = parse_text_calls(content)
    usage = getattr(response, "usage", None)
    tokens_in = getattr(usage, "prompt_tokens", 0) or 0
    tokens_out = getattr(usage, "completion_tokens", 0) or 0
    for (
        call
    ) in calls:  # a model's text may hold NULs or lone surrogates ("\ud800"): nothing downstream could store them
        call.name, call.raw_arguments = clean_chars(call.name), clean_chars(call.raw_arguments)
        call.arguments, call.error = clean_chars(call.arguments), clean_chars(call.error)
    return Turn(
        content=clean_chars(content),
        tool_calls=calls,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=round(_cost(profile, response, tokens_in, tokens_out), 10),
    )


def _cost(profile, response, tokens_in: int, tokens_out: int) -> float:
    """The profile's own prices (USD per million tokens) when it names any, else litellm's; 0 for an unknown model."""
    if profile.simulated:
        return 0.0
    prices = getattr(profile, "input_usd_per_mtok", None), getattr(profile, "output_usd_per_mtok", None)
    if prices != (None, None):
        return (tokens_in * float(prices[0] or 0) + tokens_out * float(prices[1] or 0)) / 1_000_000
    model = model_name(profile)[0]
    known = (model, len(litellm.model_cost))  # models registered since (register_models) are priced again
    if known in _unpriced:
        return 0.0
    try:
        # the profile's model string, not the reply's: a streamed reply no longer says which provider it came from
        return float(litellm.completion_cost(completion_response=response, model=model))
    except Exception:  # unknown models have no price: count tokens, cost stays 0 (and litellm is not asked again)
        _unpriced.add(known)
        return 0.0


_unpriced: set[tuple[str, int]] = set()  # litellm knows no price for these (a local server's model, say)


PROBE_PROMPT = "This is a connection test from Swarm. Answer with one short sentence."
PROBE_TIMEOUT = 30.0  # seconds at most: a person is waiting for the answer on a page


def probe(profile) -> Turn:
    """One tiny call to see that a profile works (the "Test connection" button): the same checks, key handling, no
    redirects and redaction as `complete`, but one attempt, a short timeout, a few tokens and no streaming.

    Raises ModelRefused (nothing was sent) or ModelError with the provider's message, keys redacted."""
    native = native_tools(profile)
    kwargs, secrets = _request(profile, [{"role": "user", "content": PROBE_PROMPT}], [], native)
    timeout = min(PROBE_TIMEOUT, settings.SWARM_LLM_TIMEOUT)
    kwargs["timeout"] = timeout
    if not profile.simulated:
        kwargs["max_tokens"] = 40
    try:
        response = litellm.completion(**kwargs)
        if not getattr(response, "choices", None):
            raise Malformed("the reply had no choices")
    except Exception as exc:
        _, _, reason = retry_plan(exc, 0)
        if isinstance(exc, litellm.Timeout):
            reason = f"timed out after {timeout:g} s"
        raise ModelError(redact(f"{reason}: {type(exc).__name__}: {exc}", secrets)[:2000]) from None
    turn = _turn(profile, response, native)
    turn.content = redact(turn.content, secrets)  # shown to a person: a server that echoes the key gets it masked
    return turn
