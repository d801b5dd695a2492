"""The only module that imports litellm. Every model call, simulated or real, goes through `complete`.

Calls. `complete(profile, messages, tools, on_wait=..., on_text=...)` makes one `litellm.completion` call.
Simulated profiles (`sim/<behaviour>`) reach the offline simulator, a litellm custom provider, without
streaming. Real profiles stream (SWARM_LLM_STREAM) with `stream_options.include_usage`, so tokens and cost
come from the provider's usage, priced by `litellm.completion_cost`. A profile with `api_base` is an
OpenAI-compatible server (model `openai/<name>`); its key is read from `os.environ[profile.api_key_env]`
at call time and is never put in a Turn, an exception, a log line or anything this module returns. Before
every call agents/model_access.py checks that the operator allows the profile's key variable, host and provider
(ModelRefused otherwise), and OpenAI-compatible calls never follow redirects.
Prices and context windows of models litellm does not know come from `register_models` or the JSON file
named by SWARM_LLM_MODELS_FILE (litellm's model_cost format, e.g. {"openai/my-model":
{"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7, "max_input_tokens": 32768,
"litellm_provider": "openai", "mode": "chat", "supports_function_calling": true}}).

Retries. Rate limits (429, honouring Retry-After), server errors (5xx), timeouts, dropped connections and
malformed replies are retried SWARM_LLM_RETRIES times with exponential backoff and jitter
(SWARM_LLM_BACKOFF, capped at SWARM_LLM_BACKOFF_MAX); `on_wait(seconds, reason)` is called before each
sleep. Anything else (a 4xx other than 429), or retries exhausted, raises ModelError with the provider's
message, secrets redacted.

Text tool protocol. A model without native tool calling (litellm says it lacks `supports_function_calling`,
or the profile's model string ends in `#text-tools`) gets no `tools` parameter. Instead the system prompt
lists the tools and asks for one block per call, anywhere in the reply:

    <tool_call>{"name": "read_file", "arguments": {"path": "mathutil.py"}}</tool_call>

The blocks are parsed into ToolCalls (a broken block becomes a ToolCall with `error` set) and removed from
the Turn's text. Earlier calls are replayed to the model as such blocks, and tool results as user messages
starting `[tool result <id>]`, so the stored conversation keeps the native shape either way.

Context. `compact(messages, context_budget(profile))` shortens older tool outputs into summaries when a
prompt nears the model's context window; the runtime decides when to call it and records the event.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import quote

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402
import litellm  # noqa: E402
from django.conf import settings  # noqa: E402
from litellm import CustomLLM, ModelResponse  # noqa: E402

from agents import model_access, simulator  # noqa: E402
from agents.text import clean_chars  # noqa: E402

litellm.suppress_debug_info = True
litellm.telemetry = False
# OpenAI-compatible calls (every profile with an api_base) use this client: it never follows a redirect, so an
# allowed host cannot send the call, its prompt or its key on to one the operator did not allow.
litellm.client_session = httpx.Client(follow_redirects=False)

log = logging.getLogger(__name__)

TEXT_TOOLS = "text-tools"  # model-string suffix `#text-tools`: use the text protocol even if litellm says otherwise
TEXT_INTERVAL = 0.25  # seconds between on_text calls: at most ~4 a second reach the browser
RETRY_AFTER_CAP = 120.0  # a provider asking for longer still gets retried after this, not after an hour
COMPACTED_MARK = "[compacted by Swarm to save context:"
TOOL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.S)


class SimulatorProvider(CustomLLM):
    """litellm custom provider `sim`: model strings `sim/<behaviour>` reach the offline simulator."""

    def completion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ):  # noqa: E501
        behaviour = model.split("/", 1)[-1]
        if behaviour not in simulator.BEHAVIOURS:
            raise litellm.BadRequestError(
                message=f"unknown simulator behaviour {behaviour!r}; one of {', '.join(simulator.BEHAVIOURS)}",
                model=model,
                llm_provider="sim",
            )
        turn = simulator.decide(behaviour, messages)
        step = sum(1 for m in messages if m.get("role") == "assistant")
        message = {"role": "assistant", "content": turn["content"]}
        if turn["tool_calls"]:
            message["tool_calls"] = simulator.as_openai_tool_calls(turn["tool_calls"], step)
        prompt_chars = sum(len(json.dumps(m.get("content") or "")) for m in messages)
        completion_chars = len(json.dumps(message))
        return ModelResponse(
            model=model,
            choices=[{"message": message, "finish_reason": "tool_calls" if turn["tool_calls"] else "stop"}],
            usage={
                "prompt_tokens": prompt_chars // 4,
                "completion_tokens": completion_chars // 4,
                "total_tokens": (prompt_chars + completion_chars) // 4,
            },
        )


litellm.custom_provider_map = [{"provider": "sim", "custom_handler": SimulatorProvider()}]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict
    raw_arguments: str = ""
    error: str = ""


@dataclass
class Turn:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def as_message(self) -> dict:
        message: dict = {"role": "assistant", "content": self.content or ""}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw_arguments}}
                for c in self.tool_calls
            ]
        return message


class ModelError(Exception):
    pass


class ModelRefused(ModelError):
    """The profile names a key variable, host or provider the operator does not allow: nothing was sent."""


class _Malformed(Exception):
    """The provider answered, but not with a usable completion."""


class _HookFailed(Exception):
    """A caller's hook raised: not the provider's fault, so never retried."""


SECRET_PATTERNS = [
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)([?&](?:key|api[_-]?key|token|access_token)=)[^&\s\"']+"),
    re.compile(r"\b(sk-)[A-Za-z0-9_-]{8,}"),
]


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            for variant in {secret, quote(secret, safe=""), quote(secret)}:
                text = text.replace(variant, "[redacted]")
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


# API keys this process has used. Provider error bodies echo keys, and litellm logs raw responses at
# DEBUG, so every log record is checked for them when it is made, whichever handler writes it later.
_known_secrets: tuple[str, ...] = ()


def _remember_secret(secret: str) -> None:
    global _known_secrets
    if secret and secret not in _known_secrets:
        _known_secrets = (*_known_secrets, secret)


def _redacting_record_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call is logging's problem to report, not ours
            return record
        clean = redact(message, list(_known_secrets))
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            clean = redact(text, list(_known_secrets))
            if clean != text:
                record.exc_info, record.exc_text = None, clean
        return record

    factory.swarm_redacts = True  # type: ignore[attr-defined]
    return factory


if not getattr(logging.getLogRecordFactory(), "swarm_redacts", False):
    logging.setLogRecordFactory(_redacting_record_factory(logging.getLogRecordFactory()))


# --- models litellm does not know ---------------------------------------------------------------

_models_file_loaded: str | None = None


def register_models(models: dict) -> None:
    """Teach litellm prices, context windows and tool support of models it does not know (its model_cost format)."""
    litellm.register_model(models)


def _load_models_file() -> None:
    global _models_file_loaded
    path = settings.SWARM_LLM_MODELS_FILE
    if path and path != _models_file_loaded:
        with open(path) as fh:
            register_models(json.load(fh))
        _models_file_loaded = path


def _model_name(profile) -> tuple[str, bool]:
    """The litellm model string and whether the profile forces the text tool protocol."""
    model, _, option = profile.model.partition("#")
    return model, option.strip() == TEXT_TOOLS


def _model_info(model: str) -> dict:
    try:
        return dict(litellm.get_model_info(model))
    except Exception:  # litellm raises for models it has no entry for
        return {}


def native_tools(profile) -> bool:
    """Whether the model gets OpenAI `tools`; otherwise the text tool protocol (module docstring)."""
    _load_models_file()
    model, forced_text = _model_name(profile)
    if forced_text:
        return False
    if profile.simulated:
        return True
    info = _model_info(model)
    if not info:
        return True  # unknown to litellm, typically a self-hosted OpenAI-compatible server: most speak tools
    return bool(info.get("supports_function_calling"))


def context_budget(profile) -> int:
    """Tokens a prompt may use before older tool outputs should be compacted: 3/4 of the model's input window."""
    _load_models_file()
    model, _ = _model_name(profile)
    window = _model_info(model).get("max_input_tokens") or settings.SWARM_LLM_CONTEXT_TOKENS
    return int(window * 0.75)  # the rest is for the tool schemas, the budget line and the reply


# --- context compaction ---------------------------------------------------------------------------


def estimate_tokens(messages: list[dict]) -> int:
    """A deliberately high estimate (3 characters a token) that needs no tokenizer download."""
    return sum(_message_tokens(m) for m in messages)


def _message_tokens(message: dict) -> int:
    return math.ceil(len(json.dumps(message, ensure_ascii=False)) / 3)


def _summary(text: str) -> str:
    lines = text.splitlines()
    head = [line[:200] for line in lines[:5]]
    tail = [line[:200] for line in lines[-5:]] if len(lines) > 10 else []
    parts = [f"{COMPACTED_MARK} this tool output had {len(lines):,} lines, {len(text):,} characters]", *head]
    if tail:
        parts += [f"... {len(lines) - 10:,} lines left out ...", *tail]
    return "\n".join(parts)


def compact(messages: list[dict], limit_tokens: int) -> tuple[list[dict], bool]:
    """Shorten older tool outputs, oldest first, until the messages fit `limit_tokens` (estimated).

    Returns a new list (the input is not changed) and whether anything was compacted. The system prompt,
    people's messages, the model's own turns and tool-call ids stay as they were; outputs of 1,200
    characters or less are left alone, and the latest outputs are only shortened if the older ones were not enough.
    """
    sizes = [_message_tokens(m) for m in messages]
    total = sum(sizes)
    if total <= limit_tokens:
        return messages, False
    out = [dict(m) for m in messages]
    tool_indexes = [
        i
        for i, m in enumerate(out)
        if m.get("role") == "tool"
        and isinstance(m.get("content"), str)
        and not m["content"].startswith(COMPACTED_MARK)
        and len(m["content"]) > 1200
    ]
    compacted = False
    for i in tool_indexes:  # oldest first: the outputs the model is working from now go last, if at all
        if total <= limit_tokens:
            break
        out[i]["content"] = _summary(out[i]["content"])
        new_size = _message_tokens(out[i])
        total -= sizes[i] - new_size
        sizes[i] = new_size
        compacted = True
    return out, compacted


# --- the text tool protocol -----------------------------------------------------------------------


def _text_protocol_prompt(tools: list[dict]) -> str:
    lines = [
        "You have tools. To call one, write a block like this anywhere in your reply (one block per call):",
        '<tool_call>{"name": "<tool name>", "arguments": {<arguments as a JSON object>}}</tool_call>',
        "Each result comes back in a message starting [tool result <id>]. The tools:",
    ]
    for tool in tools:
        fn = tool.get("function", {})
        params = fn.get("parameters", {}).get("properties", {})
        required = set(fn.get("parameters", {}).get("required", []))
        args = ", ".join(
            f"{name}{'' if name in required else '?'}: {spec.get('type', 'any')}" for name, spec in params.items()
        )
        lines.append(f"- {fn.get('name')}({args}): {fn.get('description', '')}")
    return "\n".join(lines)


def _as_text_protocol(messages: list[dict], tools: list[dict]) -> list[dict]:
    """The native conversation rewritten for a model that only reads and writes text."""
    out: list[dict] = []
    names: dict[str, str] = {}
    for m in messages:
        role = m.get("role")
        if role == "assistant" and m.get("tool_calls"):
            blocks = []
            for call in m["tool_calls"]:
                fn = call.get("function", {})
                names[call.get("id", "")] = fn.get("name", "")
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except json.JSONDecodeError:
                    args = fn.get("arguments")
                blocks.append(f"<tool_call>{json.dumps({'name': fn.get('name'), 'arguments': args})}</tool_call>")
            out.append({"role": "assistant", "content": "\n".join(filter(None, [m.get("content") or "", *blocks]))})
        elif role == "tool":
            call_id = m.get("tool_call_id", "")
            out.append(
                {
                    "role": "user",
                    "content": f"[tool result {call_id} {names.get(call_id, '')}]\n{m.get('content') or ''}",
                }
            )
        else:
            out.append(dict(m))
    prompt = _text_protocol_prompt(tools)
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{prompt}"
    else:
        out.insert(0, {"role": "system", "content": prompt})
    return out


def _parse_text_calls(text: str) -> tuple[str, list[ToolCall]]:
    calls = []
    for block in TOOL_BLOCK.findall(text):
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        try:
            data = json.loads(block.strip())
        except json.JSONDecodeError as exc:
            calls.append(ToolCall(call_id, "", {}, block.strip(), f"tool call block is not valid JSON: {exc}"))
            continue
        name = data.get("name") if isinstance(data, dict) else None
        args = data.get("arguments", {}) if isinstance(data, dict) else None
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                pass
        raw = json.dumps(args) if not isinstance(args, str) else args
        if not isinstance(name, str) or not name:
            calls.append(ToolCall(call_id, "", {}, raw, 'tool call block needs a "name"'))
        elif not isinstance(args, dict):
            calls.append(ToolCall(call_id, name, {}, raw, "arguments must be a JSON object"))
        else:
            calls.append(ToolCall(call_id, name, args, raw))
    return TOOL_BLOCK.sub("", text).strip(), calls


def _visible(text: str, native: bool) -> str:
    return text if native else text.split("<tool_call>", 1)[0].rstrip()


# --- the call and its retries ---------------------------------------------------------------------


def _hook(fn: Callable, *args) -> None:
    try:
        fn(*args)
    except Exception as exc:
        raise _HookFailed() from exc


def _stream(kwargs: dict, native: bool, on_text: Callable[[str], None] | None):
    chunks = []
    text, shown, last = "", "", 0.0
    for chunk in litellm.completion(stream=True, stream_options={"include_usage": True}, **kwargs):
        chunks.append(chunk)
        delta = chunk.choices[0].delta.content if chunk.choices else None
        if delta:
            text += delta
            now = time.monotonic()
            if on_text and now - last >= TEXT_INTERVAL and _visible(text, native) != shown:
                shown, last = _visible(text, native), now
                _hook(on_text, shown)
    if on_text and _visible(text, native) != shown:
        _hook(on_text, _visible(text, native))
    response = litellm.stream_chunk_builder(chunks, messages=kwargs["messages"]) if chunks else None
    if response is None:
        raise _Malformed("the stream ended without a completion")
    return response


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


def _retry_plan(exc: Exception, attempt: int) -> tuple[bool, float, str]:
    """Whether to retry after this failure, after how long, and why (a short phrase for people)."""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, litellm.Timeout) or status == 408:
        reason = f"timed out after {settings.SWARM_LLM_TIMEOUT:g} s"
    elif isinstance(exc, _Malformed):
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


def _request(profile, messages: list[dict], tools: list[dict], native: bool) -> tuple[dict, list[str]]:
    model, _ = _model_name(profile)
    try:  # again at every call: the operator may have narrowed the settings since the profile was saved
        model_access.check(profile.model, profile.api_base, profile.api_key_env)
    except model_access.ProfileRefused as refused:
        raise ModelRefused(f"model profile {profile.name!r} is refused: {refused}") from None
    kwargs: dict = {"model": model, "timeout": settings.SWARM_LLM_TIMEOUT}
    secrets: list[str] = []
    if not profile.simulated:
        kwargs["max_retries"] = 0  # this module retries, with backoff the runtime can see
        if profile.api_key_env:
            api_key = os.environ.get(profile.api_key_env)
            if not api_key:
                raise ModelError(
                    f"the environment variable {profile.api_key_env} (named by model profile "
                    f"{profile.name!r}) is not set, so there is no API key to call {model}"
                )
            kwargs["api_key"] = api_key
            secrets.append(api_key)
            _remember_secret(api_key)
        else:  # an api_base without a key variable (model_access): never let litellm pick one from the environment
            kwargs["api_key"] = "none"  # local OpenAI-compatible servers often take no key; the client needs one
        if profile.api_base:
            kwargs["api_base"] = profile.api_base
    if tools and native:
        kwargs["tools"] = tools
    kwargs["messages"] = messages if native or not tools else _as_text_protocol(messages, tools)
    return kwargs, secrets


def complete(
    profile,
    messages: list[dict],
    tools: list[dict],
    *,
    on_wait: Callable[[float, str], None] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Turn:
    """One model call for an agent; returns its text, tool calls, usage and cost.

    Retries transient failures (module docstring); `on_wait(seconds, reason)` runs before each retry's
    sleep and `on_text(text_so_far)` at most ~4 times a second while a reply streams, then once with the
    whole text. Exceptions raised by the hooks propagate unchanged. Raises ModelError when the call fails.
    """
    native = native_tools(profile)
    kwargs, secrets = _request(profile, messages, tools, native)
    stream = settings.SWARM_LLM_STREAM and not profile.simulated
    attempts = 1 + max(0, settings.SWARM_LLM_RETRIES)
    for attempt in range(attempts):
        try:
            response = _stream(kwargs, native, on_text) if stream else litellm.completion(**kwargs)
            if not getattr(response, "choices", None):
                raise _Malformed("the reply had no choices")
            break
        except _HookFailed as failed:
            raise failed.__cause__ from None
        except Exception as exc:  # provider messages can carry keys or key-bearing URLs: redact before anyone sees them
            retry, delay, reason = _retry_plan(exc, attempt)
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
                on_wait(delay, reason)
            time.sleep(delay)
    return _turn(profile, response, native)


def _turn(profile, response, native: bool) -> Turn:
    choice = response.choices[0].message
    content = choice.content or ""
    calls = []
    if native:
        for tc in choice.tool_calls or []:
            raw = tc.function.arguments or "{}"
            try:
                args = json.loads(raw)
                error = "" if isinstance(args, dict) else "arguments must be a JSON object"
            except json.JSONDecodeError as exc:
                args, error = {}, f"arguments are not valid JSON: {exc}"
            calls.append(
                ToolCall(
                    id=tc.id or f"call_{uuid.uuid4().hex[:12]}",
                    name=tc.function.name or "",
                    arguments=args if not error else {},
                    raw_arguments=raw,
                    error=error,
                )
            )
    else:
        content, calls = _parse_text_calls(content)
    usage = getattr(response, "usage", None)
    try:
        # the profile's model string, not the reply's: a streamed reply no longer says which provider it came from
        model = _model_name(profile)[0]
        cost = 0.0 if profile.simulated else float(litellm.completion_cost(completion_response=response, model=model))
    except Exception:  # unknown models have no price: count tokens, cost stays 0
        cost = 0.0
    for (
        call
    ) in calls:  # a model's text may hold NULs or lone surrogates ("\ud800"): nothing downstream could store them
        call.name, call.raw_arguments = clean_chars(call.name), clean_chars(call.raw_arguments)
        call.arguments, call.error = clean_chars(call.arguments), clean_chars(call.error)
    return Turn(
        content=clean_chars(content),
        tool_calls=calls,
        tokens_in=getattr(usage, "prompt_tokens", 0) or 0,
        tokens_out=getattr(usage, "completion_tokens", 0) or 0,
        cost_usd=round(cost, 10),
    )
